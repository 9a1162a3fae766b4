package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"math"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/authz"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// reqState is one request's facts, shared by the middleware layers: the
// outermost layer creates it and each layer fills in what it learns, so the
// layers that run after the response (log, metrics, audit) see everything.
type reqState struct {
	requestID string
	start     time.Time
	clientIP  string
	// action and route name the matched route; empty when none matched.
	action, route string
	// principal is set once a bearer (or a login) identified the caller;
	// authErr says why not when a bearer was presented or required.
	principal  *auth.Principal
	subject    string // audit principal: the principal's subject or a login's email
	authErr    error
	identified bool
	// rights are the principal's, computed once by the authorize step.
	rights *authz.Rights
	// rec sees the status and size of the answer, for every layer.
	rec *recorder
}

type stateKey struct{}

func state(r *http.Request) *reqState {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		return st
	}
	return &reqState{}
}

// recorder captures the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (rec *recorder) WriteHeader(code int) {
	if rec.status == 0 {
		rec.status = code
	}
	rec.ResponseWriter.WriteHeader(code)
}

func (rec *recorder) Write(b []byte) (int, error) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	n, err := rec.ResponseWriter.Write(b)
	rec.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (rec *recorder) Unwrap() http.ResponseWriter { return rec.ResponseWriter }

// Flush keeps streaming responses working through the recorder.
func (rec *recorder) Flush() {
	if f, ok := rec.ResponseWriter.(http.Flusher); ok {
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		f.Flush()
	}
}

// exempt paths are probes and scrapes: no rate limit, no login, no audit.
func exempt(path string) bool {
	switch path {
	case "/healthz", "/readyz", "/health", "/metrics":
		return true
	}
	return false
}

// withState is the outermost layer: it assigns the request id (keeping a
// well-formed one the client sent), finds the client IP and starts the
// clock.
func (s *Server) withState(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := &reqState{start: s.now(), requestID: r.Header.Get("X-Request-Id"), clientIP: s.clientIP(r),
			rec: &recorder{ResponseWriter: w}}
		if !validRequestID(st.requestID) {
			st.requestID = newRequestID()
		}
		// Resolve the route up front so that requests refused before the
		// handler (401, 429, 413) are still logged and audited by route.
		if _, pattern := s.mux.Handler(r); s.actions[pattern] != "" {
			st.route, st.action = pattern, s.actions[pattern]
		}
		w.Header().Set("X-Request-Id", st.requestID)
		next.ServeHTTP(st.rec, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	})
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

func newRequestID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (s *Server) clientIP(r *http.Request) string {
	if s.cfg.TrustProxy {
		// The last address is the one the trusted proxy appended; the ones
		// before it came from the client and can be forged.
		xff := r.Header.Values("X-Forwarded-For")
		if len(xff) > 0 {
			last := xff[len(xff)-1]
			if i := strings.LastIndexByte(last, ','); i >= 0 {
				last = last[i+1:]
			}
			if ip := net.ParseIP(strings.TrimSpace(last)); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// recoverPanics turns a handler panic into a 500 with the stack in the log,
// never in the body. When the answer has already started, nothing can be
// said any more: the connection is aborted so the client sees a broken
// answer, not a complete-looking one.
func (s *Server) recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v)
			}
			st := state(r)
			s.log.Error("handler panic", "request_id", st.requestID, "panic", v, "stack", string(debug.Stack()))
			if st.rec != nil && st.rec.status != 0 {
				panic(http.ErrAbortHandler)
			}
			s.writeError(w, r, errors.New("panic"))
		}()
		next.ServeHTTP(w, r)
	})
}

// observe records each finished request: the access log line, the
// metrics, and the audit event. The audit event is queued, never waited on.
// It records in a deferred call so that a request whose handler panicked
// (answered 500 by recoverPanics) is recorded too.
func (s *Server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.metrics.InFlight.Inc()
		s.active.Add(1)
		finished := false
		defer func() {
			s.metrics.InFlight.Dec()
			s.record(r, finished)
			s.active.Done()
		}()
		next.ServeHTTP(w, r)
		finished = true
	})
}

// record writes the access log line, the metrics and the audit event of a
// request; finished is false when the handler panicked.
func (s *Server) record(r *http.Request, finished bool) {
	st := state(r)
	if st.rec == nil {
		return
	}
	// A panicking handler has not answered yet; recoverPanics (further
	// out) will answer 500. The recorder itself is left alone: it tells
	// recoverPanics whether the answer had started.
	status := st.rec.status
	switch {
	case status == 0 && !finished:
		status = http.StatusInternalServerError
	case status == 0:
		status = http.StatusOK
	}
	elapsed := s.now().Sub(st.start)
	route := st.route
	if route == "" {
		route = "unmatched"
	}
	method := metricMethod(r.Method)
	s.metrics.Requests.WithLabelValues(route, method, strconv.Itoa(status)).Inc()
	s.metrics.Duration.WithLabelValues(route, method).Observe(elapsed.Seconds())
	if s.log.Enabled(r.Context(), slog.LevelInfo) {
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "http request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000), slog.Int64("bytes", st.rec.bytes),
			slog.String("request_id", st.requestID), slog.String("principal", st.subject), slog.String("client_ip", st.clientIP))
	}
	if exempt(r.URL.Path) || isMCP(st) && status < 400 {
		// The gateway audits each MCP call; an answered request is not
		// one event of its own.
		return
	}
	action := st.action
	if action == "" {
		action = "unmatched"
	}
	path := r.URL.Path
	if len(path) > 512 {
		path = path[:512]
	}
	ev := v1.AuditEvent{
		Time: st.start.UTC(), Principal: st.subject, Action: action, Method: r.Method, Path: path,
		Status: status, DurationMS: float64(elapsed.Microseconds()) / 1000, ClientIP: st.clientIP, RequestID: st.requestID,
	}
	if p := st.principal; p != nil && p.Token != nil {
		ev.TokenName, ev.TokenSHA = p.Token.Name, p.TokenHash
	}
	s.audit.Record(ev)
}

// metricMethod bounds the method label: clients may send any token as a
// method, and each would otherwise become new metric series.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// securityHeaders set what a JSON API needs to be inert in a browser:
// no scripts, no framing, no sniffing, no referrer; HSTS in production,
// where mcpd is expected behind TLS.
func (s *Server) securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Cache-Control", "no-store")
		if s.cfg.Production {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		next.ServeHTTP(w, r)
	})
}

var (
	corsMethods = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsHeaders = "Authorization, Content-Type, X-Request-Id, Mcp-Session-Id, MCP-Protocol-Version, Last-Event-ID"
	corsExpose  = "X-Request-Id, Mcp-Session-Id, Retry-After, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
)

// cors allows the configured browser origins. Bearer tokens, not cookies,
// carry identity, so credentials are never allowed. A preflight from an
// origin not on the list is refused with a message naming the setting.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		w.Header().Add("Vary", "Origin")
		allowed := s.originAllowed(origin)
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if allowed {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Expose-Headers", corsExpose)
		}
		if !preflight {
			next.ServeHTTP(w, r)
			return
		}
		if !allowed {
			s.writeError(w, r, newError(http.StatusForbidden, v1.CodeForbidden,
				"origin "+strconvQuote(origin)+" is not allowed; add it to MCPD_CORS_ORIGINS"))
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Methods", corsMethods)
		h.Set("Access-Control-Allow-Headers", corsHeaders)
		h.Set("Access-Control-Max-Age", "600")
		w.WriteHeader(http.StatusNoContent)
	})
}

func (s *Server) originAllowed(origin string) bool {
	for _, o := range s.cfg.CORSOrigins {
		if o == "*" || o == origin {
			return true
		}
	}
	return false
}

// limitBody refuses bodies over the limit: at once when Content-Length
// says so, and while reading otherwise.
func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.cfg.BodyLimit
		switch st := state(r); {
		case st.action == "apply":
			// One apply holds a whole manifest set in one transaction.
			limit = max(limit, v1.MaxApplyBody)
		case isMCP(st):
			limit = s.cfg.MCPBodyLimit
		}
		if r.ContentLength > limit {
			err := error(&http.MaxBytesError{Limit: limit})
			if isMCP(state(r)) {
				err = newError(http.StatusRequestEntityTooLarge, v1.CodePayloadTooLarge,
					"the request body is larger than the limit of "+byteSize(limit)+" (MCPD_MCP_BODY_LIMIT)")
			}
			s.writeError(w, r, err)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// identify resolves the bearer once per request; later layers read the
// result from the request state.
func (s *Server) identify(r *http.Request) *reqState {
	st := state(r)
	if st.identified {
		return st
	}
	st.identified = true
	h := r.Header.Get("Authorization")
	if h == "" {
		st.authErr = auth.ErrTokenRequired
		return st
	}
	tok, ok := auth.BearerToken(h)
	if !ok {
		st.authErr = newError(http.StatusUnauthorized, v1.CodeTokenInvalid,
			"the Authorization header must be \"Bearer <token>\"; log in with `mcpctl login` to get a token")
		return st
	}
	p, err := s.auth.Authenticate(r.Context(), tok)
	if err != nil {
		st.authErr = err
		return st
	}
	st.principal, st.subject = p, p.Subject()
	return st
}

// rateLimit allows MCPD_RATE_LIMIT requests per window to each principal,
// or to each client IP when no valid bearer is presented. It runs before
// any store query: the principal comes from the token cache only, and a
// bearer the cache does not know is charged to the client IP, so junk
// tokens cannot buy store look-ups beyond the IP's limit.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		lim, setting := s.limiter, "MCPD_RATE_LIMIT"
		if isMCP(st) {
			lim, setting = s.mcpLimiter, "MCPD_MCP_RATE_LIMIT"
		}
		if lim == nil || exempt(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		key := "ip:" + st.clientIP
		if tok, ok := auth.BearerToken(r.Header.Get("Authorization")); ok {
			if p, ok := s.auth.Cached(tok); ok {
				key = "user:" + p.UserID
				if p.Token != nil {
					key = "token:" + p.TokenHash
				}
				// The look-up is the authentication: identify need not
				// hash and look the token up a second time.
				st.principal, st.subject, st.identified = p, p.Subject(), true
			}
		}
		v := lim.allow(key)
		setRateHeaders(w, v)
		if !v.allowed {
			s.tooMany(w, r, v, setting)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func setRateHeaders(w http.ResponseWriter, v verdict) {
	h := w.Header()
	h.Set("RateLimit-Limit", strconv.Itoa(v.limit))
	h.Set("RateLimit-Remaining", strconv.Itoa(v.remaining))
	h.Set("RateLimit-Reset", strconv.Itoa(ceilSeconds(v.reset)))
}

// tooMany answers 429 for verdict v, with the headers of the limit that
// refused (which may not be the general one).
func (s *Server) tooMany(w http.ResponseWriter, r *http.Request, v verdict, setting string) {
	setRateHeaders(w, v)
	secs := ceilSeconds(v.reset)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	s.writeError(w, r, newError(http.StatusTooManyRequests, v1.CodeRateLimited,
		"too many requests: the limit is "+strconv.Itoa(v.limit)+" per window ("+setting+"); retry after "+strconv.Itoa(secs)+"s"))
}

func ceilSeconds(d time.Duration) int {
	return int(math.Max(1, math.Ceil(d.Seconds())))
}

// requireAuth refuses /api/v1 requests without a valid bearer, except the
// routes that are public by nature (login).
func (s *Server) requireAuth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !(strings.HasPrefix(r.URL.Path, "/api/") || isMCP(state(r))) || s.public[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		if st := s.identify(r); st.principal == nil {
			s.writeError(w, r, st.authErr)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func strconvQuote(s string) string {
	if len(s) > 200 {
		s = s[:200]
	}
	return strconv.Quote(s)
}
