package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// A stateless client answers a session-era server's elicitation through
// the gateway: the server's request becomes an input request of the
// answer, the client calls again with the response, and the call the
// server was running completes with it. Two rounds in a row work too.
func TestStatelessClientAnswersElicitation(t *testing.T) {
	hs := askerEdge(t)
	for _, version := range []string{"2026-07-28", "2025-11-25"} {
		asked := 0
		c := mcp.NewClient(&mcp.Implementation{Name: "t"}, &mcp.ClientOptions{
			ElicitationHandler: func(_ context.Context, req *mcp.ElicitRequest) (*mcp.ElicitResult, error) {
				asked++
				name := map[string]string{"first name?": "Ada", "last name?": "Lovelace"}[req.Params.Message]
				return &mcp.ElicitResult{Action: "accept", Content: map[string]any{"name": name}}, nil
			},
		})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: hs.URL, MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: version})
		if err != nil {
			t.Fatal(version, err)
		}
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "ask", Arguments: map[string]any{}})
		if err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		if got := res.Content[0].(*mcp.TextContent).Text; got != "hello Ada Lovelace" || asked != 2 {
			t.Errorf("%s: %q after %d questions", version, got, asked)
		}
		cs.Close()
		cancel()
	}
}

// A stateless client that did not declare elicitation is not asked: its
// call fails with -32021 and HTTP 400, naming the capability (SEP-2575).
func TestStatelessClientWithoutTheCapability(t *testing.T) {
	hs := askerEdge(t)
	body := `{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"ask","arguments":{},"_meta":{` +
		`"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},` +
		`"io.modelcontextprotocol/clientInfo":{"name":"raw","version":"1"}}}}`
	req, _ := http.NewRequest(http.MethodPost, hs.URL, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Protocol-Version", "2026-07-28")
	req.Header.Set("Mcp-Method", "tools/call")
	req.Header.Set("Mcp-Name", "ask")
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var msgs []map[string]json.RawMessage
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "data:")
		var m map[string]json.RawMessage
		if json.Unmarshal([]byte(line), &m) == nil && m["id"] != nil {
			msgs = append(msgs, m)
		}
	}
	if len(msgs) != 1 {
		t.Fatalf("answer %d %s: want one JSON-RPC response", resp.StatusCode, b)
	}
	var rpcErr struct {
		Code    int64
		Message string
		Data    struct {
			RequiredCapabilities map[string]any `json:"requiredCapabilities"`
		}
	}
	json.Unmarshal(msgs[0]["error"], &rpcErr)
	if resp.StatusCode != http.StatusBadRequest || rpcErr.Code != -32021 || rpcErr.Data.RequiredCapabilities["elicitation"] == nil ||
		!strings.Contains(rpcErr.Message, "needs the client's elicitation capability") {
		t.Errorf("answer %d %s: want 400 and -32021 requiring elicitation", resp.StatusCode, b)
	}
}

// askerEdge serves project p, whose one server asks the client for two
// names by elicitation during its tool ask.
func askerEdge(t *testing.T) *httptest.Server {
	up := mcp.NewServer(&mcp.Implementation{Name: "asker"}, nil)
	mcp.AddTool(up, &mcp.Tool{Name: "ask"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		var names []string
		for _, q := range []string{"first name?", "last name?"} {
			res, err := req.Session.Elicit(ctx, &mcp.ElicitParams{Message: q, RequestedSchema: map[string]any{
				"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}}}})
			if err != nil {
				return nil, nil, err
			}
			names = append(names, res.Content["name"].(string))
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "hello " + strings.Join(names, " ")}}}, nil, nil
	})
	d := NewTransportDialer(func(ctx context.Context, server string) (mcp.Transport, func(), error) {
		t1, t2 := mcp.NewInMemoryTransports()
		ss, err := up.Connect(ctx, t1, nil)
		if err != nil {
			return nil, nil, err
		}
		return t2, func() { ss.Close() }, nil
	})
	g := New(Config{}, Deps{Projects: staticProjects{"p": {Name: "p", Servers: []ProjectServer{{Name: "a", SessionMode: "shared"}}}}, Upstreams: d})
	e := NewEdge(EdgeConfig{}, g, nil, nil, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.ServeProject(w, r, "p") }))
	t.Cleanup(func() {
		hs.Close()
		g.Close()
		d.Close()
	})
	return hs
}
