package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcpctl/mcpctl/internal/testbin"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// The gateway scenario's sizes and the targets it is read against.
const (
	gwWarmup     = 200 // calls per client session before any is timed
	gwRounds     = 5   // latency rounds: every path once per round, so noise hits all
	gwBatch      = 600 // timed calls per path per round (3,000 in all)
	gwBatchLimit = 1400 * time.Millisecond
	gwWorkers    = 8               // concurrent sessions of the throughput phase
	gwSlice      = 5 * time.Second // throughput: direct, mcpd, direct, mcpd
	gwIdle       = 1000            // idle sessions held open on mcpd

	targetAddedP50 = 0.5 // ms added at the median, session era
	targetShare    = 50  // % of direct throughput through mcpd, 8 sessions
)

const (
	sessionEra   = "2025-11-25"
	statelessEra = "2026-07-28"
)

// runGateway measures mcpd's project endpoint against the test server it
// forwards to (a URL server, so no instance is involved): the latency one
// sequential client adds (both protocol eras), the throughput of 8
// concurrent sessions, and mcpd's memory with 1,000 idle sessions open.
// The client, mcpd and the server share the machine's cores.
func runGateway(m *mcpd) error {
	upstream, server, err := startUpstream(m.dir)
	if err != nil {
		return err
	}
	defer func() {
		server.Process.Kill()
		server.Wait()
	}()
	meter := cpuMeter{mcpd: m.cmd.Process.Pid, server: server.Process.Pid}
	fmt.Printf("(machine: %d cores, load average %s at the start)\n", runtime.NumCPU(), loadAverage())
	tok, err := gatewaySetup(m, upstream)
	if err != nil {
		return err
	}
	endpoint := m.base + "/projects/bench/mcp"
	direct, via := newBenchClient(""), newBenchClient(tok)
	defer direct.CloseIdleConnections()
	defer via.CloseIdleConnections()

	// 1. Latency, one session per path, calls one after another.
	paths := []*latencyPath{
		{label: "direct to the upstream", endpoint: upstream, hc: direct},
		{label: "direct to the upstream", endpoint: upstream, hc: direct, version: sessionEra},
		{label: "through mcpd", endpoint: endpoint, hc: via, version: sessionEra},
		{label: "through mcpd", endpoint: endpoint, hc: via, version: statelessEra},
	}
	for _, p := range paths {
		if p.cs, err = connect(p.endpoint, p.hc, p.version); err != nil {
			return fmt.Errorf("%s (%s): %w", p.label, p.asked(), err)
		}
		defer p.cs.Close()
		p.negotiated = p.cs.InitializeResult().ProtocolVersion
	}
	if paths[0].negotiated == sessionEra {
		paths = slices.Delete(paths, 1, 2) // the default is already the session era
	}
	for _, p := range paths {
		if got, err := echo(p.cs); err != nil || got != `{"text":"x"}` {
			return fmt.Errorf("echo %s (%s): %q, %v", p.label, p.negotiated, got, err)
		}
		for range gwWarmup {
			if _, err := echo(p.cs); err != nil {
				return fmt.Errorf("warm-up %s (%s): %w", p.label, p.negotiated, err)
			}
		}
	}
	for range gwRounds {
		for _, p := range paths {
			deadline := time.Now().Add(gwBatchLimit)
			c0 := meter.read()
			for i := 0; i < gwBatch && time.Now().Before(deadline); i++ {
				t0 := time.Now()
				if _, err := echo(p.cs); err != nil {
					return fmt.Errorf("%s (%s): %w", p.label, p.negotiated, err)
				}
				p.took = append(p.took, time.Since(t0))
			}
			p.cpu = p.cpu.add(meter.read().sub(c0))
		}
	}
	for _, p := range paths {
		p.cs.Close()
		slices.Sort(p.took)
		fmt.Printf("| %s | latency: 1 session, echo called %d times one after another | %s | %s | p50 %.3f ms, p90 %.3f ms, p99 %.3f ms; CPU per call: %s |\n",
			m.engine, len(p.took), p.label, p.asked(), ms(pct(p.took, 50)), ms(pct(p.took, 90)), ms(pct(p.took, 99)), p.cpu.perCall(len(p.took)))
	}

	// 2. Throughput, 8 sessions per path in the session era, the paths
	// taking turns.
	thr := []*throughputPath{
		{label: "direct to the upstream", endpoint: upstream, hc: direct},
		{label: "through mcpd", endpoint: endpoint, hc: via},
	}
	for _, p := range thr {
		for range gwWorkers {
			cs, err := connect(p.endpoint, p.hc, sessionEra)
			if err != nil {
				return fmt.Errorf("%s: %w", p.label, err)
			}
			defer cs.Close()
			p.sessions = append(p.sessions, cs)
		}
	}
	for range 2 {
		for _, p := range thr {
			if err := p.run(gwSlice, meter); err != nil {
				return err
			}
		}
	}
	for _, p := range thr {
		for _, cs := range p.sessions {
			cs.Close()
		}
	}
	share := 100 * thr[1].rate() / thr[0].rate()
	fmt.Printf("| %s | throughput: %d sessions calling echo in a loop, 2 × %s per path, taking turns | %s | %s | %.0f calls/s; CPU per call: %s |\n",
		m.engine, gwWorkers, gwSlice, thr[0].label, sessionEra, thr[0].rate(), thr[0].cpu.perCall(int(thr[0].calls)))
	fmt.Printf("| %s | throughput: %d sessions calling echo in a loop, 2 × %s per path, taking turns | %s | %s | %.0f calls/s (%.0f %% of direct); CPU per call: %s |\n",
		m.engine, gwWorkers, gwSlice, thr[1].label, sessionEra, thr[1].rate(), share, thr[1].cpu.perCall(int(thr[1].calls)))

	// 3. Idle sessions: initialize only, each with its standalone GET
	// stream open (the go-sdk client's default), held while mcpd's
	// memory is read.
	if note := ensureFiles(2*gwIdle + 512); note != "" {
		fmt.Println(note)
	}
	pid := m.cmd.Process.Pid
	time.Sleep(time.Second)
	rss0, fds0 := rss(pid), openFiles(pid)
	t0 := time.Now()
	idle := make([]*mcp.ClientSession, gwIdle)
	if err := parallel(4, gwIdle, func(i int) error {
		cs, err := connect(endpoint, via, sessionEra)
		idle[i] = cs
		return err
	}); err != nil {
		closeAll(idle)
		return fmt.Errorf("open idle sessions: %w", err)
	}
	opened := time.Since(t0)
	time.Sleep(2 * time.Second) // let the GET streams settle
	rss1, fds1 := rss(pid), openFiles(pid)
	extra, err := connect(endpoint, via, sessionEra)
	check := "answered"
	if err != nil {
		check = fmt.Sprintf("FAILED to connect: %v", err)
	} else {
		if got, err := echo(extra); err != nil || got != `{"text":"x"}` {
			check = fmt.Sprintf("FAILED: echo %q, %v", got, err)
		}
		extra.Close()
	}
	closeAll(idle)
	time.Sleep(time.Second)
	added := rss1 - rss0
	fmt.Printf("| %s | %d idle sessions (initialize, then the GET stream held open), opened in %s by 4 clients | through mcpd | %s | mcpd RSS %s before, %s with them open: %s, %.1f KiB/session; mcpd fds %d → %d; a %d%s session's echo %s; RSS %s after closing them all |\n",
		m.engine, gwIdle, opened.Round(time.Millisecond), sessionEra, mib(rss0), mib(rss1), signedMiB(added), float64(added)/1024/gwIdle,
		fds0, fds1, gwIdle+1, ordinal(gwIdle+1), check, mib(rss(pid)))

	for _, p := range paths {
		if p.endpoint != endpoint {
			continue
		}
		base := paths[0] // the direct session of the same era
		for _, d := range paths {
			if d.endpoint == upstream && d.negotiated == p.negotiated {
				base = d
			}
		}
		add := ms(pct(p.took, 50) - pct(base.took, 50))
		fmt.Printf("added p50 %.2f ms (target ≤ %.1f), %s through mcpd against %s direct: %s\n",
			add, targetAddedP50, p.asked(), base.negotiated, met(add <= targetAddedP50))
	}
	fmt.Printf("%d sessions: %.0f%% of direct (target ≥ %d%%): %s\n", gwWorkers, share, targetShare, met(share >= targetShare))
	fmt.Printf("%d idle sessions: %s, %.0f KiB/session\n", gwIdle, signedMiB(added), float64(added)/1024/gwIdle)
	fmt.Printf("(load average %s at the end)\n", loadAverage())
	if strings.HasPrefix(check, "FAILED") {
		return fmt.Errorf("the %d%s session: %s", gwIdle+1, ordinal(gwIdle+1), check)
	}
	return nil
}

// startUpstream builds the test server and serves it over Streamable
// HTTP on a free loopback port; the caller kills it.
func startUpstream(dir string) (endpoint string, cmd *exec.Cmd, err error) {
	bin := filepath.Join(dir, "mcpserver")
	build := exec.Command("go", "build", "-o", bin, "./test/mcpserver")
	build.Env, build.Stderr = append(os.Environ(), "CGO_ENABLED=0"), os.Stderr
	if err := build.Run(); err != nil {
		return "", nil, fmt.Errorf("build test/mcpserver: %w", err)
	}
	addr, err := freeAddr()
	if err != nil {
		return "", nil, err
	}
	var log bytes.Buffer
	cmd = exec.Command(bin, "-http", addr)
	cmd.Stderr = &log
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	for i := 0; ; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return "http://" + addr + "/mcp", cmd, nil
		}
		if i > 100 {
			cmd.Process.Kill()
			cmd.Wait()
			return "", nil, fmt.Errorf("the test server did not listen on %s: %v\n%s", addr, err, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// gatewaySetup applies the upstream as URL server "up" and project
// "bench" serving it with names passed through, then mints an McpToken
// of the project for the admin and returns it.
func gatewaySetup(m *mcpd, upstream string) (string, error) {
	objects := map[string]any{"objects": []any{
		map[string]any{"kind": "Server", "metadata": map[string]any{"name": "up"}, "spec": map[string]any{"url": upstream}},
		map[string]any{"kind": "Project", "metadata": map[string]any{"name": "bench"}, "spec": map[string]any{"servers": []string{"up"}, "separator": ""}},
	}}
	if _, err := apiPost(m, "/api/v1/apply", objects, http.StatusOK); err != nil {
		return "", err
	}
	body, err := apiPost(m, "/api/v1/projects/bench/mcptokens",
		map[string]any{"name": "bench", "spec": map[string]any{"rbac": "clone"}}, http.StatusCreated)
	if err != nil {
		return "", err
	}
	var created v1.CreatedMcpToken
	if err := json.Unmarshal(body, &created); err != nil || created.Token == "" {
		return "", fmt.Errorf("create McpToken: no token in %s", body)
	}
	return created.Token, nil
}

func apiPost(m *mcpd, path string, v any, want int) ([]byte, error) {
	b, _ := json.Marshal(v)
	req, _ := http.NewRequest(http.MethodPost, m.base+path, bytes.NewReader(b))
	req.Header.Set("Authorization", "Bearer "+m.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return nil, fmt.Errorf("POST %s: HTTP %d: %s", path, resp.StatusCode, body)
	}
	return body, nil
}

// newBenchClient is the HTTP client of every MCP session of one path:
// keep-alive connections enough for the concurrent sessions (the
// default keeps two per host, and would measure TCP set-up instead), and
// the bearer when there is one.
func newBenchClient(token string) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost = 256, 64
	return &http.Client{Transport: bearerTransport{token: token, next: t}}
}

type bearerTransport struct {
	token string
	next  *http.Transport
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if b.token != "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+b.token)
	}
	return b.next.RoundTrip(r)
}

func (b bearerTransport) CloseIdleConnections() { b.next.CloseIdleConnections() }

// connect opens a go-sdk client session; version "" takes the SDK's
// default (its newest).
func connect(endpoint string, hc *http.Client, version string) (*mcp.ClientSession, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "loadrun", Version: "1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: hc, MaxRetries: -1},
		&mcp.ClientSessionOptions{ProtocolVersion: version})
}

// echo calls the test server's echo tool with "x" and returns its text.
func echo(cs *mcp.ClientSession) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return testbin.CallText(ctx, cs, "echo", map[string]any{"text": "x"})
}

// latencyPath is one client session of the latency phase.
type latencyPath struct {
	label, endpoint     string
	hc                  *http.Client
	version, negotiated string // asked ("" for the SDK's default), and agreed
	cs                  *mcp.ClientSession
	took                []time.Duration
	cpu                 cpuUse
}

func (p *latencyPath) asked() string {
	if p.version == "" {
		return p.negotiated + " (the SDK's default, negotiated)"
	}
	if p.negotiated != p.version {
		return fmt.Sprintf("%s asked, %s negotiated", p.version, p.negotiated)
	}
	return p.version
}

// throughputPath is the concurrent sessions of one path and what they
// did.
type throughputPath struct {
	label, endpoint string
	hc              *http.Client
	sessions        []*mcp.ClientSession
	calls           int64
	busy            time.Duration
	cpu             cpuUse
}

// run has every session call echo in a loop for d.
func (p *throughputPath) run(d time.Duration, meter cpuMeter) error {
	var calls atomic.Int64
	c0 := meter.read()
	t0 := time.Now()
	deadline := t0.Add(d)
	err := parallel(len(p.sessions), len(p.sessions), func(i int) error {
		for time.Now().Before(deadline) {
			if _, err := echo(p.sessions[i]); err != nil {
				return fmt.Errorf("%s: %w", p.label, err)
			}
			calls.Add(1)
		}
		return nil
	})
	p.calls += calls.Load()
	p.busy += time.Since(t0)
	p.cpu = p.cpu.add(meter.read().sub(c0))
	return err
}

// cpuMeter reads the CPU time of the three parties to a call: this
// process (the client), mcpd and the test server. Each figure is in
// clock ticks (10 ms), so it is read over whole batches, not calls.
type cpuMeter struct{ mcpd, server int }

type cpuUse struct{ client, mcpd, server time.Duration }

func (c cpuMeter) read() cpuUse {
	return cpuUse{client: cpuTime(os.Getpid()), mcpd: cpuTime(c.mcpd), server: cpuTime(c.server)}
}

func (u cpuUse) add(v cpuUse) cpuUse {
	return cpuUse{u.client + v.client, u.mcpd + v.mcpd, u.server + v.server}
}

func (u cpuUse) sub(v cpuUse) cpuUse {
	return cpuUse{u.client - v.client, u.mcpd - v.mcpd, u.server - v.server}
}

func (u cpuUse) perCall(n int) string {
	us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / float64(max(n, 1)) }
	return fmt.Sprintf("client %.0f µs, mcpd %.0f µs, server %.0f µs", us(u.client), us(u.mcpd), us(u.server))
}

// loadAverage is the 1-minute load average of the machine.
func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

func (p *throughputPath) rate() float64 { return float64(p.calls) / p.busy.Seconds() }

// parallel runs f(0..n-1) on workers goroutines and returns the first
// error; after one, the remaining indexes are skipped.
func parallel(workers, n int, f func(i int) error) error {
	var (
		next   atomic.Int64
		mu     sync.Mutex
		first  error
		failed atomic.Bool
		wg     sync.WaitGroup
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !failed.Load() {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				if err := f(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
					failed.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	return first
}

func closeAll(sessions []*mcp.ClientSession) {
	parallel(8, len(sessions), func(i int) error {
		if sessions[i] != nil {
			sessions[i].Close()
		}
		return nil
	})
}

// ensureFiles raises this process's open-file limit to at least n when
// it is lower (mcpd, a Go program, raises its own to the hard limit).
func ensureFiles(n uint64) string {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur >= n {
		return ""
	}
	old := lim.Cur
	lim.Cur = min(n, lim.Max)
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Sprintf("(could not raise the open-file limit from %d: %v)", old, err)
	}
	return fmt.Sprintf("(raised this process's open-file limit from %d to %d)", old, lim.Cur)
}

func openFiles(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// pct is the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)*p/100, len(sorted)-1)]
}

func signedMiB(n int64) string { return fmt.Sprintf("%+.1f MiB", float64(n)/(1<<20)) }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func ordinal(n int) string {
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return "th"
	case n%10 == 1:
		return "st"
	case n%10 == 2:
		return "nd"
	case n%10 == 3:
		return "rd"
	}
	return "th"
}
