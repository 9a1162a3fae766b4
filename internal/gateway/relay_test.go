package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
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
	c := &samplingClient{name: "c1"}
	cs := h.client(t, sessionEra, c.options())
	if got := callText(ctx, t, cs, "a__sample", map[string]any{}); got != "sampled: answer-from-c1" {
		t.Errorf("a__sample = %q", got)
	}
	if got := callText(ctx, t, cs, "a__elicit", map[string]any{}); got != "elicited: accept c1" {
		t.Errorf("a__elicit = %q", got)
	}

	var wg sync.WaitGroup
	var results [2]string
	for i := range 2 {
		sc := &samplingClient{name: fmt.Sprintf("d%d", i+1)}
		cs := h.client(t, sessionEra, sc.options())
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
	for i, r := range results {
		if want := fmt.Sprintf("sampled: answer-from-d%d", i+1); r != want {
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

// An upstream that ends its event stream before answering is resumed
// with Last-Event-ID, as the SDK client does (a hand-written server: the
// go-sdk's does not close streams on its own).
func TestRelayResumesStream(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gets []string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPost:
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: s1_0\nretry: 10\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":\"x\",\"progress\":1}}\n\n")
		case http.MethodGet:
			mu.Lock()
			gets = append(gets, r.Header.Get("Last-Event-ID")+" "+r.Header.Get(headerSession))
			mu.Unlock()
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "id: s1_1\ndata: {\"jsonrpc\":\"2.0\",\"id\":\"mcpctl-r\",\"result\":{\"content\":[]}}\n\n")
		}
	}))
	defer up.Close()
	g := New(Config{}, Deps{})
	u := &httpUpstream{endpoint: up.URL, client: up.Client()}
	c := &call{up: "mcpctl-r", touch: func() {}}
	result, rpcErr, err := g.relayTo(t.Context(), u, upSession{id: "sess-1", version: UpstreamProtocolVersion}, c, ref{"s", "t"}, nil, nil)
	if err != nil || rpcErr != nil || string(result) != `{"content":[]}` {
		t.Fatalf("relayTo = %s, %s, %v; want the result of the resumed stream", result, rpcErr, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(gets) != 1 || gets[0] != "s1_0 sess-1" {
		t.Errorf("resumptions %q, want one from s1_0 on session sess-1", gets)
	}
}
