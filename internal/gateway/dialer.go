package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TransportFunc opens a transport to one server; stop releases what it
// started (a process, say) after the session on it ends.
type TransportFunc func(ctx context.Context, server string) (t mcp.Transport, stop func(), err error)

// TransportDialer is an UpstreamDialer over a TransportFunc: it keeps one
// shared session per server, opened on first use and again after it
// ends, and opens per-session ones on demand. mcplocal (to mcpd's relay)
// and mcplocal standalone (to local processes) use it.
type TransportDialer struct {
	// ConnectTimeout bounds opening a session (transport and initialize)
	// [2m: npx may download the server first].
	ConnectTimeout time.Duration

	transport TransportFunc
	g         *Gateway

	mu     sync.Mutex
	shared map[string]*sharedConn
	// stops tracks the shared sessions' goroutines, which stop what
	// their transport started once the session ends.
	stops sync.WaitGroup
}

type sharedConn struct {
	ready chan struct{}
	cs    *mcp.ClientSession
	err   error
	at    time.Time
}

// retryAfter is how long a failed shared connection is not tried again.
const retryAfter = time.Second

// NewTransportDialer returns a dialer over connect; New binds it to the
// engine it serves.
func NewTransportDialer(transport TransportFunc) *TransportDialer {
	return &TransportDialer{ConnectTimeout: 2 * time.Minute, transport: transport, shared: map[string]*sharedConn{}}
}

// Bind ties the dialer to the engine whose clients it connects; New
// does it for a dialer passed as Deps.Upstreams.
func (d *TransportDialer) Bind(g *Gateway) { d.g = g }

// Shared returns server's shared session, connecting when there is none.
func (d *TransportDialer) Shared(ctx context.Context, server string) (*mcp.ClientSession, error) {
	d.mu.Lock()
	c := d.shared[server]
	if c != nil {
		select {
		case <-c.ready:
			if c.err != nil && time.Since(c.at) > retryAfter {
				c = nil
			}
		default:
		}
	}
	if c == nil {
		c = &sharedConn{ready: make(chan struct{})}
		d.shared[server] = c
		d.mu.Unlock()
		// Connect apart from any one caller: every caller (the first too)
		// waits within its own context; the connection is bounded by
		// ConnectTimeout.
		d.stops.Add(1)
		go func() {
			defer d.stops.Done()
			cctx, cancel := context.WithTimeout(context.Background(), d.ConnectTimeout)
			defer cancel()
			cs, stop, err := d.open(cctx, server, func(ctx context.Context, t mcp.Transport) (*mcp.ClientSession, error) {
				return d.g.Connect(ctx, server, nil, t)
			})
			c.cs, c.err, c.at = cs, err, time.Now()
			close(c.ready)
			if err != nil {
				return
			}
			cs.Wait()
			stop()
			d.mu.Lock()
			if d.shared[server] == c {
				delete(d.shared, server)
			}
			d.mu.Unlock()
		}()
	} else {
		d.mu.Unlock()
	}
	select {
	case <-c.ready:
		return c.cs, c.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Dial opens a session of server's own for one client session.
func (d *TransportDialer) Dial(ctx context.Context, server string, connect ConnectFunc) (*mcp.ClientSession, func(), error) {
	cs, stop, err := d.open(ctx, server, connect)
	if err != nil {
		return nil, nil, err
	}
	return cs, func() { cs.Close(); stop() }, nil
}

func (d *TransportDialer) open(ctx context.Context, server string, connect ConnectFunc) (*mcp.ClientSession, func(), error) {
	t, stop, err := d.transport(ctx, server)
	if err != nil {
		return nil, nil, fmt.Errorf("server %s: %w: %w", server, ErrUnavailable, err)
	}
	if stop == nil {
		stop = func() {}
	}
	cs, err := connect(ctx, t)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("server %s: %w: initialize: %w", server, ErrUnavailable, err)
	}
	return cs, stop, nil
}

// Close ends the shared sessions and waits until what their transports
// started (processes) is stopped.
func (d *TransportDialer) Close() {
	d.mu.Lock()
	all := d.shared
	d.shared = map[string]*sharedConn{}
	d.mu.Unlock()
	for _, c := range all {
		<-c.ready
		if c.cs != nil {
			c.cs.Close()
		}
	}
	d.stops.Wait()
}

// KeepAliveClient is an HTTP client for upstream MCP servers: it keeps up
// to 128 idle connections per host, so concurrent calls to one server do
// not dial again and again.
func KeepAliveClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 128
	return &http.Client{Transport: t}
}
