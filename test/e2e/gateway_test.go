//lint:file-ignore SA1019 tests of forwarding sampling (deprecated in 2026-07-28, alive in the session era)

package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// bearer is an http.Client that sends a bearer token.
func bearer(tok string) *http.Client {
	return &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+tok)
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// mcpConnect opens a go-sdk client session on an MCP endpoint.
func mcpConnect(t *testing.T, url, tok, version string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, opts)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: bearer(tok), MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect %s (%s): %v", url, version, err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) []string {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tl := range res.Tools {
		names = append(names, tl.Name)
	}
	slices.Sort(names)
	return names
}

func callText(t *testing.T, cs *mcp.ClientSession, tool string, args map[string]any) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return testbin.CallText(ctx, cs, tool, args)
}

// rpcPost sends one JSON-RPC message to an MCP endpoint with raw HTTP and
// returns the status, the session id and the body.
func rpcPost(t *testing.T, url, tok string, hdr map[string]string, body string) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), string(b)
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

// gatewayProject logs the CLI in to m (config in the returned directory)
// and applies servers alpha and beta (the test server over STDIO) and
// project demo merging them, beta's env tool denied; the api is the
// admin's.
func gatewayProject(t *testing.T, m *mcpd, bin string) (string, api) {
	t.Helper()
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	applyJSON(t, a,
		serverObj("alpha", map[string]any{"command": bin, "healthCheck": map[string]any{"interval": "2s"}}),
		serverObj("beta", map[string]any{"command": bin, "healthCheck": map[string]any{"interval": "2s"}}),
		map[string]any{"kind": "Project", "metadata": map[string]any{"name": "demo"}, "spec": map[string]any{
			"servers": []string{"alpha", "beta"}, "tools": map[string]any{"beta": map[string]any{"deny": []string{"env"}}}}},
		map[string]any{"kind": "Project", "metadata": map[string]any{"name": "other"}, "spec": map[string]any{"servers": []string{"alpha"}}},
		map[string]any{"kind": "Prompt", "metadata": map[string]any{"name": "hello", "project": "demo"}, "spec": map[string]any{"text": "Say hello."}},
	)
	return cfg, a
}

// TestGatewayEndToEnd drives mcpd's project endpoint with the go-sdk
// client in both protocol eras, over real STDIO instances, on both store
// engines: merged and filtered listing, calls, project prompts, progress,
// sampling, the token fence, audit events and metrics.
func TestGatewayEndToEnd(t *testing.T) {
	bin := testbin.MCPServer(t)
	instanceEngines(t, func(t *testing.T, m *mcpd) {
		cfg, a := gatewayProject(t, m, bin)
		tok := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "ci", "-p", "demo", "--rbac", "clone", "-o", "json"))
		url := m.URL + "/projects/demo/mcp"

		for _, version := range []string{"2025-11-25", "2026-07-28"} {
			t.Run(version, func(t *testing.T) {
				var mu sync.Mutex
				var progress []float64
				cs := mcpConnect(t, url, tok, version, &mcp.ClientOptions{
					ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
						mu.Lock()
						progress = append(progress, req.Params.Progress)
						mu.Unlock()
					},
					CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
						return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "hi from the client"}}, nil
					},
				})
				if got := cs.InitializeResult().ProtocolVersion; got != version {
					t.Errorf("negotiated %s, want %s", got, version)
				}
				names := toolNames(t, cs)
				for _, want := range []string{"alpha__echo", "alpha__env", "beta__echo", "beta__progress"} {
					if !slices.Contains(names, want) {
						t.Errorf("tools/list lacks %s: %v", want, names)
					}
				}
				if slices.Contains(names, "beta__env") {
					t.Errorf("tools/list shows the denied beta__env: %v", names)
				}
				if got, err := callText(t, cs, "beta__echo", map[string]any{"text": "through"}); err != nil || got != `{"text":"through"}` {
					t.Errorf("beta__echo = %q, %v", got, err)
				}
				_, err := callText(t, cs, "beta__env", map[string]any{"name": "PATH"})
				var werr *jsonrpc.Error
				if !errors.As(err, &werr) || werr.Code != jsonrpc.CodeInvalidParams || !strings.Contains(werr.Message, "denied") {
					t.Errorf("denied tool: %v", err)
				}
				if _, err := callText(t, cs, "nope__echo", nil); err == nil || !strings.Contains(err.Error(), "unknown tool") {
					t.Errorf("unknown tool: %v", err)
				}
				res, err := cs.GetPrompt(context.Background(), &mcp.GetPromptParams{Name: "hello"})
				if err != nil || len(res.Messages) != 1 || res.Messages[0].Content.(*mcp.TextContent).Text != "Say hello." {
					t.Errorf("project prompt: %+v %v", res, err)
				}
				// Progress comes back with the client's own token.
				pres, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "alpha__progress", Arguments: map[string]any{"steps": 3, "millis": 20},
					Meta: mcp.Meta{"progressToken": "mine"}})
				if err != nil || pres.IsError {
					t.Fatalf("progress call: %+v %v", pres, err)
				}
				eventually(t, 5*time.Second, "3 progress notifications", func() bool {
					mu.Lock()
					defer mu.Unlock()
					return len(progress) == 3
				})
				if version < "2026-07-28" {
					// Sampling reaches the client as a request in its session.
					if got, err := callText(t, cs, "alpha__sample", map[string]any{"prompt": "q"}); err != nil || !strings.Contains(got, "hi from the client") {
						t.Errorf("sampling through the gateway: %q %v", got, err)
					}
				}
			})
		}

		// The token fence: another project is 403, and so is the API.
		if code, _, body := rpcPost(t, m.URL+"/projects/other/mcp", tok, nil, initBody); code != http.StatusForbidden || !strings.Contains(body, "belongs to project demo") {
			t.Errorf("token on another project: %d %s", code, body)
		}
		if code, _, body := rpcPost(t, url, "", nil, initBody); code != http.StatusUnauthorized || !strings.Contains(body, `"jsonrpc":"2.0"`) {
			t.Errorf("no token: %d %s", code, body)
		}
		// A session is bound to its principal.
		code, sid, body := rpcPost(t, url, tok, nil, initBody)
		if code != 200 || sid == "" {
			t.Fatalf("initialize: %d %q %s", code, sid, body)
		}
		list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
		if code, _, body := rpcPost(t, url, a.token, map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}, list); code != http.StatusForbidden || !strings.Contains(body, "another principal") {
			t.Errorf("session of another principal: %d %s", code, body)
		}
		if code, _, body := rpcPost(t, url, tok, map[string]string{"Mcp-Session-Id": sid, "Mcp-Protocol-Version": "2025-11-25"}, list); code != 200 || !strings.Contains(body, "alpha__echo") {
			t.Errorf("own session: %d %s", code, body)
		}

		// Audit: one event per call, the denied one marked.
		eventually(t, 10*time.Second, "audit events of MCP calls", func() bool {
			code, out := a.do("GET", "/api/v1/audit?project=demo&tool=env", "")
			if code != 200 {
				return false
			}
			items, _ := out["items"].([]any)
			for _, it := range items {
				ev := it.(map[string]any)
				if ev["denied"] == true && ev["outcome"] == "denied" && ev["server"] == "beta" && ev["tokenName"] == "ci" && ev["action"] == "mcp.tools/call" {
					return true
				}
			}
			return false
		})
		var items []any
		eventually(t, 10*time.Second, "two audit events of echo calls", func() bool {
			code, out := a.do("GET", "/api/v1/audit?project=demo&tool=echo", "")
			items, _ = out["items"].([]any)
			return code == 200 && len(items) >= 2
		})
		if ev := items[0].(map[string]any); ev["detail"] != `{"text":"string"}` || ev["outcome"] != "ok" {
			t.Errorf("echo audit event: %v", ev)
		}
		code, h := a.do("GET", "/health", "")
		mcpH, _ := h["mcp"].(map[string]any)
		projects, _ := mcpH["projects"].(map[string]any)
		demo, _ := projects["demo"].(map[string]any)
		servers, _ := demo["servers"].(map[string]any)
		beta, _ := servers["beta"].(map[string]any)
		if code != 200 || demo["sessions"].(float64) < 1 || beta["calls"].(float64) < 2 || beta["denied"].(float64) < 1 || beta["meanLatencyMillis"].(float64) <= 0 {
			t.Errorf("/health mcp: %d %v", code, h["mcp"])
		}
		eventually(t, 5*time.Second, "gateway metrics", func() bool {
			resp, err := http.Get(m.URL + "/metrics")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return bytes.Contains(b, []byte(`mcpd_mcp_calls_total{method="tools/call",outcome="denied",project="demo",server="beta"}`)) &&
				bytes.Contains(b, []byte(`mcpd_mcp_sessions_active{project="demo"}`))
		})
	})
}

// TestGatewayBadInputs sends what the issue lists as bad input to the
// project endpoint and checks each answer names the problem.
func TestGatewayBadInputs(t *testing.T) {
	bin := testbin.MCPServer(t)
	m := startMcpd(t, "", append(instanceEnv, "MCPD_MCP_MAX_SESSIONS=5", "MCPD_MCP_CALL_TIMEOUT=2s")...)
	cfg, a := gatewayProject(t, m, bin)
	tok := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "ci", "-p", "demo", "--rbac", "clone", "-o", "json"))
	url := m.URL + "/projects/demo/mcp"

	t.Run("protocol version", func(t *testing.T) {
		code, _, body := rpcPost(t, url, tok, map[string]string{"Mcp-Protocol-Version": "1999-01-01"}, initBody)
		if code != http.StatusBadRequest || !strings.Contains(body, "not supported") || !strings.Contains(body, "2025-11-25") {
			t.Errorf("wrong version: %d %s", code, body)
		}
		// A stateless request without the header it must carry.
		discover := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}`
		code, _, body = rpcPost(t, url, tok, nil, discover)
		if code != http.StatusBadRequest {
			t.Errorf("2026 request without Mcp-Protocol-Version: %d %s", code, body)
		}
	})
	t.Run("foreign origin and host", func(t *testing.T) {
		code, _, body := rpcPost(t, url, tok, map[string]string{"Origin": "http://evil.example"}, initBody)
		if code != http.StatusForbidden || !strings.Contains(body, "MCPD_CORS_ORIGINS") {
			t.Errorf("foreign origin: %d %s", code, body)
		}
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(initBody))
		req.Host = "evil.example:80"
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "DNS-rebinding") {
			t.Errorf("foreign Host on loopback: %d %s", resp.StatusCode, b)
		}
	})
	t.Run("50 MB request", func(t *testing.T) {
		big := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"pad":"` + strings.Repeat("x", 50<<20) + `"}}`
		code, _, body := rpcPost(t, url, tok, nil, big)
		if code != http.StatusRequestEntityTooLarge || !strings.Contains(body, "MCPD_MCP_BODY_LIMIT") || !strings.Contains(body, `"jsonrpc":"2.0"`) {
			t.Errorf("50 MB body: %d %.300s", code, body)
		}
	})
	t.Run("arguments failing the schema", func(t *testing.T) {
		cs := mcpConnect(t, url, tok, "2025-11-25", nil)
		_, err := callText(t, cs, "alpha__echo", map[string]any{"text": 42})
		if err == nil || !strings.Contains(err.Error(), "text") {
			t.Errorf("bad arguments: %v", err)
		}
	})
	t.Run("upstream dies mid-call", func(t *testing.T) {
		cs := mcpConnect(t, url, tok, "2025-11-25", nil)
		_, err := callText(t, cs, "beta__crash", map[string]any{"text": "x"})
		if err == nil || !strings.Contains(err.Error(), "beta") {
			t.Errorf("crash mid-call: %v", err)
		}
		// The session survives; the instance is restarted and serves again.
		eventually(t, 30*time.Second, "beta serving again after the crash", func() bool {
			got, err := callText(t, cs, "beta__echo", map[string]any{"text": "back"})
			return err == nil && got == `{"text":"back"}`
		})
	})
	t.Run("upstream never answers", func(t *testing.T) {
		cs := mcpConnect(t, url, tok, "2025-11-25", nil)
		start := time.Now()
		_, err := callText(t, cs, "alpha__hang", map[string]any{"text": "x"})
		var werr *jsonrpc.Error
		if !errors.As(err, &werr) || werr.Code != -32001 || !strings.Contains(werr.Message, "did not answer") {
			t.Errorf("hang: %v", err)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("hang answered after %s, want about MCPD_MCP_CALL_TIMEOUT=2s", took)
		}
		// The cancellation reached the server: it says so in its log.
		ins := instances(t, cfg, "alpha", false)
		eventually(t, 10*time.Second, "the server saw the cancellation", func() bool {
			r := mcpctl(t, cfg, "", "logs", ins[0].ID)
			return strings.Contains(r.Stdout, "hang cancelled by the client")
		})
	})
	t.Run("initialize flood", func(t *testing.T) {
		// At MCPD_MCP_MAX_SESSIONS=5 a principal's least recently used
		// idle session makes room for a new one: the flood never holds
		// more than 5, and the first sessions are gone.
		var ids []string
		for range 20 {
			code, sid, body := rpcPost(t, url, tok, nil, initBody)
			if code != 200 || sid == "" {
				t.Fatalf("initialize during the flood: %d %s", code, body)
			}
			ids = append(ids, sid)
		}
		list := `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`
		open := 0
		for _, sid := range ids {
			code, _, _ := rpcPost(t, url, tok, map[string]string{"Mcp-Session-Id": sid}, list)
			if code == 200 {
				open++
			}
		}
		if open > 5 {
			t.Errorf("%d of the flood's sessions still answer, want at most MCPD_MCP_MAX_SESSIONS=5", open)
		}
		if code, _, _ := rpcPost(t, url, tok, map[string]string{"Mcp-Session-Id": ids[19]}, list); code != 200 {
			t.Errorf("the newest session of the flood: %d", code)
		}
		if code, _, body := rpcPost(t, url, tok, map[string]string{"Mcp-Session-Id": ids[0]}, list); code != http.StatusNotFound || !strings.Contains(body, "initialize a new one") {
			t.Errorf("the oldest session of the flood: %d %s", code, body)
		}
		// Another principal is not affected.
		if code, _, body := rpcPost(t, url, a.token, nil, initBody); code != 200 {
			t.Errorf("another principal during the flood: %d %s", code, body)
		}
	})
}

// TestSharedStdioIsolation: two clients on one shared STDIO upstream
// (one process, one MCP session) call concurrently; each sees only its own
// results and its own progress.
func TestSharedStdioIsolation(t *testing.T) {
	bin := testbin.MCPServer(t)
	m := startMcpd(t, "", append(instanceEnv, "MCPD_MCP_RATE_LIMIT=off")...)
	cfg, _ := gatewayProject(t, m, bin)
	tok := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "ci", "-p", "demo", "--rbac", "clone", "-o", "json"))
	waitInstances(t, cfg, "alpha", "alpha running", running(1))
	url := m.URL + "/projects/demo/mcp"

	type seen struct {
		mu     sync.Mutex
		tokens []string
	}
	clients := map[string]*mcp.ClientSession{}
	seenBy := map[string]*seen{}
	for _, who := range []string{"A", "B"} {
		s := &seen{}
		seenBy[who] = s
		clients[who] = mcpConnect(t, url, tok, "2025-11-25", &mcp.ClientOptions{
			ProgressNotificationHandler: func(_ context.Context, req *mcp.ProgressNotificationClientRequest) {
				s.mu.Lock()
				s.tokens = append(s.tokens, fmt.Sprint(req.Params.ProgressToken))
				s.mu.Unlock()
			},
		})
	}
	const perClient = 25
	var wg sync.WaitGroup
	errs := make(chan error, 4*perClient)
	for who, cs := range clients {
		for i := range perClient {
			wg.Go(func() {
				text := fmt.Sprintf("%s-%d", who, i)
				got, err := callText(t, cs, "alpha__echo", map[string]any{"text": text})
				if err != nil || got != `{"text":"`+text+`"}` {
					errs <- fmt.Errorf("client %s echo %s: got %q, %v", who, text, got, err)
				}
			})
			wg.Go(func() {
				res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "alpha__progress",
					Arguments: map[string]any{"steps": 2, "millis": 5}, Meta: mcp.Meta{"progressToken": fmt.Sprintf("%s-p%d", who, i)}})
				if err != nil || res.IsError {
					errs <- fmt.Errorf("client %s progress %d: %v", who, i, err)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for who, s := range seenBy {
		// The client's SDK hands notifications to the handler through a
		// queue: the last may come just after the answer.
		eventually(t, 5*time.Second, "every progress notification at client "+who, func() bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			return len(s.tokens) >= 2*perClient
		})
		s.mu.Lock()
		if len(s.tokens) != 2*perClient {
			t.Errorf("client %s got %d progress notifications, want %d", who, len(s.tokens), 2*perClient)
		}
		for _, tokn := range s.tokens {
			if !strings.HasPrefix(tokn, who+"-") {
				t.Errorf("client %s got another client's progress: %s", who, tokn)
			}
		}
		s.mu.Unlock()
	}
	// One upstream process served both.
	if ins := instances(t, cfg, "alpha", false); len(ins) != 1 {
		t.Errorf("alpha has %d instances, want the one shared", len(ins))
	}
}
