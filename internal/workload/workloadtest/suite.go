// Package workloadtest is the conformance suite every workload.Runtime
// passes. A runtime's test calls Run with a constructor and a Fixture that
// knows how to run the project's test MCP server (test/mcpserver) on it.
package workloadtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Fixture adapts the suite to one runtime.
type Fixture struct {
	// Spec returns a spec that runs the test MCP server with these
	// command-line flags, over STDIO.
	Spec func(t *testing.T, flags ...string) workload.Spec
	// Missing returns a spec whose command or image does not exist.
	Missing func(t *testing.T) workload.Spec
	// Leftovers counts what the runtime's instances left on the host
	// (processes, containers) for this node: zero when all are stopped.
	Leftovers func(t *testing.T) int
	// Cycles is how many start/stop/restart rounds the leak test runs;
	// zero means 50.
	Cycles int
}

// NewID returns a random instance id (a UUID v4).
func NewID() string { return workload.NewID() }

// Log collects an instance's log lines for assertions.
type Log struct {
	mu    sync.Mutex
	lines []workload.Line
}

// Func is the workload.LogFunc that appends to the log.
func (l *Log) Func(line workload.Line) {
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
}

// Texts returns the lines' texts so far.
func (l *Log) Texts() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.lines))
	for i, ln := range l.lines {
		out[i] = ln.Text
	}
	return out
}

// WaitFor waits until a line contains substr.
func (l *Log) WaitFor(t *testing.T, substr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if slices.ContainsFunc(l.Texts(), func(s string) bool { return strings.Contains(s, substr) }) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no log line contains %q; the log:\n%s", substr, strings.Join(l.Texts(), "\n"))
}

// Run runs the suite.
func Run(t *testing.T, newRuntime func(t *testing.T) workload.Runtime, f Fixture) {
	t.Run("StartConnectStop", func(t *testing.T) { startConnectStop(t, newRuntime(t), f) })
	t.Run("UnknownID", func(t *testing.T) { unknownID(t, newRuntime(t)) })
	t.Run("MissingCommand", func(t *testing.T) { missing(t, newRuntime(t), f) })
	t.Run("ExitsAtOnce", func(t *testing.T) { exitsAtOnce(t, newRuntime(t), f) })
	t.Run("IgnoresSIGTERM", func(t *testing.T) { ignoresTerm(t, newRuntime(t), f) })
	t.Run("Grandchild", func(t *testing.T) { grandchild(t, newRuntime(t), f) })
	t.Run("LogOrder", func(t *testing.T) { logOrder(t, newRuntime(t), f) })
	t.Run("Cycles", func(t *testing.T) { cycles(t, newRuntime(t), f) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Start starts spec and registers a Stop at cleanup.
func Start(t *testing.T, rt workload.Runtime, spec workload.Spec) workload.Status {
	t.Helper()
	st, err := rt.Start(ctxT(t), spec)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		_, _ = rt.Stop(context.Background(), spec.InstanceID, workload.StopOptions{Drain: time.Second})
	})
	return st
}

// Client connects an MCP client to a running instance.
func Client(t *testing.T, rt workload.Runtime, id string) *mcp.ClientSession {
	t.Helper()
	ctx := ctxT(t)
	tr, err := rt.Connect(ctx, id)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	var cs *mcp.ClientSession
	// An HTTP server may take a moment to listen after its container runs.
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, err = mcp.NewClient(&mcp.Implementation{Name: "workloadtest", Version: "1"}, nil).Connect(ctx, tr, nil)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
		if tr, err = rt.Connect(ctx, id); err != nil {
			t.Fatalf("Connect again: %v", err)
		}
	}
	if err != nil {
		t.Fatalf("MCP initialize: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// CallText calls a tool and returns its text output.
func CallText(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) string {
	t.Helper()
	res, err := cs.CallTool(ctxT(t), &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", tool, err)
	}
	if res.IsError || len(res.Content) == 0 {
		t.Fatalf("call %s: error result %+v", tool, res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("call %s: content %T", tool, res.Content[0])
	}
	return tc.Text
}

func startConnectStop(t *testing.T, rt workload.Runtime, f Fixture) {
	t.Setenv("MCPD_SECRET_KEY", "must-not-leak")
	var log Log
	spec := f.Spec(t)
	spec.Env = map[string]string{"MCPCTL_TEST_SECRET": "s3cr3t-value", "PLAIN": "plain"}
	spec.Log = log.Func
	st := Start(t, rt, spec)
	if !st.Running || st.InstanceID != spec.InstanceID || st.RuntimeID == "" {
		t.Fatalf("Start status = %+v", st)
	}
	cs := Client(t, rt, spec.InstanceID)
	tools, err := cs.ListTools(ctxT(t), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range tools.Tools {
		names = append(names, tl.Name)
	}
	if !slices.Contains(names, "echo") {
		t.Fatalf("tools = %v, want echo among them", names)
	}
	if got := CallText(t, cs, "echo", map[string]any{"text": "hi"}); !strings.Contains(got, "hi") {
		t.Errorf("echo = %q", got)
	}
	if got := CallText(t, cs, "env", map[string]any{"name": "MCPCTL_TEST_SECRET"}); !strings.Contains(got, "s3cr3t-value") {
		t.Errorf("env MCPCTL_TEST_SECRET = %q, want the value", got)
	}
	if got := CallText(t, cs, "env", map[string]any{"name": "MCPD_SECRET_KEY"}); got != "" && strings.Contains(got, "must-not-leak") {
		t.Errorf("mcpd's own environment leaked into the instance: %q", got)
	}
	log.WaitFor(t, "mcpserver: started")

	list, err := rt.List(ctxT(t))
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if !slices.ContainsFunc(list, func(s workload.Status) bool { return s.InstanceID == spec.InstanceID && s.Running }) {
		t.Errorf("List = %+v, want the running instance", list)
	}
	if in, err := rt.Inspect(ctxT(t), spec.InstanceID); err != nil || !in.Running {
		t.Errorf("Inspect = %+v, %v; want running", in, err)
	}
	cs.Close()
	fin, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: 5 * time.Second})
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if fin.Running || fin.FinishedAt.IsZero() {
		t.Errorf("Stop status = %+v, want finished", fin)
	}
	if _, err := rt.Inspect(ctxT(t), spec.InstanceID); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Inspect after Stop: %v, want ErrNotFound", err)
	}
	if n := f.Leftovers(t); n != 0 {
		t.Errorf("%d leftovers after Stop", n)
	}
}

func unknownID(t *testing.T, rt workload.Runtime) {
	id := NewID()
	ctx := ctxT(t)
	if _, err := rt.Inspect(ctx, id); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Inspect: %v, want ErrNotFound", err)
	}
	if _, err := rt.Stop(ctx, id, workload.StopOptions{Drain: time.Second}); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Stop: %v, want ErrNotFound", err)
	}
	if _, err := rt.Connect(ctx, id); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Connect: %v, want ErrNotFound", err)
	}
	if _, err := rt.Wait(ctx, id); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Wait: %v, want ErrNotFound", err)
	}
}

func missing(t *testing.T, rt workload.Runtime, f Fixture) {
	spec := f.Missing(t)
	_, err := rt.Start(ctxT(t), spec)
	if err == nil {
		_, _ = rt.Stop(context.Background(), spec.InstanceID, workload.StopOptions{Drain: time.Second})
		t.Fatal("Start of a missing command or image succeeded")
	}
	if _, err := rt.Inspect(ctxT(t), spec.InstanceID); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Inspect after a failed Start: %v, want ErrNotFound", err)
	}
	if n := f.Leftovers(t); n != 0 {
		t.Errorf("%d leftovers after a failed Start", n)
	}
}

func exitsAtOnce(t *testing.T, rt workload.Runtime, f Fixture) {
	var log Log
	spec := f.Spec(t, "-exit", "3")
	spec.Log = log.Func
	Start(t, rt, spec)
	st, err := rt.Wait(ctxT(t), spec.InstanceID)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if st.Running || st.ExitCode != 3 {
		t.Errorf("Wait status = %+v, want exit code 3", st)
	}
	log.WaitFor(t, "exiting with code 3")
	if in, err := rt.Inspect(ctxT(t), spec.InstanceID); err != nil || in.Running || in.ExitCode != 3 {
		t.Errorf("Inspect after exit = %+v, %v", in, err)
	}
	if _, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{}); err != nil {
		t.Errorf("Stop of an exited instance: %v", err)
	}
	if _, err := rt.Inspect(ctxT(t), spec.InstanceID); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Inspect after release: %v, want ErrNotFound", err)
	}
}

func ignoresTerm(t *testing.T, rt workload.Runtime, f Fixture) {
	var log Log
	spec := f.Spec(t, "-ignore-sigterm")
	spec.Log = log.Func
	Start(t, rt, spec)
	log.WaitFor(t, "mcpserver: started")
	drain := 500 * time.Millisecond
	begin := time.Now()
	st, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: drain})
	if err != nil {
		t.Fatalf("Stop: %v", err)
	}
	took := time.Since(begin)
	if st.Running {
		t.Errorf("still running after Stop: %+v", st)
	}
	// The server ignores SIGTERM and the end of stdin: only the kill at
	// the end of the drain stops it.
	if took < drain*9/10 {
		t.Errorf("stopped after %v, before the drain of %v ended; log:\n%s", took, drain, strings.Join(log.Texts(), "\n"))
	}
	if st.ExitCode == 0 {
		t.Errorf("exit code 0 after a kill: %+v", st)
	}
	if n := f.Leftovers(t); n != 0 {
		t.Errorf("%d leftovers after killing a server that ignores SIGTERM", n)
	}
}

func grandchild(t *testing.T, rt workload.Runtime, f Fixture) {
	var log Log
	spec := f.Spec(t, "-spawn-child", "-ignore-sigterm")
	spec.Log = log.Func
	Start(t, rt, spec)
	log.WaitFor(t, "grandchild pid")
	if n := f.Leftovers(t); n < 1 {
		t.Fatalf("Leftovers = %d while running; the count must see the instance", n)
	}
	if _, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: 300 * time.Millisecond}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if n := f.Leftovers(t); n != 0 {
		t.Errorf("%d leftovers after stopping a server with a grandchild", n)
	}
}

func logOrder(t *testing.T, rt workload.Runtime, f Fixture) {
	var log Log
	const n = 2000
	spec := f.Spec(t, "-log-lines", fmt.Sprint(n), "-exit", "0")
	spec.Log = log.Func
	Start(t, rt, spec)
	if _, err := rt.Wait(ctxT(t), spec.InstanceID); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if _, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	var got []string
	for _, s := range log.Texts() {
		if strings.HasPrefix(s, "line ") {
			got = append(got, s[:14])
		}
	}
	if len(got) != n {
		t.Fatalf("got %d numbered lines, want %d", len(got), n)
	}
	for i, s := range got {
		if want := fmt.Sprintf("line %09d", i); s != want {
			t.Fatalf("line %d = %q, want %q", i, s, want)
		}
	}
}

// Counts is what a host holds that a leak would grow.
type Counts struct{ Goroutines, FDs int }

// Count reads the current counts.
func Count() Counts {
	fds, _ := os.ReadDir("/proc/self/fd")
	return Counts{Goroutines: runtime.NumGoroutine(), FDs: len(fds)}
}

// Settle waits until the counts are back to at most base plus slack.
func Settle(base Counts, slack int) Counts {
	var c Counts
	for range 100 {
		c = Count()
		if c.Goroutines <= base.Goroutines+slack && c.FDs <= base.FDs+slack {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	return c
}

func cycles(t *testing.T, rt workload.Runtime, f Fixture) {
	n := f.Cycles
	if n == 0 {
		n = 50
	}
	if testing.Short() {
		n = 5
	}
	// Warm up once so that lazily started goroutines (HTTP transports)
	// are in the baseline.
	warm := f.Spec(t)
	Start(t, rt, warm)
	Client(t, rt, warm.InstanceID).Close()
	if _, err := rt.Stop(ctxT(t), warm.InstanceID, workload.StopOptions{Drain: 2 * time.Second}); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	base := Settle(Count(), 0)
	for i := range n {
		spec := f.Spec(t)
		if _, err := rt.Start(ctxT(t), spec); err != nil {
			t.Fatalf("cycle %d: Start: %v", i, err)
		}
		cs := Client(t, rt, spec.InstanceID)
		CallText(t, cs, "echo", map[string]any{"text": "x"})
		cs.Close()
		// Restart: stop, and start again under the same id.
		if _, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: 2 * time.Second}); err != nil {
			t.Fatalf("cycle %d: Stop: %v", i, err)
		}
		if _, err := rt.Start(ctxT(t), spec); err != nil {
			t.Fatalf("cycle %d: restart: %v", i, err)
		}
		if _, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: 2 * time.Second}); err != nil {
			t.Fatalf("cycle %d: Stop after restart: %v", i, err)
		}
	}
	after := Settle(base, 2)
	if left := f.Leftovers(t); left != 0 {
		t.Errorf("%d leftovers after %d cycles", left, n)
	}
	if after.Goroutines > base.Goroutines+2 || after.FDs > base.FDs+2 {
		t.Errorf("after %d start/stop/restart cycles: %d goroutines (before %d), %d fds (before %d)",
			n, after.Goroutines, base.Goroutines, after.FDs, base.FDs)
	}
	t.Logf("%d cycles: goroutines %d→%d, fds %d→%d", n, base.Goroutines, after.Goroutines, base.FDs, after.FDs)
}
