// Package client is the typed Go client of mcpd's /api/v1. The CLI talks to
// mcpd only through it.
package client

import (
	"bytes"
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

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Client calls one mcpd. The zero value is not usable; use New.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// Options tune a Client; nil fields take defaults.
type Options struct {
	// Token is the bearer sent with every request but login.
	Token string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
}

// New returns a client for the mcpd at baseURL (http or https, no query).
func New(baseURL string, o Options) (*Client, error) {
	u, err := ParseURL(baseURL)
	if err != nil {
		return nil, err
	}
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &Client{base: u, token: o.Token, http: hc}, nil
}

// ParseURL checks an mcpd URL such as http://127.0.0.1:3100.
func ParseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("mcpd URL %q is not valid: use http(s)://host:port, e.g. http://127.0.0.1:3100", raw)
	}
	return u, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// URL is the base URL of the mcpd this client calls.
func (c *Client) URL() string { return c.base.String() }

// do sends a request and decodes a JSON answer into out (when not nil).
// Non-2xx answers become *v1.Error with Status set.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	resp, data, err := c.send(ctx, method, path, query, in)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp, data)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// send performs one request and reads the whole answer.
func (c *Client) send(ctx context.Context, method, path string, query url.Values, in any) (*http.Response, []byte, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = query.Encode()
	var body io.Reader
	ctype := "application/json"
	if rb, ok := in.(rawBody); ok {
		body, ctype = bytes.NewReader(rb.data), rb.contentType
	} else if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, nil, err
	}
	if in != nil {
		req.Header.Set("Content-Type", ctype)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "mcpctl/"+v1.Version)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, nil, &UnreachableError{URL: c.base.String(), Err: err}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, nil, fmt.Errorf("read answer from %s: %w", c.base, err)
	}
	return resp, data, nil
}

func decodeError(resp *http.Response, data []byte) error {
	e := &v1.Error{}
	if json.Unmarshal(data, e) != nil || e.Code == "" {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		e = &v1.Error{Message: fmt.Sprintf("HTTP %d from mcpd: %s", resp.StatusCode, msg)}
	}
	e.Status = resp.StatusCode
	if ra := resp.Header.Get("Retry-After"); ra != "" && e.Code == v1.CodeRateLimited {
		if n, err := strconv.Atoi(ra); err == nil {
			e.Message += fmt.Sprintf(" (Retry-After: %ds)", n)
		}
	}
	return e
}

// rawBody is a request body sent as is, with its media type.
type rawBody struct {
	contentType string
	data        []byte
}

// UnreachableError means no HTTP answer came back.
type UnreachableError struct {
	URL string
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach mcpd at %s: %v; check that mcpd runs and the URL is right", e.URL, e.Err)
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// IsCode reports whether err is an API error with the given code.
func IsCode(err error, code string) bool {
	var e *v1.Error
	return errors.As(err, &e) && e.Code == code
}

// Login exchanges email and password for a session token.
func (c *Client) Login(ctx context.Context, email, password string) (*v1.LoginResponse, error) {
	var out v1.LoginResponse
	if err := c.do(ctx, http.MethodPost, "/api/v1/auth/login", nil, v1.LoginRequest{Email: email, Password: password}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Logout revokes the client's token.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/v1/auth/logout", nil, nil, nil)
}

// Me returns who the token belongs to.
func (c *Client) Me(ctx context.Context) (*v1.Me, error) {
	var out v1.Me
	if err := c.do(ctx, http.MethodGet, "/api/v1/auth/me", nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Health returns mcpd's health report; a degraded mcpd (503) still returns
// its report, with no error.
func (c *Client) Health(ctx context.Context) (*v1.Health, error) {
	resp, data, err := c.send(ctx, http.MethodGet, "/health", nil, nil)
	if err != nil {
		return nil, err
	}
	var out v1.Health
	if (resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusServiceUnavailable) &&
		json.Unmarshal(data, &out) == nil && out.Status != "" {
		return &out, nil
	}
	return nil, decodeError(resp, data)
}

// AuditQuery filters ListAudit; zero fields do not filter.
type AuditQuery struct {
	Principal, Action string
	// TokenName keeps the requests made with McpTokens of that name.
	TokenName    string
	Status       int
	Since, Until time.Time
	Limit        int
	Cursor       string
}

// ListAudit returns one page of audit events, newest first.
func (c *Client) ListAudit(ctx context.Context, q AuditQuery) (*v1.AuditList, error) {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("principal", q.Principal)
	set("action", q.Action)
	set("tokenName", q.TokenName)
	set("cursor", q.Cursor)
	if q.Status != 0 {
		v.Set("status", strconv.Itoa(q.Status))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		v.Set("until", q.Until.UTC().Format(time.RFC3339Nano))
	}
	var out v1.AuditList
	if err := c.do(ctx, http.MethodGet, "/api/v1/audit", v, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
