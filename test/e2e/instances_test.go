package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store/storetest"
	"github.com/mcpctl/mcpctl/internal/testbin"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// instanceEnv is mcpd's environment for tests that run instances.
var instanceEnv = []string{"MCPD_INSTANCES=on", "MCPD_RESTART_BACKOFF_BASE=100ms", "MCPD_RESTART_BACKOFF_MAX=1s", "MCPD_RATE_LIMIT=off"}

// instanceEngines starts mcpd with instances on each store engine.
func instanceEngines(t *testing.T, run func(t *testing.T, m *mcpd)) {
	t.Run("sqlite", func(t *testing.T) { run(t, startMcpd(t, "", instanceEnv...)) })
	t.Run("postgres", func(t *testing.T) {
		url := storetest.PostgresURL(t)
		run(t, startMcpd(t, "", append([]string{"MCPD_DATABASE_URL=" + url,
			"MCPD_SECRET_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}, instanceEnv...)...))
	})
}

// applyJSON applies objects through the API.
func applyJSON(t *testing.T, a api, objs ...map[string]any) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"objects": objs})
	code, out := a.do("POST", "/api/v1/apply", string(body))
	if code != 200 {
		t.Fatalf("apply: %d %v", code, out)
	}
}

func serverObj(name string, spec map[string]any) map[string]any {
	return map[string]any{"apiVersion": "mcpctl/v1", "kind": "Server", "metadata": map[string]any{"name": name}, "spec": spec}
}

// instances lists a server's instances (stopped ones too when all).
func instances(t *testing.T, cfg, server string, all bool) []v1.Instance {
	t.Helper()
	args := []string{"get", "instances", "--server", server, "-o", "json"}
	if all {
		args = append(args, "--all")
	}
	r := mcpctl(t, cfg, "", args...)
	if r.Code != 0 {
		t.Fatalf("get instances: %+v", r)
	}
	var list struct{ Items []v1.Instance }
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatalf("decode %q: %v", r.Stdout, err)
	}
	return list.Items
}

func waitInstances(t *testing.T, cfg, server, what string, cond func([]v1.Instance) bool) []v1.Instance {
	t.Helper()
	var list []v1.Instance
	deadline := time.Now().Add(60 * time.Second)
	for {
		list = instances(t, cfg, server, true)
		if cond(list) {
			return list
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(list, "", "  ")
			t.Fatalf("%s: not within 60s; instances:\n%s", what, b)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func inState(list []v1.Instance, state string) []v1.Instance {
	var out []v1.Instance
	for _, in := range list {
		if in.State == state {
			out = append(out, in)
		}
	}
	return out
}

func running(n int) func([]v1.Instance) bool {
	return func(l []v1.Instance) bool {
		r := inState(l, v1.InstanceRunning)
		if len(r) != n {
			return false
		}
		for _, in := range r {
			if !in.Health.Readiness {
				return false
			}
		}
		return true
	}
}

func replicasOf(t *testing.T, cfg, server string) int {
	t.Helper()
	r := mcpctl(t, cfg, "", "get", "server", server, "-o", "json")
	var o struct{ Spec struct{ Replicas int } }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &o) != nil {
		t.Fatalf("get server: %+v", r)
	}
	return o.Spec.Replicas
}

func TestInstanceLifecycle(t *testing.T) {
	bin := testbin.MCPServer(t)
	instanceEngines(t, func(t *testing.T, m *mcpd) {
		cfg := t.TempDir()
		cliLogin(t, cfg, m.URL)
		a := api{t: t, base: m.URL, token: login(t, m.URL)}
		applyJSON(t, a, serverObj("echo", map[string]any{"command": bin, "args": []string{"-log-every", "100ms"}, "replicas": 1,
			"healthCheck": map[string]any{"interval": "1s"}}))
		first := waitInstances(t, cfg, "echo", "one ready instance", running(1))[0]

		if r := mcpctl(t, cfg, "", "status", first.ID); r.Code != 0 || !regexp.MustCompile(`Ready:\s+true`).MatchString(r.Stdout) {
			t.Errorf("status: %+v", r)
		}
		r := mcpctl(t, cfg, "", "status", first.ID, "-o", "json")
		var st struct {
			State  string
			Health v1.InstanceHealth
		}
		if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil || st.State != v1.InstanceRunning ||
			!st.Health.Liveness || st.Health.AlertThreshold != 3 || st.Health.LastChecked.IsZero() {
			t.Errorf("status -o json: %+v", r)
		}
		code, health := a.do("GET", "/api/v1/instances/"+first.ID+"/health", "")
		for _, k := range []string{"status", "lastChecked", "readiness", "liveness", "consecutiveFailures", "alertThreshold", "uptime"} {
			if _, ok := health[k]; !ok || code != 200 {
				t.Errorf("health answer %d lacks %s: %v", code, k, health)
			}
		}
		eventually(t, 10*time.Second, "instance metrics on /metrics", func() bool {
			resp, err := http.Get(m.URL + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			body := string(b)
			return strings.Contains(body, `mcpd_instance_up{instance="`+first.ID+`",server="echo"} 1`) &&
				strings.Contains(body, `mcpd_instance_ready{instance="`+first.ID+`",server="echo"} 1`) &&
				strings.Contains(body, `mcpd_instance_probe_consecutive_failures{instance="`+first.ID+`",server="echo"} 0`) &&
				strings.Contains(body, `mcpd_instance_probe_duration_seconds_count{outcome="ok",server="echo"}`)
		})
		if r := mcpctl(t, cfg, "", "describe", "instance", first.ID); r.Code != 0 || !strings.Contains(r.Stdout, "Ready") || !strings.Contains(r.Stdout, "Events:") {
			t.Errorf("describe: %+v", r)
		}
		eventually(t, 10*time.Second, "three tick lines", func() bool {
			r := mcpctl(t, cfg, "", "logs", first.ID, "--tail", "3")
			return r.Code == 0 && strings.Count(r.Stdout, "tick ") == 3 && strings.Count(r.Stdout, "\n") == 3
		})
		if r := mcpctl(t, cfg, "", "get", "instances", "-o", "wide"); r.Code != 0 || !strings.Contains(r.Stdout, first.ID) || !strings.Contains(r.Stdout, "running") {
			t.Errorf("get instances -o wide: %+v", r)
		}

		// start: one more, and the server's replicas follow.
		r = mcpctl(t, cfg, "", "start", "echo")
		if r.Code != 0 || !strings.Contains(r.Stdout, "started") {
			t.Fatalf("start: %+v", r)
		}
		list := waitInstances(t, cfg, "echo", "two ready", running(2))
		if n := replicasOf(t, cfg, "echo"); n != 2 {
			t.Errorf("replicas after start = %d", n)
		}
		second := list[0]
		if second.ID == first.ID {
			second = list[1]
		}
		// stop: for good; replicas drop and nothing replaces it.
		if r := mcpctl(t, cfg, "", "stop", second.ID, "--yes", "--drain-timeout", "1s"); r.Code != 0 || !strings.Contains(r.Stdout, "stopped") {
			t.Fatalf("stop: %+v", r)
		}
		if n := replicasOf(t, cfg, "echo"); n != 1 {
			t.Errorf("replicas after stop = %d", n)
		}
		pid, _ := strconv.Atoi(second.RuntimeID)
		if pid > 0 && syscall.Kill(pid, 0) == nil {
			t.Errorf("process %d of the stopped instance still runs", pid)
		}
		time.Sleep(500 * time.Millisecond)
		if l := instances(t, cfg, "echo", false); len(l) != 1 || l[0].ID != first.ID {
			t.Errorf("after stop: %+v", l)
		}
		// restart: same id, a new process.
		r = mcpctl(t, cfg, "", "restart", first.ID, "--drain-timeout", "1s")
		if r.Code != 0 || !strings.Contains(r.Stdout, "1 restarts") {
			t.Fatalf("restart: %+v", r)
		}
		again := waitInstances(t, cfg, "echo", "ready after restart", running(1))
		if again := inState(again, v1.InstanceRunning)[0]; again.ID != first.ID || again.RuntimeID == first.RuntimeID {
			t.Errorf("restart: before %+v after %+v", first, again)
		}
		if resp, err := http.Get(m.URL + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if !strings.Contains(string(b), `mcpd_instance_restarts_total{server="echo"} 1`) {
				t.Errorf("/metrics lacks one restart of echo")
			}
		}
		// scale to zero: everything stops.
		if r := mcpctl(t, cfg, "", "scale", "server", "echo", "--replicas", "0"); r.Code != 0 {
			t.Fatalf("scale: %+v", r)
		}
		waitInstances(t, cfg, "echo", "none active", func(l []v1.Instance) bool { return len(l) == len(inState(l, v1.InstanceStopped)) })
		// mcpd stops cleanly and leaves no process behind.
		m.Signal(syscall.SIGTERM)
		if code := m.Wait(30 * time.Second); code != 0 {
			t.Errorf("mcpd exit %d", code)
		}
	})
}

func TestInstanceBadInputs(t *testing.T) {
	bin := testbin.MCPServer(t)
	m := startMcpd(t, "", instanceEnv...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}

	for _, args := range [][]string{
		{"get", "instance", "../.."}, {"logs", "not-a-uuid"}, {"stop", "--yes", "/etc/passwd"},
		{"status", "0B6F1C9E-4A51-4C1E-9F0E-2D0C8A7B6E15"},
		// a container id is not an instance id
		{"restart", "4f9c1e2d3b4a59687a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f"},
	} {
		if r := mcpctl(t, cfg, "", args...); r.Code != 2 || !strings.Contains(r.Stderr, "is not an instance id") {
			t.Errorf("mcpctl %v: %+v", args, r)
		}
	}
	for _, path := range []string{"/api/v1/instances/..%2F..", "/api/v1/instances/4f9c1e2d3b4a", "/api/v1/instances/x/logs"} {
		if code, out := a.do("GET", path, ""); code != 400 || out["code"] != v1.CodeValidationFailed {
			t.Errorf("GET %s: %d %v", path, code, out)
		}
	}
	unknown := "0b6f1c9e-4a51-4c1e-9f0e-2d0c8a7b6e15"
	if r := mcpctl(t, cfg, "", "describe", "instance", unknown); r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("unknown id: %+v", r)
	}
	if code, out := a.do("DELETE", "/api/v1/instances/"+unknown+"?drainTimeout=soon", ""); code != 400 || !strings.Contains(fmt.Sprint(out), "drainTimeout") {
		t.Errorf("bad drainTimeout: %d %v", code, out)
	}
	if r := mcpctl(t, cfg, "", "scale", "server", "x", "--replicas", "11"); r.Code != 2 {
		t.Errorf("scale 11: %+v", r)
	}
	if r := mcpctl(t, cfg, "", "start", "no-such-server"); r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
		t.Errorf("start of a missing server: %+v", r)
	}

	// A command that does not exist: failed, with the reason, and retried.
	applyJSON(t, a, serverObj("ghost", map[string]any{"command": "mcpctl-no-such-command", "replicas": 1}))
	list := waitInstances(t, cfg, "ghost", "failed", func(l []v1.Instance) bool { return len(l) == 1 && l[0].Restarts >= 1 })
	if !strings.Contains(list[0].Message, "not found in PATH") {
		t.Errorf("ghost message = %q", list[0].Message)
	}
	// A server that exits at once: a crash loop with growing backoff.
	applyJSON(t, a, serverObj("crash", map[string]any{"command": bin, "args": []string{"-exit", "3"}, "replicas": 1}))
	list = waitInstances(t, cfg, "crash", "three restarts", func(l []v1.Instance) bool { return len(l) == 1 && l[0].Restarts >= 3 })
	r := mcpctl(t, cfg, "", "describe", "instance", list[0].ID)
	for _, want := range []string{"BackOff", "starting again in 100ms", "starting again in 200ms", "exited with code 3"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("describe of a crash loop lacks %q:\n%s", want, r.Stdout)
		}
	}
	// A server that ignores SIGTERM is killed after the drain.
	applyJSON(t, a, serverObj("stubborn", map[string]any{"command": bin, "args": []string{"-ignore-sigterm", "-spawn-child"}, "replicas": 1}))
	list = waitInstances(t, cfg, "stubborn", "ready", running(1))
	begin := time.Now()
	if r := mcpctl(t, cfg, "", "stop", list[0].ID, "--yes", "--drain-timeout", "700ms"); r.Code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	if took := time.Since(begin); took < 700*time.Millisecond {
		t.Errorf("stopped in %v, before the drain timeout", took)
	}
	pid, _ := strconv.Atoi(list[0].RuntimeID)
	if n := liveInGroup(pid); n != 0 {
		t.Errorf("process group %d still has %d live members after the stop", pid, n)
	}
}

// liveInGroup counts the processes of a process group that are not
// zombies (a killed grandchild may wait a moment for its reaper).
func liveInGroup(pgid int) int {
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		i := strings.LastIndexByte(string(stat), ')')
		if err != nil || i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:])) // state ppid pgrp ...
		if len(f) > 2 && f[0] != "Z" && f[2] == strconv.Itoa(pgid) {
			n++
		}
	}
	return n
}

// Log lines come out clean whatever the server writes.
func TestLogSanitising(t *testing.T) {
	bin := testbin.MCPServer(t)
	m := startMcpd(t, "", instanceEnv...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	evil := "\x1b[31mred\x1b[0m text\x00nul\rforged {\"ts\":\"2020-01-01T00:00:00Z\",\"stream\":\"stderr\",\"line\":\"fake\"}\n\x1b]0;title\x07bell\n"
	applyJSON(t, a, serverObj("evil", map[string]any{"command": bin, "replicas": 1,
		// NUL cannot travel in an environment variable: the text goes
		// base64-encoded and the server writes it decoded.
		"env": []map[string]any{{"name": "MCPSERVER_LOG_B64", "value": base64.StdEncoding.EncodeToString([]byte(evil))}}}))
	in := waitInstances(t, cfg, "evil", "ready", running(1))[0]
	var lines []v1.LogLine
	eventually(t, 10*time.Second, "the evil lines stored", func() bool {
		resp, err := http.DefaultClient.Do(authGet(a, "/api/v1/instances/"+in.ID+"/logs"))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		lines = nil
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var l v1.LogLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("a log answer line is not JSON: %q", sc.Text())
			}
			lines = append(lines, l)
		}
		return len(lines) >= 3 && resp.Header.Get("Content-Type") == "application/x-ndjson"
	})
	var texts []string
	for _, l := range lines {
		if l.Stream == "stderr" {
			texts = append(texts, l.Line)
		}
	}
	want := []string{"red textnulforged {\"ts\":\"2020-01-01T00:00:00Z\",\"stream\":\"stderr\",\"line\":\"fake\"}", "bell"}
	if len(texts) < 3 || texts[1] != want[0] || texts[2] != want[1] {
		t.Errorf("stored lines = %q, want after the start line %q", texts, want)
	}
	r := mcpctl(t, cfg, "", "logs", in.ID)
	if strings.ContainsAny(r.Stdout, "\x1b\x00\r") || !strings.Contains(r.Stdout, "red textnulforged") {
		t.Errorf("logs output: %q", r.Stdout)
	}
}

func authGet(a api, path string) *http.Request {
	req, _ := http.NewRequest("GET", a.base+path, nil)
	req.Header.Set("Authorization", "Bearer "+a.token)
	return req
}

var tickRE = regexp.MustCompile(`tick (\d{9})`)

// follower runs `mcpctl logs -f` in the background and collects the tick
// numbers it prints.
type follower struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	ticks  []int
	stderr strings.Builder
	done   chan struct{}
}

func follow(t *testing.T, cfg string, args ...string) *follower {
	t.Helper()
	f := &follower{done: make(chan struct{})}
	f.cmd = exec.Command(filepath.Join(binDir, "mcpctl"), append([]string{"logs", "-f"}, args...)...)
	f.cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + cfg, "MCPCTL_CONFIG=" + filepath.Join(cfg, "config.yaml")}
	out, _ := f.cmd.StdoutPipe()
	f.cmd.Stderr = &lockedWriter{mu: &f.mu, b: &f.stderr}
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(f.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := tickRE.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.Atoi(m[1])
				f.mu.Lock()
				f.ticks = append(f.ticks, n)
				f.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { f.cmd.Process.Kill(); f.cmd.Wait() })
	return f
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (f *follower) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ticks)
}

// check asserts the ticks are consecutive: no repeat, no gap.
func (f *follower) check(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := 1; i < len(f.ticks); i++ {
		if f.ticks[i] != f.ticks[i-1]+1 {
			t.Fatalf("tick %d follows tick %d: lines repeated or lost across reconnects; stderr:\n%s", f.ticks[i], f.ticks[i-1], f.stderr.String())
		}
	}
}

// stop sends Ctrl-C and waits for a clean exit.
func (f *follower) stop(t *testing.T) {
	t.Helper()
	f.cmd.Process.Signal(os.Interrupt)
	err := f.cmd.Wait()
	<-f.done
	if err != nil {
		t.Errorf("logs -f after Ctrl-C: %v; stderr:\n%s", err, f.stderr.String())
	}
}

// A proxy that refuses WebSocket upgrades and cuts every connection after
// a moment: logs -f falls back to SSE, reconnects, and loses or repeats
// nothing.
func TestLogsFollowThroughAHostileProxy(t *testing.T) {
	bin := testbin.MCPServer(t)
	m := startMcpd(t, "", instanceEnv...)
	target, _ := url.Parse(m.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	var cuts sync.Map
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			http.Error(w, "upgrades are not allowed here", http.StatusBadRequest)
			return
		}
		if strings.HasSuffix(r.URL.Path, "/logs/stream") {
			ctx, cancel := context.WithTimeout(r.Context(), 700*time.Millisecond)
			defer cancel()
			n, _ := cuts.LoadOrStore("n", new(int))
			*n.(*int)++
			r = r.WithContext(ctx)
		}
		rp.ServeHTTP(w, r)
	}))
	defer proxy.Close()
	cfg := t.TempDir()
	cliLogin(t, cfg, proxy.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	applyJSON(t, a, serverObj("ticker", map[string]any{"command": bin, "args": []string{"-log-every", "50ms"}, "replicas": 1}))
	in := waitInstances(t, cfg, "ticker", "ready", running(1))[0]

	f := follow(t, cfg, in.ID, "--tail", "1")
	eventually(t, 30*time.Second, "60 ticks through the proxy", func() bool { return f.count() >= 60 })
	f.stop(t)
	f.check(t)
	f.mu.Lock()
	stderr := f.stderr.String()
	f.mu.Unlock()
	if !strings.Contains(stderr, "server-sent events") || !strings.Contains(stderr, "reconnecting") {
		t.Errorf("stderr does not tell of the fallback and the reconnects:\n%s", stderr)
	}

	// Directly, over the WebSocket: the follow ends by itself when the
	// instance is stopped for good.
	cfg2 := t.TempDir()
	cliLogin(t, cfg2, m.URL)
	g := follow(t, cfg2, in.ID, "--transport", "websocket")
	eventually(t, 30*time.Second, "20 ticks over the WebSocket", func() bool { return g.count() >= 20 })
	if r := mcpctl(t, cfg2, "", "stop", in.ID, "--yes"); r.Code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	select {
	case <-g.done:
	case <-time.After(15 * time.Second):
		t.Fatal("logs -f did not end after the instance stopped")
	}
	if err := g.cmd.Wait(); err != nil {
		t.Errorf("logs -f exit: %v", err)
	}
	g.check(t)
	if !strings.Contains(g.stderr.String(), "log stream ended") {
		t.Errorf("stderr: %s", g.stderr.String())
	}
}

// A server that writes 100 MB of log: retention holds and mcpd's memory
// stays bounded.
func TestLogFloodIsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("the 100 MB log flood is not short")
	}
	bin := testbin.MCPServer(t)
	m := startMcpd(t, "", append(instanceEnv, "MCPD_LOG_RETENTION=1000")...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	applyJSON(t, a, serverObj("flood", map[string]any{"command": bin, "args": []string{"-log-lines", "1000000", "-line-bytes", "100"}, "replicas": 1}))
	in := waitInstances(t, cfg, "flood", "ready", running(1))[0]
	eventually(t, 120*time.Second, "the flood's end marker", func() bool {
		r := mcpctl(t, cfg, "", "logs", in.ID, "--tail", "5")
		return strings.Contains(r.Stdout, "mcpserver: wrote 1000000 lines")
	})
	resp, err := http.DefaultClient.Do(authGet(a, "/api/v1/instances/"+in.ID+"/logs?limit=10000"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	stored := 0
	for sc.Scan() {
		stored++
	}
	resp.Body.Close()
	if stored > 1100 {
		t.Errorf("%d lines stored, retention is 1000 (+10%% slack)", stored)
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", m.cmd.Process.Pid))
	var hwm int
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm, _ = strconv.Atoi(strings.Fields(v)[0])
		}
	}
	t.Logf("after a 100 MB log: %d lines stored, mcpd peak RSS %d MiB", stored, hwm/1024)
	if hwm == 0 || hwm > 400*1024 {
		t.Errorf("mcpd peak RSS %d KiB after a 100 MB log; want it bounded under 400 MiB", hwm)
	}
}

// A real third-party server from npm, run by the process runtime through
// npx: it runs, its probe (tools/list over MCP) passes, its log is readable.
func TestNpmServerMemory(t *testing.T) {
	if _, err := exec.LookPath("npx"); err != nil {
		storetest.RequireService(t, "npx (Node.js)")
	}
	m := startMcpd(t, "", instanceEnv...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	applyJSON(t, a, serverObj("memory", map[string]any{"command": "npx", "args": []string{"-y", "@modelcontextprotocol/server-memory@2025.11.25"},
		"replicas": 1, "healthCheck": map[string]any{"interval": "2s"}}))
	var in v1.Instance
	deadline := time.Now().Add(4 * time.Minute) // npx downloads the package first
	for {
		list := instances(t, cfg, "memory", true)
		if r := inState(list, v1.InstanceRunning); len(r) == 1 && r[0].Health.Readiness && r[0].Health.LastChecked.After(r[0].ReadyAt) {
			in = r[0]
			break
		}
		if time.Now().After(deadline) {
			b, _ := json.MarshalIndent(list, "", "  ")
			t.Fatalf("server-memory not ready and probed twice within 4 minutes:\n%s", b)
		}
		time.Sleep(time.Second)
	}
	if in.Health.Status != v1.HealthHealthy || in.Health.ConsecutiveFailures != 0 {
		t.Errorf("health: %+v", in.Health)
	}
	if r := mcpctl(t, cfg, "", "status", in.ID); r.Code != 0 {
		t.Errorf("status: %+v", r)
	}
	r := mcpctl(t, cfg, "", "logs", in.ID)
	if r.Code != 0 || !strings.Contains(r.Stdout, "Knowledge Graph MCP Server running on stdio") {
		t.Errorf("logs: %+v", r)
	}
	if r := mcpctl(t, cfg, "", "stop", in.ID, "--yes"); r.Code != 0 {
		t.Errorf("stop: %+v", r)
	}
	pid, _ := strconv.Atoi(in.RuntimeID)
	if n := liveInGroup(pid); n != 0 {
		t.Errorf("%d processes of npx's group left after the stop", n)
	}
}

// Two mcpd replicas on one PostgreSQL: each server is reconciled by one
// of them at a time, and the other takes over when it goes away.
func TestReplicasShareServersThroughLeases(t *testing.T) {
	bin := testbin.MCPServer(t)
	url := storetest.PostgresURL(t)
	env := append([]string{"MCPD_DATABASE_URL=" + url, "MCPD_SECRET_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}, instanceEnv...)
	m1 := startMcpd(t, "", append(env, "MCPD_NODE_NAME=node-one")...)
	m2 := startMcpd(t, "", append(env, "MCPD_NODE_NAME=node-two")...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m1.URL)
	a := api{t: t, base: m1.URL, token: login(t, m1.URL)}
	applyJSON(t, a, serverObj("shared", map[string]any{"command": bin, "replicas": 3}))
	list := waitInstances(t, cfg, "shared", "three ready", running(3))
	node := list[0].Node
	for _, in := range list {
		if in.Node != node {
			t.Fatalf("one server's instances run on two nodes: %+v", list)
		}
	}
	// Give both replicas several passes: still three, all on one node.
	time.Sleep(2 * time.Second)
	if l := instances(t, cfg, "shared", false); len(l) != 3 {
		t.Fatalf("after more passes: %d active instances, want 3: %+v", len(l), l)
	}
	// The holder goes away without releasing (SIGKILL): the other takes
	// over once the lease expires.
	holder, other := m1, m2
	if node == "node-two" {
		holder, other = m2, m1
	}
	holder.Signal(syscall.SIGKILL)
	holder.Wait(10 * time.Second)
	cfg2 := t.TempDir()
	cliLogin(t, cfg2, other.URL)
	moved := waitInstances(t, cfg2, "shared", "three ready on the other node", func(l []v1.Instance) bool {
		if !running(3)(l) {
			return false
		}
		for _, in := range inState(l, v1.InstanceRunning) {
			if in.Node == node {
				return false
			}
		}
		return true
	})
	t.Logf("instances moved from %s to %s", node, moved[0].Node)
	// The killed mcpd's children are its orphans: they are not ours to
	// reap here (another node), but they must not be counted as running.
	for _, in := range moved {
		if in.State == v1.InstanceRunning && in.Node == node {
			t.Errorf("stale instance counted as running: %+v", in)
		}
	}
}
