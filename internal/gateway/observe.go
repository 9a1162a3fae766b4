package gateway

import (
	"bufio"
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
	var client *mcp.Client
	if owner == nil {
		client = g.sharedClient(server)
	} else {
		client = g.newClient(server, owner)
	}
	ta := &tally{}
	cs, err := client.Connect(ctx, observe(t, ta), UpstreamSessionOptions())
	if err != nil {
		return nil, err
	}
	g.linkOf(cs, server, owner).tally.Store(ta)
	return cs, nil
}

// ConnectShared is Connect for server's shared session, in the shape the
// instance manager takes.
func (g *Gateway) ConnectShared(ctx context.Context, server string, t mcp.Transport) (*mcp.ClientSession, error) {
	return g.Connect(ctx, server, nil, t)
}

// observe wraps t so that ta sees what the server sends: STDIO (an
// IOTransport) and Streamable HTTP are observed; others pass unchanged.
func observe(t mcp.Transport, ta *tally) mcp.Transport {
	switch t := t.(type) {
	case *mcp.IOTransport:
		return &mcp.IOTransport{Reader: readCloser{Reader: ta.counting(t.Reader), Closer: t.Reader}, Writer: t.Writer}
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
				resp.Body = readCloser{Reader: ta.counting(resp.Body), Closer: resp.Body}
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

type readCloser struct {
	io.Reader
	io.Closer
}

// counting returns a reader of r's bytes that counts the progress and log
// notifications among them. Messages are one per line (a STDIO line, or
// an SSE "data:" line).
func (ta *tally) counting(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				ta.note(line)
				if _, werr := pw.Write(line); werr != nil {
					return
				}
			}
			// A line longer than the buffer: the rest passes through
			// (notifications that matter here are short).
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				if _, werr := pw.Write(line); werr != nil {
					return
				}
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
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
// server sent before now was handled, for at most a second.
func (l *link) settle() {
	ta := l.tally.Load()
	if ta == nil {
		return
	}
	target := ta.seen.Load()
	if l.handled.Load() >= target {
		return
	}
	deadline := time.Now().Add(time.Second)
	for l.handled.Load() < target && time.Now().Before(deadline) {
		time.Sleep(100 * time.Microsecond)
	}
}
