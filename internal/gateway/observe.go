package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The SDK hands a server's notifications to their handler through a
// queue, but a response straight to the waiting call: a tool's answer can
// overtake the progress and log notifications the server sent before it.
// The client's request stream ends with the answer, so what is forwarded
// after it goes astray. So each upstream connection is observed: its
// progress and log notifications are counted as they are read off the
// wire, in order (tally.seen), and counted again once handled
// (link.handled); a call that has its answer waits until every
// notification read before the answer was handled.

// ConnectFunc opens an MCP session over a transport: the gateway's
// Connect bound to a server and an owner, handed to the dialers.
type ConnectFunc func(ctx context.Context, t mcp.Transport) (*mcp.ClientSession, error)

// tally counts one connection's progress and log notifications as read.
type tally struct{ seen atomic.Int64 }

// Connect opens an upstream session of server over t: the session every
// client shares when owner is nil, or one for owner alone. Wirings open
// every upstream session through it (the dialer's own, an instance's),
// so that the engine routes what the server sends.
func (g *Gateway) Connect(ctx context.Context, server string, owner *mcp.ServerSession, t mcp.Transport) (*mcp.ClientSession, error) {
	return g.connect(ctx, server, owner, t, UpstreamSessionOptions())
}

func (g *Gateway) connect(ctx context.Context, server string, owner *mcp.ServerSession, t mcp.Transport, opts *mcp.ClientSessionOptions) (*mcp.ClientSession, error) {
	var client *mcp.Client
	if owner == nil {
		client = g.sharedClient(server)
	} else {
		client = g.newClient(server, owner)
	}
	ta := &tally{}
	if io, ok := t.(*mcp.IOTransport); ok && io.MaxLineLength < int(g.cfg.MaxResponseBytes)+1<<20 {
		// An answer up to the gateway's limit must fit one line; the
		// limit, not the transport, refuses a larger one.
		c := *io
		c.MaxLineLength = int(g.cfg.MaxResponseBytes) + 1<<20
		t = &c
	}
	hu := httpUpstreamOf(t)
	cs, err := client.Connect(ctx, observe(t, ta), opts)
	if err != nil {
		return nil, err
	}
	l := g.linkOf(cs, server, owner)
	l.tally.Store(ta)
	if hu != nil {
		l.http.Store(hu)
	}
	g.levelOnConnect(ctx, cs, l)
	return cs, nil
}

// ConnectShared is Connect for server's shared session, in the shape the
// instance manager takes. A STDIO server adopted after a restart of mcpd
// was initialized by the mcpd before and refuses a second initialize:
// its session is opened in the newest protocol (server/discover, no
// initialize), falling back to the session era when it has no other.
func (g *Gateway) ConnectShared(ctx context.Context, server string, t mcp.Transport, adopted bool) (*mcp.ClientSession, error) {
	if _, stdio := t.(*mcp.IOTransport); adopted && stdio {
		return g.connect(ctx, server, nil, t, nil)
	}
	return g.Connect(ctx, server, nil, t)
}

// observe wraps t so that ta sees what the server sends: STDIO (an
// IOTransport) and Streamable HTTP are observed; others pass unchanged.
func observe(t mcp.Transport, ta *tally) mcp.Transport {
	switch t := t.(type) {
	case *mcp.IOTransport:
		c := *t
		c.Reader = ta.counting(t.Reader)
		return &c
	case *mcp.StreamableClientTransport:
		c := *t
		base := http.DefaultClient
		if t.HTTPClient != nil {
			base = t.HTTPClient
		}
		hc := *base
		rt := hc.Transport
		if rt == nil {
			rt = http.DefaultTransport
		}
		hc.Transport = roundTripper(func(r *http.Request) (*http.Response, error) {
			resp, err := rt.RoundTrip(r)
			if err == nil && resp.Body != nil {
				resp.Body = ta.counting(resp.Body)
			}
			return resp, err
		})
		c.HTTPClient = &hc
		return &c
	}
	return t
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// countingReader passes a source's bytes through as they are read and
// counts the progress and log notifications among them, in the reading
// goroutine: bytes are counted before the SDK sees them, so a
// notification is counted before an answer that follows it is delivered.
// Messages are one per line (a STDIO line, or an SSE "data:" line); a
// line longer than maxCountedLine is not counted (notifications that
// matter here are short).
type countingReader struct {
	src  io.ReadCloser
	ta   *tally
	line []byte // the current line so far, when a read split it
	skip bool   // the current line outgrew maxCountedLine
}

const maxCountedLine = 64 << 10

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.src.Read(p)
	c.scan(p[:n])
	return n, err
}

func (c *countingReader) Close() error { return c.src.Close() }

func (c *countingReader) scan(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.keep(b)
			return
		}
		switch {
		case c.skip:
		case len(c.line) == 0:
			c.ta.note(b[:i])
		default:
			c.keep(b[:i])
			if !c.skip {
				c.ta.note(c.line)
			}
		}
		c.line, c.skip = c.line[:0], false
		b = b[i+1:]
	}
}

func (c *countingReader) keep(b []byte) {
	if c.skip {
		return
	}
	if len(c.line)+len(b) > maxCountedLine {
		c.line, c.skip = c.line[:0], true
		return
	}
	c.line = append(c.line, b...)
}

// counting returns a reader of r's bytes that counts the progress and log
// notifications among them.
func (ta *tally) counting(r io.ReadCloser) io.ReadCloser {
	return &countingReader{src: r, ta: ta}
}

var (
	progressMethod = []byte(`"notifications/progress"`)
	messageMethod  = []byte(`"notifications/message"`)
)

// counted says whether a notification method is one the tally counts.
func counted(method string) bool {
	return method == "notifications/progress" || method == "notifications/message"
}

func (ta *tally) note(line []byte) {
	if !bytes.Contains(line, progressMethod) && !bytes.Contains(line, messageMethod) {
		return
	}
	line = bytes.TrimPrefix(bytes.TrimSpace(line), []byte("data:"))
	var msg struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(line, &msg) == nil && msg.ID == nil && counted(msg.Method) {
		ta.seen.Add(1)
	}
}

// settle waits until every progress and log notification the link's
// server sent before now was handled, for at most settleFor. A count that
// does not catch up (a notification the SDK would not dispatch: malformed,
// say) is written off, so that it never delays another call.
func (l *link) settle() {
	ta := l.tally.Load()
	if ta == nil {
		return
	}
	target := ta.seen.Load()
	if l.handled.Load() >= target {
		return
	}
	deadline := time.Now().Add(settleFor)
	for l.handled.Load() < target && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
	for {
		h := l.handled.Load()
		if h >= target || l.handled.CompareAndSwap(h, target) {
			return
		}
	}
}

// settleFor bounds the wait of settle.
const settleFor = time.Second
