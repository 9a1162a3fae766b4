package apiserver

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpctl/mcpctl/internal/audit"
	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/clocktest"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/telemetry"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

const (
	aliceEmail    = "alice@example.com"
	alicePassword = "correct horse battery staple"
	bobEmail      = "bob@example.com"
	bobPassword   = "tr0ub4dor&3 is too short"
	allowedOrigin = "https://app.example.com"
	testBodyLimit = 1 << 20
	testTTL       = time.Hour
)

// The hashes are computed once: argon2id is deliberately slow.
var (
	aliceHash = sync.OnceValue(func() string { return auth.HashPassword(alicePassword) })
	bobHash   = sync.OnceValue(func() string { return auth.HashPassword(bobPassword) })
)

var t0 = time.Date(2026, 11, 26, 15, 0, 0, 0, time.UTC)

// syncBuffer collects log output written by server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// env is the whole API over a real SQLite store, served on loopback.
type env struct {
	srv     *httptest.Server
	api     *Server
	db      *store.DB
	dbPath  string
	writer  *audit.Writer
	metrics *telemetry.Metrics
	clock   *clocktest.Clock
	logs    *syncBuffer
	keys    *secret.Keyring
	auth    *auth.Authenticator
	authz   *authz.Authorizer
}

// setup is what a test may change before newEnv builds the stack.
type setup struct {
	cfg  Config
	auth auth.Config
	// wrap, when set, puts a store in front of the SQLite one.
	wrap func(store.Store) store.Store
	// shared, when set, serves a second replica over the store and clock of
	// another env.
	shared *env
	// routes registers extra handlers before serving.
	routes func(*Server)
}

func newEnv(t testing.TB, changes ...func(*setup)) *env {
	t.Helper()
	su := setup{
		cfg: Config{
			CORSOrigins:    []string{allowedOrigin},
			RateLimit:      config.Rate{Limit: 1000, Window: time.Minute},
			LoginRateLimit: config.Rate{Limit: 1000, Window: time.Minute},
			BodyLimit:      testBodyLimit,
		},
		auth: auth.Config{SessionTTL: testTTL, CacheTTL: 5 * time.Second},
	}
	for _, c := range changes {
		c(&su)
	}
	ctx := context.Background()
	e := &env{logs: &syncBuffer{}}
	if su.shared != nil {
		e.db, e.dbPath, e.clock = su.shared.db, su.shared.dbPath, su.shared.clock
	} else {
		e.clock = clocktest.New(t0)
		e.dbPath = filepath.Join(t.TempDir(), "mcpd.db")
		db, err := store.Open(ctx, store.Options{SQLitePath: e.dbPath})
		if err != nil {
			t.Fatalf("store.Open: %v", err)
		}
		t.Cleanup(func() { db.Close() })
		e.db = db
		for _, u := range []store.User{
			{ID: "u-alice", Email: aliceEmail, Name: "Alice", PasswordHash: aliceHash(), CreatedAt: t0, UpdatedAt: t0},
			{ID: "u-bob", Email: bobEmail, Name: "Bob", PasswordHash: bobHash(), CreatedAt: t0, UpdatedAt: t0},
		} {
			if err := db.CreateUser(ctx, u); err != nil {
				t.Fatalf("CreateUser: %v", err)
			}
		}
		// Alice and Bob are admins: the tests of the resource API are not
		// about RBAC (rbac_test.go is).
		admins, _ := json.Marshal(v1.GroupSpec{Members: []string{aliceEmail, bobEmail}})
		err = db.UpdateResources(ctx, func(tx store.ResourceTx) error {
			return tx.Create(&store.Resource{ResourceKey: store.ResourceKey{Kind: "Group", Name: v1.AdminGroup}, Spec: admins, CreatedAt: t0, UpdatedAt: t0})
		})
		if err != nil {
			t.Fatalf("create admin group: %v", err)
		}
	}
	var st store.Store = e.db
	if su.wrap != nil {
		st = su.wrap(e.db)
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.metrics = telemetry.New(func() float64 { return float64(e.writer.Depth()) })
	e.writer = audit.NewWriter(audit.Config{FlushInterval: 2 * time.Millisecond, Retries: 1, RetryBackoff: time.Millisecond}, st, log,
		audit.Counters{Written: e.metrics.AuditWritten, Dropped: e.metrics.AuditDropped, WriteErrors: e.metrics.AuditWriteErrors})
	t.Cleanup(func() { e.writer.Close(context.Background()) })
	su.auth.Now = e.clock.Now
	keys, err := secret.NewKeyring([][]byte{[]byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	e.keys = keys
	e.authz = authz.New(authz.Config{CacheTTL: su.auth.CacheTTL, Now: e.clock.Now}, st)
	e.auth = auth.New(su.auth, st)
	e.api = New(su.cfg, Deps{Store: st, Auth: e.auth, Authz: e.authz, Audit: e.writer, Metrics: e.metrics, Secrets: keys, Log: log, Now: e.clock.Now})
	if su.routes != nil {
		su.routes(e.api)
	}
	e.srv = httptest.NewServer(e.api)
	t.Cleanup(e.srv.Close)
	return e
}

// req is one request to the API.
type req struct {
	method, path string
	body         string
	// contentType defaults to application/json when there is a body; "-"
	// sends none.
	contentType string
	token       string
	header      map[string]string
}

// resp is an answer, fully read.
type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(t testing.TB, r req) resp {
	t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		t.Fatalf("NewRequest: %v", err)
	}
	switch {
	case r.contentType == "-":
	case r.contentType != "":
		hr.Header.Set("Content-Type", r.contentType)
	case r.body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	return e.send(t, hr)
}

func (e *env) send(t testing.TB, hr *http.Request) resp {
	t.Helper()
	res, err := e.srv.Client().Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", hr.Method, hr.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", hr.Method, hr.URL.Path, err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func loginBody(email, password string) string {
	b, _ := json.Marshal(v1.LoginRequest{Email: email, Password: password})
	return string(b)
}

func loginReq(email, password string) req {
	return req{method: "POST", path: "/api/v1/auth/login", body: loginBody(email, password)}
}

// login logs in and returns the token, failing the test otherwise.
func (e *env) login(t testing.TB, email, password string) string {
	t.Helper()
	r := e.do(t, loginReq(email, password))
	if r.status != http.StatusOK {
		t.Fatalf("login %s: status %d, body %s", email, r.status, r.body)
	}
	var lr v1.LoginResponse
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatalf("login %s: decode %s: %v", email, r.body, err)
	}
	return lr.Token
}

// sessions counts the session rows, to show that refused logins wrote
// nothing.
func (e *env) sessions(t *testing.T) int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+e.dbPath+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatalf("open %s: %v", e.dbPath, err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM sessions").Scan(&n); err != nil {
		t.Fatalf("count sessions: %v", err)
	}
	return n
}

// flushAudit stops the audit writer, which writes everything queued.
// Requests after it are answered but not audited.
func (e *env) flushAudit(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.writer.Close(ctx); err != nil {
		t.Fatalf("audit Close: %v", err)
	}
}

// errView is the part of an error answer a test compares exactly.
type errView struct {
	Status int
	Code   string
	Fields []string
}

// checkError checks an error answer: status, code, detail fields, a
// message containing msg, JSON content type and a requestId equal to the
// X-Request-Id header.
func checkError(t *testing.T, r resp, want errView, msg string) v1.Error {
	t.Helper()
	var body v1.Error
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	got := errView{Status: r.status, Code: body.Code}
	var text []string
	text = append(text, body.Message)
	for _, d := range body.Details {
		got.Fields = append(got.Fields, d.Field)
		text = append(text, d.Message)
		if d.Message == "" {
			t.Errorf("detail for field %q has no message", d.Field)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("error answer (-want +got):\n%s\nbody: %s", diff, r.body)
	}
	if all := strings.Join(text, "\n"); !strings.Contains(all, msg) {
		t.Errorf("error message %q does not contain %q", all, msg)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if id := r.header.Get("X-Request-Id"); id == "" || body.RequestID != id {
		t.Errorf("requestId = %q, X-Request-Id = %q; want equal and set", body.RequestID, id)
	}
	return body
}

func TestLoginAndMe(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	r := e.do(t, req{method: "POST", path: "/api/v1/auth/login", body: loginBody(aliceEmail, alicePassword),
		contentType: "application/json; charset=utf-8"})
	if r.status != http.StatusOK {
		t.Fatalf("login: status %d, body %s", r.status, r.body)
	}
	var lr v1.LoginResponse
	if err := json.Unmarshal(r.body, &lr); err != nil {
		t.Fatalf("decode login answer: %v", err)
	}
	if !strings.HasPrefix(lr.Token, auth.SessionTokenPrefix) || len(lr.Token) < len(auth.SessionTokenPrefix)+40 {
		t.Errorf("token %q does not look like a session token", lr.Token)
	}
	wantUser := v1.User{ID: "u-alice", Email: aliceEmail, Name: "Alice", CreatedAt: t0}
	if diff := cmp.Diff(v1.LoginResponse{Token: lr.Token, ExpiresAt: t0.Add(testTTL), User: wantUser}, lr); diff != "" {
		t.Errorf("login answer (-want +got):\n%s", diff)
	}
	if strings.Contains(string(r.body), "argon2") {
		t.Errorf("login answer leaks the password hash: %s", r.body)
	}

	r = e.do(t, req{method: "GET", path: "/api/v1/auth/me", token: lr.Token})
	if r.status != http.StatusOK {
		t.Fatalf("me: status %d, body %s", r.status, r.body)
	}
	var me v1.Me
	if err := json.Unmarshal(r.body, &me); err != nil {
		t.Fatalf("decode me: %v", err)
	}
	if diff := cmp.Diff(v1.Me{User: wantUser, SessionExpiresAt: t0.Add(testTTL)}, me); diff != "" {
		t.Errorf("me (-want +got):\n%s", diff)
	}
	if got := e.sessions(t); got != 1 {
		t.Errorf("sessions = %d, want 1", got)
	}
}

// Each bad body is refused with a message that says what to fix, and
// nothing is written: the bodies that carry the right password open no
// session.
func TestLoginBadInput(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	good := loginBody(aliceEmail, alicePassword)
	tests := []struct {
		name        string
		contentType string
		body        string
		want        errView
		msg         string
	}{
		{"truncated JSON", "", good[:len(good)-5], errView{400, v1.CodeValidationFailed, []string{""}}, "ends in the middle"},
		{"syntax error", "", `{"email" "alice@example.com", "password": "x"}`, errView{400, v1.CodeValidationFailed, []string{""}}, "malformed JSON at byte"},
		{"trailing comma", "", `{"email": "alice@example.com",}`, errView{400, v1.CodeValidationFailed, []string{""}}, "malformed JSON"},
		{"text/plain", "text/plain", good, errView{415, v1.CodeUnsupportedMediaType, nil}, "Content-Type: application/json"},
		{"no content type", "-", good, errView{415, v1.CodeUnsupportedMediaType, nil}, "application/json"},
		{"form content type", "application/x-www-form-urlencoded", "email=alice%40example.com", errView{415, v1.CodeUnsupportedMediaType, nil}, "must be JSON"},
		{"unknown field", "", `{"email":"alice@example.com","password":"` + alicePassword + `","admin":true}`,
			errView{400, v1.CodeValidationFailed, []string{"admin"}}, "unknown field"},
		{"wrong type", "", `{"email":5,"password":"x"}`, errView{400, v1.CodeValidationFailed, []string{"email"}}, "must be a JSON string"},
		{"array body", "", `[]`, errView{400, v1.CodeValidationFailed, []string{"(body)"}}, "must be a JSON object"},
		{"empty body", "application/json", "", errView{400, v1.CodeValidationFailed, []string{""}}, "body is empty"},
		{"two objects", "", good + good, errView{400, v1.CodeValidationFailed, []string{""}}, "one JSON object"},
		{"trailing garbage", "", good + " x", errView{400, v1.CodeValidationFailed, []string{""}}, "one JSON object"},
		{"invalid email", "", loginBody("alice at example.com", "pw"), errView{400, v1.CodeValidationFailed, []string{"email"}}, "alice@example.com"},
		{"missing password", "", `{"email":"alice@example.com"}`, errView{400, v1.CodeValidationFailed, []string{"password"}}, "must not be empty"},
		{"empty object", "", `{}`, errView{400, v1.CodeValidationFailed, []string{"email", "password"}}, "must not be empty"},
		{"null", "", `null`, errView{400, v1.CodeValidationFailed, []string{"email", "password"}}, "must not be empty"},
		{"password too long", "", loginBody(aliceEmail, strings.Repeat("p", v1.MaxPasswordLength+1)),
			errView{400, v1.CodeValidationFailed, []string{"password"}}, "at most 1024 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, req{method: "POST", path: "/api/v1/auth/login", body: tt.body, contentType: tt.contentType})
			checkError(t, r, tt.want, tt.msg)
			if strings.Contains(string(r.body), alicePassword) {
				t.Errorf("the answer echoes the password: %s", r.body)
			}
		})
	}
	if got := e.sessions(t); got != 0 {
		t.Errorf("sessions after bad logins = %d, want 0", got)
	}
}

// A body over the limit is refused with 413 whether its size is announced
// or only found while reading; the body is a valid login padded with
// whitespace, so only the limit stands between it and a session.
func TestBodyLimit(t *testing.T) {
	t.Parallel()
	padded := func(size int) string {
		head := `{"email":"alice@example.com","password":"` + alicePassword + `"`
		return head + strings.Repeat(" ", size-len(head)-1) + "}"
	}
	tests := []struct {
		name    string
		size    int
		chunked bool
		want    int
	}{
		{"2 MiB with Content-Length", 2 << 20, false, http.StatusRequestEntityTooLarge},
		{"2 MiB chunked", 2 << 20, true, http.StatusRequestEntityTooLarge},
		{"1 MiB + 1 chunked", testBodyLimit + 1, true, http.StatusRequestEntityTooLarge},
		{"exactly 1 MiB is accepted", testBodyLimit, false, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			var body io.Reader = strings.NewReader(padded(tt.size))
			if tt.chunked {
				body = io.MultiReader(body) // hides the length
			}
			hr, err := http.NewRequest("POST", e.srv.URL+"/api/v1/auth/login", body)
			if err != nil {
				t.Fatal(err)
			}
			hr.Header.Set("Content-Type", "application/json")
			if tt.chunked {
				hr.ContentLength = -1
				hr.TransferEncoding = []string{"chunked"}
			}
			r := e.send(t, hr)
			if tt.want == http.StatusOK {
				if r.status != http.StatusOK {
					t.Fatalf("status %d, want 200; body %s", r.status, r.body)
				}
				return
			}
			checkError(t, r, errView{413, v1.CodePayloadTooLarge, nil}, "1 MiB (MCPD_BODY_LIMIT)")
			if got := e.sessions(t); got != 0 {
				t.Errorf("sessions = %d, want 0", got)
			}
		})
	}
}

func TestBearerTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// authz returns the Authorization header to send; "" sends none.
		authz func(t *testing.T, e *env) string
		want  errView
		msg   string
	}{
		{"missing", func(*testing.T, *env) string { return "" },
			errView{401, v1.CodeTokenRequired, nil}, "mcpctl login"},
		{"basic scheme", func(*testing.T, *env) string { return "Basic eHl6" },
			errView{401, v1.CodeTokenInvalid, nil}, `"Bearer <token>"`},
		{"scheme only", func(*testing.T, *env) string { return "Bearer" },
			errView{401, v1.CodeTokenInvalid, nil}, `"Bearer <token>"`},
		{"garbage", func(*testing.T, *env) string { return "Bearer garbage" },
			errView{401, v1.CodeTokenInvalid, nil}, "log in again"},
		{"well-formed but unknown", func(*testing.T, *env) string {
			raw, _ := auth.NewToken(auth.SessionTokenPrefix)
			return "Bearer " + raw
		}, errView{401, v1.CodeTokenInvalid, nil}, "log in again"},
		{"oversized", func(*testing.T, *env) string { return "Bearer " + strings.Repeat("x", 4000) },
			errView{401, v1.CodeTokenInvalid, nil}, "log in again"},
		{"revoked", func(t *testing.T, e *env) string {
			tok := e.login(t, aliceEmail, alicePassword)
			// Use it once so that the look-up is cached: the logout must
			// overrule the cache on this replica.
			if r := e.do(t, req{method: "GET", path: "/api/v1/auth/me", token: tok}); r.status != http.StatusOK {
				t.Fatalf("me before logout: %d %s", r.status, r.body)
			}
			if r := e.do(t, req{method: "POST", path: "/api/v1/auth/logout", token: tok}); r.status != http.StatusNoContent {
				t.Fatalf("logout: status %d, want 204; body %s", r.status, r.body)
			}
			return "Bearer " + tok
		}, errView{401, v1.CodeTokenInvalid, nil}, "revoked"},
		{"expired", func(t *testing.T, e *env) string {
			tok := e.login(t, aliceEmail, alicePassword)
			e.clock.Advance(testTTL + time.Second)
			return "Bearer " + tok
		}, errView{401, v1.CodeTokenExpired, nil}, "expired"},
		{"expired while cached", func(t *testing.T, e *env) string {
			tok := e.login(t, aliceEmail, alicePassword)
			e.clock.Advance(testTTL - time.Second)
			if r := e.do(t, req{method: "GET", path: "/api/v1/auth/me", token: tok}); r.status != http.StatusOK {
				t.Fatalf("me before expiry: %d %s", r.status, r.body)
			}
			e.clock.Advance(time.Second) // within the cache TTL, at the expiry
			return "Bearer " + tok
		}, errView{401, v1.CodeTokenExpired, nil}, "expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			r := req{method: "GET", path: "/api/v1/auth/me"}
			if h := tt.authz(t, e); h != "" {
				r.header = map[string]string{"Authorization": h}
			}
			checkError(t, e.do(t, r), tt.want, tt.msg)
		})
	}

	t.Run("scheme is case-insensitive", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		tok := e.login(t, aliceEmail, alicePassword)
		r := e.do(t, req{method: "GET", path: "/api/v1/auth/me", header: map[string]string{"Authorization": "bearer " + tok}})
		if r.status != http.StatusOK {
			t.Errorf("status %d, want 200; body %s", r.status, r.body)
		}
	})
}

// A logout on one replica reaches another within the cache TTL: the bound
// the README documents.
func TestLogoutReachesOtherReplica(t *testing.T) {
	t.Parallel()
	a := newEnv(t)
	b := newEnv(t, func(s *setup) { s.shared = a })
	tok := a.login(t, aliceEmail, alicePassword)
	me := req{method: "GET", path: "/api/v1/auth/me", token: tok}
	if r := b.do(t, me); r.status != http.StatusOK {
		t.Fatalf("token from replica a on replica b: %d %s", r.status, r.body)
	}
	if r := a.do(t, req{method: "POST", path: "/api/v1/auth/logout", token: tok}); r.status != http.StatusNoContent {
		t.Fatalf("logout on a: %d %s", r.status, r.body)
	}
	checkError(t, a.do(t, me), errView{401, v1.CodeTokenInvalid, nil}, "revoked")
	if r := b.do(t, me); r.status != http.StatusOK {
		t.Errorf("replica b within the cache TTL: %d, want 200 from its cache", r.status)
	}
	a.clock.Advance(5 * time.Second)
	checkError(t, b.do(t, me), errView{401, v1.CodeTokenInvalid, nil}, "revoked")
}

func TestLoginRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *setup) { s.cfg.LoginRateLimit = config.Rate{Limit: 10, Window: time.Minute} })
	headersReported := false
	for i := range 20 {
		r := e.do(t, loginReq(aliceEmail, "wrong password"))
		if i < 10 {
			checkError(t, r, errView{401, v1.CodeInvalidCredentials, nil}, "email or password is wrong")
			continue
		}
		checkError(t, r, errView{429, v1.CodeRateLimited, nil}, "MCPD_LOGIN_RATE_LIMIT")
		got := map[string]string{}
		for _, h := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			got[h] = r.header.Get(h)
		}
		want := map[string]string{"Retry-After": "60", "RateLimit-Limit": "10", "RateLimit-Remaining": "0", "RateLimit-Reset": "60"}
		// The headers describe the limit that refused the request (the
		// login limit), not the general one it passed.
		if diff := cmp.Diff(want, got); diff != "" && !headersReported {
			headersReported = true
			t.Errorf("attempt %d: rate-limit headers (-want +got):\n%s", i+1, diff)
		}
	}
	// The right password waits for the window too...
	checkError(t, e.do(t, loginReq(aliceEmail, alicePassword)), errView{429, v1.CodeRateLimited, nil}, "retry after")
	// ...and works once it has passed.
	e.clock.Advance(time.Minute + time.Second)
	e.login(t, aliceEmail, alicePassword)
}

// Attempts are also counted per email, so spreading them over addresses
// does not help; other accounts are unaffected.
func TestLoginRateLimitPerEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *setup) {
		s.cfg.LoginRateLimit = config.Rate{Limit: 10, Window: time.Minute}
		s.cfg.TrustProxy = true
	})
	from := func(r req, ip string) req {
		r.header = map[string]string{"X-Forwarded-For": ip}
		return r
	}
	for i := range 10 {
		r := e.do(t, from(loginReq(aliceEmail, "wrong password"), fmt.Sprintf("192.0.2.%d", i+1)))
		checkError(t, r, errView{401, v1.CodeInvalidCredentials, nil}, "wrong")
	}
	r := e.do(t, from(loginReq("ALICE@example.com", "wrong password"), "192.0.2.100"))
	checkError(t, r, errView{429, v1.CodeRateLimited, nil}, "MCPD_LOGIN_RATE_LIMIT")
	if r.header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	if r := e.do(t, from(loginReq(bobEmail, bobPassword), "192.0.2.101")); r.status != http.StatusOK {
		t.Errorf("bob from a fresh address: %d %s", r.status, r.body)
	}
}

// An unknown email and a wrong password must not be told apart.
func TestLoginUnknownEmailSameAnswer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	answer := func(email string) resp {
		r := loginReq(email, "wrong password")
		r.header = map[string]string{"X-Request-Id": "same-id"}
		return e.do(t, r)
	}
	unknown, wrong := answer("nobody@example.com"), answer(aliceEmail)
	checkError(t, wrong, errView{401, v1.CodeInvalidCredentials, nil}, "email or password is wrong")
	if unknown.status != wrong.status || !bytes.Equal(unknown.body, wrong.body) {
		t.Errorf("unknown email: %d %s\nwrong password: %d %s\nwant identical answers", unknown.status, unknown.body, wrong.status, wrong.body)
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *setup) { s.cfg.RateLimit = config.Rate{Limit: 5, Window: time.Minute} })
	alice := e.login(t, aliceEmail, alicePassword) // counts for the client IP, not for alice
	bob := e.login(t, bobEmail, bobPassword)
	me := func(tok string) resp { return e.do(t, req{method: "GET", path: "/api/v1/auth/me", token: tok}) }
	for i := range 5 {
		r := me(alice)
		if r.status != http.StatusOK {
			t.Fatalf("request %d: status %d, body %s", i+1, r.status, r.body)
		}
		want := []string{"5", strconv.Itoa(4 - i), "60"}
		got := []string{r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"), r.header.Get("RateLimit-Reset")}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("request %d: RateLimit-Limit/Remaining/Reset (-want +got):\n%s", i+1, diff)
		}
	}
	r := me(alice)
	checkError(t, r, errView{429, v1.CodeRateLimited, nil}, "MCPD_RATE_LIMIT")
	if got := r.header.Get("Retry-After"); got != "60" {
		t.Errorf("Retry-After = %q, want 60", got)
	}
	if r := me(bob); r.status != http.StatusOK {
		t.Errorf("bob is limited by alice's requests: %d %s", r.status, r.body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/health", "/metrics"} {
		for i := range 10 {
			r := e.do(t, req{method: "GET", path: path})
			if r.status != http.StatusOK {
				t.Fatalf("%s request %d: status %d, want 200", path, i+1, r.status)
			}
			if h := r.header.Get("RateLimit-Limit"); h != "" {
				t.Errorf("%s carries RateLimit-Limit %q; probes are not limited", path, h)
			}
		}
	}
	// Without a bearer the client address is the key: two logins so far.
	for i := range 3 {
		if r := e.do(t, req{method: "GET", path: "/nope"}); r.status != http.StatusNotFound {
			t.Fatalf("anonymous request %d: %d, want 404", i+1, r.status)
		}
	}
	checkError(t, e.do(t, req{method: "GET", path: "/nope"}), errView{429, v1.CodeRateLimited, nil}, "MCPD_RATE_LIMIT")

	e.clock.Advance(time.Minute)
	if r := me(alice); r.status != http.StatusOK {
		t.Errorf("after the window: %d, want 200", r.status)
	}
}

func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	requests := []req{
		{method: "GET", path: "/healthz"},
		{method: "GET", path: "/metrics"},
		{method: "GET", path: "/api/v1/auth/me"},
		{method: "GET", path: "/nope"},
		{method: "POST", path: "/api/v1/auth/login", body: "{", contentType: "text/plain"},
		{method: "POST", path: "/api/v1/auth/login", body: "{"},
		{method: "OPTIONS", path: "/api/v1/auth/me", header: map[string]string{"Origin": allowedOrigin, "Access-Control-Request-Method": "GET"}},
		{method: "OPTIONS", path: "/api/v1/auth/me", header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"}},
	}
	for _, production := range []bool{false, true} {
		t.Run(fmt.Sprintf("production=%v", production), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(s *setup) { s.cfg.Production = production })
			for _, rq := range requests {
				r := e.do(t, rq)
				got := map[string]string{}
				for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Strict-Transport-Security"} {
					got[h] = r.header.Get(h)
				}
				want := map[string]string{"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
					"Strict-Transport-Security": ""}
				if production {
					want["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s %s (%d): headers (-want +got):\n%s", rq.method, rq.path, r.status, diff)
				}
				if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") ||
					!strings.Contains(csp, "frame-ancestors 'none'") {
					t.Errorf("%s %s: Content-Security-Policy = %q", rq.method, rq.path, csp)
				}
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	preflight := func(origin string) req {
		return req{method: "OPTIONS", path: "/api/v1/auth/me",
			header: map[string]string{"Origin": origin, "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}}
	}
	type view struct {
		Status                                  int
		AllowOrigin, AllowMethods, AllowHeaders string
		AllowCredentials, Vary                  string
		Code                                    string
		MentionsSetting                         bool
	}
	tests := []struct {
		name    string
		origins []string
		req     req
		want    view
	}{
		{"preflight from an allowed origin", []string{allowedOrigin}, preflight(allowedOrigin),
			view{Status: 204, AllowOrigin: allowedOrigin, AllowMethods: corsMethods, AllowHeaders: corsHeaders, Vary: "Origin"}},
		{"preflight from another origin", []string{allowedOrigin}, preflight("https://evil.example"),
			view{Status: 403, Vary: "Origin", Code: v1.CodeForbidden, MentionsSetting: true}},
		{"preflight with no origins configured", nil, preflight(allowedOrigin),
			view{Status: 403, Vary: "Origin", Code: v1.CodeForbidden, MentionsSetting: true}},
		{"star allows any origin", []string{"*"}, preflight("http://localhost:5173"),
			view{Status: 204, AllowOrigin: "http://localhost:5173", AllowMethods: corsMethods, AllowHeaders: corsHeaders, Vary: "Origin"}},
		{"simple request from an allowed origin", []string{allowedOrigin},
			req{method: "GET", path: "/healthz", header: map[string]string{"Origin": allowedOrigin}},
			view{Status: 200, AllowOrigin: allowedOrigin, Vary: "Origin"}},
		{"simple request from another origin", []string{allowedOrigin},
			req{method: "GET", path: "/healthz", header: map[string]string{"Origin": "https://evil.example"}},
			view{Status: 200, Vary: "Origin"}},
		{"no origin", []string{allowedOrigin}, req{method: "GET", path: "/healthz"}, view{Status: 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, func(s *setup) { s.cfg.CORSOrigins = tt.origins })
			r := e.do(t, tt.req)
			got := view{Status: r.status, AllowOrigin: r.header.Get("Access-Control-Allow-Origin"),
				AllowMethods: r.header.Get("Access-Control-Allow-Methods"), AllowHeaders: r.header.Get("Access-Control-Allow-Headers"),
				AllowCredentials: r.header.Get("Access-Control-Allow-Credentials"), Vary: r.header.Get("Vary")}
			if r.status >= 400 {
				body := checkError(t, r, errView{r.status, tt.want.Code, nil}, "")
				got.Code = body.Code
				got.MentionsSetting = strings.Contains(body.Message, "MCPD_CORS_ORIGINS")
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestRequestID(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tests := []struct {
		name, sent string
		echoed     bool
	}{
		{"valid", "req-42_a.B", true},
		{"64 characters", strings.Repeat("a", 64), true},
		{"none", "", false},
		{"spaces", "has spaces in it", false},
		{"100 characters", strings.Repeat("a", 100), false},
		{"slash", "a/b", false},
		{"non-ASCII", "ünïcode", false},
		{"quote", `abc"def`, false},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := req{method: "GET", path: "/api/v1/auth/me"} // a 401 with a body
			if tt.sent != "" {
				r.header = map[string]string{"X-Request-Id": tt.sent}
			}
			res := e.do(t, r)
			got := res.header.Get("X-Request-Id")
			if tt.echoed && got != tt.sent {
				t.Errorf("X-Request-Id = %q, want %q echoed", got, tt.sent)
			}
			if !tt.echoed && (got == tt.sent || !validRequestID(got) || len(got) != 32) {
				t.Errorf("X-Request-Id = %q, want a new 32-character id", got)
			}
			if !tt.echoed {
				if seen[got] {
					t.Errorf("generated id %q twice", got)
				}
				seen[got] = true
			}
			checkError(t, res, errView{401, v1.CodeTokenRequired, nil}, "") // requestId equals the header
		})
	}
}

func TestUnknownRoutesAndMethods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.login(t, aliceEmail, alicePassword)
	tests := []struct {
		name  string
		req   req
		want  errView
		allow string
		msg   string
	}{
		{"unknown path", req{method: "GET", path: "/nope"}, errView{404, v1.CodeNotFound, nil}, "", `"/nope"`},
		{"unknown api path without bearer", req{method: "GET", path: "/api/v1/nope"}, errView{401, v1.CodeTokenRequired, nil}, "", "bearer"},
		{"unknown api path with bearer", req{method: "GET", path: "/api/v1/nope", token: tok}, errView{404, v1.CodeNotFound, nil}, "", "/api/v1/nope"},
		{"GET on login", req{method: "GET", path: "/api/v1/auth/login"}, errView{405, v1.CodeMethodNotAllowed, nil}, "POST", "use POST"},
		{"DELETE on healthz", req{method: "DELETE", path: "/healthz"}, errView{405, v1.CodeMethodNotAllowed, nil}, "GET", "use GET"},
		{"POST on me with bearer", req{method: "POST", path: "/api/v1/auth/me", token: tok}, errView{405, v1.CodeMethodNotAllowed, nil}, "GET", "use GET"},
		{"GET on logout with bearer", req{method: "GET", path: "/api/v1/auth/logout", token: tok}, errView{405, v1.CodeMethodNotAllowed, nil}, "POST", "use POST"},
		{"POST on me without bearer", req{method: "POST", path: "/api/v1/auth/me"}, errView{401, v1.CodeTokenRequired, nil}, "", "bearer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.req)
			checkError(t, r, tt.want, tt.msg)
			if got := r.header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow = %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestHealthWithClosedStore(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	cached := e.login(t, aliceEmail, alicePassword)
	if r := e.do(t, req{method: "GET", path: "/api/v1/auth/me", token: cached}); r.status != http.StatusOK {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	uncached := uncachedToken(t, e)

	health := func(wantStatus int, want v1.Health) {
		t.Helper()
		r := e.do(t, req{method: "GET", path: "/health"})
		var got v1.Health
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("/health body %q: %v", r.body, err)
		}
		if r.status != wantStatus {
			t.Errorf("/health status %d, want %d", r.status, wantStatus)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("/health (-want +got):\n%s", diff)
		}
		r = e.do(t, req{method: "GET", path: "/readyz"})
		var ready map[string]string
		json.Unmarshal(r.body, &ready)
		if diff := cmp.Diff(map[string]string{"status": want.Status, "db": want.DB}, ready); diff != "" || r.status != wantStatus {
			t.Errorf("/readyz: status %d (want %d), body (-want +got):\n%s", r.status, wantStatus, diff)
		}
		if r := e.do(t, req{method: "GET", path: "/healthz"}); r.status != http.StatusOK {
			t.Errorf("/healthz: %d, want 200 whatever the store", r.status)
		}
	}
	health(200, v1.Health{Status: v1.StatusOK, Timestamp: t0, DB: v1.DBConnected, Version: v1.Version})

	if err := e.db.Close(); err != nil {
		t.Fatalf("close store: %v", err)
	}
	health(503, v1.Health{Status: v1.StatusDegraded, Timestamp: t0, DB: v1.DBDisconnected, Version: v1.Version})

	for _, tt := range []struct {
		name string
		req  req
	}{
		{"audit list with a cached token", req{method: "GET", path: "/api/v1/audit", token: cached}},
		{"me with an uncached token", req{method: "GET", path: "/api/v1/auth/me", token: uncached}},
		{"login", loginReq(aliceEmail, alicePassword)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.req)
			checkError(t, r, errView{503, v1.CodeUnavailable, nil}, "database is unavailable")
			if got := r.header.Get("Retry-After"); got == "" {
				t.Error("503 without Retry-After")
			}
			if strings.Contains(string(r.body), "sql:") {
				t.Errorf("body leaks the driver error: %s", r.body)
			}
		})
	}
}

// uncachedToken logs alice in through another replica on e's store, so
// that e has never seen the token (a login caches its own session).
func uncachedToken(t *testing.T, e *env) string {
	t.Helper()
	other := newEnv(t, func(s *setup) { s.shared = e })
	return other.login(t, aliceEmail, alicePassword)
}

// switchStore is a store that can be made unreachable and brought back,
// as a PostgreSQL that goes away and returns.
type switchStore struct {
	store.Store
	down atomic.Bool
}

func (s *switchStore) err() error {
	if s.down.Load() {
		return fmt.Errorf("dial tcp 10.9.8.7:5432: connect: connection refused: %w", store.ErrUnavailable)
	}
	return nil
}

func (s *switchStore) Ping(ctx context.Context) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.Ping(ctx)
}

func (s *switchStore) UserByEmail(ctx context.Context, email string) (store.User, error) {
	if err := s.err(); err != nil {
		return store.User{}, err
	}
	return s.Store.UserByEmail(ctx, email)
}

func (s *switchStore) GetSession(ctx context.Context, hash string) (store.Session, error) {
	if err := s.err(); err != nil {
		return store.Session{}, err
	}
	return s.Store.GetSession(ctx, hash)
}

func (s *switchStore) ListAuditEvents(ctx context.Context, f store.AuditFilter) ([]v1.AuditEvent, error) {
	if err := s.err(); err != nil {
		return nil, err
	}
	return s.Store.ListAuditEvents(ctx, f)
}

func (s *switchStore) InsertAuditEvents(ctx context.Context, events []v1.AuditEvent) error {
	if err := s.err(); err != nil {
		return err
	}
	return s.Store.InsertAuditEvents(ctx, events)
}

// While the database is unreachable requests get 503 and /health says
// degraded; when it returns mcpd serves again without a restart.
func TestStoreUnavailableAndRecovery(t *testing.T) {
	t.Parallel()
	sw := &switchStore{}
	e := newEnv(t, func(s *setup) {
		s.wrap = func(st store.Store) store.Store { sw.Store = st; return sw }
	})
	cached := e.login(t, aliceEmail, alicePassword)
	if r := e.do(t, req{method: "GET", path: "/api/v1/auth/me", token: cached}); r.status != http.StatusOK {
		t.Fatalf("me: %d %s", r.status, r.body)
	}
	uncached := uncachedToken(t, e)
	requests := []req{
		{method: "GET", path: "/api/v1/audit", token: cached},
		{method: "GET", path: "/api/v1/auth/me", token: uncached},
		loginReq(aliceEmail, alicePassword),
	}

	sw.down.Store(true)
	if r := e.do(t, req{method: "GET", path: "/health"}); r.status != 503 || !strings.Contains(string(r.body), `"db":"disconnected"`) {
		t.Errorf("/health while down: %d %s", r.status, r.body)
	}
	for _, rq := range requests {
		r := e.do(t, rq)
		checkError(t, r, errView{503, v1.CodeUnavailable, nil}, "try again shortly")
		if strings.Contains(string(r.body), "10.9.8.7") || strings.Contains(string(r.body), "refused") {
			t.Errorf("%s %s: body leaks the cause: %s", rq.method, rq.path, r.body)
		}
		if got := r.header.Get("Retry-After"); got != "5" {
			t.Errorf("%s %s: Retry-After = %q, want 5", rq.method, rq.path, got)
		}
	}

	sw.down.Store(false)
	if r := e.do(t, req{method: "GET", path: "/health"}); r.status != 200 {
		t.Errorf("/health after recovery: %d %s", r.status, r.body)
	}
	for _, rq := range requests {
		if r := e.do(t, rq); r.status != http.StatusOK {
			t.Errorf("%s %s after recovery: %d %s", rq.method, rq.path, r.status, r.body)
		}
	}
}

// auditView is an audit event without the fields a test cannot predict.
type auditView struct {
	Principal, Action, Method, Path string
	Status                          int
	ClientIP                        string
}

func TestAuditEveryRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *setup) { s.cfg.LoginRateLimit = config.Rate{Limit: 4, Window: time.Minute} })
	var tok string
	big := `{"email":"alice@example.com","password":"x"` + strings.Repeat(" ", 2<<20) + "}"
	alice := "User:" + aliceEmail
	steps := []struct {
		id   string
		req  func() req
		want auditView
	}{
		{"login-ok", func() req { return loginReq(aliceEmail, alicePassword) },
			auditView{alice, "auth.login", "POST", "/api/v1/auth/login", 200, ""}},
		{"login-bad", func() req { return loginReq(aliceEmail, "wrong") },
			auditView{alice, "auth.login", "POST", "/api/v1/auth/login", 401, ""}},
		{"login-unknown", func() req { return loginReq("mallory@example.com", "wrong") },
			auditView{"User:mallory@example.com", "auth.login", "POST", "/api/v1/auth/login", 401, ""}},
		{"login-big", func() req { return req{method: "POST", path: "/api/v1/auth/login", body: big} },
			auditView{"", "auth.login", "POST", "/api/v1/auth/login", 413, ""}},
		{"me-ok", func() req { return req{method: "GET", path: "/api/v1/auth/me", token: tok} },
			auditView{alice, "auth.me", "GET", "/api/v1/auth/me", 200, ""}},
		{"me-none", func() req { return req{method: "GET", path: "/api/v1/auth/me"} },
			auditView{"", "auth.me", "GET", "/api/v1/auth/me", 401, ""}},
		{"me-garbage", func() req { return req{method: "GET", path: "/api/v1/auth/me", token: "garbage"} },
			auditView{"", "auth.me", "GET", "/api/v1/auth/me", 401, ""}},
		{"not-found", func() req { return req{method: "GET", path: "/nope"} },
			auditView{"", "unmatched", "GET", "/nope", 404, ""}},
		{"wrong-method", func() req { return req{method: "DELETE", path: "/api/v1/auth/login"} },
			auditView{"", "unmatched", "DELETE", "/api/v1/auth/login", 405, ""}},
		{"login-4", func() req { return loginReq(aliceEmail, alicePassword) },
			auditView{alice, "auth.login", "POST", "/api/v1/auth/login", 200, ""}},
		{"login-limited", func() req { return loginReq(aliceEmail, alicePassword) },
			auditView{alice, "auth.login", "POST", "/api/v1/auth/login", 429, ""}},
		{"logout", func() req { return req{method: "POST", path: "/api/v1/auth/logout", token: tok} },
			auditView{alice, "auth.logout", "POST", "/api/v1/auth/logout", 204, ""}},
	}
	want := map[string]auditView{}
	for _, s := range steps {
		rq := s.req()
		rq.header = map[string]string{"X-Request-Id": s.id}
		r := e.do(t, rq)
		if r.status != s.want.Status {
			t.Fatalf("%s: status %d, want %d; body %s", s.id, r.status, s.want.Status, r.body)
		}
		if s.id == "login-ok" {
			var lr v1.LoginResponse
			json.Unmarshal(r.body, &lr)
			tok = lr.Token
		}
		w := s.want
		w.ClientIP = "127.0.0.1"
		want[s.id] = w
	}
	for _, path := range []string{"/healthz", "/readyz", "/health", "/metrics"} {
		if r := e.do(t, req{method: "GET", path: path, header: map[string]string{"X-Request-Id": "probe"}}); r.status != http.StatusOK {
			t.Fatalf("%s: %d", path, r.status)
		}
	}
	e.flushAudit(t)

	events, err := e.db.ListAuditEvents(context.Background(), store.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatalf("ListAuditEvents: %v", err)
	}
	got := map[string]auditView{}
	for _, ev := range events {
		if _, dup := got[ev.RequestID]; dup {
			t.Errorf("two events for request %q", ev.RequestID)
		}
		got[ev.RequestID] = auditView{ev.Principal, ev.Action, ev.Method, ev.Path, ev.Status, ev.ClientIP}
		if !ev.Time.Equal(t0) || ev.DurationMS < 0 || ev.ID == 0 {
			t.Errorf("event %q: time %v, duration %v, id %d", ev.RequestID, ev.Time, ev.DurationMS, ev.ID)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("audit events by request id (-want +got):\n%s", diff)
	}
	if n, _ := e.db.CountAuditEvents(context.Background(), store.AuditFilter{}); n != int64(len(steps)) {
		t.Errorf("CountAuditEvents = %d, want %d (probes are not audited)", n, len(steps))
	}
}

// listAudit calls GET /api/v1/audit and fails the test on an error.
func (e *env) listAudit(t *testing.T, tok string, q url.Values) v1.AuditList {
	t.Helper()
	r := e.do(t, req{method: "GET", path: "/api/v1/audit?" + q.Encode(), token: tok})
	if r.status != http.StatusOK {
		t.Fatalf("GET /api/v1/audit?%s: %d %s", q.Encode(), r.status, r.body)
	}
	var l v1.AuditList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("decode audit list: %v", err)
	}
	return l
}

func requestIDs(events []v1.AuditEvent) []string {
	ids := []string{}
	for _, e := range events {
		ids = append(ids, e.RequestID)
	}
	return ids
}

func TestAuditList(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(s *setup) { s.auth.SessionTTL = 24 * time.Hour })
	with := func(id string, r req) req {
		r.header = map[string]string{"X-Request-Id": id}
		return r
	}
	me := func(tok string) req { return req{method: "GET", path: "/api/v1/auth/me", token: tok} }

	var lr v1.LoginResponse
	json.Unmarshal(e.do(t, with("a-login", loginReq(aliceEmail, alicePassword))).body, &lr)
	alice := lr.Token
	for _, id := range []string{"a-me-1", "a-me-2", "a-me-3"} {
		e.do(t, with(id, me(alice)))
	}
	e.clock.Advance(time.Hour)
	json.Unmarshal(e.do(t, with("b-login", loginReq(bobEmail, bobPassword))).body, &lr)
	for _, id := range []string{"b-me-1", "b-me-2"} {
		e.do(t, with(id, me(lr.Token)))
	}
	e.do(t, with("b-bad", loginReq(bobEmail, "wrong")))
	e.clock.Advance(time.Hour)
	for _, id := range []string{"anon-1", "anon-2"} {
		e.do(t, with(id, req{method: "GET", path: "/api/v1/auth/me"}))
	}
	// Stop auditing so that the listings below do not list themselves.
	e.flushAudit(t)

	all := []string{"anon-2", "anon-1", "b-bad", "b-me-2", "b-me-1", "b-login", "a-me-3", "a-me-2", "a-me-1", "a-login"}
	ts := func(d time.Duration) string { return t0.Add(d).Format(time.RFC3339) }
	tests := []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"no filter", url.Values{}, all},
		{"principal", url.Values{"principal": {"User:" + aliceEmail}}, []string{"a-me-3", "a-me-2", "a-me-1", "a-login"}},
		{"action", url.Values{"action": {"auth.login"}}, []string{"b-bad", "b-login", "a-login"}},
		{"status", url.Values{"status": {"401"}}, []string{"anon-2", "anon-1", "b-bad"}},
		{"action and status", url.Values{"action": {"auth.login"}, "status": {"401"}}, []string{"b-bad"}},
		{"since", url.Values{"since": {ts(time.Hour)}}, []string{"anon-2", "anon-1", "b-bad", "b-me-2", "b-me-1", "b-login"}},
		{"until", url.Values{"until": {ts(time.Hour)}}, []string{"a-me-3", "a-me-2", "a-me-1", "a-login"}},
		{"since and until", url.Values{"since": {ts(30 * time.Minute)}, "until": {ts(90 * time.Minute)}}, []string{"b-bad", "b-me-2", "b-me-1", "b-login"}},
		{"no match", url.Values{"principal": {"User:nobody@example.com"}}, []string{}},
		{"injection probe", url.Values{"principal": {"x' OR '1'='1"}}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := requestIDs(e.listAudit(t, alice, tt.query).Items)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request ids, newest first (-want +got):\n%s", diff)
			}
		})
	}

	for _, tt := range []struct {
		name  string
		query url.Values
		want  []string
	}{
		{"limit 3", url.Values{"limit": {"3"}}, all},
		{"limit 5", url.Values{"limit": {"5"}}, all},
		{"limit 1000", url.Values{"limit": {"1000"}}, all},
		{"filtered, limit 2", url.Values{"action": {"auth.me"}, "limit": {"2"}}, []string{"anon-2", "anon-1", "b-me-2", "b-me-1", "a-me-3", "a-me-2", "a-me-1"}},
	} {
		t.Run("paginate "+tt.name, func(t *testing.T) {
			limit, _ := strconv.Atoi(tt.query.Get("limit"))
			var got []string
			q := tt.query
			for page := 0; ; page++ {
				if page > len(all)+1 {
					t.Fatalf("more than %d pages: the cursor does not advance", page)
				}
				l := e.listAudit(t, alice, q)
				if len(l.Items) > limit {
					t.Fatalf("page %d has %d items, limit %d", page, len(l.Items), limit)
				}
				got = append(got, requestIDs(l.Items)...)
				if l.NextCursor == "" {
					break
				}
				q = url.Values{"cursor": {l.NextCursor}}
				for k, v := range tt.query {
					if k != "cursor" {
						q[k] = v
					}
				}
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("pages joined (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuditListBadQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.login(t, aliceEmail, alicePassword)
	cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		query  string
		fields []string
		msg    string
	}{
		{"foo=bar", []string{"foo"}, "unknown query parameter"},
		{"Status=200", []string{"Status"}, "allowed: principal, tokenName, project, tool, action"},
		{"status=abc", []string{"status"}, "from 100 to 599"},
		{"status=99", []string{"status"}, "from 100 to 599"},
		{"status=600", []string{"status"}, "from 100 to 599"},
		{"since=yesterday", []string{"since"}, "RFC 3339"},
		{"until=2026-13-01T00:00:00Z", []string{"until"}, "RFC 3339"},
		{"limit=0", []string{"limit"}, "from 1 to 1000"},
		{"limit=1001", []string{"limit"}, "from 1 to 1000"},
		{"limit=ten", []string{"limit"}, "from 1 to 1000"},
		{"cursor=garbage", []string{"cursor"}, "nextCursor"},
		{"cursor=" + cursor("a:-5"), []string{"cursor"}, "nextCursor"},
		{"cursor=" + cursor("a:1; DROP TABLE audit_events"), []string{"cursor"}, "nextCursor"},
		{"foo=1&status=abc&since=yesterday&until=later&limit=0&cursor=garbage",
			[]string{"foo", "status", "since", "until", "limit", "cursor"}, "see details"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := e.do(t, req{method: "GET", path: "/api/v1/audit?" + tt.query, token: tok})
			checkError(t, r, errView{400, v1.CodeValidationFailed, tt.fields}, tt.msg)
		})
	}
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	tok := e.login(t, aliceEmail, alicePassword)
	e.do(t, req{method: "GET", path: "/api/v1/auth/me", token: tok})
	e.do(t, req{method: "GET", path: "/nope"})
	r := e.do(t, req{method: "GET", path: "/metrics"})
	if r.status != http.StatusOK {
		t.Fatalf("/metrics: %d", r.status)
	}
	text := string(r.body)
	for _, want := range []string{
		`mcpd_http_requests_total{code="200",method="GET",route="GET /api/v1/auth/me"} 1`,
		`mcpd_http_requests_total{code="200",method="POST",route="POST /api/v1/auth/login"} 1`,
		`mcpd_http_requests_total{code="404",method="GET",route="unmatched"} 1`,
		`mcpd_http_request_duration_seconds_bucket{method="GET",route="GET /api/v1/auth/me",le="+Inf"} 1`,
		"\nmcpd_http_requests_in_flight 1\n", // the scrape itself
		"\nmcpd_audit_queue_depth ",
		"\nmcpd_audit_events_dropped_total 0\n",
		"\nmcpd_audit_events_written_total ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// The scrape is counted once it has finished.
	if r := e.do(t, req{method: "GET", path: "/metrics"}); !strings.Contains(string(r.body), `route="GET /metrics"`) {
		t.Errorf("/metrics does not count its own scrapes")
	}
}

func TestToAPIError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want errView
	}{
		{"not found", fmt.Errorf("get x: %w", store.ErrNotFound), errView{404, v1.CodeNotFound, nil}},
		{"conflict", fmt.Errorf("create x: %w", store.ErrConflict), errView{409, v1.CodeConflict, nil}},
		{"unavailable", fmt.Errorf("list: %w", store.ErrUnavailable), errView{503, v1.CodeUnavailable, nil}},
		{"validation", (&v1.FieldErrors{{Field: "name", Message: "bad"}}).Err(), errView{400, v1.CodeValidationFailed, []string{"name"}}},
		{"body too large", &http.MaxBytesError{Limit: 1 << 20}, errView{413, v1.CodePayloadTooLarge, nil}},
		{"token expired", fmt.Errorf("x: %w", auth.ErrTokenExpired), errView{401, v1.CodeTokenExpired, nil}},
		{"anything else", errors.New("pq: relation \"users\" does not exist"), errView{500, v1.CodeInternal, nil}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ae := toAPIError(tt.err)
			got := errView{Status: ae.status, Code: ae.code}
			for _, d := range ae.details {
				got.Fields = append(got.Fields, d.Field)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if ae.status == 500 && strings.Contains(ae.msg, "relation") {
				t.Errorf("500 message reveals the cause: %q", ae.msg)
			}
		})
	}
}

func TestRecoverPanics(t *testing.T) {
	t.Parallel()
	const secret = "password=hunter2"
	t.Run("handler", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		h := e.api.withState(e.api.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic("boom: " + secret)
		})))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/x", nil))
		r := resp{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
		checkError(t, r, errView{500, v1.CodeInternal, nil}, "request id")
		for _, leak := range []string{"boom", "hunter2", "goroutine", ".go:"} {
			if strings.Contains(string(r.body), leak) {
				t.Errorf("body reveals %q: %s", leak, r.body)
			}
		}
		if logs := e.logs.String(); !strings.Contains(logs, "hunter2") || !strings.Contains(logs, "goroutine") {
			t.Errorf("the log lacks the panic and its stack:\n%s", logs)
		}
	})
	t.Run("abort handler is not swallowed", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t)
		h := e.api.recoverPanics(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler re-panicked", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	})

	// Through the whole stack: the panicking request still gets security
	// headers, a request id, and (issue item 6: every request) an audit
	// event and a metric.
	e := newEnv(t, func(s *setup) {
		s.routes = func(s *Server) {
			s.mux.HandleFunc("GET /api/v1/boom", func(http.ResponseWriter, *http.Request) { panic("boom: " + secret) })
			s.mux.HandleFunc("GET /api/v1/boom-late", func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				io.WriteString(w, `{"partial":`)
				panic("late boom")
			})
		}
	})
	tok := e.login(t, aliceEmail, alicePassword)
	t.Run("stack", func(t *testing.T) {
		r := e.do(t, req{method: "GET", path: "/api/v1/boom", token: tok, header: map[string]string{"X-Request-Id": "boom-1"}})
		checkError(t, r, errView{500, v1.CodeInternal, nil}, "request id")
		if strings.Contains(string(r.body), "hunter2") {
			t.Errorf("body reveals the panic: %s", r.body)
		}
		if r.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Error("the 500 lacks the security headers")
		}
		if m := e.do(t, req{method: "GET", path: "/metrics"}); !strings.Contains(string(m.body), `code="500"`) {
			t.Error("/metrics does not count the 500")
		}
		e.flushAudit(t)
		events, err := e.db.ListAuditEvents(context.Background(), store.AuditFilter{Status: 500})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"boom-1"}, requestIDs(events)); diff != "" {
			t.Errorf("audit events with status 500 (-want +got):\n%s", diff)
		}
	})
	t.Run("after the response started", func(t *testing.T) {
		// The status line is out: the client must not receive an error
		// object glued onto the half-written body.
		hr, _ := http.NewRequest("GET", e.srv.URL+"/api/v1/boom-late", nil)
		hr.Header.Set("Authorization", "Bearer "+tok)
		res, err := e.srv.Client().Do(hr)
		if err != nil {
			return // the connection was aborted before the headers arrived
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err == nil {
			// A complete-looking answer hides the failure from the client.
			t.Errorf("status %d with body %q read without error: the connection must be aborted", res.StatusCode, b)
		}
		if bytes.Contains(b, []byte(v1.CodeInternal)) {
			t.Errorf("an error object was appended to a started response: %q", b)
		}
	})
}

func TestClientIP(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		trust bool
		xff   []string
		want  string
	}{
		{"peer when not trusted", false, []string{"192.0.2.7"}, "127.0.0.1"},
		{"no header", true, nil, "127.0.0.1"},
		{"one hop", true, []string{"192.0.2.7"}, "192.0.2.7"},
		{"forged prefix is ignored", true, []string{"6.6.6.6, 192.0.2.7"}, "192.0.2.7"},
		{"last of several headers", true, []string{"6.6.6.6", "192.0.2.8"}, "192.0.2.8"},
		{"garbage falls back to the peer", true, []string{"not-an-ip"}, "127.0.0.1"},
		{"ipv6", true, []string{"2001:db8::1"}, "2001:db8::1"},
	}
	for _, tc := range tests {
		s := &Server{cfg: Config{TrustProxy: tc.trust}}
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "127.0.0.1:5555"
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		if got := s.clientIP(r); got != tc.want {
			t.Errorf("%s: clientIP = %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The rate limit is checked before any store query: junk bearers are
// charged to the client IP and buy no look-ups past its limit, and plain
// OPTIONS requests are limited like any other.
func TestRateLimitSpendsNoStoreQueries(t *testing.T) {
	t.Parallel()
	var lookups atomic.Int64
	e := newEnv(t, func(s *setup) {
		s.cfg.RateLimit = config.Rate{Limit: 2, Window: time.Minute}
		s.wrap = func(st store.Store) store.Store { return &lookupCounter{Store: st, n: &lookups} }
	})
	codes := map[int]int{}
	for i := range 50 {
		method := "GET"
		if i%2 == 1 {
			method = "OPTIONS" // not a preflight: no Origin
		}
		r := e.do(t, req{method: method, path: "/api/v1/audit", token: fmt.Sprintf("junk-%d", i)})
		codes[r.status]++
	}
	if diff := cmp.Diff(map[int]int{401: 2, 429: 48}, codes); diff != "" {
		t.Errorf("answers by status (-want +got):\n%s", diff)
	}
	if n := lookups.Load(); n > 2 {
		t.Errorf("%d session look-ups for 50 junk bearers; want at most the 2 the limit lets through", n)
	}
}

type lookupCounter struct {
	store.Store
	n *atomic.Int64
}

func (l *lookupCounter) GetSession(ctx context.Context, hash string) (store.Session, error) {
	l.n.Add(1)
	return l.Store.GetSession(ctx, hash)
}

// Clients choose the method token; metrics must not grow a series per token.
func TestMetricMethodIsBounded(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := range 5 {
		e.do(t, req{method: fmt.Sprintf("ZZ%d", i), path: "/nope"})
	}
	m := string(e.do(t, req{method: "GET", path: "/metrics"}).body)
	if strings.Contains(m, `method="ZZ`) {
		t.Errorf("/metrics has a series per made-up method")
	}
	if !strings.Contains(m, `method="OTHER"`) {
		t.Errorf("/metrics lacks method=\"OTHER\" for made-up methods")
	}
}
