package v1

import (
	"fmt"
	"slices"
	"strings"
)

// Roles a binding grants. edit holds view, create and delete too; the
// others hold only their own verb. run grants one action (see Actions).
const (
	RoleView   = "view"
	RoleEdit   = "edit"
	RoleCreate = "create"
	RoleDelete = "delete"
	RoleRun    = "run"
)

// Roles lists the roles of resource bindings, then run.
var Roles = []string{RoleView, RoleEdit, RoleCreate, RoleDelete, RoleRun}

// Actions are what a run binding may name, besides "*".
//
//   - audit: read the audit log (GET /api/v1/audit)
//   - backup: export everything with secret values (mcpctl backup)
//   - logs: read instance logs
//   - reveal-secrets: read secret values (get secret --reveal)
var Actions = []string{"audit", "backup", "logs", "reveal-secrets"}

// Subject kinds of an RbacDefinition.
const (
	SubjectUser     = "User"
	SubjectGroup    = "Group"
	SubjectMcpToken = "McpToken"
)

// AdminGroup is the built-in group whose members hold every right.
const AdminGroup = "admin"

// RbacResources are the resources a binding may name, besides "*".
func RbacResources() []string {
	out := []string{"users", "instances"}
	for _, k := range Kinds {
		out = append(out, k.Plural)
	}
	slices.Sort(out)
	return out
}

// RoleBinding grants a role on a resource (optionally one object by name,
// and for a project-scoped resource the objects of one project), or the
// run role on one action.
type RoleBinding struct {
	Role     string `json:"role"`
	Resource string `json:"resource,omitempty"`
	Name     string `json:"name,omitempty"`
	// Project limits a binding on a project-scoped resource (prompts,
	// mcptokens) to that project's objects.
	Project string `json:"project,omitempty"`
	Action  string `json:"action,omitempty"`
}

// ScopedResource reports whether a binding resource's objects belong to
// projects.
func ScopedResource(resource string) bool {
	k, ok := LookupKind(resource)
	return ok && k.Scoped
}

// String is the binding in the --roleBindings form, which
// ParseRoleBinding reads back.
func (b RoleBinding) String() string {
	if b.Role == RoleRun {
		return "action:" + b.Action
	}
	s := "role:" + b.Role + ",resource:" + b.Resource
	if b.Project != "" {
		s += ",project:" + b.Project
	}
	if b.Name != "" {
		s += ",name:" + b.Name
	}
	return s
}

// ParseRoleBinding reads a binding written as comma-separated key:value
// pairs: "role:edit,resource:servers", "role:view,resource:servers,name:my-ha",
// "role:edit,resource:prompts,project:demo", or "action:logs" (role:run is
// implied). An error names the bad part.
func ParseRoleBinding(s string) (RoleBinding, error) {
	var b RoleBinding
	if strings.TrimSpace(s) == "" {
		return b, fmt.Errorf("empty binding; write role:ROLE,resource:PLURAL[,name:NAME] or action:ACTION")
	}
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		key, val, ok := strings.Cut(part, ":")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok {
			return b, fmt.Errorf("%q is not key:value; the keys are role, resource, name, project and action", part)
		}
		if val == "" {
			return b, fmt.Errorf("%q has an empty value", part)
		}
		if seen[key] {
			return b, fmt.Errorf("%q: %s is given twice", part, key)
		}
		seen[key] = true
		switch key {
		case "role":
			b.Role = val
		case "resource":
			b.Resource = val
		case "name":
			b.Name = val
		case "project":
			b.Project = val
		case "action":
			b.Action = val
		default:
			return b, fmt.Errorf("%q: unknown key %q; the keys are role, resource, name, project and action", part, key)
		}
	}
	if b.Action != "" && b.Role == "" {
		b.Role = RoleRun
	}
	b.Normalize()
	var fe FieldErrors
	b.validate("", &fe)
	if len(fe) > 0 {
		return b, fmt.Errorf("%s", fe[0].Message)
	}
	return b, nil
}

// Normalize writes a resource's singular or alias as its plural, so
// "role:view,resource:server" means what it says.
func (b *RoleBinding) Normalize() {
	if b.Resource == "" || b.Resource == "*" {
		return
	}
	if k, ok := LookupKind(b.Resource); ok {
		b.Resource = k.Plural
	} else if strings.EqualFold(b.Resource, "user") || strings.EqualFold(b.Resource, "users") {
		b.Resource = "users"
	}
}

// validate adds problems of b under field (which may be "").
func (b RoleBinding) validate(field string, fe *FieldErrors) {
	at := func(sub string) string { return joinPath(field, sub) } // field "" gives the bare key
	switch {
	case b.Role == "":
		fe.Add(at("role"), "missing role: add role:view|edit|create|delete with a resource, or action:ACTION")
	case b.Role == RoleRun:
		switch {
		case b.Action == "":
			fe.Add(at("action"), "role run needs an action (%s or *)", strings.Join(Actions, ", "))
		case b.Action != "*" && !slices.Contains(Actions, b.Action):
			fe.Add(at("action"), "unknown action %q; known actions: %s, or *", b.Action, strings.Join(Actions, ", "))
		}
		if b.Resource != "" || b.Name != "" || b.Project != "" {
			fe.Add(at("resource"), "a binding has either an action or a resource, not both: remove resource/name/project from action:%s", b.Action)
		}
	case !slices.Contains(Roles, b.Role):
		fe.Add(at("role"), "unknown role %q; roles are view, edit, create, delete (with a resource) and run (with an action)", b.Role)
	case b.Action != "":
		fe.Add(at("action"), "a binding has either role %s with a resource or an action, not both: split it into two bindings", b.Role)
	case b.Resource == "":
		fe.Add(at("resource"), "role %s needs a resource: one of %s, or *", b.Role, strings.Join(RbacResources(), ", "))
	case b.Resource != "*" && !slices.Contains(RbacResources(), b.Resource):
		fe.Add(at("resource"), "unknown resource %q; known resources: %s, or *", b.Resource, strings.Join(RbacResources(), ", "))
	case b.Name != "" && b.Resource == "*":
		fe.Add(at("name"), "a name needs one resource, not *")
	case b.Project != "" && !ScopedResource(b.Resource):
		fe.Add(at("project"), "project %q limits only project-scoped resources (prompts, mcptokens), not %s", b.Project, b.Resource)
	case b.Project != "" && ValidateName(b.Project) != "":
		fe.Add(at("project"), "project %q %s", b.Project, ValidateName(b.Project))
	case b.Name != "" && b.Resource == "users":
		if msg := ValidateEmail(b.Name); msg != "" {
			fe.Add(at("name"), "name %q: a user is named by email, which %s", b.Name, msg)
		}
	case b.Name != "":
		if msg := ValidateName(b.Name); msg != "" {
			fe.Add(at("name"), "name %q %s", b.Name, msg)
		}
	}
}

// ValidateBindings checks every binding under field.
func ValidateBindings(field string, bs []RoleBinding, fe *FieldErrors) {
	for i, b := range bs {
		b.validate(fmt.Sprintf("%s[%d]", field, i), fe)
	}
}

// ParseSubject splits "User:alice@example.com" into kind and name and
// checks both; the error names the problem.
func ParseSubject(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, ":")
	if !ok || name == "" {
		return "", "", fmt.Errorf("subject %q must be User:<email>, Group:<name> or McpToken:<sha256>", s)
	}
	switch kind {
	case SubjectUser:
		if msg := ValidateEmail(name); msg != "" {
			return "", "", fmt.Errorf("subject %q: the email %s", s, msg)
		}
	case SubjectGroup:
		if msg := ValidateName(name); msg != "" {
			return "", "", fmt.Errorf("subject %q: the group name %s", s, msg)
		}
	case SubjectMcpToken:
		if !isSHA256Hex(name) {
			return "", "", fmt.Errorf("subject %q: an McpToken is named by its sha256 (64 lower-case hex digits, shown by `mcpctl describe mcptoken`)", s)
		}
	default:
		return "", "", fmt.Errorf("subject %q has unknown kind %q; subject kinds are User, Group and McpToken", s, kind)
	}
	return kind, name, nil
}

func isSHA256Hex(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// RbacDefinitionSpec grants the role bindings to every subject.
type RbacDefinitionSpec struct {
	// Subjects are User:<email>, Group:<name> or McpToken:<sha256>.
	Subjects []string `json:"subjects"`
	// RoleBindings are what the subjects may do.
	RoleBindings []RoleBinding `json:"roleBindings"`
}

// Default normalizes resource aliases to plurals and drops repeated
// subjects and bindings.
func (s *RbacDefinitionSpec) Default() {
	if s.Subjects == nil {
		s.Subjects = []string{}
	}
	if s.RoleBindings == nil {
		s.RoleBindings = []RoleBinding{}
	}
	for i := range s.RoleBindings {
		s.RoleBindings[i].Normalize()
	}
	s.Subjects = dedupe(s.Subjects)
	s.RoleBindings = dedupe(s.RoleBindings)
}

func dedupe[T comparable](xs []T) []T {
	seen := map[T]bool{}
	return slices.DeleteFunc(xs, func(x T) bool {
		if seen[x] {
			return true
		}
		seen[x] = true
		return false
	})
}

// Validate checks subjects and bindings.
func (s *RbacDefinitionSpec) Validate(fe *FieldErrors) {
	if len(s.Subjects) == 0 {
		fe.Add("spec.subjects", "must name at least one subject (User:<email>, Group:<name> or McpToken:<sha256>)")
	}
	for i, sub := range s.Subjects {
		if _, _, err := ParseSubject(sub); err != nil {
			fe.Add(fmt.Sprintf("spec.subjects[%d]", i), "%v", err)
		}
	}
	if len(s.RoleBindings) == 0 {
		fe.Add("spec.roleBindings", "must hold at least one binding such as {role: view, resource: servers}")
	}
	for i := range s.RoleBindings {
		b := s.RoleBindings[i]
		b.Normalize()
		b.validate(fmt.Sprintf("spec.roleBindings[%d]", i), fe)
	}
}

// References is empty: subjects may name users and groups that do not
// exist yet, as Kubernetes bindings may.
func (s *RbacDefinitionSpec) References() []Ref { return nil }

// GroupSpec is a named set of users; RBAC subjects Group:<name> apply to
// every member.
type GroupSpec struct {
	Description string `json:"description,omitempty"`
	// Members are user emails.
	Members []string `json:"members"`
}

// Default sorts and de-duplicates the members.
func (g *GroupSpec) Default() {
	if g.Members == nil {
		g.Members = []string{}
	}
	slices.Sort(g.Members)
	g.Members = slices.Compact(g.Members)
}

// Validate checks every member is an email.
func (g *GroupSpec) Validate(fe *FieldErrors) {
	for i, m := range g.Members {
		if msg := ValidateEmail(m); msg != "" {
			fe.Add(fmt.Sprintf("spec.members[%d]", i), "%s", msg)
		}
	}
	if len(g.Description) > 1024 {
		fe.Add("spec.description", "must be at most 1024 bytes")
	}
}

// References is empty: members are users, which are not resources.
func (g *GroupSpec) References() []Ref { return nil }
