//lint:file-ignore SA1019 the gateway forwards logging, sampling and roots (deprecated in 2026-07-28, alive in the session era) and the server's not-found code

package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// CodeRequestTimeout is the JSON-RPC error code of a call the server did
// not answer in time (as the TypeScript SDK numbers it).
const CodeRequestTimeout = -32001

// errCallTimeout is the cause of a call context that timed out.
var errCallTimeout = errors.New("call timed out")

var tokenSeq atomic.Uint64

// dialTimeout bounds opening a per-session upstream (npx may download the
// server first).
const dialTimeout = 2 * time.Minute

// ownedUpstream is a per-session upstream: a session of its own (or a
// process of its own) for one downstream session.
type ownedUpstream struct {
	ready chan struct{}
	cs    *mcp.ClientSession
	err   error
	stop  func()
	once  sync.Once
}

func (u *ownedUpstream) close() {
	<-u.ready
	u.once.Do(func() {
		if u.stop != nil {
			u.stop()
		}
	})
}

// upstream returns the session a request of ss for server goes to, and
// its link.
func (g *Gateway) upstream(ctx context.Context, st *viewState, ss mcp.Session, server string) (*mcp.ClientSession, *link, error) {
	if own, ok := ss.(*mcp.ServerSession); ok && st.modes[server] == v1.SessionPerSession {
		cs, err := g.ownedBy(ctx, own, server)
		if err != nil {
			return nil, nil, err
		}
		return cs, g.linkOf(cs, server, own), nil
	}
	cs, err := g.dialer.Shared(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	return cs, g.linkOf(cs, server, nil), nil
}

// ownedBy returns ss's own session of server, dialing it on first use.
// It is closed when ss ends.
func (g *Gateway) ownedBy(ctx context.Context, ss *mcp.ServerSession, server string) (*mcp.ClientSession, error) {
	g.mu.Lock()
	ups := g.owned[ss]
	first := ups == nil
	if first {
		ups = map[string]*ownedUpstream{}
		g.owned[ss] = ups
	}
	u := ups[server]
	if u == nil {
		u = &ownedUpstream{ready: make(chan struct{})}
		ups[server] = u
		g.mu.Unlock()
		if first {
			go func() {
				ss.Wait()
				g.Release(ss)
			}()
		}
		// The dial outlives the request that asked first (the session is
		// ss's), within a bound of its own.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), dialTimeout)
		u.cs, u.stop, u.err = g.dialer.Dial(dctx, server, func(ctx context.Context, t mcp.Transport) (*mcp.ClientSession, error) {
			return g.Connect(ctx, server, ss, t)
		})
		cancel()
		close(u.ready)
		forget := func() {
			g.mu.Lock()
			if g.owned[ss] != nil && g.owned[ss][server] == u {
				delete(g.owned[ss], server)
			}
			g.mu.Unlock()
		}
		if u.err != nil {
			forget()
		} else {
			// An upstream that ends (its process died) is dialed again
			// by the session's next call.
			go func() {
				u.cs.Wait()
				forget()
				u.close()
			}()
		}
	} else {
		g.mu.Unlock()
	}
	select {
	case <-u.ready:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return u.cs, u.err
}

// Release closes what the engine holds for a downstream session that
// ended: its per-session upstreams and its subscriptions.
func (g *Gateway) Release(ss *mcp.ServerSession) {
	g.mu.Lock()
	ups := g.owned[ss]
	delete(g.owned, ss)
	g.mu.Unlock()
	for _, u := range ups {
		u.close()
	}
	g.dropSubscriptions(ss)
	g.levels.Delete(ss)
}

// begin records a call in flight on l: its progress token and its
// timeout, which progress starts again. end must be called.
func (g *Gateway) begin(ctx context.Context, l *link, ss mcp.Session, down any) (c *call, callCtx context.Context, end func()) {
	own, _ := ss.(*mcp.ServerSession)
	callCtx, cancel := context.WithCancelCause(ctx)
	c = &call{ss: own, ctx: ctx, down: down, up: "mcpctl-" + strconv.FormatUint(tokenSeq.Add(1), 36), mrtr: pendingOf(ctx), link: l}
	timer := time.AfterFunc(g.cfg.CallTimeout, func() { cancel(errCallTimeout) })
	c.touch = func() { timer.Reset(g.cfg.CallTimeout) }
	g.progress.Store(c.up, c)
	l.add(c)
	// A server of the stateless era asks for input within the call: the
	// SDK hands those requests to the client's handlers with this context.
	callCtx = context.WithValue(callCtx, callKey{}, c)
	return c, callCtx, func() {
		l.settle()
		timer.Stop()
		cancel(nil)
		g.progress.Delete(c.up)
		l.remove(c)
	}
}

// upMeta is the _meta sent upstream: the client's, without the keys of
// the stateless era's per-request protocol (the upstream session has its
// own), with the progress token replaced by the call's own (always set,
// so that progress keeps a long call alive even when the client asked for
// none).
func (c *call) upMeta(down mcp.Meta) mcp.Meta {
	m := passMeta(down)
	m["progressToken"] = c.up
	return m
}

// protocolMeta prefixes the _meta keys of the stateless era's
// per-request protocol (version, client info and capabilities, log level).
const protocolMeta = "io.modelcontextprotocol/"

// passMeta copies the _meta of a client's request that may go upstream.
func passMeta(down mcp.Meta) mcp.Meta {
	m := make(mcp.Meta, len(down)+1)
	for k, v := range down {
		if !strings.HasPrefix(k, protocolMeta) {
			m[k] = v
		}
	}
	return m
}

// requestLevel makes the upstream send the logs a stateless client asked
// for with its request's log level.
func (g *Gateway) requestLevel(ctx context.Context, cs *mcp.ClientSession, l *link, down mcp.Meta) {
	if lvl, ok := down[protocolMeta+"logLevel"].(string); ok {
		g.askLevel(ctx, cs, l, mcp.LoggingLevel(lvl))
	}
}

// failure turns an upstream error into the client's JSON-RPC error.
func (g *Gateway) failure(callCtx context.Context, server, what string, err error) error {
	var werr *jsonrpc.Error
	switch {
	case errors.Is(context.Cause(callCtx), errCallTimeout):
		return &jsonrpc.Error{Code: CodeRequestTimeout, Message: fmt.Sprintf(
			"server %s did not answer %s within %s and sent no progress; the request was cancelled on the server", server, what, g.cfg.CallTimeout)}
	case callCtx.Err() != nil:
		return callCtx.Err()
	case errors.As(err, &werr):
		return werr
	case errors.Is(err, ErrUnavailable):
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("%s: %v", what, err)}
	case errors.Is(err, mcp.ErrConnectionClosed):
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
			"server %s closed its connection during %s (its instance may be restarting); try again", server, what)}
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("server %s failed %s: %v", server, what, err)}
}

// tooLarge refuses an answer over MaxResponseBytes.
func (g *Gateway) tooLarge(server, what string, res any) error {
	b, err := json.Marshal(res)
	if err != nil {
		return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("server %s answered %s with something that is not JSON: %v", server, what, err)}
	}
	if n := int64(len(b)); n > g.cfg.MaxResponseBytes {
		return g.overLimit(server, what, n)
	}
	return nil
}

// overLimit is the error of an answer of n bytes (-1: not read to its
// end), over MaxResponseBytes.
func (g *Gateway) overLimit(server, what string, n int64) error {
	size := fmt.Sprintf("is %d bytes, over", n)
	if n < 0 {
		size = "is over"
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf(
		"the answer of server %s to %s %s the gateway's limit of %d bytes; ask for less, or raise the limit", server, what, size, g.cfg.MaxResponseBytes)}
}

// callKey carries the call in flight in the upstream call's context.
type callKey struct{}

// pendingKey carries a stateless client's waiting call to begin.
type pendingKey struct{}

func pendingOf(ctx context.Context) *pending {
	p, _ := ctx.Value(pendingKey{}).(*pending)
	return p
}

// approxSize estimates the encoded size of a tool's answer from its
// contents (base64 for binary data), without encoding it.
func approxSize(res *mcp.CallToolResult) int64 {
	n := int64(256)
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			n += int64(len(c.Text))*2 + 64 // escapes may double it
		case *mcp.ImageContent:
			n += int64(len(c.Data))*4/3 + 128
		case *mcp.AudioContent:
			n += int64(len(c.Data))*4/3 + 128
		case *mcp.EmbeddedResource:
			if c.Resource != nil {
				n += int64(len(c.Resource.Text))*2 + int64(len(c.Resource.Blob))*4/3 + 256
			}
		default:
			n += 1 << 10
		}
	}
	if res.StructuredContent != nil {
		b, _ := json.Marshal(res.StructuredContent)
		n += int64(len(b))
	}
	return n
}

func (v *view) toolHandler(r ref) mcp.ToolHandler {
	return func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		start := time.Now()
		res, input, err := inRounds(ctx, v.g, req.Session, req.Extra, req.ClientCapabilities(), req.Params.RequestState, req.Params.InputResponses,
			func(ctx context.Context) (*mcp.CallToolResult, error) {
				return v.g.callTool(ctx, v.state.Load(), req, r)
			},
			func(in mcp.InputRequestMap, state string) *mcp.CallToolResult {
				return &mcp.CallToolResult{InputRequests: in, RequestState: state}
			})
		if input {
			return res, nil
		}
		outcome, detail := OutcomeOK, argShape(req.Params.Arguments)
		switch {
		case err != nil:
			outcome, detail = OutcomeError, err.Error()
		case res.IsError:
			outcome = OutcomeToolError
		}
		v.g.record(req.Extra, v.name, r, "tools/call", start, outcome, false, detail, sessionID(req.Session))
		return res, err
	}
}

func (g *Gateway) callTool(ctx context.Context, st *viewState, req *mcp.CallToolRequest, r ref) (*mcp.CallToolResult, error) {
	what := "tool " + r.name
	cs, l, err := g.upstream(ctx, st, req.Session, r.server)
	if err != nil {
		return nil, g.failure(ctx, r.server, what, err)
	}
	g.requestLevel(ctx, cs, l, req.Params.Meta)
	c, callCtx, end := g.begin(ctx, l, req.Session, req.Params.GetProgressToken())
	defer end()
	p := &mcp.CallToolParams{Meta: c.upMeta(req.Params.Meta), Name: r.name}
	if len(req.Params.Arguments) > 0 {
		p.Arguments = req.Params.Arguments
	}
	res, err := cs.CallTool(callCtx, p)
	if err != nil {
		return nil, g.failure(callCtx, r.server, what, err)
	}
	if approxSize(res) > g.cfg.MaxResponseBytes/2 {
		// Near the limit: measure exactly (the estimate saves encoding
		// every answer once more).
		if err := g.tooLarge(r.server, what, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

func (v *view) promptHandler(r ref) mcp.PromptHandler {
	return func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		start := time.Now()
		what := "prompt " + r.name
		get := func(ctx context.Context) (*mcp.GetPromptResult, error) {
			cs, l, err := v.g.upstream(ctx, v.state.Load(), req.Session, r.server)
			if err != nil {
				return nil, v.g.failure(ctx, r.server, what, err)
			}
			v.g.requestLevel(ctx, cs, l, req.Params.Meta)
			c, callCtx, end := v.g.begin(ctx, l, req.Session, req.Params.GetProgressToken())
			defer end()
			res, err := cs.GetPrompt(callCtx, &mcp.GetPromptParams{Meta: c.upMeta(req.Params.Meta), Name: r.name, Arguments: req.Params.Arguments})
			if err != nil {
				return nil, v.g.failure(callCtx, r.server, what, err)
			}
			return res, v.g.tooLarge(r.server, what, res)
		}
		res, input, err := inRounds(ctx, v.g, req.Session, req.Extra, req.ClientCapabilities(), req.Params.RequestState, req.Params.InputResponses, get,
			func(in mcp.InputRequestMap, state string) *mcp.GetPromptResult {
				return &mcp.GetPromptResult{InputRequests: in, RequestState: state}
			})
		if input {
			return res, nil
		}
		detail := promptShape(req.Params.Arguments)
		if err != nil {
			detail = err.Error()
		}
		v.g.record(req.Extra, v.name, r, "prompts/get", start, outcomeOf(err), false, detail, sessionID(req.Session))
		return res, err
	}
}

// readMark tells read that the SDK routed a read to resourceHandler.
type readMark struct{}

func (v *view) resourceHandler() mcp.ResourceHandler {
	return func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		if ran, ok := ctx.Value(readMark{}).(*bool); ok {
			*ran = true
		}
		st := v.state.Load()
		server, own, ok := st.names.splitURI(req.Params.URI)
		if !ok {
			return nil, mcp.ResourceNotFoundError(req.Params.URI)
		}
		return v.readFrom(ctx, st, req, ref{server, own})
	}
}

// read serves resources/read through the SDK (registered resources and
// templates); a URI it does not know that a server of the project can be
// asked for (servers serve URIs they do not list) goes straight there.
func (v *view) read(ctx context.Context, req *mcp.ReadResourceRequest, next mcp.MethodHandler) (mcp.Result, error) {
	st := v.state.Load()
	if _, ok := st.resources[req.Params.URI]; !ok && len(st.templates) == 0 {
		st = v.sync(ctx)
	}
	ran := new(bool)
	res, err := next(context.WithValue(ctx, readMark{}, ran), "resources/read", req)
	var werr *jsonrpc.Error
	if *ran || err == nil || !errors.As(err, &werr) || werr.Code != mcp.CodeResourceNotFound {
		// Answered, or the server itself said not found.
		return res, err
	}
	if _, listed := st.resources[req.Params.URI]; listed {
		return res, err
	}
	server, own, ok := st.names.splitURI(req.Params.URI)
	if !ok {
		return res, err
	}
	return v.readFrom(ctx, st, req, ref{server, own})
}

func (v *view) readFrom(ctx context.Context, st *viewState, req *mcp.ReadResourceRequest, r ref) (*mcp.ReadResourceResult, error) {
	start := time.Now()
	what := "resource " + r.name
	res, err := func() (*mcp.ReadResourceResult, error) {
		cs, l, err := v.g.upstream(ctx, st, req.Session, r.server)
		if err != nil {
			return nil, v.g.failure(ctx, r.server, what, err)
		}
		v.g.requestLevel(ctx, cs, l, req.Params.Meta)
		c, callCtx, end := v.g.begin(ctx, l, req.Session, req.Params.GetProgressToken())
		defer end()
		res, err := cs.ReadResource(callCtx, &mcp.ReadResourceParams{Meta: c.upMeta(req.Params.Meta), URI: r.name})
		if err != nil {
			return nil, v.g.failure(callCtx, r.server, what, err)
		}
		if err := v.g.tooLarge(r.server, what, res); err != nil {
			return nil, err
		}
		for _, c := range res.Contents {
			if c.URI != "" {
				c.URI = st.names.uri(r.server, c.URI)
			}
		}
		return res, nil
	}()
	v.g.record(req.Extra, v.name, r, "resources/read", start, outcomeOf(err), false, errText(err), sessionID(req.Session))
	return res, err
}

// complete routes completion/complete to the server of the prompt or
// resource template it names.
func (v *view) complete(ctx context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	st := v.sync(ctx)
	cr := req.Params.Ref
	if cr == nil {
		return nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "completion/complete needs a ref"}
	}
	var r ref
	var ok bool
	own := *cr
	switch cr.Type {
	case "ref/prompt":
		r, ok = st.prompts[cr.Name]
		ok = ok && r.server != ""
		own.Name = r.name
	case "ref/resource":
		if r, ok = st.templates[cr.URI]; !ok {
			r, ok = st.resources[cr.URI]
		}
		own.URI = r.name
	}
	if !ok {
		// Nothing to complete from (a project prompt, or an unknown name).
		return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{}}}, nil
	}
	ctx, cancel := context.WithTimeout(ctx, v.g.cfg.CallTimeout)
	defer cancel()
	cs, _, err := v.g.upstream(ctx, st, req.Session, r.server)
	if err != nil {
		return nil, v.g.failure(ctx, r.server, "completion", err)
	}
	res, err := cs.Complete(ctx, &mcp.CompleteParams{Meta: passMeta(req.Params.Meta), Ref: &own, Argument: req.Params.Argument, Context: req.Params.Context})
	if err != nil {
		return nil, v.g.failure(ctx, r.server, "completion", err)
	}
	return res, nil
}

func outcomeOf(err error) string {
	if err != nil {
		return OutcomeError
	}
	return OutcomeOK
}

func errText(err error) string {
	if err != nil {
		return err.Error()
	}
	return ""
}

// argShape describes arguments by their keys and JSON types, never their
// values: {"path":"string","depth":"number"}.
func argShape(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "{}"
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return "(not an object)"
	}
	shape := make(map[string]string, len(m))
	for k, v := range m {
		shape[k] = jsonType(v)
	}
	b, _ := json.Marshal(shape)
	if len(b) > 1024 {
		return string(b[:1024]) + "…"
	}
	return string(b)
}

// promptShape names a prompt's argument keys, never their values.
func promptShape(args map[string]string) string {
	shape := make(map[string]string, len(args))
	for k := range args {
		shape[k] = "string"
	}
	b, _ := json.Marshal(shape)
	return string(b)
}

func jsonType(v json.RawMessage) string {
	for _, c := range v {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '"':
			return "string"
		case '{':
			return "object"
		case '[':
			return "array"
		case 't', 'f':
			return "boolean"
		case 'n':
			return "null"
		default:
			return "number"
		}
	}
	return "null"
}
