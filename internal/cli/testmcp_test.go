package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const goodToken = "mcpctl_pat_good"

type echoArgs struct {
	Text string `json:"text"`
}

// startMCPServer serves a go-sdk MCP server with the tools echo and fail:
// stateless at /projects/demo/mcp (with /healthz beside it, as on mcpd)
// and stateful at /mcp; at /auth/mcp only for goodToken, refusing others as mcpd does
// (401 or 403 with a JSON-RPC error body); at /hang/mcp it never answers.
func startMCPServer(t *testing.T) string {
	t.Helper()
	srv := mcp.NewServer(&mcp.Implementation{Name: "demo-server", Version: "1.2.3"}, nil)
	mcp.AddTool(srv, &mcp.Tool{Name: "echo", Description: "says the text back"},
		func(_ context.Context, _ *mcp.CallToolRequest, in echoArgs) (*mcp.CallToolResult, any, error) {
			// A colour escape: the report must not pass it to the terminal.
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "\x1b[31m" + in.Text + "\nbye"}}}, nil, nil
		})
	mcp.AddTool(srv, &mcp.Tool{Name: "fail", Description: "always fails"},
		func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: "it broke"}}}, nil, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
	// Protocol 2026-07-28 needs a stateless server; a stateful one makes
	// the client fall back to initialize at 2025-11-25.
	stateless := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, &mcp.StreamableHTTPOptions{Stateless: true})
	refuse := func(w http.ResponseWriter, status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(map[string]any{"jsonrpc": "2.0", "id": nil, //nolint:errcheck // the client reports a broken answer
			"error": map[string]any{"code": -32600, "message": msg, "data": map[string]any{"status": status, "code": code}}})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.Handle("/projects/demo/mcp", stateless)
	mux.Handle("/mcp", handler)
	mux.HandleFunc("/auth/mcp", func(w http.ResponseWriter, r *http.Request) {
		switch r.Header.Get("Authorization") {
		case "":
			refuse(w, http.StatusUnauthorized, "TOKEN_REQUIRED", "a bearer token is required (request id r1)")
		case "Bearer " + goodToken:
			handler.ServeHTTP(w, r)
		default:
			refuse(w, http.StatusForbidden, "FORBIDDEN", "McpToken \x1b[2Jci may not view project demo (request id r2)")
		}
	})
	stop := make(chan struct{})
	mux.HandleFunc("/hang/mcp", func(w http.ResponseWriter, r *http.Request) {
		// Reading the body lets the server notice the client hanging up.
		io.Copy(io.Discard, r.Body) //nolint:errcheck // only waiting matters
		select {
		case <-r.Context().Done():
		case <-stop:
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	t.Cleanup(func() { close(stop) })
	return hs.URL
}

// closedURL is an address nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

func TestTestMCP(t *testing.T) {
	base := startMCPServer(t)
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer down.Close()
	closed := closedURL(t)

	tests := []struct {
		name    string
		env     string // $MCPCTL_TOKEN
		args    []string
		code    int
		out     []string // lines or parts of lines of stdout, in order
		errOut  string   // part of stderr
		notSeen []string // in neither stream
	}{
		{
			name: "pass", args: []string{base + "/projects/demo/mcp", "--tool", "echo", "--args", `{"text":"hello"}`, "--expect-tools", "echo, fail"},
			code: ExitOK,
			out: []string{"✓ health 200 (", "✓ initialize: demo-server 1.2.3, protocol 2026-07-28 (", "✓ tools/list: 2 tools (",
				"✓ expected tool echo: present", "✓ expected tool fail: present", "✓ tools/call echo: [31mhello bye (", "PASS"},
			notSeen: []string{"\x1b"},
		},
		{
			name: "older protocol asked for", args: []string{base + "/projects/demo/mcp", "--protocol-version", "2025-11-25"},
			code: ExitOK, out: []string{"✓ initialize: demo-server 1.2.3, protocol 2025-11-25 (", "PASS"},
		},
		{
			name: "older protocol negotiated", args: []string{base + "/mcp"},
			code: ExitOK, out: []string{"✓ initialize: demo-server 1.2.3, protocol 2025-11-25 (", "PASS"},
		},
		{
			name: "expected tool missing", args: []string{base + "/mcp", "--expect-tools", "echo,nope", "--tool", "echo", "--args", `{"text":"x"}`},
			code: ExitUsage,
			out:  []string{"✓ expected tool echo: present", "✗ expected tool nope: missing", "✓ tools/call echo:", "FAIL: expected tool nope is missing"},
		},
		{
			name: "tool returns isError", args: []string{base + "/mcp", "--tool", "fail"},
			code: ExitUsage, out: []string{"✗ tools/call fail: it broke (", "FAIL: tool fail returned isError: it broke"},
		},
		{
			name: "unknown tool is a JSON-RPC error", args: []string{base + "/mcp", "--tool", "nope"},
			code: ExitUsage, out: []string{"✗ tools/call nope: JSON-RPC error", "FAIL: tools/call nope: JSON-RPC error"},
		},
		{
			name: "args not JSON", args: []string{base + "/mcp", "--tool", "echo", "--args", "{text:1"},
			code: ExitUsage, errOut: "--args is not valid JSON",
		},
		{
			name: "args not an object", args: []string{base + "/mcp", "--tool", "echo", "--args", "null"},
			code: ExitUsage, errOut: "--args must be a JSON object",
		},
		{
			name: "args without tool", args: []string{base + "/mcp", "--args", "{}"},
			code: ExitUsage, errOut: "--args needs --tool",
		},
		{
			name: "bad protocol version", args: []string{base + "/mcp", "--protocol-version", "2099-01-01"},
			code: ExitUsage, errOut: "--protocol-version",
		},
		{
			name: "no token: 401 with the server's message", args: []string{base + "/auth/mcp"},
			code: ExitError,
			out:  []string{"✗ initialize: HTTP 401: a bearer token is required (request id r1) (no token given: pass --token or set MCPCTL_TOKEN) (", "FAIL: initialize: HTTP 401"},
		},
		{
			name: "token from the environment", env: goodToken, args: []string{base + "/auth/mcp"},
			code: ExitOK, out: []string{"PASS"}, notSeen: []string{goodToken},
		},
		{
			name: "--token wins over the environment: 403", env: goodToken, args: []string{base + "/auth/mcp", "--token", "mcpctl_pat_other"},
			code: ExitError, out: []string{"✗ initialize: HTTP 403: McpToken [2Jci may not view project demo (request id r2) ("},
			notSeen: []string{goodToken, "mcpctl_pat_other", "\x1b"},
		},
		{
			name: "connection refused", args: []string{closed + "/mcp"},
			code: ExitError, out: []string{"✗ initialize:", "connection refused", "FAIL: initialize:"},
		},
		{
			name: "connection refused at the health check", args: []string{closed + "/projects/demo/mcp"},
			code: ExitError, out: []string{"✗ health:", "connection refused", "FAIL: health:"},
		},
		{
			name: "health not 200", args: []string{down.URL + "/projects/demo/mcp"},
			code: ExitError, out: []string{"✗ health 503 (", "FAIL: health: GET " + down.URL + "/healthz answered 503 Service Unavailable, not 200"},
		},
		{
			name: "--no-health skips it", args: []string{down.URL + "/projects/demo/mcp", "--no-health"},
			code: ExitError, out: []string{"✗ initialize: HTTP 503"},
		},
		{
			name: "initialize never answered", args: []string{base + "/hang/mcp", "--timeout", "300ms"},
			code: ExitError, out: []string{"✗ initialize: timed out (--timeout 300ms) (", "FAIL: initialize: timed out"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MCPCTL_TOKEN", tc.env)
			f, io := newFactory(t, "", false, "")
			code := Run(f, append([]string{"test", "mcp"}, tc.args...))
			out, errOut := io.out.String(), io.err.String()
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, errOut)
			}
			rest := out
			for _, want := range tc.out {
				i := strings.Index(rest, want)
				if i < 0 {
					t.Fatalf("stdout lacks %q (in order)\nstdout:\n%s", want, out)
				}
				rest = rest[i+len(want):]
			}
			if !strings.Contains(errOut, tc.errOut) {
				t.Errorf("stderr lacks %q: %q", tc.errOut, errOut)
			}
			if tc.errOut == "" && errOut != "" {
				t.Errorf("stderr: %q, want nothing (the report says it all)", errOut)
			}
			for _, s := range tc.notSeen {
				if strings.Contains(out+errOut, s) {
					t.Errorf("output shows %q:\n%s%s", s, out, errOut)
				}
			}
		})
	}
}

func TestTestMCPJSON(t *testing.T) {
	base := startMCPServer(t)
	tests := []struct {
		name string
		args []string
		code int
		want mcpTestReport
	}{
		{
			name: "pass", args: []string{base + "/projects/demo/mcp", "--tool", "echo", "--args", `{"text":"hi"}`}, code: ExitOK,
			want: mcpTestReport{URL: base + "/projects/demo/mcp", OK: true, ExitCode: 0, ProtocolVersion: "2026-07-28",
				Server: mcpTestServer{Name: "demo-server", Version: "1.2.3"}, Tools: []string{"echo", "fail"},
				Steps: []mcpTestStep{
					{Name: "health", OK: true, Detail: "200"},
					{Name: "initialize", OK: true, Detail: "demo-server 1.2.3, protocol 2026-07-28"},
					{Name: "tools/list", OK: true, Detail: "2 tools"},
					{Name: "tools/call echo", OK: true, Detail: "[31mhi bye"},
				}},
		},
		{
			name: "contract failure", args: []string{base + "/mcp", "--expect-tools", "nope", "--protocol-version", "2025-11-25"}, code: ExitUsage,
			want: mcpTestReport{URL: base + "/mcp", ExitCode: 2, ProtocolVersion: "2025-11-25",
				Server: mcpTestServer{Name: "demo-server", Version: "1.2.3"}, Tools: []string{"echo", "fail"},
				Steps: []mcpTestStep{
					{Name: "initialize", OK: true, Detail: "demo-server 1.2.3, protocol 2025-11-25"},
					{Name: "tools/list", OK: true, Detail: "2 tools"},
					{Name: "expected tool nope", Detail: "missing"},
				},
				Error: "expected tool nope is missing"},
		},
		{
			name: "auth failure", args: []string{base + "/auth/mcp"}, code: ExitError,
			want: mcpTestReport{URL: base + "/auth/mcp", ExitCode: 1, Tools: []string{},
				Steps: []mcpTestStep{{Name: "initialize",
					Detail: "HTTP 401: a bearer token is required (request id r1) (no token given: pass --token or set MCPCTL_TOKEN)"}},
				Error: "initialize: HTTP 401: a bearer token is required (request id r1) (no token given: pass --token or set MCPCTL_TOKEN)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MCPCTL_TOKEN", "")
			f, io := newFactory(t, "", false, "")
			code := Run(f, append([]string{"test", "mcp", "-o", "json"}, tc.args...))
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tc.code, io.out.String(), io.err.String())
			}
			// The keys are stable: all of them, always.
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(io.out.Bytes(), &raw); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, io.out.String())
			}
			var keys []string
			for k := range raw {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			wantKeys := []string{"error", "exitCode", "ok", "protocolVersion", "server", "steps", "tools", "url"}
			if diff := cmp.Diff(wantKeys, keys); diff != "" {
				t.Errorf("keys (-want +got):\n%s", diff)
			}
			var got mcpTestReport
			if err := json.Unmarshal(io.out.Bytes(), &got); err != nil {
				t.Fatal(err)
			}
			for _, s := range got.Steps {
				if s.Millis < 0 {
					t.Errorf("step %s: millis %v", s.Name, s.Millis)
				}
			}
			if diff := cmp.Diff(tc.want, got, cmpopts.IgnoreUnexported(mcpTestStep{}), cmpopts.IgnoreFields(mcpTestStep{}, "Millis")); diff != "" {
				t.Errorf("report (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTestMCPOptions(t *testing.T) {
	t.Setenv("MCPCTL_TOKEN", "from-env")
	f, _ := newFactory(t, "", false, "")
	var got *TestMCPOptions
	cmd := NewCmdTestMCP(f, func(o *TestMCPOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"http://h/mcp", "--expect-tools", "a,b"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	want := &TestMCPOptions{F: f, URL: "http://h/mcp", Token: "from-env", ExpectTools: []string{"a", "b"}, Timeout: 30e9, Output: "text"}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(TestMCPOptions{}, "F")); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
}

// TestTestMCPAgainstMcpd runs the command against a real mcpd's project
// endpoint: without a token its refusal is shown; with a session token an
// empty project passes (health, initialize, an empty tools/list).
func TestTestMCPAgainstMcpd(t *testing.T) {
	url := startMcpd(t)
	t.Setenv("MCPCTL_TOKEN", "")
	f, io := newFactory(t, "analytical-engine\n", false, "")
	if code := Run(f, []string{"login", "--mcpd-url", url, "--email", "ada@example.com", "--password-stdin"}); code != ExitOK {
		t.Fatalf("login: exit %d: %s", code, io.err.String())
	}
	if code := Run(f, []string{"create", "project", "demo"}); code != ExitOK {
		t.Fatalf("create project: exit %d: %s", code, io.err.String())
	}
	cur, _, _, err := f.CurrentContext()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, project string
		args          []string
		code          int
		out           []string
	}{
		{"no token", "demo", nil, ExitError, []string{"✓ health 200 (", "✗ initialize: HTTP 401: a bearer token is required"}},
		{"session token", "demo", []string{"--token", cur.Token}, ExitOK, []string{"✓ health 200 (", "✓ initialize: ", "✓ tools/list: 0 tools (", "PASS"}},
		{"legacy protocol", "demo", []string{"--token", cur.Token, "--protocol-version", "2025-11-25"}, ExitOK, []string{"protocol 2025-11-25 (", "PASS"}},
		{"no such project", "nope", []string{"--token", cur.Token}, ExitError, []string{"✗ initialize: HTTP 404"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			io.out.Reset()
			io.err.Reset()
			args := append([]string{"test", "mcp", url + "/projects/" + tc.project + "/mcp"}, tc.args...)
			code := Run(f, args)
			out := io.out.String()
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.code, out, io.err.String())
			}
			for _, want := range tc.out {
				if !strings.Contains(out, want) {
					t.Errorf("stdout lacks %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, cur.Token) {
				t.Errorf("the token is shown:\n%s", out)
			}
		})
	}
}

func TestTestMCPExitCodes(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{errMCPTestFailed, ExitError},
		{&contractError{}, ExitUsage},
		{fmt.Errorf("wrapped: %w", &contractError{}), ExitUsage},
	}
	for _, tc := range tests {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%T) = %d, want %d", tc.err, got, tc.want)
		}
		// The report has said why: Run adds nothing on stderr.
		var silent *silentError
		if !errors.As(tc.err, &silent) {
			t.Errorf("%T is not silent", tc.err)
		}
	}
}
