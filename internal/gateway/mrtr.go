//lint:file-ignore SA1019 the gateway forwards sampling and roots (deprecated in 2026-07-28, alive in the session era)

package gateway

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A stateless (2026-07-28) client cannot be sent requests: a server that
// needs input answers "input required" with the requests, and the client
// calls again with the responses and the request state it was given
// (multi-round-trip requests, SEP-2322). Upstream sessions are of the
// session era, so an upstream asks with real requests (elicitation,
// sampling, roots) while its call is in flight. For a stateless client
// the call therefore runs apart from the client's request: each request
// the server makes while the call runs becomes an input request of the
// answer, and the call goes on when the client calls again with the
// responses. The request state names the waiting call on this gateway;
// another replica does not know it.

// pendingIdle is how long a call waits for the client to come back.
const pendingIdle = 2 * time.Minute

// gatherFor is how long a round waits for more requests after the first
// (a server may ask for several inputs at once).
const gatherFor = 20 * time.Millisecond

// pending is an upstream call of a stateless client, running apart.
type pending struct {
	id      string
	subject string
	asks    chan *ask
	done    chan roundResult
	cancel  context.CancelFunc
	timer   *time.Timer
	keys    atomic.Uint64
	// caps are the capabilities the client declared (its first
	// request's _meta); refused carries an error for a request of the
	// server the client cannot answer.
	caps    *mcp.ClientCapabilities
	refused chan error
	// gone is closed when the call is dropped: whatever waits on it
	// (another retry with the same state) stops.
	gone     chan struct{}
	dropOnce sync.Once

	mu   sync.Mutex
	open map[string]*ask // asked of the client, not yet answered
}

// ask is one request the upstream made of the client.
type ask struct {
	key   string
	req   mcp.InputRequest
	reply chan mcp.InputResponse
}

type roundResult struct {
	res mcp.Result
	err error
}

// stateless reports whether a downstream session is a stateless client's.
func stateless(s mcp.Session) bool {
	ss, ok := s.(*mcp.ServerSession)
	if !ok {
		return false
	}
	ip := ss.InitializeParams()
	return ip != nil && ip.ProtocolVersion >= StatelessVersion
}

// inputRequest asks the stateless client of p for input and waits for
// the response (within ctx, the upstream call's).
func (p *pending) inputRequest(ctx context.Context, req mcp.InputRequest) (mcp.InputResponse, error) {
	a := &ask{key: "input-" + strconv.FormatUint(p.keys.Add(1), 10), req: req, reply: make(chan mcp.InputResponse, 1)}
	select {
	case p.asks <- a:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.gone:
		return nil, errors.New("the client's call ended")
	}
	select {
	case r := <-a.reply:
		return r, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-p.gone:
		return nil, errors.New("the client's call ended")
	}
}

// roundTrip serves one request of a stateless client for a call that may
// need input: the first starts the call (start runs it, with p set on the
// call so that the upstream's requests come back here), a retry carries
// the responses to the call that waits. It returns the call's result, or
// the input requests to answer and the state to send back with them.
func (g *Gateway) roundTrip(ctx context.Context, extra *mcp.RequestExtra, caps *mcp.ClientCapabilities, state string, responses mcp.InputResponseMap,
	start func(ctx context.Context, p *pending) (mcp.Result, error)) (mcp.Result, mcp.InputRequestMap, string, error) {
	subject := PrincipalOf(extra).Subject
	var p *pending
	if state == "" {
		p = &pending{id: rand.Text(), subject: subject, asks: make(chan *ask), done: make(chan roundResult, 1), open: map[string]*ask{},
			caps: caps, refused: make(chan error, 1), gone: make(chan struct{})}
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		p.cancel = cancel
		p.timer = time.AfterFunc(pendingIdle, func() { g.dropPending(p) })
		g.pendings.Store(p.id, p)
		go func() {
			res, err := start(cctx, p)
			p.done <- roundResult{res, err}
		}()
	} else {
		v, ok := g.pendings.Load(state)
		if ok {
			p = v.(*pending)
		}
		if p == nil || p.subject != subject {
			return nil, nil, "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf(
				"requestState %q names no call waiting for input here (it expired after %s, was answered, was not issued by this gateway, or belongs to another principal); call again without it", clip(state), pendingIdle)}
		}
		p.timer.Reset(pendingIdle)
		p.mu.Lock()
		for key, r := range responses {
			if a := p.open[key]; a != nil {
				a.reply <- r
				delete(p.open, key)
			}
		}
		p.mu.Unlock()
	}
	return g.awaitRound(ctx, p)
}

// awaitRound waits for the call's result or the next input requests.
func (g *Gateway) awaitRound(ctx context.Context, p *pending) (mcp.Result, mcp.InputRequestMap, string, error) {
	var gather <-chan time.Time
	for {
		select {
		case r := <-p.done:
			g.dropPending(p)
			select {
			case err := <-p.refused:
				// The server went on without the input; the client still
				// hears what it lacked.
				return nil, nil, "", err
			default:
			}
			return r.res, nil, "", r.err
		case err := <-p.refused:
			g.dropPending(p)
			return nil, nil, "", err
		case <-p.gone:
			return nil, nil, "", &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "the call waiting under this requestState ended (another request with the same state took its answer, or it expired); call again without it"}
		case a := <-p.asks:
			p.mu.Lock()
			p.open[a.key] = a
			p.mu.Unlock()
			if gather == nil {
				gather = time.After(gatherFor)
			}
			continue
		case <-gather:
		case <-ctx.Done():
			// The client left; the call waits for a retry until it expires.
			return nil, nil, "", ctx.Err()
		}
		p.mu.Lock()
		inputs := make(mcp.InputRequestMap, len(p.open))
		for key, a := range p.open {
			inputs[key] = a.req
		}
		p.mu.Unlock()
		if len(inputs) == 0 {
			gather = nil
			continue
		}
		return nil, inputs, p.id, nil
	}
}

// inRounds runs a call for a client: straight for a session-era client;
// for a stateless one through roundTrip, so that the server's requests
// become input requests (input is then true and the answer asks for
// them with ask).
func inRounds[R mcp.Result](ctx context.Context, g *Gateway, session mcp.Session, extra *mcp.RequestExtra, caps *mcp.ClientCapabilities, state string, responses mcp.InputResponseMap,
	run func(context.Context) (R, error), ask func(mcp.InputRequestMap, string) R) (res R, input bool, err error) {
	if !stateless(session) {
		res, err = run(ctx)
		return res, false, err
	}
	out, inputs, next, err := g.roundTrip(ctx, extra, caps, state, responses, func(ctx context.Context, p *pending) (mcp.Result, error) {
		return run(context.WithValue(ctx, pendingKey{}, p))
	})
	if inputs != nil {
		return ask(inputs, next), true, nil
	}
	res, _ = out.(R)
	return res, false, err
}

// dropPending forgets a call and cancels it if it still runs.
func (g *Gateway) dropPending(p *pending) {
	g.pendings.Delete(p.id)
	p.timer.Stop()
	p.cancel()
	p.dropOnce.Do(func() { close(p.gone) })
}

// forClient sends a server's request to the client of call c: as a
// request (session era), or as an input request of the call's answer
// (stateless client).
// ctx is the server's request's.
func forClient[R mcp.InputResponse](ctx context.Context, c *call, req mcp.InputRequest, direct func() (R, error)) (R, error) {
	var zero R
	if c == nil || c.mrtr == nil {
		return direct()
	}
	if err := c.mrtr.lacks(c.link.server, req); err != nil {
		// The client's call fails with it; the server hears it too.
		select {
		case c.mrtr.refused <- err:
		default:
		}
		return zero, err
	}
	resp, err := c.mrtr.inputRequest(ctx, req)
	if err != nil {
		return zero, err
	}
	r, ok := resp.(R)
	if !ok {
		if cm, isCM := resp.(*mcp.CreateMessageWithToolsResult); isCM {
			if conv, ok := any(fromWithTools(cm)).(R); ok {
				return conv, nil
			}
		}
		return zero, errors.New("the client answered the input request with a response of another kind")
	}
	return r, nil
}

// fromWithTools turns a sampling response with tools into the plain one
// an upstream of the session era asked for.
func fromWithTools(r *mcp.CreateMessageWithToolsResult) *mcp.CreateMessageResult {
	out := &mcp.CreateMessageResult{Meta: r.Meta, Model: r.Model, Role: r.Role, StopReason: r.StopReason}
	if len(r.Content) > 0 {
		out.Content = r.Content[0]
	}
	return out
}

// lacks is the error for a request of server's the stateless client of p
// did not declare the capability for (SEP-2575: the server must not rely
// on it), or nil.
func (p *pending) lacks(server string, req mcp.InputRequest) error {
	if p.caps == nil {
		return nil
	}
	var name string
	switch req.(type) {
	case *mcp.ElicitParams:
		if p.caps.Elicitation == nil {
			name = "elicitation"
		}
	case *mcp.CreateMessageParams, *mcp.CreateMessageWithToolsParams:
		if p.caps.Sampling == nil {
			name = "sampling"
		}
	case *mcp.ListRootsParams:
		if p.caps.RootsV2 == nil {
			name = "roots"
		}
	}
	if name == "" {
		return nil
	}
	data, _ := json.Marshal(map[string]any{"requiredCapabilities": map[string]any{name: map[string]any{}}})
	return &jsonrpc.Error{Code: mcp.CodeMissingRequiredClientCapabilities, Data: data, Message: fmt.Sprintf(
		"server %s needs the client's %s capability for this call, and the request's _meta (%sclientCapabilities) does not declare it", server, name, protocolMeta)}
}
