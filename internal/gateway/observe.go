package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The SDK hands a server's notifications to their handler through a
// queue, but a response straight to the waiting call: a tool's answer can
// overtake the progress notifications the server sent before it. The
// client's request stream ends with the answer, so progress forwarded
// after it would go astray. Observe counts each call's progress
// notifications as they are read off the wire, in order; a call waits for
// its handler to have forwarded as many before it answers.

// Observe wraps a transport to an upstream server so that the engine sees
// the order of what the server sends. Wirings pass every upstream
// transport through it: STDIO (an IOTransport) and Streamable HTTP are
// observed; others pass unchanged.
func (g *Gateway) Observe(t mcp.Transport) mcp.Transport {
	switch t := t.(type) {
	case *mcp.IOTransport:
		return &mcp.IOTransport{Reader: readCloser{Reader: g.counting(t.Reader), Closer: t.Reader}, Writer: t.Writer}
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
				resp.Body = readCloser{Reader: g.counting(resp.Body), Closer: resp.Body}
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

// counting returns a reader of r's bytes that counts, per progress token,
// the progress notifications among them. Messages are one per line (a
// STDIO line, or an SSE "data:" line).
func (g *Gateway) counting(r io.Reader) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			if len(line) > 0 {
				g.noteLine(line)
				if _, werr := pw.Write(line); werr != nil {
					return
				}
			}
			if err == bufio.ErrBufferFull {
				// A long line: pass the rest through; progress notifications
				// are short.
				for err == bufio.ErrBufferFull {
					line, err = br.ReadSlice('\n')
					if _, werr := pw.Write(line); werr != nil {
						return
					}
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

var progressMethod = []byte(`"notifications/progress"`)

func (g *Gateway) noteLine(line []byte) {
	if !bytes.Contains(line, progressMethod) {
		return
	}
	line = bytes.TrimPrefix(bytes.TrimSpace(line), []byte("data:"))
	var msg struct {
		Method string `json:"method"`
		Params struct {
			Token any `json:"progressToken"`
		} `json:"params"`
	}
	if json.Unmarshal(line, &msg) != nil || msg.Method != "notifications/progress" {
		return
	}
	if tok, ok := msg.Params.Token.(string); ok {
		if v, ok := g.progress.Load(tok); ok {
			v.(*call).seen.Add(1)
		}
	}
}

// drain waits until the call's progress notifications read before its
// answer have been forwarded, for at most a second.
func (c *call) drain() {
	if c.seen.Load() == c.done.Load() {
		return
	}
	deadline := time.Now().Add(time.Second)
	for c.seen.Load() > c.done.Load() && time.Now().Before(deadline) {
		time.Sleep(200 * time.Microsecond)
	}
}
