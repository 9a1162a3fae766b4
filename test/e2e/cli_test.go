package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCLILoginStatusLogout(t *testing.T) {
	t.Parallel()
	m := startMcpd(t, "")
	cfg := t.TempDir()

	r := mcpctl(t, cfg, adminPassword+"\n", "login", "--mcpd-url", m.URL, "--email", adminEmail, "--password-stdin")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Logged in to "+m.URL+" as "+adminEmail) {
		t.Fatalf("login: %+v", r)
	}
	st, err := os.Stat(filepath.Join(cfg, "config.yaml"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config file mode: %v %v, want 0600", st.Mode(), err)
	}

	r = mcpctl(t, cfg, "", "status")
	for _, want := range []string{"Reachable:  yes", "Status:     ok (database connected)", "User:       " + adminEmail} {
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Fatalf("status: want %q in %+v", want, r)
		}
	}
	r = mcpctl(t, cfg, "", "status", "-o", "json")
	if r.Code != 0 || !strings.Contains(r.Stdout, `"loggedIn": true`) {
		t.Fatalf("status -o json: %+v", r)
	}
	r = mcpctl(t, cfg, "", "config", "current-context")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "default" {
		t.Fatalf("current-context: %+v", r)
	}
	r = mcpctl(t, cfg, "", "config", "get-contexts")
	if r.Code != 0 || !strings.Contains(r.Stdout, "*        default  "+m.URL) {
		t.Fatalf("get-contexts: %+v", r)
	}
	r = mcpctl(t, cfg, "", "version")
	if r.Code != 0 || !strings.Contains(r.Stdout, "mcpctl ") || !strings.Contains(r.Stdout, "mcpd   ") {
		t.Fatalf("version: %+v", r)
	}

	// A second context, then switching between them.
	r = mcpctl(t, cfg, adminPassword+"\n", "login", "--mcpd-url", m.URL, "--email", adminEmail, "--password-stdin", "--context-name", "second")
	if r.Code != 0 {
		t.Fatalf("login second: %+v", r)
	}
	if r = mcpctl(t, cfg, "", "config", "use-context", "default"); r.Code != 0 {
		t.Fatalf("use-context: %+v", r)
	}
	if r = mcpctl(t, cfg, "", "config", "use-context", "nope"); r.Code != 2 || !strings.Contains(r.Stderr, "known contexts: default, second") {
		t.Fatalf("use-context nope: %+v", r)
	}

	r = mcpctl(t, cfg, "", "logout")
	if r.Code != 0 || !strings.Contains(r.Stdout, "Logged out") {
		t.Fatalf("logout: %+v", r)
	}
	r = mcpctl(t, cfg, "", "status")
	if r.Code != 1 || !strings.Contains(r.Stdout, "not logged in") {
		t.Fatalf("status after logout: %+v", r)
	}
	// The other context's session is untouched.
	if r = mcpctl(t, cfg, "", "--context", "second", "status"); r.Code != 0 {
		t.Fatalf("status of second context: %+v", r)
	}
}

func TestCLIBadInput(t *testing.T) {
	t.Parallel()
	m := startMcpd(t, "")
	cfg := t.TempDir()
	tests := []struct {
		name   string
		stdin  string
		args   []string
		code   int
		stderr string
	}{
		{"wrong password", "wrong-password\n", []string{"login", "--mcpd-url", m.URL, "--email", adminEmail, "--password-stdin"}, 1, "email or password is wrong (INVALID_CREDENTIALS)"},
		{"unknown email", adminPassword + "\n", []string{"login", "--mcpd-url", m.URL, "--email", "who@example.com", "--password-stdin"}, 1, "email or password is wrong (INVALID_CREDENTIALS)"},
		{"no tty no stdin flag", "", []string{"login", "--mcpd-url", m.URL, "--email", adminEmail}, 2, "pipe it with --password-stdin"},
		{"empty stdin", "", []string{"login", "--mcpd-url", m.URL, "--email", adminEmail, "--password-stdin"}, 2, "standard input is empty"},
		{"missing email", "", []string{"login", "--mcpd-url", m.URL}, 2, "--email is required"},
		{"bad email", "", []string{"login", "--mcpd-url", m.URL, "--email", "not an email"}, 2, "plain email address"},
		{"bad url", "x\n", []string{"login", "--mcpd-url", "ftp://x", "--email", adminEmail, "--password-stdin"}, 2, "use http(s)://host:port"},
		{"bad context name", "x\n", []string{"login", "--mcpd-url", m.URL, "--email", adminEmail, "--password-stdin", "--context-name", "../Prod"}, 2, "DNS label"},
		{"unreachable", "x\n", []string{"login", "--mcpd-url", "http://127.0.0.1:1", "--email", adminEmail, "--password-stdin"}, 1, "cannot reach mcpd at http://127.0.0.1:1"},
		{"status without context", "", []string{"status"}, 2, "log in first"},
		{"unknown command", "", []string{"frobnicate"}, 2, "unknown command"},
		{"unknown flag", "", []string{"status", "--nope"}, 2, "unknown flag"},
		{"bad output", "", []string{"status", "-o", "xml"}, 2, "use text or json"},
	}
	for _, tc := range tests {
		r := mcpctl(t, cfg, tc.stdin, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.stderr) {
			t.Errorf("%s: got code %d stderr %q; want code %d and %q", tc.name, r.Code, r.Stderr, tc.code, tc.stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(cfg, "config.yaml")); !os.IsNotExist(err) {
		t.Errorf("failed logins wrote a config file: %v", err)
	}
}

func TestCompletion(t *testing.T) {
	t.Parallel()
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := mcpctl(t, t.TempDir(), "", "completion", sh)
		if r.Code != 0 || !strings.Contains(r.Stdout, "mcpctl") {
			t.Errorf("completion %s: code %d, %d bytes", sh, r.Code, len(r.Stdout))
		}
	}
}
