package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/apiserver"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/gateway"
	"github.com/mcpctl/mcpctl/internal/instance"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/telemetry"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// mcpGateway is mcpd's wiring of the engine (DESIGN.md §2): projects from
// the store, upstreams from this node's instances (or the URL of a server
// that runs elsewhere), principals from the API's middleware, audit
// events to the audit writer.
type mcpGateway struct {
	gw      *gateway.Gateway
	edge    *gateway.Edge
	dialer  *instanceDialer
	metrics *gateway.Metrics
}

// health is the MCP part of /health.
func (m *mcpGateway) health() *v1.MCPHealth { return m.metrics.Health(m.edge.Sessions()) }

func newGateway(cfg *config.Config, st store.Store, audit apiserver.AuditRecorder, metrics *telemetry.Metrics, node string, log *slog.Logger) *mcpGateway {
	d := &instanceDialer{st: st, specs: map[string]specEntry{}}
	d.urls = gateway.NewTransportDialer(d.connectURL)
	gm := gateway.NewMetrics(metrics.Registry)
	gw := gateway.New(gateway.Config{CallTimeout: cfg.MCPCallTimeout, MaxResponseBytes: cfg.MCPMaxResponse}, gateway.Deps{
		Projects: storeProjects{st}, Upstreams: d, Audit: auditSink{audit},
		Metrics: gm, Log: log.With("component", "gateway"),
	})
	edge := gateway.NewEdge(gateway.EdgeConfig{
		SessionIdle: cfg.MCPSessionIdle, MaxSessions: cfg.MCPMaxSessions, MaxBodyBytes: cfg.MCPBodyLimit,
		AllowedOrigins: cfg.CORSOrigins, AllowedHosts: cfg.MCPAllowedHosts, Node: node,
		Settings: map[string]string{"origins": "MCPD_CORS_ORIGINS", "hosts": "MCPD_MCP_ALLOWED_HOSTS",
			"sessions": "MCPD_MCP_MAX_SESSIONS", "body": "MCPD_MCP_BODY_LIMIT"},
	}, gw, apiserver.MCPAuthenticator{}, sessionRecords{st}, log.With("component", "gateway"))
	return &mcpGateway{gw: gw, edge: edge, dialer: d, metrics: gm}
}

// close ends the per-session upstreams and the URL servers' sessions.
func (m *mcpGateway) close() {
	m.gw.Close()
	m.dialer.urls.Close()
}

// storeProjects reads projects, their prompts and their servers' session
// modes from the store. A relay name "project/server" is that one server
// of the project, names passed through, the project's filter kept.
type storeProjects struct{ st store.Store }

func (s storeProjects) Project(ctx context.Context, name string) (*gateway.Project, error) {
	project, relay, isRelay := strings.Cut(name, "/")
	cfg, err := apiserver.LoadGatewayConfig(ctx, s.st, project)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("project %s: %w", project, gateway.ErrNoProject)
	}
	if err != nil {
		return nil, err
	}
	p := gateway.ProjectFrom(cfg)
	p.Name = name
	if isRelay {
		var one []gateway.ProjectServer
		for _, sv := range p.Servers {
			if sv.Name == relay {
				one = append(one, sv)
			}
		}
		if len(one) == 0 {
			return nil, fmt.Errorf("server %s is not in project %s: %w", relay, project, gateway.ErrNoProject)
		}
		p.Servers, p.Separator, p.Prompts = one, "", nil
	}
	return p, nil
}

// instanceDialer reaches servers through this node's instances, and URL
// servers (which run elsewhere) over Streamable HTTP.
type instanceDialer struct {
	st   store.Store
	mgr  *instance.Manager // nil with MCPD_INSTANCES=off
	urls *gateway.TransportDialer
	gw   *gateway.Gateway

	mu    sync.Mutex
	specs map[string]specEntry
}

type specEntry struct {
	spec v1.ServerSpec
	err  error
	at   time.Time
}

// waitReady bounds how long a call waits for an instance that is starting.
const waitReady = 30 * time.Second

// Bind ties the dialer (and its URL dialer) to the engine.
func (d *instanceDialer) Bind(gw *gateway.Gateway) {
	d.gw = gw
	d.urls.Bind(gw)
}

// spec returns a server's spec, cached for a second: it is read on every
// call.
func (d *instanceDialer) spec(ctx context.Context, server string) (v1.ServerSpec, error) {
	d.mu.Lock()
	e, ok := d.specs[server]
	d.mu.Unlock()
	if ok && time.Since(e.at) < time.Second {
		return e.spec, e.err
	}
	e = specEntry{at: time.Now()}
	r, err := d.st.GetResource(ctx, store.ResourceKey{Kind: "Server", Name: server})
	switch {
	case errors.Is(err, store.ErrNotFound):
		e.err = fmt.Errorf("server %s: %w: it does not exist; apply it or remove it from the project", server, gateway.ErrUnavailable)
	case err != nil:
		return v1.ServerSpec{}, err
	default:
		if err := json.Unmarshal(r.Spec, &e.spec); err != nil {
			return v1.ServerSpec{}, err
		}
		e.spec.Default()
	}
	d.mu.Lock()
	d.specs[server] = e
	d.mu.Unlock()
	return e.spec, e.err
}

func (d *instanceDialer) Shared(ctx context.Context, server string) (*mcp.ClientSession, error) {
	spec, err := d.spec(ctx, server)
	if err != nil {
		return nil, err
	}
	if spec.URL != "" {
		return d.urls.Shared(ctx, server)
	}
	if d.mgr == nil {
		return nil, fmt.Errorf("server %s: %w: this mcpd runs no instances (MCPD_INSTANCES=off)", server, gateway.ErrUnavailable)
	}
	ctx, cancel := context.WithTimeout(ctx, waitReady)
	defer cancel()
	cs, err := d.mgr.SharedSession(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", gateway.ErrUnavailable, err)
	}
	return cs, nil
}

func (d *instanceDialer) Dial(ctx context.Context, server string, connect gateway.ConnectFunc) (*mcp.ClientSession, func(), error) {
	spec, err := d.spec(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	if spec.URL != "" {
		return d.urls.Dial(ctx, server, connect)
	}
	if d.mgr == nil {
		return nil, nil, fmt.Errorf("server %s: %w: this mcpd runs no instances (MCPD_INSTANCES=off)", server, gateway.ErrUnavailable)
	}
	cs, stop, err := d.mgr.Dedicated(ctx, server, connect)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", gateway.ErrUnavailable, err)
	}
	return cs, stop, nil
}

// connectURL opens a transport to a server that runs elsewhere.
func (d *instanceDialer) connectURL(ctx context.Context, server string) (mcp.Transport, func(), error) {
	spec, err := d.spec(ctx, server)
	if err != nil {
		return nil, nil, err
	}
	if spec.Transport == v1.TransportSSE {
		return &mcp.SSEClientTransport{Endpoint: spec.URL, HTTPClient: upstreamHTTP}, nil, nil
	}
	return &mcp.StreamableClientTransport{Endpoint: spec.URL, HTTPClient: upstreamHTTP, MaxRetries: -1}, nil, nil
}

// upstreamHTTP reaches URL servers: many calls at once to one server
// keep their connections (http.DefaultClient keeps two idle per host).
var upstreamHTTP = gateway.KeepAliveClient()

// auditSink turns call events into audit events.
type auditSink struct{ rec apiserver.AuditRecorder }

func (a auditSink) Record(e gateway.CallEvent) {
	project, _, relay := strings.Cut(e.Project, "/")
	path := "/projects/" + project + "/mcp"
	if relay {
		path = "/api/v1/projects/" + project + "/servers/" + e.Server + "/mcp"
	}
	status := http.StatusOK
	switch e.Outcome {
	case gateway.OutcomeDenied:
		status = http.StatusForbidden
	case gateway.OutcomeError:
		status = http.StatusBadGateway
	}
	a.rec.Record(v1.AuditEvent{
		Time: e.Time.UTC(), Principal: e.Principal.Subject, Action: "mcp." + e.Method, Method: "MCP", Path: path, Status: status,
		DurationMS: float64(e.Duration.Microseconds()) / 1000, RequestID: e.SessionID,
		TokenName: e.Principal.TokenName, TokenSHA: e.Principal.TokenSHA,
		Project: project, Server: e.Server, Tool: e.Name, Outcome: e.Outcome, Denied: e.Denied, Detail: e.Detail,
	})
}

// sessionRecords keeps the Edge's session records in the store.
type sessionRecords struct{ st store.Store }

func (s sessionRecords) PutSession(ctx context.Context, r gateway.SessionRecord) error {
	return s.st.PutMCPSession(ctx, store.MCPSession{ID: r.ID, Project: r.Project, Subject: r.Subject, Version: r.Version,
		Init: string(r.Init), Node: r.Node, CreatedAt: r.CreatedAt, LastSeen: r.LastSeen})
}

func (s sessionRecords) GetSession(ctx context.Context, id string) (gateway.SessionRecord, bool, error) {
	r, err := s.st.GetMCPSession(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return gateway.SessionRecord{}, false, nil
	}
	if err != nil {
		return gateway.SessionRecord{}, false, err
	}
	return gateway.SessionRecord{ID: r.ID, Project: r.Project, Subject: r.Subject, Version: r.Version, Init: json.RawMessage(r.Init),
		Node: r.Node, CreatedAt: r.CreatedAt, LastSeen: r.LastSeen}, true, nil
}

func (s sessionRecords) TouchSession(ctx context.Context, id string, at time.Time) error {
	return s.st.TouchMCPSession(ctx, id, at)
}

func (s sessionRecords) DeleteSessions(ctx context.Context, ids []string, idleBefore time.Time) error {
	return s.st.DeleteMCPSessions(ctx, ids, idleBefore)
}
