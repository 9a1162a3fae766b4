package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// runResources measures the resource API at scale with the real mcpctl
// binary: apply -f of 1,000 servers and 100 projects (time, mcpd's peak
// memory), the same apply again (all unchanged), growth to 10,000
// servers, the latency of one list page over them, and a full listing.
func runResources(m *mcpd) error {
	cfg := filepath.Join(m.dir, "mcpctl.yaml")
	mcpctl := func(stdin string, args ...string) (string, time.Duration, error) {
		cmd := exec.Command(filepath.Join(m.bin, "mcpctl"), args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + m.dir, "MCPCTL_CONFIG=" + cfg}
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return "", d, fmt.Errorf("mcpctl %s: %v\n%s", strings.Join(args, " "), err, errb.String())
		}
		return out.String(), d, nil
	}
	if _, _, err := mcpctl(benchPassword+"\n", "login", "--mcpd-url", m.base, "--email", benchEmail, "--password-stdin"); err != nil {
		return err
	}
	pid := m.cmd.Process.Pid
	rssStart := peakRSS(pid)

	first := filepath.Join(m.dir, "first.yaml")
	if err := os.WriteFile(first, manifest(0, 1000, 100), 0o600); err != nil {
		return err
	}
	out, applyTime, err := mcpctl("", "apply", "-f", first)
	if err != nil {
		return err
	}
	if n := strings.Count(out, " created\n"); n != 1110 {
		return fmt.Errorf("apply created %d objects, want 1110 (10 secrets, 1000 servers, 100 projects)", n)
	}
	rssApply := peakRSS(pid)
	out, reapplyTime, err := mcpctl("", "apply", "-f", first)
	if err != nil {
		return err
	}
	if n := strings.Count(out, " unchanged\n"); n != 1110 {
		return fmt.Errorf("second apply left %d objects unchanged, want 1110", n)
	}
	more := filepath.Join(m.dir, "more.yaml")
	if err := os.WriteFile(more, manifest(1000, 10000, 0), 0o600); err != nil {
		return err
	}
	_, growTime, err := mcpctl("", "apply", "-f", more)
	if err != nil {
		return err
	}
	pages := []struct{ query, label string }{
		{"limit=100", "first page, limit=100"},
		{"limit=500", "first page, limit=500"},
		{"limit=100&labelSelector=team=t3", "limit=100, labelSelector matching 1 in 5"},
	}
	fmt.Printf("| %s | apply -f: 10 secrets + 1,000 servers + 100 projects (1,110 created, one transaction) | %s | mcpd peak RSS %s before, %s after |\n",
		m.engine, applyTime.Round(time.Millisecond), mib(rssStart), mib(rssApply))
	fmt.Printf("| %s | the same apply again (1,110 unchanged) | %s | |\n", m.engine, reapplyTime.Round(time.Millisecond))
	fmt.Printf("| %s | apply -f: 9,000 more servers (10,000 in all) | %s | mcpd peak RSS %s after |\n",
		m.engine, growTime.Round(time.Millisecond), mib(peakRSS(pid)))
	for _, p := range pages {
		r, err := hey(2000, 4, m.base+"/api/v1/servers?"+p.query, m.token)
		if err != nil {
			return err
		}
		if r.ok != 2000 {
			return fmt.Errorf("%s: %d of 2000 answers were 200", p.query, r.ok)
		}
		fmt.Printf("| %s | GET /api/v1/servers?%s over 10,000 servers (%s), 2,000 requests, 4 connections | p50 %.1f ms, p99 %.1f ms | %.0f pages/s |\n",
			m.engine, p.query, p.label, r.p50*1000, r.p99*1000, r.rps)
	}
	out, listTime, err := mcpctl("", "get", "servers", "-o", "name")
	if err != nil {
		return err
	}
	if n := strings.Count(out, "\n"); n != 10000 {
		return fmt.Errorf("get servers listed %d, want 10000", n)
	}
	fmt.Printf("| %s | mcpctl get servers -o name: all 10,000 (20 pages of 500) | %s | mcpd peak RSS %s at the end |\n",
		m.engine, listTime.Round(time.Millisecond), mib(peakRSS(pid)))
	return nil
}

// manifest writes servers [from, to) and, when projects > 0, 10 secrets
// and that many projects of 10 servers each.
func manifest(from, to, projects int) []byte {
	var b bytes.Buffer
	if projects > 0 {
		for i := range 10 {
			fmt.Fprintf(&b, "kind: Secret\nmetadata: {name: token-%d}\nspec:\n  data: {TOKEN: value-%d}\n---\n", i, i)
		}
	}
	for i := from; i < to; i++ {
		fmt.Fprintf(&b, "kind: Server\nmetadata:\n  name: server-%05d\n  labels: {team: t%d}\nspec:\n  command: npx\n"+
			"  args: [\"-y\", \"@example/mcp-server-%d\"]\n  env:\n  - {name: TOKEN, secretRef: {name: token-%d, key: TOKEN}}\n  - {name: LOG_LEVEL, value: info}\n---\n",
			i, i%5, i, i%10)
	}
	for p := range projects {
		var servers []string
		for j := range 10 {
			servers = append(servers, fmt.Sprintf("server-%05d", (p*10+j)%to))
		}
		fmt.Fprintf(&b, "kind: Project\nmetadata: {name: project-%03d}\nspec:\n  servers: [%s]\n  tools:\n    %s: {deny: [delete]}\n---\n",
			p, strings.Join(servers, ", "), servers[0])
	}
	return b.Bytes()
}

// peakRSS reads a process's peak resident set (VmHWM) in bytes.
func peakRSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
