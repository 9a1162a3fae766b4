//lint:file-ignore SA1019 the relay forwards sampling and roots requests (deprecated in 2026-07-28, alive in the session era)

package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The relay is the fast path of the commonest request: a session-era
// client's tools/call to a tool whose server is shared and reached over
// Streamable HTTP. Through the SDK such a call is decoded and encoded
// twice (as a server, then as a client), and the SDK's decoder allocates
// a 32 KiB buffer per message; the relay instead sends the client's
// arguments upstream as they came, under its own request id and progress
// token, on the upstream session the SDK opened, and answers the client
// with the server's result bytes.
//
// It keeps what the SDK path guarantees. It is taken only when nothing
// has to be forwarded in the answer's stream: the client asked for no
// progress and set no log level (the SDK would drop the server's logs
// too), and it holds its standalone GET stream open, which carries what
// the server asks of it during the call (sampling, elicitation, roots:
// forwarded through the client's session and answered upstream). The
// server's progress keeps the call alive; its list_changed and
// resources/updated notifications refresh the lists. The answer is plain
// JSON, so there is no stream to resume: a client that disconnects does
// not cancel the call (the spec: disconnection is not cancellation), its
// notifications/cancelled does. Anything else (a per-session or STDIO
// server, a name the view does not list, an upstream it cannot reach)
// goes the SDK's way, which also writes every error the relay would
// otherwise have to repeat.

// httpUpstream is how the relay reaches a Streamable HTTP upstream
// session: the endpoint and HTTP client its transport was given (the
// session's id and version come from the SDK's session).
type httpUpstream struct {
	endpoint string
	client   *http.Client
	// retries bounds the resumptions of an answer stream that made no
	// progress (the transport's MaxRetries: 5 by default, none when
	// negative).
	retries int
}

// httpUpstreamOf is the relay's handle on t, or nil when t is not plain
// Streamable HTTP (an OAuth handler would have to sign each request).
func httpUpstreamOf(t mcp.Transport) *httpUpstream {
	st, ok := t.(*mcp.StreamableClientTransport)
	if !ok || st.OAuthHandler != nil {
		return nil
	}
	hc := st.HTTPClient
	if hc == nil {
		hc = http.DefaultClient
	}
	retries := st.MaxRetries
	switch {
	case retries == 0:
		retries = 5
	case retries < 0:
		retries = 0
	}
	return &httpUpstream{endpoint: st.Endpoint, client: hc, retries: retries}
}

// upSession names an upstream session in the relay's requests.
type upSession struct{ id, version string }

func sessionOf(cs *mcp.ClientSession) upSession {
	s := upSession{id: cs.ID()}
	if ir := cs.InitializeResult(); ir != nil {
		s.version = ir.ProtocolVersion
	}
	return s
}

// errClientCancelled answers a call the client cancelled before the
// relay sent it.
var errClientCancelled = &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: "the client cancelled the request"}

// errFallback says the relay sent nothing the server took: the SDK path
// serves the request instead.
var errFallback = errors.New("relay: not sent")

var (
	jsonrpcKey      = []byte(`"jsonrpc"`)
	methodKey       = []byte(`"method"`)
	toolsCallMethod = []byte(`"tools/call"`)
	cancelledMethod = []byte(`"notifications/cancelled"`)
)

// message is a JSON-RPC message of either direction, fields left raw.
type message struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method"`
	Params  json.RawMessage `json:"params"`
	Result  json.RawMessage `json:"result"`
	Error   json.RawMessage `json:"error"`
}

// relay serves a session-era POST itself when it can and says whether it
// did; otherwise the body is left for the SDK.
func (e *Edge) relay(w http.ResponseWriter, r *http.Request, v *view, s *edgeSession) bool {
	body, err := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		if _, over := errors.AsType[*http.MaxBytesError](err); over {
			e.tooLarge(w)
		} else {
			WriteError(w, http.StatusBadRequest, "BAD_REQUEST", fmt.Sprintf("the request body could not be read: %v", err))
		}
		return true
	}
	if !bytes.Contains(body, toolsCallMethod) && !bytes.Contains(body, cancelledMethod) {
		return false
	}
	var msg message
	if json.Unmarshal(body, &msg) != nil || msg.JSONRPC != "2.0" || !bytes.Contains(body, jsonrpcKey) || !bytes.Contains(body, methodKey) {
		return false // (encoding/json matches keys in any case; the SDK does not)
	}
	switch msg.Method {
	case "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
			Reason    string          `json:"reason"`
		}
		if msg.ID != nil || json.Unmarshal(msg.Params, &p) != nil || !s.cancelRelayed(p.RequestID, p.Reason) {
			return false
		}
		w.WriteHeader(http.StatusAccepted)
		return true
	case "tools/call":
		if !plainID(msg.ID) || r.Header.Get("Last-Event-ID") != "" {
			return false // the SDK refuses these
		}
		return e.relayCall(w, r, v, s, msg.ID, msg.Params)
	}
	return false
}

// relayCall relays one tools/call, or says it cannot.
func (e *Edge) relayCall(w http.ResponseWriter, r *http.Request, v *view, s *edgeSession, id, raw json.RawMessage) bool {
	g := e.gw
	var p struct {
		Name      string                     `json:"name"`
		Arguments json.RawMessage            `json:"arguments"`
		Meta      map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(raw, &p) != nil || p.Name == "" {
		return false
	}
	if _, asked := p.Meta["progressToken"]; asked || s.ss.InitializeParams() == nil || g.leveled(s.ss) || !acceptsJSON(r) || !s.streaming() {
		return false
	}
	// Tracked at once, so that the client's notifications/cancelled
	// reaches the call from here on; the client's connection does not
	// bound it.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	if ok, gone := s.trackRelayed(id, cancel); !ok {
		cancel(nil)
		if gone {
			return false // the SDK answers for a closed session
		}
		writeAnswerStatus(w, http.StatusBadRequest, id, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidRequest, Message: fmt.Sprintf("duplicate in-flight request ID %s", id)})
		return true
	}
	release := func() {
		cancel(nil)
		s.untrackRelayed(id)
	}
	detached := false
	defer func() {
		if !detached {
			release()
		}
	}()
	// cancelled answers a call the client cancelled before it was sent,
	// instead of handing it to the SDK, which would run it.
	cancelled := func() bool {
		if ctx.Err() == nil {
			return false
		}
		writeAnswer(w, id, nil, errClientCancelled)
		return true
	}
	st := v.state.Load()
	if cfg, err := v.config(ctx); err == nil && cfg != st.cfg {
		st = v.sync(ctx) // as the SDK path's middleware does
	} else if _, ok := st.tools[p.Name]; !ok {
		st = v.sync(ctx)
	}
	ref, ok := st.tools[p.Name]
	if !ok || st.modes[ref.server] == v1.SessionPerSession {
		return cancelled()
	}
	cs, err := g.dialer.Shared(ctx, ref.server)
	if err != nil {
		return cancelled()
	}
	l := g.linkOf(cs, ref.server, nil)
	up := l.http.Load()
	sess := sessionOf(cs)
	if up == nil || sess.version == "" || sess.version >= StatelessVersion {
		return cancelled()
	}

	// The call runs on when the client hangs up; its answer is lost then
	// (a JSON answer cannot be resumed), its audit is not.
	principal, _ := r.Context().Value(principalCtx{}).(Principal)
	answers := make(chan relayAnswer, 1)
	detached = true
	// The call keeps its session busy (no idle expiry, no eviction) and
	// the edge waits for it when it closes.
	s.begin()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer e.end(s)
		a := e.relayed(ctx, v, s, l, up, sess, ref, principal, p.Arguments, p.Meta)
		release() // before the client hears the answer and may reuse the id
		answers <- a
	}()
	select {
	case a := <-answers:
		if a.fallback {
			if a.cancelled {
				writeAnswer(w, id, nil, errClientCancelled)
				return true
			}
			return false
		}
		writeAnswer(w, id, a.result, a.rpcErr)
	case <-r.Context().Done():
	}
	return true
}

// relayAnswer is how a relayed call ended: fallback (nothing was sent;
// cancelled says whether the client gave it up meanwhile), or the result
// or error (a *jsonrpc.Error or its JSON) for the client.
type relayAnswer struct {
	fallback, cancelled bool
	result              json.RawMessage
	rpcErr              any
}

// relayed makes a relayed call and records it.
func (e *Edge) relayed(ctx context.Context, v *view, s *edgeSession, l *link, up *httpUpstream, sess upSession, r ref, principal Principal, args json.RawMessage, meta map[string]json.RawMessage) relayAnswer {
	g := e.gw
	start := time.Now()
	result, rpcErr, err := func() (json.RawMessage, json.RawMessage, error) {
		c, callCtx, end := g.begin(ctx, l, s.ss, nil)
		defer end()
		result, rpcErr, err := g.relayTo(callCtx, up, sess, c, r, args, meta)
		if err != nil && !errors.Is(err, errFallback) {
			// Given up before the server answered: it may still be at
			// work.
			go up.cancelUpstream(sess, c.up, context.Cause(callCtx))
			err = g.failure(callCtx, r.server, "tool "+r.name, err)
		}
		return result, rpcErr, err
	}()
	if errors.Is(err, errFallback) {
		return relayAnswer{fallback: true, cancelled: ctx.Err() != nil}
	}
	outcome, detail := OutcomeOK, argShape(args)
	a := relayAnswer{result: result}
	switch {
	case err != nil:
		we := wireError(err)
		outcome, detail, a.rpcErr = OutcomeError, we.Message, we
	case rpcErr != nil:
		var we jsonrpc.Error
		json.Unmarshal(rpcErr, &we)
		outcome, detail, a.rpcErr = OutcomeError, we.Message, rpcErr
	case bytes.Contains(result, isErrorKey):
		var flag struct {
			IsError bool `json:"isError"`
		}
		if json.Unmarshal(result, &flag) == nil && flag.IsError {
			outcome = OutcomeToolError
		}
	}
	g.recordAs(principal, v.name, r, "tools/call", start, outcome, false, detail, s.id)
	g.metrics.Relayed.Inc()
	return a
}

var isErrorKey = []byte(`"isError"`)

// writeAnswer answers a relayed request: result, or rpcErr (a
// *jsonrpc.Error or its JSON).
func writeAnswer(w http.ResponseWriter, id, result json.RawMessage, rpcErr any) {
	writeAnswerStatus(w, http.StatusOK, id, result, rpcErr)
}

func writeAnswerStatus(w http.ResponseWriter, status int, id, result json.RawMessage, rpcErr any) {
	out := append(append(append(make([]byte, 0, len(result)+len(id)+64), `{"jsonrpc":"2.0","id":`...), id...), ',')
	if rpcErr != nil {
		b, ok := rpcErr.(json.RawMessage)
		if !ok {
			b, _ = json.Marshal(rpcErr)
		}
		out = append(append(out, `"error":`...), b...)
	} else {
		out = append(append(out, `"result":`...), result...)
	}
	out = append(out, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache, no-transform")
	w.WriteHeader(status)
	w.Write(out)
}

// plainID says whether a request id is one the relay echoes as it came:
// a string or an integer.
func plainID(id json.RawMessage) bool {
	if len(id) == 0 {
		return false
	}
	if id[0] == '"' {
		return true
	}
	_, err := strconv.ParseInt(string(id), 10, 64)
	return err == nil
}

// present says whether a raw field was sent with a value (null is none).
func present(raw json.RawMessage) bool {
	return len(raw) > 0 && string(raw) != "null"
}

// wireError is err as the JSON-RPC error the client gets.
func wireError(err error) *jsonrpc.Error {
	if we, ok := errors.AsType[*jsonrpc.Error](err); ok {
		return we
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: err.Error()}
}

// acceptsJSON says whether the client takes a plain JSON answer (the
// spec has clients accept both JSON and event streams).
func acceptsJSON(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return a == "" || strings.Contains(a, "application/json") || strings.Contains(a, "*/*")
}

// relayTo sends the call upstream and reads its answer: the result or
// the server's JSON-RPC error, raw.
func (g *Gateway) relayTo(ctx context.Context, up *httpUpstream, sess upSession, c *call, r ref, args json.RawMessage, down map[string]json.RawMessage) (result, rpcErr json.RawMessage, err error) {
	meta := make(map[string]json.RawMessage, len(down)+1)
	for k, v := range down {
		if !strings.HasPrefix(k, protocolMeta) {
			meta[k] = v
		}
	}
	meta["progressToken"] = json.RawMessage(strconv.Quote(c.up))
	if !present(args) {
		args = json.RawMessage("{}") // as the SDK's client sends
	}
	body, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      string `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{"2.0", c.up, "tools/call", struct {
		Meta      map[string]json.RawMessage `json:"_meta"`
		Name      string                     `json:"name"`
		Arguments json.RawMessage            `json:"arguments"`
	}{meta, r.name, args}})
	if err != nil {
		return nil, nil, fmt.Errorf("the arguments are not JSON: %w", err)
	}
	resp, err := up.send(ctx, sess, http.MethodPost, body, "")
	if err != nil {
		if op, ok := errors.AsType[*net.OpError](err); ok && op.Op == "dial" && ctx.Err() == nil {
			return nil, nil, errFallback // nothing reached the server
		}
		return nil, nil, err
	}
	rd := &answerReader{g: g, up: up, sess: sess, c: c, server: r.server, what: "tool " + r.name, id: strconv.Quote(c.up)}
	// A stream that ends or breaks before the answer is resumed where it
	// stopped, as the SDK's client does: up to the transport's retries
	// in a row without a new event.
	seen, failures := "", 0
	for {
		final, err := rd.read(ctx, resp)
		if final != nil {
			drain(resp.Body)
			if present(final.Error) {
				return nil, final.Error, nil
			}
			if n := int64(len(final.Result)); n > g.cfg.MaxResponseBytes {
				return nil, nil, g.overLimit(r.server, "tool "+r.name, n)
			}
			return normalResult(final.Result), nil, nil
		}
		resp.Body.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if _, fatal := errors.AsType[*jsonrpc.Error](err); fatal {
			return nil, nil, err
		}
		why := "ended its answer stream without answering"
		if err != nil {
			why = fmt.Sprintf("broke its answer stream (%v)", err)
		}
		if rd.lastID == "" {
			return nil, nil, fmt.Errorf("server %s %s", r.server, why)
		}
		if rd.lastID != seen {
			seen, failures = rd.lastID, 0
		}
		for {
			if failures++; failures > up.retries {
				return nil, nil, fmt.Errorf("server %s %s, and resuming it failed %d times", r.server, why, up.retries)
			}
			delay := rd.retry
			if delay == 0 {
				delay = min(100*time.Millisecond<<(failures-1), 5*time.Second)
			}
			select {
			case <-time.After(delay):
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			if resp, err = up.send(ctx, sess, http.MethodGet, nil, rd.lastID); err == nil {
				break
			}
			hs, refused := errors.AsType[*httpStatus](err)
			if _, fatal := errors.AsType[*jsonrpc.Error](err); fatal || ctx.Err() != nil || refused && hs.code/100 == 4 {
				return nil, nil, fmt.Errorf("server %s %s, and refused its resumption: %w", r.server, why, err)
			}
			why += fmt.Sprintf("; resuming: %v", err)
		}
	}
}

// normalResult is a tool's result as the SDK path would answer it: with
// content, even when the server sent none or null.
func normalResult(res json.RawMessage) json.RawMessage {
	if !present(res) {
		return json.RawMessage(`{"content":[]}`)
	}
	var top struct {
		Content presence `json:"content"`
	}
	if res[0] != '{' || json.Unmarshal(res, &top) != nil || top.Content.set && !top.Content.null {
		return res
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(res, &fields) != nil {
		return res
	}
	fields["content"] = json.RawMessage("[]")
	out, err := json.Marshal(fields)
	if err != nil {
		return res
	}
	return out
}

// presence notes whether a field was sent, and whether as null, without
// keeping its value.
type presence struct{ set, null bool }

func (p *presence) UnmarshalJSON(b []byte) error {
	p.set, p.null = true, string(b) == "null"
	return nil
}

// drain reads what is left of an answer (an event stream's end) so that
// its connection can serve the next request, for a moment at most.
func drain(body io.ReadCloser) {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, io.LimitReader(body, 64<<10))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	body.Close()
	<-done
}

// send makes one request on an upstream session. A refusal that carries
// a JSON-RPC error is returned as that error.
func (u *httpUpstream) send(ctx context.Context, sess upSession, method string, body []byte, lastEvent string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.endpoint, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
	} else {
		req.Header.Set("Accept", "text/event-stream")
	}
	if sess.id != "" {
		req.Header.Set(headerSession, sess.id)
	}
	if sess.version != "" {
		req.Header.Set(headerVersion, sess.version)
	}
	if lastEvent != "" {
		req.Header.Set("Last-Event-ID", lastEvent)
	}
	resp, err := u.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound && method == http.MethodPost && lastEvent == "" {
		// The server lost the session: the SDK path finds out and dials
		// again; the request was not taken.
		resp.Body.Close()
		return nil, errFallback
	}
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		var m message
		var we jsonrpc.Error
		if json.Unmarshal(b, &m) == nil && present(m.Error) && json.Unmarshal(m.Error, &we) == nil && we.Message != "" {
			return nil, &we
		}
		return nil, &httpStatus{code: resp.StatusCode, body: strings.TrimSpace(string(b[:min(len(b), 512)]))}
	}
	return resp, nil
}

// httpStatus is a refusal with no JSON-RPC error in it.
type httpStatus struct {
	code int
	body string
}

func (h *httpStatus) Error() string { return fmt.Sprintf("HTTP %d: %s", h.code, h.body) }

// notify sends a notification or a response upstream (answered 202).
func (u *httpUpstream) notify(sess upSession, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := u.send(ctx, sess, http.MethodPost, body, "")
	if err != nil {
		return err
	}
	drain(resp.Body)
	return nil
}

// clientCancel is the cause of a call the client cancelled.
type clientCancel struct{ reason string }

func (c *clientCancel) Error() string { return "the client cancelled the request" }

// cancelUpstream tells the server a relayed request was given up.
func (u *httpUpstream) cancelUpstream(sess upSession, id string, why error) {
	reason := "the gateway gave up waiting for the answer"
	if cc, ok := errors.AsType[*clientCancel](why); ok {
		reason = cc.reason
	} else if errors.Is(why, errCallTimeout) {
		reason = "the gateway's call timeout passed with no progress"
	}
	params := map[string]any{"requestId": id}
	if reason != "" {
		params["reason"] = reason
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled", "params": params})
	u.notify(sess, body)
}

// answerReader reads the upstream's answer to one relayed call, a JSON
// body or an event stream, handling what comes before the answer.
type answerReader struct {
	g      *Gateway
	up     *httpUpstream
	sess   upSession
	c      *call
	server string
	what   string // "tool <name>", for messages
	id     string // the relayed request's id, as JSON

	lastID string
	retry  time.Duration
}

// read reads one response body: the final answer, or nil when the
// stream ended before it. A *jsonrpc.Error is final: the answer is
// refused.
func (a *answerReader) read(ctx context.Context, resp *http.Response) (*message, error) {
	limit := a.g.cfg.MaxResponseBytes + 64<<10
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > limit {
			return nil, a.g.overLimit(a.server, a.what, -1)
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, a.notRPC("an empty body")
		}
		return a.handle(b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4<<10), int(limit))
	var data []byte
	event, id := "", ""
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			// An event counts once whole: only then is its id where a
			// resumption starts. The SDK's client reads "message" events
			// (the default).
			if id != "" {
				a.lastID = id
			}
			if len(data) > 0 && (event == "" || event == "message") {
				final, err := a.handle(data)
				if final != nil || err != nil {
					return final, err
				}
			}
			data, event, id = data[:0], "", ""
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch string(field) {
		case "data":
			if int64(len(data)+len(value)) > limit {
				return nil, a.g.overLimit(a.server, a.what, -1)
			}
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		case "event":
			event = string(value)
		case "id":
			id = string(value)
		case "retry":
			if ms, err := strconv.Atoi(string(value)); err == nil && ms >= 0 {
				a.retry = min(time.Duration(ms)*time.Millisecond, 5*time.Second)
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, a.g.overLimit(a.server, a.what, -1)
		}
		return nil, err
	}
	// (A last event with no blank line after it is not whole.)
	return nil, nil
}

func (a *answerReader) notRPC(what string) error {
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: fmt.Sprintf("server %s answered %s with %s, not JSON-RPC", a.server, a.what, what)}
}

// handle takes one message of the answer: the answer itself is returned;
// what the server sends before it is dealt with here.
func (a *answerReader) handle(b []byte) (*message, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, a.notRPC(fmt.Sprintf("something else (%v)", err))
	}
	switch {
	case m.Method == "":
		if string(m.ID) == a.id {
			return &m, nil
		}
	case m.ID == nil:
		a.g.relayNotice(a.c, a.server, m.Method, m.Params)
	default:
		go a.g.answerUpstream(a.up, a.sess, a.c, a.server, m)
	}
	return nil, nil
}

// relayNotice takes a notification the server sent during a relayed call.
// Its logs are not forwarded: the client set no log level.
func (g *Gateway) relayNotice(c *call, server, method string, params json.RawMessage) {
	switch method {
	case "notifications/progress":
		var p struct {
			Token any `json:"progressToken"`
		}
		if json.Unmarshal(params, &p) == nil && p.Token == c.up {
			c.touch()
		}
	case "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed":
		g.listsChanged(server)
	case "notifications/resources/updated":
		var p mcp.ResourceUpdatedNotificationParams
		if json.Unmarshal(params, &p) == nil {
			g.resourceUpdated(server, p.URI)
		}
	}
}

// answerUpstream forwards a request the server made during a relayed
// call to the call's client (on its session's stream) and sends the
// answer back.
func (g *Gateway) answerUpstream(up *httpUpstream, sess upSession, c *call, server string, m message) {
	var res any
	var err error
	ask := func(p any, f func() (any, error)) {
		if len(m.Params) > 0 {
			if err = json.Unmarshal(m.Params, p); err != nil {
				err = &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("%s: %v", m.Method, err)}
				return
			}
		}
		res, err = f()
	}
	switch m.Method {
	case "ping":
		res = struct{}{}
	case "roots/list":
		p := &mcp.ListRootsParams{}
		ask(p, func() (any, error) { return c.ss.ListRoots(c.ctx, p) })
	case "sampling/createMessage":
		p := &mcp.CreateMessageParams{}
		ask(p, func() (any, error) { return c.ss.CreateMessage(c.ctx, p) })
	case "elicitation/create":
		p := &mcp.ElicitParams{}
		ask(p, func() (any, error) { return c.ss.Elicit(c.ctx, p) })
	default:
		err = &jsonrpc.Error{Code: jsonrpc.CodeMethodNotFound, Message: fmt.Sprintf("mcpctl does not forward %q to clients", m.Method)}
	}
	reply := map[string]any{"jsonrpc": "2.0", "id": m.ID}
	if err != nil {
		reply["error"] = wireError(err)
	} else {
		reply["result"] = res
	}
	body, merr := json.Marshal(reply)
	if merr != nil {
		body, _ = json.Marshal(map[string]any{"jsonrpc": "2.0", "id": m.ID, "error": wireError(merr)})
	}
	if err := up.notify(sess, body); err != nil {
		g.log.Debug("answer to a server's request not delivered", "server", server, "method", m.Method, "err", err)
	}
}

// trackRelayed records a relayed call by the client's request id, so
// that the client's notifications/cancelled reaches it.
func (s *edgeSession) trackRelayed(id json.RawMessage, cancel context.CancelCauseFunc) (ok, gone bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return false, true
	}
	if _, dup := s.relayed[string(id)]; dup {
		return false, false
	}
	if s.relayed == nil {
		s.relayed = map[string]context.CancelCauseFunc{}
	}
	s.relayed[string(id)] = cancel
	return true, false
}

func (s *edgeSession) untrackRelayed(id json.RawMessage) {
	s.mu.Lock()
	delete(s.relayed, string(id))
	s.mu.Unlock()
}

// cancelRelayed cancels the relayed call of a request id, if one is in
// flight.
func (s *edgeSession) cancelRelayed(id json.RawMessage, reason string) bool {
	s.mu.Lock()
	cancel := s.relayed[string(id)]
	s.mu.Unlock()
	if cancel != nil {
		cancel(&clientCancel{reason: reason})
	}
	return cancel != nil
}

// cancelAllRelayed cancels the relayed calls of a session that ended.
func (s *edgeSession) cancelAllRelayed() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gone = true
	for _, cancel := range s.relayed {
		cancel(&clientCancel{reason: "the client's session ended"})
	}
}

// streaming says whether the client holds its standalone stream open.
func (s *edgeSession) streaming() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.streams > 0
}
