package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store/storetest"
)

// status sends a GET with bearer tok and returns the status and body.
func status(t *testing.T, url, tok string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// rawToken picks the raw token out of `create mcptoken -o json`.
func rawToken(t *testing.T, r result) string {
	t.Helper()
	var out struct{ Token string }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &out) != nil || !strings.HasPrefix(out.Token, "mcpctl_pat_") {
		t.Fatalf("create mcptoken: %+v", r)
	}
	return out.Token
}

const projectsYAML = `kind: Project
metadata: {name: demo}
spec: {servers: []}
---
kind: Project
metadata: {name: other}
spec: {servers: []}
---
kind: Prompt
metadata: {name: hello, project: demo}
spec: {text: "Say hello."}
`

// TestMcpTokenEndToEnd creates a token with --rbac clone through the real
// CLI, uses it against its project (works), another project and the rest
// of the API (403), then revokes it on one replica and watches the other
// replica refuse it within MCPD_AUTH_CACHE_TTL. Both replicas share one
// PostgreSQL database.
func TestMcpTokenEndToEnd(t *testing.T) {
	url := storetest.PostgresURL(t)
	env := []string{"MCPD_DATABASE_URL=" + url, "MCPD_SECRET_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "MCPD_AUTH_CACHE_TTL=2s"}
	a := startMcpd(t, "", env...)
	b := startMcpd(t, "", env...)
	cfg := t.TempDir()
	cliLogin(t, cfg, a.URL)
	manifest := filepath.Join(t.TempDir(), "projects.yaml")
	writeFile(t, manifest, projectsYAML)
	if r := mcpctl(t, cfg, "", "apply", "-f", manifest); r.Code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	tok := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "ci", "-p", "demo", "--rbac", "clone", "--ttl", "30d", "-o", "json"))

	for _, m := range []*mcpd{a, b} {
		for path, want := range map[string]int{
			"/api/v1/projects/demo":             200,
			"/api/v1/projects/demo/prompts":     200,
			"/api/v1/projects/demo/servers":     200,
			"/api/v1/mcptokens/introspect":      200,
			"/api/v1/projects/other":            403,
			"/api/v1/projects/other/prompts":    403,
			"/api/v1/servers":                   403,
			"/api/v1/users":                     403,
			"/api/v1/export":                    403,
			"/api/v1/projects/demo/mcptokens/x": 404, // inside the fence; no such token
		} {
			if got, body := status(t, m.URL+path, tok); got != want {
				t.Errorf("%s%s with the token: %d, want %d: %s", m.URL, path, got, want, body)
			}
		}
	}
	if _, body := status(t, a.URL+"/api/v1/mcptokens/introspect", tok); !strings.Contains(body, `"project":"demo"`) || !strings.Contains(body, `"resource":"*"`) {
		t.Errorf("introspect of a token cloned from an admin: %s", body)
	}

	// Bad presentations of the token.
	changed := tok[:len(tok)-1] + "a"
	if strings.HasSuffix(tok, "a") {
		changed = tok[:len(tok)-1] + "b"
	}
	for name, bad := range map[string]string{"one character changed": changed, "the prefix only": "mcpctl_pat_", "the display prefix": tok[:17]} {
		if got, body := status(t, a.URL+"/api/v1/projects/demo", bad); got != 401 || !strings.Contains(body, "TOKEN_INVALID") {
			t.Errorf("%s: %d %s, want 401 TOKEN_INVALID", name, got, body)
		}
	}

	// Warm b's cache, revoke on a: a refuses at once, b within its cache TTL.
	if got, _ := status(t, b.URL+"/api/v1/projects/demo", tok); got != 200 {
		t.Fatalf("before revoke on b: %d", got)
	}
	if r := mcpctl(t, cfg, "", "revoke", "mcptoken", "ci", "-p", "demo"); r.Code != 0 || !strings.Contains(r.Stdout, "mcptoken/demo/ci revoked") {
		t.Fatalf("revoke: %+v", r)
	}
	revoked := time.Now()
	if got, body := status(t, a.URL+"/api/v1/projects/demo", tok); got != 401 {
		t.Errorf("on the revoking replica right after revoke: %d %s, want 401", got, body)
	}
	deadline := revoked.Add(20 * time.Second) // far past the 2s bound: a hang, not a slow machine, fails this
	for {
		got, _ := status(t, b.URL+"/api/v1/projects/demo", tok)
		if got == 401 {
			t.Logf("the other replica refused the revoked token %v after the revoke (MCPD_AUTH_CACHE_TTL=2s)", time.Since(revoked).Round(10*time.Millisecond))
			break
		}
		if got != 200 || time.Now().After(deadline) {
			t.Fatalf("other replica after revoke: %d (waited %v)", got, time.Since(revoked))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r := mcpctl(t, cfg, "", "get", "mcptokens", "-p", "demo"); !strings.Contains(r.Stdout, "revoked") || strings.Contains(r.Stdout, tok) {
		t.Errorf("get mcptokens after revoke: %+v", r)
	}
	// The token's requests are audited under its name and hash.
	sess := loginToken(t, a.URL)
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, body := status(t, a.URL+"/api/v1/audit?tokenName=ci&limit=1000", sess)
		var page struct {
			Items []struct{ TokenName, TokenSha, Path string }
		}
		json.Unmarshal([]byte(body), &page)
		// Each replica audits the requests it served: 10 per replica
		// with the token above, and more around the revoke.
		if len(page.Items) >= 10 {
			for _, e := range page.Items {
				if e.TokenName != "ci" || len(e.TokenSha) != 64 {
					t.Fatalf("audit event of the token: %+v", e)
				}
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("audit events with tokenName=ci: %d, want at least 10: %s", len(page.Items), body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// loginToken logs the admin in over HTTP and returns the session token.
func loginToken(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Post(url+"/api/v1/auth/login", "application/json",
		strings.NewReader(`{"email":"`+adminEmail+`","password":"`+adminPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || out.Token == "" {
		t.Fatalf("login: %d %v", resp.StatusCode, err)
	}
	return out.Token
}

// TestRBACCommands drives the RBAC verbs of the CLI against a real mcpd on
// SQLite, with the bad inputs the issue lists.
func TestRBACCommands(t *testing.T) {
	m := startMcpd(t, "")
	admin := t.TempDir()
	cliLogin(t, admin, m.URL)
	run := func(cfg, stdin string, args ...string) result { return mcpctl(t, cfg, stdin, args...) }
	manifest := filepath.Join(t.TempDir(), "projects.yaml")
	writeFile(t, manifest, projectsYAML)
	if r := run(admin, "", "apply", "-f", manifest); r.Code != 0 {
		t.Fatalf("apply: %+v", r)
	}
	if r := run(admin, "alice-password\n", "create", "user", "alice@example.com", "--name", "Alice", "--password-stdin"); r.Code != 0 {
		t.Fatalf("create user: %+v", r)
	}

	// Malformed bindings and subjects: usage errors (exit 2) naming the part.
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--subject", "User:alice@example.com", "--roleBindings", "verb:edit,resource:servers"}, `unknown key "verb"`},
		{[]string{"--subject", "User:alice@example.com", "--roleBindings", "role:edit,resource:"}, `"resource:" has an empty value`},
		{[]string{"--subject", "User:alice@example.com", "--roleBindings", "role:edit,action:logs"}, "either role edit with a resource or an action, not both"},
		{[]string{"--subject", "User:alice@example.com", "--roleBindings", "resource:servers"}, "missing role"},
		{[]string{"--subject", "User:alice@example.com", "--roleBindings", "role:own,resource:servers"}, `unknown role "own"`},
		{[]string{"--subject", "Team:infra", "--roleBindings", "role:view,resource:servers"}, `unknown kind "Team"`},
		{[]string{"--subject", "alice@example.com", "--roleBindings", "role:view,resource:servers"}, "must be User:<email>"},
	} {
		r := run(admin, "", append([]string{"create", "rbac", "bad"}, c.args...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("create rbac %v: exit %d, stderr %q; want 2 and %q", c.args, r.Code, r.Stderr, c.want)
		}
	}
	if r := run(admin, "", "create", "rbac", "alice", "--subject", "User:alice@example.com",
		"--roleBindings", "role:view,resource:projects", "--roleBindings", "role:view,resource:prompts",
		"--roleBindings", "role:create,resource:mcptokens"); r.Code != 0 {
		t.Fatalf("create rbac: %+v", r)
	}

	alice := t.TempDir()
	if r := run(alice, "alice-password\n", "login", "--mcpd-url", m.URL, "--email", "alice@example.com", "--password-stdin"); r.Code != 0 {
		t.Fatalf("alice login: %+v", r)
	}
	if r := run(alice, "", "get", "projects", "-o", "name"); r.Code != 0 || r.Stdout != "project/demo\nproject/other\n" {
		t.Errorf("alice get projects: %+v", r)
	}
	if r := run(alice, "", "get", "servers"); r.Code != 1 || !strings.Contains(r.Stderr, "role:view,resource:servers") {
		t.Errorf("alice get servers: %+v", r)
	}
	// A non-admin cannot hand a token more than she holds.
	if r := run(alice, "", "create", "mcptoken", "wide", "-p", "demo", "--bind", "role:edit,resource:*"); r.Code != 1 || !strings.Contains(r.Stderr, "role:edit,resource:*") {
		t.Errorf("alice token bound to *: %+v", r)
	}
	if r := run(alice, "", "auth", "can-i", "edit", "projects"); r.Code != 1 || !strings.HasPrefix(r.Stdout, "no") {
		t.Errorf("can-i edit projects: %+v", r)
	}
	if r := run(alice, "", "auth", "can-i", "view", "prompts", "hello"); r.Code != 0 || !strings.Contains(r.Stdout, "rbacdefinition/alice") {
		t.Errorf("can-i view prompts: %+v", r)
	}
	if r := run(admin, "", "auth", "can-i", "view", "servers", "--as", "User:alice@example.com"); r.Code != 1 || !strings.HasPrefix(r.Stdout, "no") {
		t.Errorf("can-i --as alice: %+v", r)
	}
	if r := run(admin, "", "auth", "can-i", "view", "servers", "--as", "Robot:x"); r.Code != 2 {
		t.Errorf("can-i --as of an unknown kind: %+v", r)
	}
	tok := rawToken(t, run(alice, "", "create", "mcptoken", "mine", "-p", "demo", "--rbac", "clone", "-o", "json"))
	if r := run(admin, "", "describe", "mcptoken", "mine", "-p", "demo"); !strings.Contains(r.Stdout, "role:view,resource:projects") ||
		!strings.Contains(r.Stdout, "User:alice@example.com") {
		t.Errorf("describe mcptoken: %+v", r)
	}
	if got, _ := status(t, m.URL+"/api/v1/projects/demo/prompts", tok); got != 200 {
		t.Errorf("alice's token on its project: %d", got)
	}

	// Passwords: own change, then the old one no longer logs in.
	if r := run(alice, "alice-password\nalice-new-password\n", "passwd", "--password-stdin"); r.Code != 0 {
		t.Fatalf("passwd: %+v", r)
	}
	if r := run(t.TempDir(), "alice-password\n", "login", "--mcpd-url", m.URL, "--email", "alice@example.com", "--password-stdin"); r.Code == 0 {
		t.Errorf("the old password still logs in")
	}
	if r := run(alice, "", "get", "projects", "-o", "name"); r.Code != 0 {
		t.Errorf("the session that changed the password ended: %+v", r)
	}

	// The last admin cannot be deleted; deleting alice revokes her token.
	if r := run(admin, "", "delete", "user", adminEmail, "--yes"); r.Code != 1 || !strings.Contains(r.Stderr, "last admin") {
		t.Errorf("delete the last admin: %+v", r)
	}
	if r := run(admin, "", "delete", "user", "alice@example.com", "--yes"); r.Code != 0 {
		t.Fatalf("delete alice: %+v", r)
	}
	if got, _ := status(t, m.URL+"/api/v1/projects/demo/prompts", tok); got != 401 {
		t.Errorf("the token of a deleted user: %d, want 401", got)
	}
	if r := run(admin, "", "get", "users", "-o", "name"); r.Stdout != "user/"+adminEmail+"\n" {
		t.Errorf("get users after delete: %+v", r)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentUserWritesPostgres: user writes check rights inside their
// transaction; on PostgreSQL, where waiting writers hold connections on
// the advisory lock with no timeout, a check that needed a second
// connection would hang mcpd. 40 concurrent creates and deletes must all
// finish (each request is bounded by the client's timeout).
func TestConcurrentUserWritesPostgres(t *testing.T) {
	url := storetest.PostgresURL(t)
	m := startMcpd(t, "", "MCPD_DATABASE_URL="+url, "MCPD_SECRET_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=", "MCPD_RATE_LIMIT=off")
	tok := loginToken(t, m.URL)
	hc := &http.Client{Timeout: 60 * time.Second}
	send := func(method, path, body string) (int, error) {
		req, _ := http.NewRequest(method, m.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	const n = 40
	for _, step := range []struct {
		method string
		want   int
	}{{"POST", 201}, {"DELETE", 204}} {
		errs := make(chan string, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path, body := "/api/v1/users", fmt.Sprintf(`{"email":"u%d@example.com","password":"password-%d"}`, i, i)
				if step.method == "DELETE" {
					path, body = fmt.Sprintf("/api/v1/users/u%d@example.com", i), ""
				}
				if code, err := send(step.method, path, body); err != nil || code != step.want {
					errs <- fmt.Sprintf("%s user %d: %d %v", step.method, i, code, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for e := range errs {
			t.Error(e)
		}
	}
}
