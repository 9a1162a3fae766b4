package gateway

import (
	"context"
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
	defer d.Close()
	defer g.Close()
	e := NewEdge(EdgeConfig{}, g, nil, nil, nil)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { e.ServeProject(w, r, "p") }))
	defer hs.Close()

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
