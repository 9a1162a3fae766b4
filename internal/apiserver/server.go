// Package apiserver is mcpd's HTTP API: the middleware stack of DESIGN.md
// §6, the /api/v1 handlers (one file per resource), the probes and
// /metrics. Errors become HTTP answers in one place, errors.go.
package apiserver

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/telemetry"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Config is the part of mcpd's configuration the API needs.
type Config struct {
	Production     bool
	CORSOrigins    []string
	RateLimit      config.Rate
	LoginRateLimit config.Rate
	BodyLimit      int64
	TrustProxy     bool
	// MCPBodyLimit and MCPRateLimit apply to the MCP endpoints instead of
	// BodyLimit and RateLimit [4 MiB, off].
	MCPBodyLimit int64
	MCPRateLimit config.Rate
}

// AuditRecorder queues audit events without blocking.
type AuditRecorder interface {
	Record(e v1.AuditEvent) bool
}

// Deps are the collaborators of the API.
type Deps struct {
	Store store.Store
	Auth  *auth.Authenticator
	// Authz holds the RBAC policy.
	Authz   *authz.Authorizer
	Audit   AuditRecorder
	Metrics *telemetry.Metrics
	// Secrets encrypts and decrypts Secret values.
	Secrets *secret.Keyring
	Log     *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Instances runs instances; nil when this mcpd runs none.
	Instances Instances
	// MCP serves the project MCP endpoints; nil serves none.
	MCP MCPEndpoint
	// MCPHealth reports them in /health; nil leaves them out.
	MCPHealth func() *v1.MCPHealth
}

// Server serves the API; it is an http.Handler.
type Server struct {
	cfg     Config
	store   store.Store
	auth    *auth.Authenticator
	authz   *authz.Authorizer
	audit   AuditRecorder
	metrics *telemetry.Metrics
	secrets *secret.Keyring
	log     *slog.Logger
	now     func() time.Time
	// instances is nil when this mcpd runs none (MCPD_INSTANCES=off).
	instances Instances
	mcp       MCPEndpoint
	mcpHealth func() *v1.MCPHealth

	limiter, loginIP, loginEmail, mcpLimiter *limiter
	// public are the /api paths that need no bearer.
	public map[string]bool
	// actions maps a mux pattern to its route's action name.
	actions map[string]string
	mux     *http.ServeMux
	handler http.Handler
	// active counts requests inside the stack, for WaitIdle.
	active sync.WaitGroup
	// maxScan bounds the rows one filtered list request reads.
	maxScan int
}

// route is one API endpoint. action names it in audit events; perm is
// its authorization rule.
type route struct {
	method, path, action string
	perm                 perm
	handle               http.HandlerFunc
}

// New builds the handler with its middleware stack.
func New(cfg Config, d Deps) *Server {
	s := &Server{cfg: cfg, store: d.Store, auth: d.Auth, authz: d.Authz, audit: d.Audit, metrics: d.Metrics, secrets: d.Secrets, log: d.Log, now: d.Now, instances: d.Instances, mcp: d.MCP, mcpHealth: d.MCPHealth,
		public: map[string]bool{}, actions: map[string]string{}, mux: http.NewServeMux(), maxScan: 5000}
	if s.now == nil {
		s.now = time.Now
	}
	if !cfg.RateLimit.Disabled() {
		s.limiter = newLimiter(cfg.RateLimit.Limit, cfg.RateLimit.Window, s.now)
	}
	if !cfg.MCPRateLimit.Disabled() && cfg.MCPRateLimit.Limit > 0 {
		s.mcpLimiter = newLimiter(cfg.MCPRateLimit.Limit, cfg.MCPRateLimit.Window, s.now)
	}
	if s.cfg.MCPBodyLimit <= 0 {
		s.cfg.MCPBodyLimit = 4 << 20
	}
	if !cfg.LoginRateLimit.Disabled() {
		s.loginIP = newLimiter(cfg.LoginRateLimit.Limit, cfg.LoginRateLimit.Window, s.now)
		s.loginEmail = newLimiter(cfg.LoginRateLimit.Limit, cfg.LoginRateLimit.Window, s.now)
	}
	routes := []route{
		{"POST", "/api/v1/auth/login", "auth.login", public, s.login},
		{"POST", "/api/v1/auth/logout", "auth.logout", self, s.logout},
		{"GET", "/api/v1/auth/me", "auth.me", self, s.me},
		{"POST", "/api/v1/auth/password", "auth.password", self, s.changePassword},
		{"GET", "/api/v1/auth/can-i", "auth.can-i", self, s.canI},
		{"GET", "/api/v1/audit", "audit.list", runs("audit"), s.listAudit},
		{"GET", "/healthz", "health.live", public, s.healthz},
		{"GET", "/readyz", "health.ready", public, s.readyz},
		{"GET", "/health", "health", public, s.health},
		{"GET", "/metrics", "metrics", public, s.metrics.Handler().ServeHTTP},
	}
	routes = append(routes, s.resourceRoutes()...)
	routes = append(routes, s.userRoutes()...)
	routes = append(routes, s.tokenRoutes()...)
	routes = append(routes, s.instanceRoutes()...)
	routes = append(routes, s.mcpRoutes()...)
	routes = append(routes, s.gatewayRoutes()...)
	mux := s.mux
	methods := map[string][]string{}
	for _, rt := range routes {
		pattern := rt.method + " " + rt.path
		mux.Handle(pattern, s.authorized(rt))
		s.actions[pattern] = rt.action
		methods[rt.path] = append(methods[rt.path], rt.method)
		if rt.perm.kind == permPublic && strings.HasPrefix(rt.path, "/api/") {
			s.public[rt.path] = true
		}
	}
	for path, ms := range methods {
		mux.Handle(path, s.methodNotAllowed(ms))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, newError(http.StatusNotFound, v1.CodeNotFound, "no such endpoint: "+strconvQuote(r.URL.Path)))
	})
	// Outermost first, in the order of DESIGN.md §6. observe records the
	// access log, metrics and the audit event after the inner layers finish.
	var h http.Handler = mux
	h = s.requireAuth(h)
	h = s.rateLimit(h)
	h = s.limitBody(h)
	h = s.cors(h)
	h = s.securityHeaders(h)
	h = s.observe(h)
	h = s.recoverPanics(h)
	h = s.withState(h)
	s.handler = h
	return s
}

// ServeHTTP runs the request through the middleware stack and the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// WaitIdle waits until no request is being handled (their audit events are
// then queued), or ctx ends.
func (s *Server) WaitIdle(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.active.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) methodNotAllowed(methods []string) http.Handler {
	sort.Strings(methods)
	allow := strings.Join(methods, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		s.writeError(w, r, newError(http.StatusMethodNotAllowed, v1.CodeMethodNotAllowed,
			"method "+r.Method+" is not allowed here; use "+allow))
	})
}
