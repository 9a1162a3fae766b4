package instance_test

import (
	"context"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/instance"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/mcpctl/mcpctl/internal/workload/process"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func openStore(t *testing.T) store.Store {
	st, err := store.Open(t.Context(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "m.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func put(t *testing.T, st store.Store, name string, spec v1.ServerSpec) {
	putResource(t, st, "Server", name, spec)
}

func startMgr(t *testing.T, st store.Store, node string, rts map[string]workload.Runtime) func() {
	keys, _ := secret.NewKeyring([][]byte{secret.GenerateKey()})
	m, err := instance.New(instance.Config{Node: node, Resync: 100 * time.Millisecond, LeaseTTL: time.Second,
		BackoffBase: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond, Drain: time.Second, StartTimeout: 20 * time.Second},
		instance.Deps{Store: st, Runtimes: rts, Secrets: keys})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return stop
}

func waitRunning(t *testing.T, st store.Store, server string, notID string) v1.Instance {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		list, _ := st.ListInstances(context.Background(), store.InstanceFilter{Server: server, Active: true})
		for _, in := range list {
			if in.State == v1.InstanceRunning && in.RuntimeID != notID {
				return in
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("no running instance")
	return v1.Instance{}
}

func alive(pid string) bool {
	n, _ := strconv.Atoi(pid)
	return syscall.Kill(n, 0) == nil
}

// Changing a server's runtime restarts its instances; the old instance is
// stopped through the runtime it ran on, not the new one.
func TestRuntimeChangeLeaksOldInstance(t *testing.T) {
	st := openStore(t)
	bin := testbin.MCPServer(t)
	// "process" stands for any runtime other than the new one (docker):
	// its own instances are invisible to the other runtime.
	a, _ := process.New(process.Config{Node: "other-backend"})
	b, _ := process.New(process.Config{Node: "n1"})
	startMgr(t, st, "n1", map[string]workload.Runtime{"process": a, "alt": b})
	one := 1
	spec := v1.ServerSpec{Command: bin, Args: []string{"-ignore-sigterm"}, Replicas: &one, Runtime: "process", HealthCheck: &v1.HealthCheck{Interval: "1s", Timeout: "1s"}}
	put(t, st, "s", spec)
	first := waitRunning(t, st, "s", "")
	t.Logf("running on process runtime, pid %s", first.RuntimeID)
	spec.Runtime = "alt"
	put(t, st, "s", spec)
	second := waitRunning(t, st, "s", first.RuntimeID)
	time.Sleep(2 * time.Second)
	t.Logf("restarted on alt runtime, pid %s; old pid %s alive: %v", second.RuntimeID, first.RuntimeID, alive(first.RuntimeID))
	if alive(first.RuntimeID) {
		t.Errorf("old instance process %s still running after the runtime change", first.RuntimeID)
		n, _ := strconv.Atoi(first.RuntimeID)
		_ = syscall.Kill(-n, syscall.SIGKILL)
	}
}

// detachable makes a process runtime behave like docker at shutdown.
type detachable struct{ *process.Runtime }

func (detachable) Detachable() bool { return true }

// Two replicas: A shuts down gracefully and leaves a detachable instance
// running; B takes the server over (after A's lease expires) and starts a
// new instance; when A is back, it stops the instance no record owns.
func TestHandOverAfterGracefulShutdownLeaksDetached(t *testing.T) {
	st := openStore(t)
	bin := testbin.MCPServer(t)
	ra, _ := process.New(process.Config{Node: "a"})
	rb, _ := process.New(process.Config{Node: "b"})
	// Registered first, so it runs last: what the managers left running
	// at their shutdown (detachable) is stopped, pipes and all.
	t.Cleanup(func() {
		for _, rt := range []*process.Runtime{ra, rb} {
			list, _ := rt.List(context.Background())
			for _, st := range list {
				_, _ = rt.Stop(context.Background(), st.InstanceID, workload.StopOptions{Drain: time.Millisecond})
			}
		}
	})
	stopA := startMgr(t, st, "a", map[string]workload.Runtime{"process": detachable{ra}})
	one := 1
	put(t, st, "s", v1.ServerSpec{Command: bin, Args: []string{"-ignore-sigterm"}, Replicas: &one, HealthCheck: &v1.HealthCheck{Interval: "1s", Timeout: "1s"}})
	first := waitRunning(t, st, "s", "")
	stopA() // graceful: leases released, detachable instance left for adoption
	startMgr(t, st, "b", map[string]workload.Runtime{"process": detachable{rb}})
	second := waitRunning(t, st, "s", first.RuntimeID)
	t.Logf("B runs %s (pid %s, node %s)", second.ID, second.RuntimeID, second.Node)
	// A comes back.
	startMgr(t, st, "a", map[string]workload.Runtime{"process": detachable{ra}})
	time.Sleep(3 * time.Second)
	list, _ := st.ListInstances(context.Background(), store.InstanceFilter{Server: "s"})
	t.Logf("records: %d; A's old pid %s alive: %v", len(list), first.RuntimeID, alive(first.RuntimeID))
	if alive(first.RuntimeID) {
		t.Errorf("A's detached instance (pid %s) still runs, with no record owning it", first.RuntimeID)
	}
	n, _ := strconv.Atoi(first.RuntimeID)
	_ = syscall.Kill(-n, syscall.SIGKILL)
}

func TestSpecChangeCountsRestartsPerPass(t *testing.T) {
	st := openStore(t)
	bin := testbin.MCPServer(t)
	rt, _ := process.New(process.Config{Node: "a"})
	startMgr(t, st, "a", map[string]workload.Runtime{"process": rt}) // Resync 100ms, Drain 1s
	one := 1
	spec := v1.ServerSpec{Command: bin, Args: []string{"-ignore-sigterm"}, Replicas: &one, HealthCheck: &v1.HealthCheck{Interval: "1s", Timeout: "1s"}}
	put(t, st, "s", spec)
	first := waitRunning(t, st, "s", "")
	spec.Args = append(spec.Args, "-log-lines", "1")
	put(t, st, "s", spec)
	waitRunning(t, st, "s", first.RuntimeID)
	time.Sleep(time.Second)
	list, _ := st.ListInstances(context.Background(), store.InstanceFilter{Server: "s"})
	n := 0
	for _, ev := range list[0].Events {
		if ev.Reason == "Restarting" {
			n++
		}
	}
	t.Logf("one spec change: restarts=%d, Restarting events=%d", list[0].Restarts, n)
	if list[0].Restarts != 1 {
		t.Errorf("one spec change counted %d restarts", list[0].Restarts)
	}
}

// A stop asked on replica B marks X stopping; A's runner, still starting
// X, must not undo that (and A must not scale down another instance).
func TestStopOnOtherReplicaOverwritten(t *testing.T) {
	st := openStore(t)
	bin := testbin.MCPServer(t)
	ra, _ := process.New(process.Config{Node: "a"})
	keys, _ := secret.NewKeyring([][]byte{secret.GenerateKey()})
	two := 2
	put(t, st, "s", v1.ServerSpec{Command: bin, Replicas: &two,
		HealthCheck: &v1.HealthCheck{Interval: "10s", Timeout: "10s", Tool: "sleep", Arguments: map[string]any{"millis": 2000}}})
	ma, _ := instance.New(instance.Config{Node: "a", Resync: 4 * time.Second, Drain: time.Second},
		instance.Deps{Store: st, Runtimes: map[string]workload.Runtime{"process": ra}, Secrets: keys})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ma.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var list []v1.Instance
	for i := 0; i < 100; i++ {
		list, _ = st.ListInstances(t.Context(), store.InstanceFilter{Server: "s", Active: true})
		if len(list) == 2 && list[0].State == v1.InstanceStarting && list[1].State == v1.InstanceStarting {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	x := list[0]
	if list[1].CreatedAt.Before(x.CreatedAt) {
		x = list[1]
	}
	rb, _ := process.New(process.Config{Node: "b"})
	mb, _ := instance.New(instance.Config{Node: "b"}, instance.Deps{Store: st, Runtimes: map[string]workload.Runtime{"process": rb}, Secrets: keys})
	out, err := mb.Stop(t.Context(), x.ID, 0, func(ctx context.Context, server string) error {
		one := 1
		put(t, st, "s", v1.ServerSpec{Command: bin, Replicas: &one,
			HealthCheck: &v1.HealthCheck{Interval: "10s", Timeout: "10s", Tool: "sleep", Arguments: map[string]any{"millis": 2000}}})
		return nil
	})
	t.Logf("stop via B: state %s err %v", out.State, err)
	time.Sleep(7 * time.Second)
	list, _ = st.ListInstances(t.Context(), store.InstanceFilter{Server: "s"})
	for _, in := range list {
		t.Logf("%s stoppedByUser=%v state=%s msg=%q", in.ID[:8], in.ID == x.ID, in.State, in.Message)
		if in.ID == x.ID && in.State != v1.InstanceStopped && in.State != v1.InstanceStopping {
			t.Errorf("instance %s, stopped through B, is %s", x.ID, in.State)
		}
	}
}

// A follower ends at "no new lines and the state is stopped": every line,
// the stop note included, is stored before the state says stopped.
func TestStoppedBeforeLastLines(t *testing.T) {
	st := openStore(t)
	bin := testbin.MCPServer(t)
	rt, _ := process.New(process.Config{Node: "a"})
	keys, _ := secret.NewKeyring([][]byte{secret.GenerateKey()})
	m, _ := instance.New(instance.Config{Node: "a", Resync: time.Hour, Drain: time.Second},
		instance.Deps{Store: st, Runtimes: map[string]workload.Runtime{"process": rt}, Secrets: keys})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	defer func() { cancel(); <-done }()
	missed := 0
	for i := 0; i < 5; i++ {
		zero := 0
		put(t, st, "s", v1.ServerSpec{Command: bin, Replicas: &zero, HealthCheck: &v1.HealthCheck{Interval: "1s", Timeout: "1s"}})
		in, err := m.Start(t.Context(), "s", func(context.Context) (string, error) { return "process", nil })
		if err != nil {
			t.Fatal(err)
		}
		waitRunning(t, st, "s", "")
		// A follower's view right when the record says stopped.
		stopped := make(chan []v1.LogLine, 1)
		go func() {
			for {
				x, _ := st.GetInstance(context.Background(), in.ID)
				if x.State == v1.InstanceStopped {
					lines, _ := st.ReadLogs(context.Background(), store.LogQuery{InstanceID: in.ID})
					stopped <- lines
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		if _, err := m.Stop(t.Context(), in.ID, 0, func(context.Context, string) error { return nil }); err != nil {
			t.Fatal(err)
		}
		seen := <-stopped
		has := false
		for _, l := range seen {
			has = has || strings.HasPrefix(l.Line, "mcpd: stopped")
		}
		time.Sleep(500 * time.Millisecond)
		all, _ := st.ReadLogs(context.Background(), store.LogQuery{InstanceID: in.ID})
		t.Logf("run %d: lines when state=stopped: %d, finally: %d, stop note seen: %v", i, len(seen), len(all), has)
		if !has {
			missed++
		}
	}
	if missed > 0 {
		t.Errorf("%d of 5 stops: state was stopped before the stop note (and last lines) were stored", missed)
	}
}
