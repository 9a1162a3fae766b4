package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// TestGatewayRelay drives mcpd's relay (the fast path of tools/call to a
// shared Streamable HTTP server) with the real binaries: the test server
// runs on its own over HTTP as a URL server of a project. Calls, a
// server's sampling request, the size limit and a call the server never
// answers (timeout, then cancellation at the server) go through the
// relay, as mcpd's /metrics counts; audit events name the token.
func TestGatewayRelay(t *testing.T) {
	bin := testbin.MCPServer(t)
	port := freePort(t)
	var mu sync.Mutex
	var serverLog strings.Builder
	srv := exec.Command(bin, "-http", fmt.Sprintf("127.0.0.1:%d", port))
	srv.Stderr = &lockedWriter{mu: &mu, b: &serverLog}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Kill()
		srv.Wait()
	})
	eventually(t, 10*time.Second, "the test server listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})

	m := startMcpd(t, "", "MCPD_INSTANCES=off", "MCPD_MCP_CALL_TIMEOUT=2s", "MCPD_MCP_MAX_RESPONSE=100000")
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	applyJSON(t, a,
		serverObj("web", map[string]any{"url": fmt.Sprintf("http://127.0.0.1:%d/mcp", port)}),
		map[string]any{"kind": "Project", "metadata": map[string]any{"name": "webp"}, "spec": map[string]any{"servers": []string{"web"}}},
	)
	tok := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "relay", "-p", "webp", "--rbac", "clone", "-o", "json"))
	cs := mcpConnect(t, m.URL+"/projects/webp/mcp", tok, "2025-11-25", &mcp.ClientOptions{
		CreateMessageHandler: func(_ context.Context, req *mcp.CreateMessageRequest) (*mcp.CreateMessageResult, error) {
			return &mcp.CreateMessageResult{Model: "m", Role: "assistant", Content: &mcp.TextContent{Text: "42"}}, nil
		},
	})

	if got, err := callText(t, cs, "web__echo", map[string]any{"text": "relayed"}); err != nil || got != `{"text":"relayed"}` {
		t.Errorf("web__echo: %q %v", got, err)
	}
	if got, err := callText(t, cs, "web__sample", map[string]any{"prompt": "the answer?"}); err != nil || got != `{"text":"model says: 42"}` {
		t.Errorf("web__sample: %q %v", got, err)
	}
	_, err := callText(t, cs, "web__big", map[string]any{"bytes": 200000})
	if werr, ok := errors.AsType[*jsonrpc.Error](err); !ok || !strings.Contains(werr.Message, "over the gateway's limit of 100000 bytes") {
		t.Errorf("web__big over the limit: %v", err)
	}
	start := time.Now()
	_, err = callText(t, cs, "web__hang", map[string]any{"text": "x"})
	if werr, ok := errors.AsType[*jsonrpc.Error](err); !ok || werr.Code != -32001 {
		t.Errorf("web__hang: %v, want -32001", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("web__hang answered after %s, want about MCPD_MCP_CALL_TIMEOUT=2s", took)
	}
	eventually(t, 10*time.Second, "the server told of the cancellation", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(serverLog.String(), "hang cancelled by the client")
	})

	resp, err := http.Get(m.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := metricValue(b, "mcpd_mcp_relayed_calls_total"); n != 4 {
		t.Errorf("mcpd_mcp_relayed_calls_total = %v, want 4 (every call went through the relay)", n)
	}
	eventually(t, 10*time.Second, "the audit event of the relayed echo", func() bool {
		_, out := a.do("GET", "/api/v1/audit?project=webp&tool=echo&tokenName=relay", "")
		items, _ := out["items"].([]any)
		for _, it := range items {
			if ev := it.(map[string]any); ev["outcome"] == "ok" && ev["detail"] == `{"text":"string"}` && ev["server"] == "web" {
				return true
			}
		}
		return false
	})
}

// metricValue reads an unlabelled metric's value from a /metrics page
// (-1 when absent).
func metricValue(page []byte, name string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + ` (\S+)$`).FindSubmatch(page)
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseFloat(string(bytes.TrimSpace(m[1])), 64)
	return v
}
