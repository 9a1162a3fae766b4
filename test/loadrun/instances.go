package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
)

// runInstances measures the instance lifecycle on the process runtime
// with the project's test MCP server: start to ready, 100 instances at
// once (mcpd's memory and idle CPU), and log throughput (stored and
// followed).
func runInstances(m *mcpd) error {
	server := filepath.Join(m.dir, "mcpserver")
	build := exec.Command("go", "build", "-o", server, "./test/mcpserver")
	build.Env, build.Stderr = append(os.Environ(), "CGO_ENABLED=0"), os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build test/mcpserver: %w", err)
	}
	c, err := client.New(m.base, client.Options{Token: m.token})
	if err != nil {
		return err
	}
	ctx := context.Background()
	applySpec := func(name string, spec map[string]any) error {
		body, _ := json.Marshal(map[string]any{"objects": []any{map[string]any{"kind": "Server", "metadata": map[string]any{"name": name},
			"spec": spec}}})
		req, _ := http.NewRequest("POST", m.base+"/api/v1/apply", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+m.token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("apply %s: HTTP %d", name, resp.StatusCode)
		}
		return nil
	}
	apply := func(name string, replicas int, args ...string) error {
		return applySpec(name, map[string]any{"command": server, "args": args, "replicas": replicas})
	}
	waitReady := func(server string, n int, limit time.Duration) ([]v1.Instance, error) {
		deadline := time.Now().Add(limit)
		for {
			list, err := c.ListInstances(ctx, server, false)
			if err != nil {
				return nil, err
			}
			ready := 0
			for _, in := range list {
				if in.Health.Readiness {
					ready++
				}
			}
			if ready == n {
				return list, nil
			}
			if time.Now().After(deadline) {
				return nil, fmt.Errorf("%d of %d instances of %s ready after %s", ready, n, server, limit)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}

	// 1. Start to ready, 20 times per runtime: the instance's own
	// timestamps, from the start request (createdAt) to the first passing
	// probe (readyAt).
	startToReady := func(name, runtime string, spec map[string]any) error {
		spec["replicas"] = 0
		if err := applySpec(name, spec); err != nil {
			return err
		}
		var took []time.Duration
		for range 20 {
			in, err := c.StartInstance(ctx, name)
			if err != nil {
				return err
			}
			list, err := waitReady(name, 1, time.Minute)
			if err != nil {
				return err
			}
			took = append(took, list[0].ReadyAt.Sub(in.CreatedAt))
			if _, err := c.StopInstance(ctx, in.ID, time.Second); err != nil {
				return err
			}
		}
		slices.Sort(took)
		fmt.Printf("| %s | %s | start → ready (POST /instances to the first passing tools/list probe), 20 starts | p50 %s, p90 %s, max %s |\n",
			m.engine, runtime, took[9].Round(10*time.Microsecond), took[17].Round(10*time.Microsecond), took[19].Round(10*time.Microsecond))
		return nil
	}
	if err := startToReady("latency", "process", map[string]any{"command": server}); err != nil {
		return err
	}
	if image, err := dockerImage(m.dir, server); err != nil {
		fmt.Printf("| %s | docker | start → ready | not measured: %v |\n", m.engine, err)
	} else if err := startToReady("dlatency", "docker", map[string]any{"image": image}); err != nil {
		return err
	}

	// 2. 100 instances at once: 10 servers of 10 replicas.
	pid := m.cmd.Process.Pid
	rssBefore := rss(pid)
	t0 := time.Now()
	for i := range 10 {
		if err := apply(fmt.Sprintf("fleet-%d", i), 10); err != nil {
			return err
		}
	}
	for i := range 10 {
		if _, err := waitReady(fmt.Sprintf("fleet-%d", i), 10, 2*time.Minute); err != nil {
			return err
		}
	}
	allReady := time.Since(t0)
	time.Sleep(5 * time.Second) // let the start-up settle
	cpu0, wall0 := cpuTime(pid), time.Now()
	time.Sleep(60 * time.Second) // two probe rounds at the default 30 s interval
	idleCPU := float64(cpuTime(pid)-cpu0) / float64(time.Since(wall0)) * 100
	fmt.Printf("| %s | process | 100 instances (10 servers × 10 replicas) | all ready %s after the apply; mcpd RSS %s before, %s with 100 running; mcpd idle CPU %.2f%% of one core over 60 s (probes every 30 s) |\n",
		m.engine, allReady.Round(time.Millisecond), mib(rssBefore), mib(rss(pid)), idleCPU)
	for i := range 10 {
		if err := apply(fmt.Sprintf("fleet-%d", i), 0); err != nil {
			return err
		}
	}

	// 3. Log throughput: one server writes 200,000 lines of 100 bytes.
	const lines = 200000
	t0 = time.Now()
	if err := apply("flood", 1, "-log-lines", strconv.Itoa(lines), "-line-bytes", "100"); err != nil {
		return err
	}
	list, err := waitReady("flood", 1, time.Minute)
	if err != nil {
		return err
	}
	id := list[0].ID
	var stored int64
	for {
		page, next, err := c.Logs(ctx, id, client.LogOptions{Tail: 1})
		if err != nil {
			return err
		}
		if len(page) == 1 && strings.Contains(page[0].Line, "wrote") {
			stored = next
			break
		}
		if time.Since(t0) > 5*time.Minute {
			return fmt.Errorf("the flood did not end within 5 minutes")
		}
		time.Sleep(20 * time.Millisecond)
	}
	written := time.Since(t0) - 500*time.Millisecond // the server pauses before its marker
	dropped := 0
	n := 0
	follow0 := time.Now()
	res, err := c.FollowLogs(ctx, id, client.LogOptions{}, client.FollowWebSocket, func(l v1.LogLine) error {
		n++
		if strings.Contains(l.Line, "log lines dropped") {
			fmt.Sscanf(l.Line, "[mcpd: %d", &dropped)
		}
		if l.Seq >= stored {
			return errDone
		}
		return nil
	})
	if err != errDone {
		return fmt.Errorf("follow: %v (%+v)", err, res)
	}
	followed := time.Since(follow0)
	fmt.Printf("| %s | process | log flood: one server writes %d lines of 100 B | all stored in %s: %.0f lines/s (%d dropped) |\n",
		m.engine, lines, written.Round(time.Millisecond), float64(stored)/written.Seconds(), dropped)
	fmt.Printf("| %s | process | the same %d stored lines followed over a WebSocket from cursor 0 | %s: %.0f lines/s |\n",
		m.engine, n, followed.Round(time.Millisecond), float64(n)/followed.Seconds())
	return nil
}

var errDone = fmt.Errorf("done")

// dockerImage builds a FROM scratch image of the test server with the
// docker CLI (the classic builder: no registry, no BuildKit needed).
func dockerImage(dir, server string) (string, error) {
	const tag = "mcpctl-bench-mcpserver:latest"
	ctxDir := filepath.Join(dir, "image")
	if err := os.MkdirAll(ctxDir, 0o700); err != nil {
		return "", err
	}
	data, err := os.ReadFile(server)
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "mcpserver"), data, 0o755); err != nil {
		return "", err
	}
	df := "FROM scratch\nCOPY mcpserver /mcpserver\nENTRYPOINT [\"/mcpserver\"]\n"
	if err := os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(df), 0o644); err != nil {
		return "", err
	}
	cmd := exec.Command("docker", "build", "-q", "-t", tag, ctxDir)
	cmd.Env = append(os.Environ(), "DOCKER_BUILDKIT=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return tag, nil
}

// rss is the current resident memory of pid.
func rss(pid int) int64 { return statusKB(pid, "VmRSS:") << 10 }

func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// cpuTime is pid's user+system CPU time.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // clock ticks, 100 Hz
}
