//lint:file-ignore SA1019 tests of forwarding logging, sampling and roots (deprecated in 2026-07-28, alive in the session era)

package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"
)

// TestMain checks that the engine's goroutines end once its sessions,
// edges and dialers are closed.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The two downstream eras: a session (Mcp-Session-Id) and stateless
// requests.
const (
	sessionEra   = "2025-11-25"
	statelessEra = StatelessVersion
)

var eras = []string{sessionEra, statelessEra}

// wait bounds every wait for something asynchronous.
const wait = 10 * time.Second

// ---- fakes -------------------------------------------------------------

type staticProjects map[string]*Project

func (s staticProjects) Project(_ context.Context, name string) (*Project, error) {
	if p, ok := s[name]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("project %s: %w", name, ErrNoProject)
}

// recordingAudit keeps every event.
type recordingAudit struct {
	mu     sync.Mutex
	events []CallEvent
}

func (a *recordingAudit) Record(e CallEvent) {
	a.mu.Lock()
	a.events = append(a.events, e)
	a.mu.Unlock()
}

func (a *recordingAudit) all() []CallEvent {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.events)
}

// bearerAuth lets in "Bearer <name>" as User:<name>; no token, or the
// token "bad", is refused with 401.
type bearerAuth struct{}

const authMessage = "send a valid bearer token; get one with mcpctl login"

func (bearerAuth) Authenticate(r *http.Request, _ string) (Principal, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" || tok == "bad" {
		return Principal{}, &AuthError{Status: http.StatusUnauthorized, Code: "UNAUTHENTICATED", Message: authMessage}
	}
	return Principal{Subject: "User:" + tok}, nil
}

// memStore is a SessionStore in memory.
type memStore struct {
	mu   sync.Mutex
	recs map[string]SessionRecord
	put  chan string // ids, as they are written
	// getDelay slows GetSession, as a database round trip does.
	getDelay time.Duration
}

func newMemStore() *memStore {
	return &memStore{recs: map[string]SessionRecord{}, put: make(chan string, 100)}
}

func (s *memStore) PutSession(_ context.Context, rec SessionRecord) error {
	s.mu.Lock()
	s.recs[rec.ID] = rec
	s.mu.Unlock()
	select {
	case s.put <- rec.ID:
	default:
	}
	return nil
}

func (s *memStore) GetSession(_ context.Context, id string) (SessionRecord, bool, error) {
	time.Sleep(s.getDelay)
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.recs[id]
	return rec, ok, nil
}

func (s *memStore) TouchSession(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if rec, ok := s.recs[id]; ok {
		rec.LastSeen = at
		s.recs[id] = rec
	}
	return nil
}

func (s *memStore) DeleteSessions(_ context.Context, ids []string, idleBefore time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		delete(s.recs, id)
	}
	for id, rec := range s.recs {
		if !idleBefore.IsZero() && rec.LastSeen.Before(idleBefore) {
			delete(s.recs, id)
		}
	}
	return nil
}

// waitPut waits until the record of id is written.
func (s *memStore) waitPut(t *testing.T, id string) SessionRecord {
	t.Helper()
	timeout := time.After(wait)
	for {
		if rec, ok, _ := s.GetSession(context.Background(), id); ok {
			return rec
		}
		select {
		case <-s.put:
		case <-timeout:
			t.Fatalf("no session record %q was written", id)
		}
	}
}

// countingDialer counts the engine's requests for shared sessions.
type countingDialer struct {
	*TransportDialer
	mu     sync.Mutex
	shared map[string]int
}

func (d *countingDialer) Shared(ctx context.Context, server string) (*mcp.ClientSession, error) {
	d.mu.Lock()
	d.shared[server]++
	d.mu.Unlock()
	return d.TransportDialer.Shared(ctx, server)
}

func (d *countingDialer) sharedCalls(server string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.shared[server]
}

// barrier lets n goroutines through once all n arrived.
type barrier struct {
	mu    sync.Mutex
	n     int
	ready chan struct{}
}

func newBarrier(n int) *barrier { return &barrier{n: n, ready: make(chan struct{})} }

func (b *barrier) wait(ctx context.Context) error {
	b.mu.Lock()
	if b.n--; b.n == 0 {
		close(b.ready)
	}
	b.mu.Unlock()
	select {
	case <-b.ready:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- upstream servers --------------------------------------------------

type echoIn struct {
	Text string `json:"text"`
}

var objectSchema = map[string]any{"type": "object"}

func textResult(s string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: s}}}
}

// newUpstream is a server with a tool echo (answers "<name>:<text>"), a
// tool args (answers its arguments as JSON), a prompt greet, a resource
// test://x, a template test://items/{id} and completions.
func newUpstream(name string) *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "up-" + name, Version: "1"}, &mcp.ServerOptions{
		CompletionHandler: func(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
			v := name + ":" + req.Params.Ref.Name + req.Params.Ref.URI + ":" + req.Params.Argument.Value
			return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{Values: []string{v}}}, nil
		},
		SubscribeHandler:   func(context.Context, *mcp.SubscribeRequest) error { return nil },
		UnsubscribeHandler: func(context.Context, *mcp.UnsubscribeRequest) error { return nil },
	})
	mcp.AddTool(s, &mcp.Tool{Name: "echo", Description: "echo of " + name}, func(_ context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return textResult(name + ":" + in.Text), nil, nil
	})
	s.AddTool(&mcp.Tool{Name: "args", Description: "arguments of " + name, InputSchema: objectSchema}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult(string(req.Params.Arguments)), nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet", Description: "greeting of " + name, Arguments: []*mcp.PromptArgument{{Name: "who"}}},
		func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
			return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: name + ": hello " + req.Params.Arguments["who"]}}}}, nil
		})
	read := func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, MIMEType: "text/plain", Text: name + ":" + req.Params.URI}}}, nil
	}
	s.AddResource(&mcp.Resource{URI: "test://x", Name: "x of " + name, MIMEType: "text/plain"}, read)
	s.AddResourceTemplate(&mcp.ResourceTemplate{URITemplate: "test://items/{id}", Name: "item of " + name}, read)
	return s
}

func twoServers(sep, mode string) *Project {
	return &Project{Name: "p", Separator: sep, Servers: []ProjectServer{{Name: "a", SessionMode: mode}, {Name: "b", SessionMode: mode}}}
}

// ---- harness -----------------------------------------------------------

// upstreamTransport is how the harness connects the engine to its
// upstream servers.
type upstreamTransport string

const (
	// memory: mcp.NewInMemoryTransports, which the engine cannot observe
	// (see observe.go): what a server sends is not ordered against its
	// answers.
	memory upstreamTransport = "memory"
	// stdio: an mcp.IOTransport over pipes, as a STDIO server.
	stdio upstreamTransport = "stdio"
	// streamable: Streamable HTTP to the server behind httptest.
	streamable upstreamTransport = "http"
)

// observed are the transports the engine observes, in which what a
// server sends before an answer reaches the client before the answer.
var observed = []upstreamTransport{stdio, streamable}

type setup struct {
	projects  staticProjects         // [p: servers a and b, shared, "__"]
	upstreams map[string]*mcp.Server // [a and b of newUpstream]
	dead      map[string]bool        // servers whose connection fails
	hang      map[string]bool        // servers that accept a connection but never answer
	// transport is how upstreams are connected [memory].
	transport upstreamTransport
	cfg       Config
	edge      EdgeConfig
	auth      Authenticator
	store     SessionStore
}

type harness struct {
	g      *Gateway
	dialer *countingDialer
	edge   *Edge
	hs     *httptest.Server
	audit  *recordingAudit
	ups    map[string]*mcp.Server
	s      setup

	// released ends the connections of hanging servers.
	released chan struct{}
	// upURL are the upstreams' endpoints (transport streamable).
	upURL map[string]string

	mu       sync.Mutex
	connects map[string]int
}

func newHarness(t *testing.T, s setup) *harness {
	t.Helper()
	if s.upstreams == nil {
		s.upstreams = map[string]*mcp.Server{"a": newUpstream("a"), "b": newUpstream("b")}
	}
	if s.projects == nil {
		s.projects = staticProjects{"p": twoServers("__", v1.SessionShared)}
	}
	if s.transport == "" {
		s.transport = memory
	}
	h := &harness{audit: &recordingAudit{}, ups: s.upstreams, s: s, connects: map[string]int{}, released: make(chan struct{}), upURL: map[string]string{}}
	if s.transport == streamable {
		for name, srv := range s.upstreams {
			us := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
			t.Cleanup(us.Close) // after the engine's (cleanups run last first)
			h.upURL[name] = us.URL
		}
	}
	h.g, h.dialer = h.newGateway(t)
	h.edge, h.hs = h.serve(t, s.edge, s.auth, s.store)
	// Before the edge closes: a request stuck on a hanging server ends.
	t.Cleanup(func() { close(h.released) })
	return h
}

// newGateway is an engine over the harness's upstreams (a replica of
// its own when called again).
func (h *harness) newGateway(t *testing.T) (*Gateway, *countingDialer) {
	connect := func(ctx context.Context, server string) (mcp.Transport, func(), error) {
		h.mu.Lock()
		h.connects[server]++
		h.mu.Unlock()
		if h.s.dead[server] {
			return nil, nil, errors.New("connection refused")
		}
		srv := h.s.upstreams[server]
		if h.s.hang[server] {
			// Nobody answers at the other end until the test ends.
			up, down := mcp.NewInMemoryTransports()
			conn, err := up.Connect(ctx)
			if err != nil {
				return nil, nil, err
			}
			go func() {
				<-h.released
				conn.Close()
			}()
			return down, nil, nil
		}
		if srv == nil {
			return nil, nil, fmt.Errorf("no server %s", server)
		}
		if h.s.transport == streamable {
			return &mcp.StreamableClientTransport{Endpoint: h.upURL[server], MaxRetries: -1}, nil, nil
		}
		up, down := transports(h.s.transport)
		ss, err := srv.Connect(ctx, up, nil)
		if err != nil {
			return nil, nil, err
		}
		return down, func() { ss.Close() }, nil
	}
	d := &countingDialer{TransportDialer: NewTransportDialer(connect), shared: map[string]int{}}
	g := New(h.s.cfg, Deps{Projects: h.s.projects, Upstreams: d, Audit: h.audit})
	// Cleanups run last first: this one after the edges' and clients'.
	t.Cleanup(func() {
		g.Close()
		d.Close()
	})
	return g, d
}

// transports connects a server (up) and a client (down) in memory, or
// over pipes as STDIO does.
func transports(kind upstreamTransport) (up, down mcp.Transport) {
	if kind != stdio {
		return mcp.NewInMemoryTransports()
	}
	toServer, fromClient := io.Pipe()
	toClient, fromServer := io.Pipe()
	return &mcp.IOTransport{Reader: toServer, Writer: fromServer}, &mcp.IOTransport{Reader: toClient, Writer: fromClient}
}

// serve puts an Edge of g in front of an httptest server at /mcp/{project}.
func (h *harness) serve(t *testing.T, cfg EdgeConfig, a Authenticator, st SessionStore) (*Edge, *httptest.Server) {
	return serveEdge(t, NewEdge(cfg, h.g, a, st, nil))
}

func serveEdge(t *testing.T, e *Edge) (*Edge, *httptest.Server) {
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp/{project}", func(w http.ResponseWriter, r *http.Request) { e.ServeProject(w, r, r.PathValue("project")) })
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := e.Close(ctx); err != nil {
			t.Errorf("Edge.Close: %v", err)
		}
		hs.Close()
	})
	return e, hs
}

func (h *harness) connectCount(server string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.connects[server]
}

type bearerTransport struct {
	token string
	base  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.base.RoundTrip(r)
}

// client connects an MCP client in era to project p of hs.
func client(t *testing.T, hs *httptest.Server, era string, opts *mcp.ClientOptions, bearer string) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: bearerTransport{token: bearer, base: hs.Client().Transport}}
	tr := &mcp.StreamableClientTransport{Endpoint: hs.URL + "/mcp/p", HTTPClient: hc, MaxRetries: -1}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test-client", Version: "1"}, opts).Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: era})
	if err != nil {
		t.Fatalf("connect (%s): %v", era, err)
	}
	t.Cleanup(func() { cs.Close() })
	if got := cs.InitializeResult().ProtocolVersion; got != era {
		t.Fatalf("negotiated %s, want %s", got, era)
	}
	return cs
}

func (h *harness) client(t *testing.T, era string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	return client(t, h.hs, era, opts, "")
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func textOf(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if res == nil || len(res.Content) != 1 {
		t.Fatalf("result %+v: want one content", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content %T, want text", res.Content[0])
	}
	return tc.Text
}

func callText(ctx context.Context, t *testing.T, cs *mcp.ClientSession, name string, args any) string {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("call %s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("call %s: tool error %q", name, textOf(t, res))
	}
	return textOf(t, res)
}

// wantRPCError checks err is the JSON-RPC error code with a message
// containing each of parts.
func wantRPCError(t *testing.T, err error, code int64, parts ...string) *jsonrpc.Error {
	t.Helper()
	var werr *jsonrpc.Error
	if !errors.As(err, &werr) {
		t.Fatalf("error %v (%T), want a JSON-RPC error %d", err, err, code)
	}
	if werr.Code != code {
		t.Errorf("error code %d (%q), want %d", werr.Code, werr.Message, code)
	}
	for _, p := range parts {
		if !strings.Contains(werr.Message, p) {
			t.Errorf("error message %q does not contain %q", werr.Message, p)
		}
	}
	return werr
}

// recv waits for the next value of ch.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("no %s within %s", what, wait)
	}
	var zero T
	return zero
}

// acrossEras runs f in parallel for each of trs in both protocol eras.
func acrossEras(t *testing.T, trs []upstreamTransport, f func(t *testing.T, era string, tr upstreamTransport)) {
	for _, tr := range trs {
		for _, era := range eras {
			t.Run(string(tr)+"/"+era, func(t *testing.T) {
				t.Parallel()
				f(t, era, tr)
			})
		}
	}
}

// ---- 1. merged listing ---------------------------------------------------

type listing struct {
	Tools, Prompts, Resources, Templates map[string]string // name or URI → description or name
}

func listAll(ctx context.Context, t *testing.T, cs *mcp.ClientSession) listing {
	t.Helper()
	l := listing{Tools: map[string]string{}, Prompts: map[string]string{}, Resources: map[string]string{}, Templates: map[string]string{}}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	for _, x := range tools.Tools {
		l.Tools[x.Name] = x.Description
	}
	prompts, err := cs.ListPrompts(ctx, nil)
	if err != nil {
		t.Fatalf("prompts/list: %v", err)
	}
	for _, x := range prompts.Prompts {
		l.Prompts[x.Name] = x.Description
	}
	res, err := cs.ListResources(ctx, nil)
	if err != nil {
		t.Fatalf("resources/list: %v", err)
	}
	for _, x := range res.Resources {
		l.Resources[x.URI] = x.Name
	}
	tmpl, err := cs.ListResourceTemplates(ctx, nil)
	if err != nil {
		t.Fatalf("resources/templates/list: %v", err)
	}
	for _, x := range tmpl.ResourceTemplates {
		l.Templates[x.URITemplate] = x.Name
	}
	return l
}

func TestMergedListing(t *testing.T) {
	t.Parallel()
	merged := func(sep string) listing {
		return listing{
			Tools: map[string]string{
				"a" + sep + "echo": "echo of a", "a" + sep + "args": "arguments of a",
				"b" + sep + "echo": "echo of b", "b" + sep + "args": "arguments of b"},
			Prompts:   map[string]string{"a" + sep + "greet": "greeting of a", "b" + sep + "greet": "greeting of b"},
			Resources: map[string]string{"a+test://x": "x of a", "b+test://x": "x of b"},
			Templates: map[string]string{"a+test://items/{id}": "item of a", "b+test://items/{id}": "item of b"},
		}
	}
	tests := []struct {
		name    string
		project *Project
		want    listing
		// call is a tool of the project and what it answers to "hi".
		call, answer string
	}{
		{"double underscore", twoServers("__", v1.SessionShared), merged("__"), "b__echo", "b:hi"},
		{"dash", twoServers("-", v1.SessionShared), merged("-"), "a-echo", "a:hi"},
		{"dot", twoServers(".", v1.SessionShared), merged("."), "b.echo", "b:hi"},
		{"per-session", twoServers("__", v1.SessionPerSession), merged("__"), "a__echo", "a:hi"},
		{"pass-through", &Project{Name: "p", Separator: "", Servers: []ProjectServer{{Name: "a", SessionMode: v1.SessionShared}}}, listing{
			Tools:     map[string]string{"echo": "echo of a", "args": "arguments of a"},
			Prompts:   map[string]string{"greet": "greeting of a"},
			Resources: map[string]string{"test://x": "x of a"},
			Templates: map[string]string{"test://items/{id}": "item of a"},
		}, "echo", "a:hi"},
	}
	for _, tc := range tests {
		for _, era := range eras {
			t.Run(tc.name+"/"+era, func(t *testing.T) {
				t.Parallel()
				ctx := testCtx(t)
				h := newHarness(t, setup{projects: staticProjects{"p": tc.project}})
				cs := h.client(t, era, nil)
				if diff := cmp.Diff(tc.want, listAll(ctx, t, cs)); diff != "" {
					t.Errorf("listing (-want +got):\n%s", diff)
				}
				if got := callText(ctx, t, cs, tc.call, map[string]any{"text": "hi"}); got != tc.answer {
					t.Errorf("call %s = %q, want %q", tc.call, got, tc.answer)
				}
			})
		}
	}
}

// ---- 2. routing ----------------------------------------------------------

func TestRouting(t *testing.T) {
	t.Parallel()
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := newHarness(t, setup{})
			cs := h.client(t, era, nil)

			for _, tc := range []struct{ tool, want string }{{"a__echo", "a:hi"}, {"b__echo", "b:hi"}} {
				if got := callText(ctx, t, cs, tc.tool, map[string]any{"text": "hi"}); got != tc.want {
					t.Errorf("call %s = %q, want %q", tc.tool, got, tc.want)
				}
			}

			args := map[string]any{"text": "hé \"quoted\"", "n": 3.5, "ok": true, "none": nil,
				"nested": map[string]any{"list": []any{1.0, "x", false}}}
			var got map[string]any
			if err := json.Unmarshal([]byte(callText(ctx, t, cs, "b__args", args)), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(args, got); diff != "" {
				t.Errorf("arguments upstream (-sent +received):\n%s", diff)
			}

			pr, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "b__greet", Arguments: map[string]string{"who": "bob"}})
			if err != nil {
				t.Fatalf("prompts/get: %v", err)
			}
			if len(pr.Messages) != 1 || pr.Messages[0].Content.(*mcp.TextContent).Text != "b: hello bob" {
				t.Errorf("prompts/get b__greet = %+v, want one message \"b: hello bob\"", pr.Messages)
			}

			for _, tc := range []struct{ uri, text string }{
				{"a+test://x", "a:test://x"},
				{"b+test://x", "b:test://x"},
				{"b+test://items/7", "b:test://items/7"},
				{"a+test://items/42", "a:test://items/42"},
			} {
				rr, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: tc.uri})
				if err != nil {
					t.Errorf("resources/read %s: %v", tc.uri, err)
					continue
				}
				want := []*mcp.ResourceContents{{URI: tc.uri, MIMEType: "text/plain", Text: tc.text}}
				if diff := cmp.Diff(want, rr.Contents); diff != "" {
					t.Errorf("resources/read %s (-want +got):\n%s", tc.uri, diff)
				}
			}

			for _, tc := range []struct {
				ref  mcp.CompleteReference
				want string
			}{
				{mcp.CompleteReference{Type: "ref/prompt", Name: "b__greet"}, "b:greet:al"},
				{mcp.CompleteReference{Type: "ref/prompt", Name: "a__greet"}, "a:greet:al"},
				{mcp.CompleteReference{Type: "ref/resource", URI: "b+test://items/{id}"}, "b:test://items/{id}:al"},
			} {
				res, err := cs.Complete(ctx, &mcp.CompleteParams{Ref: &tc.ref, Argument: mcp.CompleteParamsArgument{Name: "who", Value: "al"}})
				if err != nil {
					t.Errorf("completion/complete %+v: %v", tc.ref, err)
					continue
				}
				if diff := cmp.Diff([]string{tc.want}, res.Completion.Values); diff != "" {
					t.Errorf("completion/complete %+v (-want +got):\n%s", tc.ref, diff)
				}
			}
		})
	}
}

// TestStatelessClientOnSessionEraUpstream: upstream sessions speak the
// session era, so what a stateless-era client puts in _meta about its own
// hop (protocol version, client info, capabilities) must not turn the
// upstream request into a stateless-era one; other _meta passes through.
// The upstreams: one in memory that speaks only the session era, and a
// plain Go SDK server over Streamable HTTP.
func TestStatelessClientOnSessionEraUpstream(t *testing.T) {
	t.Parallel()
	for _, tr := range []upstreamTransport{memory, streamable} {
		for _, era := range eras {
			t.Run(string(tr)+"/"+era, func(t *testing.T) {
				t.Parallel()
				ctx := testCtx(t)
				opts := &mcp.ServerOptions{}
				if tr == memory {
					opts.SupportedProtocolVersions = []string{"2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"}
				}
				a := mcp.NewServer(&mcp.Implementation{Name: "up-a", Version: "1"}, opts)
				a.AddTool(&mcp.Tool{Name: "meta", InputSchema: objectSchema}, func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
					var keys []string
					for k := range req.Params.Meta {
						keys = append(keys, k)
					}
					slices.Sort(keys)
					return textResult(strings.Join(keys, " ")), nil
				})
				p := &Project{Name: "p", Separator: "__", Servers: []ProjectServer{{Name: "a", SessionMode: v1.SessionShared}}}
				h := newHarness(t, setup{projects: staticProjects{"p": p}, upstreams: map[string]*mcp.Server{"a": a}, transport: tr})
				cs := h.client(t, era, nil)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__meta", Arguments: map[string]any{}, Meta: mcp.Meta{"example.com/trace": "t1"}})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := textOf(t, res), "example.com/trace progressToken"; got != want {
					t.Errorf("_meta keys upstream = %q, want %q", got, want)
				}
			})
		}
	}
}

// ---- 3. filters and audit ------------------------------------------------

func TestFiltersAndAudit(t *testing.T) {
	t.Parallel()
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			a, b := newUpstream("a"), newUpstream("b")
			a.AddTool(&mcp.Tool{Name: "fail", InputSchema: objectSchema}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "it failed"}}}, nil
			})
			a.AddTool(&mcp.Tool{Name: "broken", InputSchema: objectSchema}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return nil, &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "boom"}
			})
			b.AddTool(&mcp.Tool{Name: "secret", InputSchema: objectSchema}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return textResult("the secret"), nil
			})
			p := twoServers("__", v1.SessionShared)
			p.Filters = map[string]v1.ToolFilter{"a": {Deny: []string{"args"}}, "b": {Allow: []string{"echo"}}}
			h := newHarness(t, setup{projects: staticProjects{"p": p}, upstreams: map[string]*mcp.Server{"a": a, "b": b}})
			cs := h.client(t, era, nil)

			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, x := range tools.Tools {
				names = append(names, x.Name)
			}
			slices.Sort(names)
			if diff := cmp.Diff([]string{"a__broken", "a__echo", "a__fail", "b__echo"}, names); diff != "" {
				t.Errorf("tools/list (-want +got):\n%s", diff)
			}

			if got := callText(ctx, t, cs, "a__echo", map[string]any{"text": "secret-value"}); got != "a:secret-value" {
				t.Errorf("a__echo = %q", got)
			}
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__fail", Arguments: map[string]any{"text": "x", "n": 1}})
			if err != nil || !res.IsError {
				t.Errorf("a__fail = %+v, %v; want a tool error", res, err)
			}
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__broken", Arguments: map[string]any{"list": []int{1}}})
			wantRPCError(t, err, jsonrpc.CodeInternalError, "boom")

			for _, tc := range []struct{ tool, server string }{{"a__args", "a"}, {"b__secret", "b"}, {"b__args", "b"}} {
				_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: tc.tool, Arguments: map[string]any{"text": "secret-value"}})
				werr := wantRPCError(t, err, jsonrpc.CodeInvalidParams, "denied")
				want := fmt.Sprintf("tool %q is denied in project p by its filter for server %s (spec.tools.%s); ask an admin to allow it", tc.tool, tc.server, tc.server)
				if werr.Message != want {
					t.Errorf("call %s: message %q, want %q", tc.tool, werr.Message, want)
				}
			}
			_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "nope", Arguments: map[string]any{}})
			if werr := wantRPCError(t, err, jsonrpc.CodeInvalidParams, "unknown tool"); werr.Message != `unknown tool "nope" in project p` {
				t.Errorf("unknown tool message %q", werr.Message)
			}
			if _, err := cs.GetPrompt(ctx, &mcp.GetPromptParams{Name: "b__greet", Arguments: map[string]string{"who": "secret-value"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := cs.ReadResource(ctx, &mcp.ReadResourceParams{URI: "a+test://x"}); err != nil {
				t.Fatal(err)
			}

			events := h.audit.all()
			for i, e := range events {
				if strings.Contains(e.Detail, "secret-value") {
					t.Errorf("event %d holds an argument value: %q", i, e.Detail)
				}
				if e.Time.IsZero() {
					t.Errorf("event %d has no time", i)
				}
				if era == sessionEra && e.SessionID == "" {
					t.Errorf("event %d has no session id", i)
				}
				if e.Outcome == OutcomeError && e.Name == "broken" {
					if !strings.Contains(e.Detail, "boom") {
						t.Errorf("error event detail %q does not name the error", e.Detail)
					}
					events[i].Detail = "(the error)"
				}
			}
			anon := Principal{Subject: "anonymous"}
			ev := func(server, name, outcome, detail string) CallEvent {
				return CallEvent{Principal: anon, Project: "p", Server: server, Name: name, Method: "tools/call",
					Outcome: outcome, Denied: outcome == OutcomeDenied, Detail: detail}
			}
			denied := "denied by the project's tool filter"
			want := []CallEvent{
				ev("a", "echo", OutcomeOK, `{"text":"string"}`),
				ev("a", "fail", OutcomeToolError, `{"n":"number","text":"string"}`),
				ev("a", "broken", OutcomeError, "(the error)"),
				ev("a", "args", OutcomeDenied, denied),
				ev("b", "secret", OutcomeDenied, denied),
				ev("b", "args", OutcomeDenied, denied),
				ev("", "nope", OutcomeError, "unknown tool"),
				{Principal: anon, Project: "p", Server: "b", Name: "greet", Method: "prompts/get", Outcome: OutcomeOK, Detail: `{"who":"string"}`},
				{Principal: anon, Project: "p", Server: "a", Name: "test://x", Method: "resources/read", Outcome: OutcomeOK},
			}
			if diff := cmp.Diff(want, events, cmpopts.IgnoreFields(CallEvent{}, "Time", "Duration", "SessionID")); diff != "" {
				t.Errorf("audit events (-want +got):\n%s", diff)
			}
		})
	}
}

// ---- 4. progress and timeouts --------------------------------------------

type progressNote struct {
	Token    string
	Progress float64
	Total    float64
	Message  string
}

// progressRecorder collects the progress a client receives.
type progressRecorder struct {
	mu    sync.Mutex
	notes []progressNote
	got   chan struct{}
}

func newProgressRecorder() *progressRecorder {
	return &progressRecorder{got: make(chan struct{}, 10000)}
}

func (r *progressRecorder) handler(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
	b, _ := json.Marshal(req.Params.ProgressToken)
	r.mu.Lock()
	r.notes = append(r.notes, progressNote{Token: string(b), Progress: req.Params.Progress, Total: req.Params.Total, Message: req.Params.Message})
	r.mu.Unlock()
	r.got <- struct{}{}
}

func (r *progressRecorder) all() []progressNote {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.notes)
}

// waitFor waits until n notifications in all arrived.
func (r *progressRecorder) waitFor(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(wait)
	for len(r.all()) < n {
		select {
		case <-r.got:
		case <-timeout:
			t.Fatalf("got %d progress notifications, want %d: %+v", len(r.all()), n, r.all())
		}
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	acrossEras(t, observed, progress)
}

func progress(t *testing.T, era string, tr upstreamTransport) {
	ctx := testCtx(t)
	a := newUpstream("a")
	a.AddTool(&mcp.Tool{Name: "steps", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		for i := 1; i <= 3; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
				ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Total: 3, Message: fmt.Sprintf("step %d", i)}); err != nil {
				return nil, err
			}
		}
		return textResult("done"), nil
	})
	a.AddTool(&mcp.Tool{Name: "ticker", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for i := 1; i <= 10; i++ {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i)}); err != nil {
				return nil, err
			}
		}
		return textResult("ticked 10 times"), nil
	})
	blocked, cancelled := make(chan struct{}), make(chan struct{})
	a.AddTool(&mcp.Tool{Name: "block", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		close(blocked)
		<-ctx.Done()
		close(cancelled)
		return nil, ctx.Err()
	})
	// Over transports the engine observes, so that an answer does not
	// overtake the progress before it.
	h := newHarness(t, setup{upstreams: map[string]*mcp.Server{"a": a, "b": newUpstream("b")}, cfg: Config{CallTimeout: 300 * time.Millisecond}, transport: tr})

	t.Run("token", func(t *testing.T) {
		for _, token := range []any{"tok-1", 42} {
			rec := newProgressRecorder()
			cs := h.client(t, era, &mcp.ClientOptions{ProgressNotificationHandler: rec.handler})
			p := &mcp.CallToolParams{Name: "a__steps", Arguments: map[string]any{}}
			p.SetProgressToken(token)
			res, err := cs.CallTool(ctx, p)
			if err != nil || textOf(t, res) != "done" {
				t.Fatalf("a__steps = %+v, %v", res, err)
			}
			rec.waitFor(t, 3)
			tok, _ := json.Marshal(token)
			var want []progressNote
			for i := 1; i <= 3; i++ {
				want = append(want, progressNote{Token: string(tok), Progress: float64(i), Total: 3, Message: fmt.Sprintf("step %d", i)})
			}
			if diff := cmp.Diff(want, rec.all()); diff != "" {
				t.Errorf("progress with token %v (-want +got):\n%s", token, diff)
			}
		}
	})

	t.Run("no token", func(t *testing.T) {
		rec := newProgressRecorder()
		cs := h.client(t, era, &mcp.ClientOptions{ProgressNotificationHandler: rec.handler})
		if got := callText(ctx, t, cs, "a__steps", map[string]any{}); got != "done" {
			t.Fatalf("a__steps = %q", got)
		}
		// Progress precedes the answer on its stream: a second call
		// with a token shows the first had none.
		p := &mcp.CallToolParams{Name: "a__steps", Arguments: map[string]any{}}
		p.SetProgressToken("second")
		if _, err := cs.CallTool(ctx, p); err != nil {
			t.Fatal(err)
		}
		rec.waitFor(t, 3)
		for _, n := range rec.all() {
			if n.Token != `"second"` {
				t.Errorf("a client that sent no progress token got progress %+v", n)
			}
		}
	})

	t.Run("progress resets the timeout", func(t *testing.T) {
		cs := h.client(t, era, nil)
		start := time.Now()
		if got := callText(ctx, t, cs, "a__ticker", map[string]any{}); got != "ticked 10 times" {
			t.Errorf("a__ticker = %q", got)
		}
		if d := time.Since(start); d < time.Second {
			t.Errorf("a__ticker took %s; its upstream takes 1s", d)
		}
	})

	t.Run("timeout without progress", func(t *testing.T) {
		cs := h.client(t, era, nil)
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__block", Arguments: map[string]any{}})
		werr := wantRPCError(t, err, CodeRequestTimeout)
		want := "server a did not answer tool block within 300ms and sent no progress; the request was cancelled on the server"
		if werr.Message != want {
			t.Errorf("message %q, want %q", werr.Message, want)
		}
		recv(t, blocked, "call of the blocking tool")
		recv(t, cancelled, "cancellation of the upstream handler")
	})
}

// ---- 5. response size ----------------------------------------------------

func TestMaxResponseBytes(t *testing.T) {
	t.Parallel()
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			a := newUpstream("a")
			a.AddTool(&mcp.Tool{Name: "big", InputSchema: objectSchema}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return textResult(strings.Repeat("x", 10000)), nil
			})
			h := newHarness(t, setup{upstreams: map[string]*mcp.Server{"a": a, "b": newUpstream("b")}, cfg: Config{MaxResponseBytes: 2048}})
			cs := h.client(t, era, nil)
			if got := callText(ctx, t, cs, "a__echo", map[string]any{"text": "small"}); got != "a:small" {
				t.Errorf("a__echo = %q", got)
			}
			_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__big", Arguments: map[string]any{}})
			werr := wantRPCError(t, err, jsonrpc.CodeInternalError, "the answer of server a to tool big is ", "over the gateway's limit of 2048 bytes")
			if werr.Message == "" {
				t.Error("no message")
			}
		})
	}
}

// ---- 6. logging ----------------------------------------------------------

func TestLogging(t *testing.T) {
	t.Parallel()
	acrossEras(t, observed, func(t *testing.T, era string, tr upstreamTransport) { logging(t, era, tr, v1.SessionShared) })
	for _, tr := range observed {
		// A client's own upstream is dialed on its first call, after its
		// setLevel: it is asked then.
		t.Run(string(tr)+"/per-session", func(t *testing.T) {
			t.Parallel()
			logging(t, sessionEra, tr, v1.SessionPerSession)
		})
	}
}

func logging(t *testing.T, era string, tr upstreamTransport, mode string) {
	ctx := testCtx(t)
	a := newUpstream("a")
	a.AddTool(&mcp.Tool{Name: "log", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		for _, p := range []*mcp.LoggingMessageParams{
			{Level: "debug", Data: "too verbose"},
			{Level: "info", Data: "hello from a"},
			{Level: "warning", Logger: "custom", Data: "careful"},
		} {
			if err := req.Session.Log(ctx, p); err != nil {
				return nil, err
			}
		}
		return textResult("logged"), nil
	})
	h := newHarness(t, setup{upstreams: map[string]*mcp.Server{"a": a, "b": newUpstream("b")}, transport: tr, projects: staticProjects{"p": twoServers("__", mode)}})
	logs := make(chan *mcp.LoggingMessageParams, 10)
	cs := h.client(t, era, &mcp.ClientOptions{LoggingMessageHandler: func(_ context.Context, req *mcp.LoggingMessageRequest) {
		logs <- req.Params
	}})
	p := &mcp.CallToolParams{Name: "a__log", Arguments: map[string]any{}}
	if era == sessionEra {
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
			t.Fatal(err)
		}
	} else {
		// The stateless era asks for logs in each request.
		p.Meta = mcp.Meta{mcp.MetaKeyLogLevel: "info"}
	}
	res, err := cs.CallTool(ctx, p)
	if err != nil || textOf(t, res) != "logged" {
		t.Fatalf("a__log = %+v, %v", res, err)
	}
	var got []*mcp.LoggingMessageParams
	for range 2 {
		got = append(got, recv(t, logs, "log message"))
	}
	select {
	case m := <-logs:
		got = append(got, m)
	default:
	}
	want := []*mcp.LoggingMessageParams{
		{Level: "info", Logger: "a", Data: "hello from a"},
		{Level: "warning", Logger: "custom", Data: "careful"},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(mcp.LoggingMessageParams{}, "Meta")); diff != "" {
		t.Errorf("logs (-want +got):\n%s", diff)
	}
}

// TestLogsStayWithTheirClient: what an upstream logs during one client's
// call reaches that client only, however soon the call answers after it.
func TestLogsStayWithTheirClient(t *testing.T) {
	t.Parallel()
	acrossEras(t, observed, logsStayWithTheirClient)
}

func logsStayWithTheirClient(t *testing.T, era string, tr upstreamTransport) {
	ctx := testCtx(t)
	a := newUpstream("a")
	a.AddTool(&mcp.Tool{Name: "log", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{Level: "info", Data: "private to the caller"}); err != nil {
			return nil, err
		}
		return textResult("logged"), nil
	})
	h := newHarness(t, setup{upstreams: map[string]*mcp.Server{"a": a, "b": newUpstream("b")}, transport: tr})
	var caller, other atomic.Int64
	cs := h.client(t, era, &mcp.ClientOptions{LoggingMessageHandler: func(context.Context, *mcp.LoggingMessageRequest) { caller.Add(1) }})
	bystander := h.client(t, sessionEra, &mcp.ClientOptions{LoggingMessageHandler: func(context.Context, *mcp.LoggingMessageRequest) { other.Add(1) }})
	if err := bystander.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	p := &mcp.CallToolParams{Name: "a__log", Arguments: map[string]any{}}
	if era == sessionEra {
		if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "info"}); err != nil {
			t.Fatal(err)
		}
	} else {
		p.Meta = mcp.Meta{mcp.MetaKeyLogLevel: "info"}
	}
	const n = 200
	for range n {
		if _, err := cs.CallTool(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	// Each log precedes its answer on the caller's stream (the client may
	// hand it to its handler a little later).
	eventually(t, fmt.Sprintf("the caller gets its %d logs", n), func() bool { return caller.Load() >= n })
	if got := caller.Load(); got != n {
		t.Errorf("the caller got %d logs, want %d", got, n)
	}
	if got := other.Load(); got != 0 {
		t.Errorf("another client got %d of the caller's logs", got)
	}
}

// ---- 7. sampling and elicitation -----------------------------------------

// samplingClient answers sampling and elicitation as name, counting them.
type samplingClient struct {
	name      string
	mu        sync.Mutex
	questions []string
}

func (c *samplingClient) options() *mcp.ClientOptions {
	return &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			q := req.Params.Messages[0].Content.(*mcp.TextContent).Text
			c.mu.Lock()
			c.questions = append(c.questions, q)
			c.mu.Unlock()
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "answer-from-" + c.name}}, nil
		},
		ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
			c.mu.Lock()
			c.questions = append(c.questions, req.Params.Message)
			c.mu.Unlock()
			return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": c.name}}, nil
		},
	}
}

func (c *samplingClient) asked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.questions)
}

// samplingUpstream is server a with tools sample and elicit, and sample2,
// which samples only once two calls are in flight and answers only once
// both were answered.
func samplingUpstream() *mcp.Server {
	a := newUpstream("a")
	sample := func(ctx context.Context, req *mcp.CallToolRequest) string {
		res, err := req.Session.CreateMessage(ctx, &mcp.CreateMessageParams{MaxTokens: 10,
			Messages: []*mcp.SamplingMessage{{Role: "user", Content: &mcp.TextContent{Text: "question from a"}}}})
		if err != nil {
			return "refused: " + err.Error()
		}
		return "sampled: " + res.Content.(*mcp.TextContent).Text
	}
	a.AddTool(&mcp.Tool{Name: "sample", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult(sample(ctx, req)), nil
	})
	a.AddTool(&mcp.Tool{Name: "elicit", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: "your name?", RequestedSchema: map[string]any{
			"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
		if err != nil {
			return textResult("refused: " + err.Error()), nil
		}
		return textResult(fmt.Sprintf("elicited: %s %v", res.Action, res.Content["name"])), nil
	})
	var mu sync.Mutex
	var before, after *barrier
	a.AddTool(&mcp.Tool{Name: "sample2", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		mu.Lock()
		if before == nil {
			before, after = newBarrier(2), newBarrier(2)
		}
		b1, b2 := before, after
		mu.Unlock()
		if err := b1.wait(ctx); err != nil {
			return nil, err
		}
		text := sample(ctx, req)
		if err := b2.wait(ctx); err != nil {
			return nil, err
		}
		return textResult(text), nil
	})
	return a
}

// sampleAndElicit has a client c1 of h call a__sample and a__elicit of
// samplingUpstream, which ask it for sampling and elicitation.
func sampleAndElicit(ctx context.Context, t *testing.T, h *harness) *samplingClient {
	t.Helper()
	c := &samplingClient{name: "c1"}
	cs := h.client(t, sessionEra, c.options())
	if got := callText(ctx, t, cs, "a__sample", map[string]any{}); got != "sampled: answer-from-c1" {
		t.Errorf("a__sample = %q", got)
	}
	if got := callText(ctx, t, cs, "a__elicit", map[string]any{}); got != "elicited: accept c1" {
		t.Errorf("a__elicit = %q", got)
	}
	return c
}

// sample2Twice has clients c1 and c2 of h call a__sample2 of
// samplingUpstream at once; it returns what the upstream saw for each.
func sample2Twice(ctx context.Context, t *testing.T, h *harness) (results [2]string, clients [2]*samplingClient) {
	t.Helper()
	var wg sync.WaitGroup
	for i := range 2 {
		clients[i] = &samplingClient{name: fmt.Sprintf("c%d", i+1)}
		cs := h.client(t, sessionEra, clients[i].options())
		wg.Go(func() {
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__sample2", Arguments: map[string]any{}})
			if err != nil {
				t.Errorf("client %d: %v", i+1, err)
				return
			}
			results[i] = textOf(t, res)
		})
	}
	wg.Wait()
	return results, clients
}

func TestSamplingAndElicitation(t *testing.T) {
	t.Parallel()
	t.Run("forwarded", func(t *testing.T) {
		t.Parallel()
		ctx := testCtx(t)
		h := newHarness(t, setup{upstreams: map[string]*mcp.Server{"a": samplingUpstream(), "b": newUpstream("b")}})
		c := sampleAndElicit(ctx, t, h)
		if diff := cmp.Diff([]string{"question from a", "your name?"}, c.asked()); diff != "" {
			t.Errorf("requests the client got (-want +got):\n%s", diff)
		}
	})

	concurrent := func(t *testing.T, mode string) (results [2]string, clients [2]*samplingClient) {
		p := twoServers("__", mode)
		h := newHarness(t, setup{projects: staticProjects{"p": p}, upstreams: map[string]*mcp.Server{"a": samplingUpstream(), "b": newUpstream("b")}})
		return sample2Twice(testCtx(t), t, h)
	}

	t.Run("shared session refuses", func(t *testing.T) {
		t.Parallel()
		results, clients := concurrent(t, v1.SessionShared)
		for i, r := range results {
			for _, part := range []string{"refused: ", "cannot say which client", "2 clients' calls are in flight", "sessionMode: per-session"} {
				if !strings.Contains(r, part) {
					t.Errorf("client %d: upstream saw %q, want it to contain %q", i+1, r, part)
				}
			}
			if q := clients[i].asked(); len(q) > 0 {
				t.Errorf("client %d was asked %q; no client should be", i+1, q)
			}
		}
	})

	t.Run("per-session sessions forward", func(t *testing.T) {
		t.Parallel()
		results, clients := concurrent(t, v1.SessionPerSession)
		for i, r := range results {
			if want := fmt.Sprintf("sampled: answer-from-c%d", i+1); r != want {
				t.Errorf("client %d: upstream saw %q, want %q", i+1, r, want)
			}
			if diff := cmp.Diff([]string{"question from a"}, clients[i].asked()); diff != "" {
				t.Errorf("client %d was asked (-want +got):\n%s", i+1, diff)
			}
		}
	})
}

// ---- 8. isolation --------------------------------------------------------

func TestIsolation(t *testing.T) {
	t.Parallel()
	acrossEras(t, []upstreamTransport{memory, stdio, streamable}, isolation)
}

// isolation has two clients call a slow echo 50 times each at once, with
// progress. Over an observed transport every progress notification must
// arrive; in memory, the engine cannot see the order of what the server
// sent, and the last progress of a call may be dropped (never misrouted).
func isolation(t *testing.T, era string, tr upstreamTransport) {
	ctx := testCtx(t)
	a := newUpstream("a")
	a.AddTool(&mcp.Tool{Name: "slow", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		var in echoIn
		if err := json.Unmarshal(req.Params.Arguments, &in); err != nil {
			return nil, err
		}
		for i := 1; i <= 2; i++ {
			if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: req.Params.GetProgressToken(), Progress: float64(i), Message: in.Text}); err != nil {
				return nil, err
			}
			time.Sleep(time.Millisecond) // let the calls interleave
		}
		return textResult("a:" + in.Text), nil
	})
	h := newHarness(t, setup{upstreams: map[string]*mcp.Server{"a": a, "b": newUpstream("b")}, transport: tr})
	complete := tr != memory
	const n = 50
	var wg sync.WaitGroup
	recs := map[string]*progressRecorder{}
	for _, name := range []string{"c1", "c2"} {
		rec := newProgressRecorder()
		recs[name] = rec
		cs := h.client(t, era, &mcp.ClientOptions{ProgressNotificationHandler: rec.handler})
		for i := range n {
			wg.Go(func() {
				text := fmt.Sprintf("%s-%d", name, i)
				p := &mcp.CallToolParams{Name: "a__slow", Arguments: map[string]any{"text": text}}
				p.SetProgressToken(text)
				res, err := cs.CallTool(ctx, p)
				if err != nil {
					t.Errorf("%s: %v", text, err)
					return
				}
				if got := textOf(t, res); got != "a:"+text {
					t.Errorf("call %s answered %q", text, got)
				}
			})
		}
	}
	wg.Wait()
	for name, rec := range recs {
		if complete {
			rec.waitFor(t, 2*n)
		}
		count := map[string]int{}
		for _, note := range rec.all() {
			var token string
			json.Unmarshal([]byte(note.Token), &token)
			if !strings.HasPrefix(token, name+"-") || note.Message != token {
				t.Errorf("%s got progress %+v, which is not its own", name, note)
			}
			count[token]++
		}
		for i := range n {
			token := fmt.Sprintf("%s-%d", name, i)
			if count[token] > 2 || complete && count[token] != 2 {
				t.Errorf("%s: %d progress notifications of %s, want 2", name, count[token], token)
			}
		}
	}
}

// ---- 9. list_changed -----------------------------------------------------

func TestListChanged(t *testing.T) {
	t.Parallel()
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := newHarness(t, setup{})
			// A first client fills the registry; its own list_changed
			// (from that first fill) must be over before the observer
			// connects, so that the observer's can only come from the
			// upstream's change.
			first := make(chan struct{}, 10)
			warm := h.client(t, sessionEra, &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { first <- struct{}{} }})
			if _, err := warm.ListTools(ctx, nil); err != nil {
				t.Fatal(err)
			}
			recv(t, first, "list_changed of the first fill")

			changed := make(chan struct{}, 10)
			cs := h.client(t, era, &mcp.ClientOptions{ToolListChangedHandler: func(context.Context, *mcp.ToolListChangedRequest) { changed <- struct{}{} }})
			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(tools.Tools) != 4 {
				t.Fatalf("tools/list = %d tools, want 4", len(tools.Tools))
			}
			select {
			case <-changed:
				t.Fatal("list_changed before anything changed")
			default:
			}

			h.ups["b"].AddTool(&mcp.Tool{Name: "late", InputSchema: objectSchema}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
				return textResult("late of b"), nil
			})
			recv(t, changed, "notifications/tools/list_changed")
			tools, err = cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, x := range tools.Tools {
				names = append(names, x.Name)
			}
			slices.Sort(names)
			if diff := cmp.Diff([]string{"a__args", "a__echo", "b__args", "b__echo", "b__late"}, names); diff != "" {
				t.Errorf("tools/list after the change (-want +got):\n%s", diff)
			}
			if got := callText(ctx, t, cs, "b__late", map[string]any{}); got != "late of b" {
				t.Errorf("b__late = %q", got)
			}
		})
	}
}

// ---- 10. resource subscriptions ------------------------------------------

func TestResourceSubscription(t *testing.T) {
	t.Parallel()
	for _, era := range eras {
		t.Run(era, func(t *testing.T) {
			t.Parallel()
			ctx := testCtx(t)
			h := newHarness(t, setup{})
			updated := make(chan string, 10)
			cs := h.client(t, era, &mcp.ClientOptions{ResourceUpdatedHandler: func(_ context.Context, req *mcp.ResourceUpdatedNotificationRequest) {
				updated <- req.Params.URI
			}})
			if err := cs.Subscribe(ctx, &mcp.SubscribeParams{URI: "a+test://x"}); err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			// b's resource of the same URI is not subscribed to.
			if err := h.ups["b"].ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://x"}); err != nil {
				t.Fatal(err)
			}
			if err := h.ups["a"].ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: "test://x"}); err != nil {
				t.Fatal(err)
			}
			if got := recv(t, updated, "notifications/resources/updated"); got != "a+test://x" {
				t.Errorf("updated %q, want a+test://x", got)
			}
			select {
			case got := <-updated:
				t.Errorf("another update %q", got)
			case <-time.After(100 * time.Millisecond):
			}
		})
	}
}

// ---- 11. the lists cache -------------------------------------------------

// TestListsCacheOfBrokenServers: a project holds a working server a and
// a broken one, whose connection fails at once (dead) or is accepted but
// never answered (hang). The first listing answers with a's items within
// ListTimeout; within ErrorTTL the broken server is not asked again.
func TestListsCacheOfBrokenServers(t *testing.T) {
	t.Parallel()
	for _, broken := range []string{"dead", "hang"} {
		for _, era := range eras {
			t.Run(broken+"/"+era, func(t *testing.T) {
				t.Parallel()
				listsCache(t, era, broken)
			})
		}
	}
}

func listsCache(t *testing.T, era, broken string) {
	ctx := testCtx(t)
	const listTimeout = 300 * time.Millisecond
	p := &Project{Name: "p", Separator: "__", Servers: []ProjectServer{
		{Name: "a", SessionMode: v1.SessionShared}, {Name: broken, SessionMode: v1.SessionShared}}}
	h := newHarness(t, setup{projects: staticProjects{"p": p}, dead: map[string]bool{"dead": true}, hang: map[string]bool{"hang": true},
		cfg: Config{ListTimeout: listTimeout, ErrorTTL: time.Minute}})
	cs := h.client(t, era, nil)

	type answer struct {
		res *mcp.ListToolsResult
		err error
	}
	listed := make(chan answer, 1)
	start := time.Now()
	go func() {
		res, err := cs.ListTools(ctx, nil)
		listed <- answer{res, err}
	}()
	var tools *mcp.ListToolsResult
	select {
	case a := <-listed:
		if a.err != nil {
			t.Fatalf("tools/list: %v", a.err)
		}
		tools = a.res
	case <-time.After(listTimeout + 2*time.Second):
		t.Fatalf("the first tools/list did not answer within %s; ListTimeout is %s", listTimeout+2*time.Second, listTimeout)
	}
	t.Logf("the first tools/list took %s", time.Since(start))
	var names []string
	for _, x := range tools.Tools {
		names = append(names, x.Name)
	}
	slices.Sort(names)
	if diff := cmp.Diff([]string{"a__args", "a__echo"}, names); diff != "" {
		t.Errorf("tools/list (-want +got):\n%s", diff)
	}

	for range 3 {
		start := time.Now()
		if _, err := cs.ListTools(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.ListPrompts(ctx, nil); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > listTimeout {
			t.Errorf("a later listing took %s: the failed listing was not remembered", d)
		}
	}
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "nope", Arguments: map[string]any{}})
	werr := wantRPCError(t, err, jsonrpc.CodeInvalidParams)
	if want := fmt.Sprintf(`unknown tool "nope" in project p; the lists of %s could not be read just now`, broken); werr.Message != want {
		t.Errorf("message %q, want %q", werr.Message, want)
	}
	if n := h.dialer.sharedCalls(broken); n != 1 {
		t.Errorf("the dialer was asked %d times for %s within ErrorTTL, want 1", n, broken)
	}
	if n := h.connectCount(broken); n != 1 {
		t.Errorf("%s was connected %d times, want 1", broken, n)
	}
}

// ---- 12. the HTTP edge ---------------------------------------------------

const (
	initRequest = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`
	initialized = `{"jsonrpc":"2.0","method":"notifications/initialized"}`
	pingRequest = `{"jsonrpc":"2.0","id":2,"method":"ping"}`
)

func echoRequest(text string) string {
	return fmt.Sprintf(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"a__echo","arguments":{"text":%q}}}`, text)
}

// rawReq is one HTTP request to an endpoint.
type rawReq struct {
	method, project, body    string
	bearer, session, version string
	origin, host             string
	chunked                  bool
}

type rawResp struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, hs *httptest.Server, r rawReq) rawResp {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.project == "" {
		r.project = "p"
	}
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
		if r.chunked {
			body = io.MultiReader(body) // of unknown length
		}
	}
	req, err := http.NewRequest(r.method, hs.URL+"/mcp/"+r.project, body)
	if err != nil {
		t.Fatal(err)
	}
	if r.chunked {
		req.ContentLength = -1
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range map[string]string{"Mcp-Session-Id": r.session, "Mcp-Protocol-Version": r.version, "Origin": r.origin} {
		if v != "" {
			req.Header.Set(k, v)
		}
	}
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.host != "" {
		req.Host = r.host
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatalf("%s: %v", r.method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read the answer: %v", err)
	}
	return rawResp{status: resp.StatusCode, header: resp.Header, body: b}
}

// messages are the JSON-RPC messages of an answer, JSON or SSE.
func (r rawResp) messages(t *testing.T) []map[string]json.RawMessage {
	t.Helper()
	var raw [][]byte
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
		sc := bufio.NewScanner(bytes.NewReader(r.body))
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data:"); ok && strings.TrimSpace(data) != "" {
				raw = append(raw, []byte(data))
			}
		}
	} else if len(bytes.TrimSpace(r.body)) > 0 {
		raw = append(raw, r.body)
	}
	var out []map[string]json.RawMessage
	for _, b := range raw {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("answer %q is not JSON-RPC: %v", b, err)
		}
		out = append(out, m)
	}
	return out
}

// result is the result of the answer's response, which must be one.
func (r rawResp) result(t *testing.T, v any) {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d (%s), want 200", r.status, r.body)
	}
	for _, m := range r.messages(t) {
		if _, ok := m["id"]; !ok {
			continue
		}
		if e, ok := m["error"]; ok {
			t.Fatalf("error %s", e)
		}
		if err := json.Unmarshal(m["result"], v); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatalf("no response in %q", r.body)
}

// edgeError is the JSON-RPC body of an HTTP refusal.
type edgeError struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   struct {
		Code    int64  `json:"code"`
		Message string `json:"message"`
		Data    struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		} `json:"data"`
	} `json:"error"`
}

// wantRefusal checks r is an HTTP refusal with a JSON-RPC error body.
func (r rawResp) wantRefusal(t *testing.T, status int, code string, parts ...string) edgeError {
	t.Helper()
	var e edgeError
	if r.status != status {
		t.Errorf("status %d, want %d (body %q)", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json (body %q)", ct, r.body)
	}
	if err := json.Unmarshal(r.body, &e); err != nil {
		t.Errorf("body %q is not a JSON-RPC error: %v", r.body, err)
		return e
	}
	rpc := int64(jsonrpc.CodeInvalidRequest)
	if status >= 500 {
		rpc = jsonrpc.CodeInternalError
	}
	if e.JSONRPC != "2.0" || string(e.ID) != "null" || e.Error.Code != rpc || e.Error.Data.Status != status || e.Error.Data.Code != code {
		t.Errorf("body %s: want a JSON-RPC error %d, id null, data {status %d, code %s}", r.body, rpc, status, code)
	}
	for _, p := range parts {
		if !strings.Contains(e.Error.Message, p) {
			t.Errorf("message %q does not contain %q", e.Error.Message, p)
		}
	}
	return e
}

// open initializes a session as bearer and returns its id.
func open(t *testing.T, hs *httptest.Server, bearer string) string {
	t.Helper()
	r := do(t, hs, rawReq{bearer: bearer, body: initRequest})
	var res mcp.InitializeResult
	r.result(t, &res)
	if res.ProtocolVersion != sessionEra {
		t.Fatalf("initialize negotiated %q", res.ProtocolVersion)
	}
	id := r.header.Get("Mcp-Session-Id")
	if id == "" {
		t.Fatal("initialize answered no Mcp-Session-Id")
	}
	if r := do(t, hs, rawReq{bearer: bearer, session: id, version: sessionEra, body: initialized}); r.status != http.StatusAccepted {
		t.Fatalf("notifications/initialized: status %d (%s)", r.status, r.body)
	}
	return id
}

// hold keeps a GET stream of session id open (a request in flight) until
// the returned func or the test ends.
func hold(t *testing.T, hs *httptest.Server, bearer, id string) (release func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hs.URL+"/mcp/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Mcp-Session-Id", id)
	req.Header.Set("Mcp-Protocol-Version", sessionEra)
	resp, err := hs.Client().Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		cancel()
		t.Fatalf("GET: status %d", resp.StatusCode)
	}
	release = sync.OnceFunc(func() {
		cancel()
		resp.Body.Close()
	})
	t.Cleanup(release)
	return release
}

// eventually polls cond until it holds, for a bounded time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", wait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func ping(t *testing.T, hs *httptest.Server, bearer, id string) rawResp {
	t.Helper()
	return do(t, hs, rawReq{bearer: bearer, session: id, version: sessionEra, body: pingRequest})
}

// wantVersionError checks the refusal of an unknown protocol version: 400,
// -32022 with the request's id, data {supported, requested}.
func wantVersionError(t *testing.T, r rawResp, version string) {
	t.Helper()
	var body struct {
		ID    json.RawMessage `json:"id"`
		Error struct {
			Code    int64                              `json:"code"`
			Message string                             `json:"message"`
			Data    mcp.UnsupportedProtocolVersionData `json:"data"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || r.status != http.StatusBadRequest {
		t.Fatalf("status %d, body %s", r.status, r.body)
	}
	if body.Error.Code != mcp.CodeUnsupportedProtocolVersion || string(body.ID) == "null" || len(body.ID) == 0 ||
		body.Error.Data.Requested != version || !slices.Contains(body.Error.Data.Supported, sessionEra) ||
		!strings.Contains(body.Error.Message, version) {
		t.Errorf("version refusal: %s", r.body)
	}
}

func TestEdge(t *testing.T) {
	t.Parallel()
	const maxBody = 1024
	h := newHarness(t, setup{auth: bearerAuth{}, edge: EdgeConfig{MaxSessions: 2, MaxBodyBytes: maxBody,
		AllowedOrigins: []string{"https://ok.example"}, AllowedHosts: []string{"mcp.internal"}}})
	big := `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"` + strings.Repeat("x", 4*maxBody) + `"}}`

	t.Run("unsupported protocol version", func(t *testing.T) {
		t.Parallel()
		r := do(t, h.hs, rawReq{bearer: "v1", version: "1999-01-01", body: initRequest})
		wantVersionError(t, r, "1999-01-01")
	})

	t.Run("version header in a session", func(t *testing.T) {
		t.Parallel()
		id := open(t, h.hs, "v2")
		// Absent, the version the session negotiated applies (as the
		// engine documents in serveSession; the spec's transport rules
		// allow it).
		if r := do(t, h.hs, rawReq{bearer: "v2", session: id, body: pingRequest}); r.status != http.StatusOK {
			t.Errorf("ping without the version header: status %d (%s)", r.status, r.body)
		}
		wantVersionError(t, do(t, h.hs, rawReq{bearer: "v2", session: id, version: "2024-01-01", body: pingRequest}), "2024-01-01")
		if r := ping(t, h.hs, "v2", id); r.status != http.StatusOK {
			t.Errorf("ping with the right header: status %d (%s)", r.status, r.body)
		}
	})

	t.Run("origin", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			origin string
			ok     bool
		}{
			{"https://evil.example", false},
			{"http://localhost:1", false},
			{"https://ok.example", true},
			{h.hs.URL, true}, // its own
		}
		for _, tc := range tests {
			r := do(t, h.hs, rawReq{bearer: "o", origin: tc.origin, body: initRequest})
			if tc.ok {
				if r.status != http.StatusOK {
					t.Errorf("origin %s: status %d (%s), want 200", tc.origin, r.status, r.body)
				} else if id := r.header.Get("Mcp-Session-Id"); id != "" {
					do(t, h.hs, rawReq{method: http.MethodDelete, bearer: "o", session: id, version: sessionEra})
				}
				continue
			}
			r.wantRefusal(t, http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("origin %q may not use this endpoint", tc.origin))
		}
	})

	t.Run("host", func(t *testing.T) {
		t.Parallel()
		tests := []struct {
			host string
			ok   bool
		}{
			{"evil.example", false},
			{"evil.example:80", false},
			{"localhost", true},
			{"mcp.internal:8080", true},
			{"", true}, // 127.0.0.1:port
		}
		for _, tc := range tests {
			r := do(t, h.hs, rawReq{bearer: "hosts", host: tc.host, version: statelessEra, body: pingRequest})
			if tc.ok {
				if r.status == http.StatusForbidden {
					t.Errorf("host %q refused: %s", tc.host, r.body)
				}
				continue
			}
			r.wantRefusal(t, http.StatusForbidden, "FORBIDDEN", fmt.Sprintf("the Host header %q is not a loopback name", tc.host), "DNS-rebinding")
		}
	})

	t.Run("body limit", func(t *testing.T) {
		t.Parallel()
		id := open(t, h.hs, "body")
		tests := []struct {
			name string
			req  rawReq
		}{
			{"new session, Content-Length", rawReq{bearer: "body", body: big}},
			{"new session, chunked", rawReq{bearer: "body", body: big, chunked: true}},
			{"session, Content-Length", rawReq{bearer: "body", session: id, version: sessionEra, body: big}},
			{"session, chunked", rawReq{bearer: "body", session: id, version: sessionEra, body: big, chunked: true}},
			{"stateless, Content-Length", rawReq{bearer: "body", version: statelessEra, body: big}},
			{"stateless, chunked", rawReq{bearer: "body", version: statelessEra, body: big, chunked: true}},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := do(t, h.hs, tc.req)
				r.wantRefusal(t, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE", fmt.Sprintf("over the limit of %d bytes", maxBody))
			})
		}
	})

	t.Run("session of another principal", func(t *testing.T) {
		t.Parallel()
		id := open(t, h.hs, "alice")
		ping(t, h.hs, "mallory", id).wantRefusal(t, http.StatusForbidden, "FORBIDDEN", "belongs to another principal")
		do(t, h.hs, rawReq{method: http.MethodDelete, bearer: "mallory", session: id, version: sessionEra}).
			wantRefusal(t, http.StatusForbidden, "FORBIDDEN", "belongs to another principal")
		if r := ping(t, h.hs, "alice", id); r.status != http.StatusOK {
			t.Errorf("its owner: status %d (%s)", r.status, r.body)
		}
	})

	t.Run("unknown session", func(t *testing.T) {
		t.Parallel()
		ping(t, h.hs, "u", "no-such-session").wantRefusal(t, http.StatusNotFound, "SESSION_NOT_FOUND", `session "no-such-session" is not open on project p`)
	})

	t.Run("delete", func(t *testing.T) {
		t.Parallel()
		id := open(t, h.hs, "del")
		if r := ping(t, h.hs, "del", id); r.status != http.StatusOK {
			t.Fatalf("ping: status %d (%s)", r.status, r.body)
		}
		if r := do(t, h.hs, rawReq{method: http.MethodDelete, bearer: "del", session: id, version: sessionEra}); r.status != http.StatusNoContent {
			t.Fatalf("DELETE: status %d (%s)", r.status, r.body)
		}
		ping(t, h.hs, "del", id).wantRefusal(t, http.StatusNotFound, "SESSION_NOT_FOUND")
	})

	t.Run("sessions per principal", func(t *testing.T) {
		t.Parallel()
		s1 := open(t, h.hs, "carol")
		s2 := open(t, h.hs, "carol")
		// At the limit, the least recently used idle session makes room.
		s3 := open(t, h.hs, "carol")
		eventually(t, "the evicted session answers 404", func() bool { return ping(t, h.hs, "carol", s1).status == http.StatusNotFound })
		ping(t, h.hs, "carol", s1).wantRefusal(t, http.StatusNotFound, "SESSION_NOT_FOUND")
		// With a request in flight on each, none can make room.
		hold(t, h.hs, "carol", s2)
		release3 := hold(t, h.hs, "carol", s3)
		r := do(t, h.hs, rawReq{bearer: "carol", body: initRequest})
		r.wantRefusal(t, http.StatusTooManyRequests, "TOO_MANY_SESSIONS", "User:carol holds 2 open sessions, all busy")
		if got := r.header.Get("Retry-After"); got != "60" {
			t.Errorf("Retry-After %q, want 60", got)
		}
		open(t, h.hs, "dave") // another principal still can
		// Once s3 is idle again, it makes room.
		release3()
		eventually(t, "a new session once one is idle", func() bool {
			r := do(t, h.hs, rawReq{bearer: "carol", body: initRequest})
			return r.status == http.StatusOK
		})
		eventually(t, "the evicted session answers 404", func() bool { return ping(t, h.hs, "carol", s3).status == http.StatusNotFound })
		if r := ping(t, h.hs, "carol", s2); r.status != http.StatusOK {
			t.Errorf("the busy session: status %d (%s)", r.status, r.body)
		}
	})

	t.Run("authentication", func(t *testing.T) {
		t.Parallel()
		for _, bearer := range []string{"", "bad"} {
			do(t, h.hs, rawReq{bearer: bearer, body: initRequest}).wantRefusal(t, http.StatusUnauthorized, "UNAUTHENTICATED", authMessage)
		}
	})

	t.Run("unknown project", func(t *testing.T) {
		t.Parallel()
		for _, v := range []string{"", statelessEra} {
			do(t, h.hs, rawReq{project: "nope", bearer: "x", version: v, body: initRequest}).wantRefusal(t, http.StatusNotFound, "NOT_FOUND", `project "nope" does not exist`)
		}
	})
}

func TestEdgeSessionIdle(t *testing.T) {
	t.Parallel()
	const idle = 200 * time.Millisecond
	h := newHarness(t, setup{edge: EdgeConfig{SessionIdle: idle}})
	id := open(t, h.hs, "")
	// Requests keep it open.
	for range 3 {
		time.Sleep(idle / 2)
		if r := ping(t, h.hs, "", id); r.status != http.StatusOK {
			t.Fatalf("ping of a session in use: status %d (%s)", r.status, r.body)
		}
	}
	deadline := time.Now().Add(wait)
	for h.edge.Sessions()["p"] > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("the session is still open %s after its last use; SessionIdle is %s", wait, idle)
		}
		time.Sleep(idle / 4)
	}
	ping(t, h.hs, "", id).wantRefusal(t, http.StatusNotFound, "SESSION_NOT_FOUND")
}

// ---- 13. sessions another replica resumes --------------------------------

func TestSessionStore(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	h := newHarness(t, setup{auth: bearerAuth{}, store: st, edge: EdgeConfig{Node: "n1"}})
	before := time.Now()
	id := open(t, h.hs, "alice")

	rec := st.waitPut(t, id)
	want := SessionRecord{ID: id, Project: "p", Subject: "User:alice", Version: sessionEra, Node: "n1"}
	if diff := cmp.Diff(want, rec, cmpopts.IgnoreFields(SessionRecord{}, "Init", "CreatedAt", "LastSeen")); diff != "" {
		t.Errorf("record (-want +got):\n%s", diff)
	}
	if rec.CreatedAt.Before(before) || rec.LastSeen.Before(before) {
		t.Errorf("record times %s, %s are before the session", rec.CreatedAt, rec.LastSeen)
	}
	var init mcp.InitializeParams
	if err := json.Unmarshal(rec.Init, &init); err != nil || init.ClientInfo == nil || init.ClientInfo.Name != "raw" || init.ProtocolVersion != sessionEra {
		t.Errorf("record Init %s (%v): want the client's initialize params", rec.Init, err)
	}

	// Another replica of the same engine, and a replica with an engine of
	// its own over the same servers.
	_, sameEngine := h.serve(t, EdgeConfig{Node: "n2"}, bearerAuth{}, st)
	g2, _ := h.newGateway(t)
	_, otherEngine := serveEdge(t, NewEdge(EdgeConfig{Node: "n3"}, g2, bearerAuth{}, st, nil))

	for _, tc := range []struct {
		name string
		hs   *httptest.Server
		node string
	}{{"same engine", sameEngine, "n2"}, {"other engine", otherEngine, "n3"}} {
		t.Run(tc.name, func(t *testing.T) {
			// The stranger first: the session is not open on the replica
			// yet, so only the record can tell.
			do(t, tc.hs, rawReq{bearer: "mallory", session: id, version: sessionEra, body: echoRequest("x")}).
				wantRefusal(t, http.StatusForbidden, "FORBIDDEN", "belongs to another principal")
			var res mcp.CallToolResult
			do(t, tc.hs, rawReq{bearer: "alice", session: id, version: sessionEra, body: echoRequest("resumed")}).result(t, &res)
			if len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != "a:resumed" {
				t.Errorf("tools/call on the replica = %+v", res.Content)
			}
			events := h.audit.all()
			if e := events[len(events)-1]; e.Principal.Subject != "User:alice" || e.SessionID != id || e.Name != "echo" {
				t.Errorf("audit event of the resumed call: %+v, want principal User:alice, session %s, tool echo", e, id)
			}
			rec, _, _ := st.GetSession(context.Background(), id)
			if rec.Node != tc.node || rec.Subject != "User:alice" {
				t.Errorf("record after resuming: node %q subject %q, want %q User:alice", rec.Node, rec.Subject, tc.node)
			}
			do(t, tc.hs, rawReq{bearer: "mallory", session: id, version: sessionEra, body: echoRequest("x")}).
				wantRefusal(t, http.StatusForbidden, "FORBIDDEN", "belongs to another principal")
		})
	}
}

// Requests that reach a replica at once with a session it has not seen
// resume the session once: one session, counted once for its principal.
func TestConcurrentResume(t *testing.T) {
	t.Parallel()
	st := newMemStore()
	h := newHarness(t, setup{auth: bearerAuth{}, store: st, edge: EdgeConfig{Node: "n1"}})
	id := open(t, h.hs, "alice")
	st.waitPut(t, id)
	e2, hs2 := h.serve(t, EdgeConfig{Node: "n2"}, bearerAuth{}, st)
	st.getDelay = 50 * time.Millisecond // every request reads the record before any resumes

	const n = 8
	var wg sync.WaitGroup
	answers := make([]string, n)
	for i := range n {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodPost, hs2.URL+"/mcp/p", strings.NewReader(strings.Replace(echoRequest(fmt.Sprintf("r%d", i)), `"id":3`, fmt.Sprintf(`"id":%d`, 10+i), 1)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Mcp-Session-Id", id)
			req.Header.Set("Authorization", "Bearer alice")
			resp, err := hs2.Client().Do(req)
			if err != nil {
				answers[i] = err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answers[i] = fmt.Sprintf("%d %s", resp.StatusCode, b)
		})
	}
	wg.Wait()
	for i, a := range answers {
		if !strings.HasPrefix(a, "200 ") || !strings.Contains(a, fmt.Sprintf("a:r%d", i)) {
			t.Errorf("request %d on the replica: %s", i, a)
		}
	}
	if got := e2.Sessions()["p"]; got != 1 {
		t.Errorf("the replica holds %d sessions of project p, want 1", got)
	}
	e2.mu.Lock()
	held := e2.perSubject["User:alice"]
	e2.mu.Unlock()
	if held != 1 {
		t.Errorf("the replica counts %d sessions of alice, want 1", held)
	}
}

// switchProjects serves one project, or none.
type switchProjects struct {
	mu sync.Mutex
	p  *Project
}

func (s *switchProjects) Project(_ context.Context, name string) (*Project, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.p == nil || s.p.Name != name {
		return nil, fmt.Errorf("project %s: %w", name, ErrNoProject)
	}
	return s.p, nil
}

func (s *switchProjects) set(p *Project) {
	s.mu.Lock()
	s.p = p
	s.mu.Unlock()
}

// A project deleted and created again gets a new view; the stateless
// handler of the old one is dropped, not kept for ever.
func TestStatelessHandlersOfGoneViews(t *testing.T) {
	t.Parallel()
	src := &switchProjects{p: &Project{Name: "p"}}
	g := New(Config{ConfigTTL: time.Millisecond}, Deps{Projects: src, Upstreams: NewTransportDialer(nil)})
	t.Cleanup(g.Close)
	e, hs := serveEdge(t, NewEdge(EdgeConfig{}, g, nil, nil, nil))
	handlers := func() int {
		e.statelessMu.Lock()
		defer e.statelessMu.Unlock()
		return len(e.stateless)
	}
	for round := range 3 {
		cs := client(t, hs, statelessEra, nil, "")
		if _, err := cs.ListTools(testCtx(t), nil); err != nil {
			t.Fatalf("round %d: tools/list: %v", round, err)
		}
		cs.Close()
		if n := handlers(); n != 1 {
			t.Errorf("round %d: %d stateless handlers, want 1", round, n)
		}
		src.set(nil)
		time.Sleep(5 * time.Millisecond)
		do(t, hs, rawReq{version: statelessEra, body: pingRequest}).wantRefusal(t, http.StatusNotFound, "NOT_FOUND", `project "p" does not exist`)
		src.set(&Project{Name: "p"})
	}
}
