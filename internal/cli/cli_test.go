package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/server"
)

// startMcpd runs a real mcpd in process on a loopback port.
func startMcpd(t *testing.T) string {
	t.Helper()
	env := map[string]string{"MCPD_LISTEN": "127.0.0.1:0", "MCPD_DATA_DIR": t.TempDir(),
		"MCPD_BOOTSTRAP_ADMIN_EMAIL": "ada@example.com", "MCPD_BOOTSTRAP_ADMIN_PASSWORD": "analytical-engine"}
	cfg, err := config.Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	var logs bytes.Buffer
	go func() {
		done <- server.Run(ctx, cfg, server.Deps{Log: server.NewLogger(cfg, &logs), Ready: func(a string) { ready <- a }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case a := <-ready:
		return "http://" + a
	case err := <-done:
		t.Fatalf("mcpd: %v\n%s", err, logs.String())
	case <-time.After(30 * time.Second):
		t.Fatal("mcpd did not start")
	}
	return ""
}

type fakeIO struct {
	in       *strings.Reader
	out, err bytes.Buffer
}

func newFactory(t *testing.T, stdin string, tty bool, password string) (*Factory, *fakeIO) {
	t.Setenv("MCPCTL_CONFIG", filepath.Join(t.TempDir(), "mcpctl", "config.yaml"))
	io := &fakeIO{in: strings.NewReader(stdin)}
	f := &Factory{IO: IOStreams{In: io.in, Out: &io.out, ErrOut: &io.err, InTTY: tty}}
	if password != "" {
		f.ReadPassword = func() (string, error) { return password, nil }
	}
	return f, io
}

func TestLoginPromptsOnTerminal(t *testing.T) {
	url := startMcpd(t)
	f, io := newFactory(t, "", true, "analytical-engine")
	if code := Run(f, []string{"login", "--mcpd-url", url, "--email", "ada@example.com"}); code != ExitOK {
		t.Fatalf("login exit %d: %s", code, io.err.String())
	}
	if !strings.HasPrefix(io.err.String(), "Password: ") {
		t.Errorf("no password prompt on stderr: %q", io.err.String())
	}
	if strings.Contains(io.out.String()+io.err.String(), "analytical-engine") {
		t.Errorf("the password was echoed")
	}
	path, _ := ConfigPath()
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("config %s: %v, mode %v", path, err, st.Mode())
	}
	if dir, _ := os.Stat(filepath.Dir(path)); dir.Mode().Perm() != 0o700 {
		t.Errorf("config directory mode %v, want 0700", dir.Mode().Perm())
	}
	cfg, err := LoadConfig(path)
	if err != nil || cfg.CurrentContext != "default" || len(cfg.Contexts) != 1 || !strings.HasPrefix(cfg.Contexts[0].Token, "mcpctl_sess_") {
		t.Fatalf("saved config: %+v, %v", cfg, err)
	}

	io.out.Reset()
	if code := Run(f, []string{"status", "-o", "json"}); code != ExitOK || !strings.Contains(io.out.String(), `"email": "ada@example.com"`) {
		t.Fatalf("status: %d %s", code, io.out.String())
	}
}

func TestLoginWrongPasswordOnTerminal(t *testing.T) {
	url := startMcpd(t)
	f, io := newFactory(t, "", true, "babbage")
	if code := Run(f, []string{"login", "--mcpd-url", url, "--email", "ada@example.com"}); code != ExitError ||
		!strings.Contains(io.err.String(), "email or password is wrong") {
		t.Fatalf("exit %d, stderr %q", code, io.err.String())
	}
}

func TestCorruptConfigIsNamed(t *testing.T) {
	f, io := newFactory(t, "", false, "")
	path, _ := ConfigPath()
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("currentContext: [oops\n"), 0o600)
	if code := Run(f, []string{"config", "get-contexts"}); code != ExitError || !strings.Contains(io.err.String(), path) ||
		!strings.Contains(io.err.String(), "fix or delete it") {
		t.Fatalf("exit %d, stderr %q", code, io.err.String())
	}
	// An unknown key is a mistake too, not silently dropped.
	os.WriteFile(path, []byte("currentContext: a\nbogus: 1\n"), 0o600)
	io.err.Reset()
	if code := Run(f, []string{"config", "current-context"}); code != ExitError || !strings.Contains(io.err.String(), "bogus") {
		t.Fatalf("unknown key: exit %d, stderr %q", code, io.err.String())
	}
}

func TestExitCode(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("x"), 1},
		{&UsageError{Msg: "x"}, 2},
		{errors.Join(errors.New("a"), &UsageError{Msg: "b"}), 2},
	}
	for _, tc := range tests {
		if got := ExitCode(tc.err); got != tc.want {
			t.Errorf("ExitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
