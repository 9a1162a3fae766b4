//lint:file-ignore SA1019 the gateway forwards logging, sampling and roots (deprecated in 2026-07-28, alive in the session era)

package gateway

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// link is the engine's record of one upstream client session: which
// server it reaches, which downstream session owns it (per-session mode;
// nil when shared), and the calls in flight on it. What the server sends
// on its own (logs, sampling, elicitation, roots requests) carries no
// request id of ours, so it is attributed through the calls in flight:
// to the owner, or to the one call in flight on a shared session. When
// several clients' calls are in flight on a shared session, such a
// request is refused and such a log dropped: misrouting would leak one
// client's data to another.
type link struct {
	server string
	owner  *mcp.ServerSession

	mu    sync.Mutex
	calls map[*call]struct{}
	level int // most verbose log level asked of the server; -1: none yet

	// tally counts the progress and log notifications read off the
	// connection; handled those handled (see observe.go).
	tally   atomic.Pointer[tally]
	handled atomic.Int64
	// http reaches the session without the SDK (relay.go); nil when it
	// is not Streamable HTTP.
	http atomic.Pointer[httpUpstream]
}

// call is one downstream request in flight upstream.
type call struct {
	ss  *mcp.ServerSession
	ctx context.Context // the downstream handler's: what it sends goes on that request's stream
	// down is the client's progress token (nil: it asked for none); up
	// is the one the server sees.
	down  any
	up    string
	touch func()
	// mrtr is set for a stateless client's call: the server's requests
	// become input requests of the answer (mrtr.go).
	mrtr *pending
	// link is the upstream session the call went to.
	link *link
}

// linkOf returns the link of cs, recording it on first sight; it is
// forgotten when cs closes.
func (g *Gateway) linkOf(cs *mcp.ClientSession, server string, owner *mcp.ServerSession) *link {
	if l, ok := g.links.Load(cs); ok {
		return l.(*link)
	}
	l, loaded := g.links.LoadOrStore(cs, &link{server: server, owner: owner, calls: map[*call]struct{}{}, level: -1})
	if !loaded {
		go func() {
			cs.Wait()
			g.links.Delete(cs)
		}()
	}
	return l.(*link)
}

func (l *link) add(c *call) {
	l.mu.Lock()
	l.calls[c] = struct{}{}
	l.mu.Unlock()
}

func (l *link) remove(c *call) {
	l.mu.Lock()
	delete(l.calls, c)
	l.mu.Unlock()
}

// attribute finds where something the server sent on its own belongs:
// the one call in flight (any link), or the owner with no call (a
// per-session link). ok is false when it cannot be said.
func (l *link) attribute() (c *call, ss *mcp.ServerSession, ctx context.Context, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.calls) == 1 {
		for c := range l.calls {
			return c, c.ss, c.ctx, true
		}
	}
	if l.owner != nil {
		// Every call is the owner's; its GET stream carries it.
		return nil, l.owner, context.Background(), true
	}
	return nil, nil, nil, false
}

func (l *link) inFlight() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.calls)
}

// newClient is the MCP client of an upstream session of server; owner is
// the downstream session it serves alone, nil for the shared session.
func (g *Gateway) newClient(server string, owner *mcp.ServerSession) *mcp.Client {
	linkOf := func(s *mcp.ClientSession) *link { return g.linkOf(s, server, owner) }
	c := mcp.NewClient(&mcp.Implementation{Name: g.cfg.Name, Version: g.cfg.Version}, &mcp.ClientOptions{
		Logger: g.log,
		ProgressNotificationHandler: func(ctx context.Context, req *mcp.ProgressNotificationClientRequest) {
			token, _ := req.Params.ProgressToken.(string)
			v, ok := g.progress.Load(token)
			if !ok {
				return
			}
			c := v.(*call)
			if c.link != g.linkOf(req.Session, server, owner) {
				return // another server's guess at a token: not its call
			}
			c.touch()
			if c.down == nil || c.ss == nil {
				return
			}
			p := *req.Params
			p.ProgressToken = c.down
			if err := c.ss.NotifyProgress(c.ctx, &p); err != nil {
				g.log.Debug("progress could not be forwarded", "server", server, "err", err)
			}
		},
		LoggingMessageHandler: func(ctx context.Context, req *mcp.LoggingMessageRequest) {
			l := linkOf(req.Session)
			_, ss, cctx, ok := l.attribute()
			p := *req.Params
			if p.Logger == "" {
				p.Logger = server
			}
			if !ok {
				// No one call it belongs to (none or several in flight
				// on a shared session): a message may carry one client's
				// data, so it goes to no one.
				g.metrics.Unattributed.WithLabelValues(server, "log").Inc()
				return
			}
			ss.Log(cctx, &p)
		},
		ToolListChangedHandler:     func(context.Context, *mcp.ToolListChangedRequest) { g.listsChanged(server) },
		PromptListChangedHandler:   func(context.Context, *mcp.PromptListChangedRequest) { g.listsChanged(server) },
		ResourceListChangedHandler: func(context.Context, *mcp.ResourceListChangedRequest) { g.listsChanged(server) },
		ResourceUpdatedHandler: func(ctx context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
			g.resourceUpdated(server, req.Params.URI)
		},
		CreateMessageHandler: func(ctx context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			c, ss, cctx, err := g.attributeIn(ctx, linkOf(req.Session), "sampling/createMessage")
			if err != nil {
				return nil, err
			}
			return forClient(ctx, c, req.Params, func() (*mcp.CreateMessageResult, error) { return ss.CreateMessage(cctx, req.Params) })
		},
		// Requests arrive through the middleware below, before the SDK
		// checks their schema (the client that answers judges that); the
		// SDK calls this one for an input request of a stateless-era
		// server, within the call.
		ElicitationHandler: func(ctx context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			c, ss, cctx, err := g.attributeIn(ctx, linkOf(req.Session), "elicitation/create")
			if err != nil {
				return nil, err
			}
			return forClient(ctx, c, req.Params, func() (*mcp.ElicitResult, error) { return ss.Elicit(cctx, req.Params) })
		},
	})
	// roots/list has no handler option (the client would answer from its
	// own roots) and elicitation/create is checked by the SDK first: ask
	// the client they belong to instead. Handled progress and log
	// notifications are counted for settle.
	c.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if counted(method) {
				res, err := next(ctx, method, req)
				if cs, ok := req.GetSession().(*mcp.ClientSession); ok {
					linkOf(cs).handled.Add(1)
				}
				return res, err
			}
			if method != "roots/list" && method != "elicitation/create" {
				return next(ctx, method, req)
			}
			cs, _ := req.GetSession().(*mcp.ClientSession)
			c, ss, cctx, err := g.attributeIn(ctx, linkOf(cs), method)
			if err != nil {
				return nil, err
			}
			switch p := req.GetParams().(type) {
			case *mcp.ElicitParams:
				return forClient(ctx, c, p, func() (*mcp.ElicitResult, error) { return ss.Elicit(cctx, p) })
			case *mcp.ListRootsParams:
				if p == nil {
					p = &mcp.ListRootsParams{}
				}
				return forClient(ctx, c, p, func() (*mcp.ListRootsResult, error) { return ss.ListRoots(cctx, p) })
			}
			return nil, fmt.Errorf("unexpected params %T for %s", req.GetParams(), method)
		}
	})
	return c
}

// attributeIn is attributeRequest for a request made within a call's
// context (a stateless-era server's input request): that call.
func (g *Gateway) attributeIn(ctx context.Context, l *link, method string) (*call, *mcp.ServerSession, context.Context, error) {
	if c, ok := ctx.Value(callKey{}).(*call); ok && c.link == l {
		return c, c.ss, c.ctx, nil
	}
	return g.attributeRequest(l, method)
}

// attributeRequest finds the downstream session a server→client request
// belongs to, or refuses it.
func (g *Gateway) attributeRequest(l *link, method string) (*call, *mcp.ServerSession, context.Context, error) {
	c, ss, ctx, ok := l.attribute()
	if !ok {
		g.metrics.Unattributed.WithLabelValues(l.server, "request").Inc()
		n := l.inFlight()
		why := "no client call is in flight on its shared session"
		if n > 1 {
			why = fmt.Sprintf("%d clients' calls are in flight on its shared session", n)
		}
		return nil, nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf(
			"mcpctl refused %s from server %s: %s, so it cannot say which client it is for; set sessionMode: per-session on the server to give each client its own session",
			method, l.server, why)}
	}
	return c, ss, ctx, nil
}

// listsChanged refreshes server's lists and every view that holds it;
// the SDK tells those views' clients their lists changed.
func (g *Gateway) listsChanged(server string) {
	g.invalidate(server)
	for _, v := range g.viewsWith(server) {
		go v.sync(context.Background())
	}
}

func (g *Gateway) viewsWith(server string) []*view {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []*view
	for _, v := range g.views {
		if st := v.state.Load(); st != nil && st.names.servers[server] {
			out = append(out, v)
		}
	}
	return out
}

func (g *Gateway) resourceUpdated(server, uri string) {
	for _, v := range g.viewsWith(server) {
		st := v.state.Load()
		v.srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: st.names.uri(server, uri)})
	}
}
