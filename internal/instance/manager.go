// Package instance keeps servers' instances running on this mcpd: the
// reconciler (replicas, crash-loop backoff, adoption after a restart, one
// reconciler per server across replicas through a store lease), a runner
// per instance (start, MCP session, health probes, restart, stop), and the
// log pipeline (sanitise, number, store, wake followers).
package instance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Config tunes the manager; zero fields take the defaults in brackets.
type Config struct {
	// Node names this mcpd; instances it runs carry it. Required.
	Node string
	// Resync is how often every server is reconciled without a trigger [5s].
	Resync time.Duration
	// LeaseTTL is how long a server's lease lasts unless renewed [20s].
	LeaseTTL time.Duration
	// BackoffBase and BackoffMax bound the crash-loop backoff [1s, 5m];
	// BackoffReset is how long an instance must run for its crash count to
	// start again from zero [10m].
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// StartTimeout bounds the time from start to the first MCP answer [2m]
	// (npx may download the package first).
	StartTimeout time.Duration
	// Drain is the default drain timeout of a stop [10s].
	Drain time.Duration
	// Probe holds the health-check defaults [tools/list every 30s, 10s
	// timeout, 3 failures].
	Probe probe
	// LogRetention is how many log lines an instance keeps [10000].
	LogRetention int
	// StoppedRetention is how long a stopped instance's record (and log)
	// is kept [1h].
	StoppedRetention time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.Resync, 5*time.Second)
	def(&c.LeaseTTL, 20*time.Second)
	def(&c.BackoffBase, time.Second)
	def(&c.BackoffMax, 5*time.Minute)
	def(&c.BackoffReset, 10*time.Minute)
	def(&c.StartTimeout, 2*time.Minute)
	def(&c.Drain, workload.DefaultDrain)
	def(&c.Probe.Interval, 30*time.Second)
	def(&c.Probe.Timeout, 10*time.Second)
	def(&c.StoppedRetention, time.Hour)
	if c.Probe.Threshold <= 0 {
		c.Probe.Threshold = 3
	}
	if c.LogRetention <= 0 {
		c.LogRetention = 10000
	}
}

// Deps are the manager's collaborators.
type Deps struct {
	Store store.Store
	// Runtimes by name (process, docker); a server whose runtime is
	// missing gets failed instances that say so.
	Runtimes map[string]workload.Runtime
	Secrets  *secret.Keyring
	Metrics  *Metrics
	Log      *slog.Logger
	// Connect opens the MCP session of an instance; nil connects a
	// plain client.
	Connect ConnectFunc
}

// Manager runs this node's instances.
type Manager struct {
	cfg      Config
	st       store.Store
	runtimes map[string]workload.Runtime
	keys     *secret.Keyring
	metrics  *Metrics
	log      *slog.Logger
	trigger  chan struct{}

	// passMu serialises reconcile passes with the API's start and stop,
	// which change replicas and instances together.
	passMu sync.Mutex

	mu      sync.Mutex
	ctx     context.Context // the Run context; runners live in it
	runners map[string]*runner
	leases  map[string]bool
	// kept are servers whose instances were left running at shutdown:
	// their leases are not released, so this node adopts them when it is
	// back within the lease TTL instead of another replica starting
	// copies beside them.
	kept    map[string]bool
	waiters map[string]chan struct{} // closed when an instance logs
	// sweeping are the ids being stopped by a sweep.
	sweeping map[string]bool
	// passes counts reconcile passes (guarded by passMu).
	passes int
	wg     sync.WaitGroup
	// connect opens the MCP session of an instance.
	connect ConnectFunc
	// dedicated are the ids of per-session processes: the sweep leaves
	// them alone.
	dedicated map[string]bool
	// turn rotates shared sessions among a server's instances.
	turn atomic.Uint64
}

// New returns a manager; Run starts it.
func New(cfg Config, d Deps) (*Manager, error) {
	if cfg.Node == "" {
		return nil, errors.New("instance manager: a node name is required")
	}
	cfg.defaults()
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, st: d.Store, runtimes: d.Runtimes, keys: d.Secrets, metrics: d.Metrics, log: d.Log,
		trigger: make(chan struct{}, 1), runners: map[string]*runner{}, leases: map[string]bool{}, kept: map[string]bool{},
		waiters: map[string]chan struct{}{}, sweeping: map[string]bool{}, connect: d.Connect, dedicated: map[string]bool{}}, nil
}

// Node is this manager's node name.
func (m *Manager) Node() string { return m.cfg.Node }

// Trigger asks for a reconcile pass soon (after a write to servers).
func (m *Manager) Trigger() {
	select {
	case m.trigger <- struct{}{}:
	default:
	}
}

// Run reconciles until ctx ends, then stops this node's runners: process
// instances are stopped (and start again when mcpd is back), detachable
// ones (containers) keep running for the next mcpd to adopt. Last, it
// closes the runtimes that have a Close method.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	t := time.NewTicker(m.cfg.Resync)
	defer t.Stop()
	for {
		m.pass(ctx)
		select {
		case <-ctx.Done():
			m.wg.Wait()
			m.releaseLeases()
			// Runtimes that hold connections (the Docker client, log
			// followers of containers left running) let go of them.
			for _, rt := range m.runtimes {
				if c, ok := rt.(interface{ Close() error }); ok {
					_ = c.Close()
				}
			}
			return
		case <-t.C:
		case <-m.trigger:
		}
	}
}

func (m *Manager) releaseLeases() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	m.mu.Lock()
	names := make([]string, 0, len(m.leases))
	for n := range m.leases {
		if !m.kept[n] {
			names = append(names, n)
		}
	}
	m.mu.Unlock()
	for _, n := range names {
		_ = m.st.ReleaseLease(ctx, leaseName(n), m.cfg.Node)
	}
}

func leaseName(server string) string { return "server/" + server }

func (m *Manager) keepLease(server string) {
	m.mu.Lock()
	m.kept[server] = true
	m.mu.Unlock()
}

// pass reconciles every server once.
func (m *Manager) pass(ctx context.Context) {
	if ctx.Err() != nil {
		return
	}
	m.passMu.Lock()
	defer m.passMu.Unlock()
	servers, err := m.servers(ctx)
	if err != nil {
		m.log.Warn("reconcile: cannot read servers", "err", err)
		return
	}
	byServer := map[string][]v1.Instance{}
	var stale []v1.Instance
	owned := map[string]bool{} // active records of this node
	err = m.eachInstance(ctx, func(in v1.Instance) {
		if in.Node == m.cfg.Node && in.State != v1.InstanceStopped {
			owned[in.ID] = true
		}
		if in.State == v1.InstanceStopped {
			if time.Since(in.StoppedAt) > m.cfg.StoppedRetention {
				stale = append(stale, in)
			}
			return
		}
		byServer[in.Server] = append(byServer[in.Server], in)
	})
	if err != nil {
		m.log.Warn("reconcile: cannot read instances", "err", err)
		return
	}
	names := map[string]bool{}
	for n, s := range servers {
		if s.replicas() > 0 {
			names[n] = true
		}
	}
	for n := range byServer {
		names[n] = true
	}
	m.mu.Lock()
	for n := range m.leases {
		names[n] = true
	}
	m.mu.Unlock()
	for _, name := range slices.Sorted(maps.Keys(names)) {
		m.reconcileServer(ctx, name, servers[name], byServer[name])
	}
	for _, in := range stale {
		if err := m.st.DeleteInstance(ctx, in.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
			m.log.Warn("reconcile: cannot delete an old stopped instance", "instance", in.ID, "err", err)
		}
	}
	if m.passes%sweepEvery == 0 {
		m.sweep(ctx, owned)
	}
	m.passes++
}

// sweepEvery is how many passes go between two sweeps (the first pass
// sweeps).
const sweepEvery = 4

// sweep stops whatever this node's runtimes run that no active record of
// this node owns: containers left running at a shutdown whose server
// another replica took over meanwhile, children of an mcpd that was
// killed, an instance whose stop was cut short. Without it they would
// run for ever, with their secrets.
func (m *Manager) sweep(ctx context.Context, owned map[string]bool) {
	for _, rt := range m.runtimes {
		list, err := rt.List(ctx)
		if err != nil {
			continue // an engine that is away is swept when it is back
		}
		for _, st := range list {
			id := st.InstanceID
			m.mu.Lock()
			skip := owned[id] || m.runners[id] != nil || m.sweeping[id] || m.dedicated[id] || m.ctx == nil || m.ctx.Err() != nil
			if !skip {
				m.sweeping[id] = true
				m.wg.Add(1)
			}
			m.mu.Unlock()
			if skip {
				continue
			}
			m.log.Warn("stopping an instance no record of this node owns", "instance", id, "runtime", rt.Name(), "runtime_id", st.RuntimeID)
			go func() {
				defer m.wg.Done()
				defer func() {
					m.mu.Lock()
					delete(m.sweeping, id)
					m.mu.Unlock()
				}()
				if m.runner(id) != nil {
					return // a runner took it meanwhile
				}
				sctx, cancel := context.WithTimeout(context.Background(), m.cfg.Drain+30*time.Second)
				defer cancel()
				if _, err := rt.Stop(sctx, id, workload.StopOptions{Drain: m.cfg.Drain}); err != nil && !errors.Is(err, workload.ErrNotFound) {
					m.log.Warn("stray instance not stopped; will retry", "instance", id, "err", err)
				}
			}()
		}
	}
}

func (m *Manager) servers(ctx context.Context) (map[string]*server, error) {
	out := map[string]*server{}
	err := store.EachResource(func(f store.ResourceFilter) ([]store.Resource, error) { return m.st.ListResources(ctx, f) },
		"Server", func(r store.Resource) error {
			s, err := parseServer(r)
			if err != nil {
				return err
			}
			out[s.Name] = s
			return nil
		})
	return out, err
}

func (m *Manager) eachInstance(ctx context.Context, fn func(v1.Instance)) error {
	f := store.InstanceFilter{Limit: 500}
	for {
		page, err := m.st.ListInstances(ctx, f)
		if err != nil {
			return err
		}
		for _, in := range page {
			fn(in)
		}
		if len(page) < f.Limit {
			return nil
		}
		f.AfterServer, f.AfterID = page[len(page)-1].Server, page[len(page)-1].ID
	}
}

// reconcileServer makes one server's instances match its replicas, if
// this node holds the server's lease.
func (m *Manager) reconcileServer(ctx context.Context, name string, s *server, recs []v1.Instance) {
	desired := 0
	if s != nil {
		desired = s.replicas()
	}
	if desired == 0 && len(recs) == 0 {
		m.dropLease(ctx, name)
		return
	}
	held, err := m.st.TryLease(ctx, leaseName(name), m.cfg.Node, time.Now(), m.cfg.LeaseTTL)
	if err != nil {
		m.log.Warn("reconcile: lease not renewed", "server", name, "err", err)
		return
	}
	if !held {
		m.loseServer(name)
		return
	}
	m.mu.Lock()
	m.leases[name] = true
	m.mu.Unlock()

	var counted []v1.Instance
	for _, in := range recs {
		r := m.runner(in.ID)
		if in.State == v1.InstanceStopping {
			// Stopped through the API (maybe on another replica): finish
			// it here.
			if r != nil {
				r.request(command{kind: cmdStop, reason: "stop requested"})
			} else {
				m.markStopped(ctx, in.ID, "stopped (no runner was left to drain it)")
			}
			continue
		}
		if r == nil {
			m.takeOver(ctx, in)
		}
		counted = append(counted, in)
	}
	for i := len(counted); i < desired; i++ {
		if _, err := m.create(ctx, name, s.Spec.Runtime); err != nil {
			m.log.Warn("reconcile: cannot create an instance", "server", name, "err", err)
			break
		}
	}
	if extra := len(counted) - desired; extra > 0 {
		// Scale down the least useful first: not ready before ready, then
		// the newest.
		slices.SortFunc(counted, func(a, b v1.Instance) int {
			if ra, rb := a.State == v1.InstanceRunning, b.State == v1.InstanceRunning; ra != rb {
				if ra {
					return 1
				}
				return -1
			}
			return b.CreatedAt.Compare(a.CreatedAt)
		})
		for _, in := range counted[:extra] {
			if _, err := m.requestStopLocked(ctx, in.ID, 0, fmt.Sprintf("scaled down to %d replicas", desired)); err != nil {
				m.log.Warn("reconcile: cannot stop an extra instance", "instance", in.ID, "err", err)
			}
		}
	}
	// A changed spec replaces the instances that run the old one (once
	// each, however many passes see the change before they restart).
	if s != nil {
		m.mu.Lock()
		for _, r := range m.runners {
			if r.server == name {
				r.replace(s.Hash)
			}
		}
		m.mu.Unlock()
	}
}

// dropLease gives up a server that needs nothing from this node.
func (m *Manager) dropLease(ctx context.Context, name string) {
	m.mu.Lock()
	held := m.leases[name]
	delete(m.leases, name)
	m.mu.Unlock()
	if held {
		_ = m.st.ReleaseLease(ctx, leaseName(name), m.cfg.Node)
	}
}

// loseServer stops this node's runners of a server whose lease another
// node holds now; that node takes the instances over.
func (m *Manager) loseServer(name string) {
	m.mu.Lock()
	lost := m.leases[name]
	delete(m.leases, name)
	var rs []*runner
	for _, r := range m.runners {
		if r.server == name {
			rs = append(rs, r)
		}
	}
	m.mu.Unlock()
	if lost || len(rs) > 0 {
		m.log.Warn("another mcpd holds this server now; handing its instances over", "server", name, "instances", len(rs))
	}
	for _, r := range rs {
		r.request(command{kind: cmdHandOver})
	}
}

// takeOver gives a runner to an instance record that has none here: one
// this node ran before a restart (adopted if its runtime allows), or one
// another node ran before this node took the lease.
func (m *Manager) takeOver(ctx context.Context, in v1.Instance) {
	reason := "mcpd restarted"
	if in.Node != m.cfg.Node {
		reason = "taken over from node " + cmp.Or(in.Node, "(none)")
	}
	adopt := in.Node == m.cfg.Node && in.RuntimeID != ""
	claimed, err := m.st.UpdateInstance(ctx, in.ID, func(x *v1.Instance) error {
		if x.State == v1.InstanceStopped || x.State == v1.InstanceStopping {
			return errSkip
		}
		x.Node = m.cfg.Node
		x.UpdatedAt = time.Now().UTC()
		return nil
	})
	if err != nil {
		if !errors.Is(err, errSkip) {
			m.log.Warn("reconcile: cannot take over an instance", "instance", in.ID, "err", err)
		}
		return
	}
	m.startRunner(claimed, adopt, reason)
}

var errSkip = errors.New("skip")

// create inserts a new instance record of a server and starts its runner.
func (m *Manager) create(ctx context.Context, serverName, runtime string) (v1.Instance, error) {
	now := time.Now().UTC()
	in := v1.Instance{ID: workload.NewID(), Server: serverName, Runtime: runtime, Node: m.cfg.Node, State: v1.InstancePending,
		CreatedAt: now, UpdatedAt: now, Health: v1.InstanceHealth{Status: v1.HealthUnknown, AlertThreshold: m.cfg.Probe.Threshold}}
	in.AddEvent(now, v1.EventNormal, "Created", "created on node "+m.cfg.Node)
	if err := m.st.CreateInstance(ctx, in); err != nil {
		return v1.Instance{}, err
	}
	m.startRunner(in, false, "")
	return in, nil
}

func (m *Manager) startRunner(in v1.Instance, adopt bool, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ctx == nil || m.ctx.Err() != nil || m.runners[in.ID] != nil {
		return
	}
	r := newRunner(m, in)
	m.runners[in.ID] = r
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		r.run(m.ctx, adopt, why)
		m.mu.Lock()
		delete(m.runners, in.ID)
		m.mu.Unlock()
	}()
}

func (m *Manager) runner(id string) *runner {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.runners[id]
}

// markStopped records a stop that needs no runner.
func (m *Manager) markStopped(ctx context.Context, id, msg string) {
	_, err := m.st.UpdateInstance(ctx, id, func(x *v1.Instance) error {
		now := time.Now().UTC()
		x.State, x.Message, x.StoppedAt, x.UpdatedAt = v1.InstanceStopped, msg, now, now
		x.Health.Readiness, x.Health.Liveness = false, false
		x.AddEvent(now, v1.EventNormal, "Stopped", msg)
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		m.log.Warn("cannot record an instance as stopped", "instance", id, "err", err)
	}
}

// ErrNotRunningHere: the instance is run by another mcpd replica, which
// carries out the request on its next pass.
var ErrNotRunningHere = errors.New("instance runs on another mcpd")

// Start adds one instance of a server: bump raises the server's replicas
// (in the caller's transaction) and the new instance starts at once when
// this node reconciles the server, else on the holder's next pass.
func (m *Manager) Start(ctx context.Context, serverName string, bump func(ctx context.Context) (runtime string, err error)) (v1.Instance, error) {
	m.passMu.Lock()
	defer m.passMu.Unlock()
	rt, err := bump(ctx)
	if err != nil {
		return v1.Instance{}, err
	}
	held, err := m.st.TryLease(ctx, leaseName(serverName), m.cfg.Node, time.Now(), m.cfg.LeaseTTL)
	if err != nil {
		return v1.Instance{}, err
	}
	if !held {
		// The holder creates it; say so with a pending placeholder-free
		// answer: the caller lists instances to see it.
		m.Trigger()
		return v1.Instance{}, ErrNotRunningHere
	}
	m.mu.Lock()
	m.leases[serverName] = true
	m.mu.Unlock()
	return m.create(ctx, serverName, rt)
}

// Stop stops one instance for good: drop lowers the server's replicas (in
// the caller's transaction) so the reconciler does not replace it. It
// waits for the stop when this node runs the instance.
func (m *Manager) Stop(ctx context.Context, id string, drain time.Duration, drop func(ctx context.Context, server string) error) (v1.Instance, error) {
	m.passMu.Lock()
	in, err := m.st.GetInstance(ctx, id)
	if err == nil && in.State != v1.InstanceStopped && in.State != v1.InstanceStopping {
		err = drop(ctx, in.Server)
	}
	if err != nil {
		m.passMu.Unlock()
		return v1.Instance{}, err
	}
	done, err := m.requestStopLocked(ctx, id, drain, "stop requested")
	m.passMu.Unlock()
	if err != nil {
		return v1.Instance{}, err
	}
	return m.await(ctx, id, done)
}

// Restart stops and starts one instance again under the same id.
func (m *Manager) Restart(ctx context.Context, id string, drain time.Duration) (v1.Instance, error) {
	in, err := m.st.GetInstance(ctx, id)
	if err != nil {
		return v1.Instance{}, err
	}
	if in.State == v1.InstanceStopped || in.State == v1.InstanceStopping {
		return in, fmt.Errorf("instance %s is %s; start a new one with `mcpctl start %s`", id, in.State, in.Server)
	}
	r := m.runner(id)
	if r == nil {
		return in, ErrNotRunningHere
	}
	done := make(chan struct{})
	r.request(command{kind: cmdRestart, drain: drain, reason: "restart requested", done: done})
	return m.await(ctx, id, done)
}

// requestStopLocked marks the instance stopping and tells its runner; the
// caller holds passMu.
func (m *Manager) requestStopLocked(ctx context.Context, id string, drain time.Duration, reason string) (<-chan struct{}, error) {
	_, err := m.st.UpdateInstance(ctx, id, func(x *v1.Instance) error {
		if x.State == v1.InstanceStopped || x.State == v1.InstanceStopping {
			return errSkip
		}
		now := time.Now().UTC()
		x.State, x.Message, x.UpdatedAt = v1.InstanceStopping, reason, now
		x.AddEvent(now, v1.EventNormal, "Stopping", reason)
		return nil
	})
	if err != nil && !errors.Is(err, errSkip) {
		return nil, err
	}
	done := make(chan struct{})
	if r := m.runner(id); r != nil {
		r.request(command{kind: cmdStop, drain: drain, reason: reason, done: done})
		return done, nil
	}
	close(done)
	return done, nil
}

func (m *Manager) await(ctx context.Context, id string, done <-chan struct{}) (v1.Instance, error) {
	select {
	case <-done:
	case <-ctx.Done():
		return v1.Instance{}, ctx.Err()
	}
	return m.st.GetInstance(ctx, id)
}

// Session is the MCP client session of a ready local instance, or nil.
func (m *Manager) Session(id string) *mcp.ClientSession {
	if r := m.runner(id); r != nil {
		return r.session()
	}
	return nil
}

// LogWait returns a channel that is closed when the instance's log grows
// on this node. Followers also poll the store, for other nodes' instances.
func (m *Manager) LogWait(id string) <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	ch, ok := m.waiters[id]
	if !ok {
		ch = make(chan struct{})
		m.waiters[id] = ch
	}
	return ch
}

func (m *Manager) logged(id string) {
	m.mu.Lock()
	ch, ok := m.waiters[id]
	delete(m.waiters, id)
	m.mu.Unlock()
	if ok {
		close(ch)
	}
}
