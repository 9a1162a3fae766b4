//lint:file-ignore SA1019 tests of forwarding logging (deprecated in 2026-07-28, alive in the session era)

package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	dto "github.com/prometheus/client_model/go"
)

// relayHarness is the harness over Streamable HTTP upstreams, where the
// relay serves session-era tools/call.
func relayHarness(t *testing.T, s setup) *harness {
	s.transport = streamable
	return newHarness(t, s)
}

func TestRelayServesCalls(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := relayHarness(t, setup{})
	cs := h.client(t, sessionEra, nil)

	if got := callText(ctx, t, cs, "a__echo", map[string]any{"text": "hi"}); got != "a:hi" {
		t.Errorf("a__echo = %q", got)
	}
	if got := callText(ctx, t, cs, "b__args", map[string]any{"n": 1, "s": "x"}); got != `{"n":1,"s":"x"}` {
		t.Errorf("b__args = %q (the arguments must reach the server as sent)", got)
	}
	if n := relayed(h.g); n != 2 {
		t.Errorf("relayed %d calls, want 2", n)
	}

	// A tool that fails its schema answers a tool error, and the audit
	// says so.
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__echo", Arguments: map[string]any{"text": 5}})
	if err != nil {
		t.Fatalf("a__echo with a number: %v", err)
	}
	if !res.IsError {
		t.Errorf("a__echo with a number: %+v, want a tool error", res)
	}
	evs := h.audit.all()
	if len(evs) != 3 {
		t.Fatalf("audit events %+v, want 3", evs)
	}
	want := []struct{ server, name, outcome, detail string }{
		{"a", "echo", OutcomeOK, `{"text":"string"}`},
		{"b", "args", OutcomeOK, `{"n":"number","s":"string"}`},
		{"a", "echo", OutcomeToolError, `{"text":"number"}`},
	}
	for i, w := range want {
		e := evs[i]
		if e.Server != w.server || e.Name != w.name || e.Outcome != w.outcome || e.Detail != w.detail || e.Method != "tools/call" ||
			e.Project != "p" || e.SessionID != cs.ID() || e.Principal.Subject != "anonymous" {
			t.Errorf("audit event %d = %+v, want %+v in project p, session %s", i, e, w, cs.ID())
		}
	}

	// The SDK serves what the relay does not: a call asking for progress,
	// an unknown or denied tool, and every call once the client set a log
	// level.
	before := relayed(h.g)
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__echo", Arguments: map[string]any{"text": "p"}, Meta: mcp.Meta{"progressToken": "t1"}}); err != nil {
		t.Fatalf("call with a progress token: %v", err)
	}
	_, err = cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__nope", Arguments: map[string]any{}})
	wantRPCError(t, err, jsonrpc.CodeInvalidParams, `unknown tool "a__nope"`)
	if err := cs.SetLoggingLevel(ctx, &mcp.SetLoggingLevelParams{Level: "debug"}); err != nil {
		t.Fatal(err)
	}
	if got := callText(ctx, t, cs, "a__echo", map[string]any{"text": "after"}); got != "a:after" {
		t.Errorf("a__echo after setLevel = %q", got)
	}
	if n := relayed(h.g); n != before {
		t.Errorf("relayed %d more calls, want none", n-before)
	}
	// Another session, with no level, is relayed again.
	other := h.client(t, sessionEra, nil)
	callText(ctx, t, other, "a__echo", map[string]any{"text": "again"})
	if n := relayed(h.g); n != before+1 {
		t.Errorf("relayed %d calls of the other session, want 1", n-before)
	}
}

func TestRelayNotForPerSessionOrStdio(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := relayHarness(t, setup{projects: staticProjects{"p": twoServers("__", v1.SessionPerSession)}})
	cs := h.client(t, sessionEra, nil)
	callText(ctx, t, cs, "a__echo", map[string]any{"text": "x"})
	if n := relayed(h.g); n != 0 {
		t.Errorf("relayed %d calls to a per-session server", n)
	}
	hs := newHarness(t, setup{transport: stdio})
	callText(ctx, t, hs.client(t, sessionEra, nil), "a__echo", map[string]any{"text": "x"})
	if n := relayed(hs.g); n != 0 {
		t.Errorf("relayed %d calls to a STDIO server", n)
	}
}

func TestRelayMaxResponseBytes(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	a := newUpstream("a")
	a.AddTool(&mcp.Tool{Name: "big", InputSchema: objectSchema}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return textResult(strings.Repeat("x", 10000)), nil
	})
	h := relayHarness(t, setup{upstreams: map[string]*mcp.Server{"a": a, "b": newUpstream("b")}, cfg: Config{MaxResponseBytes: 2048}})
	cs := h.client(t, sessionEra, nil)
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__big", Arguments: map[string]any{}})
	wantRPCError(t, err, jsonrpc.CodeInternalError, "the answer of server a to tool big is ", "over the gateway's limit of 2048 bytes")
	if n := relayed(h.g); n != 1 {
		t.Errorf("relayed %d calls, want 1", n)
	}
	if evs := h.audit.all(); len(evs) != 1 || evs[0].Outcome != OutcomeError || !strings.Contains(evs[0].Detail, "over the gateway's limit") {
		t.Errorf("audit %+v, want one error naming the limit", evs)
	}
}

// blockingUpstream is server a with a tool block that waits until its
// context ends and reports that on cancelled.
func blockingUpstream(cancelled chan<- string) *mcp.Server {
	a := newUpstream("a")
	a.AddTool(&mcp.Tool{Name: "block", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
			cancelled <- "cancelled"
		case <-time.After(wait):
		}
		return textResult("done"), nil
	})
	return a
}

func TestRelayTimeoutCancelsUpstream(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cancelled := make(chan string, 1)
	h := relayHarness(t, setup{upstreams: map[string]*mcp.Server{"a": blockingUpstream(cancelled), "b": newUpstream("b")}, cfg: Config{CallTimeout: 300 * time.Millisecond}})
	cs := h.client(t, sessionEra, nil)
	_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "a__block", Arguments: map[string]any{}})
	wantRPCError(t, err, CodeRequestTimeout, "server a did not answer tool block within 300ms", "cancelled on the server")
	recv(t, cancelled, "the cancellation at the server")
	if n := relayed(h.g); n != 1 {
		t.Errorf("relayed %d calls, want 1", n)
	}
}

func TestRelayClientCancelReachesUpstream(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	cancelled := make(chan string, 1)
	h := relayHarness(t, setup{upstreams: map[string]*mcp.Server{"a": blockingUpstream(cancelled), "b": newUpstream("b")}})
	cs := h.client(t, sessionEra, nil)
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := cs.CallTool(cctx, &mcp.CallToolParams{Name: "a__block", Arguments: map[string]any{}})
		done <- err
	}()
	eventually(t, "the call in flight", func() bool { return h.g.linkCalls("a") == 1 })
	cancel()
	recv(t, cancelled, "the cancellation at the server")
	if err := recv(t, done, "the call's end"); err == nil {
		t.Error("a cancelled call succeeded")
	}
	// The session goes on.
	if got := callText(ctx, t, cs, "a__echo", map[string]any{"text": "next"}); got != "a:next" {
		t.Errorf("a__echo after a cancelled call = %q", got)
	}
	if n := relayed(h.g); n != 2 {
		t.Errorf("relayed %d calls, want 2", n)
	}
}

// relayed counts the calls g's relay served.
func relayed(g *Gateway) int {
	var m dto.Metric
	if err := g.metrics.Relayed.Write(&m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}

// linkCalls counts the calls in flight on server's shared session.
func (g *Gateway) linkCalls(server string) int {
	n := 0
	g.links.Range(func(_, v any) bool {
		if l := v.(*link); l.server == server && l.owner == nil {
			n += l.inFlight()
		}
		return true
	})
	return n
}

// On the relay, a server's request arrives on the call's own stream, so
// it is attributed to that call even when several clients' calls are in
// flight on the shared session (through the SDK it must be refused).
func TestRelayForwardsServerRequests(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := relayHarness(t, setup{upstreams: map[string]*mcp.Server{"a": samplingUpstream(), "b": newUpstream("b")}})
	sampleAndElicit(ctx, t, h)

	results, _ := sample2Twice(ctx, t, h)
	for i, r := range results {
		if want := fmt.Sprintf("sampled: answer-from-c%d", i+1); r != want {
			t.Errorf("client %d: upstream saw %q, want %q", i+1, r, want)
		}
	}
	if n := relayed(h.g); n != 4 {
		t.Errorf("relayed %d calls, want 4", n)
	}

	// A client that cannot sample gets the SDK's refusal, as through the SDK.
	plain := h.client(t, sessionEra, nil)
	if got := callText(ctx, t, plain, "a__sample", map[string]any{}); !strings.HasPrefix(got, "refused: ") {
		t.Errorf("a__sample from a client without sampling = %q, want a refusal", got)
	}
}

// relayAgainst relays one call to a hand-written upstream (the go-sdk's
// server never closes or breaks a stream on its own) and returns what
// relayTo returned.
func relayAgainst(t *testing.T, h http.HandlerFunc) (result, rpcErr json.RawMessage, err error) {
	t.Helper()
	up := httptest.NewServer(h)
	t.Cleanup(up.Close)
	g := New(Config{}, Deps{})
	u := &httpUpstream{endpoint: up.URL, client: up.Client(), retries: 2}
	c := &call{up: "mcpctl-r", touch: func() {}}
	return g.relayTo(t.Context(), u, upSession{id: "sess-1", version: UpstreamProtocolVersion}, c, ref{"s", "t"}, nil, nil)
}

const (
	sseProgress = "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"mcpctl-r\",\"progress\":1}}\n\n"
	sseAnswer   = "data: {\"jsonrpc\":\"2.0\",\"id\":\"mcpctl-r\",\"result\":{\"content\":[]}}\n\n"
)

func sse(w http.ResponseWriter, events ...string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for _, e := range events {
		io.WriteString(w, e)
	}
}

// An upstream that ends its event stream before answering, or breaks
// it, is resumed with Last-Event-ID, as the SDK client does; the count
// of tries starts again whenever the stream moved on.
func TestRelayResumesStream(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gets []string
	result, rpcErr, err := relayAgainst(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost {
			var body map[string]any
			json.NewDecoder(r.Body).Decode(&body)
			if args := body["params"].(map[string]any)["arguments"]; fmt.Sprint(args) != "map[]" {
				t.Errorf("arguments sent %v, want {} (the client sent none)", args)
			}
			sse(w, "id: s1_0\nretry: 10\n"+sseProgress)
			return
		}
		gets = append(gets, r.Header.Get("Last-Event-ID")+" "+r.Header.Get(headerSession))
		n := len(gets)
		switch {
		case n <= 4: // closes with progress, more times than the retries
			sse(w, fmt.Sprintf("id: s1_%d\n", n)+sseProgress)
		case n == 5: // breaks without progress
			sse(w, ": partial")
			panic(http.ErrAbortHandler)
		default:
			sse(w, "event: ping\ndata: {}\n\n", "id: s1_9\n"+sseAnswer)
		}
	})
	if err != nil || rpcErr != nil || string(result) != `{"content":[]}` {
		t.Fatalf("relayTo = %s, %s, %v; want the result of the resumed stream", result, rpcErr, err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{"s1_0 sess-1", "s1_1 sess-1", "s1_2 sess-1", "s1_3 sess-1", "s1_4 sess-1", "s1_4 sess-1"}
	if fmt.Sprint(gets) != fmt.Sprint(want) {
		t.Errorf("resumptions %q, want %q", gets, want)
	}
}

// An event counts once whole: a stream cut inside one resumes from the
// event before it, so the cut event (here the answer) comes again.
func TestRelayResumesFromWholeEvents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gets []string
	result, _, err := relayAgainst(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			sse(w, "id: s1_0\n"+sseProgress, "id: s1_1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"mcpctl-r\",")
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		mu.Lock()
		gets = append(gets, r.Header.Get("Last-Event-ID"))
		mu.Unlock()
		sse(w, "id: s1_1\n"+sseAnswer)
	})
	if err != nil || string(result) != `{"content":[]}` {
		t.Fatalf("relayTo = %s, %v; want the answer sent again", result, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if fmt.Sprint(gets) != "[s1_0]" {
		t.Errorf("resumed from %q, want s1_0 (s1_1 never arrived whole)", gets)
	}
}

// A resumption the server refuses (the session is gone) ends the call at
// once, naming both.
func TestRelayResumptionRefused(t *testing.T) {
	t.Parallel()
	var gets atomic.Int32
	_, _, err := relayAgainst(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			sse(w, "id: s1_0\n"+sseProgress)
			return
		}
		gets.Add(1)
		http.Error(w, "session not found", http.StatusNotFound)
	})
	if err == nil || !strings.Contains(err.Error(), "server s ended its answer stream without answering, and refused its resumption: HTTP 404: session not found") || gets.Load() != 1 {
		t.Errorf("relayTo after %d resumptions: %v, want one refused", gets.Load(), err)
	}
}

// A session that ended takes no more relayed calls (the SDK answers for
// it), and its calls in flight are cancelled.
func TestRelayedCallsOfAnEndedSession(t *testing.T) {
	s := &edgeSession{}
	var cause error
	ctx, cancel := context.WithCancelCause(context.Background())
	if ok, gone := s.trackRelayed(json.RawMessage("1"), cancel); !ok || gone {
		t.Fatalf("track on a live session: %v %v", ok, gone)
	}
	s.cancelAllRelayed()
	if cause = context.Cause(ctx); cause == nil || !strings.Contains(fmt.Sprint(cause.(*clientCancel).reason), "session ended") {
		t.Errorf("cause of the call in flight: %v", cause)
	}
	if ok, gone := s.trackRelayed(json.RawMessage("2"), func(error) {}); ok || !gone {
		t.Errorf("track on an ended session: %v %v, want refused as gone", ok, gone)
	}
}

func TestRelayGivesUpResuming(t *testing.T) {
	t.Parallel()
	_, _, err := relayAgainst(t, func(w http.ResponseWriter, r *http.Request) {
		sse(w, "id: s1_0\n"+sseProgress) // and never anything new
	})
	if err == nil || !strings.Contains(err.Error(), "server s ended its answer stream without answering, and resuming it failed 2 times") {
		t.Errorf("relayTo: %v, want it to give up after 2 tries", err)
	}
	_, _, err = relayAgainst(t, func(w http.ResponseWriter, r *http.Request) { sse(w, sseProgress) })
	if err == nil || !strings.Contains(err.Error(), "ended its answer stream without answering") {
		t.Errorf("relayTo of a stream with no event ids: %v, want an error", err)
	}
}

func TestRelayAnswers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, contentType, body string
		status                  int
		result, rpcErr, err     string
	}{
		{name: "JSON answer", body: `{"jsonrpc":"2.0","id":"mcpctl-r","result":{"content":[{"type":"text","text":"x"}]}}`,
			result: `{"content":[{"type":"text","text":"x"}]}`},
		{name: "null error beside a result", body: `{"jsonrpc":"2.0","id":"mcpctl-r","result":{"content":[]},"error":null}`, result: `{"content":[]}`},
		{name: "null result", body: `{"jsonrpc":"2.0","id":"mcpctl-r","result":null}`, result: `{"content":[]}`},
		{name: "no content", body: `{"jsonrpc":"2.0","id":"mcpctl-r","result":{"isError":true}}`, result: `{"content":[],"isError":true}`},
		{name: "empty result", body: `{"jsonrpc":"2.0","id":"mcpctl-r","result":{}}`, result: `{"content":[]}`},
		{name: "null content", body: `{"jsonrpc":"2.0","id":"mcpctl-r","result":{"content":null,"isError":true}}`, result: `{"content":[],"isError":true}`},
		{name: "content only deeper down", body: `{"jsonrpc":"2.0","id":"mcpctl-r","result":{"structuredContent":{"content":[1]}}}`,
			result: `{"content":[],"structuredContent":{"content":[1]}}`},
		{name: "JSON-RPC error", body: `{"jsonrpc":"2.0","id":"mcpctl-r","error":{"code":-32602,"message":"bad"}}`, rpcErr: `{"code":-32602,"message":"bad"}`},
		{name: "refusal with a JSON-RPC error", status: http.StatusForbidden,
			body: `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"token of another project","data":{"status":403}}}`,
			err:  "token of another project"},
		{name: "refusal in plain text", status: http.StatusBadGateway, body: "upstream down", err: "HTTP 502: upstream down"},
		{name: "not JSON-RPC", body: `<html>`, err: "server s answered tool t with something else"},
		{name: "empty body", body: ` `, err: "server s answered tool t with an empty body, not JSON-RPC"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			result, rpcErr, err := relayAgainst(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if tc.status != 0 {
					w.WriteHeader(tc.status)
				}
				io.WriteString(w, tc.body)
			})
			if string(result) != tc.result || string(rpcErr) != tc.rpcErr || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
				t.Errorf("relayTo = %s, %s, %v; want %s, %s, %q", result, rpcErr, err, tc.result, tc.rpcErr, tc.err)
			}
		})
	}
}

// holdingUpstream is server a with a tool hold that waits for release,
// reporting "cancelled" or "finished" on seen.
func holdingUpstream(release <-chan struct{}, seen chan<- string) *mcp.Server {
	a := newUpstream("a")
	a.AddTool(&mcp.Tool{Name: "hold", InputSchema: objectSchema}, func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		select {
		case <-ctx.Done():
			seen <- "cancelled"
		case <-release:
			seen <- "finished"
		}
		return textResult("held"), nil
	})
	return a
}

// rawCall posts a tools/call with id on cs's session of h.
func rawCall(ctx context.Context, h *harness, cs *mcp.ClientSession, id int, tool string) (int, string, error) {
	body := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":{}}}`, id, tool)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.hs.URL+"/mcp/p", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set(headerSession, cs.ID())
	req.Header.Set(headerVersion, sessionEra)
	resp, err := h.hs.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// A client that disconnects has not cancelled its call (spec: transports,
// disconnection): the call runs to its end and is audited.
func TestRelayDisconnectIsNotCancel(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	release, seen := make(chan struct{}), make(chan string, 2)
	h := relayHarness(t, setup{upstreams: map[string]*mcp.Server{"a": holdingUpstream(release, seen), "b": newUpstream("b")}})
	cs := h.client(t, sessionEra, nil)
	callText(ctx, t, cs, "a__echo", map[string]any{"text": "warm"}) // the GET stream is open by now

	rctx, hangUp := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		_, _, err := rawCall(rctx, h, cs, 41, "a__hold")
		done <- err
	}()
	eventually(t, "the call in flight", func() bool { return h.g.linkCalls("a") == 1 })
	hangUp()
	recv(t, done, "the client's end")
	select {
	case s := <-seen:
		t.Fatalf("the server saw %s when the client hung up", s)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if s := recv(t, seen, "the call's end"); s != "finished" {
		t.Errorf("the server saw %s, want finished", s)
	}
	eventually(t, "the audit of the call", func() bool {
		for _, e := range h.audit.all() {
			if e.Name == "hold" && e.Outcome == OutcomeOK {
				return true
			}
		}
		return false
	})
	if n := relayed(h.g); n != 2 {
		t.Errorf("relayed %d calls, want 2", n)
	}
}

func TestRelayDuplicateID(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	release, seen := make(chan struct{}), make(chan string, 2)
	h := relayHarness(t, setup{upstreams: map[string]*mcp.Server{"a": holdingUpstream(release, seen), "b": newUpstream("b")}})
	cs := h.client(t, sessionEra, nil)
	callText(ctx, t, cs, "a__echo", map[string]any{"text": "warm"})
	first := make(chan string, 1)
	go func() {
		_, body, err := rawCall(ctx, h, cs, 7, "a__hold")
		first <- fmt.Sprint(body, err)
	}()
	eventually(t, "the call in flight", func() bool { return h.g.linkCalls("a") == 1 })
	status, body, err := rawCall(ctx, h, cs, 7, "a__echo")
	if err != nil || status != http.StatusBadRequest || !strings.Contains(body, `"code":-32600`) || !strings.Contains(body, "duplicate in-flight request ID 7") {
		t.Errorf("the same id again: %d %s %v, want 400 and -32600 naming the duplicate", status, body, err)
	}
	close(release)
	if got := recv(t, first, "the first call's answer"); !strings.Contains(got, `"id":7,"result"`) || !strings.Contains(got, "held") {
		t.Errorf("the first call answered %s", got)
	}
}

// Without a standalone stream, what the server asks during a call has no
// way to the client but the call's own stream: the SDK path serves it.
func TestRelayNeedsTheStandaloneStream(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	h := relayHarness(t, setup{})
	tr := &mcp.StreamableClientTransport{Endpoint: h.hs.URL + "/mcp/p", HTTPClient: h.hs.Client(), MaxRetries: -1, DisableStandaloneSSE: true}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "no-get", Version: "1"}, nil).Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: sessionEra})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if got := callText(ctx, t, cs, "a__echo", map[string]any{"text": "x"}); got != "a:x" {
		t.Errorf("a__echo = %q", got)
	}
	if n := relayed(h.g); n != 0 {
		t.Errorf("relayed %d calls of a client with no standalone stream", n)
	}
}
