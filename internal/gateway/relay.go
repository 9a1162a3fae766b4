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
// too). The server's own progress keeps the call alive; its sampling,
// elicitation and roots requests are forwarded through the client's
// session (they arrive on its GET stream) and answered upstream; its
// list_changed and resources/updated notifications refresh the lists.
// Anything else (a per-session or STDIO server, a name the view does not
// list, an upstream it cannot reach) goes the SDK's way, which also
// writes every error the relay would otherwise have to repeat.

// httpUpstream is how the relay reaches a Streamable HTTP upstream
// session: the endpoint and HTTP client its transport was given (the
// session's id and version come from the SDK's session).
type httpUpstream struct {
	endpoint string
	client   *http.Client
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
	return &httpUpstream{endpoint: st.Endpoint, client: hc}
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

// errFallback says the relay sent nothing the server took: the SDK path
// serves the request instead.
var errFallback = errors.New("relay: not sent")

var (
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
	if json.Unmarshal(body, &msg) != nil || msg.JSONRPC != "2.0" {
		return false
	}
	switch msg.Method {
	case "notifications/cancelled":
		var p struct {
			RequestID json.RawMessage `json:"requestId"`
		}
		if msg.ID != nil || json.Unmarshal(msg.Params, &p) != nil || !s.cancelRelayed(p.RequestID) {
			return false
		}
		w.WriteHeader(http.StatusAccepted)
		return true
	case "tools/call":
		if len(msg.ID) == 0 || string(msg.ID) == "null" {
			return false
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
	if _, asked := p.Meta["progressToken"]; asked || s.ss.InitializeParams() == nil || g.leveled(s.ss) || !acceptsJSON(r) {
		return false
	}
	ctx := r.Context()
	st := v.state.Load()
	if cfg, err := v.config(ctx); err == nil && cfg != st.cfg {
		st = v.sync(ctx) // as the SDK path's middleware does
	} else if _, ok := st.tools[p.Name]; !ok {
		st = v.sync(ctx)
	}
	ref, ok := st.tools[p.Name]
	if !ok || st.modes[ref.server] == v1.SessionPerSession {
		return false
	}
	cs, err := g.dialer.Shared(ctx, ref.server)
	if err != nil {
		return false
	}
	l := g.linkOf(cs, ref.server, nil)
	up := l.http.Load()
	sess := sessionOf(cs)
	if up == nil || sess.version == "" || sess.version >= StatelessVersion {
		return false
	}

	start := time.Now()
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if !s.trackRelayed(id, cancel) {
		return false // the same id twice in flight: the SDK says what is wrong
	}
	defer s.untrackRelayed(id)
	result, rpcErr, err := func() (json.RawMessage, json.RawMessage, error) {
		c, callCtx, end := g.begin(ctx, l, s.ss, nil)
		defer end()
		result, rpcErr, err := g.relayTo(callCtx, up, sess, c, ref, p.Arguments, p.Meta)
		if err != nil && !errors.Is(err, errFallback) {
			if callCtx.Err() != nil {
				go up.cancelUpstream(sess, c.up, context.Cause(callCtx))
			}
			err = g.failure(callCtx, ref.server, "tool "+ref.name, err)
		}
		return result, rpcErr, err
	}()
	if errors.Is(err, errFallback) {
		return false
	}

	outcome, detail := OutcomeOK, argShape(p.Arguments)
	out := append(append(append(make([]byte, 0, len(result)+len(id)+64), `{"jsonrpc":"2.0","id":`...), id...), ',')
	switch {
	case err != nil:
		we := wireError(err)
		outcome, detail = OutcomeError, we.Message
		b, _ := json.Marshal(we)
		out = append(append(out, `"error":`...), b...)
	case rpcErr != nil:
		var we jsonrpc.Error
		json.Unmarshal(rpcErr, &we)
		outcome, detail = OutcomeError, we.Message
		out = append(append(out, `"error":`...), rpcErr...)
	default:
		var flag struct {
			IsError bool `json:"isError"`
		}
		if json.Unmarshal(result, &flag) == nil && flag.IsError {
			outcome = OutcomeToolError
		}
		out = append(append(out, `"result":`...), result...)
	}
	out = append(out, "}\n"...)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.Write(out)
	principal, _ := r.Context().Value(principalCtx{}).(Principal)
	g.recordAs(principal, v.name, ref, "tools/call", start, outcome, false, detail, s.id)
	g.metrics.Relayed.Inc()
	return true
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
	body, err := json.Marshal(struct {
		JSONRPC string `json:"jsonrpc"`
		ID      string `json:"id"`
		Method  string `json:"method"`
		Params  any    `json:"params"`
	}{"2.0", c.up, "tools/call", struct {
		Meta      map[string]json.RawMessage `json:"_meta"`
		Name      string                     `json:"name"`
		Arguments json.RawMessage            `json:"arguments,omitempty"`
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
	for resumes := 0; ; resumes++ {
		final, err := rd.read(ctx, resp)
		resp.Body.Close()
		if err != nil || final != nil {
			if final != nil {
				result, rpcErr = final.Result, final.Error
				if n := int64(len(result)); n > g.cfg.MaxResponseBytes {
					return nil, nil, g.overLimit(r.server, "tool "+r.name, n)
				}
			}
			return result, rpcErr, err
		}
		// The server ended the stream before answering: resume it where
		// it stopped, as the SDK client would.
		if rd.lastID == "" || resumes == 3 {
			return nil, nil, fmt.Errorf("server %s ended its answer stream without answering", r.server)
		}
		select {
		case <-time.After(rd.retry):
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		if resp, err = up.send(ctx, sess, http.MethodGet, nil, rd.lastID); err != nil {
			return nil, nil, err
		}
	}
}

// send makes one request on cs's upstream session.
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
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	return resp, nil
}

// notify sends a notification or a response upstream (answered 202).
func (u *httpUpstream) notify(sess upSession, body []byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := u.send(ctx, sess, http.MethodPost, body, "")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.Body.Close()
}

// cancelUpstream tells the server a relayed request was given up.
func (u *httpUpstream) cancelUpstream(sess upSession, id string, why error) {
	reason := "the client cancelled the request"
	if errors.Is(why, errCallTimeout) {
		reason = "the gateway's call timeout passed with no progress"
	}
	body, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": "notifications/cancelled",
		"params": map[string]any{"requestId": id, "reason": reason}})
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
// stream ended before it.
func (a *answerReader) read(ctx context.Context, resp *http.Response) (*message, error) {
	limit := a.g.cfg.MaxResponseBytes + 64<<10
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
		if err != nil {
			return nil, err
		}
		if int64(len(b)) > limit {
			return nil, a.g.overLimit(a.server, a.what, int64(len(b)))
		}
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, fmt.Errorf("server %s answered with an empty body", a.server)
		}
		return a.handle(ctx, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4<<10), int(limit))
	var data []byte
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			if len(data) > 0 {
				final, err := a.handle(ctx, data)
				if final != nil || err != nil {
					return final, err
				}
			}
			data = data[:0]
			continue
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "data":
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, value...)
		case "id":
			a.lastID = string(value)
		case "retry":
			if ms, err := strconv.Atoi(string(value)); err == nil && ms >= 0 {
				a.retry = min(time.Duration(ms)*time.Millisecond, 5*time.Second)
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, a.g.overLimit(a.server, a.what, limit)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if len(data) > 0 {
		return a.handle(ctx, data)
	}
	return nil, nil
}

// handle takes one message of the answer: the answer itself is returned;
// what the server sends before it is dealt with here.
func (a *answerReader) handle(ctx context.Context, b []byte) (*message, error) {
	var m message
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("server %s sent something that is not JSON-RPC: %v", a.server, err)
	}
	switch {
	case m.Method == "":
		if string(m.ID) == a.id {
			if m.Result == nil && m.Error == nil {
				m.Result = json.RawMessage("{}")
			}
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
func (s *edgeSession) trackRelayed(id json.RawMessage, cancel context.CancelCauseFunc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.relayed[string(id)]; dup {
		return false
	}
	if s.relayed == nil {
		s.relayed = map[string]context.CancelCauseFunc{}
	}
	s.relayed[string(id)] = cancel
	return true
}

func (s *edgeSession) untrackRelayed(id json.RawMessage) {
	s.mu.Lock()
	delete(s.relayed, string(id))
	s.mu.Unlock()
}

// cancelRelayed cancels the relayed call of a request id, if one is in
// flight.
func (s *edgeSession) cancelRelayed(id json.RawMessage) bool {
	s.mu.Lock()
	cancel := s.relayed[string(id)]
	s.mu.Unlock()
	if cancel != nil {
		cancel(context.Canceled)
	}
	return cancel != nil
}
