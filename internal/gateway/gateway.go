package gateway

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ErrNoProject is what a ProjectSource returns (wrapped) for a project
// that does not exist.
var ErrNoProject = errors.New("no such project")

// ErrUnavailable is what an UpstreamDialer returns (wrapped) when a server
// has no instance ready to take a session.
var ErrUnavailable = errors.New("server unavailable")

// ProjectSource gives the engine a project's configuration.
type ProjectSource interface {
	// Project returns the named project, or an error wrapping
	// ErrNoProject. It is called often (at most once a second per
	// project while the project is in use): a source that reads a
	// store should answer from a short cache.
	Project(ctx context.Context, name string) (*Project, error)
}

// Project is what the engine needs of one project.
type Project struct {
	Name string
	// Servers in the order the project lists them.
	Servers []ProjectServer
	// Separator joins server and item names; "" passes names through
	// unchanged (a project of one server).
	Separator string
	// Filters narrow each server's tools, by server name.
	Filters map[string]v1.ToolFilter
	// Prompts are the project's own prompts, offered beside the servers'.
	Prompts []Prompt
}

// ProjectServer is one server of a project.
type ProjectServer struct {
	Name string
	// SessionMode is v1.SessionShared or v1.SessionPerSession.
	SessionMode string
}

// ProjectFrom is the engine's view of a project's gateway configuration
// (mcpd's GET /api/v1/projects/{p}/gateway).
func ProjectFrom(cfg *v1.GatewayConfig) *Project {
	p := &Project{Name: cfg.Project, Separator: cfg.Separator, Filters: cfg.Tools}
	for _, s := range cfg.Servers {
		p.Servers = append(p.Servers, ProjectServer{Name: s.Name, SessionMode: s.SessionMode})
	}
	for _, pr := range cfg.Prompts {
		p.Prompts = append(p.Prompts, Prompt{Name: pr.Name, Text: pr.Text, Priority: pr.Priority, Tags: pr.Tags})
	}
	return p
}

// Prompt is one of a project's own prompts.
type Prompt struct {
	Name     string
	Text     string
	Priority int
	Tags     []string
}

// UpstreamDialer opens MCP client sessions to a project's servers.
type UpstreamDialer interface {
	// Shared returns the session every client of server shares. The
	// dialer owns it (and may replace it after a restart); it was opened
	// with Gateway.Connect (owner nil), so that what the server sends
	// reaches the engine. An error wraps ErrUnavailable when no instance
	// can take calls.
	Shared(ctx context.Context, server string) (*mcp.ClientSession, error)
	// Dial opens a session of server for one downstream session
	// (sessionMode per-session) with connect: a session of its own on an
	// HTTP server, or a process of its own for a STDIO one. The gateway
	// closes it with the returned func, which also stops what Dial
	// started.
	Dial(ctx context.Context, server string, connect ConnectFunc) (*mcp.ClientSession, func(), error)
}

// Principal is who calls, as an Authenticator found.
type Principal struct {
	// Subject names the caller in audit events: "User:alice@example.com",
	// "McpToken:<sha256>", or "anonymous" where no authentication is set.
	Subject string
	// TokenName and TokenSHA name the McpToken used, if any.
	TokenName, TokenSHA string
}

// Authenticator decides who may use a project's endpoint.
type Authenticator interface {
	// Authenticate names the caller of r, who asks for project. A refusal
	// is an *AuthError (401 or 403, with a message that says what to do).
	Authenticate(r *http.Request, project string) (Principal, error)
}

// AuthError is an Authenticator's refusal.
type AuthError struct {
	Status  int // 401 or 403
	Code    string
	Message string
}

func (e *AuthError) Error() string { return e.Message }

// AuditSink receives one event per call (tools/call, prompts/get,
// resources/read). Record must not block.
type AuditSink interface {
	Record(e CallEvent)
}

// CallEvent is the audit record of one MCP call.
type CallEvent struct {
	Time      time.Time
	Principal Principal
	Project   string
	// Server and Name are the upstream server and its own name for the
	// tool, prompt or resource; Server is "" for a project prompt or a
	// name no server has.
	Server, Name string
	Method       string // tools/call, prompts/get, resources/read
	Duration     time.Duration
	// Outcome is ok, tool-error (the tool answered isError), error
	// (a protocol or upstream failure), or denied.
	Outcome string
	Denied  bool
	// Detail is the argument shape ({"path":"string"}) or the error.
	Detail    string
	SessionID string
}

// Outcomes of a call.
const (
	OutcomeOK        = "ok"
	OutcomeToolError = "tool-error"
	OutcomeError     = "error"
	OutcomeDenied    = "denied"
)

// Config tunes the engine; zero fields take the defaults in brackets.
type Config struct {
	// Name and Version are what the engine calls itself to clients and
	// servers [mcpctl, v1.Version].
	Name, Version string
	// ListTTL is how long a server's lists are trusted [30s] (a
	// list_changed notification refreshes them sooner); ErrorTTL is how
	// long a failed listing is remembered before the next try [5s], so a
	// dead server stalls only the first request.
	ListTTL, ErrorTTL time.Duration
	// ListTimeout bounds one server's listing [10s].
	ListTimeout time.Duration
	// CallTimeout bounds a call that makes no progress [60s]; each
	// progress notification starts it again.
	CallTimeout time.Duration
	// MaxResponseBytes refuses a server's answer larger than this
	// [16 MiB].
	MaxResponseBytes int64
	// ConfigTTL is how long a project's configuration is used before the
	// ProjectSource is asked again [1s].
	ConfigTTL time.Duration
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ListTTL, 30*time.Second)
	def(&c.ErrorTTL, 5*time.Second)
	def(&c.ListTimeout, 10*time.Second)
	def(&c.CallTimeout, 60*time.Second)
	def(&c.ConfigTTL, time.Second)
	if c.MaxResponseBytes <= 0 {
		c.MaxResponseBytes = 16 << 20
	}
	if c.Name == "" {
		c.Name = "mcpctl"
	}
	if c.Version == "" {
		c.Version = v1.Version
	}
}

// Deps are the engine's collaborators. Audit and Metrics may be nil.
type Deps struct {
	Projects  ProjectSource
	Upstreams UpstreamDialer
	Audit     AuditSink
	Metrics   *Metrics
	Log       *slog.Logger
}

// Gateway is the engine: the merged view of each project in use, the
// upstream links and the calls in flight.
type Gateway struct {
	cfg      Config
	projects ProjectSource
	dialer   UpstreamDialer
	audit    AuditSink
	metrics  *Metrics
	log      *slog.Logger

	mu    sync.Mutex
	views map[string]*view
	lists map[string]*serverLists // by server name
	// owned are the per-session upstreams of each downstream session.
	owned map[*mcp.ServerSession]map[string]*ownedUpstream

	links    sync.Map // *mcp.ClientSession → *link
	progress sync.Map // upstream progress token → *call
	clients  sync.Map // server name → *mcp.Client (shared sessions)
	pendings sync.Map // request state → *pending (stateless clients' calls waiting for input)
	subs     *subscriptions
	// levels holds the log level each downstream session set.
	levels sync.Map // *mcp.ServerSession → mcp.LoggingLevel
	// sharedLevels is the most verbose level asked of a server's shared
	// sessions.
	sharedLevels sync.Map // server → mcp.LoggingLevel
}

// leveled says whether ss set a log level (its logs must be forwarded).
func (g *Gateway) leveled(ss *mcp.ServerSession) bool {
	_, ok := g.levels.Load(ss)
	return ok
}

// New returns an engine.
func New(cfg Config, d Deps) *Gateway {
	cfg.defaults()
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Metrics == nil {
		d.Metrics = NewMetrics(nil)
	}
	if d.Audit == nil {
		d.Audit = discardAudit{}
	}
	g := &Gateway{cfg: cfg, projects: d.Projects, dialer: d.Upstreams, audit: d.Audit, metrics: d.Metrics, log: d.Log,
		views: map[string]*view{}, lists: map[string]*serverLists{}, owned: map[*mcp.ServerSession]map[string]*ownedUpstream{}, subs: newSubscriptions()}
	if b, ok := d.Upstreams.(interface{ Bind(*Gateway) }); ok {
		b.Bind(g)
	}
	return g
}

type discardAudit struct{}

func (discardAudit) Record(CallEvent) {}

// sharedClient is the MCP client of server's shared sessions: its
// handlers route the server's notifications and requests back through
// the engine.
func (g *Gateway) sharedClient(server string) *mcp.Client {
	if c, ok := g.clients.Load(server); ok {
		return c.(*mcp.Client)
	}
	c, _ := g.clients.LoadOrStore(server, g.newClient(server, nil))
	return c.(*mcp.Client)
}

// UpstreamSessionOptions are the options of every upstream session: the
// session era, whose server→client requests the engine can attribute.
func UpstreamSessionOptions() *mcp.ClientSessionOptions {
	return &mcp.ClientSessionOptions{ProtocolVersion: UpstreamProtocolVersion}
}

// UpstreamProtocolVersion is the version upstream sessions ask for.
const UpstreamProtocolVersion = "2025-11-25"

// Server returns the merged MCP server of project, creating its view on
// first use. The error wraps ErrNoProject for an unknown project.
func (g *Gateway) Server(ctx context.Context, project string) (*mcp.Server, error) {
	v, err := g.view(ctx, project)
	if err != nil {
		return nil, err
	}
	return v.srv, nil
}

// serving says whether srv is the server of a current view.
func (g *Gateway) serving(srv *mcp.Server) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, v := range g.views {
		if v.srv == srv {
			return true
		}
	}
	return false
}

// Close drops every view and closes the per-session upstreams.
func (g *Gateway) Close() {
	g.mu.Lock()
	owned := g.owned
	g.owned = map[*mcp.ServerSession]map[string]*ownedUpstream{}
	g.views = map[string]*view{}
	g.mu.Unlock()
	for _, ups := range owned {
		for _, u := range ups {
			u.close()
		}
	}
}
