package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// snapshot is one listing of a server: immutable once made.
type snapshot struct {
	gen       uint64
	at        time.Time
	err       error
	tools     []*mcp.Tool
	prompts   []*mcp.Prompt
	resources []*mcp.Resource
	templates []*mcp.ResourceTemplate
}

var generation atomic.Uint64

// serverLists caches a server's lists for every project that holds it:
// a good listing for ListTTL (or until the server says its lists
// changed), a failed one for ErrorTTL.
type serverLists struct {
	mu       sync.Mutex
	cur      *snapshot
	stale    bool
	epoch    uint64        // counts invalidations: one during a fetch leaves its result stale
	fetching chan struct{} // closed when the running fetch ends
}

func (g *Gateway) serverLists(server string) *serverLists {
	g.mu.Lock()
	defer g.mu.Unlock()
	l := g.lists[server]
	if l == nil {
		l = &serverLists{}
		g.lists[server] = l
	}
	return l
}

// listsOf returns server's lists, fetching them when the cached ones are
// too old. Concurrent callers share one fetch.
func (g *Gateway) listsOf(ctx context.Context, server string) *snapshot {
	l := g.serverLists(server)
	for {
		l.mu.Lock()
		cur := l.cur
		if cur != nil && !l.stale {
			ttl := g.cfg.ListTTL
			if cur.err != nil {
				ttl = g.cfg.ErrorTTL
			}
			if time.Since(cur.at) < ttl {
				l.mu.Unlock()
				return cur
			}
		}
		if l.fetching == nil {
			done := make(chan struct{})
			l.fetching = done
			epoch := l.epoch
			l.mu.Unlock()
			snap := g.fetchLists(server)
			l.mu.Lock()
			l.cur, l.stale, l.fetching = snap, l.epoch != epoch, nil
			l.mu.Unlock()
			close(done)
			return snap
		}
		wait := l.fetching
		l.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			if cur != nil {
				return cur
			}
			return &snapshot{at: time.Now(), err: ctx.Err()}
		}
	}
}

// invalidate marks server's lists stale: the next look fetches them.
func (g *Gateway) invalidate(server string) {
	l := g.serverLists(server)
	l.mu.Lock()
	l.stale = true
	l.epoch++
	l.mu.Unlock()
}

// fetchLists lists everything the server offers, within ListTimeout. It
// runs detached from any one request: its result serves every project.
func (g *Gateway) fetchLists(server string) *snapshot {
	ctx, cancel := context.WithTimeout(context.Background(), g.cfg.ListTimeout)
	defer cancel()
	snap := &snapshot{gen: generation.Add(1)}
	defer func() { snap.at = time.Now() }()
	cs, err := g.dialer.Shared(ctx, server)
	if err != nil {
		snap.err = err
		return snap
	}
	caps := &mcp.ServerCapabilities{}
	if res := cs.InitializeResult(); res != nil && res.Capabilities != nil {
		caps = res.Capabilities
	}
	if caps.Tools != nil {
		snap.tools, err = collect(cs.Tools(ctx, nil))
		if err != nil {
			snap.err = listErr(ctx, "tools", err)
			return snap
		}
	}
	if caps.Prompts != nil {
		snap.prompts, err = collect(cs.Prompts(ctx, nil))
		if err != nil {
			snap.err = listErr(ctx, "prompts", err)
			return snap
		}
	}
	if caps.Resources != nil {
		snap.resources, err = collect(cs.Resources(ctx, nil))
		if err != nil {
			snap.err = listErr(ctx, "resources", err)
			return snap
		}
		snap.templates, err = collect(cs.ResourceTemplates(ctx, nil))
		if err != nil {
			snap.err = listErr(ctx, "resource templates", err)
			return snap
		}
	}
	return snap
}

// maxListItems bounds one server's list of each kind.
const maxListItems = 10000

func collect[T any](seq func(func(T, error) bool)) ([]T, error) {
	var out []T
	for item, err := range seq {
		if err != nil {
			return out, err
		}
		if len(out) == maxListItems {
			return out, fmt.Errorf("more than %d items", maxListItems)
		}
		out = append(out, item)
	}
	return out, nil
}

func listErr(ctx context.Context, what string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("list %s: no answer in time", what)
	}
	return fmt.Errorf("list %s: %w", what, err)
}
