package server

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/pkg/client"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func testConfig(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	base := map[string]string{
		"MCPD_LISTEN": "127.0.0.1:0", "MCPD_DATA_DIR": t.TempDir(),
		"MCPD_BOOTSTRAP_ADMIN_EMAIL": "root@example.com", "MCPD_BOOTSTRAP_ADMIN_PASSWORD": "a-long-password",
	}
	for k, v := range env {
		base[k] = v
	}
	cfg, err := config.Load(func(k string) string { return base[k] })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// Run serves until its context ends, then returns nil having stopped every
// goroutine it started (TestMain checks for leaks).
func TestRunServesAndStops(t *testing.T) {
	cfg := testConfig(t, nil)
	var logs bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, Deps{Log: NewLogger(cfg, &logs), Ready: func(a string) { ready <- a }}) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatalf("Run returned early: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("mcpd did not get ready")
	}
	c, err := client.New("http://"+addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), "root@example.com", "a-long-password"); err != nil {
		t.Fatalf("login: %v", err)
	}
	c.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, want := range []string{"store ready", "mcpd listening", "log in with: mcpctl login --mcpd-url http://" + addr, "mcpd stopped cleanly"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestMainCommands(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		out, err string
	}{
		{[]string{"version"}, 0, "mcpd ", ""},
		{[]string{"help"}, 0, "mcpd [serve]", ""},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{"serve", "extra"}, 2, "", "serve takes no arguments"},
	}
	for _, tc := range tests {
		var out, errb bytes.Buffer
		code := Main(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String(), tc.out) || !strings.Contains(errb.String(), tc.err) {
			t.Errorf("Main(%q) = %d, stdout %q, stderr %q; want %d, %q, %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out, tc.err)
		}
	}
}
