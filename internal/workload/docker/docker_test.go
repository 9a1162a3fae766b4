package docker_test

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"go.uber.org/goleak"

	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/mcpctl/mcpctl/internal/workload/docker"
	"github.com/mcpctl/mcpctl/internal/workload/workloadtest"
)

// Every runtime and engine client of a test is closed at its cleanup, so
// no idle connection of theirs is left for goleak to find.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func engine(t *testing.T) *client.Client { return testbin.Docker(t) }

func image(t *testing.T, _ *client.Client) string { return testbin.DockerImage(t) }

// newNode returns a node name of its own for a test, and removes whatever
// containers of that node are left at its end.
func newNode(t *testing.T, cli *client.Client) string {
	node := "test-" + workloadtest.NewID()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for _, c := range containers(t, ctx, cli, docker.LabelNode+"="+node) {
			_, _ = cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true})
		}
	})
	return node
}

// containers lists the containers, in any state, with all these labels.
func containers(t *testing.T, ctx context.Context, cli *client.Client, labels ...string) []container.Summary {
	t.Helper()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: client.Filters{}.Add("label", labels...)})
	if err != nil {
		t.Fatalf("list containers: %v", err)
	}
	return res.Items
}

func newRuntime(t *testing.T, cfg docker.Config) *docker.Runtime {
	t.Helper()
	rt, err := docker.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { rt.Close() })
	return rt
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func inspect(t *testing.T, cli *client.Client, cid string) container.InspectResponse {
	t.Helper()
	res, err := cli.ContainerInspect(ctxT(t), cid, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatalf("inspect container %s: %v", cid, err)
	}
	return res.Container
}

func TestConformance(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	node := newNode(t, cli)
	workloadtest.Run(t, func(t *testing.T) workload.Runtime {
		return newRuntime(t, docker.Config{Node: node})
	}, workloadtest.Fixture{
		Spec: func(t *testing.T, flags ...string) workload.Spec {
			return workload.Spec{InstanceID: workloadtest.NewID(), Server: "test", Transport: "stdio", Image: img, Args: flags}
		},
		Missing: func(t *testing.T) workload.Spec {
			return workload.Spec{InstanceID: workloadtest.NewID(), Server: "test", Transport: "stdio",
				Image: "mcpctl-test-no-such-image:" + workloadtest.NewID()[:8]}
		},
		Leftovers: func(t *testing.T) int {
			return len(containers(t, ctxT(t), cli, docker.LabelNode+"="+node))
		},
		Cycles: 50,
	})
}

func TestMissingImageSaysHowToGetIt(t *testing.T) {
	cli := engine(t)
	rt := newRuntime(t, docker.Config{Node: newNode(t, cli)})
	img := "mcpctl-test-no-such-image:v0"
	_, err := rt.Start(ctxT(t), workload.Spec{InstanceID: workloadtest.NewID(), Server: "s", Image: img})
	if err == nil {
		t.Fatal("Start of a missing image succeeded")
	}
	for _, want := range []string{img, "docker pull", "docker load"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

// An HTTP server is reached through a port published on 127.0.0.1 only.
func TestHTTPServer(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	node := newNode(t, cli)
	rt := newRuntime(t, docker.Config{Node: node})
	var log workloadtest.Log
	spec := workload.Spec{InstanceID: workloadtest.NewID(), Server: "web", Transport: "streamable-http",
		Image: img, Port: 8080, Args: []string{"-http", ":8080"}, Log: log.Func}
	st := workloadtest.Start(t, rt, spec)
	cs := workloadtest.Client(t, rt, spec.InstanceID)
	if got := workloadtest.CallText(t, cs, "echo", map[string]any{"text": "over http"}); !strings.Contains(got, "over http") {
		t.Errorf("echo = %q", got)
	}
	log.WaitFor(t, "mcpserver: listening on")

	in := inspect(t, cli, st.RuntimeID)
	port := network.MustParsePort("8080/tcp")
	for what, bindings := range map[string][]network.PortBinding{
		"HostConfig.PortBindings": in.HostConfig.PortBindings[port],
		"NetworkSettings.Ports":   in.NetworkSettings.Ports[port],
	} {
		if len(bindings) == 0 {
			t.Errorf("%s has no binding for %s", what, port)
		}
		for _, b := range bindings {
			if b.HostIP.String() != "127.0.0.1" {
				t.Errorf("%s binds %s on %s, want 127.0.0.1 only", what, port, b.HostIP)
			}
		}
	}
	cs.Close()

	// A new runtime of the node adopts it and finds its endpoint again.
	b := newRuntime(t, docker.Config{Node: node})
	if _, err := b.Adopt(ctxT(t), spec.InstanceID, workload.AdoptOptions{}); err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	cs = workloadtest.Client(t, b, spec.InstanceID)
	if got := workloadtest.CallText(t, cs, "echo", map[string]any{"text": "adopted"}); !strings.Contains(got, "adopted") {
		t.Errorf("echo after Adopt = %q", got)
	}
	cs.Close()
	fin, err := b.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: 5 * time.Second})
	if err != nil || fin.Running {
		t.Fatalf("Stop = %+v, %v", fin, err)
	}
	if n := len(containers(t, ctxT(t), cli, docker.LabelNode+"="+node)); n != 0 {
		t.Errorf("%d containers left after Stop", n)
	}
	if _, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{}); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Stop by the first runtime after the second stopped it: %v, want ErrNotFound", err)
	}
}

// The container carries the labels, limits and security settings the
// package doc promises; the environment is not on the command line.
func TestSecurityAndLimits(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	tests := []struct {
		name     string
		defaults workload.Limits // Config.DefaultLimits
		limits   workload.Limits // Spec.Limits
		want     workload.Limits
	}{
		{name: "built-in defaults", want: workload.Limits{MemoryBytes: 512 << 20, NanoCPUs: 1e9, Pids: 256}},
		{name: "spec limits", limits: workload.Limits{MemoryBytes: 256 << 20, NanoCPUs: 5e8, Pids: 64},
			want: workload.Limits{MemoryBytes: 256 << 20, NanoCPUs: 5e8, Pids: 64}},
		{name: "runtime defaults", defaults: workload.Limits{MemoryBytes: 300 << 20}, limits: workload.Limits{Pids: 32},
			want: workload.Limits{MemoryBytes: 300 << 20, NanoCPUs: 1e9, Pids: 32}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node := newNode(t, cli)
			rt := newRuntime(t, docker.Config{Node: node, DefaultLimits: tt.defaults})
			spec := workload.Spec{InstanceID: workloadtest.NewID(), Server: "sec/ure", Transport: "stdio", Image: img,
				Args: []string{"-log-lines", "1"}, Env: map[string]string{"API_TOKEN": "t0ken-value"}, Limits: tt.limits}
			st := workloadtest.Start(t, rt, spec)
			in := inspect(t, cli, st.RuntimeID)

			wantLabels := map[string]string{
				docker.LabelManaged: "true", docker.LabelInstance: spec.InstanceID,
				docker.LabelServer: spec.Server, docker.LabelNode: node, docker.LabelTransport: "stdio",
			}
			if diff := cmp.Diff(wantLabels, in.Config.Labels); diff != "" {
				t.Errorf("labels (-want +got):\n%s", diff)
			}
			if want := "/mcpctl-sec-ure-" + spec.InstanceID[:8]; in.Name != want {
				t.Errorf("name = %q, want %q", in.Name, want)
			}
			hc := in.HostConfig
			got := workload.Limits{MemoryBytes: hc.Memory, NanoCPUs: hc.NanoCPUs}
			if hc.PidsLimit != nil {
				got.Pids = *hc.PidsLimit
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("limits (-want +got):\n%s", diff)
			}
			if hc.MemorySwap != hc.Memory {
				t.Errorf("MemorySwap = %d, want %d (no swap)", hc.MemorySwap, hc.Memory)
			}
			if !slices.Contains(hc.SecurityOpt, "no-new-privileges") {
				t.Errorf("SecurityOpt = %v, want no-new-privileges", hc.SecurityOpt)
			}
			if diff := cmp.Diff([]string{"ALL"}, hc.CapDrop); diff != "" || len(hc.CapAdd) != 0 {
				t.Errorf("CapDrop = %v, CapAdd = %v; want all dropped, none added", hc.CapDrop, hc.CapAdd)
			}
			if hc.Privileged || hc.AutoRemove || (hc.RestartPolicy.Name != "" && hc.RestartPolicy.Name != "no") {
				t.Errorf("Privileged %v, AutoRemove %v, RestartPolicy %q; want none", hc.Privileged, hc.AutoRemove, hc.RestartPolicy.Name)
			}
			if hc.Init == nil || !*hc.Init {
				t.Errorf("Init = %v, want an init process", hc.Init)
			}
			if !in.Config.OpenStdin || in.Config.StdinOnce || in.Config.Tty {
				t.Errorf("OpenStdin %v, StdinOnce %v, Tty %v; want stdin open for attaches, no TTY",
					in.Config.OpenStdin, in.Config.StdinOnce, in.Config.Tty)
			}
			if !slices.Contains(in.Config.Env, "API_TOKEN=t0ken-value") {
				t.Errorf("Env = %v, want API_TOKEN", in.Config.Env)
			}
			if diff := cmp.Diff(spec.Args, in.Args); diff != "" {
				t.Errorf("the command's arguments (-want +got):\n%s", diff)
			}
			if cmdline := strings.Join(append([]string{in.Path}, in.Args...), " "); strings.Contains(cmdline, "t0ken") {
				t.Errorf("the environment is on the command line: %s", cmdline)
			}
		})
	}
}

// Containers without mcpctl's labels, or of another node, are invisible
// to the runtime, whatever their name.
func TestForeignContainersAreNeverTouched(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	node := newNode(t, cli)
	rt := newRuntime(t, docker.Config{Node: node})
	ctx := ctxT(t)

	unlabelled := workloadtest.NewID()
	otherNode := workloadtest.NewID()
	foreign := map[string]string{} // instance id → container id
	for _, f := range []struct {
		id, name string
		labels   map[string]string
	}{
		// Named as the runtime would name instance unlabelled of server "test".
		{unlabelled, "mcpctl-test-" + unlabelled[:8], nil},
		{otherNode, "mcpctl-foreign-" + otherNode[:8], map[string]string{
			docker.LabelManaged: "true", docker.LabelInstance: otherNode, docker.LabelServer: "test",
			docker.LabelNode: "other-" + node,
		}},
	} {
		res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name:   f.name,
			Config: &container.Config{Image: img, OpenStdin: true, Labels: f.labels},
		})
		if err != nil {
			t.Fatalf("create a foreign container: %v", err)
		}
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), res.ID, client.ContainerRemoveOptions{Force: true})
		})
		if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("start a foreign container: %v", err)
		}
		foreign[f.id] = res.ID
	}

	list, err := rt.List(ctx)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(list) != 0 {
		t.Errorf("List = %+v, want none of the foreign containers", list)
	}
	for id := range foreign {
		if _, err := rt.Inspect(ctx, id); !errors.Is(err, workload.ErrNotFound) {
			t.Errorf("Inspect(%s): %v, want ErrNotFound", id, err)
		}
		if _, err := rt.Stop(ctx, id, workload.StopOptions{Drain: time.Second}); !errors.Is(err, workload.ErrNotFound) {
			t.Errorf("Stop(%s): %v, want ErrNotFound", id, err)
		}
		if _, err := rt.Connect(ctx, id); !errors.Is(err, workload.ErrNotFound) {
			t.Errorf("Connect(%s): %v, want ErrNotFound", id, err)
		}
		if _, err := rt.Wait(ctx, id); !errors.Is(err, workload.ErrNotFound) {
			t.Errorf("Wait(%s): %v, want ErrNotFound", id, err)
		}
		if _, err := rt.Adopt(ctx, id, workload.AdoptOptions{}); !errors.Is(err, workload.ErrNotFound) {
			t.Errorf("Adopt(%s): %v, want ErrNotFound", id, err)
		}
	}
	// Starting the instance whose name the unlabelled container has fails,
	// and the failed Start does not clean up someone else's container.
	if _, err := rt.Start(ctx, workload.Spec{InstanceID: unlabelled, Server: "test", Image: img}); err == nil {
		_, _ = rt.Stop(ctx, unlabelled, workload.StopOptions{Drain: time.Second})
		t.Error("Start under the name of a foreign container succeeded")
	}
	for id, cid := range foreign {
		if in := inspect(t, cli, cid); in.State == nil || !in.State.Running {
			t.Errorf("foreign container of %s is no longer running: %+v", id, in.State)
		}
	}
}

// lines collects log lines with their times and streams.
type lines struct {
	mu sync.Mutex
	l  []workload.Line
}

func (l *lines) Func(line workload.Line) {
	l.mu.Lock()
	l.l = append(l.l, line)
	l.mu.Unlock()
}

func (l *lines) all() []workload.Line {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.l)
}

func (l *lines) waitFor(t *testing.T, text string) workload.Line {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, ln := range l.all() {
			if strings.HasPrefix(ln.Text, text) {
				return ln
			}
		}
	}
	t.Fatalf("no log line starts with %q; the log: %+v", text, l.all())
	return workload.Line{}
}

// After an mcpd restart, a new Runtime of the node lists the container,
// adopts it, follows its log from Since, connects, and stops it.
func TestAdopt(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	node := newNode(t, cli)
	ctx := ctxT(t)

	a := newRuntime(t, docker.Config{Node: node})
	var logA lines
	spec := workload.Spec{InstanceID: workloadtest.NewID(), Server: "adopted", Transport: "stdio", Image: img,
		Args: []string{"-log-lines", "3"}, Log: logA.Func}
	if _, err := a.Start(ctx, spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		// A still tracks the instance B stopped: its Stop releases what it
		// holds, and finds the container gone or stops it.
		if _, err := a.Stop(context.Background(), spec.InstanceID, workload.StopOptions{Drain: time.Second}); err != nil &&
			!errors.Is(err, workload.ErrNotFound) {
			t.Errorf("A's Stop after B's: %v, want success or ErrNotFound", err)
		}
	})
	logA.waitFor(t, "line 000000002")
	since := logA.waitFor(t, "line 000000001").Time

	b := newRuntime(t, docker.Config{Node: node})
	list, err := b.List(ctx)
	if err != nil {
		t.Fatalf("B.List: %v", err)
	}
	if !slices.ContainsFunc(list, func(s workload.Status) bool {
		return s.InstanceID == spec.InstanceID && s.Server == spec.Server && s.Running
	}) {
		t.Fatalf("B.List = %+v, want the running instance", list)
	}
	if _, err := b.Connect(ctx, spec.InstanceID); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("B.Connect before Adopt: %v, want ErrNotFound", err)
	}
	var logB lines
	st, err := b.Adopt(ctx, spec.InstanceID, workload.AdoptOptions{Log: logB.Func, Since: since})
	if err != nil {
		t.Fatalf("B.Adopt: %v", err)
	}
	if !st.Running || st.InstanceID != spec.InstanceID || st.RuntimeID == "" {
		t.Errorf("B.Adopt status = %+v", st)
	}
	if _, err := b.Adopt(ctx, spec.InstanceID, workload.AdoptOptions{}); err == nil {
		t.Error("a second B.Adopt succeeded")
	}
	logB.waitFor(t, "line 000000002")
	var got []string
	for _, ln := range logB.all() {
		got = append(got, ln.Text[:min(len(ln.Text), 14)])
	}
	if diff := cmp.Diff([]string{"line 000000001", "line 000000002"}, got); diff != "" {
		t.Errorf("B's log from Since (-want +got):\n%s", diff)
	}

	cs := workloadtest.Client(t, b, spec.InstanceID)
	if got := workloadtest.CallText(t, cs, "echo", map[string]any{"text": "adopted"}); !strings.Contains(got, "adopted") {
		t.Errorf("echo = %q", got)
	}
	if _, err := b.Connect(ctx, spec.InstanceID); !errors.Is(err, workload.ErrBusy) {
		t.Errorf("a second B.Connect: %v, want ErrBusy", err)
	}
	cs.Close()
	// stdout of a STDIO server is MCP: it is not in the log.
	for _, ln := range append(logA.all(), logB.all()...) {
		if strings.Contains(ln.Text, "jsonrpc") || ln.Stream != workload.Stderr {
			t.Errorf("log line %+v, want stderr only and no MCP", ln)
		}
	}
	fin, err := b.Stop(ctx, spec.InstanceID, workload.StopOptions{Drain: 5 * time.Second})
	if err != nil || fin.Running {
		t.Fatalf("B.Stop = %+v, %v", fin, err)
	}
	if n := len(containers(t, ctx, cli, docker.LabelNode+"="+node)); n != 0 {
		t.Errorf("%d containers left after B.Stop", n)
	}
}

// An mcpd that exits leaves its containers running (Close); the next one
// finds them and can stop one without adopting it. An exited container
// cannot be adopted.
func TestOrphans(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	node := newNode(t, cli)
	ctx := ctxT(t)

	a := newRuntime(t, docker.Config{Node: node})
	var log workloadtest.Log
	running := workload.Spec{InstanceID: workloadtest.NewID(), Server: "orphan", Transport: "stdio", Image: img, Log: log.Func}
	exited := workload.Spec{InstanceID: workloadtest.NewID(), Server: "orphan", Transport: "stdio", Image: img,
		Args: []string{"-exit", "7"}, Log: log.Func}
	for _, spec := range []workload.Spec{running, exited} {
		if _, err := a.Start(ctx, spec); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	if _, err := a.Wait(ctx, exited.InstanceID); err != nil {
		t.Fatalf("Wait: %v", err)
	}
	if _, err := a.Connect(ctx, exited.InstanceID); !errors.Is(err, workload.ErrNotRunning) {
		t.Errorf("Connect to an exited instance: %v, want ErrNotRunning", err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := a.Wait(short, running.InstanceID); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Wait for a running instance with a short ctx: %v, want DeadlineExceeded", err)
	}
	if err := a.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b := newRuntime(t, docker.Config{Node: node})
	if st, err := b.Inspect(ctx, running.InstanceID); err != nil || !st.Running {
		t.Errorf("B.Inspect of the running orphan = %+v, %v", st, err)
	}
	if st, err := b.Inspect(ctx, exited.InstanceID); err != nil || st.Running || st.ExitCode != 7 {
		t.Errorf("B.Inspect of the exited orphan = %+v, %v; want exit code 7", st, err)
	}
	if _, err := b.Adopt(ctx, exited.InstanceID, workload.AdoptOptions{}); !errors.Is(err, workload.ErrNotRunning) {
		t.Errorf("B.Adopt of an exited container: %v, want ErrNotRunning", err)
	}
	for _, spec := range []workload.Spec{running, exited} {
		st, err := b.Stop(ctx, spec.InstanceID, workload.StopOptions{Drain: 5 * time.Second})
		if err != nil || st.Running || st.FinishedAt.IsZero() {
			t.Errorf("B.Stop of an orphan = %+v, %v", st, err)
		}
	}
	if n := len(containers(t, ctx, cli, docker.LabelNode+"="+node)); n != 0 {
		t.Errorf("%d containers left after stopping the orphans", n)
	}
}

// Stops of one instance at once all end with its final status, and with
// a Stop whose ctx has already ended the container is still removed.
func TestConcurrentStops(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	node := newNode(t, cli)
	rt := newRuntime(t, docker.Config{Node: node})
	spec := workload.Spec{InstanceID: workloadtest.NewID(), Server: "twice", Transport: "stdio", Image: img}
	if _, err := rt.Start(ctxT(t), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if _, err := rt.Start(ctxT(t), spec); err == nil {
		t.Error("a second Start of a running instance succeeded")
	}
	var wg sync.WaitGroup
	results := make([]workload.Status, 3)
	errs := make([]error, 3)
	for i := range results {
		wg.Go(func() {
			results[i], errs[i] = rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: 2 * time.Second})
		})
	}
	wg.Wait()
	for i := range results {
		if errs[i] != nil || results[i].Running || results[i].FinishedAt.IsZero() {
			t.Errorf("Stop %d = %+v, %v", i, results[i], errs[i])
		}
	}

	spec.InstanceID = workloadtest.NewID()
	if _, err := rt.Start(ctxT(t), spec); err != nil {
		t.Fatalf("Start: %v", err)
	}
	done, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := rt.Stop(done, spec.InstanceID, workload.StopOptions{}); err != nil {
		t.Logf("Stop with an ended ctx: %v", err)
	}
	if n := len(containers(t, ctxT(t), cli, docker.LabelNode+"="+node)); n != 0 {
		t.Errorf("%d containers left after the Stops", n)
	}
	if _, err := rt.Inspect(ctxT(t), spec.InstanceID); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Inspect after Stop: %v, want ErrNotFound", err)
	}
}

// A Start whose ctx ends, at whatever step, leaves no container behind.
func TestStartCancelled(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	node := newNode(t, cli)
	rt := newRuntime(t, docker.Config{Node: node})
	for _, d := range []time.Duration{0, time.Millisecond, 5 * time.Millisecond, 20 * time.Millisecond,
		50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond, 2 * time.Second} {
		ctx, cancel := context.WithTimeout(t.Context(), d)
		spec := workload.Spec{InstanceID: workloadtest.NewID(), Server: "cancel", Transport: "stdio", Image: img}
		_, err := rt.Start(ctx, spec)
		cancel()
		t.Logf("Start with a ctx of %v: %v", d, err)
		if err == nil {
			if _, err := rt.Stop(ctxT(t), spec.InstanceID, workload.StopOptions{Drain: time.Second}); err != nil {
				t.Errorf("Stop: %v", err)
			}
		} else if _, err := rt.Inspect(ctxT(t), spec.InstanceID); !errors.Is(err, workload.ErrNotFound) {
			t.Errorf("after a Start cancelled at %v: Inspect: %v, want ErrNotFound", d, err)
		}
		if n := len(containers(t, ctxT(t), cli, docker.LabelNode+"="+node)); n != 0 {
			t.Errorf("%d containers left after a Start with a ctx of %v (err %v)", n, d, err)
		}
	}
}

// An engine that cannot be reached is ErrUnavailable, named in the error,
// never ErrNotFound. No engine is needed for this test.
func TestEngineUnavailable(t *testing.T) {
	refused := filepath.Join(t.TempDir(), "refused.sock")
	ln, err := net.Listen("unix", refused)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close() // the socket file stays; connections to it are refused

	for _, tt := range []struct{ name, host string }{
		{"no socket", "unix:///tmp/no-such-docker.sock"},
		{"refused socket", "unix://" + refused},
		{"refused tcp", "tcp://127.0.0.1:1"},
	} {
		host := tt.host
		t.Run(tt.name, func(t *testing.T) {
			rt := newRuntime(t, docker.Config{Node: "n", Host: host})
			ctx := ctxT(t)
			id := workloadtest.NewID()
			check := func(op string, err error) {
				t.Helper()
				if !errors.Is(err, workload.ErrUnavailable) {
					t.Errorf("%s: %v, want ErrUnavailable", op, err)
				} else if !strings.Contains(err.Error(), host) {
					t.Errorf("%s: %q does not name the engine %s", op, err, host)
				}
			}
			_, err := rt.Start(ctx, workload.Spec{InstanceID: id, Server: "s", Transport: "stdio", Image: "some-image"})
			check("Start", err)
			_, err = rt.List(ctx)
			check("List", err)
			_, err = rt.Inspect(ctx, id)
			check("Inspect", err)
			_, err = rt.Stop(ctx, id, workload.StopOptions{})
			check("Stop", err)
			_, err = rt.Adopt(ctx, id, workload.AdoptOptions{})
			check("Adopt", err)
		})
	}
}

func TestNewNeedsANode(t *testing.T) {
	if _, err := docker.New(docker.Config{}); err == nil {
		t.Error("New without a node succeeded")
	}
	if _, err := docker.New(docker.Config{Node: "n", DefaultLimits: workload.Limits{Pids: -1}}); err == nil {
		t.Error("New with negative default limits succeeded")
	}
	rt, err := docker.New(docker.Config{Node: "n"})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if rt.Name() != "docker" || !workload.Detachable(rt) {
		t.Errorf("Name %q, Detachable %v", rt.Name(), workload.Detachable(rt))
	}
}

// Instances join a network on which they cannot reach each other: one
// server cannot call another's HTTP endpoint.
func TestInstancesCannotReachEachOther(t *testing.T) {
	cli := engine(t)
	img := image(t, cli)
	rt := newRuntime(t, docker.Config{Node: newNode(t, cli)})
	httpSpec := workload.Spec{InstanceID: workloadtest.NewID(), Server: "web", Transport: "streamable-http", Port: 8080,
		Image: img, Args: []string{"-http", ":8080"}}
	st := workloadtest.Start(t, rt, httpSpec)
	nw, err := cli.NetworkInspect(ctxT(t), docker.DefaultNetwork, client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if nw.Network.Options["com.docker.network.bridge.enable_icc"] != "false" {
		t.Errorf("network options %v: inter-container traffic is on", nw.Network.Options)
	}
	in := inspect(t, cli, st.RuntimeID)
	ep, ok := in.NetworkSettings.Networks[docker.DefaultNetwork]
	if !ok || !ep.IPAddress.IsValid() {
		t.Fatalf("the container is not on %s: %v", docker.DefaultNetwork, in.NetworkSettings.Networks)
	}
	// A second instance tries a TCP connection to the first one's
	// endpoint (the test server's dial tool).
	probe := workload.Spec{InstanceID: workloadtest.NewID(), Server: "probe", Image: img, Transport: "stdio"}
	workloadtest.Start(t, rt, probe)
	cs := workloadtest.Client(t, rt, probe.InstanceID)
	got := workloadtest.CallText(t, cs, "dial", map[string]any{"addr": net.JoinHostPort(ep.IPAddress.String(), "8080")})
	if strings.Contains(got, `"connected"`) || !strings.Contains(got, "dial tcp") {
		t.Errorf("a second instance reached the first one's endpoint: %s", got)
	}
	t.Logf("dial from the second instance: %s", got)
}
