package process_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/mcpctl/mcpctl/internal/testbin"
	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/mcpctl/mcpctl/internal/workload/process"
	"github.com/mcpctl/mcpctl/internal/workload/workloadtest"
)

func TestConformance(t *testing.T) {
	bin := testbin.MCPServer(t)
	node := "test-" + workloadtest.NewID()
	workloadtest.Run(t, func(t *testing.T) workload.Runtime {
		rt, err := process.New(process.Config{Node: node})
		if err != nil {
			t.Fatal(err)
		}
		return rt
	}, workloadtest.Fixture{
		Spec: func(t *testing.T, flags ...string) workload.Spec {
			return workload.Spec{InstanceID: workloadtest.NewID(), Server: "test", Transport: "stdio", Command: bin, Args: flags}
		},
		Missing: func(t *testing.T) workload.Spec {
			return workload.Spec{InstanceID: workloadtest.NewID(), Server: "test", Command: "mcpctl-no-such-command"}
		},
		Leftovers: func(t *testing.T) int { return countMarked(node) },
	})
}

// countMarked counts live processes (not zombies) whose environment
// carries the node's mark.
func countMarked(node string) int {
	mark := []byte(process.EnvNode + "=" + node + "\x00")
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil || !bytes.Contains(env, mark) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue
		}
		n++
	}
	return n
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// An mcpd that crashed leaves its children running; the next mcpd on the
// same node finds them with List and stops them, group and all.
func TestOrphansAreFoundAndStopped(t *testing.T) {
	bin := testbin.MCPServer(t)
	node := "test-" + workloadtest.NewID()
	old, _ := process.New(process.Config{Node: node})
	var log workloadtest.Log
	spec := workload.Spec{InstanceID: workloadtest.NewID(), Server: "s", Command: bin,
		Args: []string{"-spawn-child", "-ignore-sigterm"}, Log: log.Func}
	if _, err := old.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = old.Stop(context.Background(), spec.InstanceID, workload.StopOptions{Drain: time.Millisecond})
	})
	log.WaitFor(t, "grandchild pid")

	other, _ := process.New(process.Config{Node: "test-other-" + workloadtest.NewID()})
	if list, _ := other.List(t.Context()); len(list) != 0 {
		t.Fatalf("another node sees %+v", list)
	}
	if _, err := other.Stop(t.Context(), spec.InstanceID, workload.StopOptions{}); !errors.Is(err, workload.ErrNotFound) {
		t.Fatalf("another node's Stop: %v, want ErrNotFound", err)
	}

	next, _ := process.New(process.Config{Node: node})
	list, err := next.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].InstanceID != spec.InstanceID || !list[0].Running {
		t.Fatalf("List = %+v, want the orphan", list)
	}
	if _, err := next.Adopt(t.Context(), spec.InstanceID, workload.AdoptOptions{}); !errors.Is(err, workload.ErrNotFound) {
		t.Errorf("Adopt: %v, want ErrNotFound", err)
	}
	st, err := next.Stop(t.Context(), spec.InstanceID, workload.StopOptions{Drain: 200 * time.Millisecond})
	if err != nil || st.Running {
		t.Fatalf("Stop of the orphan = %+v, %v", st, err)
	}
	if n := countMarked(node); n != 0 {
		t.Errorf("%d processes left after stopping the orphan", n)
	}
}

// The child gets the base variables and the spec's, nothing else of mcpd's.
func TestEnvironmentIsAllowListed(t *testing.T) {
	env := map[string]string{"PATH": "/usr/bin:/bin", "HOME": "/home/x", "MCPD_DATABASE_URL": "postgres://secret"}
	rt, _ := process.New(process.Config{Node: "n", Getenv: func(k string) string { return env[k] }})
	var log workloadtest.Log
	spec := workload.Spec{InstanceID: workloadtest.NewID(), Command: "/bin/sh",
		Args: []string{"-c", "env | sort >&2"}, Env: map[string]string{"TOKEN": "t0k", "MCPCTL_NODE": "forged"}, Log: log.Func}
	if _, err := rt.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Wait(t.Context(), spec.InstanceID); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.Stop(t.Context(), spec.InstanceID, workload.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range log.Texts() {
		if k, _, ok := strings.Cut(l, "="); ok && k != "PWD" && k != "SHLVL" && k != "_" {
			got[l] = true
		}
	}
	want := map[string]bool{"PATH=/usr/bin:/bin": true, "HOME=/home/x": true, "TOKEN=t0k": true,
		"MCPCTL_NODE=n": true, "MCPCTL_INSTANCE=" + spec.InstanceID: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("child environment (-want +got):\n%s", diff)
	}
	// And the spec's values are not on the command line.
	if _, err := rt.Start(t.Context(), workload.Spec{InstanceID: workloadtest.NewID(), Command: "no-such-cmd-x"}); err == nil ||
		!strings.Contains(err.Error(), "not found in PATH (/usr/bin:/bin)") {
		t.Errorf("missing command error = %v", err)
	}
}

// A grandchild that leaves the group (setsid) and keeps stderr open is out
// of reach, but Stop still returns: the log is cut after a grace period.
func TestStopReturnsDespiteAnEscapedGrandchild(t *testing.T) {
	bin := testbin.MCPServer(t)
	rt, _ := process.New(process.Config{Node: "test-" + workloadtest.NewID()})
	var log workloadtest.Log
	spec := workload.Spec{InstanceID: workloadtest.NewID(), Command: bin, Args: []string{"-setsid-child"}, Log: log.Func}
	if _, err := rt.Start(t.Context(), spec); err != nil {
		t.Fatal(err)
	}
	log.WaitFor(t, "escaped grandchild pid")
	var pid int
	for _, l := range log.Texts() {
		if _, err := fmt.Sscanf(l, "mcpserver: escaped grandchild pid %d", &pid); err == nil {
			break
		}
	}
	t.Cleanup(func() {
		if pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	begin := time.Now()
	if _, err := rt.Stop(t.Context(), spec.InstanceID, workload.StopOptions{Drain: 200 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("Stop took %v with an escaped grandchild holding stderr", took)
	}
}
