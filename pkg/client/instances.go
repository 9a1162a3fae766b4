package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func instancePath(id string) string { return "/api/v1/instances/" + url.PathEscape(id) }

// ListInstances returns the instances (of one server when server is set),
// stopped ones too when all.
func (c *Client) ListInstances(ctx context.Context, server string, all bool) ([]v1.Instance, error) {
	var out []v1.Instance
	q := url.Values{"limit": {"1000"}}
	if server != "" {
		q.Set("server", server)
	}
	if all {
		q.Set("all", "true")
	}
	for {
		var page v1.InstanceList
		if err := c.do(ctx, http.MethodGet, "/api/v1/instances", q, nil, &page); err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
		if page.NextCursor == "" {
			return out, nil
		}
		q.Set("cursor", page.NextCursor)
	}
}

// GetInstance reads one instance.
func (c *Client) GetInstance(ctx context.Context, id string) (*v1.Instance, error) {
	var out v1.Instance
	return &out, c.do(ctx, http.MethodGet, instancePath(id), nil, nil, &out)
}

// InstanceHealth reads one instance's health.
func (c *Client) InstanceHealth(ctx context.Context, id string) (*v1.InstanceHealth, error) {
	var out v1.InstanceHealth
	return &out, c.do(ctx, http.MethodGet, instancePath(id)+"/health", nil, nil, &out)
}

// ErrAccepted: another mcpd replica starts the instance (HTTP 202).
var ErrAccepted = errors.New("accepted: another mcpd replica starts the instance on its next pass")

// StartInstance starts one more instance of a server.
func (c *Client) StartInstance(ctx context.Context, server string) (*v1.Instance, error) {
	resp, data, err := c.send(ctx, http.MethodPost, "/api/v1/instances", nil, v1.StartInstance{Server: server})
	if err != nil {
		return nil, err
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil, ErrAccepted
	case resp.StatusCode >= 300:
		return nil, decodeError(resp, data)
	}
	var out v1.Instance
	return &out, json.Unmarshal(data, &out)
}

// longCall runs a call that may outlast the client's timeout (a stop that
// drains): it gets drain plus a minute.
func (c *Client) longCall(ctx context.Context, drain time.Duration, method, path string, q url.Values, out any) error {
	lc := *c
	hc := *c.http
	hc.Timeout = 0
	lc.http = &hc
	ctx, cancel := context.WithTimeout(ctx, max(drain, 10*time.Second)+time.Minute)
	defer cancel()
	return lc.do(ctx, method, path, q, nil, out)
}

func drainQuery(drain time.Duration) url.Values {
	if drain <= 0 {
		return nil
	}
	return url.Values{"drainTimeout": {drain.String()}}
}

// StopInstance stops an instance for good (its server's replicas drop by
// one), waiting up to drain for it to finish; zero means mcpd's default.
func (c *Client) StopInstance(ctx context.Context, id string, drain time.Duration) (*v1.Instance, error) {
	var out v1.Instance
	return &out, c.longCall(ctx, drain, http.MethodDelete, instancePath(id), drainQuery(drain), &out)
}

// RestartInstance stops an instance and starts it again.
func (c *Client) RestartInstance(ctx context.Context, id string, drain time.Duration) (*v1.Instance, error) {
	var out v1.Instance
	return &out, c.longCall(ctx, drain, http.MethodPost, instancePath(id)+"/restart", drainQuery(drain), &out)
}

// LogOptions select log lines.
type LogOptions struct {
	// Tail asks for the last Tail lines (without Cursor).
	Tail int
	// Since drops older lines: a duration back from now, or a time.
	Since string
	// Cursor continues after a line's seq.
	Cursor int64
	// Limit caps a page (0: mcpd's default of 1000).
	Limit int
}

func (o LogOptions) query() url.Values {
	q := url.Values{}
	if o.Tail > 0 {
		q.Set("tail", strconv.Itoa(o.Tail))
	}
	if o.Since != "" {
		q.Set("since", o.Since)
	}
	if o.Cursor > 0 {
		q.Set("cursor", strconv.FormatInt(o.Cursor, 10))
	}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	return q
}

// Logs reads one page of an instance's log and the cursor after it.
func (c *Client) Logs(ctx context.Context, id string, o LogOptions) ([]v1.LogLine, int64, error) {
	resp, data, err := c.send(ctx, http.MethodGet, instancePath(id)+"/logs", o.query(), nil)
	if err != nil {
		return nil, 0, err
	}
	if resp.StatusCode >= 300 {
		return nil, 0, decodeError(resp, data)
	}
	var lines []v1.LogLine
	dec := json.NewDecoder(strings.NewReader(string(data)))
	for dec.More() {
		var l v1.LogLine
		if err := dec.Decode(&l); err != nil {
			return nil, 0, fmt.Errorf("decode log line: %w", err)
		}
		lines = append(lines, l)
	}
	next, _ := strconv.ParseInt(resp.Header.Get("X-Next-Cursor"), 10, 64)
	return lines, next, nil
}

// Transports of a log follow.
const (
	FollowWebSocket = "websocket"
	FollowSSE       = "sse"
)

// FollowResult says how a follow connection ended.
type FollowResult struct {
	// Cursor is the seq of the last line delivered.
	Cursor int64
	// Ended: mcpd closed the stream because the instance stopped for good
	// (or was deleted); following again is pointless.
	Ended bool
	// Reason is mcpd's word on why it ended.
	Reason string
	// Transport is the one used: websocket or sse.
	Transport string
}

// ErrUpgradeRefused: something between the client and mcpd (a proxy)
// answered the WebSocket upgrade with a plain HTTP answer; use SSE.
var ErrUpgradeRefused = errors.New("the WebSocket upgrade was refused on the way to mcpd")

// FollowLogs streams an instance's log lines to fn over one connection,
// after o.Cursor (or the last o.Tail lines), until the instance stops for
// good, the connection breaks, or ctx ends. transport is websocket or sse.
// The caller reconnects from the returned cursor.
func (c *Client) FollowLogs(ctx context.Context, id string, o LogOptions, transport string, fn func(v1.LogLine) error) (FollowResult, error) {
	f := &follow{res: FollowResult{Cursor: o.Cursor, Transport: transport}, fn: fn}
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + instancePath(id) + "/logs/stream"
	u.RawQuery = o.query().Encode()
	hc := *c.http
	hc.Timeout = 0 // a follow lasts
	h := http.Header{"User-Agent": {"mcpctl/" + v1.Version}}
	if c.token != "" {
		h.Set("Authorization", "Bearer "+c.token)
	}
	var err error
	if transport == FollowWebSocket {
		err = c.followWebSocket(ctx, u.String(), &hc, h, f)
	} else {
		err = c.followSSE(ctx, u.String(), &hc, h, f)
	}
	return f.res, err
}

// follow is one follow connection's progress.
type follow struct {
	res FollowResult
	fn  func(v1.LogLine) error
}

// deliver hands a line on unless it came before a reconnect already.
func (f *follow) deliver(l v1.LogLine) error {
	if l.Seq <= f.res.Cursor && f.res.Cursor > 0 {
		return nil
	}
	if err := f.fn(l); err != nil {
		return err
	}
	f.res.Cursor = l.Seq
	return nil
}

func (f *follow) ended(reason string) {
	f.res.Ended, f.res.Reason = true, reason
}

func (c *Client) followWebSocket(ctx context.Context, url string, hc *http.Client, h http.Header, f *follow) error {
	conn, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: hc, HTTPHeader: h})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			if apiErr := decodeError(resp, data); isAPIError(apiErr) {
				return apiErr // mcpd itself refused: no point in SSE
			}
			return fmt.Errorf("%w (HTTP %d)", ErrUpgradeRefused, resp.StatusCode)
		}
		return &UnreachableError{URL: c.base.String(), Err: err}
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			if websocket.CloseStatus(err) == websocket.StatusNormalClosure {
				var ce websocket.CloseError
				errors.As(err, &ce)
				f.ended(ce.Reason)
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("log stream broke: %w", err)
		}
		var l v1.LogLine
		if err := json.Unmarshal(data, &l); err != nil {
			return fmt.Errorf("decode log line: %w", err)
		}
		if err := f.deliver(l); err != nil {
			return err
		}
	}
}

func (c *Client) followSSE(ctx context.Context, url string, hc *http.Client, h http.Header, f *follow) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header = h
	req.Header.Set("Accept", "text/event-stream")
	if f.res.Cursor > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(f.res.Cursor, 10))
	}
	resp, err := hc.Do(req)
	if err != nil {
		return &UnreachableError{URL: c.base.String(), Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return decodeError(resp, data)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return fmt.Errorf("mcpd answered the log stream with %q, not text/event-stream", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			switch event {
			case "log":
				var l v1.LogLine
				if err := json.Unmarshal([]byte(data), &l); err != nil {
					return fmt.Errorf("decode log line: %w", err)
				}
				if err := f.deliver(l); err != nil {
					return err
				}
			case "end":
				var end struct{ Reason string }
				_ = json.Unmarshal([]byte(data), &end)
				f.ended(end.Reason)
				return nil
			}
			event, data = "", ""
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data += strings.TrimPrefix(line[len("data:"):], " ")
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("log stream broke: %w", err)
	}
	return errors.New("log stream broke: mcpd closed the connection")
}

// isAPIError reports whether err is mcpd's own JSON error (it has a code).
func isAPIError(err error) bool {
	var e *v1.Error
	return errors.As(err, &e) && e.Code != ""
}
