package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// mcplocalServe runs `mcplocal serve args...` on a free port and waits for
// /healthz; it returns the base URL and the process's stderr so far.
func mcplocalServe(t *testing.T, env []string, args ...string) (string, func() string) {
	t.Helper()
	port := freePort(t)
	cmd := exec.Command(filepath.Join(binDir, "mcplocal"), append([]string{"serve"}, args...)...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "MCPLOCAL_CACHE_DIR=" + t.TempDir(),
		fmt.Sprintf("MCPLOCAL_HTTP_PORT=%d", port)}, env...)
	var mu sync.Mutex
	var log strings.Builder
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			mu.Lock()
			log.WriteString(sc.Text() + "\n")
			mu.Unlock()
		}
	}()
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return log.String()
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
		}
		cmd.Wait()
		if t.Failed() {
			t.Logf("mcplocal log:\n%s", logs())
		}
	})
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	eventually(t, 20*time.Second, "mcplocal /healthz", func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return base, logs
}

// TestMcplocalHTTPMode runs mcplocal serve against mcpd: a client with
// an McpToken of the project gets its merged tools through mcpd's relay;
// a token of another project is refused with 403, a bad one with 401.
func TestMcplocalHTTPMode(t *testing.T) {
	bin := testbin.MCPServer(t)
	m := startMcpd(t, "", instanceEnv...)
	cfg, a := gatewayProject(t, m, bin)
	// The binding the quick start gives: view on the project, nothing else.
	tok := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "ci", "-p", "demo", "--bind", "role:view,resource:projects", "-o", "json"))
	other := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "ci", "-p", "other", "--rbac", "clone", "-o", "json"))
	base, _ := mcplocalServe(t, []string{"MCPLOCAL_MCPD_URL=" + m.URL})
	url := base + "/projects/demo/mcp"

	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		cs := mcpConnect(t, url, tok, version, nil)
		names := toolNames(t, cs)
		if !slices.Contains(names, "alpha__echo") || !slices.Contains(names, "beta__echo") || slices.Contains(names, "beta__env") {
			t.Errorf("%s: tools through mcplocal: %v", version, names)
		}
		if got, err := callText(t, cs, "beta__echo", map[string]any{"text": "via mcplocal"}); err != nil || got != `{"text":"via mcplocal"}` {
			t.Errorf("%s: beta__echo through mcplocal: %q %v", version, got, err)
		}
		if _, err := callText(t, cs, "beta__env", map[string]any{"name": "PATH"}); err == nil || !strings.Contains(err.Error(), "denied") {
			t.Errorf("%s: the denied tool through mcplocal: %v", version, err)
		}
		// The project's own prompt, read with a token that may only view
		// the project.
		res, err := cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "hello"})
		if err != nil || len(res.Messages) != 1 || res.Messages[0].Content.(*mcp.TextContent).Text != "Say hello." {
			t.Errorf("%s: the project prompt through mcplocal: %+v %v", version, res, err)
		}
	}
	for _, c := range []struct {
		name, tok, want string
		status          int
	}{
		{"no token", "", "send an McpToken", http.StatusUnauthorized},
		{"token of another project", other, "belongs to project other", http.StatusForbidden},
		{"unknown token", "mcpctl_pat_" + strings.Repeat("x", 43), "mcpd refused the token", http.StatusUnauthorized},
	} {
		if code, _, body := rpcPost(t, url, c.tok, nil, initBody); code != c.status || !strings.Contains(body, c.want) || !strings.Contains(body, `"jsonrpc":"2.0"`) {
			t.Errorf("%s: %d %s", c.name, code, body)
		}
	}
	// The session-era call went through mcplocal's relay (the denied one
	// and the stateless era's through the SDK).
	if resp, err := http.Get(base + "/metrics"); err != nil {
		t.Error(err)
	} else {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "\nmcplocal_mcp_relayed_calls_total 1\n") {
			t.Errorf("mcplocal /metrics: want mcplocal_mcp_relayed_calls_total 1 in\n%s", b)
		}
	}
	// The calls were audited by mcpd, at the relay, under the token.
	eventually(t, 10*time.Second, "audit of calls through the relay", func() bool {
		_, out := a.do("GET", "/api/v1/audit?project=demo&tool=echo&tokenName=ci", "")
		items, _ := out["items"].([]any)
		for _, it := range items {
			if ev := it.(map[string]any); strings.Contains(ev["path"].(string), "/servers/beta/mcp") {
				return true
			}
		}
		return false
	})
}

// TestMcplocalStdio runs mcplocal stdio with the user's mcpctl login, the
// way a desktop client starts it, and keeps calling across a restart of
// mcpd.
func TestMcplocalStdio(t *testing.T) {
	bin := testbin.MCPServer(t)
	dataDir := t.TempDir()
	port := freePort(t)
	env := append(instanceEnv, fmt.Sprintf("MCPD_LISTEN=127.0.0.1:%d", port))
	m := startMcpd(t, dataDir, env...)
	cfg, _ := gatewayProject(t, m, bin)

	cmd := exec.Command(filepath.Join(binDir, "mcplocal"), "stdio", "--project", "demo")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cfg, "MCPCTL_CONFIG=" + filepath.Join(cfg, "config.yaml"), "MCPLOCAL_CACHE_DIR=" + t.TempDir()}
	var mu sync.Mutex
	var sb strings.Builder
	cmd.Stderr = &lockedWriter{mu: &mu, b: &sb}
	stderrText := func() string { mu.Lock(); defer mu.Unlock(); return sb.String() }
	c := mcp.NewClient(&mcp.Implementation{Name: "desktop", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.CommandTransport{Command: cmd}, nil)
	if err != nil {
		t.Fatalf("mcplocal stdio: %v\n%s", err, stderrText())
	}
	defer cs.Close()
	if names := toolNames(t, cs); !slices.Contains(names, "alpha__echo") {
		t.Fatalf("tools over mcplocal stdio: %v\n%s", names, stderrText())
	}
	if got, err := callText(t, cs, "alpha__echo", map[string]any{"text": "before"}); err != nil || got != `{"text":"before"}` {
		t.Fatalf("call before the restart: %q %v", got, err)
	}

	m.Signal(syscall.SIGTERM)
	if code := m.Wait(60 * time.Second); code != 0 {
		t.Fatalf("mcpd exit %d", code)
	}
	m2 := startMcpd(t, dataDir, env...)
	waitInstances(t, cfg, "alpha", "alpha running again", running(1))
	eventually(t, 60*time.Second, "a call through mcplocal after mcpd restarted", func() bool {
		got, err := callText(t, cs, "alpha__echo", map[string]any{"text": "after"})
		return err == nil && got == `{"text":"after"}`
	})
	_ = m2
	if strings.Contains(stderrText(), "panic") {
		t.Errorf("mcplocal: %s", stderrText())
	}
}

// TestMcplocalStandalone serves a project file without mcpd: the file's
// server runs as a local process, a static token guards the endpoint and
// calls are audited as JSON lines.
func TestMcplocalStandalone(t *testing.T) {
	bin := testbin.MCPServer(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "project.yaml")
	writeFile(t, file, fmt.Sprintf(`kind: Server
metadata: {name: tools}
spec: {command: %q, env: [{name: GREETING, value: hello}]}
---
kind: Project
metadata: {name: solo}
spec: {servers: [tools], tools: {tools: {deny: [dial]}}}
`, bin))
	auditFile := filepath.Join(dir, "audit.jsonl")
	base, _ := mcplocalServe(t, []string{"MCPLOCAL_TOKEN=s3cret-token", "MCPLOCAL_AUDIT_FILE=" + auditFile}, "-f", file)
	cs := mcpConnect(t, base+"/projects/solo/mcp", "s3cret-token", "2025-11-25", nil)
	if got, err := callText(t, cs, "tools__env", map[string]any{"name": "GREETING"}); err != nil || got != `{"text":"hello"}` {
		t.Errorf("standalone call: %q %v", got, err)
	}
	if _, err := callText(t, cs, "tools__dial", map[string]any{"addr": "127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "denied") {
		t.Errorf("denied tool standalone: %v", err)
	}
	if code, _, body := rpcPost(t, base+"/mcp", "wrong", nil, initBody); code != http.StatusUnauthorized || !strings.Contains(body, "MCPLOCAL_TOKEN") {
		t.Errorf("wrong token: %d %s", code, body)
	}
	eventually(t, 5*time.Second, "audit lines", func() bool {
		b, _ := os.ReadFile(auditFile)
		return strings.Contains(string(b), `"name":"env"`) && strings.Contains(string(b), `"outcome":"denied"`)
	})

	// A bad file stops the start with a message naming the problem.
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "kind: Project\nmetadata: {name: solo}\nspec: {servers: [missing]}\n")
	out, err := exec.Command(filepath.Join(binDir, "mcplocal"), "serve", "-f", bad).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "names server missing, which the file does not define") {
		t.Errorf("bad file: %v %s", err, out)
	}
	if out, err := exec.Command(filepath.Join(binDir, "mcplocal"), "serve").CombinedOutput(); !strings.Contains(string(out), "MCPLOCAL_MCPD_URL") {
		t.Errorf("serve without mcpd or file: %v %s", err, out)
	}
}
