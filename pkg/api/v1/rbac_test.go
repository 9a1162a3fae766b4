package v1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseRoleBinding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want RoleBinding
	}{
		{"role:edit,resource:servers", RoleBinding{Role: RoleEdit, Resource: "servers"}},
		{"role:view,resource:servers,name:my-ha", RoleBinding{Role: RoleView, Resource: "servers", Name: "my-ha"}},
		{"role:create,resource:*", RoleBinding{Role: RoleCreate, Resource: "*"}},
		{"role:delete,resource:users,name:alice@example.com", RoleBinding{Role: RoleDelete, Resource: "users", Name: "alice@example.com"}},
		{"action:logs", RoleBinding{Role: RoleRun, Action: "logs"}},
		{"role:run,action:*", RoleBinding{Role: RoleRun, Action: "*"}},
		{"action:reveal-secrets,role:run", RoleBinding{Role: RoleRun, Action: "reveal-secrets"}},
		{" role : view , resource : servers ", RoleBinding{Role: RoleView, Resource: "servers"}},
		// Singulars, aliases and kind names normalise to the plural.
		{"role:view,resource:server", RoleBinding{Role: RoleView, Resource: "servers"}},
		{"role:view,resource:srv", RoleBinding{Role: RoleView, Resource: "servers"}},
		{"role:view,resource:Server", RoleBinding{Role: RoleView, Resource: "servers"}},
		{"role:edit,resource:rbac", RoleBinding{Role: RoleEdit, Resource: "rbacdefinitions"}},
		{"role:edit,resource:token", RoleBinding{Role: RoleEdit, Resource: "mcptokens"}},
		{"role:edit,resource:user", RoleBinding{Role: RoleEdit, Resource: "users"}},
		{"role:edit,resource:Users", RoleBinding{Role: RoleEdit, Resource: "users"}},
	}
	for _, tt := range tests {
		got, err := ParseRoleBinding(tt.in)
		if err != nil {
			t.Errorf("ParseRoleBinding(%q): %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("ParseRoleBinding(%q) (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestParseRoleBindingErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in string
		// want are pieces the message must contain: the bad part.
		want []string
	}{
		{"", []string{"empty binding"}},
		{"   ", []string{"empty binding"}},
		{"role:view,resource:servers,colour:red", []string{`"colour"`, "unknown key"}},
		{"role:,resource:servers", []string{`"role:"`, "empty value"}},
		{"role:view,resource:", []string{`"resource:"`, "empty value"}},
		{"role:view,resource:servers,name: ", []string{"name:", "empty value"}},
		{"role", []string{`"role"`, "not key:value"}},
		{"role:view,resource:servers,", []string{"not key:value"}},
		{"role:view,role:edit,resource:servers", []string{"role", "given twice"}},
		{"role:view,resource:servers,action:logs", []string{"role view", "action", "not both"}},
		{"action:logs,resource:servers", []string{"action:logs", "not both"}},
		{"resource:servers", []string{"missing role"}},
		{"name:x", []string{"missing role"}},
		{"role:run", []string{"role run needs an action"}},
		{"role:run,resource:servers", []string{"role run needs an action"}},
		{"role:admin,resource:servers", []string{`unknown role "admin"`}},
		{"role:VIEW,resource:servers", []string{`unknown role "VIEW"`}},
		{"role:view", []string{"role view needs a resource"}},
		{"role:view,resource:widgets", []string{`unknown resource "widgets"`}},
		{"action:fly", []string{`unknown action "fly"`}},
		{"role:run,action:LOGS", []string{`unknown action "LOGS"`}},
		{"role:view,resource:*,name:a", []string{"name", "*"}},
	}
	checkParseRoleBindingErrors(t, tests)
}

// ParseRoleBinding promises "An error names the bad part": a bad name must
// be named like every other bad part, not answered with a bare "must be a
// DNS label" that says neither which key nor which value is wrong.
func TestParseRoleBindingBadNameIsNamed(t *testing.T) {
	t.Parallel()
	checkParseRoleBindingErrors(t, []struct {
		in   string
		want []string
	}{
		{"role:view,resource:servers,name:Bad_Name", []string{"Bad_Name"}},
		{"role:view,resource:users,name:not-an-email", []string{"not-an-email"}},
	})
}

func checkParseRoleBindingErrors(t *testing.T, tests []struct {
	in   string
	want []string
}) {
	t.Helper()
	for _, tt := range tests {
		_, err := ParseRoleBinding(tt.in)
		if err == nil {
			t.Errorf("ParseRoleBinding(%q) = nil error", tt.in)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseRoleBinding(%q) error %q does not contain %q", tt.in, err, w)
			}
		}
	}
}

// Every valid binding's String reads back as itself.
func TestRoleBindingStringRoundTrip(t *testing.T) {
	t.Parallel()
	var bs []RoleBinding
	for _, a := range append(append([]string(nil), Actions...), "*") {
		bs = append(bs, RoleBinding{Role: RoleRun, Action: a})
	}
	for _, role := range []string{RoleView, RoleEdit, RoleCreate, RoleDelete} {
		bs = append(bs, RoleBinding{Role: role, Resource: "*"})
		for _, res := range RbacResources() {
			name := "my-object-1"
			if res == "users" {
				name = "alice@example.com"
			}
			bs = append(bs, RoleBinding{Role: role, Resource: res}, RoleBinding{Role: role, Resource: res, Name: name})
		}
	}
	for _, b := range bs {
		got, err := ParseRoleBinding(b.String())
		if err != nil {
			t.Errorf("ParseRoleBinding(%q) (from %+v): %v", b.String(), b, err)
			continue
		}
		if diff := cmp.Diff(b, got); diff != "" {
			t.Errorf("round trip of %q (-want +got):\n%s", b.String(), diff)
		}
		if got.String() != b.String() {
			t.Errorf("String() changed over a round trip: %q -> %q", b.String(), got.String())
		}
	}
}

func TestParseSubject(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("0123456789abcdef", 4)
	for _, tt := range []struct{ in, kind, name string }{
		{"User:alice@example.com", SubjectUser, "alice@example.com"},
		{"Group:ops", SubjectGroup, "ops"},
		{"Group:admin", SubjectGroup, AdminGroup},
		{"McpToken:" + sha, SubjectMcpToken, sha},
	} {
		kind, name, err := ParseSubject(tt.in)
		if err != nil {
			t.Errorf("ParseSubject(%q): %v", tt.in, err)
			continue
		}
		if kind != tt.kind || name != tt.name {
			t.Errorf("ParseSubject(%q) = %q, %q; want %q, %q", tt.in, kind, name, tt.kind, tt.name)
		}
	}
}

func TestParseSubjectErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"Team:x", []string{`unknown kind "Team"`}},
		{"user:a@b.c", []string{`unknown kind "user"`}},
		{"group:ops", []string{`unknown kind "group"`}},
		{"McpToken:short", []string{"McpToken:short", "sha256"}},
		{"McpToken:" + strings.Repeat("AB", 32), []string{strings.Repeat("AB", 32), "sha256"}},
		{"McpToken:" + strings.Repeat("a", 65), []string{"sha256"}},
		{"User:not-an-email", []string{"not-an-email", "email"}},
		{"User:Alice <alice@example.com>", []string{"Alice <alice@example.com>", "email"}},
		{"Group:Bad_Group", []string{"Bad_Group", "group name"}},
		{"alice@example.com", []string{"alice@example.com", "must be User:<email>"}},
		{"User:", []string{`"User:"`, "must be User:<email>"}},
		{"", []string{"must be User:<email>"}},
	}
	for _, tt := range tests {
		kind, name, err := ParseSubject(tt.in)
		if err == nil {
			t.Errorf("ParseSubject(%q) = %q, %q, nil error", tt.in, kind, name)
			continue
		}
		if kind != "" || name != "" {
			t.Errorf("ParseSubject(%q) returned %q, %q with its error", tt.in, kind, name)
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ParseSubject(%q) error %q does not contain %q", tt.in, err, w)
			}
		}
	}
}
