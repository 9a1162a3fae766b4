package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func TestParseURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:3100", "https://mcpd.example.com", "http://h:1/prefix/"} {
		if _, err := ParseURL(ok); err != nil {
			t.Errorf("ParseURL(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "127.0.0.1:3100", "ftp://h", "http://", "http://h?x=1", "http://h#f", "://"} {
		if _, err := ParseURL(bad); err == nil || !strings.Contains(err.Error(), "http(s)://host:port") {
			t.Errorf("ParseURL(%q) = %v, want an error naming the form", bad, err)
		}
	}
}

// Errors come back typed: API errors as *v1.Error with the status, a non-
// JSON answer as a readable error, no answer as *UnreachableError.
func TestErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/auth/me":
			if r.Header.Get("Authorization") != "Bearer tok" {
				t.Errorf("Authorization = %q", r.Header.Get("Authorization"))
			}
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(429)
			w.Write([]byte(`{"error":"too many requests","code":"RATE_LIMITED","requestId":"r1"}`))
		case "/health":
			w.WriteHeader(503)
			w.Write([]byte(`{"status":"degraded","db":"disconnected","version":"v9"}`))
		default:
			w.WriteHeader(502)
			w.Write([]byte("<html>bad gateway</html>"))
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, Options{Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.Me(ctx)
	var ae *v1.Error
	if !errors.As(err, &ae) || ae.Status != 429 || ae.Code != v1.CodeRateLimited || !strings.Contains(ae.Message, "Retry-After: 7s") || !IsCode(err, v1.CodeRateLimited) {
		t.Errorf("Me: %#v", err)
	}
	h, err := c.Health(ctx)
	if err != nil || h.Status != v1.StatusDegraded || h.Version != "v9" {
		t.Errorf("Health of a degraded mcpd: %+v, %v; want the report, no error", h, err)
	}
	_, err = c.ListAudit(ctx, AuditQuery{})
	if !errors.As(err, &ae) || ae.Status != 502 || !strings.Contains(ae.Message, "HTTP 502") {
		t.Errorf("ListAudit through a broken proxy: %v", err)
	}

	dead, _ := New("http://127.0.0.1:1", Options{})
	_, err = dead.Me(ctx)
	var ue *UnreachableError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "cannot reach mcpd at http://127.0.0.1:1") {
		t.Errorf("unreachable: %v", err)
	}
}
