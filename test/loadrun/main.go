// Command loadrun measures audited, authenticated GET throughput of a real
// mcpd with hey, and checks that every request left exactly one audit row.
// `make bench` runs it for SQLite and PostgreSQL; docs/benchmarks.md holds
// the results.
package main

import (
	"context"
	"database/sql"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/pkg/client"
)

func main() {
	engine := flag.String("engine", "sqlite", "sqlite or postgres")
	pgAdmin := flag.String("pg-url", os.Getenv("MCPD_TEST_DATABASE_URL"), "PostgreSQL admin URL (postgres engine)")
	scenario := flag.String("scenario", "requests", "requests (audited GET throughput), resources (apply and list at scale), instances (start to ready, 100 instances, log throughput) or gateway (MCP latency, throughput and idle sessions through /projects/{p}/mcp)")
	n := flag.Int("n", 200000, "requests per run")
	c := flag.Int("c", 32, "concurrent connections")
	bin := flag.String("bin", "bin", "directory holding the mcpd and mcpctl binaries")
	flag.Parse()
	// Only the instances scenario runs servers: the others apply
	// servers by the thousand and measure the API.
	extra := []string{"MCPD_INSTANCES=off"}
	switch *scenario {
	case "instances":
		// Keep the whole flood, to follow all of it.
		extra = []string{"MCPD_INSTANCES=on", "MCPD_LOG_RETENTION=1000000"}
	case "gateway":
		// Its upstream is a URL server; measure the gateway, not its limits.
		extra = append(extra, "MCPD_MCP_RATE_LIMIT=off", "MCPD_MCP_MAX_SESSIONS=5000")
	}
	m, err := start(*engine, *pgAdmin, *bin, extra...)
	if err == nil {
		defer m.cleanup()
		switch *scenario {
		case "requests":
			err = runRequests(m, *n, *c)
		case "resources":
			err = runResources(m)
		case "instances":
			err = runInstances(m)
		case "gateway":
			err = runGateway(m)
		default:
			err = fmt.Errorf("unknown -scenario %q: use requests, resources, instances or gateway", *scenario)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadrun:", err)
		os.Exit(1)
	}
}

// mcpd is one running mcpd and a token of its admin.
type mcpd struct {
	engine, dir, dbURL, base, token, bin string
	cmd                                  *exec.Cmd
}

func (m *mcpd) cleanup() {
	if m.cmd.ProcessState == nil {
		m.cmd.Process.Kill()
		m.cmd.Wait()
	}
	os.RemoveAll(m.dir)
}

const (
	benchEmail    = "bench@example.com"
	benchPassword = "bench-password-123"
)

// start runs mcpd on a free port on a fresh store and logs in.
func start(engine, pgAdmin, bin string, extraEnv ...string) (*mcpd, error) {
	dir, err := os.MkdirTemp("", "loadrun-")
	if err != nil {
		return nil, err
	}
	m := &mcpd{engine: engine, dir: dir, bin: bin}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "MCPD_DATA_DIR=" + dir,
		"MCPD_RATE_LIMIT=off", "MCPD_LOG_LEVEL=warn",
		"MCPD_BOOTSTRAP_ADMIN_EMAIL=" + benchEmail, "MCPD_BOOTSTRAP_ADMIN_PASSWORD=" + benchPassword}
	if engine == "postgres" {
		if m.dbURL, err = freshDatabase(pgAdmin); err != nil {
			return nil, err
		}
		env = append(env, "MCPD_DATABASE_URL="+m.dbURL)
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	env = append(env, "MCPD_LISTEN="+addr)
	env = append(env, extraEnv...)
	m.cmd = exec.Command(filepath.Join(bin, "mcpd"))
	m.cmd.Env, m.cmd.Stderr = env, os.Stderr
	if err := m.cmd.Start(); err != nil {
		return nil, err
	}
	m.base = "http://" + addr
	cl, _ := client.New(m.base, client.Options{})
	for i := 0; ; i++ {
		resp, err := cl.Login(context.Background(), benchEmail, benchPassword)
		if err == nil {
			m.token = resp.Token
			return m, nil
		}
		if i > 100 {
			m.cleanup()
			return nil, fmt.Errorf("login: %w", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runRequests measures audited GET throughput with hey and checks that
// every request left one audit row.
func runRequests(m *mcpd, n, c int) error {
	baseline, err := hey(n, c, m.base+"/healthz", "")
	if err != nil {
		return err
	}
	targets := []struct{ path, action, label string }{
		{"/api/v1/auth/me", "auth.me", "GET /api/v1/auth/me (bearer, audited)"},
		{"/api/v1/audit?limit=10", "audit.list", "GET /api/v1/audit?limit=10 (bearer, audited, store read)"},
	}
	results := make([]heyResult, len(targets))
	for i, tg := range targets {
		if results[i], err = hey(n, c, m.base+tg.path, m.token); err != nil {
			return err
		}
	}
	start := time.Now()
	m.cmd.Process.Signal(syscall.SIGTERM)
	if err := m.cmd.Wait(); err != nil {
		return fmt.Errorf("mcpd exit: %w", err)
	}
	shutdown := time.Since(start)

	st, err := store.Open(context.Background(), store.Options{PostgresURL: m.dbURL, SQLitePath: filepath.Join(m.dir, "mcpd.db")})
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Printf("| %s | /healthz (unauthenticated, not audited) | %d | %d | %.0f | %.2f | %.2f | - |\n",
		m.engine, n, c, baseline.rps, baseline.p50*1000, baseline.p99*1000)
	var bad []string
	for i, tg := range targets {
		r := results[i]
		rows, err := st.CountAuditEvents(context.Background(), store.AuditFilter{Action: tg.action})
		if err != nil {
			return err
		}
		fmt.Printf("| %s | %s | %d | %d | %.0f | %.2f | %.2f | %d rows for %d × 200 (%s) |\n",
			m.engine, tg.label, n, c, r.rps, r.p50*1000, r.p99*1000, rows, r.ok, verdict(rows, r.ok, n))
		if rows != int64(n) || r.ok != n {
			bad = append(bad, fmt.Sprintf("%s: audit rows %d, 200 answers %d, requests %d", tg.path, rows, r.ok, n))
		}
	}
	fmt.Printf("shutdown with audit flush: %s\n", shutdown.Round(time.Millisecond))
	if len(bad) > 0 {
		return fmt.Errorf("audit rows must equal requests: %v", bad)
	}
	return nil
}

func verdict(rows int64, ok, n int) string {
	if rows == int64(n) && ok == n {
		return "equal"
	}
	return "NOT EQUAL"
}

type heyResult struct {
	rps, p50, p99 float64
	ok            int
}

var (
	rpsRE    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	pctRE    = regexp.MustCompile(`(\d+)% in ([0-9.]+) secs`)
	status2x = regexp.MustCompile(`\[200\]\s+(\d+) responses`)
)

func hey(n, c int, target, token string) (heyResult, error) {
	args := []string{"-n", strconv.Itoa(n), "-c", strconv.Itoa(c)}
	if token != "" {
		args = append(args, "-H", "Authorization: Bearer "+token)
	}
	out, err := exec.Command("hey", append(args, target)...).CombinedOutput()
	if err != nil {
		return heyResult{}, fmt.Errorf("hey: %w\n%s", err, out)
	}
	var r heyResult
	s := string(out)
	if m := rpsRE.FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range pctRE.FindAllStringSubmatch(s, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		switch m[1] {
		case "50":
			r.p50 = v
		case "99":
			r.p99 = v
		}
	}
	if m := status2x.FindStringSubmatch(s); m != nil {
		r.ok, _ = strconv.Atoi(m[1])
	}
	if r.rps == 0 {
		return r, fmt.Errorf("could not read hey's output:\n%s", s)
	}
	return r, nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func freshDatabase(admin string) (string, error) {
	if admin == "" {
		return "", fmt.Errorf("-pg-url (or MCPD_TEST_DATABASE_URL) is required for the postgres engine")
	}
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return "", err
	}
	defer db.Close()
	name := fmt.Sprintf("mcpd_bench_%d", time.Now().UnixNano())
	if _, err := db.Exec("CREATE DATABASE " + name); err != nil {
		return "", fmt.Errorf("create bench database: %w", err)
	}
	u, err := url.Parse(admin)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}
