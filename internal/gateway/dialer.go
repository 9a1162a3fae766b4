package gateway

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ConnectFunc opens a transport to one server; stop releases what it
// started (a process, say) after the session on it ends.
type ConnectFunc func(ctx context.Context, server string) (t mcp.Transport, stop func(), err error)

// TransportDialer is an UpstreamDialer over a ConnectFunc: it keeps one
// shared session per server, opened on first use and again after it
// ends, and opens per-session ones on demand. mcplocal (to mcpd's relay)
// and mcplocal standalone (to local processes) use it.
type TransportDialer struct {
	connect ConnectFunc
	g       *Gateway

	mu     sync.Mutex
	shared map[string]*sharedConn
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
func NewTransportDialer(connect ConnectFunc) *TransportDialer {
	return &TransportDialer{connect: connect, shared: map[string]*sharedConn{}}
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
		client, opts := d.g.UpstreamClient(server)
		cs, stop, err := d.open(context.WithoutCancel(ctx), server, client, opts)
		c.cs, c.err, c.at = cs, err, time.Now()
		close(c.ready)
		if err == nil {
			go func() {
				cs.Wait()
				stop()
				d.mu.Lock()
				if d.shared[server] == c {
					delete(d.shared, server)
				}
				d.mu.Unlock()
			}()
		}
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
func (d *TransportDialer) Dial(ctx context.Context, server string, client *mcp.Client) (*mcp.ClientSession, func(), error) {
	cs, stop, err := d.open(ctx, server, client, UpstreamSessionOptions())
	if err != nil {
		return nil, nil, err
	}
	return cs, func() { cs.Close(); stop() }, nil
}

func (d *TransportDialer) open(ctx context.Context, server string, client *mcp.Client, opts *mcp.ClientSessionOptions) (*mcp.ClientSession, func(), error) {
	t, stop, err := d.connect(ctx, server)
	if err != nil {
		return nil, nil, fmt.Errorf("server %s: %w: %w", server, ErrUnavailable, err)
	}
	if stop == nil {
		stop = func() {}
	}
	cs, err := client.Connect(ctx, d.g.Observe(t), opts)
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("server %s: %w: initialize: %w", server, ErrUnavailable, err)
	}
	return cs, stop, nil
}

// Close ends the shared sessions.
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
}
