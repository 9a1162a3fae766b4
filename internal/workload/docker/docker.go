// Package docker runs server instances as containers of a Docker Engine,
// through its API (github.com/moby/moby/client).
//
// # Ownership
//
// Every container it creates carries the labels mcpctl.managed=true,
// mcpctl.instance=<instance id>, mcpctl.server=<server> and
// mcpctl.node=<node> (plus mcpctl.transport, mcpctl.port and mcpctl.path,
// so that a later mcpd can connect to an adopted instance). The runtime
// finds a container only through a label filter on managed, instance and
// node, and checks the labels again on what the engine returns: it never
// acts on a container id or name a caller gave it, so it cannot stop,
// inspect or read the logs of a container someone else runs on the same
// engine, nor one of another mcpd node. A name alone proves nothing: a
// foreign container that happens to have the name the runtime would choose
// makes Start fail and is left alone.
//
// # Isolation
//
// Containers run with no-new-privileges (setuid binaries cannot gain
// privileges), with every Linux capability dropped, and with an init
// process (docker-init) as PID 1 that forwards SIGTERM and reaps the
// zombies that npx- and uvx-style servers leave; a server that is PID 1
// itself would ignore SIGTERM and make every stop wait out the drain.
// Memory (swap included: MemorySwap equals Memory), CPU and the number of
// processes are bounded by the spec's limits or the runtime's defaults
// (512 MiB, one CPU, 256 processes), which also bounds a fork bomb. The
// environment (literal values and resolved secrets) is passed as the
// container's environment, never on its command line; note that anyone
// who can reach the engine can read it with docker inspect, as they can do
// everything else on the host.
//
// # Transports
//
// A STDIO server (stdin open, no TTY) is reached through the engine's
// attach endpoint: Connect attaches to stdin and stdout, and stdout is
// demultiplexed from the engine's framing. StdinOnce is off, so closing an
// attach does not close the server's stdin and a new mcpd can attach again
// after adopting the container; the other side of that choice is that Stop
// cannot signal the end of stdin, only SIGTERM. An HTTP server publishes
// its port on 127.0.0.1 only, on a port the engine picks: it is not
// reachable from other hosts.
//
// # Lifecycle
//
// Start creates and starts the container; the image must already be on the
// engine (the runtime never pulls: a pull can be slow, need credentials
// and would hold up the reconciler), and a missing image is an error that
// says how to get it. Logs are followed from the engine's log driver with
// timestamps: stderr for a STDIO server (stdout is MCP), both streams for
// an HTTP server. The log driver records a STDIO server's stdout too, MCP
// traffic included: containers use the json-file driver capped at 10 MB,
// and the file is removed with the container. Stop is SIGTERM,
// the drain (rounded up to whole seconds, the engine's unit), SIGKILL,
// then removal: no container is auto-removed and none has a restart
// policy, because mcpd reads the exit status and does the restarting.
// Exit codes are the engine's: 128+N for a container killed by signal N.
// Containers outlive mcpd (Detachable): a new mcpd on the same node lists
// them and adopts them, or stops them.
//
// An engine that cannot be reached makes calls fail with errors that wrap
// workload.ErrUnavailable and name the engine's address; New itself never
// contacts the engine.
package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Name is the runtime's name in ServerSpec.Runtime.
const Name = "docker"

// Labels on every container the runtime creates.
const (
	// LabelManaged is "true" on every container of mcpctl.
	LabelManaged = "mcpctl.managed"
	// LabelInstance holds the instance id.
	LabelInstance = "mcpctl.instance"
	// LabelServer holds the name of the instance's server.
	LabelServer = "mcpctl.server"
	// LabelNode holds the node of the mcpd that started the container.
	LabelNode = "mcpctl.node"
	// LabelTransport holds the spec's transport, for Connect after Adopt.
	LabelTransport = "mcpctl.transport"
	// LabelPort holds the container port of an HTTP server.
	LabelPort = "mcpctl.port"
	// LabelPath holds the HTTP path of an HTTP server's MCP endpoint.
	LabelPath = "mcpctl.path"
)

// Defaults for the zero fields of Config.DefaultLimits.
const (
	DefaultMemoryBytes = 512 << 20
	DefaultNanoCPUs    = 1_000_000_000
	DefaultPids        = 256
)

// Transports, as workload.Spec spells them.
const (
	transportStdio      = "stdio"
	transportStreamable = "streamable-http"
	transportSSE        = "sse"
)

const (
	// cleanupTimeout bounds what Start and Stop do after their ctx has
	// ended to leave nothing behind.
	cleanupTimeout = 30 * time.Second
	// logDrainTimeout bounds how long Stop waits for the log follower to
	// reach the end of the log of a stopped container.
	logDrainTimeout = 10 * time.Second
)

// Config configures the runtime.
type Config struct {
	// Node marks this mcpd's containers; List, Adopt and Stop see only
	// containers with the same mark. Required.
	Node string
	// Host is the engine's address (unix:///var/run/docker.sock,
	// tcp://host:2376); empty means DOCKER_HOST or the platform default.
	// DOCKER_TLS_VERIFY and DOCKER_CERT_PATH apply as for the docker CLI.
	Host string
	// DefaultLimits apply to specs whose limits are zero; their own zero
	// fields mean DefaultMemoryBytes, DefaultNanoCPUs and DefaultPids.
	DefaultLimits workload.Limits
	// Network is the bridge network instances join; empty means
	// DefaultNetwork. Start creates it when missing, with inter-container
	// traffic off.
	Network string
}

// DefaultNetwork is the network instances join: a bridge on which they
// reach the outside (npm, APIs) but not each other, so that one server
// cannot call another's HTTP endpoint (and the secrets behind it).
const DefaultNetwork = "mcpctl"

// iccOption is the bridge driver's switch for inter-container traffic.
const iccOption = "com.docker.network.bridge.enable_icc"

// Runtime runs instances as Docker containers. It is safe for concurrent
// use.
type Runtime struct {
	cfg  Config
	cli  *client.Client
	host string // the engine's address, for messages

	mu    sync.Mutex
	insts map[string]*instance
	// netOK is set once the network is known to be right.
	netOK bool
}

var _ workload.Runtime = (*Runtime)(nil)

// ensureNetwork creates the instances' network when it is missing, and
// refuses one of that name that lets containers talk to each other.
func (r *Runtime) ensureNetwork(ctx context.Context) error {
	r.mu.Lock()
	ok := r.netOK
	r.mu.Unlock()
	if ok {
		return nil
	}
	name := r.cfg.Network
	res, err := r.cli.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	switch {
	case cerrdefs.IsNotFound(err):
		_, err = r.cli.NetworkCreate(ctx, name, client.NetworkCreateOptions{Driver: "bridge",
			Options: map[string]string{iccOption: "false"}, Labels: map[string]string{LabelManaged: "true"}})
		if err != nil && !cerrdefs.IsConflict(err) {
			return fmt.Errorf("create the docker network %s: %w", name, r.engineErr(err))
		}
	case err != nil:
		return fmt.Errorf("inspect the docker network %s: %w", name, r.engineErr(err))
	case res.Network.Options[iccOption] != "false":
		return fmt.Errorf("the docker network %s exists but lets containers reach each other (%s is not false); "+
			"remove it (docker network rm %s) and mcpd creates it isolated", name, iccOption, name)
	}
	r.mu.Lock()
	r.netOK = true
	r.mu.Unlock()
	return nil
}

// New returns a Docker runtime. It does not contact the engine: an engine
// that is down makes the calls fail (with workload.ErrUnavailable), not New.
func New(cfg Config) (*Runtime, error) {
	if cfg.Node == "" {
		return nil, errors.New("docker runtime: a node name is required")
	}
	if err := checkLimits(cfg.DefaultLimits); err != nil {
		return nil, fmt.Errorf("docker runtime: default limits: %w", err)
	}
	if cfg.Network == "" {
		cfg.Network = DefaultNetwork
	}
	if cfg.DefaultLimits.MemoryBytes == 0 {
		cfg.DefaultLimits.MemoryBytes = DefaultMemoryBytes
	}
	if cfg.DefaultLimits.NanoCPUs == 0 {
		cfg.DefaultLimits.NanoCPUs = DefaultNanoCPUs
	}
	if cfg.DefaultLimits.Pids == 0 {
		cfg.DefaultLimits.Pids = DefaultPids
	}
	opts := []client.Opt{client.FromEnv}
	if cfg.Host != "" {
		opts = append(opts, client.WithHost(cfg.Host))
	}
	cli, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker runtime: engine address %q: %w", cfg.Host, err)
	}
	return &Runtime{cfg: cfg, cli: cli, host: cli.DaemonHost(), insts: map[string]*instance{}}, nil
}

// instance is one tracked container.
type instance struct {
	id        string
	server    string
	transport string
	port      int
	path      string
	cid       string       // container id
	hostPort  string       // the published port of an HTTP server
	httpc     *http.Client // the client of an HTTP server's transports

	quit       chan struct{} // closed when the instance is released: the log follower stops resuming
	quitOnce   sync.Once
	cancelLogs context.CancelFunc
	logsDone   chan struct{} // closed when the log follower has finished

	// Guarded by Runtime.mu.
	connected bool          // a STDIO connection was handed out
	attach    *attachConn   // that connection, closed on release
	stopping  chan struct{} // non-nil once Stop began; closed when it ended
	final     workload.Status
	finalErr  error
}

// Name implements workload.Runtime.
func (r *Runtime) Name() string { return Name }

// Detachable reports that containers outlive their mcpd (see
// workload.Detachable).
func (r *Runtime) Detachable() bool { return true }

// Close releases the runtime: it stops following logs, closes MCP
// connections and the engine client. Containers keep running, to be adopted
// by the next mcpd of the node.
func (r *Runtime) Close() error {
	r.mu.Lock()
	insts := slices.Collect(maps.Values(r.insts))
	clear(r.insts)
	r.mu.Unlock()
	for _, inst := range insts {
		r.release(inst)
	}
	return r.cli.Close()
}

// Start implements workload.Runtime.
func (r *Runtime) Start(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	transport, path, err := checkSpec(spec)
	if err != nil {
		return workload.Status{}, err
	}
	if err := ctx.Err(); err != nil {
		return workload.Status{}, err
	}
	r.mu.Lock()
	_, dup := r.insts[spec.InstanceID]
	r.mu.Unlock()
	if dup {
		return workload.Status{}, fmt.Errorf("start docker instance %s: it exists already; stop it first", spec.InstanceID)
	}

	// The engine calls run under a context of their own: a create or
	// start that the engine finishes after the caller gave up would leave
	// a container behind. ctx is checked between them instead.
	eng, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if err := r.ensureNetwork(eng); err != nil {
		return workload.Status{}, fmt.Errorf("start docker instance %s: %w", spec.InstanceID, err)
	}
	opts := r.createOptions(spec, transport, path)
	created, err := r.cli.ContainerCreate(eng, opts)
	if cerrdefs.IsNotFound(err) {
		return workload.Status{}, fmt.Errorf("start docker instance %s: image %q is not on the docker engine at %s; "+
			"get it with \"docker pull %s\" (or \"docker load\" from an archive) and start again: %w",
			spec.InstanceID, spec.Image, r.host, spec.Image, err)
	}
	if cerrdefs.IsConflict(err) {
		return workload.Status{}, fmt.Errorf("start docker instance %s: a container named %s already exists "+
			"(left by an earlier run? adopt or stop it): %w", spec.InstanceID, opts.Name, err)
	}
	if err != nil {
		return workload.Status{}, fmt.Errorf("start docker instance %s: create container: %w", spec.InstanceID, r.engineErr(err))
	}
	fail := func(what string, err error) (workload.Status, error) {
		r.remove(eng, created.ID)
		return workload.Status{}, fmt.Errorf("start docker instance %s: %s: %w", spec.InstanceID, what, r.engineErr(err))
	}
	if err := ctx.Err(); err != nil {
		return fail("create container", err)
	}
	if _, err := r.cli.ContainerStart(eng, created.ID, client.ContainerStartOptions{}); err != nil {
		return fail("start container", err)
	}
	in, err := r.cli.ContainerInspect(eng, created.ID, client.ContainerInspectOptions{})
	if err != nil {
		return fail("inspect container", err)
	}
	if err := ctx.Err(); err != nil {
		return fail("start container", err)
	}
	inst := r.newInstance(spec.InstanceID, spec.Server, transport, spec.Port, path, in.Container)
	if inst.httpc != nil && inst.hostPort == "" && in.Container.State != nil && in.Container.State.Running {
		return fail("publish port", fmt.Errorf("the engine published no host port for %d/tcp", spec.Port))
	}
	r.followLogs(inst, spec.Log, time.Time{})
	r.mu.Lock()
	_, dup = r.insts[spec.InstanceID]
	if !dup {
		r.insts[spec.InstanceID] = inst
	}
	r.mu.Unlock()
	if dup {
		r.release(inst)
		return fail("track container", errors.New("the instance was started twice at once"))
	}
	return statusOf(in.Container), nil
}

// checkSpec validates what Start needs and returns the transport and the
// HTTP path with their defaults.
func checkSpec(spec workload.Spec) (transport, path string, err error) {
	if spec.InstanceID == "" {
		return "", "", errors.New("docker runtime: the spec has no instance id")
	}
	if spec.Image == "" {
		return "", "", fmt.Errorf("docker instance %s: the spec has no image", spec.InstanceID)
	}
	if err := checkLimits(spec.Limits); err != nil {
		return "", "", fmt.Errorf("docker instance %s: %w", spec.InstanceID, err)
	}
	for k := range spec.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return "", "", fmt.Errorf("docker instance %s: invalid environment variable name %q", spec.InstanceID, k)
		}
	}
	transport = spec.Transport
	switch transport {
	case "", transportStdio:
		return transportStdio, "", nil
	case transportStreamable, transportSSE:
	default:
		return "", "", fmt.Errorf("docker instance %s: unknown transport %q (want stdio, streamable-http or sse)", spec.InstanceID, spec.Transport)
	}
	if spec.Port < 1 || spec.Port > 65535 {
		return "", "", fmt.Errorf("docker instance %s: transport %s needs the container port the server listens on, got %d",
			spec.InstanceID, transport, spec.Port)
	}
	path = spec.Path
	switch {
	case path == "" && transport == transportSSE:
		path = "/sse"
	case path == "":
		path = "/mcp"
	case !strings.HasPrefix(path, "/"):
		path = "/" + path
	}
	return transport, path, nil
}

func checkLimits(l workload.Limits) error {
	if l.MemoryBytes < 0 || l.NanoCPUs < 0 || l.Pids < 0 {
		return fmt.Errorf("limits must not be negative: %+v", l)
	}
	return nil
}

// createOptions builds the container: labels, environment, limits and
// the security settings the package doc explains.
func (r *Runtime) createOptions(spec workload.Spec, transport, path string) client.ContainerCreateOptions {
	labels := map[string]string{
		LabelManaged:   "true",
		LabelInstance:  spec.InstanceID,
		LabelServer:    spec.Server,
		LabelNode:      r.cfg.Node,
		LabelTransport: transport,
	}
	env := make([]string, 0, len(spec.Env))
	for _, k := range slices.Sorted(maps.Keys(spec.Env)) {
		env = append(env, k+"="+spec.Env[k])
	}
	lim := r.limits(spec.Limits)
	withInit := true // docker-init as PID 1
	cfg := &container.Config{
		Image:  spec.Image,
		Cmd:    spec.Args,
		Env:    env,
		Labels: labels,
	}
	host := &container.HostConfig{
		Init: &withInit,
		// The log driver records a STDIO server's stdout too (MCP
		// traffic): json-file, bounded, goes with the container.
		LogConfig:   container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "1"}},
		NetworkMode: container.NetworkMode(r.cfg.Network),
		SecurityOpt: []string{"no-new-privileges"},
		CapDrop:     []string{"ALL"},
		Resources: container.Resources{
			Memory:     lim.MemoryBytes,
			MemorySwap: lim.MemoryBytes,
			NanoCPUs:   lim.NanoCPUs,
			PidsLimit:  &lim.Pids,
		},
	}
	if transport == transportStdio {
		cfg.OpenStdin = true
		cfg.StdinOnce = false
		cfg.AttachStdin = true
		cfg.AttachStdout = true
	} else {
		port, _ := network.PortFrom(uint16(spec.Port), network.TCP)
		cfg.ExposedPorts = network.PortSet{port: {}}
		host.PortBindings = network.PortMap{port: {{HostIP: netip.MustParseAddr("127.0.0.1")}}}
		labels[LabelPort] = strconv.Itoa(spec.Port)
		labels[LabelPath] = path
	}
	return client.ContainerCreateOptions{
		Name:       containerName(spec.Server, spec.InstanceID),
		Config:     cfg,
		HostConfig: host,
	}
}

// limits fills the zero fields of l with the runtime's defaults.
func (r *Runtime) limits(l workload.Limits) workload.Limits {
	d := r.cfg.DefaultLimits
	if l.MemoryBytes == 0 {
		l.MemoryBytes = d.MemoryBytes
	}
	if l.NanoCPUs == 0 {
		l.NanoCPUs = d.NanoCPUs
	}
	if l.Pids == 0 {
		l.Pids = d.Pids
	}
	return l
}

// containerName is mcpctl-<server>-<first 8 characters of the id>, with
// whatever Docker does not allow in a name replaced by '-'. The name is
// for people reading docker ps; the runtime itself goes by labels.
func containerName(server, id string) string {
	s := sanitize(server)
	if s == "" {
		s = "server"
	}
	if len(s) > 40 {
		s = s[:40]
	}
	short := sanitize(id)
	if len(short) > 8 {
		short = short[:8]
	}
	return "mcpctl-" + s + "-" + short
}

func sanitize(s string) string {
	return strings.Map(func(c rune) rune {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
			return c
		}
		return '-'
	}, s)
}

// newInstance tracks a started (or adopted) container.
func (r *Runtime) newInstance(id, server, transport string, port int, path string, in container.InspectResponse) *instance {
	inst := &instance{
		id: id, server: server, transport: transport, port: port, path: path, cid: in.ID,
		quit: make(chan struct{}), logsDone: make(chan struct{}), cancelLogs: func() {},
	}
	if transport != transportStdio {
		inst.hostPort = publishedPort(in, port)
		inst.httpc = &http.Client{Transport: &http.Transport{
			// The server is on the loopback interface: no proxy.
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 4,
			IdleConnTimeout:     30 * time.Second,
		}}
	}
	return inst
}

// publishedPort is the loopback host port the engine bound for port/tcp.
func publishedPort(in container.InspectResponse, port int) string {
	if in.NetworkSettings == nil {
		return ""
	}
	p, ok := network.PortFrom(uint16(port), network.TCP)
	if !ok {
		return ""
	}
	for _, b := range in.NetworkSettings.Ports[p] {
		if b.HostIP.IsLoopback() && b.HostPort != "" {
			return b.HostPort
		}
	}
	return ""
}

// Adopt implements workload.Runtime: a running container of this node
// that this Runtime does not track is tracked again, its log followed
// from opts.Since, and Connect attaches to it anew.
func (r *Runtime) Adopt(ctx context.Context, id string, opts workload.AdoptOptions) (workload.Status, error) {
	r.mu.Lock()
	_, tracked := r.insts[id]
	r.mu.Unlock()
	if tracked {
		return workload.Status{}, fmt.Errorf("adopt docker instance %s: this runtime already tracks it", id)
	}
	in, err := r.lookup(ctx, id)
	if err != nil {
		return workload.Status{}, fmt.Errorf("adopt docker instance %s: %w", id, err)
	}
	if in.State == nil || !in.State.Running {
		return workload.Status{}, fmt.Errorf("adopt docker instance %s: %w", id, workload.ErrNotRunning)
	}
	labels := in.Config.Labels
	transport := labels[LabelTransport]
	if transport == "" {
		transport = transportStdio
	}
	port, _ := strconv.Atoi(labels[LabelPort])
	inst := r.newInstance(id, labels[LabelServer], transport, port, labels[LabelPath], in)
	r.followLogs(inst, opts.Log, opts.Since)
	r.mu.Lock()
	_, tracked = r.insts[id]
	if !tracked {
		r.insts[id] = inst
	}
	r.mu.Unlock()
	if tracked {
		r.release(inst)
		return workload.Status{}, fmt.Errorf("adopt docker instance %s: this runtime already tracks it", id)
	}
	return statusOf(in), nil
}

// Stop implements workload.Runtime: SIGTERM, the drain, SIGKILL, then the
// container is removed. It also stops a container of this node that this
// Runtime does not track (left by an earlier mcpd and not adopted). The
// instance is released even when the engine cannot be reached; a later
// Stop then finds its container by its labels.
func (r *Runtime) Stop(ctx context.Context, id string, opts workload.StopOptions) (workload.Status, error) {
	drain := opts.Drain
	if drain <= 0 {
		drain = workload.DefaultDrain
	}
	r.mu.Lock()
	inst, tracked := r.insts[id]
	if tracked && inst.stopping != nil {
		// Another Stop is at work: its result is ours.
		done := inst.stopping
		r.mu.Unlock()
		select {
		case <-done:
		case <-ctx.Done():
			return workload.Status{}, ctx.Err()
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		return inst.final, inst.finalErr
	}
	if tracked {
		inst.stopping = make(chan struct{})
	}
	r.mu.Unlock()

	if !tracked {
		in, err := r.lookup(ctx, id)
		if err != nil {
			return workload.Status{}, fmt.Errorf("stop docker instance %s: %w", id, err)
		}
		return r.terminate(ctx, id, in.ID, drain, func() {})
	}

	inst.quitOnce.Do(func() { close(inst.quit) })
	st, err := r.terminate(ctx, id, inst.cid, drain, func() { r.drainLogs(ctx, inst) })
	r.release(inst)
	r.mu.Lock()
	inst.final, inst.finalErr = st, err
	if r.insts[id] == inst {
		delete(r.insts, id)
	}
	close(inst.stopping)
	r.mu.Unlock()
	return st, err
}

// terminate stops container cid (SIGTERM, drain, SIGKILL), reads its final
// status and removes it. stopped runs once the container has stopped and
// before it is removed. Once the stop was asked for, the rest runs even if
// ctx ends: a Stop leaves nothing behind.
func (r *Runtime) terminate(ctx context.Context, id, cid string, drain time.Duration, stopped func()) (workload.Status, error) {
	secs := int(math.Ceil(drain.Seconds()))
	_, stopErr := r.cli.ContainerStop(ctx, cid, client.ContainerStopOptions{Timeout: &secs})
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	switch {
	case stopErr == nil:
	case cerrdefs.IsNotFound(stopErr):
		stopped()
		return workload.Status{}, fmt.Errorf("stop docker instance %s: its container was removed by someone else: %w", id, workload.ErrNotFound)
	case isUnreachable(stopErr):
		stopped()
		return workload.Status{}, fmt.Errorf("stop docker instance %s: %w", id, r.engineErr(stopErr))
	default:
		// The caller gave up waiting, or the engine could not stop it
		// gracefully: kill it now.
		_, _ = r.cli.ContainerKill(bg, cid, client.ContainerKillOptions{Signal: "KILL"})
	}
	stopped()
	in, inspectErr := r.cli.ContainerInspect(bg, cid, client.ContainerInspectOptions{})
	_, rmErr := r.cli.ContainerRemove(bg, cid, client.ContainerRemoveOptions{Force: true})
	if inspectErr != nil {
		if cerrdefs.IsNotFound(inspectErr) {
			return workload.Status{}, fmt.Errorf("stop docker instance %s: its container was removed by someone else: %w", id, workload.ErrNotFound)
		}
		return workload.Status{}, fmt.Errorf("stop docker instance %s: inspect container: %w", id, r.engineErr(inspectErr))
	}
	st := statusOf(in.Container)
	if st.Running {
		// Killed by the forced removal.
		st.Running = false
		st.ExitCode = -1
		st.Reason = "killed on removal"
	}
	if st.FinishedAt.IsZero() {
		st.FinishedAt = time.Now().UTC()
	}
	if rmErr != nil && !cerrdefs.IsNotFound(rmErr) && !cerrdefs.IsConflict(rmErr) {
		// IsConflict: a removal already in progress, by another Stop.
		return st, fmt.Errorf("stop docker instance %s: remove container %s: %w", id, shortID(cid), r.engineErr(rmErr))
	}
	return st, nil
}

// release stops following the instance's log and closes its connections.
// It does not touch the container. It may run more than once.
func (r *Runtime) release(inst *instance) {
	inst.quitOnce.Do(func() { close(inst.quit) })
	inst.cancelLogs()
	<-inst.logsDone
	r.mu.Lock()
	att := inst.attach
	r.mu.Unlock()
	if att != nil {
		att.Close()
	}
	if inst.httpc != nil {
		inst.httpc.CloseIdleConnections()
	}
}

// Inspect implements workload.Runtime. An untracked container of this node
// is reported too, as List does.
func (r *Runtime) Inspect(ctx context.Context, id string) (workload.Status, error) {
	inst, ok := r.tracked(id)
	if !ok {
		in, err := r.lookup(ctx, id)
		if err != nil {
			return workload.Status{}, fmt.Errorf("inspect docker instance %s: %w", id, err)
		}
		return statusOf(in), nil
	}
	res, err := r.cli.ContainerInspect(ctx, inst.cid, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return inst.gone(), nil
	}
	if err != nil {
		return workload.Status{}, fmt.Errorf("inspect docker instance %s: %w", id, r.engineErr(err))
	}
	return statusOf(res.Container), nil
}

// gone is the status of a tracked instance whose container someone else
// removed.
func (inst *instance) gone() workload.Status {
	return workload.Status{InstanceID: inst.id, Server: inst.server, RuntimeID: inst.cid,
		ExitCode: -1, Reason: "container removed outside mcpctl"}
}

// Wait implements workload.Runtime, for tracked instances.
func (r *Runtime) Wait(ctx context.Context, id string) (workload.Status, error) {
	inst, ok := r.tracked(id)
	if !ok {
		return workload.Status{}, fmt.Errorf("wait for docker instance %s: %w", id, workload.ErrNotFound)
	}
	res := r.cli.ContainerWait(ctx, inst.cid, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	// Both channels are read without a ctx case: the client's goroutine
	// ends only once one of them was received (ctx makes it an error).
	var err error
	select {
	case <-res.Result:
	case err = <-res.Error:
	}
	if err != nil {
		if ctx.Err() != nil {
			return workload.Status{}, ctx.Err()
		}
		if cerrdefs.IsNotFound(err) {
			return inst.gone(), nil
		}
		return workload.Status{}, fmt.Errorf("wait for docker instance %s: %w", id, r.engineErr(err))
	}
	in, err := r.cli.ContainerInspect(ctx, inst.cid, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return inst.gone(), nil
	}
	if err != nil {
		return workload.Status{}, fmt.Errorf("wait for docker instance %s: %w", id, r.engineErr(err))
	}
	return statusOf(in.Container), nil
}

// Connect implements workload.Runtime: an attach to stdin and stdout of a
// STDIO server (once per Start or Adopt), the loopback HTTP endpoint of
// an HTTP one. The instance must be tracked (started or adopted).
func (r *Runtime) Connect(ctx context.Context, id string) (mcp.Transport, error) {
	inst, ok := r.tracked(id)
	if !ok {
		return nil, fmt.Errorf("connect to docker instance %s: %w", id, workload.ErrNotFound)
	}
	res, err := r.cli.ContainerInspect(ctx, inst.cid, client.ContainerInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		return nil, fmt.Errorf("connect to docker instance %s: its container is gone: %w", id, workload.ErrNotRunning)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to docker instance %s: %w", id, r.engineErr(err))
	}
	if res.Container.State == nil || !res.Container.State.Running {
		return nil, fmt.Errorf("connect to docker instance %s: %w", id, workload.ErrNotRunning)
	}
	switch inst.transport {
	case transportStreamable:
		return &mcp.StreamableClientTransport{Endpoint: inst.endpoint(), HTTPClient: inst.httpc}, nil
	case transportSSE:
		return &mcp.SSEClientTransport{Endpoint: inst.endpoint(), HTTPClient: inst.httpc}, nil
	}
	return r.attach(ctx, inst)
}

func (inst *instance) endpoint() string {
	return "http://" + net.JoinHostPort("127.0.0.1", inst.hostPort) + inst.path
}

// attach hands out the one STDIO connection of inst.
func (r *Runtime) attach(ctx context.Context, inst *instance) (mcp.Transport, error) {
	r.mu.Lock()
	if inst.connected {
		r.mu.Unlock()
		return nil, fmt.Errorf("connect to docker instance %s: %w", inst.id, workload.ErrBusy)
	}
	inst.connected = true
	r.mu.Unlock()
	res, err := r.cli.ContainerAttach(ctx, inst.cid, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true})
	if err != nil {
		r.mu.Lock()
		inst.connected = false
		r.mu.Unlock()
		return nil, fmt.Errorf("connect to docker instance %s: attach: %w", inst.id, r.engineErr(err))
	}
	att := newAttachConn(res.HijackedResponse)
	r.mu.Lock()
	released := inst.stopping != nil || r.insts[inst.id] != inst
	if !released {
		inst.attach = att
	}
	r.mu.Unlock()
	if released {
		att.Close()
		return nil, fmt.Errorf("connect to docker instance %s: %w", inst.id, workload.ErrNotRunning)
	}
	return att.transport(), nil
}

// List implements workload.Runtime: every container of this node with
// mcpctl's labels, running or not, tracked or not.
func (r *Runtime) List(ctx context.Context) ([]workload.Status, error) {
	res, err := r.cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: r.filters("")})
	if err != nil {
		return nil, fmt.Errorf("list docker instances: %w", r.engineErr(err))
	}
	out := make([]workload.Status, 0, len(res.Items))
	for _, c := range res.Items {
		if !r.ours(c.Labels, "") {
			continue
		}
		in, err := r.cli.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue // removed since the listing
		}
		if err != nil {
			return nil, fmt.Errorf("list docker instances: inspect %s: %w", shortID(c.ID), r.engineErr(err))
		}
		if in.Container.Config == nil || !r.ours(in.Container.Config.Labels, "") {
			continue
		}
		out = append(out, statusOf(in.Container))
	}
	return out, nil
}
