package authz_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// ---------------------------------------------------------------------------
// Fixtures

var (
	// tokenSHA names the token "ci" in McpToken:<sha> subjects.
	tokenSHA = strings.Repeat("ab", 32)
	// cloneSHA is a token cloned from an admin (AllBindings).
	cloneSHA = strings.Repeat("cd", 32)
	// strangerSHA is a token no definition names and that holds nothing.
	strangerSHA = strings.Repeat("0", 64)
)

func rb(role, resource, name string) v1.RoleBinding {
	return v1.RoleBinding{Role: role, Resource: resource, Name: name}
}

func runB(action string) v1.RoleBinding { return v1.RoleBinding{Role: v1.RoleRun, Action: action} }

func view(resource, name string) authz.Request {
	return authz.Request{Verb: v1.RoleView, Resource: resource, Name: name}
}
func edit(resource, name string) authz.Request {
	return authz.Request{Verb: v1.RoleEdit, Resource: resource, Name: name}
}
func create(resource, name string) authz.Request {
	return authz.Request{Verb: v1.RoleCreate, Resource: resource, Name: name}
}
func del(resource, name string) authz.Request {
	return authz.Request{Verb: v1.RoleDelete, Resource: resource, Name: name}
}
func run(action string) authz.Request { return authz.Request{Verb: v1.RoleRun, Action: action} }

var tokenOwn = []v1.RoleBinding{rb(v1.RoleView, "servers", "s1"), runB("audit")}

func fixturePolicy() *authz.Policy {
	groups := map[string][]string{
		v1.AdminGroup: {"root@example.com", tokenSHA, "McpToken:" + tokenSHA},
		"ops":         {"bob@example.com", "carol@example.com"},
		"dev":         {"carol@example.com"},
	}
	defs := []authz.Definition{
		{Name: "alice-def", Spec: v1.RbacDefinitionSpec{
			Subjects: []string{"User:alice@example.com"},
			RoleBindings: []v1.RoleBinding{
				rb(v1.RoleView, "servers", ""),
				rb(v1.RoleEdit, "projects", "web"),
				runB("logs"),
			},
		}},
		{Name: "ops-def", Spec: v1.RbacDefinitionSpec{
			Subjects:     []string{"Group:ops"},
			RoleBindings: []v1.RoleBinding{rb(v1.RoleEdit, "secrets", ""), runB("*")},
		}},
		{Name: "shared-def", Spec: v1.RbacDefinitionSpec{
			Subjects:     []string{"User:alice@example.com", "Group:ops"},
			RoleBindings: []v1.RoleBinding{rb(v1.RoleView, "users", "")},
		}},
		{Name: "dev-def", Spec: v1.RbacDefinitionSpec{
			Subjects:     []string{"Group:dev"},
			RoleBindings: []v1.RoleBinding{rb(v1.RoleView, "*", "")},
		}},
		{Name: "dave-def", Spec: v1.RbacDefinitionSpec{
			Subjects:     []string{"User:dave@example.com"},
			RoleBindings: []v1.RoleBinding{rb(v1.RoleCreate, "templates", ""), rb(v1.RoleDelete, "prompts", "p1")},
		}},
		{Name: "token-def", Spec: v1.RbacDefinitionSpec{
			Subjects:     []string{"McpToken:" + tokenSHA},
			RoleBindings: []v1.RoleBinding{rb(v1.RoleView, "prompts", "")},
		}},
		{Name: "admins-def", Spec: v1.RbacDefinitionSpec{
			// A definition naming the admin group must not leak to
			// tokens, which are never admins.
			Subjects:     []string{"Group:admin", "User:root@example.com"},
			RoleBindings: []v1.RoleBinding{rb(v1.RoleView, "groups", "")},
		}},
	}
	return authz.NewPolicy(groups, defs)
}

type principal struct{ kind, id string }

func user(email string) principal { return principal{"user", email} }
func token(sha string) principal  { return principal{"token", sha} }
func group(name string) principal { return principal{"group", name} }

func (p principal) String() string { return p.kind + ":" + p.id }

func rightsOf(pol *authz.Policy, p principal) *authz.Rights {
	switch p.kind {
	case "user":
		return pol.UserRights(p.id)
	case "group":
		return pol.GroupRights(p.id)
	case "token":
		switch p.id {
		case tokenSHA:
			return pol.TokenRights(p.id, "ci", tokenOwn)
		case cloneSHA:
			return pol.TokenRights(p.id, "root-clone", authz.AllBindings)
		default:
			return pol.TokenRights(p.id, "stranger", nil)
		}
	}
	panic("unknown principal kind " + p.kind)
}

// objectName turns a short name into a valid object name of res: users
// are named by email.
func objectName(res, n string) string {
	if res == "users" && n != "" {
		return n + "@example.com"
	}
	return n
}

// allRequests is every request over the resources, the names "", a, b, c
// and the actions: a finite universe the properties quantify over
// exhaustively.
func allRequests() []authz.Request {
	var out []authz.Request
	for _, verb := range []string{v1.RoleView, v1.RoleCreate, v1.RoleEdit, v1.RoleDelete} {
		for _, res := range v1.RbacResources() {
			for _, n := range requestNames {
				for _, p := range projectsOf(res, requestProjects) {
					out = append(out, authz.Request{Verb: verb, Resource: res, Name: objectName(res, n), Project: p})
				}
			}
		}
	}
	for _, a := range v1.Actions {
		out = append(out, run(a))
	}
	return out
}

// ---------------------------------------------------------------------------
// 1. Table: subjects × requests through NewPolicy.

func TestPolicyDecisions(t *testing.T) {
	t.Parallel()
	pol := fixturePolicy()
	var (
		root    = user("root@example.com")
		alice   = user("alice@example.com")
		bob     = user("bob@example.com")
		carol   = user("carol@example.com")
		dave    = user("dave@example.com")
		mallory = user("mallory@example.com")
		ci      = token(tokenSHA)
		clone   = token(cloneSHA)
		strange = token(strangerSHA)
	)
	const (
		aliceDef  = "rbacdefinition/alice-def"
		opsDef    = "rbacdefinition/ops-def"
		sharedDef = "rbacdefinition/shared-def"
		devDef    = "rbacdefinition/dev-def"
		daveDef   = "rbacdefinition/dave-def"
		tokenDef  = "rbacdefinition/token-def"
		adminFrom = "group/admin"
		ciFrom    = "mcptoken/ci"
		cloneFrom = "mcptoken/root-clone"
	)
	tests := []struct {
		who  principal
		req  authz.Request
		want bool
		// from lists the acceptable Which().From when want is true.
		from []string
	}{
		// Admin holds everything.
		{root, view("servers", ""), true, []string{adminFrom}},
		{root, edit("secrets", "x"), true, []string{adminFrom}},
		{root, del("users", "bob@example.com"), true, []string{adminFrom}},
		{root, create("rbacdefinitions", "new"), true, []string{adminFrom}},
		{root, view("mcptokens", ""), true, []string{adminFrom}},
		{root, run("backup"), true, []string{adminFrom}},
		{root, run("reveal-secrets"), true, []string{adminFrom}},
		{group(v1.AdminGroup), edit("groups", "admin"), true, []string{adminFrom}},

		// A user's own bindings; view does not imply edit/create/delete.
		{alice, view("servers", ""), true, []string{aliceDef}},
		{alice, view("servers", "any"), true, []string{aliceDef}},
		{alice, edit("servers", "any"), false, nil},
		{alice, create("servers", "any"), false, nil},
		{alice, del("servers", "any"), false, nil},
		{alice, view("secrets", ""), false, nil},
		// A named binding grants that name only, never another name nor
		// a listing; edit implies view, create and delete.
		{alice, edit("projects", "web"), true, []string{aliceDef}},
		{alice, view("projects", "web"), true, []string{aliceDef}},
		{alice, create("projects", "web"), true, []string{aliceDef}},
		{alice, del("projects", "web"), true, []string{aliceDef}},
		{alice, edit("projects", "api"), false, nil},
		{alice, view("projects", "api"), false, nil},
		{alice, view("projects", ""), false, nil},
		{alice, edit("servers", "web"), false, nil},
		// run grants its action only.
		{alice, run("logs"), true, []string{aliceDef}},
		{alice, run("audit"), false, nil},
		{alice, run("backup"), false, nil},
		// A definition with several subjects grants each of them.
		{alice, view("users", ""), true, []string{sharedDef}},

		// Rights through group membership; run * grants every action.
		{bob, edit("secrets", "x"), true, []string{opsDef}},
		{bob, view("secrets", ""), true, []string{opsDef}},
		{bob, create("secrets", "y"), true, []string{opsDef}},
		{bob, del("secrets", "x"), true, []string{opsDef}},
		{bob, run("audit"), true, []string{opsDef}},
		{bob, run("backup"), true, []string{opsDef}},
		{bob, run("reveal-secrets"), true, []string{opsDef}},
		{bob, view("servers", ""), false, nil},
		{bob, edit("servers", "s1"), false, nil},
		{bob, view("users", "alice@example.com"), true, []string{sharedDef}},
		{bob, edit("users", "alice@example.com"), false, nil},
		{bob, view("projects", "web"), false, nil},

		// Two groups add up; resource * matches every resource.
		{carol, view("templates", ""), true, []string{devDef}},
		{carol, view("mcptokens", "t"), true, []string{devDef}},
		{carol, view("groups", ""), true, []string{devDef}},
		{carol, view("secrets", "x"), true, []string{devDef, opsDef}},
		{carol, edit("secrets", "x"), true, []string{opsDef}},
		{carol, edit("templates", "x"), false, nil},
		{carol, create("servers", "x"), false, nil},
		{carol, run("logs"), true, []string{opsDef}},

		// create and delete hold only themselves.
		{dave, create("templates", "t"), true, []string{daveDef}},
		{dave, create("templates", ""), true, []string{daveDef}},
		{dave, view("templates", "t"), false, nil},
		{dave, edit("templates", "t"), false, nil},
		{dave, del("templates", "t"), false, nil},
		{dave, del("prompts", "p1"), true, []string{daveDef}},
		{dave, del("prompts", "p2"), false, nil},
		{dave, del("prompts", ""), false, nil},
		{dave, view("prompts", "p1"), false, nil},
		{dave, run("logs"), false, nil},

		// A token: its own bindings plus definitions naming McpToken:<sha>;
		// never group rights, never admin (even listed in the admin group).
		{ci, view("servers", "s1"), true, []string{ciFrom}},
		{ci, view("servers", "s2"), false, nil},
		{ci, view("servers", ""), false, nil},
		{ci, edit("servers", "s1"), false, nil},
		{ci, run("audit"), true, []string{ciFrom}},
		{ci, run("logs"), false, nil},
		{ci, view("prompts", ""), true, []string{tokenDef}},
		{ci, view("prompts", "x"), true, []string{tokenDef}},
		{ci, edit("prompts", "x"), false, nil},
		{ci, view("groups", ""), false, nil},
		{ci, edit("secrets", "x"), false, nil},
		{ci, view("users", ""), false, nil},
		{clone, edit("secrets", "x"), true, []string{cloneFrom}},
		{clone, view("users", ""), true, []string{cloneFrom}},
		{clone, run("reveal-secrets"), true, []string{cloneFrom}},
		{strange, view("prompts", ""), false, nil},
		{strange, view("servers", "s1"), false, nil},

		// A group's own rights (Group:<name> subjects).
		{group("ops"), edit("secrets", "x"), true, []string{opsDef}},
		{group("ops"), view("servers", ""), false, nil},
		{group("nobody"), view("servers", ""), false, nil},

		// Deny by default.
		{mallory, view("servers", ""), false, nil},
		{mallory, view("servers", "s1"), false, nil},
		{mallory, create("templates", "t"), false, nil},
		{mallory, run("logs"), false, nil},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s", tt.who, tt.req), func(t *testing.T) {
			r := rightsOf(pol, tt.who)
			if got := r.Allows(tt.req); got != tt.want {
				t.Errorf("Allows(%s) = %v, want %v (grants %+v)", tt.req, got, tt.want, r.Grants)
			}
			g, ok := r.Which(tt.req)
			if ok != tt.want {
				t.Fatalf("Which(%s) ok = %v, want %v", tt.req, ok, tt.want)
			}
			if !ok {
				if diff := cmp.Diff(authz.Grant{}, g); diff != "" {
					t.Errorf("Which(%s) refused but returned a grant (-want +got):\n%s", tt.req, diff)
				}
				return
			}
			if !slices.Contains(tt.from, g.From) {
				t.Errorf("Which(%s).From = %q, want one of %q", tt.req, g.From, tt.from)
			}
			if !r.All && !authz.Grants(g.RoleBinding, tt.req) {
				t.Errorf("Which(%s) returned %+v, which does not grant it", tt.req, g)
			}
		})
	}
}

func TestPolicyUnknownPrincipalDeniedEverything(t *testing.T) {
	t.Parallel()
	pol := fixturePolicy()
	for _, p := range []principal{user("mallory@example.com"), user(""), token(strangerSHA), group("nobody")} {
		r := rightsOf(pol, p)
		if r.All || len(r.Grants) != 0 {
			t.Errorf("%s: rights = %+v, want none", p, r)
		}
		for _, req := range allRequests() {
			if r.Allows(req) {
				t.Errorf("%s: Allows(%s) = true, want deny by default", p, req)
			}
		}
		for _, res := range v1.RbacResources() {
			if r.ViewsAny(res) || r.ViewsAll(res) {
				t.Errorf("%s: ViewsAny/ViewsAll(%s) = true, want false", p, res)
			}
		}
	}
}

func TestPolicyAdminAllowsEverything(t *testing.T) {
	t.Parallel()
	pol := fixturePolicy()
	for _, r := range []*authz.Rights{pol.UserRights("root@example.com"), pol.GroupRights(v1.AdminGroup)} {
		if !r.All {
			t.Fatalf("admin rights = %+v, want All", r)
		}
		for _, req := range allRequests() {
			if !r.Allows(req) {
				t.Errorf("admin: Allows(%s) = false", req)
			}
		}
		for _, res := range append(v1.RbacResources(), "*") {
			if !r.ViewsAny(res) || !r.ViewsAll(res) {
				t.Errorf("admin: ViewsAny/ViewsAll(%s) = false", res)
			}
		}
		for _, b := range []v1.RoleBinding{rb(v1.RoleEdit, "*", ""), runB("*"), rb(v1.RoleView, "users", "x@example.com")} {
			if !r.Holds(b) {
				t.Errorf("admin: Holds(%s) = false", b)
			}
		}
		if diff := cmp.Diff(authz.AllBindings, r.Bindings()); diff != "" {
			t.Errorf("admin Bindings() (-want +got):\n%s", diff)
		}
	}
}

func TestPolicyTokenNeverAdmin(t *testing.T) {
	t.Parallel()
	pol := fixturePolicy()
	// The fixture lists the token's sha (bare and as a subject) in the
	// admin group and a definition names Group:admin: neither reaches it.
	for _, own := range [][]v1.RoleBinding{nil, tokenOwn, authz.AllBindings} {
		r := pol.TokenRights(tokenSHA, "ci", own)
		if r.All {
			t.Errorf("TokenRights(own=%v).All = true, want false", own)
		}
		if own == nil && len(r.Grants) != 1 {
			t.Errorf("TokenRights(own=nil) = %+v, want only token-def's grant", r.Grants)
		}
		if !slices.Equal(own, authz.AllBindings) && r.Allows(view("groups", "")) {
			t.Errorf("token (own=%v) holds the admin group's view groups", own)
		}
	}
	if pol.IsAdmin(tokenSHA) != true {
		// Sanity: the sha really is listed as a member.
		t.Fatalf("fixture: IsAdmin(sha) = false")
	}
	// A token's own grants come first and are named after the token.
	r := pol.TokenRights(tokenSHA, "ci", tokenOwn)
	want := []authz.Grant{
		{RoleBinding: tokenOwn[0], From: "mcptoken/ci"},
		{RoleBinding: tokenOwn[1], From: "mcptoken/ci"},
		{RoleBinding: rb(v1.RoleView, "prompts", ""), From: "rbacdefinition/token-def"},
	}
	if diff := cmp.Diff(want, r.Grants); diff != "" {
		t.Errorf("TokenRights grants (-want +got):\n%s", diff)
	}
}

func TestPolicyMembership(t *testing.T) {
	t.Parallel()
	pol := fixturePolicy()
	for email, want := range map[string]bool{"root@example.com": true, "bob@example.com": false, "mallory@example.com": false} {
		if got := pol.IsAdmin(email); got != want {
			t.Errorf("IsAdmin(%s) = %v, want %v", email, got, want)
		}
	}
	for email, want := range map[string][]string{
		"carol@example.com":   {"dev", "ops"},
		"bob@example.com":     {"ops"},
		"root@example.com":    {v1.AdminGroup},
		"mallory@example.com": nil,
	} {
		if diff := cmp.Diff(want, pol.GroupsOf(email)); diff != "" {
			t.Errorf("GroupsOf(%s) (-want +got):\n%s", email, diff)
		}
	}
	// UserRights is memoized; the answers do not change.
	a, b := pol.UserRights("carol@example.com"), pol.UserRights("carol@example.com")
	if diff := cmp.Diff(a, b); diff != "" {
		t.Errorf("UserRights differs between calls:\n%s", diff)
	}
}

func TestViewsAnyViewsAll(t *testing.T) {
	t.Parallel()
	pol := fixturePolicy()
	tests := []struct {
		who                principal
		resource           string
		wantAny, wantEvery bool
	}{
		{user("alice@example.com"), "servers", true, true},
		// A named binding lets the listing show that object only.
		{user("alice@example.com"), "projects", true, false},
		{user("alice@example.com"), "secrets", false, false},
		{user("bob@example.com"), "secrets", true, true}, // edit holds view
		{user("bob@example.com"), "servers", false, false},
		{user("carol@example.com"), "mcptokens", true, true}, // view *
		// create/delete do not view; run never views.
		{user("dave@example.com"), "templates", false, false},
		{user("dave@example.com"), "prompts", false, false},
		{token(tokenSHA), "servers", true, false},
		{token(tokenSHA), "prompts", true, true},
		{token(tokenSHA), "secrets", false, false},
		{user("root@example.com"), "secrets", true, true},
	}
	for _, tt := range tests {
		r := rightsOf(pol, tt.who)
		if got := r.ViewsAny(tt.resource); got != tt.wantAny {
			t.Errorf("%s: ViewsAny(%s) = %v, want %v", tt.who, tt.resource, got, tt.wantAny)
		}
		if got := r.ViewsAll(tt.resource); got != tt.wantEvery {
			t.Errorf("%s: ViewsAll(%s) = %v, want %v", tt.who, tt.resource, got, tt.wantEvery)
		}
	}
	runOnly := &authz.Rights{Grants: []authz.Grant{{RoleBinding: runB("*")}}}
	for _, res := range v1.RbacResources() {
		if runOnly.ViewsAny(res) || runOnly.ViewsAll(res) {
			t.Errorf("run * views %s", res)
		}
	}
}

func TestRequestString(t *testing.T) {
	t.Parallel()
	for req, want := range map[authz.Request]string{
		view("servers", ""):  "view servers",
		edit("servers", "a"): "edit servers/a",
		run("logs"):          "run logs",
	} {
		if got := req.String(); got != want {
			t.Errorf("%#v.String() = %q, want %q", req, got, want)
		}
	}
}

func TestCeilingError(t *testing.T) {
	t.Parallel()
	r := &authz.Rights{Grants: []authz.Grant{{RoleBinding: rb(v1.RoleView, "servers", "")}}}
	if err := r.Ceiling([]v1.RoleBinding{rb(v1.RoleView, "servers", "s1"), rb(v1.RoleView, "servers", "")}); err != nil {
		t.Errorf("Ceiling of held bindings = %v, want nil", err)
	}
	err := r.Ceiling([]v1.RoleBinding{rb(v1.RoleView, "servers", ""), rb(v1.RoleEdit, "servers", ""), runB("logs")})
	if !errors.Is(err, authz.ErrForbidden) {
		t.Fatalf("Ceiling = %v, want ErrForbidden", err)
	}
	if !strings.Contains(err.Error(), "role:edit,resource:servers") {
		t.Errorf("Ceiling error %q does not name the first binding not held", err)
	}
}

// ---------------------------------------------------------------------------
// 2. Properties.

// projectsOf is the projects an object of res may have: only
// project-scoped resources have one.
func projectsOf(res string, projects []string) []string {
	if v1.ScopedResource(res) {
		return projects
	}
	return []string{""}
}

var (
	bindingNames    = []string{"", "a", "b"}
	requestNames    = []string{"", "a", "b", "c"}
	bindingProjects = []string{"", "p1"}
	requestProjects = []string{"p1", "p2"}
	requestVerbs    = []string{v1.RoleView, v1.RoleCreate, v1.RoleEdit, v1.RoleDelete, v1.RoleRun}
)

// genBinding draws a valid binding.
func genBinding() *rapid.Generator[v1.RoleBinding] {
	return rapid.Custom(func(t *rapid.T) v1.RoleBinding {
		role := rapid.SampledFrom(v1.Roles).Draw(t, "role")
		if role == v1.RoleRun {
			return runB(rapid.SampledFrom(append(slices.Clone(v1.Actions), "*")).Draw(t, "action"))
		}
		res := rapid.SampledFrom(append(v1.RbacResources(), "*")).Draw(t, "resource")
		name := ""
		if res != "*" {
			name = objectName(res, rapid.SampledFrom(bindingNames).Draw(t, "name"))
		}
		b := rb(role, res, name)
		b.Project = rapid.SampledFrom(projectsOf(res, bindingProjects)).Draw(t, "project")
		return b
	})
}

func genRequest() *rapid.Generator[authz.Request] {
	return rapid.Custom(func(t *rapid.T) authz.Request {
		verb := rapid.SampledFrom(requestVerbs).Draw(t, "verb")
		if verb == v1.RoleRun {
			return run(rapid.SampledFrom(v1.Actions).Draw(t, "action"))
		}
		res := rapid.SampledFrom(v1.RbacResources()).Draw(t, "resource")
		return authz.Request{Verb: verb, Resource: res, Name: objectName(res, rapid.SampledFrom(requestNames).Draw(t, "name")),
			Project: rapid.SampledFrom(projectsOf(res, requestProjects)).Draw(t, "project")}
	})
}

func genGrants(label string) *rapid.Generator[[]authz.Grant] {
	return rapid.Custom(func(t *rapid.T) []authz.Grant {
		bs := rapid.SliceOfN(genBinding(), 0, 8).Draw(t, label)
		gs := make([]authz.Grant, len(bs))
		for i, b := range bs {
			gs[i] = authz.Grant{RoleBinding: b, From: fmt.Sprintf("%s/%d", label, i)}
		}
		return gs
	})
}

func bindingsOf(gs []authz.Grant) []v1.RoleBinding {
	out := make([]v1.RoleBinding, len(gs))
	for i, g := range gs {
		out[i] = g.RoleBinding
	}
	return out
}

func grantsOf(bs []v1.RoleBinding) []authz.Grant {
	out := make([]authz.Grant, len(bs))
	for i, b := range bs {
		out[i] = authz.Grant{RoleBinding: b, From: "clone"}
	}
	return out
}

// The generators make only bindings the API accepts.
func TestGeneratedBindingsAreValid(t *testing.T) {
	t.Parallel()
	rapid.Check(t, func(t *rapid.T) {
		b := genBinding().Draw(t, "binding")
		got, err := v1.ParseRoleBinding(b.String())
		if err != nil {
			t.Fatalf("generated binding %+v is invalid: %v", b, err)
		}
		if got != b {
			t.Fatalf("ParseRoleBinding(%q) = %+v, want %+v", b.String(), got, b)
		}
	})
}

// No sequence of bindings grants more than its parts: a set grants
// exactly the union of what each binding grants alone.
func TestPropertyUnion(t *testing.T) {
	t.Parallel()
	universe := allRequests()
	rapid.Check(t, func(t *rapid.T) {
		gs := genGrants("grants").Draw(t, "grants")
		all := &authz.Rights{Grants: gs}
		check := func(req authz.Request) {
			anyOK := false
			for _, g := range gs {
				single := &authz.Rights{Grants: []authz.Grant{g}}
				if single.Allows(req) {
					anyOK = true
				}
			}
			if got := all.Allows(req); got != anyOK {
				t.Fatalf("Allows(%s) = %v over %v, but the union of single bindings = %v", req, got, bindingsOf(gs), anyOK)
			}
			g, ok := all.Which(req)
			if ok != anyOK {
				t.Fatalf("Which(%s) ok = %v, want %v", req, ok, anyOK)
			}
			if ok && (!slices.Contains(gs, g) || !authz.Grants(g.RoleBinding, req)) {
				t.Fatalf("Which(%s) = %+v: not one of the grants that allows it", req, g)
			}
		}
		check(genRequest().Draw(t, "request"))
		for _, req := range universe {
			check(req)
		}
		for _, res := range v1.RbacResources() {
			anyView, allView := false, false
			for _, g := range gs {
				single := &authz.Rights{Grants: []authz.Grant{g}}
				anyView = anyView || single.ViewsAny(res)
				allView = allView || single.ViewsAll(res)
			}
			if got := all.ViewsAny(res); got != anyView {
				t.Fatalf("ViewsAny(%s) = %v, union of singles = %v", res, got, anyView)
			}
			if got := all.ViewsAll(res); got != allView {
				t.Fatalf("ViewsAll(%s) = %v, union of singles = %v", res, got, allView)
			}
			// ViewsAll is exactly "the listing is allowed"; ViewsAny is
			// "some object of the resource may be viewed".
			if want := all.Allows(view(res, "")); all.ViewsAll(res) != want {
				t.Fatalf("ViewsAll(%s) = %v but Allows(view %s) = %v", res, !want, res, want)
			}
			someName := false
			for _, n := range requestNames {
				for _, p := range projectsOf(res, append([]string{""}, requestProjects...)) {
					req := view(res, objectName(res, n))
					req.Project = p
					someName = someName || all.Allows(req)
				}
			}
			if all.ViewsAny(res) != someName {
				t.Fatalf("ViewsAny(%s) = %v but some view %s/<name> allowed = %v", res, !someName, res, someName)
			}
		}
	})
}

// Permuting the grants does not change any decision.
func TestPropertyOrderIndependence(t *testing.T) {
	t.Parallel()
	universe := allRequests()
	rapid.Check(t, func(t *rapid.T) {
		gs := genGrants("grants").Draw(t, "grants")
		perm := rapid.Permutation(gs).Draw(t, "permuted")
		a, b := &authz.Rights{Grants: gs}, &authz.Rights{Grants: perm}
		for _, req := range append(universe, genRequest().Draw(t, "request")) {
			if a.Allows(req) != b.Allows(req) {
				t.Fatalf("Allows(%s) = %v for %v but %v for %v", req, a.Allows(req), bindingsOf(gs), b.Allows(req), bindingsOf(perm))
			}
		}
		for _, res := range v1.RbacResources() {
			if a.ViewsAny(res) != b.ViewsAny(res) || a.ViewsAll(res) != b.ViewsAll(res) {
				t.Fatalf("ViewsAny/ViewsAll(%s) depend on the order of %v", res, bindingsOf(gs))
			}
		}
		probe := genBinding().Draw(t, "probe")
		if a.Holds(probe) != b.Holds(probe) {
			t.Fatalf("Holds(%s) depends on the order of %v", probe, bindingsOf(gs))
		}
	})
}

// A token's effective rights are always a subset of its creator's at
// creation time: whatever passes the creator's Ceiling grants nothing the
// creator lacks, and a clone grants exactly what the creator holds.
func TestPropertyCeilingSound(t *testing.T) {
	t.Parallel()
	universe := allRequests()
	rapid.Check(t, func(t *rapid.T) {
		creator := &authz.Rights{
			All:    rapid.Float64Range(0, 1).Draw(t, "p") < 0.05,
			Grants: genGrants("creator").Draw(t, "creator"),
		}
		requested := rapid.SliceOfN(genBinding(), 0, 6).Draw(t, "requested")
		tok := &authz.Rights{Grants: grantsOf(requested)}
		reqs := append(universe, genRequest().Draw(t, "request"))
		if err := creator.Ceiling(requested); err == nil {
			for _, req := range reqs {
				if tok.Allows(req) && !creator.Allows(req) {
					t.Fatalf("Ceiling(%v) passed for creator %v, yet the token may %s and the creator may not",
						requested, bindingsOf(creator.Grants), req)
				}
			}
		} else if !errors.Is(err, authz.ErrForbidden) {
			t.Fatalf("Ceiling error %v is not ErrForbidden", err)
		}
		clone := &authz.Rights{Grants: grantsOf(creator.Bindings())}
		for _, req := range reqs {
			if clone.Allows(req) != creator.Allows(req) {
				t.Fatalf("clone of %v (All=%v) Allows(%s) = %v, creator %v",
					bindingsOf(creator.Grants), creator.All, req, clone.Allows(req), creator.Allows(req))
			}
		}
		if err := creator.Ceiling(creator.Bindings()); err != nil {
			t.Fatalf("a creator cannot grant its own bindings: %v", err)
		}
		bs := creator.Bindings()
		seen := map[v1.RoleBinding]bool{}
		for _, b := range bs {
			if seen[b] {
				t.Fatalf("Bindings() repeats %s: %v", b, bs)
			}
			seen[b] = true
		}
	})
}

// Covers(h, b) means h grants everything b grants.
func TestPropertyCoversSound(t *testing.T) {
	t.Parallel()
	universe := allRequests()
	rapid.Check(t, func(t *rapid.T) {
		h := genBinding().Draw(t, "h")
		bs := rapid.SliceOfN(genBinding(), 1, 16).Draw(t, "bs")
		reqs := append(universe, genRequest().Draw(t, "request"))
		for _, b := range bs {
			if !authz.Covers(h, b) {
				continue
			}
			for _, req := range reqs {
				if authz.Grants(b, req) && !authz.Grants(h, req) {
					t.Fatalf("Covers(%s, %s) but only the latter grants %s", h, b, req)
				}
			}
		}
	})
}

// Covers is also exact over the request universe: whenever h grants every
// request b grants, Covers says so (the ceiling refuses nothing it should
// allow). Every valid binding grants at least one request of the universe.
func TestCoversExact(t *testing.T) {
	t.Parallel()
	universe := allRequests()
	var bindings []v1.RoleBinding
	for _, role := range v1.Roles {
		if role == v1.RoleRun {
			for _, a := range append(slices.Clone(v1.Actions), "*") {
				bindings = append(bindings, runB(a))
			}
			continue
		}
		for _, res := range append(v1.RbacResources(), "*") {
			for _, n := range bindingNames {
				if n != "" && res == "*" {
					continue
				}
				bindings = append(bindings, rb(role, res, objectName(res, n)))
			}
		}
	}
	for _, h := range bindings {
		for _, b := range bindings {
			implied := true
			for _, req := range universe {
				if authz.Grants(b, req) && !authz.Grants(h, req) {
					implied = false
					break
				}
			}
			if got := authz.Covers(h, b); got != implied {
				t.Errorf("Covers(%s, %s) = %v, but grant inclusion over all requests = %v", h, b, got, implied)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// 3. Authorizer against a real SQLite store.

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func openDB(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "mcpd.db")})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func specJSON(t *testing.T, spec any) []byte {
	t.Helper()
	b, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func putRaw(t *testing.T, db store.Store, kind, name string, spec []byte) {
	t.Helper()
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.UpdateResources(context.Background(), func(tx store.ResourceTx) error {
		return tx.Create(&store.Resource{ResourceKey: store.ResourceKey{Kind: kind, Name: name}, Spec: spec, CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		t.Fatalf("create %s/%s: %v", kind, name, err)
	}
}

func putGroup(t *testing.T, db store.Store, name string, members ...string) {
	t.Helper()
	putRaw(t, db, "Group", name, specJSON(t, v1.GroupSpec{Members: members}))
}

func putDef(t *testing.T, db store.Store, name string, subjects []string, bs ...v1.RoleBinding) {
	t.Helper()
	putRaw(t, db, "RbacDefinition", name, specJSON(t, v1.RbacDefinitionSpec{Subjects: subjects, RoleBindings: bs}))
}

func updateGroup(t *testing.T, db store.Store, name string, members ...string) {
	t.Helper()
	err := db.UpdateResources(context.Background(), func(tx store.ResourceTx) error {
		r, err := tx.Get(store.ResourceKey{Kind: "Group", Name: name})
		if err != nil {
			return err
		}
		r.Spec = specJSON(t, v1.GroupSpec{Members: members})
		return tx.Update(&r)
	})
	if err != nil {
		t.Fatalf("update group %s: %v", name, err)
	}
}

func deleteRes(t *testing.T, db store.Store, kind, name string) {
	t.Helper()
	err := db.UpdateResources(context.Background(), func(tx store.ResourceTx) error {
		return tx.Delete(store.ResourceKey{Kind: kind, Name: name})
	})
	if err != nil {
		t.Fatalf("delete %s/%s: %v", kind, name, err)
	}
}

func mustPolicy(t *testing.T, a *authz.Authorizer) *authz.Policy {
	t.Helper()
	p, err := a.Policy(context.Background())
	if err != nil {
		t.Fatalf("Policy: %v", err)
	}
	return p
}

func seedStore(t *testing.T, db store.Store) {
	t.Helper()
	putGroup(t, db, v1.AdminGroup, "root@example.com")
	putGroup(t, db, "ops", "bob@example.com", "carol@example.com")
	putDef(t, db, "ops-def", []string{"Group:ops"}, rb(v1.RoleView, "servers", ""))
	putDef(t, db, "token-def", []string{"McpToken:" + tokenSHA}, runB("logs"))
}

func TestAuthorizerReflectsStore(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	seedStore(t, db)
	clk := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	a := authz.New(authz.Config{CacheTTL: time.Hour, Now: clk.Now}, db)
	p := mustPolicy(t, a)

	if !p.IsAdmin("root@example.com") || p.IsAdmin("bob@example.com") {
		t.Errorf("IsAdmin: root=%v bob=%v, want true false", p.IsAdmin("root@example.com"), p.IsAdmin("bob@example.com"))
	}
	if diff := cmp.Diff([]string{"ops"}, p.GroupsOf("carol@example.com")); diff != "" {
		t.Errorf("GroupsOf(carol) (-want +got):\n%s", diff)
	}
	bob := p.UserRights("bob@example.com")
	g, ok := bob.Which(view("servers", "s1"))
	if !ok || g.From != "rbacdefinition/ops-def" {
		t.Errorf("bob view servers/s1: Which = %+v, %v; want from rbacdefinition/ops-def", g, ok)
	}
	if bob.Allows(edit("servers", "s1")) {
		t.Errorf("bob may edit servers")
	}
	tok := p.TokenRights(tokenSHA, "ci", nil)
	if g, ok := tok.Which(run("logs")); !ok || g.From != "rbacdefinition/token-def" {
		t.Errorf("token run logs: Which = %+v, %v", g, ok)
	}
	if tok.Allows(view("servers", "s1")) {
		t.Errorf("token holds its creator's group rights")
	}
	if p.UserRights("mallory@example.com").Allows(view("servers", "")) {
		t.Errorf("unknown user allowed")
	}
}

func TestAuthorizerInvalidate(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	seedStore(t, db)
	clk := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	a := authz.New(authz.Config{CacheTTL: time.Hour, Now: clk.Now}, db)
	p1 := mustPolicy(t, a)
	if p1.UserRights("bob@example.com").Allows(edit("secrets", "x")) {
		t.Fatalf("bob may edit secrets before the grant")
	}

	putDef(t, db, "ops-edit", []string{"Group:ops"}, rb(v1.RoleEdit, "secrets", ""))
	clk.Advance(59 * time.Minute)
	if p := mustPolicy(t, a); p != p1 {
		t.Fatalf("a write without Invalidate rebuilt the snapshot before the TTL")
	}
	if mustPolicy(t, a).UserRights("bob@example.com").Allows(edit("secrets", "x")) {
		t.Fatalf("the old snapshot sees the new definition")
	}

	a.Invalidate()
	p2 := mustPolicy(t, a)
	if p2 == p1 {
		t.Fatalf("Invalidate did not rebuild the snapshot")
	}
	g, ok := p2.UserRights("bob@example.com").Which(edit("secrets", "x"))
	if !ok || g.From != "rbacdefinition/ops-edit" {
		t.Errorf("after Invalidate: Which(edit secrets/x) = %+v, %v; want from rbacdefinition/ops-edit", g, ok)
	}
	// The old snapshot is immutable.
	if p1.UserRights("bob@example.com").Allows(edit("secrets", "x")) {
		t.Errorf("the old snapshot changed")
	}
	// And the new one is kept until the next invalidation.
	if p := mustPolicy(t, a); p != p2 {
		t.Errorf("snapshot rebuilt without invalidation or expiry")
	}

	// Revocation: removing bob from ops and deleting a definition.
	updateGroup(t, db, "ops", "carol@example.com")
	deleteRes(t, db, "RbacDefinition", "token-def")
	if !mustPolicy(t, a).UserRights("bob@example.com").Allows(view("servers", "")) {
		t.Fatalf("revocation took effect without Invalidate")
	}
	a.Invalidate()
	p3 := mustPolicy(t, a)
	if p3.UserRights("bob@example.com").Allows(view("servers", "")) {
		t.Errorf("bob still views servers after leaving ops")
	}
	if !p3.UserRights("carol@example.com").Allows(edit("secrets", "x")) {
		t.Errorf("carol lost ops rights")
	}
	if p3.TokenRights(tokenSHA, "ci", nil).Allows(run("logs")) {
		t.Errorf("token still holds a deleted definition's binding")
	}
}

func TestAuthorizerTTL(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	seedStore(t, db)
	const ttl = time.Hour
	clk := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	a := authz.New(authz.Config{CacheTTL: ttl, Now: clk.Now}, db)
	p1 := mustPolicy(t, a)

	// Another replica's write: no Invalidate here.
	putDef(t, db, "ops-edit", []string{"Group:ops"}, rb(v1.RoleEdit, "secrets", ""))
	clk.Advance(ttl - time.Nanosecond)
	if p := mustPolicy(t, a); p != p1 {
		t.Fatalf("snapshot rebuilt before the TTL passed")
	}
	clk.Advance(time.Nanosecond)
	p2 := mustPolicy(t, a)
	if p2 == p1 {
		t.Fatalf("snapshot not rebuilt once the TTL passed")
	}
	if !p2.UserRights("bob@example.com").Allows(edit("secrets", "x")) {
		t.Errorf("rebuilt snapshot misses the other replica's write")
	}
	clk.Advance(ttl / 2)
	if p := mustPolicy(t, a); p != p2 {
		t.Errorf("fresh snapshot rebuilt again within the TTL")
	}
}

func TestAuthorizerZeroTTLRebuildsEveryTime(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	seedStore(t, db)
	a := authz.New(authz.Config{}, db) // CacheTTL 0, real clock
	p1 := mustPolicy(t, a)
	putDef(t, db, "ops-edit", []string{"Group:ops"}, rb(v1.RoleEdit, "secrets", ""))
	p2 := mustPolicy(t, a)
	if p2 == p1 {
		t.Fatalf("CacheTTL 0 reused a snapshot")
	}
	if !p2.UserRights("bob@example.com").Allows(edit("secrets", "x")) {
		t.Errorf("CacheTTL 0 missed a write")
	}
}

// Load pages through more groups and definitions than one store page.
func TestLoadManyResources(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	const n = 520 // EachResource pages by 500
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	err := db.UpdateResources(context.Background(), func(tx store.ResourceTx) error {
		for i := range n {
			g := &store.Resource{ResourceKey: store.ResourceKey{Kind: "Group", Name: fmt.Sprintf("g%03d", i)},
				Spec: specJSON(t, v1.GroupSpec{Members: []string{fmt.Sprintf("u%03d@example.com", i)}}), CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(g); err != nil {
				return err
			}
			d := &store.Resource{ResourceKey: store.ResourceKey{Kind: "RbacDefinition", Name: fmt.Sprintf("d%03d", i)},
				Spec: specJSON(t, v1.RbacDefinitionSpec{
					Subjects:     []string{fmt.Sprintf("Group:g%03d", i)},
					RoleBindings: []v1.RoleBinding{rb(v1.RoleView, "servers", fmt.Sprintf("s%03d", i))},
				}), CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	p, err := authz.Load(context.Background(), db)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	for i := range n {
		u := p.UserRights(fmt.Sprintf("u%03d@example.com", i))
		g, ok := u.Which(view("servers", fmt.Sprintf("s%03d", i)))
		if !ok || g.From != fmt.Sprintf("rbacdefinition/d%03d", i) {
			t.Fatalf("user %d: Which = %+v, %v", i, g, ok)
		}
		if u.Allows(view("servers", fmt.Sprintf("s%03d", (i+1)%n))) {
			t.Fatalf("user %d may view another user's server", i)
		}
	}
}

func TestLoadBadSpec(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"Group", "RbacDefinition"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			db := openDB(t)
			putRaw(t, db, kind, "broken", []byte("not json"))
			a := authz.New(authz.Config{CacheTTL: time.Hour}, db)
			_, err := a.Policy(context.Background())
			if err == nil {
				t.Fatalf("Policy over a corrupt %s = nil error", kind)
			}
			if want := strings.ToLower(kind) + " broken"; !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %q", err, want)
			}
		})
	}
}

// Concurrent requests, writes and invalidations: no error, no race, and
// after the last Invalidate the policy reflects the final store.
func TestAuthorizerConcurrent(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	seedStore(t, db)
	clk := &fakeClock{t: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)}
	a := authz.New(authz.Config{CacheTTL: time.Second, Now: clk.Now}, db)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				if w == 0 && i%5 == 0 {
					a.Invalidate()
				}
				if w == 1 {
					clk.Advance(300 * time.Millisecond)
				}
				p, err := a.Policy(context.Background())
				if err != nil {
					errs <- err
					return
				}
				// Every snapshot holds the seed.
				if !p.UserRights("bob@example.com").Allows(view("servers", "s")) {
					errs <- fmt.Errorf("snapshot lost the seed")
					return
				}
			}
		}()
	}
	for i := range 10 {
		putDef(t, db, fmt.Sprintf("extra-%d", i), []string{"User:dave@example.com"}, rb(v1.RoleView, "templates", fmt.Sprintf("t%d", i)))
		a.Invalidate()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	a.Invalidate()
	d := mustPolicy(t, a).UserRights("dave@example.com")
	for i := range 10 {
		if !d.Allows(view("templates", fmt.Sprintf("t%d", i))) {
			t.Errorf("final policy misses extra-%d", i)
		}
	}
}
