package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Protocol versions of the two eras.
const (
	// StatelessVersion is the first version of the stateless era: its
	// requests carry their own _meta and need no session.
	StatelessVersion = "2026-07-28"
	headerVersion    = "Mcp-Protocol-Version"
	headerSession    = "Mcp-Session-Id"
)

// sessionVersions are the versions a session-era client may negotiate.
var sessionVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}

// Versions lists every protocol version the endpoint speaks, newest first.
func Versions() []string { return append([]string{StatelessVersion}, sessionVersions...) }

// SessionRecord is what a replica stores of a session-era session, so that
// another replica can take it over.
type SessionRecord struct {
	ID, Project, Subject string
	// Version is the negotiated protocol version.
	Version string
	// Init is the client's initialize params (JSON).
	Init      json.RawMessage
	Node      string
	CreatedAt time.Time
	LastSeen  time.Time
}

// SessionStore keeps session records; nil keeps sessions in memory only.
type SessionStore interface {
	// PutSession creates or replaces a record.
	PutSession(ctx context.Context, rec SessionRecord) error
	// GetSession returns a record; ok is false when there is none.
	GetSession(ctx context.Context, id string) (rec SessionRecord, ok bool, err error)
	// TouchSession records a use of the session.
	TouchSession(ctx context.Context, id string, at time.Time) error
	// DeleteSessions removes records by id, and every record last seen
	// before idleBefore.
	DeleteSessions(ctx context.Context, ids []string, idleBefore time.Time) error
}

// EdgeConfig tunes the HTTP front of project endpoints; zero fields take
// the defaults in brackets.
type EdgeConfig struct {
	// SessionIdle closes a session no request has used for this long [30m].
	SessionIdle time.Duration
	// MaxSessions bounds the open sessions of one principal [64].
	MaxSessions int
	// MaxBodyBytes bounds one request body [4 MiB].
	MaxBodyBytes int64
	// AllowedOrigins are browser origins allowed besides the endpoint's
	// own; "*" allows any.
	AllowedOrigins []string
	// AllowedHosts are Host names accepted on a loopback listener
	// besides localhost and loopback addresses (the DNS-rebinding guard).
	AllowedHosts []string
	// Settings name the settings a message should point at: "origins",
	// "hosts", "sessions", "body".
	Settings map[string]string
	// Node names this replica in session records.
	Node string
}

func (c *EdgeConfig) defaults() {
	if c.SessionIdle <= 0 {
		c.SessionIdle = 30 * time.Minute
	}
	if c.MaxSessions <= 0 {
		c.MaxSessions = 64
	}
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = 4 << 20
	}
}

// Edge serves project endpoints over Streamable HTTP: both protocol eras,
// session-era sessions bound to their principal and project.
type Edge struct {
	cfg   EdgeConfig
	gw    *Gateway
	auth  Authenticator
	store SessionStore
	log   *slog.Logger
	// events lets clients resume an interrupted stream (Last-Event-ID).
	events *mcp.MemoryEventStore

	mu          sync.Mutex
	sessions    map[string]*edgeSession
	resuming    map[string]chan struct{} // session ids being resumed → closed when done
	perSubject  map[string]int
	stateless   map[*mcp.Server]http.Handler
	lastSweep   time.Time
	closing     bool
	wg          sync.WaitGroup
	bearer      func(http.Handler) http.Handler
	statelessMu sync.Mutex
}

// edgeSession is one session-era session.
type edgeSession struct {
	id, project, version string
	principal            Principal
	transport            *mcp.StreamableServerTransport
	ss                   *mcp.ServerSession

	mu      sync.Mutex
	active  int
	used    time.Time // end of the last request
	timer   *time.Timer
	touched time.Time // last store write
	// uncounted: the session no longer counts towards its principal's
	// limit (it was evicted and is closing).
	uncounted bool
	// drop says the record goes too when the session ends (a DELETE or
	// idle expiry; not a shutdown, after which another replica resumes).
	drop bool
	// relayed cancels the relay's calls in flight, by request id.
	relayed map[string]context.CancelCauseFunc
	// streams counts the client's standalone GET streams open.
	streams int
	// gone: the session ended; the relay takes no more calls of it.
	gone bool
}

// NewEdge returns the HTTP front; auth nil lets everyone in as
// "anonymous" (mcplocal standalone without a token).
func NewEdge(cfg EdgeConfig, gw *Gateway, a Authenticator, st SessionStore, log *slog.Logger) *Edge {
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	events := mcp.NewMemoryEventStore(nil)
	events.SetMaxBytes(32 << 20)
	e := &Edge{cfg: cfg, gw: gw, auth: a, store: st, log: log, events: events,
		sessions: map[string]*edgeSession{}, resuming: map[string]chan struct{}{}, perSubject: map[string]int{}, stateless: map[*mcp.Server]http.Handler{}}
	// The SDK hands each request the token info of its context; only its
	// bearer middleware can put it there. The principal was found
	// already: the verifier just returns it.
	e.bearer = auth.RequireBearerToken(func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		p, _ := ctx.Value(principalCtx{}).(Principal)
		return &auth.TokenInfo{UserID: p.Subject, Expiration: time.Now().Add(time.Hour), Extra: map[string]any{principalKey: p}}, nil
	}, nil)
	return e
}

type principalCtx struct{}

// Setting names the setting behind a limit in messages.
func (e *Edge) setting(key, fallback string) string {
	if s := e.cfg.Settings[key]; s != "" {
		return s
	}
	return fallback
}

// ServeProject serves one request to project's endpoint.
func (e *Edge) ServeProject(w http.ResponseWriter, r *http.Request, project string) {
	if err := e.checkHost(r); err != nil {
		WriteError(w, http.StatusForbidden, "FORBIDDEN", err.Error())
		return
	}
	if err := e.checkOrigin(r); err != nil {
		WriteError(w, http.StatusForbidden, "FORBIDDEN", err.Error())
		return
	}
	p := Principal{Subject: "anonymous"}
	if e.auth != nil {
		var err error
		if p, err = e.auth.Authenticate(r, project); err != nil {
			var ae *AuthError
			if errors.As(err, &ae) {
				WriteError(w, ae.Status, ae.Code, ae.Message)
				return
			}
			e.log.Error("authenticate", "err", err)
			WriteError(w, http.StatusInternalServerError, "INTERNAL", "authentication failed; see the gateway's log")
			return
		}
	}
	if r.ContentLength > e.cfg.MaxBodyBytes {
		e.tooLarge(w)
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, e.cfg.MaxBodyBytes)
	}
	version := r.Header.Get(headerVersion)
	if version != "" && !slices.Contains(Versions(), version) && version < StatelessVersion {
		// (A newer version than this endpoint knows is the SDK's to
		// refuse, in the stateless era's own error.)
		e.versionError(w, r, version)
		return
	}
	v, err := e.gw.view(r.Context(), project)
	if err != nil {
		if errors.Is(err, ErrNoProject) {
			WriteError(w, http.StatusNotFound, "NOT_FOUND", fmt.Sprintf("project %q does not exist", project))
			return
		}
		e.log.Error("project endpoint", "project", project, "err", err)
		WriteError(w, http.StatusServiceUnavailable, "UNAVAILABLE", fmt.Sprintf("project %s cannot be served just now: %v", project, err))
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), principalCtx{}, p))
	// A call may stream progress for longer than the server's write
	// timeout, and a GET stream lasts the session: the call timeout and
	// the idle expiry bound them instead.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	if version >= StatelessVersion {
		e.serveStateless(w, r, v.srv)
		return
	}
	e.serveSession(w, r, project, v, p, version)
}

// versionError refuses an unknown protocol version with the data the
// stateless era defines ({supported, requested}), naming the versions.
func (e *Edge) versionError(w http.ResponseWriter, r *http.Request, version string) {
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": requestID(r),
		"error": map[string]any{"code": mcp.CodeUnsupportedProtocolVersion,
			"message": fmt.Sprintf("%s %q is not supported; this endpoint speaks %s", headerVersion, clip(version), strings.Join(Versions(), ", ")),
			"data":    mcp.UnsupportedProtocolVersionData{Supported: Versions(), Requested: version}},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	w.Write(append(body, '\n'))
}

// requestID is the id of the JSON-RPC request in r's body, for an error
// answered before the SDK reads it; null when there is none. The body is
// read (within the body limit) and put back.
func requestID(r *http.Request) any {
	if r.Method != http.MethodPost || r.Body == nil {
		return nil
	}
	b, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(b))
	if err != nil {
		return nil
	}
	var msg struct {
		ID json.RawMessage `json:"id"`
	}
	if json.Unmarshal(b, &msg) != nil || len(msg.ID) == 0 {
		return nil
	}
	return msg.ID
}

func (e *Edge) tooLarge(w http.ResponseWriter) {
	WriteError(w, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", fmt.Sprintf(
		"the request body is over the limit of %d bytes (%s)", e.cfg.MaxBodyBytes, e.setting("body", "the gateway's body limit")))
}

// withPrincipal hands the principal to the SDK (and so to handlers).
func (e *Edge) withPrincipal(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "" {
			h.ServeHTTP(w, r) // anonymous
			return
		}
		e.bearer(h).ServeHTTP(w, r)
	})
}

func (e *Edge) serveStateless(w http.ResponseWriter, r *http.Request, srv *mcp.Server) {
	e.statelessMu.Lock()
	h := e.stateless[srv]
	if h == nil {
		// A new view's server: forget the handlers of views gone (a
		// project deleted, or deleted and created again).
		for old := range e.stateless {
			if !e.gw.serving(old) {
				delete(e.stateless, old)
			}
		}
		h = e.withPrincipal(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{
			Stateless: true, DisableLocalhostProtection: true, MaxRequestBodyBytes: -1, PropagateRequestCancellation: true,
			Logger: slog.New(atLeast{e.log.Handler(), slog.LevelWarn}),
		}))
		e.stateless[srv] = h
	}
	e.statelessMu.Unlock()
	h.ServeHTTP(&sizeWatch{ResponseWriter: w, e: e}, r)
}

// sizeWatch turns the SDK's plain-text 413 into the endpoint's error.
type sizeWatch struct {
	http.ResponseWriter
	e       *Edge
	refused bool
}

func (s *sizeWatch) WriteHeader(code int) {
	if code == http.StatusRequestEntityTooLarge {
		s.refused = true
		s.e.tooLarge(s.ResponseWriter)
		return
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *sizeWatch) Write(b []byte) (int, error) {
	if s.refused {
		return len(b), nil
	}
	return s.ResponseWriter.Write(b)
}

func (s *sizeWatch) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (s *sizeWatch) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok && !s.refused {
		f.Flush()
	}
}

func (e *Edge) serveSession(w http.ResponseWriter, r *http.Request, project string, v *view, p Principal, version string) {
	srv := v.srv
	id := r.Header.Get(headerSession)
	if id == "" {
		switch r.Method {
		case http.MethodPost:
			e.newSession(w, r, project, srv, p)
		case http.MethodGet, http.MethodDelete:
			WriteError(w, http.StatusBadRequest, "SESSION_REQUIRED", fmt.Sprintf("%s needs an %s header; POST initialize first", r.Method, headerSession))
		default:
			w.Header().Set("Allow", "GET, POST, DELETE")
			WriteError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST, GET or DELETE")
		}
		return
	}
	s, err := e.session(r.Context(), id, project, srv)
	if err != nil {
		e.log.Error("session look-up", "err", err)
		WriteError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the session could not be looked up just now; try again")
		return
	}
	if s == nil || s.project != project {
		WriteError(w, http.StatusNotFound, "SESSION_NOT_FOUND", fmt.Sprintf("session %q is not open on project %s (it expired, was closed, or never existed); initialize a new one", clip(id), project))
		return
	}
	if s.principal.Subject != p.Subject {
		WriteError(w, http.StatusForbidden, "FORBIDDEN", "this session belongs to another principal; initialize a session of your own")
		return
	}
	// The version header, when sent, is one this endpoint speaks (checked
	// above); absent, the negotiated one applies (spec: transports,
	// protocol version header). Clients in the field send older ones on
	// some requests; they are not refused for it.
	switch r.Method {
	case http.MethodDelete:
		s.mu.Lock()
		s.drop = true
		s.mu.Unlock()
		s.ss.Close()
		w.WriteHeader(http.StatusNoContent)
		return
	case http.MethodGet, http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE")
		WriteError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "use POST, GET or DELETE")
		return
	}
	s.begin()
	defer e.end(s)
	if r.Method == http.MethodPost && e.relay(w, r, v, s) {
		return
	}
	if last := r.Header.Get("Last-Event-ID"); r.Method == http.MethodGet && (last == "" || strings.HasPrefix(last, "_")) {
		// The standalone stream (the SDK numbers its events "_<n>").
		s.mu.Lock()
		s.streams++
		s.mu.Unlock()
		defer func() {
			s.mu.Lock()
			s.streams--
			s.mu.Unlock()
		}()
	}
	e.serve(w, r, s.transport)
}

// serve hands a request to the SDK with the principal, its plain-text
// 413 turned into the endpoint's JSON-RPC error.
func (e *Edge) serve(w http.ResponseWriter, r *http.Request, h http.Handler) {
	e.withPrincipal(h).ServeHTTP(&sizeWatch{ResponseWriter: w, e: e}, r)
}

// newSession opens a session for an initialize request.
func (e *Edge) newSession(w http.ResponseWriter, r *http.Request, project string, srv *mcp.Server, p Principal) {
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		WriteError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "the gateway is shutting down; connect again in a moment")
		return
	}
	if n := e.perSubject[p.Subject]; n >= e.cfg.MaxSessions {
		// Clients often drop a session without DELETE: at the limit the
		// principal's least recently used idle session makes room. Only
		// when every one is busy is the new one refused.
		old := e.idlest(p.Subject)
		if old == nil {
			e.mu.Unlock()
			w.Header().Set("Retry-After", "60")
			WriteError(w, http.StatusTooManyRequests, "TOO_MANY_SESSIONS", fmt.Sprintf(
				"%s holds %d open sessions, all busy, the limit (%s); end unused ones with DELETE",
				p.Subject, n, e.setting("sessions", "the gateway's session limit")))
			return
		}
		e.evictLocked(old)
		e.log.Info("closed the least recently used session of a principal at its session limit", "principal", p.Subject, "session", clip(old.id))
	}
	e.perSubject[p.Subject]++
	e.mu.Unlock()
	s, err := e.open(r.Context(), rand.Text(), project, srv, p, nil)
	if err != nil {
		e.release(p.Subject)
		e.log.Error("open session", "err", err)
		WriteError(w, http.StatusInternalServerError, "INTERNAL", "the session could not be opened")
		return
	}
	s.begin()
	e.serve(w, r, s.transport)
	init := s.ss.InitializeParams()
	if init == nil {
		e.log.Debug("a new session's first request was not a completed initialize; closing it", "session", clip(s.id), "ctx", r.Context().Err())
		// Not an initialize, or a failed one: nothing to keep.
		s.drop = true
		s.ss.Close()
		e.end(s)
		return
	}
	s.version = negotiated(init.ProtocolVersion)
	e.end(s)
	if e.store != nil {
		b, _ := json.Marshal(init)
		now := time.Now()
		rec := SessionRecord{ID: s.id, Project: project, Subject: p.Subject, Version: s.version, Init: b, Node: e.cfg.Node, CreatedAt: now, LastSeen: now}
		if err := e.store.PutSession(context.WithoutCancel(r.Context()), rec); err != nil {
			e.log.Warn("session not recorded; another replica cannot resume it", "err", err)
		}
		e.sweep()
	}
}

// idlest is subject's least recently used session with no request in
// flight, or nil. e.mu is held.
func (e *Edge) idlest(subject string) *edgeSession {
	var best *edgeSession
	var bestUsed time.Time
	for _, s := range e.sessions {
		if s.principal.Subject != subject {
			continue
		}
		s.mu.Lock()
		ok, used := s.active == 0 && !s.uncounted, s.used
		s.mu.Unlock()
		if ok && (best == nil || used.Before(bestUsed)) {
			best, bestUsed = s, used
		}
	}
	return best
}

// evictLocked closes s and stops counting it at once. e.mu is held.
func (e *Edge) evictLocked(s *edgeSession) {
	s.mu.Lock()
	s.uncounted, s.drop = true, true
	s.mu.Unlock()
	if e.perSubject[s.principal.Subject]--; e.perSubject[s.principal.Subject] <= 0 {
		delete(e.perSubject, s.principal.Subject)
	}
	go s.ss.Close()
}

func (e *Edge) release(subject string) {
	e.mu.Lock()
	if e.perSubject[subject]--; e.perSubject[subject] <= 0 {
		delete(e.perSubject, subject)
	}
	e.mu.Unlock()
}

// open connects a transport for session id; state is set when resuming
// a session another replica opened.
func (e *Edge) open(ctx context.Context, id, project string, srv *mcp.Server, p Principal, state *mcp.ServerSessionState) (*edgeSession, error) {
	t := &mcp.StreamableServerTransport{SessionID: id, EventStore: e.events}
	ss, err := srv.Connect(context.WithoutCancel(ctx), t, &mcp.ServerSessionOptions{State: state})
	if err != nil {
		return nil, err
	}
	s := &edgeSession{id: id, project: project, principal: p, transport: t, ss: ss, touched: time.Now(), used: time.Now()}
	if state != nil && state.InitializeParams != nil {
		s.version = negotiated(state.InitializeParams.ProtocolVersion)
	}
	if state != nil && state.LogLevel != "" {
		e.gw.levels.Store(ss, state.LogLevel)
	}
	s.timer = time.AfterFunc(e.cfg.SessionIdle, func() { e.expire(s) })
	e.mu.Lock()
	e.sessions[id] = s
	e.mu.Unlock()
	e.gw.metrics.Sessions.WithLabelValues(project).Inc()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		ss.Wait()
		e.closed(s)
	}()
	return s, nil
}

// session finds an open session, or resumes one another replica recorded.
func (e *Edge) session(ctx context.Context, id, project string, srv *mcp.Server) (*edgeSession, error) {
	e.mu.Lock()
	s := e.sessions[id]
	e.mu.Unlock()
	if s != nil || e.store == nil || len(id) > 128 {
		return s, nil
	}
	rec, ok, err := e.store.GetSession(ctx, id)
	if err != nil || !ok {
		return nil, err
	}
	if rec.Project != project || time.Since(rec.LastSeen) > e.cfg.SessionIdle {
		return nil, nil
	}
	var init mcp.InitializeParams
	if err := json.Unmarshal(rec.Init, &init); err != nil {
		return nil, nil
	}
	e.mu.Lock()
	if s := e.sessions[id]; s != nil { // resumed meanwhile
		e.mu.Unlock()
		return s, nil
	}
	if wait, busy := e.resuming[id]; busy {
		// Another request resumes it just now: use what that one opens.
		e.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		e.mu.Lock()
		s := e.sessions[id]
		e.mu.Unlock()
		if s == nil {
			// The other request's resumption failed: not "no such session".
			return nil, errors.New("resuming the session failed")
		}
		return s, nil
	}
	done := make(chan struct{})
	e.resuming[id] = done
	e.perSubject[rec.Subject]++
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.resuming, id)
		e.mu.Unlock()
		close(done)
	}()
	p := Principal{Subject: rec.Subject}
	s, err = e.open(ctx, id, project, srv, p, &mcp.ServerSessionState{InitializeParams: &init, InitializedParams: &mcp.InitializedParams{}, LogLevel: "info"})
	if err != nil {
		e.release(rec.Subject)
		return nil, err
	}
	e.log.Info("resumed a session opened on another replica", "session", clip(id), "project", project, "node", rec.Node)
	if err := e.store.PutSession(ctx, SessionRecord{ID: id, Project: project, Subject: rec.Subject, Version: rec.Version, Init: rec.Init,
		Node: e.cfg.Node, CreatedAt: rec.CreatedAt, LastSeen: time.Now()}); err != nil {
		e.log.Warn("resumed session not recorded", "err", err)
	}
	return s, nil
}

// begin marks a request on the session: it cannot expire meanwhile.
func (s *edgeSession) begin() {
	s.mu.Lock()
	s.active++
	s.timer.Stop()
	s.mu.Unlock()
}

// end marks a request done; the idle clock starts when none is left.
func (e *Edge) end(s *edgeSession) {
	s.mu.Lock()
	s.active--
	s.used = time.Now()
	if s.active == 0 {
		s.timer.Reset(e.cfg.SessionIdle)
	}
	touch := e.store != nil && time.Since(s.touched) > time.Minute
	if touch {
		s.touched = time.Now()
	}
	s.mu.Unlock()
	if touch {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := e.store.TouchSession(ctx, s.id, time.Now()); err != nil {
				e.log.Debug("session touch", "err", err)
			}
		}()
	}
}

func (e *Edge) expire(s *edgeSession) {
	s.mu.Lock()
	idle := s.active == 0
	if idle {
		s.drop = true
	}
	s.mu.Unlock()
	if idle {
		s.ss.Close()
	}
}

// closed forgets a session that ended.
func (e *Edge) closed(s *edgeSession) {
	s.timer.Stop()
	s.cancelAllRelayed()
	e.mu.Lock()
	if e.sessions[s.id] == s {
		delete(e.sessions, s.id)
	}
	e.mu.Unlock()
	s.mu.Lock()
	counted := !s.uncounted
	s.uncounted = true
	s.mu.Unlock()
	if counted {
		e.release(s.principal.Subject)
	}
	e.gw.metrics.Sessions.WithLabelValues(s.project).Dec()
	e.gw.Release(s.ss)
	s.mu.Lock()
	drop := s.drop
	s.mu.Unlock()
	if drop && e.store != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := e.store.DeleteSessions(ctx, []string{s.id}, time.Time{}); err != nil {
			e.log.Debug("session record not deleted", "err", err)
		}
	}
}

// sweep deletes records of sessions idle too long, at most every 5 min.
func (e *Edge) sweep() {
	e.mu.Lock()
	due := time.Since(e.lastSweep) > 5*time.Minute
	if due {
		e.lastSweep = time.Now()
	}
	e.mu.Unlock()
	if !due {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.store.DeleteSessions(ctx, nil, time.Now().Add(-e.cfg.SessionIdle)); err != nil {
			e.log.Debug("session sweep", "err", err)
		}
	}()
}

// Sessions counts the open session-era sessions by project.
func (e *Edge) Sessions() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := map[string]int{}
	for _, s := range e.sessions {
		out[s.project]++
	}
	return out
}

// Close ends every session, keeping their records so that another
// replica can resume them, and waits until they are closed or ctx ends.
func (e *Edge) Close(ctx context.Context) error {
	e.mu.Lock()
	e.closing = true
	all := make([]*edgeSession, 0, len(e.sessions))
	for _, s := range e.sessions {
		all = append(all, s)
	}
	e.mu.Unlock()
	for _, s := range all {
		s.ss.Close()
	}
	done := make(chan struct{})
	go func() { e.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// negotiated is the version a session-era initialize settles on: the
// client's when it is one of the era's, else the newest of the era.
func negotiated(v string) string {
	if slices.Contains(sessionVersions, v) {
		return v
	}
	return sessionVersions[0]
}

// checkHost is the DNS-rebinding guard: a request that reached a
// loopback listener must name a loopback host (or an allowed one).
func (e *Edge) checkHost(r *http.Request) error {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || local == nil || !IsLoopback(local.String()) {
		return nil
	}
	if IsLoopback(r.Host) || slices.Contains(e.cfg.AllowedHosts, hostOnly(r.Host)) {
		return nil
	}
	return fmt.Errorf("the Host header %q is not a loopback name, but this endpoint listens on loopback: a DNS-rebinding guard refuses it; add the name to %s if it is yours",
		clip(r.Host), e.setting("hosts", "the gateway's allowed hosts"))
}

// checkOrigin lets browsers in from the endpoint's own origin and the
// allowed ones; requests without an Origin (not from a browser) pass.
func (e *Edge) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return nil
	}
	for _, o := range e.cfg.AllowedOrigins {
		if o == "*" || o == origin {
			return nil
		}
	}
	if u, err := url.Parse(origin); err == nil && u.Host == r.Host {
		return nil
	}
	return fmt.Errorf("origin %q may not use this endpoint; add it to %s", clip(origin), e.setting("origins", "the gateway's allowed origins"))
}

func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return strings.Trim(hostport, "[]")
}

// IsLoopback reports whether a host (with or without a port) is a
// loopback name or address.
func IsLoopback(hostport string) bool {
	h := hostOnly(hostport)
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// WriteError answers an HTTP-level refusal on an MCP endpoint as a
// JSON-RPC error (id null), with the HTTP status and a code naming the
// problem in data.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	rpc := int64(jsonrpc.CodeInvalidRequest)
	if status >= 500 {
		rpc = jsonrpc.CodeInternalError
	}
	body, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": nil,
		"error": map[string]any{"code": rpc, "message": message, "data": map[string]any{"status": status, "code": code}},
	})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
