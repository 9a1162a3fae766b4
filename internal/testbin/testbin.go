// Package testbin builds the project's test programs (the test MCP server)
// once per test binary, for tests that run them as real processes.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	err  error
)

// MCPServer returns the path of a static build of test/mcpserver.
func MCPServer(t testing.TB) string {
	t.Helper()
	once.Do(func() {
		dir, err = os.MkdirTemp("", "mcpctl-testbin-")
		if err != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, "mcpserver"), "./test/mcpserver")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		var out []byte
		if out, err = cmd.CombinedOutput(); err != nil {
			err = &buildError{err: err, out: string(out)}
		}
	})
	if err != nil {
		t.Fatalf("build test/mcpserver: %v", err)
	}
	return filepath.Join(dir, "mcpserver")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

var (
	everyOnce sync.Once
	everyPath string
	everyErr  error
)

// EverythingServer returns the path of a build of the go-sdk's conformance
// server (a tool of go.mod), the upstream the MCP conformance suite is run
// against through the gateway.
func EverythingServer(t testing.TB) string {
	t.Helper()
	everyOnce.Do(func() {
		var d string
		if d, everyErr = os.MkdirTemp("", "mcpctl-testbin-"); everyErr != nil {
			return
		}
		_, file, _, _ := runtime.Caller(0)
		everyPath = filepath.Join(d, "everything-server")
		cmd := exec.Command("go", "build", "-o", everyPath, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server")
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			everyErr = &buildError{err: err, out: string(out)}
		}
	})
	if everyErr != nil {
		t.Fatalf("build the conformance server: %v", everyErr)
	}
	return everyPath
}
