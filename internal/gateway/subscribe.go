//lint:file-ignore SA1019 the gateway forwards logging levels (deprecated in 2026-07-28, alive in the session era)

package gateway

import (
	"context"
	"sync"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// subKey is one resource subscription upstream: a URI on a session.
type subKey struct {
	cs          *mcp.ClientSession
	server, uri string
}

// subscriptions count the clients behind each upstream subscription, so
// a shared session subscribes once and unsubscribes after the last one.
type subscriptions struct {
	mu    sync.Mutex
	by    map[subKey]map[*mcp.ServerSession]bool
	of    map[*mcp.ServerSession]map[subKey]bool
	watch map[*mcp.ServerSession]bool
}

func newSubscriptions() *subscriptions {
	return &subscriptions{by: map[subKey]map[*mcp.ServerSession]bool{}, of: map[*mcp.ServerSession]map[subKey]bool{}, watch: map[*mcp.ServerSession]bool{}}
}

func (v *view) subscribe(ctx context.Context, req *mcp.SubscribeRequest) error {
	ctx, cancel := context.WithTimeout(ctx, v.g.cfg.CallTimeout)
	defer cancel()
	st := v.state.Load()
	server, own, ok := st.names.splitURI(req.Params.URI)
	if !ok {
		return mcp.ResourceNotFoundError(req.Params.URI)
	}
	cs, _, err := v.g.upstream(ctx, st, req.Session, server)
	if err != nil {
		return v.g.failure(ctx, server, "resources/subscribe", err)
	}
	k := subKey{cs, server, own}
	v.g.subs.mu.Lock()
	first := len(v.g.subs.by[k]) == 0
	if v.g.subs.by[k] == nil {
		v.g.subs.by[k] = map[*mcp.ServerSession]bool{}
	}
	v.g.subs.by[k][req.Session] = true
	if v.g.subs.of[req.Session] == nil {
		v.g.subs.of[req.Session] = map[subKey]bool{}
	}
	v.g.subs.of[req.Session][k] = true
	watch := !v.g.subs.watch[req.Session]
	v.g.subs.watch[req.Session] = true
	v.g.subs.mu.Unlock()
	if watch {
		go func() {
			req.Session.Wait()
			v.g.dropSubscriptions(req.Session)
		}()
	}
	if !first {
		return nil
	}
	if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: own}); err != nil {
		v.g.dropOne(req.Session, k, false)
		return v.g.failure(ctx, server, "resources/subscribe", err)
	}
	return nil
}

func (v *view) unsubscribe(ctx context.Context, req *mcp.UnsubscribeRequest) error {
	st := v.state.Load()
	server, own, ok := st.names.splitURI(req.Params.URI)
	if !ok {
		return nil
	}
	// The subscription's own upstream session: a server of several
	// instances may hand the next request to another.
	v.g.subs.mu.Lock()
	var keys []subKey
	for k := range v.g.subs.of[req.Session] {
		if k.server == server && k.uri == own {
			keys = append(keys, k)
		}
	}
	v.g.subs.mu.Unlock()
	for _, k := range keys {
		v.g.dropOne(req.Session, k, true)
	}
	return nil
}

// dropOne removes ss from subscription k, unsubscribing upstream after
// the last client when tell is set.
func (g *Gateway) dropOne(ss *mcp.ServerSession, k subKey, tell bool) {
	g.subs.mu.Lock()
	delete(g.subs.by[k], ss)
	delete(g.subs.of[ss], k)
	last := len(g.subs.by[k]) == 0
	if last {
		delete(g.subs.by, k)
	}
	g.subs.mu.Unlock()
	if last && tell {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		k.cs.Unsubscribe(ctx, &mcp.UnsubscribeParams{URI: k.uri})
	}
}

// dropSubscriptions ends every subscription of a session that ended.
func (g *Gateway) dropSubscriptions(ss *mcp.ServerSession) {
	g.subs.mu.Lock()
	keys := g.subs.of[ss]
	delete(g.subs.of, ss)
	delete(g.subs.watch, ss)
	g.subs.mu.Unlock()
	for k := range keys {
		g.dropOne(ss, k, true)
	}
}

// logRank orders the MCP log levels, most verbose first.
var logRank = map[mcp.LoggingLevel]int{"debug": 0, "info": 1, "notice": 2, "warning": 3, "error": 4, "critical": 5, "alert": 6, "emergency": 7}

// levelChanged asks the project's servers for logs at level (a client's
// logging/setLevel): its own upstreams, and every shared session of the
// others (a server with several instances has one each). Sessions opened
// later are asked when they connect (levelOnConnect).
func (g *Gateway) levelChanged(ctx context.Context, v *view, session mcp.Session, level mcp.LoggingLevel) {
	st := v.state.Load()
	ss, _ := session.(*mcp.ServerSession)
	for _, s := range st.cfg.Servers {
		if st.modes[s.Name] == v1.SessionPerSession {
			g.mu.Lock()
			u := g.owned[ss][s.Name]
			g.mu.Unlock()
			if u == nil {
				continue // asked when it is dialed
			}
			<-u.ready
			if u.cs != nil {
				g.askLevel(ctx, u.cs, g.linkOf(u.cs, s.Name, ss), level)
			}
			continue
		}
		g.raiseSharedLevel(s.Name, level)
		g.links.Range(func(k, l any) bool {
			if l := l.(*link); l.server == s.Name && l.owner == nil {
				g.askLevel(ctx, k.(*mcp.ClientSession), l, level)
			}
			return true
		})
	}
}

// raiseSharedLevel records the most verbose level a client asked of
// server's shared sessions.
func (g *Gateway) raiseSharedLevel(server string, level mcp.LoggingLevel) {
	rank, known := logRank[level]
	if !known {
		return
	}
	for {
		old, loaded := g.sharedLevels.LoadOrStore(server, level)
		if !loaded || logRank[old.(mcp.LoggingLevel)] <= rank || g.sharedLevels.CompareAndSwap(server, old, level) {
			return
		}
	}
}

// levelOnConnect asks a new upstream session for the level in force: its
// owner's, or for a shared session the most verbose any client asked.
func (g *Gateway) levelOnConnect(ctx context.Context, cs *mcp.ClientSession, l *link) {
	var level any
	var ok bool
	if l.owner != nil {
		level, ok = g.levels.Load(l.owner)
	} else {
		level, ok = g.sharedLevels.Load(l.server)
	}
	if ok && level.(mcp.LoggingLevel) != "" {
		g.askLevel(ctx, cs, l, level.(mcp.LoggingLevel))
	}
}

// askLevel sets the log level of an upstream session: exactly on a
// client's own session, on a shared one only when it makes it more
// verbose (the SDK filters each client's messages by its own level).
func (g *Gateway) askLevel(ctx context.Context, cs *mcp.ClientSession, l *link, level mcp.LoggingLevel) {
	rank, known := logRank[level]
	if !known {
		return
	}
	l.mu.Lock()
	ask := l.level != rank && (l.owner != nil || l.level < 0 || rank < l.level)
	if ask {
		l.level = rank
	}
	l.mu.Unlock()
	if !ask {
		return
	}
	if res := cs.InitializeResult(); res == nil || res.Capabilities == nil || res.Capabilities.Logging == nil {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := cs.SetLoggingLevel(lctx, &mcp.SetLoggingLevelParams{Level: level}); err != nil {
		g.log.Debug("log level not forwarded", "server", l.server, "err", err)
	}
}

// rootsChanged: a client's roots changed. Servers ask for roots with
// roots/list, which the engine forwards to the client each time, so
// there is nothing cached to refresh.
func (v *view) rootsChanged(context.Context, *mcp.RootsListChangedRequest) {}
