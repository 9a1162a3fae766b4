// Package process is the default runtime: each instance is a child process
// of mcpd in a process group of its own.
//
// stdin and stdout carry MCP, stderr is the log. The child's environment is
// a short allow-list of mcpd's own (PATH, HOME, locale) plus the spec's env,
// so mcpd's configuration (database URL, secret key) never leaks into a
// server. Stop closes stdin and sends SIGTERM to the whole group, waits the
// drain timeout, then SIGKILLs the group: npx and uvx leave grandchildren
// that a signal to the child alone would orphan. A grandchild that starts a
// session of its own (setsid) leaves the group and is out of reach; that
// needs cgroups, which the docker runtime has.
//
// Every child carries MCPCTL_INSTANCE and MCPCTL_NODE in its environment, so
// that after a crash of mcpd a new mcpd on the same node finds the orphans
// (List) and stops them; an instance cannot be adopted, because its stdio
// pipes died with the old mcpd.
package process

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Name is the runtime's name in ServerSpec.Runtime.
const Name = "process"

// Environment variables that mark a child as ours.
const (
	EnvInstance = "MCPCTL_INSTANCE"
	EnvNode     = "MCPCTL_NODE"
)

// baseEnv are the variables of mcpd's own environment a child inherits:
// what npx, uvx and ordinary programs need to find themselves.
var baseEnv = []string{"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy"}

// maxLine is the longest log line read whole; longer ones are split.
const maxLine = 64 << 10

// Config configures the runtime.
type Config struct {
	// Node marks this mcpd's children; List and Stop see only children
	// with the same mark. Required.
	Node string
	// Dir is the working directory of children; empty means mcpd's.
	Dir string
	// Getenv reads mcpd's environment for the base variables; nil means
	// os.Getenv.
	Getenv func(string) string
}

// Runtime runs instances as child processes.
type Runtime struct {
	cfg Config

	mu    sync.Mutex
	procs map[string]*proc
}

var _ workload.Runtime = (*Runtime)(nil)

// New returns a process runtime.
func New(cfg Config) (*Runtime, error) {
	if cfg.Node == "" {
		return nil, errors.New("process runtime: a node name is required")
	}
	if cfg.Getenv == nil {
		cfg.Getenv = os.Getenv
	}
	return &Runtime{cfg: cfg, procs: map[string]*proc{}}, nil
}

// proc is one tracked child.
type proc struct {
	spec    workload.Spec
	cmd     *exec.Cmd
	stdin   *os.File
	stdout  *os.File
	stderr  *os.File // the log's read end
	started time.Time

	connected bool          // guarded by Runtime.mu
	exited    chan struct{} // closed when the child has been reaped
	logsDone  chan struct{} // closed when the log reader has finished
	status    workload.Status
}

// Name implements workload.Runtime.
func (r *Runtime) Name() string { return Name }

// Start implements workload.Runtime.
func (r *Runtime) Start(ctx context.Context, spec workload.Spec) (workload.Status, error) {
	if spec.Command == "" {
		return workload.Status{}, errors.New("process runtime: the spec has no command")
	}
	if err := ctx.Err(); err != nil {
		return workload.Status{}, err
	}
	path, err := r.lookPath(spec)
	if err != nil {
		return workload.Status{}, err
	}
	r.mu.Lock()
	_, dup := r.procs[spec.InstanceID]
	r.mu.Unlock()
	if dup {
		return workload.Status{}, fmt.Errorf("instance %s is already running", spec.InstanceID)
	}

	// Pipes of our own rather than cmd.*Pipe: Wait must not wait for (or
	// close) the log reader, which a grandchild may keep open.
	inR, inW, err := os.Pipe()
	if err != nil {
		return workload.Status{}, err
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW)
		return workload.Status{}, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		closeAll(inR, inW, outR, outW)
		return workload.Status{}, err
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        append([]string{spec.Command}, spec.Args...),
		Env:         r.env(spec),
		Dir:         r.cfg.Dir,
		Stdin:       inR,
		Stdout:      outW,
		Stderr:      errW,
		SysProcAttr: &syscall.SysProcAttr{Setpgid: true},
	}
	if err := cmd.Start(); err != nil {
		closeAll(inR, inW, outR, outW, errR, errW)
		return workload.Status{}, fmt.Errorf("start %s: %w", spec.Command, err)
	}
	closeAll(inR, outW, errW) // the child has its copies
	p := &proc{
		spec: spec, cmd: cmd, stdin: inW, stdout: outR, stderr: errR, started: time.Now().UTC(),
		exited: make(chan struct{}), logsDone: make(chan struct{}),
	}
	p.status = workload.Status{InstanceID: spec.InstanceID, Server: spec.Server,
		RuntimeID: strconv.Itoa(cmd.Process.Pid), Running: true, StartedAt: p.started}
	st := p.status
	r.mu.Lock()
	r.procs[spec.InstanceID] = p
	r.mu.Unlock()
	go readLog(errR, spec.Log, p.logsDone)
	go r.reap(p)
	return st, nil
}

func (r *Runtime) lookPath(spec workload.Spec) (string, error) {
	cmd := spec.Command
	if strings.Contains(cmd, "/") {
		if r.cfg.Dir != "" && !filepath.IsAbs(cmd) {
			cmd = filepath.Join(r.cfg.Dir, cmd)
		}
		if _, err := exec.LookPath(cmd); err != nil {
			return "", fmt.Errorf("command %q cannot be run: %w", spec.Command, err)
		}
		return cmd, nil
	}
	// Look the name up in the PATH the child gets, which is mcpd's unless
	// the spec sets its own.
	pathEnv := r.cfg.Getenv("PATH")
	if v, ok := spec.Env["PATH"]; ok {
		pathEnv = v
	}
	for _, dir := range filepath.SplitList(pathEnv) {
		if dir == "" {
			dir = "."
		}
		p := filepath.Join(dir, cmd)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH (%s); install it on mcpd's host or give an absolute path", spec.Command, pathEnv)
}

func (r *Runtime) env(spec workload.Spec) []string {
	env := make([]string, 0, len(baseEnv)+len(spec.Env)+2)
	for _, k := range baseEnv {
		if _, set := spec.Env[k]; set {
			continue
		}
		if v := r.cfg.Getenv(k); v != "" {
			env = append(env, k+"="+v)
		}
	}
	for k, v := range spec.Env {
		if k == EnvInstance || k == EnvNode {
			continue
		}
		env = append(env, k+"="+v)
	}
	return append(env, EnvInstance+"="+spec.InstanceID, EnvNode+"="+r.cfg.Node)
}

// reap waits for the child, records how it ended and kills whatever it
// left in its group: an instance that is over leaves nothing running.
func (r *Runtime) reap(p *proc) {
	err := p.cmd.Wait()
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	// A kill is delivered at once but a process takes a moment to die
	// (a grandchild closes its files, and so ends the log, before it is
	// gone): the instance is over when nothing of its group runs.
	waitGroupGone(pgid, time.Second)
	st := p.cmd.ProcessState
	r.mu.Lock()
	p.status.Running = false
	p.status.FinishedAt = time.Now().UTC()
	p.status.ExitCode = -1
	if st != nil {
		p.status.ExitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			p.status.Reason = "killed by signal " + ws.Signal().String()
		}
	} else if err != nil {
		p.status.Reason = err.Error()
	}
	r.mu.Unlock()
	close(p.exited)
	// The log reader ends when the last holder of stderr is gone; the
	// group was just killed, so that is now, unless a grandchild left the
	// group (setsid) holding it: then the read end is closed under the
	// reader after a grace period, so that Stop always returns.
	select {
	case <-p.logsDone:
	case <-time.After(logGrace):
		p.stderr.Close()
		<-p.logsDone
	}
	p.stdin.Close()
}

// logGrace is how long the log reader may drain what the group wrote
// before it died.
const logGrace = 2 * time.Second

func readLog(f *os.File, log workload.LogFunc, done chan<- struct{}) {
	defer close(done)
	defer f.Close() // a second Close (after reap's) is harmless
	br := bufio.NewReaderSize(f, maxLine)
	for {
		line, err := br.ReadSlice('\n')
		if len(line) > 0 && log != nil {
			text := strings.TrimSuffix(string(line), "\n")
			log(workload.Line{Time: time.Now().UTC(), Stream: workload.Stderr, Text: text})
		}
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
	}
}

func (r *Runtime) get(id string) (*proc, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.procs[id]
	if !ok {
		return nil, fmt.Errorf("process instance %s: %w", id, workload.ErrNotFound)
	}
	return p, nil
}

func (r *Runtime) statusOf(p *proc) workload.Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	return p.status
}

// Adopt implements workload.Runtime: a child's pipes do not survive its
// mcpd, so there is nothing to adopt.
func (r *Runtime) Adopt(_ context.Context, id string, _ workload.AdoptOptions) (workload.Status, error) {
	return workload.Status{}, fmt.Errorf("process instance %s cannot be adopted: %w", id, workload.ErrNotFound)
}

// Stop implements workload.Runtime.
func (r *Runtime) Stop(ctx context.Context, id string, opts workload.StopOptions) (workload.Status, error) {
	drain := opts.Drain
	if drain <= 0 {
		drain = workload.DefaultDrain
	}
	p, err := r.get(id)
	if err != nil {
		return r.stopOrphan(ctx, id, drain)
	}
	select {
	case <-p.exited:
	default:
		// The spec's order for STDIO: end of input, then SIGTERM, then
		// SIGKILL. Both go at once: servers that ignore stdin still stop.
		p.stdin.Close()
		pgid := p.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		t := time.NewTimer(drain)
		select {
		case <-p.exited:
		case <-t.C:
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		case <-ctx.Done():
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
		t.Stop()
		<-p.exited
	}
	// reap ends the log reader within logGrace of the exit.
	<-p.logsDone
	p.stdout.Close()
	r.mu.Lock()
	delete(r.procs, id)
	st := p.status
	r.mu.Unlock()
	return st, nil
}

// stopOrphan stops a child of this node that an earlier mcpd left running.
func (r *Runtime) stopOrphan(ctx context.Context, id string, drain time.Duration) (workload.Status, error) {
	orphans, err := r.orphans()
	if err != nil {
		return workload.Status{}, err
	}
	o, ok := orphans[id]
	if !ok {
		return workload.Status{}, fmt.Errorf("process instance %s: %w", id, workload.ErrNotFound)
	}
	pgid, _ := strconv.Atoi(o.RuntimeID)
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	deadline := time.Now().Add(drain)
	for groupAlive(pgid) && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	waitGroupGone(pgid, time.Second)
	o.Running = false
	o.ExitCode = -1
	o.FinishedAt = time.Now().UTC()
	o.Reason = "orphan of an earlier mcpd, stopped"
	return o, nil
}

// groupAlive reports whether a process of the group still runs. Zombies
// do not count: one whose parent is gone waits for init to reap it, and
// init in a container may never do so.
func groupAlive(pgid int) bool {
	if syscall.Kill(-pgid, 0) != nil {
		return false
	}
	pids, err := processes()
	if err != nil {
		return true
	}
	for _, pid := range pids {
		stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...: comm may hold spaces and
		// parentheses, so the fields are read after its last ')'.
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := bytes.Fields(stat[i+1:])
		if len(f) < 3 || string(f[0]) == "Z" || string(f[0]) == "X" {
			continue
		}
		if g, err := strconv.Atoi(string(f[2])); err == nil && g == pgid {
			return true
		}
	}
	return false
}

// waitGroupGone waits, at most limit, until nothing of the group runs.
func waitGroupGone(pgid int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	for groupAlive(pgid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
}

// Inspect implements workload.Runtime.
func (r *Runtime) Inspect(_ context.Context, id string) (workload.Status, error) {
	p, err := r.get(id)
	if err != nil {
		if o, ok := r.orphan(id); ok {
			return o, nil
		}
		return workload.Status{}, err
	}
	return r.statusOf(p), nil
}

// Wait implements workload.Runtime.
func (r *Runtime) Wait(ctx context.Context, id string) (workload.Status, error) {
	p, err := r.get(id)
	if err != nil {
		return workload.Status{}, err
	}
	select {
	case <-p.exited:
		return r.statusOf(p), nil
	case <-ctx.Done():
		return workload.Status{}, ctx.Err()
	}
}

// Connect implements workload.Runtime: the child's stdin and stdout, once.
func (r *Runtime) Connect(_ context.Context, id string) (mcp.Transport, error) {
	p, err := r.get(id)
	if err != nil {
		return nil, err
	}
	select {
	case <-p.exited:
		return nil, fmt.Errorf("process instance %s: %w", id, workload.ErrNotRunning)
	default:
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p.connected {
		return nil, fmt.Errorf("process instance %s: %w", id, workload.ErrBusy)
	}
	p.connected = true
	return &mcp.IOTransport{Reader: nopCloser{p.stdout}, Writer: p.stdin}, nil
}

// nopCloser keeps the transport's Close from closing stdout under the
// runtime, which closes it when the instance is released.
type nopCloser struct{ io.Reader }

func (nopCloser) Close() error { return nil }

// List implements workload.Runtime: tracked children and orphans.
func (r *Runtime) List(context.Context) ([]workload.Status, error) {
	orphans, err := r.orphans()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	out := make([]workload.Status, 0, len(r.procs)+len(orphans))
	for id, p := range r.procs {
		out = append(out, p.status)
		delete(orphans, id)
	}
	r.mu.Unlock()
	for _, o := range orphans {
		out = append(out, o)
	}
	return out, nil
}

func (r *Runtime) orphan(id string) (workload.Status, bool) {
	orphans, err := r.orphans()
	if err != nil {
		return workload.Status{}, false
	}
	o, ok := orphans[id]
	return o, ok
}

// orphans scans /proc for group leaders marked with this node, by
// instance id. Processes of other users cannot be read and are skipped.
func (r *Runtime) orphans() (map[string]workload.Status, error) {
	pids, err := processes()
	if err != nil {
		return nil, err
	}
	nodeMark := []byte(EnvNode + "=" + r.cfg.Node + "\x00")
	out := map[string]workload.Status{}
	for _, pid := range pids {
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
		if err != nil || !containsVar(env, nodeMark) {
			continue
		}
		id := varOf(env, EnvInstance)
		if id == "" {
			continue
		}
		out[id] = workload.Status{InstanceID: id, RuntimeID: strconv.Itoa(pid), Running: true}
	}
	return out, nil
}

// processes lists the pids in /proc.
func processes() ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

func containsVar(env, mark []byte) bool {
	return strings.HasPrefix(string(env), string(mark)) || strings.Contains(string(env), "\x00"+string(mark))
}

func varOf(env []byte, name string) string {
	for kv := range strings.SplitSeq(string(env), "\x00") {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

func closeAll(fs ...*os.File) {
	for _, f := range fs {
		f.Close()
	}
}
