package instance_test

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/instance"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/mcpctl/mcpctl/internal/workload/process"
	"github.com/mcpctl/mcpctl/internal/workload/workloadtest"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

type env struct {
	st   store.Store
	keys *secret.Keyring
	node string
	bin  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	keys, err := secret.NewKeyring([][]byte{secret.GenerateKey()})
	if err != nil {
		t.Fatal(err)
	}
	return &env{st: openStore(t), keys: keys, node: "node-" + workloadtest.NewID()[:8], bin: testbin.MCPServer(t)}
}

// manager starts a manager with quick timings; it stops at cleanup (or
// when the returned cancel is called).
func (e *env) manager(t *testing.T) (*instance.Manager, context.CancelFunc) {
	t.Helper()
	rt, err := process.New(process.Config{Node: e.node})
	if err != nil {
		t.Fatal(err)
	}
	m, err := instance.New(instance.Config{Node: e.node, Resync: 100 * time.Millisecond,
		BackoffBase: 100 * time.Millisecond, BackoffMax: 400 * time.Millisecond, Drain: time.Second, StartTimeout: 20 * time.Second},
		instance.Deps{Store: e.st, Runtimes: map[string]workload.Runtime{"process": rt}, Secrets: e.keys})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); m.Run(ctx) }()
	stop := func() { cancel(); <-done }
	t.Cleanup(stop)
	return m, stop
}

func (e *env) put(t *testing.T, kind, name string, spec any) {
	t.Helper()
	putResource(t, e.st, kind, name, spec)
}

// putResource creates or replaces one resource with spec as its JSON.
func putResource(t *testing.T, st store.Store, kind, name string, spec any) {
	t.Helper()
	raw, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	err = st.UpdateResources(t.Context(), func(tx store.ResourceTx) error {
		key := store.ResourceKey{Kind: kind, Name: name}
		old, err := tx.Get(key)
		if err == nil {
			old.Spec = raw
			return tx.Update(&old)
		}
		return tx.Create(&store.Resource{ResourceKey: key, Spec: raw})
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (e *env) server(t *testing.T, name string, replicas int, args ...string) {
	e.put(t, "Server", name, v1.ServerSpec{Command: e.bin, Args: args, Replicas: &replicas,
		HealthCheck: &v1.HealthCheck{Interval: "1s", Timeout: "1s"}})
}

func (e *env) instances(t *testing.T, server string) []v1.Instance {
	t.Helper()
	list, err := e.st.ListInstances(context.Background(), store.InstanceFilter{Server: server})
	if err != nil {
		t.Fatal(err)
	}
	return list
}

// waitFor polls until cond holds for the server's instances.
func (e *env) waitFor(t *testing.T, server, what string, cond func([]v1.Instance) bool) []v1.Instance {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var list []v1.Instance
	for time.Now().Before(deadline) {
		if list = e.instances(t, server); cond(list) {
			return list
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := json.MarshalIndent(list, "", "  ")
	t.Fatalf("timed out waiting for %s; instances:\n%s", what, b)
	return nil
}

func count(list []v1.Instance, state string) int {
	n := 0
	for _, in := range list {
		if in.State == state {
			n++
		}
	}
	return n
}

func TestReplicasRunHealthyAndLog(t *testing.T) {
	e := newEnv(t)
	m, _ := e.manager(t)
	e.server(t, "echo", 2)
	list := e.waitFor(t, "echo", "2 running", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 2 })
	for _, in := range list {
		h := in.Health
		if !h.Readiness || !h.Liveness || h.Status != v1.HealthHealthy || h.AlertThreshold != 3 || in.ReadyAt.IsZero() || in.Node != e.node {
			t.Errorf("instance %s: %+v", in.ID, in)
		}
		if cs := m.Session(in.ID); cs == nil {
			t.Errorf("no session for %s", in.ID)
		} else if _, err := cs.ListTools(t.Context(), nil); err != nil {
			t.Errorf("tools/list through the manager's session: %v", err)
		}
	}
	// The log holds the server's stderr and mcpd's notes, numbered from 1.
	id := list[0].ID
	deadline := time.Now().Add(10 * time.Second)
	var lines []v1.LogLine
	for time.Now().Before(deadline) {
		lines, _ = e.st.ReadLogs(t.Context(), store.LogQuery{InstanceID: id})
		if slices.ContainsFunc(lines, func(l v1.LogLine) bool { return strings.Contains(l.Line, "mcpserver: started") }) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lines) == 0 || lines[0].Seq != 1 {
		t.Fatalf("log = %+v", lines)
	}
	if !slices.ContainsFunc(lines, func(l v1.LogLine) bool { return l.Stream == "stderr" && strings.Contains(l.Line, "mcpserver: started") }) {
		t.Errorf("no stderr line from the server in %+v", lines)
	}
	// Scale to zero: both stop, nothing left running.
	e.server(t, "echo", 0)
	e.waitFor(t, "echo", "all stopped", func(l []v1.Instance) bool { return count(l, v1.InstanceStopped) == 2 })
}

func TestCrashLoopBacksOff(t *testing.T) {
	e := newEnv(t)
	e.manager(t)
	e.server(t, "crash", 1, "-exit", "7")
	list := e.waitFor(t, "crash", "three restarts", func(l []v1.Instance) bool { return len(l) == 1 && l[0].Restarts >= 3 })
	in := list[0]
	if in.ExitCode == nil && in.State == v1.InstanceFailed {
		t.Errorf("failed without an exit code: %+v", in)
	}
	var backoffs []string
	for _, ev := range in.Events {
		if ev.Reason == "BackOff" {
			backoffs = append(backoffs, ev.Message)
		}
	}
	if len(backoffs) < 3 || !strings.Contains(backoffs[0], "100ms") || !strings.Contains(backoffs[1], "200ms") || !strings.Contains(backoffs[2], "400ms") {
		t.Errorf("backoff events = %q, want 100ms, 200ms, 400ms", backoffs)
	}
	if !slices.ContainsFunc(in.Events, func(ev v1.InstanceEvent) bool { return ev.Reason == "Exited" && strings.Contains(ev.Message, "code 7") }) {
		t.Errorf("no Exited event with code 7: %+v", in.Events)
	}
}

func TestStopAndRestartThroughTheManager(t *testing.T) {
	e := newEnv(t)
	m, _ := e.manager(t)
	e.server(t, "s", 1, "-ignore-sigterm")
	list := e.waitFor(t, "s", "running", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 1 })
	id := list[0].ID

	in, err := m.Restart(t.Context(), id, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != id || in.Restarts != 1 {
		t.Errorf("after restart: %+v", in)
	}
	e.waitFor(t, "s", "running again", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 1 && l[0].ID == id })

	dropped := ""
	in, err = m.Stop(t.Context(), id, 200*time.Millisecond, func(_ context.Context, server string) error {
		dropped = server
		e.server(t, "s", 0, "-ignore-sigterm")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if dropped != "s" || in.State != v1.InstanceStopped || in.StoppedAt.IsZero() {
		t.Errorf("after stop (dropped %q): %+v", dropped, in)
	}
	time.Sleep(300 * time.Millisecond) // a reconcile pass or two
	if l := e.instances(t, "s"); len(l) != 1 || l[0].State != v1.InstanceStopped {
		t.Errorf("the stopped instance was replaced: %+v", l)
	}
}

func TestRestartOfMcpdRestartsInstancesInPlace(t *testing.T) {
	e := newEnv(t)
	_, stop := e.manager(t)
	e.server(t, "s", 1)
	first := e.waitFor(t, "s", "running", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 1 })
	stop()
	after := e.instances(t, "s")
	if len(after) != 1 || after[0].State != v1.InstancePending {
		t.Fatalf("after mcpd stopped: %+v", after)
	}
	e.manager(t)
	again := e.waitFor(t, "s", "running again", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 1 })
	if again[0].ID != first[0].ID || again[0].RuntimeID == first[0].RuntimeID {
		t.Errorf("before %+v\nafter %+v", first[0], again[0])
	}
}

func TestSecretsReachTheServerAsEnvironment(t *testing.T) {
	e := newEnv(t)
	m, _ := e.manager(t)
	sealed, err := e.keys.SealData("gh", map[string]*string{"token": new("ghp_value")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.put(t, "Secret", "gh", secret.Sealed{Data: sealed})
	one := 1
	e.put(t, "Server", "s", v1.ServerSpec{Command: e.bin, Replicas: &one,
		Env: []v1.EnvVar{{Name: "GITHUB_TOKEN", SecretRef: &v1.SecretKeyRef{Name: "gh", Key: "token"}}}})
	list := e.waitFor(t, "s", "running", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 1 })
	res, err := m.Session(list[0].ID).CallTool(t.Context(), &mcp.CallToolParams{Name: "env", Arguments: map[string]any{"name": "GITHUB_TOKEN"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Content[0].(*mcp.TextContent).Text; !strings.Contains(got, "ghp_value") {
		t.Errorf("GITHUB_TOKEN = %q", got)
	}
}

func TestMissingSecretKeyFailsWithAClearMessage(t *testing.T) {
	e := newEnv(t)
	e.manager(t)
	one := 1
	e.put(t, "Server", "s", v1.ServerSpec{Command: e.bin, Replicas: &one,
		Env: []v1.EnvVar{{Name: "TOKEN", SecretRef: &v1.SecretKeyRef{Name: "absent", Key: "k"}}}})
	list := e.waitFor(t, "s", "failed", func(l []v1.Instance) bool { return count(l, v1.InstanceFailed) == 1 })
	if !strings.Contains(list[0].Message, `secret "absent" does not exist`) {
		t.Errorf("message = %q", list[0].Message)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A server whose probe keeps timing out becomes unhealthy and restarts.
func TestFailingProbeRestartsTheInstance(t *testing.T) {
	e := newEnv(t)
	e.manager(t)
	one := 1
	e.put(t, "Server", "slow", v1.ServerSpec{Command: e.bin, Replicas: &one,
		HealthCheck: &v1.HealthCheck{Tool: "sleep", Arguments: map[string]any{"millis": 5000}, Interval: "1s", Timeout: "1s", FailureThreshold: 2}})
	list := e.waitFor(t, "slow", "a restart", func(l []v1.Instance) bool { return len(l) == 1 && l[0].Restarts >= 1 })
	in := list[0]
	if !slices.ContainsFunc(in.Events, func(ev v1.InstanceEvent) bool {
		return ev.Reason == "Unhealthy" && strings.Contains(ev.Message, "2 health probes failed in a row") && strings.Contains(ev.Message, "probe timeout")
	}) {
		t.Errorf("no Unhealthy event: %+v", in.Events)
	}
}

// A change of replicas or health check leaves running instances alone; a
// change of what runs (args, env) replaces them.
func TestSpecChangesRestartOnlyWhenTheyMatter(t *testing.T) {
	e := newEnv(t)
	e.manager(t)
	e.server(t, "s", 1)
	first := e.waitFor(t, "s", "running", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 1 })[0]
	e.server(t, "s", 2)
	e.waitFor(t, "s", "2 running", func(l []v1.Instance) bool { return count(l, v1.InstanceRunning) == 2 })
	if in, _ := e.st.GetInstance(t.Context(), first.ID); in.Restarts != 0 || in.RuntimeID != first.RuntimeID {
		t.Errorf("scaling up restarted the first instance: %+v", in)
	}
	e.server(t, "s", 2, "-log-lines", "1")
	e.waitFor(t, "s", "both restarted", func(l []v1.Instance) bool {
		return count(l, v1.InstanceRunning) == 2 && l[0].Restarts == 1 && l[1].Restarts == 1
	})
}
