package instance

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/workload"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrNoInstance is returned (wrapped) when a server has no instance this
// mcpd can reach; the message says why and what to do.
var ErrNoInstance = errors.New("no instance")

// ConnectFunc opens the MCP session of an instance of server over t: the
// gateway's, which routes what the server sends to its clients. adopted
// says the instance ran before this mcpd started: a STDIO server then has
// seen an initialize already.
type ConnectFunc func(ctx context.Context, server string, t mcp.Transport, adopted bool) (*mcp.ClientSession, error)

// SharedSession returns the MCP session of a local instance of server
// that is connected, the instances taking turns. While instances of the
// server are starting on this node it waits for one, within ctx.
func (m *Manager) SharedSession(ctx context.Context, server string) (*mcp.ClientSession, error) {
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		var sessions []*mcp.ClientSession
		starting := false
		m.mu.Lock()
		for _, r := range m.runners {
			if r.server != server {
				continue
			}
			starting = true
			if cs := r.session(); cs != nil {
				sessions = append(sessions, cs)
			}
		}
		m.mu.Unlock()
		if len(sessions) > 0 {
			return sessions[int(m.turn.Add(1))%len(sessions)], nil
		}
		if !starting {
			return nil, m.noInstance(ctx, server)
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("server %s: %w: its instance on this mcpd is not ready yet (see `mcpctl get instances --server %s`)", server, ErrNoInstance, server)
		case <-tick.C:
		}
	}
}

// noInstance explains why this node has no instance of server.
func (m *Manager) noInstance(ctx context.Context, server string) error {
	ins, err := m.st.ListInstances(ctx, store.InstanceFilter{Server: server, Active: true, Limit: 50})
	if err != nil {
		return fmt.Errorf("server %s: %w: %v", server, ErrNoInstance, err)
	}
	var nodes []string
	for _, in := range ins {
		if in.Node != m.cfg.Node && !slices.Contains(nodes, in.Node) {
			nodes = append(nodes, in.Node)
		}
	}
	if len(nodes) > 0 {
		return fmt.Errorf("server %s: %w on this mcpd (node %s); it runs on node %s: connect through that replica",
			server, ErrNoInstance, m.cfg.Node, strings.Join(nodes, ", "))
	}
	return fmt.Errorf("server %s: %w is running; start one with `mcpctl scale server %s --replicas 1` or see `mcpctl get instances --server %s`",
		server, ErrNoInstance, server, server)
}

// Dedicated opens a session of server for one client (sessionMode
// per-session): a session of its own on a local HTTP instance, or a
// process (or container) of its own for a STDIO server. stop closes the
// session and stops what was started; no instance record is kept of it.
func (m *Manager) Dedicated(ctx context.Context, serverName string, connect func(context.Context, mcp.Transport) (*mcp.ClientSession, error)) (cs *mcp.ClientSession, stop func(), err error) {
	servers, err := m.servers(ctx)
	if err != nil {
		return nil, nil, err
	}
	s := servers[serverName]
	if s == nil {
		return nil, nil, fmt.Errorf("server %s: %w: it does not exist", serverName, ErrNoInstance)
	}
	rt := m.runtimes[s.Spec.Runtime]
	if rt == nil {
		return nil, nil, fmt.Errorf("server %s: %w: runtime %q is not available on this mcpd", serverName, ErrNoInstance, s.Spec.Runtime)
	}
	if s.Spec.Transport != v1.TransportStdio {
		// An HTTP server takes many sessions: open one on a local instance.
		shared, err := m.SharedSession(ctx, serverName)
		if err != nil {
			return nil, nil, err
		}
		id := m.instanceOf(shared)
		tr, err := rt.Connect(ctx, id)
		if err != nil {
			return nil, nil, fmt.Errorf("server %s: %w: %v", serverName, ErrNoInstance, err)
		}
		cs, err := connect(ctx, tr)
		if err != nil {
			return nil, nil, fmt.Errorf("server %s: initialize: %w", serverName, err)
		}
		return cs, func() { cs.Close() }, nil
	}
	id := workload.NewID()
	m.mu.Lock()
	if m.ctx == nil || m.ctx.Err() != nil {
		m.mu.Unlock()
		return nil, nil, fmt.Errorf("server %s: %w: mcpd is stopping", serverName, ErrNoInstance)
	}
	m.dedicated[id] = true
	m.mu.Unlock()
	release := func() {
		m.mu.Lock()
		delete(m.dedicated, id)
		m.mu.Unlock()
	}
	log := m.log.With("server", serverName, "session_process", id)
	spec, err := workloadSpec(ctx, m.st, m.keys, s, id, func(l workload.Line) { log.Debug("per-session server output", "line", Sanitize(l.Text)) })
	if err != nil {
		release()
		return nil, nil, fmt.Errorf("server %s: %w", serverName, err)
	}
	if _, err := rt.Start(ctx, spec); err != nil {
		release()
		return nil, nil, fmt.Errorf("server %s: start a process for this session: %w", serverName, err)
	}
	halt := func() {
		sctx, cancel := context.WithTimeout(context.Background(), m.cfg.Drain+10*time.Second)
		defer cancel()
		if _, err := rt.Stop(sctx, id, workload.StopOptions{Drain: m.cfg.Drain}); err != nil && !errors.Is(err, workload.ErrNotFound) {
			m.log.Warn("per-session server not stopped", "server", serverName, "err", err)
		}
		release()
	}
	cctx, cancel := context.WithTimeout(ctx, m.cfg.StartTimeout)
	defer cancel()
	tr, err := rt.Connect(cctx, id)
	if err == nil {
		cs, err = connect(cctx, tr)
	}
	if err != nil {
		halt()
		return nil, nil, fmt.Errorf("server %s: the process started for this session did not answer initialize: %w", serverName, err)
	}
	return cs, func() { cs.Close(); halt() }, nil
}

// instanceOf names the local instance whose session cs is.
func (m *Manager) instanceOf(cs *mcp.ClientSession) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, r := range m.runners {
		if r.session() == cs {
			return id
		}
	}
	return ""
}
