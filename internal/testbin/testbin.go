// Package testbin builds the project's test programs (the test MCP server)
// once per test binary, for tests that run them as real processes, and
// calls their tools.
package testbin

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// binary is one program built once per test binary.
type binary struct {
	once sync.Once
	path string
	err  error
}

// build builds pkg (a path in the module, or a package of a tool of
// go.mod) statically into a temporary directory, once.
func (b *binary) build(t testing.TB, pkg, name string) string {
	t.Helper()
	b.once.Do(func() {
		dir, err := os.MkdirTemp("", "mcpctl-testbin-")
		if err != nil {
			b.err = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		b.path = filepath.Join(dir, name)
		cmd := exec.Command("go", "build", "-o", b.path, pkg)
		cmd.Dir = filepath.Join(filepath.Dir(file), "..", "..")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = &buildError{err: err, out: string(out)}
		}
	})
	if b.err != nil {
		t.Fatalf("build %s: %v", pkg, b.err)
	}
	return b.path
}

var mcpServer, everythingServer binary

// MCPServer returns the path of a static build of test/mcpserver.
func MCPServer(t testing.TB) string {
	t.Helper()
	return mcpServer.build(t, "./test/mcpserver", "mcpserver")
}

// EverythingServer returns the path of a build of the go-sdk's conformance
// server (a tool of go.mod), the upstream the MCP conformance suite is run
// against through the gateway.
func EverythingServer(t testing.TB) string {
	t.Helper()
	return everythingServer.build(t, "github.com/modelcontextprotocol/go-sdk/conformance/everything-server", "everything-server")
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }
