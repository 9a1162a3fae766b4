// Package e2e drives the real mcpd and mcpctl binaries over loopback.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mcpctl-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = dir
	cmd := exec.Command("go", "build", "-o", dir+"/", "../../cmd/mcpd", "../../cmd/mcpctl", "../../cmd/mcplocal")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// mcpd is one running mcpd process.
type mcpd struct {
	t       testing.TB
	cmd     *exec.Cmd
	URL     string
	DataDir string

	mu    sync.Mutex
	lines []string
	exit  chan error
}

const adminEmail = "admin@example.com"
const adminPassword = "correct-horse-battery"

// startMcpd runs mcpd on a free loopback port with env added to a clean
// environment, and waits until it listens.
func startMcpd(t testing.TB, dataDir string, env ...string) *mcpd {
	t.Helper()
	if dataDir == "" {
		dataDir = t.TempDir()
	}
	m, err := launchMcpd(t, dataDir, env...)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func launchMcpd(t testing.TB, dataDir string, env ...string) (*mcpd, error) {
	cmd := exec.Command(filepath.Join(binDir, "mcpd"))
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dataDir,
		"MCPD_LISTEN=127.0.0.1:0", "MCPD_DATA_DIR=" + dataDir, "MCPD_LOG_FORMAT=json",
		"MCPD_BOOTSTRAP_ADMIN_EMAIL=" + adminEmail, "MCPD_BOOTSTRAP_ADMIN_PASSWORD=" + adminPassword,
		// Tests of resources apply servers (npx ones among them) without
		// wanting them run; instance tests pass MCPD_INSTANCES=on.
		"MCPD_INSTANCES=off",
	}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	m := &mcpd{t: t, cmd: cmd, DataDir: dataDir, exit: make(chan error, 1)}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			m.mu.Lock()
			m.lines = append(m.lines, line)
			m.mu.Unlock()
			var rec struct{ Msg, URL string }
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "mcpd listening" {
				ready <- rec.URL
			}
		}
		m.exit <- cmd.Wait()
	}()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-m.exit
		}
		if t.Failed() {
			t.Logf("mcpd log:\n%s", m.Log())
		}
	})
	select {
	case m.URL = <-ready:
		return m, nil
	case err := <-m.exit:
		m.exit <- err
		return m, fmt.Errorf("mcpd exited before listening: %v\n%s", err, m.Log())
	case <-time.After(60 * time.Second):
		return m, fmt.Errorf("mcpd did not listen within 60s\n%s", m.Log())
	}
}

// Log is everything mcpd wrote to stderr so far.
func (m *mcpd) Log() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return strings.Join(m.lines, "\n")
}

// Signal sends sig to mcpd.
func (m *mcpd) Signal(sig syscall.Signal) {
	m.t.Helper()
	if err := m.cmd.Process.Signal(sig); err != nil {
		m.t.Fatalf("signal mcpd: %v", err)
	}
}

// Wait returns mcpd's exit code, failing the test if it takes over limit.
func (m *mcpd) Wait(limit time.Duration) int {
	m.t.Helper()
	select {
	case <-m.exit:
		return m.cmd.ProcessState.ExitCode()
	case <-time.After(limit):
		m.t.Fatalf("mcpd did not exit within %s", limit)
		return -1
	}
}

// Stop shuts mcpd down gracefully and checks it exits 0.
func (m *mcpd) Stop() {
	m.t.Helper()
	m.Signal(syscall.SIGTERM)
	if code := m.Wait(60 * time.Second); code != 0 {
		m.t.Fatalf("mcpd exit code %d after SIGTERM, want 0", code)
	}
}

// result of one mcpctl run.
type result struct {
	Stdout, Stderr string
	Code           int
}

// mcpctl runs the CLI with its config in cfgDir.
func mcpctl(t testing.TB, cfgDir, stdin string, args ...string) result {
	t.Helper()
	return mcpctlEnv(t, cfgDir, stdin, nil, args...)
}

// mcpctlEnv is mcpctl with extra environment variables (EDITOR=...).
func mcpctlEnv(t testing.TB, cfgDir, stdin string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(binDir, "mcpctl"), args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + cfgDir, "MCPCTL_CONFIG=" + filepath.Join(cfgDir, "config.yaml")}, env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("run mcpctl %v: %v", args, err)
		}
		code = ee.ExitCode()
	}
	return result{out.String(), errb.String(), code}
}

// api is a tiny JSON client for assertions on raw answers.
type api struct {
	t     testing.TB
	base  string
	token string
}

func (a api) do(method, path, body string) (int, map[string]any) {
	a.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, a.base+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if a.token != "" {
		req.Header.Set("Authorization", "Bearer "+a.token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	json.Unmarshal(data, &out)
	return resp.StatusCode, out
}

func login(t testing.TB, base string) string {
	t.Helper()
	code, out := api{t: t, base: base}.do("POST", "/api/v1/auth/login",
		fmt.Sprintf(`{"email":%q,"password":%q}`, adminEmail, adminPassword))
	if code != 200 {
		t.Fatalf("login: %d %v", code, out)
	}
	return out["token"].(string)
}

// eventually polls cond every 100ms until it holds or limit passes.
func eventually(t testing.TB, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
