package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
)

// slowLogin opens a login request and sends all of it but the last byte of
// the body; finish sends that byte and returns the status line.
func slowLogin(t *testing.T, base string) (finish func() string) {
	t.Helper()
	u, _ := url.Parse(base)
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	body := fmt.Sprintf(`{"email":%q,"password":%q}`, adminEmail, adminPassword)
	fmt.Fprintf(conn, "POST /api/v1/auth/login HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nX-Request-Id: slow-request-1\r\nContent-Length: %d\r\n\r\n%s",
		u.Host, len(body), body[:len(body)-1])
	// Give mcpd time to read the headers and enter the handler.
	time.Sleep(300 * time.Millisecond)
	return func() string {
		if _, err := conn.Write([]byte(body[len(body)-1:])); err != nil {
			t.Fatalf("finish slow request: %v", err)
		}
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		line, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil {
			t.Fatalf("read answer of slow request: %v", err)
		}
		return strings.TrimSpace(line)
	}
}

func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	m := startMcpd(t, "")
	finish := slowLogin(t, m.URL)

	m.Signal(syscall.SIGTERM)
	u, _ := url.Parse(m.URL)
	eventually(t, 10*time.Second, "new connections refused after SIGTERM", func() bool {
		c, err := net.DialTimeout("tcp", u.Host, time.Second)
		if err == nil {
			c.Close()
			return false
		}
		return true
	})
	if status := finish(); status != "HTTP/1.1 200 OK" {
		t.Fatalf("in-flight request after SIGTERM: %q, want 200", status)
	}
	if code := m.Wait(30 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	// The in-flight request's audit event was flushed before exit.
	db, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(m.DataDir, "mcpd.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	events, err := db.ListAuditEvents(context.Background(), store.AuditFilter{Action: "auth.login"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].RequestID != "slow-request-1" || events[0].Status != 200 {
		t.Fatalf("audit events for the slow login: %+v", events)
	}
}

func TestSecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	m := startMcpd(t, "", "MCPD_SHUTDOWN_TIMEOUT=5m")
	slowLogin(t, m.URL) // never finished: the drain would wait 5 minutes
	m.Signal(syscall.SIGTERM)
	eventually(t, 10*time.Second, "first signal logged", func() bool { return strings.Contains(m.Log(), "signal received") })
	m.Signal(syscall.SIGTERM)
	if code := m.Wait(10 * time.Second); code == 0 {
		t.Fatalf("exit code 0 after a forced exit, want non-zero")
	}
	if !strings.Contains(m.Log(), "second signal; exiting now") {
		t.Errorf("log does not say why it exited:\n%s", m.Log())
	}
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		want []string
		not  string
	}{
		{"unreachable postgres", []string{"MCPD_DATABASE_URL=postgres://mcpd:hunter2secret@127.0.0.1:1/mcpd?sslmode=disable"},
			[]string{"cannot reach PostgreSQL at postgres://mcpd:xxxxx@127.0.0.1:1/mcpd", "MCPD_DATABASE_URL"}, "hunter2secret"},
		{"bad listen", []string{"MCPD_LISTEN=nowhere"}, []string{"MCPD_LISTEN", "host:port"}, ""},
		{"bad env and rate", []string{"MCPD_ENV=staging", "MCPD_RATE_LIMIT=lots"}, []string{"MCPD_ENV", "development, production", "MCPD_RATE_LIMIT", "100/1m"}, ""},
		{"wildcard CORS in production", []string{"MCPD_ENV=production", "MCPD_CORS_ORIGINS=*"}, []string{"MCPD_CORS_ORIGINS", "only with MCPD_ENV=development"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := launchMcpd(t, t.TempDir(), tc.env...)
			if err == nil {
				t.Fatal("mcpd started; want a start failure")
			}
			msg := err.Error()
			if !strings.Contains(msg, "exit status 1") {
				t.Errorf("want exit status 1: %s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("want %q in:\n%s", w, msg)
				}
			}
			if tc.not != "" && strings.Contains(msg, tc.not) {
				t.Errorf("output leaks %q:\n%s", tc.not, msg)
			}
		})
	}
	// A port in use is named, with the way out.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = launchMcpd(t, t.TempDir(), "MCPD_LISTEN="+ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "set MCPD_LISTEN to a free address") {
		t.Errorf("port in use: %v", err)
	}
}

func TestGeneratedBootstrapPassword(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := startMcpd(t, dir, "MCPD_BOOTSTRAP_ADMIN_PASSWORD=", "MCPD_BOOTSTRAP_ADMIN_EMAIL=")
	file := filepath.Join(dir, "bootstrap-admin-password")
	st, err := os.Stat(file)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v, want mode 0600", st, err)
	}
	pw, _ := os.ReadFile(file)
	password := strings.TrimSpace(string(pw))
	if len(password) < 20 || strings.Count(m.Log(), password) != 1 {
		t.Fatalf("the generated password must be printed exactly once in the log")
	}
	cfg := t.TempDir()
	r := mcpctl(t, cfg, password+"\n", "login", "--mcpd-url", m.URL, "--email", "admin@mcpctl.local", "--password-stdin")
	if r.Code != 0 {
		t.Fatalf("login with the generated password: %+v", r)
	}
	m.Stop()
	// A restart keeps the admin and prints no new password.
	m2 := startMcpd(t, dir, "MCPD_BOOTSTRAP_ADMIN_PASSWORD=", "MCPD_BOOTSTRAP_ADMIN_EMAIL=")
	if strings.Contains(m2.Log(), "generated password") {
		t.Errorf("second start generated another password")
	}
	pw2, _ := os.ReadFile(file)
	if string(pw2) != string(pw) {
		t.Errorf("second start rewrote the password file")
	}
	r = mcpctl(t, cfg, password+"\n", "login", "--mcpd-url", m2.URL, "--email", "admin@mcpctl.local", "--password-stdin")
	if r.Code != 0 {
		t.Fatalf("login after restart: %+v", r)
	}
	m2.Stop()
}
