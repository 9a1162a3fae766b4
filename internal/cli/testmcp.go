package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/spf13/cobra"
)

// contractError is a `test mcp` run whose server answered but broke the
// MCP contract (a missing tool, a JSON-RPC error, isError, a malformed
// list): exit 2 (DESIGN.md §7). The report has said why, so Run prints
// nothing more.
type contractError struct{}

func (*contractError) Error() string { return "" }
func (*contractError) Unwrap() error { return errMCPTestFailed }

// errMCPTestFailed is a `test mcp` run that failed to reach the server or
// to be let in (network, TLS, HTTP 401/403, health, timeout): exit 1 with
// nothing more to print.
var errMCPTestFailed = &silentError{}

// TestMCPOptions are the inputs of `mcpctl test mcp`.
type TestMCPOptions struct {
	F   *Factory
	URL string
	// Token is the bearer token: --token, else $MCPCTL_TOKEN.
	Token           string
	Tool            string
	Args            string
	ExpectTools     []string
	Timeout         time.Duration
	Output          string
	NoHealth        bool
	ProtocolVersion string
}

// NewCmdTest builds `mcpctl test` and its kinds.
func NewCmdTest(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "test",
		Short: "Check that an endpoint works as a client would use it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &UsageError{Msg: "test needs a kind: mcpctl test mcp URL"}
		},
	}
	cmd.AddCommand(NewCmdTestMCP(f, nil))
	return cmd
}

// NewCmdTestMCP builds `mcpctl test mcp`; runF replaces the run function
// in tests.
func NewCmdTestMCP(f *Factory, runF func(*TestMCPOptions) error) *cobra.Command {
	o := &TestMCPOptions{F: f}
	cmd := &cobra.Command{
		Use:   "mcp URL [--token T] [--tool NAME --args JSON] [--expect-tools a,b] [--timeout 30s] [-o text|json]",
		Short: "Connect to an MCP endpoint, list its tools and optionally call one",
		Long: `Connect to a Streamable HTTP MCP endpoint as an MCP client would: initialize,
list the tools (all pages), check that --expect-tools are there, and call
--tool with --args. Each step is reported with its time.

For an mcpd project endpoint (http://HOST/projects/P/mcp) mcpd's /healthz is
checked first, unless --no-health. The token is --token, else $MCPCTL_TOKEN,
sent as "Authorization: Bearer"; it is never printed.

Exit codes: 0 pass; 1 the server could not be reached or refused the token
(connection, TLS, HTTP 401/403 or another HTTP error, health check, timeout);
2 the server answered but broke the contract (an expected tool missing, a
JSON-RPC error, a tool result with isError, an invalid tools/list), or a
usage error.`,
		Example: `  mcpctl test mcp http://127.0.0.1:3100/projects/demo/mcp --token "$TOKEN"
  MCPCTL_TOKEN=... mcpctl test mcp https://mcpd.example.com/projects/demo/mcp --expect-tools github__search_issues
  mcpctl test mcp http://127.0.0.1:8080/mcp --tool echo --args '{"text":"hi"}' -o json`,
		Args: exactArgs(1, "test mcp needs the endpoint URL: mcpctl test mcp http://127.0.0.1:3100/projects/NAME/mcp"),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.URL = args[0]
			if o.Token == "" {
				o.Token = os.Getenv("MCPCTL_TOKEN")
			}
			if runF != nil {
				return runF(o)
			}
			return testMCPRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Token, "token", "", "bearer token (default $MCPCTL_TOKEN)")
	cmd.Flags().StringVar(&o.Tool, "tool", "", "call this tool after listing")
	cmd.Flags().StringVar(&o.Args, "args", "", "arguments of --tool, a JSON object")
	cmd.Flags().StringSliceVar(&o.ExpectTools, "expect-tools", nil, "tools that must be listed (comma-separated)")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 30*time.Second, "bound on the whole run")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "text or json")
	cmd.Flags().BoolVar(&o.NoHealth, "no-health", false, "skip mcpd's /healthz check")
	cmd.Flags().StringVar(&o.ProtocolVersion, "protocol-version", "",
		"MCP protocol version to ask for, e.g. 2025-11-25 or 2026-07-28 (default: the newest the client knows)")
	return cmd
}

// mcpTestReport is the outcome of `test mcp`; -o json prints it as is, and
// every key is always present.
type mcpTestReport struct {
	URL             string        `json:"url"`
	OK              bool          `json:"ok"`
	ExitCode        int           `json:"exitCode"`
	ProtocolVersion string        `json:"protocolVersion"`
	Server          mcpTestServer `json:"server"`
	Tools           []string      `json:"tools"`
	Steps           []mcpTestStep `json:"steps"`
	Error           string        `json:"error"`
}

type mcpTestServer struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// mcpTestStep is one checked step; server text in it is printable.
type mcpTestStep struct {
	Name   string  `json:"name"`
	OK     bool    `json:"ok"`
	Millis float64 `json:"millis"`
	Detail string  `json:"detail"`
	// line is the text-output line, without the mark and the time.
	line  string
	timed bool
}

type failKind int

const (
	transportFailure failKind = iota + 1
	contractFailure
)

// mcpTester runs the steps of one `test mcp` and keeps the report.
type mcpTester struct {
	o        *TestMCPOptions
	rec      *httpRecorder
	rep      mcpTestReport
	failures []string
	// worst is the failure that sets the exit code: a transport failure
	// outranks a contract failure.
	worst failKind
}

func testMCPRun(ctx context.Context, o *TestMCPOptions) error {
	u, args, err := o.check()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	t := &mcpTester{o: o, rec: &httpRecorder{base: http.DefaultTransport, token: o.Token},
		rep: mcpTestReport{URL: u.Redacted(), Tools: []string{}, Steps: []mcpTestStep{}}}
	t.run(ctx, u, args)
	return t.finish()
}

// check validates the flags before any request; mistakes are usage errors.
func (o *TestMCPOptions) check() (*url.URL, json.RawMessage, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, nil, &UsageError{Msg: "the URL must be http(s)://HOST/PATH, e.g. http://127.0.0.1:3100/projects/demo/mcp"}
	}
	if o.Output != "text" && o.Output != "json" {
		return nil, nil, &UsageError{Msg: fmt.Sprintf("-o %q: want text or json", o.Output)}
	}
	if o.Timeout <= 0 {
		return nil, nil, &UsageError{Msg: "--timeout must be more than 0, e.g. 30s"}
	}
	if v := o.ProtocolVersion; v != "" && !slices.Contains(mcp.SupportedProtocolVersions(), v) {
		return nil, nil, &UsageError{Msg: fmt.Sprintf("--protocol-version %q: want one of %s", v, strings.Join(mcp.SupportedProtocolVersions(), ", "))}
	}
	var expect []string
	for _, name := range o.ExpectTools {
		if name = strings.TrimSpace(name); name != "" {
			expect = append(expect, name)
		}
	}
	o.ExpectTools = expect
	if o.Args == "" {
		return u, nil, nil
	}
	if o.Tool == "" {
		return nil, nil, &UsageError{Msg: "--args needs --tool NAME"}
	}
	var v any
	if err := json.Unmarshal([]byte(o.Args), &v); err != nil {
		return nil, nil, &UsageError{Msg: fmt.Sprintf("--args is not valid JSON: %v", err)}
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, nil, &UsageError{Msg: `--args must be a JSON object, e.g. '{"text":"hi"}'`}
	}
	return u, json.RawMessage(o.Args), nil
}

// projectEndpoint matches the path of an mcpd project endpoint.
var projectEndpoint = regexp.MustCompile(`^/projects/[^/]+/mcp/?$`)

func (t *mcpTester) run(ctx context.Context, u *url.URL, args json.RawMessage) {
	if !t.o.NoHealth && projectEndpoint.MatchString(u.Path) {
		if !t.health(ctx, u.Scheme+"://"+u.Host+"/healthz") {
			return
		}
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpctl", Version: v1.Version}, nil)
	transport := &mcp.StreamableClientTransport{
		Endpoint:   u.String(),
		HTTPClient: &http.Client{Transport: t.rec},
		// A test needs answers to its own requests only, and no reconnects
		// that would outlast a failure.
		DisableStandaloneSSE: true,
		MaxRetries:           -1,
	}
	start := t.rec.reset()
	cs, err := client.Connect(ctx, transport, &mcp.ClientSessionOptions{ProtocolVersion: t.o.ProtocolVersion})
	if err != nil {
		t.fail(ctx, "initialize", start, err)
		return
	}
	defer cs.Close()
	res := cs.InitializeResult()
	if res.ServerInfo != nil {
		t.rep.Server = mcpTestServer{Name: printable(res.ServerInfo.Name), Version: printable(res.ServerInfo.Version)}
	}
	t.rep.ProtocolVersion = printable(res.ProtocolVersion)
	detail := "protocol " + t.rep.ProtocolVersion
	if who := strings.TrimSpace(t.rep.Server.Name + " " + t.rep.Server.Version); who != "" {
		detail = who + ", " + detail
	}
	t.pass("initialize", start, detail)

	if t.listTools(ctx, cs) {
		for _, name := range t.o.ExpectTools {
			step := "expected tool " + printable(name)
			if slices.Contains(t.rep.Tools, name) {
				t.add(mcpTestStep{Name: step, OK: true, Detail: "present", line: step + ": present"}, 0)
			} else {
				t.add(mcpTestStep{Name: step, Detail: "missing", line: step + ": missing"}, contractFailure)
				t.failures = append(t.failures, step+" is missing")
			}
		}
	}
	if t.o.Tool != "" && t.worst != transportFailure {
		t.callTool(ctx, cs, args)
	}
}

// health checks mcpd's /healthz (no token: it is public).
func (t *mcpTester) health(ctx context.Context, healthURL string) bool {
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, healthURL, nil)
	if err != nil {
		t.failWith("health", start, transportFailure, err.Error())
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			t.failWith("health", start, transportFailure, t.timedOut())
		} else {
			t.failWith("health", start, transportFailure, err.Error())
		}
		return false
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // only the status matters
	resp.Body.Close()
	detail := fmt.Sprintf("%d", resp.StatusCode)
	if resp.StatusCode != http.StatusOK {
		t.add(mcpTestStep{Name: "health", Millis: millis(start), Detail: detail, line: "health " + detail, timed: true}, transportFailure)
		t.failures = append(t.failures, fmt.Sprintf("health: GET %s answered %d %s, not 200", healthURL, resp.StatusCode, http.StatusText(resp.StatusCode)))
		return false
	}
	t.add(mcpTestStep{Name: "health", OK: true, Millis: millis(start), Detail: detail, line: "health " + detail, timed: true}, 0)
	return true
}

// listTools reads every page of tools/list; a list with an unnamed or a
// repeated tool is invalid.
func (t *mcpTester) listTools(ctx context.Context, cs *mcp.ClientSession) bool {
	start := t.rec.reset()
	var names []string
	for tool, err := range cs.Tools(ctx, nil) {
		if err != nil {
			t.fail(ctx, "tools/list", start, err)
			return false
		}
		name := printable(tool.Name)
		switch {
		case tool.Name == "":
			t.failWith("tools/list", start, contractFailure, "invalid tools/list: a tool without a name")
			return false
		case slices.Contains(names, name):
			t.failWith("tools/list", start, contractFailure, fmt.Sprintf("invalid tools/list: tool %q is listed twice", name))
			return false
		}
		names = append(names, name)
	}
	t.rep.Tools = append(t.rep.Tools, names...)
	t.pass("tools/list", start, fmt.Sprintf("%d tools", len(names)))
	return true
}

func (t *mcpTester) callTool(ctx context.Context, cs *mcp.ClientSession, args json.RawMessage) {
	step := "tools/call " + printable(t.o.Tool)
	params := &mcp.CallToolParams{Name: t.o.Tool}
	if args != nil {
		params.Arguments = args
	}
	start := t.rec.reset()
	res, err := cs.CallTool(ctx, params)
	if err != nil {
		t.fail(ctx, step, start, err)
		return
	}
	text := resultText(res)
	if res.IsError {
		t.add(mcpTestStep{Name: step, Millis: millis(start), Detail: text, line: step + ": " + text, timed: true}, contractFailure)
		t.failures = append(t.failures, fmt.Sprintf("tool %s returned isError: %s", printable(t.o.Tool), text))
		return
	}
	t.pass(step, start, text)
}

// resultText is the start of a tool result's text, on one printable line.
func resultText(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("(%d content items, no text)", len(res.Content))
	}
	s := printable(strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(strings.Join(parts, " ")))
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:200]) + "…"
	}
	return s
}

func (t *mcpTester) pass(name string, start time.Time, detail string) {
	t.add(mcpTestStep{Name: name, OK: true, Millis: millis(start), Detail: detail, line: name + ": " + detail, timed: true}, 0)
}

// fail records a failed MCP exchange, classified by classify.
func (t *mcpTester) fail(ctx context.Context, name string, start time.Time, err error) {
	kind, msg := t.classify(ctx, err)
	t.failWith(name, start, kind, msg)
}

func (t *mcpTester) failWith(name string, start time.Time, kind failKind, msg string) {
	msg = printable(msg)
	t.add(mcpTestStep{Name: name, Millis: millis(start), Detail: msg, line: name + ": " + msg, timed: true}, kind)
	t.failures = append(t.failures, name+": "+msg)
}

// add records a step and, for text output, prints it at once (a long
// tool call shows the steps before it).
func (t *mcpTester) add(s mcpTestStep, kind failKind) {
	t.rep.Steps = append(t.rep.Steps, s)
	if kind == transportFailure || kind == contractFailure && t.worst == 0 {
		t.worst = kind
	}
	if t.o.Output != "text" {
		return
	}
	mark := "✓"
	if !s.OK {
		mark = "✗"
	}
	line := mark + " " + s.line
	if s.timed {
		line += fmt.Sprintf(" (%.1f ms)", s.Millis)
	}
	fmt.Fprintln(t.o.F.IO.Out, line)
}

// finish prints the verdict and returns the error that sets the exit code.
func (t *mcpTester) finish() error {
	var err error
	switch t.worst {
	case transportFailure:
		err = errMCPTestFailed
	case contractFailure:
		err = &contractError{}
	}
	t.rep.OK = err == nil
	t.rep.ExitCode = ExitCode(err)
	t.rep.Error = strings.Join(t.failures, "; ")
	if t.o.Output == "json" {
		if perr := printJSON(t.o.F.IO.Out, t.rep); perr != nil {
			return perr
		}
		return err
	}
	if err == nil {
		fmt.Fprintln(t.o.F.IO.Out, "PASS")
	} else {
		fmt.Fprintln(t.o.F.IO.Out, "FAIL: "+t.rep.Error)
	}
	return err
}

// classify names a failed MCP exchange. Not getting an answer (timeout,
// network, TLS) or getting an HTTP error status (401/403 above all) is a
// transport failure; an answer the server sent with 2xx that carries a
// JSON-RPC error or cannot be read breaks the contract.
func (t *mcpTester) classify(ctx context.Context, err error) (failKind, string) {
	if ctx.Err() != nil {
		return transportFailure, t.timedOut()
	}
	status, msg := t.rec.last()
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		msg = fmt.Sprintf("HTTP %d: %s", status, msg)
		if t.o.Token == "" {
			msg += " (no token given: pass --token or set MCPCTL_TOKEN)"
		}
		return transportFailure, msg
	case status >= 400:
		return transportFailure, fmt.Sprintf("HTTP %d: %s", status, msg)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return transportFailure, ue.Error()
	}
	if status == 0 || errors.Is(err, mcp.ErrConnectionClosed) || errors.Is(err, mcp.ErrSessionMissing) || errors.Is(err, io.ErrUnexpectedEOF) {
		return transportFailure, err.Error()
	}
	var rpc *jsonrpc.Error
	if errors.As(err, &rpc) {
		return contractFailure, fmt.Sprintf("JSON-RPC error %d: %s", rpc.Code, rpc.Message)
	}
	return contractFailure, err.Error()
}

func (t *mcpTester) timedOut() string {
	return fmt.Sprintf("timed out (--timeout %s)", t.o.Timeout)
}

func millis(start time.Time) float64 {
	return math.Round(float64(time.Since(start))/float64(time.Millisecond)*10) / 10
}

// httpRecorder is the transport of the MCP client: it adds the bearer
// token and remembers how the server answered the latest POST. The go-sdk
// reports an HTTP refusal only as text (its checkResponse wraps the
// JSON-RPC error of the body and the status text), so the status is taken
// here, where it is still a number.
type httpRecorder struct {
	base  http.RoundTripper
	token string

	mu      sync.Mutex
	status  int    // of the latest POST answer; 0 when none came
	message string // what an answer >= 400 said
}

// RoundTrip implements http.RoundTripper.
func (r *httpRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	if r.token != "" {
		req = req.Clone(req.Context())
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	resp, err := r.base.RoundTrip(req)
	if err != nil || req.Method != http.MethodPost {
		return resp, err
	}
	var msg string
	if resp.StatusCode >= 400 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		msg = refusalMessage(resp.StatusCode, body)
	}
	r.mu.Lock()
	r.status, r.message = resp.StatusCode, msg
	r.mu.Unlock()
	return resp, nil
}

// reset forgets the previous answer before a step, and starts its clock.
func (r *httpRecorder) reset() time.Time {
	r.mu.Lock()
	r.status, r.message = 0, ""
	r.mu.Unlock()
	return time.Now()
}

func (r *httpRecorder) last() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.status, r.message
}

// refusalMessage is what an HTTP error answer says: the message of a
// JSON-RPC error body (what mcpd's MCP endpoints send), of an mcpd API
// error body, or the first line of a text body.
func refusalMessage(status int, body []byte) string {
	var b struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(body, &b) == nil && len(b.Error) > 0 {
		var rpc struct {
			Message string `json:"message"`
		}
		var text string
		if json.Unmarshal(b.Error, &rpc) == nil && rpc.Message != "" {
			return printable(rpc.Message)
		}
		if json.Unmarshal(b.Error, &text) == nil && text != "" {
			return printable(text)
		}
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(body)), "\n")
	if line = printable(line); line == "" {
		return http.StatusText(status)
	}
	if utf8.RuneCountInString(line) > 200 {
		line = string([]rune(line)[:200]) + "…"
	}
	return line
}
