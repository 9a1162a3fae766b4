package apiserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// The users the RBAC tests create besides alice and bob (admins).
const (
	carolEmail    = "carol@example.com"
	carolPassword = "carol-password-1"
	daveEmail     = "dave@example.com"
	davePassword  = "dave-password-1"
	erinEmail     = "erin@example.com"
	erinPassword  = "erin-password-1"
)

// with sends a request with bearer tok; a body is sent as JSON.
func (e *env) with(t *testing.T, tok, method, path, body string) resp {
	t.Helper()
	return e.do(t, req{method: method, path: path, body: body, token: tok})
}

// mustWith is with that fails the test unless the answer has status want.
func (e *env) mustWith(t *testing.T, tok string, want int, method, path, body string) resp {
	t.Helper()
	r := e.with(t, tok, method, path, body)
	if r.status != want {
		t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	return r
}

// createUser creates a user as the admin adminTok and returns the answer.
func (e *env) createUser(t *testing.T, adminTok, email, password string) v1.User {
	t.Helper()
	b, _ := json.Marshal(v1.CreateUserRequest{Email: email, Name: strings.Split(email, "@")[0], Password: password})
	r := e.mustWith(t, adminTok, http.StatusCreated, "POST", "/api/v1/users", string(b))
	var u v1.User
	if err := json.Unmarshal(r.body, &u); err != nil {
		t.Fatalf("decode user %s: %v", r.body, err)
	}
	return u
}

// applyBody is the body of an apply of docs.
func applyBody(docs ...string) string {
	return `{"objects":[` + strings.Join(docs, ",") + `]}`
}

// bindings parses bindings written as --roleBindings takes them.
func bindings(t *testing.T, bs ...string) []v1.RoleBinding {
	t.Helper()
	out := []v1.RoleBinding{}
	for _, s := range bs {
		b, err := v1.ParseRoleBinding(s)
		if err != nil {
			t.Fatalf("ParseRoleBinding(%q): %v", s, err)
		}
		out = append(out, b)
	}
	return out
}

// rbacDoc is an RbacDefinition document granting bs to subjects.
func rbacDoc(t *testing.T, name string, subjects []string, bs ...string) string {
	t.Helper()
	spec, err := json.Marshal(v1.RbacDefinitionSpec{Subjects: subjects, RoleBindings: bindings(t, bs...)})
	if err != nil {
		t.Fatal(err)
	}
	return doc("RbacDefinition", name, string(spec))
}

// listedIDs lists path as tok and returns the ids of the objects. A list
// endpoint is asked for one page of up to 1000; export has no pages.
func (e *env) listedIDs(t *testing.T, tok, path string) []string {
	t.Helper()
	if !strings.HasPrefix(path, "/api/v1/export") {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "limit=1000"
	}
	r := e.mustWith(t, tok, http.StatusOK, "GET", path, "")
	var l v1.ObjectList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode list %s: %v", r.body, err)
	}
	if l.NextCursor != "" {
		t.Errorf("GET %s: nextCursor on a page that is not full", path)
	}
	return listIDs(l)
}

// createMcpToken creates an McpToken in project as tok from the JSON
// request body and fails the test unless it answers 201.
func (e *env) createMcpToken(t *testing.T, tok, project, body string) v1.CreatedMcpToken {
	t.Helper()
	r := e.mustWith(t, tok, http.StatusCreated, "POST", "/api/v1/projects/"+project+"/mcptokens", body)
	var out v1.CreatedMcpToken
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("decode created token %s: %v", r.body, err)
	}
	return out
}

// getMcpToken reads a token as tok.
func (e *env) getMcpToken(t *testing.T, tok, project, name string) v1.McpToken {
	t.Helper()
	r := e.mustWith(t, tok, http.StatusOK, "GET", "/api/v1/projects/"+project+"/mcptokens/"+name, "")
	var out v1.McpToken
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatalf("decode token %s: %v", r.body, err)
	}
	return out
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// checkStatus checks the answer's status; for an error status it checks
// the code that goes with it (FORBIDDEN for 403, CONFLICT for 409) and
// that the message contains msg.
func checkStatus(t *testing.T, r resp, want int, msg string) {
	t.Helper()
	if want < 400 {
		if r.status != want {
			t.Errorf("status %d, want %d; body %s", r.status, want, r.body)
		}
		return
	}
	code := map[int]string{
		http.StatusBadRequest:   v1.CodeValidationFailed,
		http.StatusUnauthorized: v1.CodeTokenInvalid,
		http.StatusForbidden:    v1.CodeForbidden,
		http.StatusNotFound:     v1.CodeNotFound,
		http.StatusConflict:     v1.CodeConflict,
	}[want]
	var body v1.Error
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Errorf("status %d (want %d), body %q is not an error: %v", r.status, want, r.body, err)
		return
	}
	if r.status != want || body.Code != code {
		t.Errorf("status %d code %q, want %d %q; body %s", r.status, body.Code, want, code, r.body)
		return
	}
	text := body.Message
	for _, d := range body.Details {
		text += "\n" + d.Field + ": " + d.Message
	}
	if !strings.Contains(text, msg) {
		t.Errorf("error %q does not contain %q", text, msg)
	}
}

// TestRBACMatrix: who may do what. Nothing is allowed by default; a named
// binding reaches one object; a group's binding reaches its members; edit
// holds view, create and delete; admins hold everything; listings show
// only what the caller may view.
func TestRBACMatrix(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.createUser(t, alice, carolEmail, carolPassword)
	e.createUser(t, alice, daveEmail, davePassword)
	e.mustWith(t, alice, http.StatusOK, "POST", "/api/v1/apply", applyBody(
		doc("Group", "ops", `{"members":["`+daveEmail+`"]}`),
		rbacDoc(t, "carol-view", []string{"User:" + carolEmail}, "role:view,resource:servers,name:memory", "role:view,resource:secrets,name:github"),
		rbacDoc(t, "ops-edit", []string{"Group:ops"}, "role:edit,resource:servers"),
		doc("Secret", "github", `{"data":{"TOKEN":"ghp_matrix_value"}}`),
		doc("Server", "memory", `{"command":"npx"}`),
		doc("Server", "other", `{"command":"uvx"}`),
		doc("Project", "demo", `{"servers":["memory"]}`),
	))
	toks := map[string]string{
		"alice": alice,
		"carol": e.login(t, carolEmail, carolPassword),
		"dave":  e.login(t, daveEmail, davePassword),
	}

	t.Run("listings are filtered", func(t *testing.T) {
		lists := []struct {
			who, path string
			want      []string
		}{
			{"carol", "/api/v1/servers", []string{"server/memory"}},
			{"carol", "/api/v1/secrets", []string{"secret/github"}},
			{"carol", "/api/v1/export", []string{"secret/github", "server/memory"}},
			{"dave", "/api/v1/servers", []string{"server/memory", "server/other"}},
			{"dave", "/api/v1/export", []string{"server/memory", "server/other"}},
			{"alice", "/api/v1/servers", []string{"server/memory", "server/other"}},
			{"alice", "/api/v1/groups", []string{"group/admin", "group/ops"}},
			{"alice", "/api/v1/export", []string{"secret/github", "server/memory", "server/other", "project/demo",
				"group/ops", "rbacdefinition/carol-view", "rbacdefinition/ops-edit"}},
		}
		for _, l := range lists {
			if diff := cmp.Diff(l.want, e.listedIDs(t, toks[l.who], l.path)); diff != "" {
				t.Errorf("%s GET %s (-want +got):\n%s", l.who, l.path, diff)
			}
		}
	})

	rows := []struct {
		name, who, method, path, body string
		want                          int
		// msg is part of the error message: for a 403, the binding
		// that would allow the request.
		msg string
	}{
		// Deny by default.
		{"no binding: list projects", "carol", "GET", "/api/v1/projects", "", 403, "an admin can grant role:view,resource:projects in an RbacDefinition"},
		{"no binding: get project", "carol", "GET", "/api/v1/projects/demo", "", 403, "role:view,resource:projects,name:demo"},
		{"no binding: users", "carol", "GET", "/api/v1/users", "", 403, "role:view,resource:users"},
		{"no binding: groups", "carol", "GET", "/api/v1/groups", "", 403, "role:view,resource:groups"},
		{"no binding: definitions", "carol", "GET", "/api/v1/rbacdefinitions", "", 403, "role:view,resource:rbacdefinitions"},
		{"no binding: tokens", "carol", "GET", "/api/v1/mcptokens", "", 403, "role:view,resource:mcptokens"},
		{"no binding: audit", "carol", "GET", "/api/v1/audit", "", 403, "action:audit"},
		{"no binding: backup", "carol", "GET", "/api/v1/export?reveal=true", "", 403, "action:backup"},
		// A named binding reaches that object only, and only to view it.
		{"named: view it", "carol", "GET", "/api/v1/servers/memory", "", 200, ""},
		{"named: not another", "carol", "GET", "/api/v1/servers/other", "", 403, "role:view,resource:servers,name:other"},
		{"named: no put", "carol", "PUT", "/api/v1/servers/memory", doc("Server", "memory", `{"command":"node"}`), 403, "role:edit,resource:servers,name:memory"},
		{"named: no patch", "carol", "PATCH", "/api/v1/servers/memory", `{"spec":{"command":"node"}}`, 403, "role:edit,resource:servers,name:memory"},
		{"named: no delete", "carol", "DELETE", "/api/v1/servers/memory", "", 403, "role:delete,resource:servers,name:memory"},
		{"named: no create", "carol", "POST", "/api/v1/servers", doc("Server", "carols", `{"command":"npx"}`), 403, "role:create,resource:servers"},
		{"named: no apply", "carol", "POST", "/api/v1/apply", applyBody(doc("Server", "carols", `{"command":"npx"}`)), 403, "role:create,resource:servers"},
		{"named: secret keys", "carol", "GET", "/api/v1/secrets/github", "", 200, ""},
		{"named: no reveal", "carol", "GET", "/api/v1/secrets/github?reveal=true", "", 403, "action:reveal-secrets"},
		// A group's binding; edit holds view, create and delete.
		{"group: view", "dave", "GET", "/api/v1/servers/other", "", 200, ""},
		{"group: put", "dave", "PUT", "/api/v1/servers/other", doc("Server", "other", `{"command":"uvx","args":["x"]}`), 200, ""},
		{"group: patch", "dave", "PATCH", "/api/v1/servers/other", `{"spec":{"args":["y"]}}`, 200, ""},
		{"group: create", "dave", "POST", "/api/v1/servers", doc("Server", "fresh", `{"command":"npx"}`), 201, ""},
		{"group: apply", "dave", "POST", "/api/v1/apply", applyBody(doc("Server", "applied", `{"command":"npx"}`)), 200, ""},
		{"group: delete", "dave", "DELETE", "/api/v1/servers/fresh", "", 200, ""},
		{"group: delete referenced", "dave", "DELETE", "/api/v1/servers/memory", "", 409, "project/demo"},
		{"group: cascade needs the referrer", "dave", "DELETE", "/api/v1/servers/memory?cascade=true", "", 403, "role:edit,resource:projects"},
		{"group: not projects", "dave", "GET", "/api/v1/projects", "", 403, "role:view,resource:projects"},
		{"group: no project create", "dave", "POST", "/api/v1/projects", doc("Project", "daves", `{}`), 403, "role:create,resource:projects"},
		{"group: apply all or nothing", "dave", "POST", "/api/v1/apply",
			applyBody(doc("Server", "half", `{"command":"npx"}`), doc("Project", "daves", `{"servers":["half"]}`)), 403, "role:create,resource:projects"},
		{"group: not secrets", "dave", "GET", "/api/v1/secrets/github", "", 403, "role:view,resource:secrets,name:github"},
		{"group: no definitions", "dave", "POST", "/api/v1/rbacdefinitions",
			rbacDoc(t, "mine", []string{"User:" + daveEmail}, "role:view,resource:servers"), 403, "role:create,resource:rbacdefinitions"},
		// Admins hold every right.
		{"admin: project", "alice", "GET", "/api/v1/projects/demo", "", 200, ""},
		{"admin: reveal", "alice", "GET", "/api/v1/secrets/github?reveal=true", "", 200, ""},
		{"admin: audit", "alice", "GET", "/api/v1/audit", "", 200, ""},
		{"admin: users", "alice", "GET", "/api/v1/users", "", 200, ""},
		{"admin: create project", "alice", "POST", "/api/v1/projects", doc("Project", "alices", `{}`), 201, ""},
		{"admin: cascade", "alice", "DELETE", "/api/v1/servers/memory?cascade=true", "", 200, ""},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			checkStatus(t, e.with(t, toks[row.who], row.method, row.path, row.body), row.want, row.msg)
		})
	}

	t.Run("refused writes left nothing", func(t *testing.T) {
		for _, path := range []string{"/api/v1/servers/carols", "/api/v1/servers/half", "/api/v1/projects/daves", "/api/v1/rbacdefinitions/mine"} {
			checkStatus(t, e.with(t, alice, "GET", path, ""), 404, "not found")
		}
		if diff := cmp.Diff([]string{"server/applied", "server/other"}, e.listedIDs(t, toks["dave"], "/api/v1/servers")); diff != "" {
			t.Errorf("dave's servers after the writes (-want +got):\n%s", diff)
		}
		// memory went with alice's cascade: carol sees nothing now.
		if diff := cmp.Diff([]string{}, e.listedIDs(t, toks["carol"], "/api/v1/servers")); diff != "" {
			t.Errorf("carol's servers (-want +got):\n%s", diff)
		}
		if r := e.mustWith(t, toks["carol"], 200, "GET", "/api/v1/secrets/github", ""); !strings.Contains(string(r.body), `"TOKEN":null`) {
			t.Errorf("a secret read without reveal-secrets: %s", r.body)
		}
		o := decodeObj(t, e.mustWith(t, alice, 200, "GET", "/api/v1/servers/other", "").body)
		checkSpec(t, o, `{"transport":"stdio","command":"uvx","args":["y"],"replicas":1,"runtime":"process","sessionMode":"shared"}`)
	})

	// Listing secrets with ?reveal=true needs the reveal-secrets action as
	// reading one does.
	t.Run("list reveal needs reveal-secrets", func(t *testing.T) {
		r := e.with(t, toks["carol"], "GET", "/api/v1/secrets?reveal=true", "")
		checkStatus(t, r, 403, "action:reveal-secrets")
		if strings.Contains(string(r.body), "ghp_matrix_value") {
			t.Errorf("the answer reveals the secret value: %s", r.body)
		}
	})
}

// TestApplyAuthorizedPerObject: an apply is authorized object by object,
// with the verb of what it does to each, and refused as a whole.
func TestApplyAuthorizedPerObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.createUser(t, alice, erinEmail, erinPassword)
	e.mustWith(t, alice, http.StatusOK, "POST", "/api/v1/apply", applyBody(
		rbacDoc(t, "erin-create", []string{"User:" + erinEmail}, "role:create,resource:servers"),
		doc("Server", "memory", `{"command":"npx"}`),
	))
	erin := e.login(t, erinEmail, erinPassword)
	decodeApply := func(t *testing.T, r resp) v1.ApplyResponse {
		t.Helper()
		var out v1.ApplyResponse
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatalf("decode apply answer %s: %v", r.body, err)
		}
		return out
	}
	changed := doc("Server", "memory", `{"command":"node"}`)

	t.Run("create a new object", func(t *testing.T) {
		got := decodeApply(t, e.mustWith(t, erin, 200, "POST", "/api/v1/apply", applyBody(doc("Server", "fresh", `{"command":"npx"}`))))
		want := v1.ApplyResponse{Results: []v1.ApplyResult{{Kind: "Server", Name: "fresh", Action: v1.ActionCreated, ResourceVersion: "1"}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("apply (-want +got):\n%s", diff)
		}
	})
	t.Run("an update in the apply refuses all of it", func(t *testing.T) {
		r := e.with(t, erin, "POST", "/api/v1/apply", applyBody(doc("Server", "fresh2", `{"command":"npx"}`), changed))
		checkStatus(t, r, 403, "role:edit,resource:servers")
		checkStatus(t, r, 403, "server/memory")
		checkStatus(t, e.with(t, alice, "GET", "/api/v1/servers/fresh2", ""), 404, "server/fresh2 not found")
		checkSpec(t, decodeObj(t, e.mustWith(t, alice, 200, "GET", "/api/v1/servers/memory", "").body),
			`{"transport":"stdio","command":"npx","replicas":1,"runtime":"process","sessionMode":"shared"}`)
	})
	t.Run("a dry run is refused too", func(t *testing.T) {
		body := `{"dryRun":true,"objects":[` + doc("Server", "fresh2", `{"command":"npx"}`) + `,` + changed + `]}`
		checkStatus(t, e.with(t, erin, "POST", "/api/v1/apply", body), 403, "role:edit,resource:servers")
		checkStatus(t, e.with(t, erin, "PUT", "/api/v1/servers/memory?dryRun=true", changed), 403, "role:edit,resource:servers,name:memory")
	})
	t.Run("a dry run of what is allowed", func(t *testing.T) {
		got := decodeApply(t, e.mustWith(t, erin, 200, "POST", "/api/v1/apply",
			`{"dryRun":true,"objects":[`+doc("Server", "fresh3", `{"command":"npx"}`)+`]}`))
		want := v1.ApplyResponse{DryRun: true, Results: []v1.ApplyResult{{Kind: "Server", Name: "fresh3", Action: v1.ActionCreated, ResourceVersion: "1"}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("dry run (-want +got):\n%s", diff)
		}
		checkStatus(t, e.with(t, alice, "GET", "/api/v1/servers/fresh3", ""), 404, "not found")
	})
	t.Run("create and replace routes", func(t *testing.T) {
		checkStatus(t, e.with(t, erin, "POST", "/api/v1/servers", doc("Server", "fresh4", `{"command":"npx"}`)), 201, "")
		checkStatus(t, e.with(t, erin, "PUT", "/api/v1/servers/memory", changed), 403, "role:edit,resource:servers,name:memory")
		checkStatus(t, e.with(t, erin, "PATCH", "/api/v1/servers/memory", `{"spec":{"command":"node"}}`), 403, "role:edit,resource:servers,name:memory")
		checkStatus(t, e.with(t, erin, "POST", "/api/v1/projects", doc("Project", "p", `{}`)), 403, "role:create,resource:projects")
	})
	if diff := cmp.Diff([]string{"server/fresh", "server/fresh4", "server/memory"}, e.listedIDs(t, alice, "/api/v1/servers")); diff != "" {
		t.Errorf("servers at the end (-want +got):\n%s", diff)
	}
}

// TestEscalation: nobody grants what they do not hold, and the admin group
// is kept by admins and never left without a user.
func TestEscalation(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.createUser(t, alice, erinEmail, erinPassword)
	e.mustWith(t, alice, http.StatusOK, "POST", "/api/v1/apply", applyBody(
		doc("Group", "ops", `{"members":["`+bobEmail+`"]}`),
		rbacDoc(t, "erin", []string{"User:" + erinEmail},
			"role:edit,resource:rbacdefinitions", "role:view,resource:servers", "role:edit,resource:groups", "role:edit,resource:users"),
		rbacDoc(t, "ops-edit", []string{"Group:ops"}, "role:edit,resource:servers"),
	))
	erin := e.login(t, erinEmail, erinPassword)
	grant := func(name string, bs ...string) string {
		return rbacDoc(t, name, []string{"User:" + daveEmail}, bs...)
	}
	rows := []struct {
		name, method, path, body string
		want                     int
		msg                      string
	}{
		{"more than held", "POST", "/api/v1/rbacdefinitions", grant("g-edit", "role:edit,resource:servers"), 403, "you cannot grant role:edit,resource:servers"},
		{"every resource", "POST", "/api/v1/rbacdefinitions", grant("g-all", "role:view,resource:*"), 403, "you cannot grant role:view,resource:*"},
		{"an action", "POST", "/api/v1/rbacdefinitions", grant("g-audit", "action:audit"), 403, "you cannot grant action:audit"},
		{"held and more in one", "POST", "/api/v1/apply", applyBody(grant("g-mixed", "role:view,resource:servers", "role:delete,resource:servers")), 403, "you cannot grant role:delete,resource:servers"},
		{"what is held", "POST", "/api/v1/rbacdefinitions", grant("g-view", "role:view,resource:servers"), 201, ""},
		{"less than held", "POST", "/api/v1/rbacdefinitions", grant("g-named", "role:view,resource:servers,name:memory"), 201, ""},
		{"edit holds create", "POST", "/api/v1/rbacdefinitions", grant("g-groups", "role:create,resource:groups"), 201, ""},
		{"join a stronger definition", "PUT", "/api/v1/rbacdefinitions/ops-edit",
			rbacDoc(t, "ops-edit", []string{"Group:ops", "User:" + erinEmail}, "role:edit,resource:servers"), 403, "you cannot grant role:edit,resource:servers"},
		{"widen a definition", "PATCH", "/api/v1/rbacdefinitions/g-view", `{"spec":{"roleBindings":[{"role":"edit","resource":"servers"}]}}`, 403, "you cannot grant role:edit,resource:servers"},
		{"change the admin group", "PUT", "/api/v1/groups/admin", doc("Group", "admin", `{"members":["`+aliceEmail+`","`+bobEmail+`","`+erinEmail+`"]}`), 403, "only members of the admin group"},
		{"patch the admin group", "PATCH", "/api/v1/groups/admin", `{"spec":{"members":["` + erinEmail + `"]}}`, 403, "only members of the admin group"},
		{"apply the admin group", "POST", "/api/v1/apply", applyBody(doc("Group", "admin", `{"members":["`+erinEmail+`"]}`)), 403, "only members of the admin group"},
		{"delete the admin group", "DELETE", "/api/v1/groups/admin", "", 409, "built in"},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			checkStatus(t, e.with(t, erin, row.method, row.path, row.body), row.want, row.msg)
		})
	}
	t.Run("refused writes left nothing", func(t *testing.T) {
		got := e.listedIDs(t, alice, "/api/v1/rbacdefinitions")
		want := []string{"rbacdefinition/erin", "rbacdefinition/g-groups", "rbacdefinition/g-named", "rbacdefinition/g-view", "rbacdefinition/ops-edit"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("definitions (-want +got):\n%s", diff)
		}
		admin := decodeObj(t, e.mustWith(t, alice, 200, "GET", "/api/v1/groups/admin", "").body)
		checkSpec(t, admin, `{"members":["`+aliceEmail+`","`+bobEmail+`"]}`)
		// erin still cannot edit servers.
		checkStatus(t, e.with(t, erin, "PATCH", "/api/v1/servers/x", `{}`), 403, "role:edit,resource:servers,name:x")
	})

	t.Run("the admin group keeps an existing user", func(t *testing.T) {
		checkStatus(t, e.with(t, alice, "PUT", "/api/v1/groups/admin", doc("Group", "admin", `{"members":[]}`)), 409, "at least one existing user")
		checkStatus(t, e.with(t, alice, "PUT", "/api/v1/groups/admin", doc("Group", "admin", `{"members":["ghost@example.com"]}`)), 409, "at least one existing user")
		checkStatus(t, e.with(t, alice, "PATCH", "/api/v1/groups/admin", `{"spec":{"members":["ghost@example.com"]}}`), 409, "at least one existing user")
		checkStatus(t, e.with(t, alice, "DELETE", "/api/v1/groups/admin", ""), 409, "built in")
		checkStatus(t, e.with(t, alice, "DELETE", "/api/v1/groups/admin?cascade=true", ""), 409, "built in")
		checkStatus(t, e.with(t, alice, "PUT", "/api/v1/groups/admin", doc("Group", "admin", `{"members":["`+aliceEmail+`"]}`)), 200, "")
		// bob left the admin group: he holds only what ops gives him.
		bob := e.login(t, bobEmail, bobPassword)
		checkStatus(t, e.with(t, bob, "GET", "/api/v1/users", ""), 403, "role:view,resource:users")
		checkStatus(t, e.with(t, bob, "POST", "/api/v1/servers", doc("Server", "bobs", `{"command":"npx"}`)), 201, "")
	})

	// Group membership is a grant too: joining a group hands over what
	// the group's definitions grant, so it is held to the same ceiling.
	t.Run("joining a stronger group", func(t *testing.T) {
		r := e.with(t, erin, "PUT", "/api/v1/groups/ops", doc("Group", "ops", `{"members":["`+bobEmail+`","`+erinEmail+`"]}`))
		checkStatus(t, r, 403, "role:edit,resource:servers")
		checkStatus(t, e.with(t, erin, "PATCH", "/api/v1/servers/x", `{}`), 403, "role:edit,resource:servers,name:x")
	})

	// An account of the admin group is an admin's: taking it over (a
	// password reset) or deleting it is for admins only, as changing the
	// group is.
	t.Run("taking over an admin account", func(t *testing.T) {
		checkStatus(t, e.with(t, erin, "PATCH", "/api/v1/users/"+aliceEmail, `{"password":"taken-over-1"}`), 403, "admin")
		checkStatus(t, e.with(t, erin, "DELETE", "/api/v1/users/"+aliceEmail, ""), 403, "admin")
		e.login(t, aliceEmail, alicePassword)
	})
}

// TestUsers: the user endpoints, sessions after a password change, and
// what deleting a user takes with them.
func TestUsers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	const frankEmail, frankPassword = "frank@example.com", "frank-password-1"
	me := func(t *testing.T, tok string) resp {
		t.Helper()
		return e.with(t, tok, "GET", "/api/v1/auth/me", "")
	}

	t.Run("create", func(t *testing.T) {
		u := e.createUser(t, alice, carolEmail, carolPassword)
		if u.Email != carolEmail || u.Name != "carol" || u.ID == "" || !u.CreatedAt.Equal(t0) || u.Groups != nil {
			t.Errorf("created user = %+v", u)
		}
		body, _ := json.Marshal(v1.CreateUserRequest{Email: carolEmail, Password: "another-password"})
		checkError(t, e.with(t, alice, "POST", "/api/v1/users", string(body)), errView{409, v1.CodeConflict, nil}, "already exists")
		tests := []struct {
			name, body string
			fields     []string
			msg        string
		}{
			{"bad email", `{"email":"carol at example.com","password":"long-enough"}`, []string{"email"}, ""},
			{"short password", `{"email":"x@example.com","password":"short"}`, []string{"password"}, "at least 8 characters"},
			{"both", `{"email":"","password":""}`, []string{"email", "password"}, ""},
			{"unknown field", `{"email":"x@example.com","password":"long-enough","admin":true}`, []string{"admin"}, "unknown field"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := e.with(t, alice, "POST", "/api/v1/users", tt.body)
				checkError(t, r, errView{400, v1.CodeValidationFailed, tt.fields}, tt.msg)
				if strings.Contains(string(r.body), "long-enough") {
					t.Errorf("the answer echoes the password: %s", r.body)
				}
			})
		}
		carol := e.login(t, carolEmail, carolPassword)
		body, _ = json.Marshal(v1.CreateUserRequest{Email: "x@example.com", Password: "long-enough"})
		checkError(t, e.with(t, carol, "POST", "/api/v1/users", string(body)), errView{403, v1.CodeForbidden, nil}, "role:create,resource:users")
		checkError(t, e.with(t, carol, "PATCH", "/api/v1/users/"+carolEmail, `{"name":"C"}`), errView{403, v1.CodeForbidden, nil},
			"role:edit,resource:users,name:"+carolEmail)
	})

	// frank is in two groups and makes an McpToken with the rights one
	// gives him.
	e.createUser(t, alice, frankEmail, frankPassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(
		doc("Group", "admin", `{"members":["`+aliceEmail+`","`+bobEmail+`","`+frankEmail+`"]}`),
		doc("Group", "makers", `{"members":["`+frankEmail+`"]}`),
		doc("Project", "demo", `{}`),
	))
	frank := e.login(t, frankEmail, frankPassword)

	t.Run("list shows groups", func(t *testing.T) {
		r := e.mustWith(t, alice, 200, "GET", "/api/v1/users", "")
		var l v1.UserList
		if err := json.Unmarshal(r.body, &l); err != nil {
			t.Fatal(err)
		}
		type view struct {
			Email, Name string
			Groups      []string
		}
		var got []view
		for _, u := range l.Items {
			got = append(got, view{u.Email, u.Name, u.Groups})
		}
		want := []view{
			{aliceEmail, "Alice", []string{"admin"}},
			{bobEmail, "Bob", []string{"admin"}},
			{carolEmail, "carol", nil},
			{frankEmail, "frank", []string{"admin", "makers"}},
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("users (-want +got):\n%s", diff)
		}
		if strings.Contains(string(r.body), "argon2") || strings.Contains(string(r.body), "assword") {
			t.Errorf("the listing shows password material: %s", r.body)
		}
	})

	t.Run("rename and reset", func(t *testing.T) {
		carol := e.login(t, carolEmail, carolPassword)
		if r := me(t, carol); r.status != 200 {
			t.Fatalf("me: %d %s", r.status, r.body)
		}
		r := e.do(t, req{method: "PATCH", path: "/api/v1/users/" + carolEmail, body: `{"name":"Carol C"}`,
			contentType: "application/merge-patch+json", token: alice})
		if r.status != 200 || !strings.Contains(string(r.body), `"name":"Carol C"`) {
			t.Fatalf("rename: %d %s", r.status, r.body)
		}
		if r := me(t, carol); r.status != 200 {
			t.Errorf("a rename ended carol's session: %d %s", r.status, r.body)
		}
		checkError(t, e.with(t, alice, "PATCH", "/api/v1/users/"+carolEmail, `{"password":"short"}`), errView{400, v1.CodeValidationFailed, []string{"password"}}, "at least 8")
		checkError(t, e.with(t, alice, "PATCH", "/api/v1/users/"+carolEmail, `{}`), errView{400, v1.CodeValidationFailed, []string{""}}, "nothing to change")
		checkError(t, e.with(t, alice, "PATCH", "/api/v1/users/nobody@example.com", `{"name":"N"}`), errView{404, v1.CodeNotFound, nil}, "not found")
		e.mustWith(t, alice, 200, "PATCH", "/api/v1/users/"+carolEmail, `{"password":"carol-password-2"}`)
		t.Run("old sessions end at once", func(t *testing.T) {
			checkError(t, me(t, carol), errView{401, v1.CodeTokenInvalid, nil}, "")
		})
		e.clock.Advance(5 * time.Second) // the auth cache TTL
		checkError(t, me(t, carol), errView{401, v1.CodeTokenInvalid, nil}, "")
		if r := me(t, alice); r.status != 200 {
			t.Errorf("the reset ended the admin's session: %d %s", r.status, r.body)
		}
		checkError(t, e.do(t, loginReq(carolEmail, carolPassword)), errView{401, v1.CodeInvalidCredentials, nil}, "")
		e.login(t, carolEmail, "carol-password-2")
	})

	t.Run("change own password", func(t *testing.T) {
		c1 := e.login(t, carolEmail, "carol-password-2")
		c2 := e.login(t, carolEmail, "carol-password-2")
		pw := func(tok, cur, next string) resp {
			b, _ := json.Marshal(v1.PasswordRequest{CurrentPassword: cur, NewPassword: next})
			return e.with(t, tok, "POST", "/api/v1/auth/password", string(b))
		}
		checkError(t, pw(c1, "wrong-password", "carol-password-3"), errView{400, v1.CodeValidationFailed, []string{"currentPassword"}}, "is wrong")
		checkError(t, pw(c1, "carol-password-2", "short"), errView{400, v1.CodeValidationFailed, []string{"newPassword"}}, "at least 8")
		checkError(t, pw(c1, "carol-password-2", "carol-password-2"), errView{400, v1.CodeValidationFailed, []string{"newPassword"}}, "must differ")
		if r := me(t, c2); r.status != 200 {
			t.Fatalf("refused changes ended a session: %d %s", r.status, r.body)
		}
		if r := pw(c1, "carol-password-2", "carol-password-3"); r.status != http.StatusNoContent {
			t.Fatalf("change password: %d %s", r.status, r.body)
		}
		t.Run("other sessions end at once", func(t *testing.T) {
			checkError(t, me(t, c2), errView{401, v1.CodeTokenInvalid, nil}, "")
		})
		e.clock.Advance(5 * time.Second)
		checkError(t, me(t, c2), errView{401, v1.CodeTokenInvalid, nil}, "")
		if r := me(t, c1); r.status != 200 {
			t.Errorf("the session that changed the password: %d %s", r.status, r.body)
		}
		checkError(t, e.do(t, loginReq(carolEmail, "carol-password-2")), errView{401, v1.CodeInvalidCredentials, nil}, "")
		e.login(t, carolEmail, "carol-password-3")
		tok := e.createMcpToken(t, alice, "demo", `{"name":"pw","spec":{"rbac":"clone"}}`)
		checkError(t, pw(tok.Token, "x", "carol-password-4"), errView{403, v1.CodeForbidden, nil}, "")
	})

	t.Run("delete", func(t *testing.T) {
		tok := e.createMcpToken(t, frank, "demo", `{"name":"franks","spec":{"rbac":"clone"}}`)
		if tok.McpToken.Status.CreatedBy != "User:"+frankEmail {
			t.Errorf("createdBy = %q", tok.McpToken.Status.CreatedBy)
		}
		other := e.createMcpToken(t, alice, "demo", `{"name":"alices","spec":{"rbac":"clone"}}`)
		for _, raw := range []string{tok.Token, other.Token} {
			e.mustWith(t, raw, 200, "GET", "/api/v1/projects/demo", "") // cached now
		}
		if r := me(t, frank); r.status != 200 {
			t.Fatalf("me: %d %s", r.status, r.body)
		}
		r := e.with(t, alice, "DELETE", "/api/v1/users/"+frankEmail, "")
		if r.status != http.StatusNoContent {
			t.Fatalf("delete frank: %d %s", r.status, r.body)
		}
		checkError(t, e.with(t, tok.Token, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "McpToken is not valid")
		if st := e.getMcpToken(t, alice, "demo", "franks").Status; st.State != v1.TokenRevoked || st.RevokedAt == nil {
			t.Errorf("frank's token after the delete: %+v", st)
		}
		e.mustWith(t, other.Token, 200, "GET", "/api/v1/projects/demo", "")
		checkSpec(t, decodeObj(t, e.mustWith(t, alice, 200, "GET", "/api/v1/groups/admin", "").body), `{"members":["`+aliceEmail+`","`+bobEmail+`"]}`)
		checkSpec(t, decodeObj(t, e.mustWith(t, alice, 200, "GET", "/api/v1/groups/makers", "").body), `{"members":[]}`)
		checkError(t, e.with(t, alice, "GET", "/api/v1/users/"+frankEmail, ""), errView{404, v1.CodeNotFound, nil}, "not found")
		checkError(t, e.with(t, alice, "DELETE", "/api/v1/users/"+frankEmail, ""), errView{404, v1.CodeNotFound, nil}, "not found")
		checkError(t, e.do(t, loginReq(frankEmail, frankPassword)), errView{401, v1.CodeInvalidCredentials, nil}, "")
		t.Run("sessions end at once", func(t *testing.T) {
			checkError(t, me(t, frank), errView{401, v1.CodeTokenInvalid, nil}, "")
		})
		e.clock.Advance(5 * time.Second)
		checkError(t, me(t, frank), errView{401, v1.CodeTokenInvalid, nil}, "")
	})

	t.Run("the last admin stays", func(t *testing.T) {
		e.mustWith(t, alice, 200, "PUT", "/api/v1/groups/admin", doc("Group", "admin", `{"members":["`+aliceEmail+`","ghost@example.com"]}`))
		checkError(t, e.with(t, alice, "DELETE", "/api/v1/users/"+aliceEmail, ""), errView{409, v1.CodeConflict, nil}, "last admin")
		if r := me(t, alice); r.status != 200 {
			t.Errorf("alice after the refused delete: %d %s", r.status, r.body)
		}
		// bob is no admin any more: deleting him is fine.
		if r := e.with(t, alice, "DELETE", "/api/v1/users/"+bobEmail, ""); r.status != http.StatusNoContent {
			t.Errorf("delete bob: %d %s", r.status, r.body)
		}
		checkError(t, e.with(t, alice, "DELETE", "/api/v1/users/"+aliceEmail, ""), errView{409, v1.CodeConflict, nil}, "last admin")
	})
}

// TestMcpTokens: creating, using, fencing, revoking, expiring, replacing
// and deleting McpTokens.
func TestMcpTokens(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *setup) { s.auth.SessionTTL = 72 * time.Hour })
	alice := e.login(t, aliceEmail, alicePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(
		doc("Server", "memory", `{"command":"npx"}`),
		doc("Server", "other", `{"command":"uvx"}`),
		doc("Project", "demo", `{"servers":["memory"]}`),
		doc("Project", "other", `{"servers":["other"]}`),
		promptDoc("demo", "hello", "hi"),
		promptDoc("other", "secret-plan", "no"),
	))
	created := e.createMcpToken(t, alice, "demo", `{"name":"ci","spec":{"rbac":"clone"}}`)
	raw, hash := created.Token, sha256Hex(created.Token)

	t.Run("created", func(t *testing.T) {
		rest, ok := strings.CutPrefix(raw, v1.McpTokenPrefix)
		if !ok || len(rest) < 43 {
			t.Fatalf("token %q: want %s and at least 43 characters", raw, v1.McpTokenPrefix)
		}
		exp := t0.Add(90 * 24 * time.Hour)
		want := v1.McpToken{APIVersion: v1.APIVersion, Kind: "McpToken",
			Metadata: v1.ObjectMeta{Name: "ci", Project: "demo", CreatedAt: &t0},
			Spec:     v1.McpTokenSpec{TTL: exp.Format(time.RFC3339), Rbac: v1.TokenRbacEmpty, Bindings: authz.AllBindings},
			Status: v1.McpTokenStatus{SHA256: hash, Prefix: raw[:len(v1.McpTokenPrefix)+6], CreatedBy: "User:" + aliceEmail,
				ExpiresAt: &exp, State: v1.TokenActive}}
		if diff := cmp.Diff(want, created.McpToken); diff != "" {
			t.Errorf("created token (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, e.getMcpToken(t, alice, "demo", "ci")); diff != "" {
			t.Errorf("GET token (-want +got):\n%s", diff)
		}
		for _, path := range []string{"/api/v1/mcptokens", "/api/v1/mcptokens?project=demo", "/api/v1/projects/demo/mcptokens", "/api/v1/projects/demo/mcptokens/ci"} {
			r := e.mustWith(t, alice, 200, "GET", path, "")
			if strings.Contains(string(r.body), raw) || strings.Contains(string(r.body), raw[len(v1.McpTokenPrefix)+6:]) {
				t.Errorf("GET %s shows the raw token: %s", path, r.body)
			}
			if !strings.Contains(string(r.body), hash) {
				t.Errorf("GET %s does not show the sha256: %s", path, r.body)
			}
		}
	})

	t.Run("fenced to its project", func(t *testing.T) {
		tests := []struct {
			method, path, body string
			want               int
		}{
			{"GET", "/api/v1/projects/demo", "", 200},
			{"GET", "/api/v1/projects/demo/prompts", "", 200},
			{"GET", "/api/v1/projects/demo/prompts/hello", "", 200},
			{"GET", "/api/v1/projects/demo/servers", "", 200},
			{"GET", "/api/v1/projects/demo/mcptokens", "", 200},
			{"GET", "/api/v1/mcptokens/introspect", "", 200},
			{"GET", "/api/v1/projects/other", "", 403},
			{"GET", "/api/v1/projects/other/prompts", "", 403},
			{"GET", "/api/v1/projects/other/prompts/secret-plan", "", 403},
			{"GET", "/api/v1/projects/other/servers", "", 403},
			{"POST", "/api/v1/projects/other/mcptokens", `{"name":"x"}`, 403},
			{"GET", "/api/v1/projects", "", 403},
			{"PUT", "/api/v1/projects/demo", doc("Project", "demo", `{}`), 403},
			{"PATCH", "/api/v1/projects/demo", `{"spec":{"gated":true}}`, 403},
			{"DELETE", "/api/v1/projects/demo", "", 403},
			{"GET", "/api/v1/servers", "", 403},
			{"GET", "/api/v1/servers/memory", "", 403},
			{"GET", "/api/v1/prompts", "", 403},
			// Cloned from an admin, the token still reaches no users.
			{"GET", "/api/v1/users", "", 403},
			{"GET", "/api/v1/users/" + aliceEmail, "", 403},
			{"GET", "/api/v1/mcptokens", "", 403},
			{"POST", "/api/v1/apply", applyBody(doc("Server", "x", `{"command":"npx"}`)), 403},
			{"GET", "/api/v1/export", "", 403},
			{"GET", "/api/v1/audit", "", 403},
			{"GET", "/api/v1/auth/can-i?verb=view&resource=servers", "", 403},
		}
		for _, tt := range tests {
			msg := ""
			if tt.want == 403 {
				msg = "belongs to project demo"
			}
			checkStatus(t, e.with(t, raw, tt.method, tt.path, tt.body), tt.want, msg)
		}
		if diff := cmp.Diff([]string{"prompt/demo/hello"}, e.listedIDs(t, raw, "/api/v1/projects/demo/prompts")); diff != "" {
			t.Errorf("prompts (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"server/memory"}, e.listedIDs(t, raw, "/api/v1/projects/demo/servers")); diff != "" {
			t.Errorf("servers (-want +got):\n%s", diff)
		}
		checkStatus(t, e.with(t, alice, "GET", "/api/v1/projects/demo/prompts/secret-plan", ""), 404, "not found")
	})

	t.Run("introspect", func(t *testing.T) {
		r := e.mustWith(t, raw, 200, "GET", "/api/v1/mcptokens/introspect", "")
		var got v1.TokenIntrospection
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatal(err)
		}
		exp := t0.Add(90 * 24 * time.Hour)
		want := v1.TokenIntrospection{Active: true, Name: "ci", Project: "demo", SHA256: hash, Bindings: authz.AllBindings,
			ExpiresAt: &exp, CreatedBy: "User:" + aliceEmail}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("introspect (-want +got):\n%s", diff)
		}
		checkError(t, e.with(t, alice, "GET", "/api/v1/mcptokens/introspect", ""), errView{400, v1.CodeValidationFailed, []string{"Authorization"}}, "login session")
		checkError(t, e.with(t, raw, "GET", "/api/v1/mcptokens/introspect?x=1", ""), errView{400, v1.CodeValidationFailed, []string{"x"}}, "unknown query parameter")
	})

	t.Run("bad tokens", func(t *testing.T) {
		last := raw[len(raw)-1]
		flip := byte('a')
		if last == 'a' {
			flip = 'b'
		}
		for _, bad := range []string{raw[:len(raw)-1] + string(flip), v1.McpTokenPrefix, raw + "0"} {
			checkError(t, e.with(t, bad, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "McpToken is not valid")
		}
		// Without its prefix the token is taken for a session, and is no
		// better.
		checkError(t, e.with(t, strings.ToUpper(raw), "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "not valid")
		checkError(t, e.with(t, strings.TrimPrefix(raw, v1.McpTokenPrefix), "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "not valid")
	})

	t.Run("revoke, re-create, force", func(t *testing.T) {
		r := e.mustWith(t, alice, 200, "POST", "/api/v1/projects/demo/mcptokens/ci/revoke", "")
		var del v1.DeleteResponse
		if err := json.Unmarshal(r.body, &del); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(v1.DeleteResponse{Deleted: v1.ApplyResult{Kind: "McpToken", Name: "ci", Project: "demo", Action: "revoked"}}, del); diff != "" {
			t.Errorf("revoke (-want +got):\n%s", diff)
		}
		// At once on this replica, though the token was cached.
		checkError(t, e.with(t, raw, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "revoked")
		if st := e.getMcpToken(t, alice, "demo", "ci").Status; st.State != v1.TokenRevoked || st.RevokedAt == nil || !st.RevokedAt.Equal(t0) {
			t.Errorf("revoked token status: %+v", st)
		}
		checkError(t, e.with(t, alice, "POST", "/api/v1/projects/demo/mcptokens/nope/revoke", ""), errView{404, v1.CodeNotFound, nil}, "mcptoken/demo/nope not found")

		// A revoked token's name is free again.
		second := e.createMcpToken(t, alice, "demo", `{"name":"ci","spec":{"rbac":"clone"}}`)
		e.mustWith(t, second.Token, 200, "GET", "/api/v1/projects/demo", "")
		checkError(t, e.with(t, raw, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "")
		checkError(t, e.with(t, alice, "POST", "/api/v1/projects/demo/mcptokens", `{"name":"ci","spec":{"rbac":"clone"}}`),
			errView{409, v1.CodeConflict, nil}, "mcptoken/demo/ci is active")
		e.mustWith(t, second.Token, 200, "GET", "/api/v1/projects/demo", "")
		third := e.createMcpToken(t, alice, "demo", `{"name":"ci","spec":{"rbac":"clone"},"force":true}`)
		checkError(t, e.with(t, second.Token, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "")
		e.mustWith(t, third.Token, 200, "GET", "/api/v1/projects/demo", "")
		if got := e.getMcpToken(t, alice, "demo", "ci").Status.SHA256; got != sha256Hex(third.Token) {
			t.Errorf("ci's sha256 after --force = %s, want the new token's", got)
		}
		raw, hash = third.Token, sha256Hex(third.Token)
	})

	t.Run("expiry", func(t *testing.T) {
		short := e.createMcpToken(t, alice, "demo", `{"name":"short","spec":{"ttl":"1h","rbac":"clone"}}`)
		if exp := short.McpToken.Status.ExpiresAt; exp == nil || !exp.Equal(t0.Add(time.Hour)) {
			t.Errorf("expiresAt = %v, want %v", exp, t0.Add(time.Hour))
		}
		e.mustWith(t, short.Token, 200, "GET", "/api/v1/projects/demo", "")
		e.clock.Advance(time.Hour - time.Second)
		e.mustWith(t, short.Token, 200, "GET", "/api/v1/projects/demo", "")
		e.clock.Advance(time.Second)
		checkError(t, e.with(t, short.Token, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenExpired, nil}, "expired")
		e.clock.Advance(time.Minute) // past the cache: read from the store
		checkError(t, e.with(t, short.Token, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenExpired, nil}, "expired")
		if st := e.getMcpToken(t, alice, "demo", "short").Status; st.State != v1.TokenExpired {
			t.Errorf("state = %q, want expired", st.State)
		}
		// An expired token's name is free again.
		e.createMcpToken(t, alice, "demo", `{"name":"short","spec":{"ttl":"2h"}}`)
	})

	t.Run("delete", func(t *testing.T) {
		tmp := e.createMcpToken(t, alice, "demo", `{"name":"tmp","spec":{"rbac":"clone"}}`)
		e.mustWith(t, tmp.Token, 200, "GET", "/api/v1/projects/demo", "")
		r := e.mustWith(t, alice, 200, "DELETE", "/api/v1/projects/demo/mcptokens/tmp", "")
		if !strings.Contains(string(r.body), `"action":"deleted"`) {
			t.Errorf("delete answer: %s", r.body)
		}
		checkError(t, e.with(t, tmp.Token, "GET", "/api/v1/projects/demo", ""), errView{401, v1.CodeTokenInvalid, nil}, "deleted")
		checkError(t, e.with(t, alice, "GET", "/api/v1/projects/demo/mcptokens/tmp", ""), errView{404, v1.CodeNotFound, nil}, "mcptoken/demo/tmp not found")
		checkError(t, e.with(t, alice, "DELETE", "/api/v1/projects/demo/mcptokens/tmp", ""), errView{404, v1.CodeNotFound, nil}, "not found")
	})

	t.Run("a non-admin grants only what they hold", func(t *testing.T) {
		e.createUser(t, alice, carolEmail, carolPassword)
		e.mustWith(t, alice, 201, "POST", "/api/v1/rbacdefinitions",
			rbacDoc(t, "carol-tokens", []string{"User:" + carolEmail}, "role:create,resource:mcptokens", "role:view,resource:servers"))
		carol := e.login(t, carolEmail, carolPassword)
		checkError(t, e.with(t, carol, "POST", "/api/v1/projects/demo/mcptokens", `{"name":"g1","spec":{"bindings":[{"role":"edit","resource":"*"}]}}`),
			errView{403, v1.CodeForbidden, nil}, "you cannot grant role:edit,resource:*")
		checkError(t, e.with(t, carol, "POST", "/api/v1/projects/demo/mcptokens", `{"name":"g1","spec":{"rbac":"clone","bindings":[{"role":"edit","resource":"servers","name":"memory"}]}}`),
			errView{403, v1.CodeForbidden, nil}, "you cannot grant role:edit,resource:servers,name:memory")
		checkError(t, e.with(t, carol, "POST", "/api/v1/projects/nope/mcptokens", `{"name":"g1"}`),
			errView{404, v1.CodeNotFound, nil}, "project/nope not found")

		cloned := e.createMcpToken(t, carol, "demo", `{"name":"g1","spec":{"rbac":"clone"}}`)
		want := bindings(t, "role:create,resource:mcptokens", "role:view,resource:servers")
		if diff := cmp.Diff(want, cloned.McpToken.Spec.Bindings); diff != "" {
			t.Errorf("cloned bindings in the answer (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, e.getMcpToken(t, alice, "demo", "g1").Spec.Bindings); diff != "" {
			t.Errorf("cloned bindings stored (-want +got):\n%s", diff)
		}
		narrow := e.createMcpToken(t, carol, "demo", `{"name":"g2","spec":{"bindings":[{"role":"view","resource":"servers","name":"memory"}]}}`)
		if diff := cmp.Diff(bindings(t, "role:view,resource:servers,name:memory"), narrow.McpToken.Spec.Bindings); diff != "" {
			t.Errorf("explicit bindings (-want +got):\n%s", diff)
		}
		// Listing a project's servers shows what the project holds: it
		// needs view on the project, which carol (and so her token) lacks.
		checkError(t, e.with(t, cloned.Token, "GET", "/api/v1/projects/demo/servers", ""), errView{403, v1.CodeForbidden, nil},
			"role:view,resource:projects,name:demo")
		checkError(t, e.with(t, cloned.Token, "GET", "/api/v1/projects/demo", ""), errView{403, v1.CodeForbidden, nil},
			"McpToken demo/g1 may not view projects/demo")
		checkError(t, e.with(t, narrow.Token, "GET", "/api/v1/projects/demo/mcptokens", ""), errView{403, v1.CodeForbidden, nil},
			"role:view,resource:mcptokens")
	})

	// A token's bindings take the resource aliases a definition's do
	// (McpTokenSpec.Default normalizes them, as RbacDefinitionSpec does).
	t.Run("binding aliases", func(t *testing.T) {
		got := e.createMcpToken(t, alice, "demo", `{"name":"alias","spec":{"bindings":[{"role":"view","resource":"server"}]}}`)
		if diff := cmp.Diff(bindings(t, "role:view,resource:servers"), got.McpToken.Spec.Bindings); diff != "" {
			t.Errorf("bindings (-want +got):\n%s", diff)
		}
		e.mustWith(t, alice, 200, "DELETE", "/api/v1/projects/demo/mcptokens/alias", "")
	})

	t.Run("bad requests", func(t *testing.T) {
		tests := []struct {
			name, body string
			fields     []string
		}{
			{"ttl 5x", `{"name":"b","spec":{"ttl":"5x"}}`, []string{"spec.ttl"}},
			{"ttl never-ish", `{"name":"b","spec":{"ttl":"never-ish"}}`, []string{"spec.ttl"}},
			{"ttl in the past", `{"name":"b","spec":{"ttl":"2020-01-01T00:00:00Z"}}`, []string{"spec.ttl"}},
			{"ttl under a minute", `{"name":"b","spec":{"ttl":"30s"}}`, []string{"spec.ttl"}},
			{"ttl over ten years", `{"name":"b","spec":{"ttl":"4000d"}}`, []string{"spec.ttl"}},
			{"rbac mode", `{"name":"b","spec":{"rbac":"all"}}`, []string{"spec.rbac"}},
			{"name", `{"name":"Bad_Name"}`, []string{"name"}},
			{"binding", `{"name":"b","spec":{"bindings":[{"role":"view","resource":"widgets"}]}}`, []string{"spec.bindings[0].resource"}},
			{"unknown field", `{"name":"b","admin":true}`, []string{"admin"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				checkError(t, e.with(t, alice, "POST", "/api/v1/projects/demo/mcptokens", tt.body), errView{400, v1.CodeValidationFailed, tt.fields}, "")
			})
		}
		checkError(t, e.with(t, alice, "GET", "/api/v1/projects/demo/mcptokens/b", ""), errView{404, v1.CodeNotFound, nil}, "not found")
	})

	t.Run("apply", func(t *testing.T) {
		tokDoc := `{"kind":"McpToken","metadata":{"name":"applied","project":"demo"},"spec":{"rbac":"clone"}}`
		decode := func(r resp) v1.ApplyResponse {
			var out v1.ApplyResponse
			if err := json.Unmarshal(r.body, &out); err != nil {
				t.Fatalf("decode apply %s: %v", r.body, err)
			}
			return out
		}
		dry := decode(e.mustWith(t, alice, 200, "POST", "/api/v1/apply", `{"dryRun":true,"objects":[`+tokDoc+`]}`))
		if len(dry.Results) != 1 || dry.Results[0].Action != v1.ActionCreated || dry.Results[0].Token != "" {
			t.Errorf("dry run: %+v", dry)
		}
		checkError(t, e.with(t, alice, "GET", "/api/v1/projects/demo/mcptokens/applied", ""), errView{404, v1.CodeNotFound, nil}, "not found")

		got := decode(e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(tokDoc)))
		if len(got.Results) != 1 || !strings.HasPrefix(got.Results[0].Token, v1.McpTokenPrefix) {
			t.Fatalf("apply: %+v", got)
		}
		tok := got.Results[0].Token
		got.Results[0].Token = ""
		if diff := cmp.Diff([]v1.ApplyResult{{Kind: "McpToken", Name: "applied", Project: "demo", Action: v1.ActionCreated}}, got.Results); diff != "" {
			t.Errorf("apply results (-want +got):\n%s", diff)
		}
		r := e.mustWith(t, tok, 200, "GET", "/api/v1/mcptokens/introspect", "")
		if !strings.Contains(string(r.body), `"name":"applied"`) || !strings.Contains(string(r.body), sha256Hex(tok)) {
			t.Errorf("introspect the applied token: %s", r.body)
		}
		again := decode(e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(tokDoc)))
		if len(again.Results) != 1 || again.Results[0].Action != v1.ActionSkipped || again.Results[0].Token != "" || len(again.Results[0].Warnings) == 0 {
			t.Errorf("apply again: %+v", again)
		}
		e.mustWith(t, tok, 200, "GET", "/api/v1/projects/demo", "")
		checkError(t, e.with(t, alice, "POST", "/api/v1/apply", applyBody(`{"kind":"McpToken","metadata":{"name":"x","project":"nope"},"spec":{}}`)),
			errView{400, v1.CodeValidationFailed, []string{"objects[0].metadata.project"}}, "project/nope does not exist")
	})

	t.Run("deleting the project", func(t *testing.T) {
		checkError(t, e.with(t, alice, "DELETE", "/api/v1/projects/demo", ""), errView{409, v1.CodeConflict, nil}, "mcptoken/demo/ci")
		e.mustWith(t, raw, 200, "GET", "/api/v1/projects/demo", "")
		r := e.mustWith(t, alice, 200, "DELETE", "/api/v1/projects/demo?cascade=true", "")
		var del v1.DeleteResponse
		if err := json.Unmarshal(r.body, &del); err != nil {
			t.Fatal(err)
		}
		var cascaded []string
		for _, c := range del.Cascaded {
			cascaded = append(cascaded, v1.IDOf(c.Kind, c.Project, c.Name)+" "+c.Action)
		}
		want := []string{"mcptoken/demo/applied deleted", "mcptoken/demo/ci deleted", "mcptoken/demo/g1 deleted", "mcptoken/demo/g2 deleted",
			"mcptoken/demo/short deleted", "prompt/demo/hello deleted"}
		if diff := cmp.Diff(want, cascaded); diff != "" {
			t.Errorf("cascaded (-want +got):\n%s", diff)
		}
		checkError(t, e.with(t, raw, "GET", "/api/v1/mcptokens/introspect", ""), errView{401, v1.CodeTokenInvalid, nil}, "")
		r = e.mustWith(t, alice, 200, "GET", "/api/v1/mcptokens", "")
		if strings.Contains(string(r.body), `"project":"demo"`) {
			t.Errorf("tokens of the deleted project are listed: %s", r.body)
		}
		checkError(t, e.with(t, alice, "GET", "/api/v1/auth/can-i?verb=view&resource=servers&as=McpToken:"+hash, ""),
			errView{404, v1.CodeNotFound, nil}, "no McpToken you may view has sha256 "+hash)
	})
}

// TestAuditTokenFields: what an McpToken does is audited with its name
// and sha256, and the audit log is searched by token name.
func TestAuditTokenFields(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(doc("Project", "demo", `{}`)))
	ci := e.createMcpToken(t, alice, "demo", `{"name":"ci","spec":{"rbac":"clone"}}`)
	cd := e.createMcpToken(t, alice, "demo", `{"name":"cd","spec":{"rbac":"clone"}}`)
	ciHash, cdHash := sha256Hex(ci.Token), sha256Hex(cd.Token)
	steps := []struct {
		id, tok, path string
		status        int
	}{
		{"ci-get", ci.Token, "/api/v1/projects/demo", 200},
		{"ci-fenced", ci.Token, "/api/v1/servers", 403},
		{"ci-introspect", ci.Token, "/api/v1/mcptokens/introspect", 200},
		{"cd-get", cd.Token, "/api/v1/projects/demo", 200},
		{"alice-get", alice, "/api/v1/projects/demo", 200},
		{"bad-token", ci.Token + "x", "/api/v1/projects/demo", 401},
	}
	for _, s := range steps {
		r := e.do(t, req{method: "GET", path: s.path, token: s.tok, header: map[string]string{"X-Request-Id": s.id}})
		if r.status != s.status {
			t.Fatalf("%s: %d, want %d; %s", s.id, r.status, s.status, r.body)
		}
	}
	e.flushAudit(t)

	type tokView struct{ Principal, TokenName, TokenSHA string }
	events, err := e.db.ListAuditEvents(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]tokView{}
	for _, ev := range events {
		got[ev.RequestID] = tokView{ev.Principal, ev.TokenName, ev.TokenSHA}
	}
	for id := range got {
		if !strings.HasPrefix(id, "ci-") && !strings.HasPrefix(id, "cd-") && !strings.HasPrefix(id, "alice-") && id != "bad-token" {
			delete(got, id)
		}
	}
	want := map[string]tokView{
		"ci-get":        {"McpToken:" + ciHash, "ci", ciHash},
		"ci-fenced":     {"McpToken:" + ciHash, "ci", ciHash},
		"ci-introspect": {"McpToken:" + ciHash, "ci", ciHash},
		"cd-get":        {"McpToken:" + cdHash, "cd", cdHash},
		"alice-get":     {"User:" + aliceEmail, "", ""},
		"bad-token":     {"", "", ""},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit token fields by request id (-want +got):\n%s", diff)
	}
	l := e.listAudit(t, alice, url.Values{"tokenName": {"ci"}})
	ids := requestIDs(l.Items)
	if diff := cmp.Diff([]string{"ci-introspect", "ci-fenced", "ci-get"}, ids); diff != "" {
		t.Errorf("GET /api/v1/audit?tokenName=ci (-want +got):\n%s", diff)
	}
	for _, ev := range l.Items {
		if ev.TokenSHA != ciHash {
			t.Errorf("event %s: tokenSha %q", ev.RequestID, ev.TokenSHA)
		}
	}
	if l := e.listAudit(t, alice, url.Values{"tokenName": {"nope"}}); len(l.Items) != 0 {
		t.Errorf("tokenName=nope: %v", requestIDs(l.Items))
	}
}

// TestCanI: the caller's own rights and, with view on rbacdefinitions,
// another subject's.
func TestCanI(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	alice := e.login(t, aliceEmail, alicePassword)
	e.createUser(t, alice, carolEmail, carolPassword)
	e.createUser(t, alice, daveEmail, davePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(
		doc("Group", "ops", `{"members":["`+daveEmail+`"]}`),
		rbacDoc(t, "ops-edit", []string{"Group:ops"}, "role:edit,resource:servers"),
		rbacDoc(t, "carol-memory", []string{"User:" + carolEmail}, "role:view,resource:servers,name:memory"),
		doc("Project", "demo", `{}`),
	))
	tok := e.createMcpToken(t, alice, "demo", `{"name":"ci","spec":{"bindings":[{"role":"view","resource":"prompts"}]}}`)
	toks := map[string]string{"alice": alice, "carol": e.login(t, carolEmail, carolPassword), "dave": e.login(t, daveEmail, davePassword)}
	carol, dave := "User:"+carolEmail, "User:"+daveEmail
	tests := []struct {
		who, query string
		want       v1.CanIResponse
	}{
		{"carol", "verb=edit&resource=servers", canIAnswer(false, carol, "denied: no role binding of "+carol+" grants edit servers")},
		{"carol", "verb=get&resource=server&name=memory", canIAnswer(true, carol, "allowed by rbacdefinition/carol-memory (role:view,resource:servers,name:memory)")},
		{"carol", "verb=list&resource=servers&name=other", canIAnswer(false, carol, "denied: no role binding of "+carol+" grants view servers/other")},
		// A listing with only a named binding is allowed, as GET /servers
		// is: it answers the objects she may view.
		{"carol", "verb=view&resource=servers&as=" + url.QueryEscape(carol), canIAnswer(true, carol, "allowed for some objects only: a list shows those that named (or project) bindings allow")},
		{"carol", "verb=view&resource=projects", canIAnswer(false, carol, "denied: no role binding of "+carol+" grants view projects")},
		{"dave", "verb=edit&resource=servers", canIAnswer(true, dave, "allowed by rbacdefinition/ops-edit (role:edit,resource:servers)")},
		{"dave", "verb=delete&resource=srv&name=memory", canIAnswer(true, dave, "allowed by rbacdefinition/ops-edit (role:edit,resource:servers)")},
		{"dave", "verb=create&resource=projects", canIAnswer(false, dave, "denied: no role binding of "+dave+" grants create projects")},
		{"dave", "verb=run&action=logs", canIAnswer(false, dave, "denied: no role binding of "+dave+" grants run logs")},
		{"alice", "verb=edit&resource=servers", canIAnswer(true, "User:"+aliceEmail, "allowed: a member of the admin group holds every right")},
		{"alice", "verb=run&action=reveal-secrets", canIAnswer(true, "User:"+aliceEmail, "allowed: a member of the admin group holds every right")},
		{"alice", "verb=edit&resource=servers&as=" + url.QueryEscape(dave), canIAnswer(true, dave, "allowed by rbacdefinition/ops-edit (role:edit,resource:servers)")},
		{"alice", "verb=view&resource=projects&as=" + url.QueryEscape(dave), canIAnswer(false, dave, "denied: no role binding of "+dave+" grants view projects")},
		{"alice", "verb=edit&resource=servers&as=Group:ops", canIAnswer(true, "Group:ops", "allowed by rbacdefinition/ops-edit (role:edit,resource:servers)")},
		{"alice", "verb=edit&resource=users&as=Group:admin", canIAnswer(true, "Group:admin", "allowed: a member of the admin group holds every right")},
		{"alice", "verb=view&resource=prompts&as=McpToken:" + sha256Hex(tok.Token), canIAnswer(true, "McpToken:"+sha256Hex(tok.Token), "allowed by mcptoken/ci (role:view,resource:prompts)")},
		{"alice", "verb=view&resource=servers&as=McpToken:" + sha256Hex(tok.Token), canIAnswer(false, "McpToken:"+sha256Hex(tok.Token),
			"denied: no role binding of McpToken:"+sha256Hex(tok.Token)+" grants view servers")},
	}
	for _, tt := range tests {
		t.Run(tt.who+" "+tt.query, func(t *testing.T) {
			r := e.mustWith(t, toks[tt.who], 200, "GET", "/api/v1/auth/can-i?"+tt.query, "")
			var got v1.CanIResponse
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	refused := []struct {
		who, query string
		want       errView
		msg        string
	}{
		{"carol", "verb=edit&resource=servers&as=" + url.QueryEscape(dave), errView{403, v1.CodeForbidden, nil}, "role:view,resource:rbacdefinitions"},
		{"dave", "verb=edit&resource=servers&as=Group:admin", errView{403, v1.CodeForbidden, nil}, "role:view,resource:rbacdefinitions"},
		{"alice", "verb=fly&resource=servers", errView{400, v1.CodeValidationFailed, []string{"verb"}}, "unknown verb"},
		{"alice", "resource=servers", errView{400, v1.CodeValidationFailed, []string{"verb"}}, "is required"},
		{"alice", "verb=view&resource=widgets", errView{400, v1.CodeValidationFailed, []string{"resource"}}, "unknown resource"},
		{"alice", "verb=view&resource=*", errView{400, v1.CodeValidationFailed, []string{"resource"}}, "not *"},
		{"alice", "verb=view", errView{400, v1.CodeValidationFailed, []string{"resource"}}, "needs a resource"},
		{"alice", "verb=run", errView{400, v1.CodeValidationFailed, []string{"action"}}, "needs an action"},
		{"alice", "verb=run&action=dance", errView{400, v1.CodeValidationFailed, []string{"action"}}, "unknown action"},
		{"alice", "verb=view&resource=servers&as=Robot:r2d2", errView{400, v1.CodeValidationFailed, []string{"as"}}, "unknown kind"},
		{"alice", "verb=view&resource=servers&as=User:not-an-email", errView{400, v1.CodeValidationFailed, []string{"as"}}, ""},
		{"alice", "verb=view&resource=servers&as=dave", errView{400, v1.CodeValidationFailed, []string{"as"}}, ""},
		{"alice", "verb=view&resource=servers&as=McpToken:" + strings.Repeat("0", 64), errView{404, v1.CodeNotFound, nil}, "no McpToken"},
		{"alice", "verb=view&resource=servers&who=me", errView{400, v1.CodeValidationFailed, []string{"who"}}, "unknown query parameter"},
	}
	for _, tt := range refused {
		t.Run(tt.who+" "+tt.query, func(t *testing.T) {
			checkError(t, e.with(t, toks[tt.who], "GET", "/api/v1/auth/can-i?"+tt.query, ""), tt.want, tt.msg)
		})
	}
}

// canIAnswer is a can-i answer.
func canIAnswer(allowed bool, subject, reason string) v1.CanIResponse {
	return v1.CanIResponse{Allowed: allowed, Subject: subject, Reason: reason}
}

// touchCounter records the batches of McpToken last-use times written.
type touchCounter struct {
	store.Store
	mu      sync.Mutex
	batches []map[string]time.Time
}

func (c *touchCounter) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	c.mu.Lock()
	b := map[string]time.Time{}
	for h, at := range used {
		b[h] = at
	}
	c.batches = append(c.batches, b)
	c.mu.Unlock()
	return c.Store.TouchTokens(ctx, used)
}

func (c *touchCounter) writes() []map[string]time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]time.Time(nil), c.batches...)
}

// TestLastUsedBatched: a token's use is recorded in memory and written to
// the store in one batch per flush, never by the request itself.
func TestLastUsedBatched(t *testing.T) {
	t.Parallel()
	tc := &touchCounter{}
	e := newEnv(t, func(s *setup) { s.wrap = func(st store.Store) store.Store { tc.Store = st; return tc } })
	ctx := context.Background()
	alice := e.login(t, aliceEmail, alicePassword)
	e.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(doc("Project", "demo", `{}`)))
	ci := e.createMcpToken(t, alice, "demo", `{"name":"ci"}`)
	cd := e.createMcpToken(t, alice, "demo", `{"name":"cd"}`)
	if err := e.auth.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if w := tc.writes(); len(w) != 0 {
		t.Fatalf("a flush with no use wrote %v", w)
	}
	lastUsed := func(name string) *time.Time {
		t.Helper()
		return e.getMcpToken(t, alice, "demo", name).Status.LastUsedAt
	}

	for range 3 {
		e.mustWith(t, ci.Token, 200, "GET", "/api/v1/mcptokens/introspect", "")
	}
	e.clock.Advance(time.Minute)
	e.mustWith(t, ci.Token, 200, "GET", "/api/v1/mcptokens/introspect", "")
	e.mustWith(t, cd.Token, 200, "GET", "/api/v1/mcptokens/introspect", "")
	if got := lastUsed("ci"); got != nil {
		t.Errorf("lastUsedAt before the flush = %v, want none", got)
	}
	if w := tc.writes(); len(w) != 0 {
		t.Errorf("requests wrote last-use times: %v", w)
	}
	if err := e.auth.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	at := t0.Add(time.Minute)
	want := []map[string]time.Time{{sha256Hex(ci.Token): at, sha256Hex(cd.Token): at}}
	if diff := cmp.Diff(want, tc.writes()); diff != "" {
		t.Errorf("store writes (-want +got):\n%s", diff)
	}
	for _, name := range []string{"ci", "cd"} {
		if got := lastUsed(name); got == nil || !got.Equal(at) {
			t.Errorf("%s lastUsedAt after the flush = %v, want %v", name, got, at)
		}
	}
	if err := e.auth.FlushUsage(ctx); err != nil {
		t.Fatal(err)
	}
	if n := len(tc.writes()); n != 1 {
		t.Errorf("a second flush with no use wrote again: %d writes", n)
	}
}

// TestPolicyCacheAcrossReplicas: an RBAC change takes effect at once on the
// replica that made it and within the cache TTL on another.
func TestPolicyCacheAcrossReplicas(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := newEnv(t, func(s *setup) { s.shared = a })
	alice := a.login(t, aliceEmail, alicePassword)
	a.createUser(t, alice, carolEmail, carolPassword)
	a.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(doc("Server", "memory", `{"command":"npx"}`)))
	carol := a.login(t, carolEmail, carolPassword)
	get := func(e *env) resp { return e.with(t, carol, "GET", "/api/v1/servers/memory", "") }
	// Both replicas build their policy now.
	checkStatus(t, get(a), 403, "role:view,resource:servers,name:memory")
	checkStatus(t, get(b), 403, "role:view,resource:servers,name:memory")

	a.mustWith(t, alice, 201, "POST", "/api/v1/rbacdefinitions", rbacDoc(t, "carol-view", []string{"User:" + carolEmail}, "role:view,resource:servers"))
	checkStatus(t, get(a), 200, "")
	checkStatus(t, get(b), 403, "role:view,resource:servers,name:memory")
	a.clock.Advance(4 * time.Second)
	checkStatus(t, get(b), 403, "role:view,resource:servers,name:memory")
	a.clock.Advance(time.Second) // the cache TTL
	checkStatus(t, get(b), 200, "")

	// And back: a removal too.
	a.mustWith(t, alice, 200, "DELETE", "/api/v1/rbacdefinitions/carol-view", "")
	checkStatus(t, get(a), 403, "role:view,resource:servers,name:memory")
	checkStatus(t, get(b), 200, "")
	a.clock.Advance(5 * time.Second)
	checkStatus(t, get(b), 403, "role:view,resource:servers,name:memory")
	checkStatus(t, get(a), 403, "role:view,resource:servers,name:memory") // a rebuilds now

	// A group membership change goes the same way.
	b.mustWith(t, alice, 200, "POST", "/api/v1/apply", applyBody(
		doc("Group", "viewers", `{"members":["`+carolEmail+`"]}`),
		rbacDoc(t, "viewers", []string{"Group:viewers"}, "role:view,resource:servers"),
	))
	checkStatus(t, get(b), 200, "")
	checkStatus(t, get(a), 403, "role:view,resource:servers,name:memory")
	a.clock.Advance(5 * time.Second)
	checkStatus(t, get(a), 200, "")
}
