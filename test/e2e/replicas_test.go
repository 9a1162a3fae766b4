package e2e

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store/storetest"
)

// Two mcpd processes on one PostgreSQL behave as one service: a session
// made on one works on the other, writes through one are read through the
// other, and a logout on one is refused by the other within the cache bound.
func TestTwoReplicasOnPostgres(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	const cacheTTL = 2 * time.Second
	env := []string{"MCPD_DATABASE_URL=" + dbURL, "MCPD_AUTH_CACHE_TTL=" + cacheTTL.String()}
	// Both start at once: migrations and bootstrap must not race.
	var a, b *mcpd
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); a = startMcpd(t, "", env...) }()
	go func() { defer wg.Done(); b = startMcpd(t, "", env...) }()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	token := login(t, a.URL)
	A := api{t: t, base: a.URL, token: token}
	B := api{t: t, base: b.URL, token: token}
	if code, out := B.do("GET", "/api/v1/auth/me", ""); code != 200 || out["user"].(map[string]any)["email"] != adminEmail {
		t.Fatalf("token from A used on B: %d %v", code, out)
	}
	// Written through A (audit events of A's requests), read through B.
	for range 5 {
		A.do("GET", "/api/v1/auth/me", "")
	}
	eventually(t, 10*time.Second, "A's audit events readable on B", func() bool {
		code, out := B.do("GET", "/api/v1/audit?action=auth.me&limit=100", "")
		if code != 200 {
			return false
		}
		n := 0
		for _, e := range out["items"].([]any) {
			if e.(map[string]any)["principal"] == "User:"+adminEmail {
				n++
			}
		}
		return n >= 6 // five through A, one through B
	})

	if code, _ := A.do("POST", "/api/v1/auth/logout", ""); code != 204 {
		t.Fatalf("logout on A: %d", code)
	}
	loggedOut := time.Now()
	if code, _ := A.do("GET", "/api/v1/auth/me", ""); code != 401 {
		t.Fatalf("A accepts its own logged-out token: %d", code)
	}
	// The documented bound is MCPD_AUTH_CACHE_TTL; allow a second for
	// scheduling on a loaded machine.
	eventually(t, cacheTTL+time.Second, "B refuses the logged-out token", func() bool {
		code, out := B.do("GET", "/api/v1/auth/me", "")
		return code == 401 && out["code"] == "TOKEN_INVALID"
	})
	t.Logf("B refused the token %s after the logout on A", time.Since(loggedOut).Round(time.Millisecond))
	a.Stop()
	b.Stop()
}

// proxy forwards TCP from a loopback port to target until cut; while cut
// it refuses connections and has closed the live ones: the database is
// unreachable as far as mcpd can tell.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	cut    bool
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.setCut(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			if p.cut {
				p.mu.Unlock()
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				p.mu.Unlock()
				c.Close()
				continue
			}
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) setCut(cut bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = cut
	if cut {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func TestPostgresOutageAndRecovery(t *testing.T) {
	t.Parallel()
	dbURL := storetest.PostgresURL(t)
	u, _ := url.Parse(dbURL)
	px := newProxy(t, u.Host)
	u.Host = px.ln.Addr().String()
	m := startMcpd(t, "", "MCPD_DATABASE_URL="+u.String(), "MCPD_AUTH_CACHE_TTL=0s")
	token := login(t, m.URL)
	c := api{t: t, base: m.URL, token: token}
	if code, out := c.do("GET", "/health", ""); code != 200 || out["db"] != "connected" {
		t.Fatalf("health before the outage: %d %v", code, out)
	}

	px.setCut(true)
	eventually(t, 15*time.Second, "/health reports degraded", func() bool {
		code, out := c.do("GET", "/health", "")
		return code == 503 && out["status"] == "degraded" && out["db"] == "disconnected"
	})
	if code, out := c.do("GET", "/api/v1/audit", ""); code != 503 || out["code"] != "STORE_UNAVAILABLE" {
		t.Fatalf("API request during the outage: %d %v, want 503 STORE_UNAVAILABLE", code, out)
	}
	if code, out := (api{t: t, base: m.URL}).do("POST", "/api/v1/auth/login", `{"email":"admin@example.com","password":"correct-horse-battery"}`); code != 503 {
		t.Fatalf("login during the outage: %d %v, want 503", code, out)
	}
	if code, _ := c.do("GET", "/healthz", ""); code != 200 {
		t.Fatalf("/healthz during the outage: %d, want 200 (the process is up)", code)
	}

	px.setCut(false)
	eventually(t, 15*time.Second, "mcpd recovers by itself", func() bool {
		code, out := c.do("GET", "/health", "")
		return code == 200 && out["db"] == "connected"
	})
	if code, out := c.do("GET", "/api/v1/audit?limit=1", ""); code != 200 {
		t.Fatalf("API after recovery: %d %v", code, out)
	}
	m.Stop()
}
