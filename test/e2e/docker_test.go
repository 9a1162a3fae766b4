package e2e

import (
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/mcpctl/mcpctl/internal/workload/docker"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/moby/moby/client"
)

// containersOf lists the containers labelled with one instance id.
func containersOf(t *testing.T, cli *client.Client, id string) []string {
	t.Helper()
	res, err := cli.ContainerList(t.Context(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", docker.LabelInstance+"="+id)})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range res.Items {
		out = append(out, c.ID+" "+string(c.State))
	}
	return out
}

// Instances of an image run on the docker runtime, STDIO and HTTP; mcpd
// leaves them running when it stops, and the next mcpd adopts them.
func TestDockerInstances(t *testing.T) {
	cli := testbin.Docker(t)
	img := testbin.DockerImage(t)
	dataDir := t.TempDir()
	m := startMcpd(t, dataDir, instanceEnv...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	applyJSON(t, a,
		serverObj("dstdio", map[string]any{"image": img, "args": []string{"-log-every", "200ms"}, "replicas": 1,
			"resources": map[string]any{"memory": "64Mi", "pids": 64}, "healthCheck": map[string]any{"interval": "1s"}}),
		serverObj("dhttp", map[string]any{"image": img, "transport": "streamable-http", "port": 8080, "args": []string{"-http", ":8080"},
			"replicas": 1, "healthCheck": map[string]any{"interval": "1s"}}))
	st := waitInstances(t, cfg, "dstdio", "the STDIO container ready", running(1))[0]
	ht := waitInstances(t, cfg, "dhttp", "the HTTP container ready", running(1))[0]
	for _, in := range []v1.Instance{st, ht} {
		if in.Runtime != "docker" || len(in.RuntimeID) < 12 {
			t.Errorf("instance %s: runtime %q id %q", in.Server, in.Runtime, in.RuntimeID)
		}
		if c := containersOf(t, cli, in.ID); len(c) != 1 || !strings.HasSuffix(c[0], "running") {
			t.Errorf("containers of %s: %v", in.ID, c)
		}
	}
	insp, err := cli.ContainerInspect(t.Context(), st.RuntimeID, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if hc := insp.Container.HostConfig; hc.Memory != 64<<20 || hc.PidsLimit == nil || *hc.PidsLimit != 64 || !slices.Contains(hc.SecurityOpt, "no-new-privileges") {
		t.Errorf("limits of the STDIO container: memory %d pids %v security %v", hc.Memory, hc.PidsLimit, hc.SecurityOpt)
	}
	eventually(t, 20*time.Second, "the container's log", func() bool {
		r := mcpctl(t, cfg, "", "logs", st.ID)
		return strings.Contains(r.Stdout, "mcpserver: started") && strings.Contains(r.Stdout, "tick ")
	})

	// mcpd stops: the containers keep running; the next mcpd adopts them.
	m.Signal(syscall.SIGTERM)
	if code := m.Wait(60 * time.Second); code != 0 {
		t.Fatalf("mcpd exit %d", code)
	}
	for _, in := range []v1.Instance{st, ht} {
		if c := containersOf(t, cli, in.ID); len(c) != 1 || !strings.HasSuffix(c[0], "running") {
			t.Errorf("after mcpd stopped, containers of %s: %v", in.Server, c)
		}
	}
	m2 := startMcpd(t, dataDir, instanceEnv...)
	cfg2 := t.TempDir()
	cliLogin(t, cfg2, m2.URL)
	for _, in := range []v1.Instance{st, ht} {
		list := waitInstances(t, cfg2, in.Server, "adopted and ready", func(l []v1.Instance) bool {
			return running(1)(l) && slices.ContainsFunc(l[0].Events, func(e v1.InstanceEvent) bool { return e.Reason == "Adopted" })
		})
		if got := list[0]; got.ID != in.ID || got.RuntimeID != in.RuntimeID || got.Restarts != 0 {
			t.Errorf("adopted %s: before %+v\nafter %+v", in.Server, in, got)
		}
	}
	// Stopping removes the container.
	if r := mcpctl(t, cfg2, "", "stop", st.ID, "--yes", "--drain-timeout", "2s"); r.Code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	if c := containersOf(t, cli, st.ID); len(c) != 0 {
		t.Errorf("containers left after stop: %v", c)
	}
	if r := mcpctl(t, cfg2, "", "scale", "server", "dhttp", "--replicas", "0"); r.Code != 0 {
		t.Fatalf("scale: %+v", r)
	}
	eventually(t, 30*time.Second, "the HTTP container removed", func() bool { return len(containersOf(t, cli, ht.ID)) == 0 })
}

// socketProxy forwards a unix socket to the Docker engine's while on: the
// engine "goes away" and "comes back" for mcpd without touching dockerd.
type socketProxy struct {
	path, target string
	mu           sync.Mutex
	ln           net.Listener
}

func (p *socketProxy) on(t *testing.T) {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("unix", p.target)
				if err != nil {
					return
				}
				defer u.Close()
				go io.Copy(u, c)
				io.Copy(c, u)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
}

// Docker unavailable: instances fail with a clear message, mcpd stays up,
// and they start when the engine answers again.
func TestDockerUnavailableThenBack(t *testing.T) {
	cli := testbin.Docker(t)
	img := testbin.DockerImage(t)
	sock := filepath.Join(t.TempDir(), "docker.sock")
	proxy := &socketProxy{path: sock, target: strings.TrimPrefix(cli.DaemonHost(), "unix://")}
	m := startMcpd(t, "", append(instanceEnv, "DOCKER_HOST=unix://"+sock)...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	applyJSON(t, a, serverObj("later", map[string]any{"image": img, "replicas": 1}))
	list := waitInstances(t, cfg, "later", "failed for want of Docker", func(l []v1.Instance) bool {
		return len(l) == 1 && l[0].State == v1.InstanceFailed && l[0].Restarts >= 1
	})
	if msg := list[0].Message; !strings.Contains(msg, "docker runtime is unavailable") || !strings.Contains(msg, sock) {
		t.Errorf("message = %q, want it to say the docker runtime is unavailable at %s", msg, sock)
	}
	if code, _ := (api{t: t, base: m.URL}).do("GET", "/healthz", ""); code != 200 {
		t.Errorf("healthz %d while Docker is away", code)
	}
	proxy.on(t)
	in := waitInstances(t, cfg, "later", "running once Docker answers", running(1))[0]
	if r := mcpctl(t, cfg, "", "stop", in.ID, "--yes", "--drain-timeout", "1s"); r.Code != 0 {
		t.Fatalf("stop: %+v", r)
	}
	if c := containersOf(t, cli, in.ID); len(c) != 0 {
		t.Errorf("containers left: %v", c)
	}
}
