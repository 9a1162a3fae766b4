package workload

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Sentinel errors, compared with errors.Is.
var (
	// ErrNotFound: no instance with that id belongs to this runtime and
	// node (it never existed, was released, or is not ours).
	ErrNotFound = errors.New("no such instance")
	// ErrNotRunning: the instance exists but has exited.
	ErrNotRunning = errors.New("instance is not running")
	// ErrBusy: a STDIO instance already has its one MCP connection.
	ErrBusy = errors.New("instance already has an MCP connection")
	// ErrUnavailable: the runtime's backend (the Docker engine) cannot be
	// reached right now; the call may succeed later.
	ErrUnavailable = errors.New("runtime unavailable")
)

// DefaultDrain is how long Stop waits after SIGTERM before it kills.
const DefaultDrain = 10 * time.Second

// Streams a log line comes from.
const (
	Stdout = "stdout"
	Stderr = "stderr"
)

// Line is one line an instance wrote to its log, as the runtime read it:
// not yet sanitised, without its line break.
type Line struct {
	Time   time.Time
	Stream string
	Text   string
}

// LogFunc receives an instance's log lines in order. Runtimes call it from
// their own goroutines and wait for it, so it must return quickly; it is
// never called after Stop has returned.
type LogFunc func(Line)

// Limits bound an instance's resources. Zero fields take the runtime's
// defaults; the process runtime does not enforce them.
type Limits struct {
	// MemoryBytes caps memory (Docker: also swap).
	MemoryBytes int64
	// NanoCPUs caps CPU time in billionths of a CPU (1e9 = one CPU).
	NanoCPUs int64
	// Pids caps the number of processes and threads.
	Pids int64
}

// Spec is what Start needs to run one instance.
type Spec struct {
	// InstanceID is the instance's id, a UUID chosen by the caller; the
	// runtime marks everything it creates with it.
	InstanceID string
	// Server is the name of the Server the instance belongs to.
	Server string
	// Transport is how the server speaks MCP: "stdio" (stdin/stdout) or
	// "streamable-http" / "sse" (on Port, for images).
	Transport string
	// Command and Args run a process (process runtime).
	Command string
	Args    []string
	// Image runs a container (docker runtime); Args are its arguments.
	Image string
	// Port is the container port an HTTP server listens on.
	Port int
	// Path is the HTTP path of the MCP endpoint; default /mcp (/sse for
	// the sse transport).
	Path string
	// Env is the instance's whole environment beyond the runtime's base:
	// literal values and resolved secrets. Never put on a command line.
	Env map[string]string
	// Limits bound the instance's resources.
	Limits Limits
	// Log receives the instance's log: stderr for a STDIO server, both
	// streams for an HTTP one.
	Log LogFunc
}

// Status is what a runtime knows of one instance.
type Status struct {
	InstanceID string
	Server     string
	// RuntimeID is the runtime's own name for it: a pid or a container id.
	RuntimeID string
	Running   bool
	// ExitCode is meaningful once Running is false. A process killed by
	// a signal reports -1 (and the signal in Reason); a container reports
	// the engine's 128+N.
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	// Reason says why it ended when the exit code does not (for example
	// "OOMKilled", "killed by signal 9").
	Reason string
}

// StopOptions tune Stop.
type StopOptions struct {
	// Drain is how long to wait after asking the instance to stop
	// (SIGTERM) before killing it; zero means DefaultDrain.
	Drain time.Duration
}

// AdoptOptions tune Adopt.
type AdoptOptions struct {
	// Log receives the instance's log lines from Since on.
	Log LogFunc
	// Since skips older log lines (those already stored).
	Since time.Time
}

// Runtime starts, stops, inspects and connects to server instances. All
// methods are safe for concurrent use; ids are instance ids, never a pid or
// container id from a caller.
type Runtime interface {
	// Name is the runtime's name as ServerSpec.Runtime spells it.
	Name() string

	// Start runs a new instance and returns once it is running (not yet
	// ready: the caller probes readiness over MCP). The instance's log goes
	// to spec.Log from its first line. A command or image that does not
	// exist is an error here, not a crash later. A Start whose ctx ends
	// leaves nothing behind.
	Start(ctx context.Context, spec Spec) (Status, error)

	// Adopt takes over an instance that this node started before a restart
	// and that is still running: its log is followed again and Connect
	// works. Runtimes whose instances cannot outlive their mcpd (process)
	// return ErrNotFound; the caller then stops the orphan. Adopting an
	// instance the runtime already tracks is an error.
	Adopt(ctx context.Context, id string, opts AdoptOptions) (Status, error)

	// Stop asks the instance to stop (SIGTERM, and for STDIO the end of
	// stdin where the runtime can: a container's stdin stays open so that
	// it can be attached again), waits up to the drain timeout (a runtime
	// may round it up to its own unit), then kills it and everything it
	// started, and releases it: afterwards the id is unknown. It
	// returns the final status. Stopping an instance that already exited
	// only releases it; every instance must be stopped once.
	Stop(ctx context.Context, id string, opts StopOptions) (Status, error)

	// Inspect reports the instance's current status.
	Inspect(ctx context.Context, id string) (Status, error)

	// Wait blocks until the instance exits (or ctx ends) and returns its
	// final status. It does not release it.
	Wait(ctx context.Context, id string) (Status, error)

	// Connect returns an MCP transport to the running instance: its
	// stdin/stdout for STDIO (one connection per instance lifetime:
	// a second is ErrBusy), its HTTP endpoint otherwise.
	Connect(ctx context.Context, id string) (mcp.Transport, error)

	// List reports every instance of this node that the runtime can see,
	// including ones it does not track (left by an earlier mcpd run).
	List(ctx context.Context) ([]Status, error)
}

// Detachable reports whether rt's instances outlive their mcpd (containers
// do, child processes do not): mcpd leaves them running when it stops and
// adopts them when it starts again.
func Detachable(rt Runtime) bool {
	d, ok := rt.(interface{ Detachable() bool })
	return ok && d.Detachable()
}

// NewID returns a random instance id (a UUID v4), what Spec.InstanceID
// holds.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
