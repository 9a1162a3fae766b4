package instance

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type cmdKind int

const (
	cmdStop     cmdKind = iota + 1 // stop for good
	cmdRestart                     // stop and start again, no backoff
	cmdHandOver                    // stop; another node owns the record now
)

type command struct {
	kind   cmdKind
	drain  time.Duration
	reason string
	done   chan struct{} // closed when carried out; may be nil
}

// outcome is how one run of an instance ended.
type outcome struct {
	kind     string // "exited", "unhealthy", "failed", "command", "shutdown"
	cmd      command
	msg      string
	exitCode *int
	running  bool // the runtime still has the instance
	ranFor   time.Duration
	// adoptLater: adoption could not be tried (the runtime is away).
	adoptLater bool
}

// runner supervises one instance on this node: start, MCP session,
// probes, restarts with backoff, stop.
type runner struct {
	m      *Manager
	id     string
	server string

	mu      sync.Mutex
	pending []command
	wake    chan struct{}
	hash    string
	cs      *mcp.ClientSession
	pipe    *logPipe
	// rt is the runtime the instance was last started on: it is the one
	// that stops it, whatever the server's spec says now. Only the
	// runner's goroutine touches it, and since.
	rt workload.Runtime
	// since is the time of the newest stored line of the instance's own
	// output, where an adopted instance's log resumes.
	since time.Time
	// leftover: an earlier run (before a restart of mcpd, on another
	// node, or a stop that failed) may have left the instance running.
	leftover bool
}

func newRunner(m *Manager, in v1.Instance) *runner {
	return &runner{m: m, id: in.ID, server: in.Server, wake: make(chan struct{}, 1), leftover: in.RuntimeID != ""}
}

// request queues a command; it never blocks.
func (r *runner) request(c command) {
	r.mu.Lock()
	r.pending = append(r.pending, c)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next takes the most important queued command: stop and hand-over win
// over restart.
func (r *runner) next() (command, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending) == 0 {
		return command{}, false
	}
	// Stops and hand-overs win over restarts; among them, a request that
	// waits for its answer (an API call, with its drain) wins over one the
	// runner queued itself.
	rank := func(c command) int {
		n := 0
		if c.kind != cmdRestart {
			n += 2
		}
		if c.done != nil {
			n++
		}
		return n
	}
	best := 0
	for i, c := range r.pending {
		if rank(c) > rank(r.pending[best]) {
			best = i
		}
	}
	c := r.pending[best]
	r.pending = append(r.pending[:best], r.pending[best+1:]...)
	if len(r.pending) > 0 {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
	return c, true
}

// closeAll closes the done channels of every queued command (the runner
// is ending: they are moot).
func (r *runner) closeAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.pending {
		if c.done != nil {
			close(c.done)
		}
	}
	r.pending = nil
}

// replace queues one restart onto the spec with hash, once.
func (r *runner) replace(hash string) {
	r.mu.Lock()
	if r.hash == "" || r.hash == hash {
		r.mu.Unlock()
		return
	}
	r.hash = hash
	r.mu.Unlock()
	r.request(command{kind: cmdRestart, reason: "the server's spec changed"})
}

func (r *runner) session() *mcp.ClientSession {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cs
}

func (r *runner) setSession(cs *mcp.ClientSession) {
	r.mu.Lock()
	r.cs = cs
	r.mu.Unlock()
}

var errNotMine = errors.New("instance is owned by another node")

// update changes the instance record if this node still owns it. A stop
// requested through the store (stopping, maybe by another replica) is
// never undone by the runner's own progress: the state stays, and the
// runner is told to stop. Text that may come from the server (errors,
// tool output) is sanitised like log lines.
func (r *runner) update(fn func(in *v1.Instance)) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var pinned, msg string
	_, err := r.m.st.UpdateInstance(ctx, r.id, func(in *v1.Instance) error {
		msg = in.Message
		if in.Node != r.m.cfg.Node {
			return errNotMine
		}
		prev, msg, stoppedAt := in.State, in.Message, in.StoppedAt
		fn(in)
		if (prev == v1.InstanceStopping || prev == v1.InstanceStopped) && in.State != v1.InstanceStopped {
			// A stop requested elsewhere stands: the runner's progress
			// does not undo it.
			in.State, in.Message, in.StoppedAt = prev, msg, stoppedAt
			pinned = prev
		}
		in.Message, in.Health.LastError = Sanitize(in.Message), Sanitize(in.Health.LastError)
		for i := range in.Events {
			in.Events[i].Message = Sanitize(in.Events[i].Message)
		}
		in.UpdatedAt = time.Now().UTC()
		return nil
	})
	switch {
	case errors.Is(err, errNotMine):
		// Another node took the instance over: this one lets go.
		r.request(command{kind: cmdHandOver})
	case err != nil && !errors.Is(err, store.ErrNotFound):
		r.m.log.Warn("instance state not recorded", "instance", r.id, "err", err)
	case pinned == v1.InstanceStopping:
		r.request(command{kind: cmdStop, reason: cmp.Or(msg, "stop requested")})
	case pinned == v1.InstanceStopped:
		// Recorded stopped elsewhere: stop here without writing again.
		r.request(command{kind: cmdHandOver})
	}
	return err
}

func (r *runner) event(typ, reason, msg string) func(in *v1.Instance) {
	return func(in *v1.Instance) { in.AddEvent(time.Now().UTC(), typ, reason, msg) }
}

func (r *runner) run(ctx context.Context, adopt bool, why string) {
	defer r.closeAll()
	defer r.m.metrics.forget(r.server, r.id)
	pipe, err := newLogPipe(ctx, r.id, r.m.st, r.m.log, r.m.cfg.LogRetention, r.m.logged, func(n int) { r.m.metrics.LogLines.Add(float64(n)) })
	if err != nil {
		r.m.log.Warn("instance not started", "instance", r.id, "err", err)
		return
	}
	r.pipe = pipe
	logCtx, stopLogs := context.WithCancel(context.Background())
	logsDone := make(chan struct{})
	go func() { defer close(logsDone); pipe.run(logCtx) }()
	defer func() { stopLogs(); <-logsDone }()
	if adopt {
		// Where the stored log of the instance's own output ends, read
		// before any note of mcpd's: the adopted container's log resumes
		// there.
		r.since = pipe.lastTime(ctx)
	}
	if why != "" {
		pipe.note("mcpd: %s; taking the instance over", why)
	}

	crashes := 0
	for {
		out := r.once(ctx, adopt)
		// Adoption is tried until the runtime says there is nothing to
		// adopt: an engine that is briefly away must not get a healthy
		// container replaced.
		adopt = adopt && out.adoptLater
		switch {
		case out.kind == "shutdown":
			if r.shutdown(out) {
				r.m.keepLease(r.server)
			}
			return
		case out.kind == "command":
			c := out.cmd
			if out.running {
				r.stopRuntime(c.drain)
			}
			if r.ends(c) {
				return
			}
			r.m.metrics.Restarts.WithLabelValues(r.server).Inc()
			_ = r.update(func(in *v1.Instance) {
				in.Restarts++
				in.State, in.Message = v1.InstancePending, c.reason
				r.event(v1.EventNormal, "Restarting", c.reason)(in)
			})
			pipe.note("mcpd: restarting: %s", c.reason)
			closeDone(c)
			crashes = 0
			continue
		}
		// exited, unhealthy or failed: back off, then start again.
		if out.running {
			r.stopRuntime(0)
		}
		if out.ranFor >= r.m.cfg.BackoffReset {
			crashes = 0
		}
		crashes++
		delay := backoff(crashes, r.m.cfg.BackoffBase, r.m.cfg.BackoffMax)
		next := time.Now().Add(delay).UTC()
		reason := map[string]string{"exited": "Exited", "unhealthy": "Unhealthy", "failed": "Failed"}[out.kind]
		_ = r.update(func(in *v1.Instance) {
			in.State, in.Message, in.ExitCode, in.NextStartAt = v1.InstanceFailed, out.msg, out.exitCode, next
			in.Health.Readiness, in.Health.Liveness = false, false
			r.event(v1.EventWarning, reason, out.msg)(in)
			r.event(v1.EventWarning, "BackOff", fmt.Sprintf("starting again in %s (crash %d in a row)", delay, crashes))(in)
		})
		r.m.metrics.Up.WithLabelValues(r.server, r.id).Set(0)
		r.m.metrics.Ready.WithLabelValues(r.server, r.id).Set(0)
		pipe.note("mcpd: %s; starting again in %s", out.msg, delay)
		c, ok := r.sleep(ctx, delay)
		if ctx.Err() != nil {
			return
		}
		if ok {
			if r.ends(c) {
				return
			}
			closeDone(c) // a restart: starting again is what comes next
		}
		r.m.metrics.Restarts.WithLabelValues(r.server).Inc()
		_ = r.update(func(in *v1.Instance) {
			in.Restarts++
			in.State, in.NextStartAt = v1.InstancePending, time.Time{}
		})
	}
}

// ends carries out a stop or a hand-over (the instance is already
// stopped in its runtime) and reports whether the runner ends.
func (r *runner) ends(c command) bool {
	switch c.kind {
	case cmdStop:
		r.finishStop(c.reason)
	case cmdHandOver:
	default:
		return false
	}
	closeDone(c)
	return true
}

func closeDone(c command) {
	if c.done != nil {
		close(c.done)
	}
}

// backoff is base·2^(n-1), capped.
func backoff(n int, base, maxDelay time.Duration) time.Duration {
	d := base
	for i := 1; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// sleep waits d, or until a command or the end of ctx.
func (r *runner) sleep(ctx context.Context, d time.Duration) (command, bool) {
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		if c, ok := r.next(); ok {
			return c, true
		}
		select {
		case <-t.C:
			return command{}, false
		case <-ctx.Done():
			return command{}, false
		case <-r.wake:
		}
	}
}

func (r *runner) runtime() (workload.Runtime, *server, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := r.m.st.GetResource(ctx, store.ResourceKey{Kind: "Server", Name: r.server})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	s, err := parseServer(res)
	if err != nil {
		return nil, nil, err
	}
	rt := r.m.runtimes[s.Spec.Runtime]
	if rt == nil {
		return nil, s, fmt.Errorf("%w: the %s runtime is not available on this mcpd", errConfig, s.Spec.Runtime)
	}
	return rt, s, nil
}

// once starts (or adopts) the instance and supervises it until it ends.
func (r *runner) once(ctx context.Context, adopt bool) outcome {
	if c, ok := r.next(); ok {
		return outcome{kind: "command", cmd: c}
	}
	rt, s, err := r.runtime()
	if err != nil {
		return outcome{kind: "failed", msg: err.Error()}
	}
	if s == nil {
		return outcome{kind: "command", cmd: command{kind: cmdStop, reason: "its server was deleted"}}
	}
	r.mu.Lock()
	r.hash = s.Hash
	r.mu.Unlock()
	var st workload.Status
	adopted := false
	if adopt {
		st, err = rt.Adopt(ctx, r.id, workload.AdoptOptions{Log: r.pipe.add, Since: r.since})
		adopted = err == nil
		if errors.Is(err, workload.ErrUnavailable) {
			return outcome{kind: "failed", msg: failure(rt, "adopt", err), adoptLater: true}
		}
	}
	if !adopted && r.leftover {
		// Whatever an earlier run left under this id goes first, on
		// whichever runtime it ran. A fresh instance, or one this runner
		// stopped cleanly, has nothing left: no look-up on its start.
		for _, old := range r.m.runtimes {
			if _, err := old.Stop(ctx, r.id, workload.StopOptions{Drain: r.m.cfg.Drain}); err != nil && !errors.Is(err, workload.ErrNotFound) {
				if old == rt || !errors.Is(err, workload.ErrUnavailable) {
					return outcome{kind: "failed", msg: failure(old, "cannot stop what an earlier run left", err)}
				}
			}
		}
		r.leftover = false
	}
	if !adopted {
		ws, err := workloadSpec(ctx, r.m.st, r.m.keys, s, r.id, r.pipe.add)
		if err != nil {
			return outcome{kind: "failed", msg: err.Error()}
		}
		_ = r.update(func(in *v1.Instance) { in.State, in.Message, in.Runtime = v1.InstancePending, "starting", rt.Name() })
		if st, err = rt.Start(ctx, ws); err != nil {
			return outcome{kind: "failed", msg: failure(rt, "start", err)}
		}
	}
	r.rt = rt
	return r.supervise(ctx, rt, s, st, adopted)
}

// failure words a runtime error for the instance's message: an
// unavailable runtime says so first, as it is the thing to fix.
func failure(rt workload.Runtime, what string, err error) string {
	if errors.Is(err, workload.ErrUnavailable) {
		return "the " + rt.Name() + " runtime is unavailable (instances start when it answers): " + err.Error()
	}
	return what + ": " + err.Error()
}

type connected struct {
	cs  *mcp.ClientSession
	err error
}

type probed struct {
	took time.Duration
	err  error
}

// supervise connects over MCP, probes, and waits for the instance to end
// or a command.
func (r *runner) supervise(ctx context.Context, rt workload.Runtime, s *server, st workload.Status, adopted bool) outcome {
	started := time.Now()
	what, reason := "started", "Started"
	if adopted {
		what, reason = "adopted after an mcpd restart", "Adopted"
	}
	_ = r.update(func(in *v1.Instance) {
		in.State, in.Message, in.RuntimeID, in.Runtime = v1.InstanceStarting, what, st.RuntimeID, rt.Name()
		if !adopted || in.StartedAt.IsZero() {
			in.StartedAt = st.StartedAt
		}
		in.ReadyAt, in.StoppedAt, in.NextStartAt, in.ExitCode = time.Time{}, time.Time{}, time.Time{}, nil
		in.Health = v1.InstanceHealth{Status: v1.HealthUnknown, Liveness: true, AlertThreshold: probeOf(&s.Spec, r.m.cfg.Probe).Threshold}
		r.event(v1.EventNormal, reason, fmt.Sprintf("%s on %s (%s)", what, rt.Name(), st.RuntimeID))(in)
	})
	r.pipe.note("mcpd: instance %s on %s (%s)", what, rt.Name(), st.RuntimeID)
	r.m.metrics.Up.WithLabelValues(r.server, r.id).Set(1)

	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	exited := make(chan workload.Status, 1)
	go func() {
		// A broken wait (the engine restarting) is retried: the exit must
		// not go unnoticed, to be found later as failed probes.
		for delay := 100 * time.Millisecond; ; delay = min(delay*2, 5*time.Second) {
			fin, err := rt.Wait(sctx, r.id)
			switch {
			case err == nil:
				exited <- fin
				return
			case errors.Is(err, workload.ErrNotFound):
				exited <- workload.Status{InstanceID: r.id, ExitCode: -1, Reason: "it is gone from its runtime"}
				return
			case sctx.Err() != nil:
				return
			}
			select {
			case <-sctx.Done():
				return
			case <-time.After(delay):
			}
		}
	}()
	conn := make(chan connected, 1)
	go func() { cs, err := r.connect(sctx, rt, adopted); conn <- connected{cs, err} }()
	defer func() {
		if cs := r.session(); cs != nil {
			r.setSession(nil)
			cs.Close()
		}
	}()

	p := probeOf(&s.Spec, r.m.cfg.Probe)
	var (
		ticker   *time.Ticker
		tick     <-chan time.Time
		probing  chan probed
		failures int
		ready    bool
	)
	defer func() {
		if ticker != nil {
			ticker.Stop()
		}
	}()
	startProbe := func() {
		if probing != nil {
			return
		}
		probing = make(chan probed, 1)
		cs, ch := r.session(), probing
		go func() { took, err := runProbe(sctx, cs, p); ch <- probed{took, err} }()
	}
	end := func(o outcome) outcome {
		o.ranFor = time.Since(started)
		return o
	}
	for {
		if c, ok := r.next(); ok {
			return end(outcome{kind: "command", cmd: c, running: true})
		}
		select {
		case <-ctx.Done():
			return end(outcome{kind: "shutdown", running: true})
		case <-r.wake:
		case fin := <-exited:
			return end(exitOutcome(fin))
		case c := <-conn:
			if c.err != nil {
				// A server that exits at once breaks the connection first:
				// its exit, if it comes, is the better story.
				select {
				case fin := <-exited:
					return end(exitOutcome(fin))
				case <-time.After(time.Second):
				}
				return end(outcome{kind: "unhealthy", running: true, msg: "no MCP answer: " + c.err.Error()})
			}
			r.setSession(c.cs)
			startProbe()
			ticker = time.NewTicker(p.Interval)
			tick = ticker.C
		case <-tick:
			startProbe()
		case res := <-probing:
			probing = nil
			outcomeLabel := "ok"
			if res.err != nil {
				outcomeLabel = "error"
				failures++
			} else {
				failures = 0
			}
			r.m.metrics.ProbeDuration.WithLabelValues(r.server, outcomeLabel).Observe(res.took.Seconds())
			r.m.metrics.ConsecutiveFailures.WithLabelValues(r.server, r.id).Set(float64(failures))
			becameReady := res.err == nil && !ready
			ready = res.err == nil
			r.m.metrics.Ready.WithLabelValues(r.server, r.id).Set(b2f(ready))
			_ = r.update(func(in *v1.Instance) {
				h := &in.Health
				h.LastChecked, h.Readiness, h.Liveness = time.Now().UTC(), ready, true
				h.ConsecutiveFailures, h.AlertThreshold = failures, p.Threshold
				h.LatencyMillis = float64(res.took.Microseconds()) / 1000
				h.LastError = ""
				switch {
				case res.err != nil:
					h.LastError = res.err.Error()
					if failures >= p.Threshold {
						h.Status = v1.HealthUnhealthy
						in.State, in.Message = v1.InstanceUnhealthy, fmt.Sprintf("%d health probes failed in a row", failures)
					}
				default:
					h.Status = v1.HealthHealthy
					if becameReady {
						in.State, in.Message = v1.InstanceRunning, ""
						in.ReadyAt = time.Now().UTC()
						r.event(v1.EventNormal, "Ready", fmt.Sprintf("ready %s after start", time.Since(started).Round(time.Millisecond)))(in)
					}
				}
			})
			if res.err != nil && failures >= p.Threshold {
				return end(outcome{kind: "unhealthy", running: true,
					msg: fmt.Sprintf("%d health probes failed in a row (last: %v)", failures, res.err)})
			}
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func exitOutcome(fin workload.Status) outcome {
	code := fin.ExitCode
	msg := fmt.Sprintf("exited with code %d", code)
	if fin.Reason != "" {
		msg += " (" + fin.Reason + ")"
	}
	return outcome{kind: "exited", msg: msg, exitCode: &code, running: true}
}

// connect opens the MCP client session: for HTTP servers it retries until
// the server listens, within the start timeout.
func (r *runner) connect(ctx context.Context, rt workload.Runtime, adopted bool) (*mcp.ClientSession, error) {
	ctx, cancel := context.WithTimeout(ctx, r.m.cfg.StartTimeout)
	defer cancel()
	connect := r.m.connect
	if connect == nil {
		client := mcp.NewClient(&mcp.Implementation{Name: "mcpd", Version: v1.Version}, nil)
		connect = func(ctx context.Context, _ string, t mcp.Transport, _ bool) (*mcp.ClientSession, error) {
			return client.Connect(ctx, t, nil)
		}
	}
	for {
		tr, err := rt.Connect(ctx, r.id)
		if err != nil {
			return nil, err
		}
		cs, err := connect(ctx, r.server, tr, adopted)
		if err == nil {
			return cs, nil
		}
		if _, isIO := tr.(*mcp.IOTransport); isIO || ctx.Err() != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("no answer to initialize within %s", r.m.cfg.StartTimeout)
			}
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no answer to initialize within %s: %w", r.m.cfg.StartTimeout, err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// runProbe runs one health probe over the instance's session.
func runProbe(ctx context.Context, cs *mcp.ClientSession, p probe) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	start := time.Now()
	if p.Tool == "" {
		_, err := cs.ListTools(ctx, nil)
		return time.Since(start), wrapProbe("tools/list", err, ctx)
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: p.Tool, Arguments: p.Arguments})
	took := time.Since(start)
	if err != nil {
		return took, wrapProbe("tool "+p.Tool, err, ctx)
	}
	if res.IsError {
		var text []string
		for _, c := range res.Content {
			if tc, ok := c.(*mcp.TextContent); ok {
				text = append(text, tc.Text)
			}
		}
		return took, fmt.Errorf("tool %s answered an error: %s", p.Tool, strings.Join(text, " "))
	}
	return took, nil
}

func wrapProbe(what string, err error, ctx context.Context) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%s: no answer within the probe timeout", what)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// stopRuntime stops and releases the instance in its runtime.
func (r *runner) stopRuntime(drain time.Duration) {
	if drain <= 0 {
		drain = r.m.cfg.Drain
	}
	if cs := r.session(); cs != nil {
		r.setSession(nil)
		cs.Close()
	}
	rt := r.rt
	if rt == nil {
		return
	}
	r.rt = nil
	ctx, cancel := context.WithTimeout(context.Background(), drain+30*time.Second)
	defer cancel()
	if _, err := rt.Stop(ctx, r.id, workload.StopOptions{Drain: drain}); err != nil && !errors.Is(err, workload.ErrNotFound) {
		r.m.log.Warn("instance not stopped cleanly", "instance", r.id, "err", err)
		r.leftover = true // the next start looks first
	}
}

func (r *runner) finishStop(reason string) {
	r.pipe.note("mcpd: stopped: %s", reason)
	// Every line is stored before the record says stopped: a follower
	// ends when it sees stopped and no more lines.
	r.pipe.flush()
	_ = r.update(func(in *v1.Instance) {
		now := time.Now().UTC()
		in.State, in.Message, in.StoppedAt, in.NextStartAt = v1.InstanceStopped, reason, now, time.Time{}
		in.Health.Readiness, in.Health.Liveness = false, false
		in.AddEvent(now, v1.EventNormal, "Stopped", reason)
	})
}

// shutdown handles the end of mcpd: detachable instances keep running for
// the next mcpd to adopt; the rest stop and start again with mcpd.
func (r *runner) shutdown(out outcome) (detached bool) {
	if out.running && r.rt != nil && workload.Detachable(r.rt) {
		r.pipe.note("mcpd: mcpd is stopping; the instance keeps running and is adopted at the next start")
		return true
	}
	if out.running {
		r.stopRuntime(0)
	}
	r.pipe.note("mcpd: mcpd is stopping; the instance starts again with it")
	r.pipe.flush()
	_ = r.update(func(in *v1.Instance) {
		in.State, in.Message = v1.InstancePending, "mcpd stopped; the instance starts again when it is back"
		in.Health.Readiness, in.Health.Liveness = false, false
		r.event(v1.EventNormal, "Stopped", "mcpd stopped")(in)
	})
	return false
}
