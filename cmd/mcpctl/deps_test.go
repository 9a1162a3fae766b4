package main

import (
	"os/exec"
	"strings"
	"testing"
)

// forbidden are packages the CLI must never link: it talks to mcpd over
// HTTP only (DESIGN.md §1). Prefix matches.
var forbidden = []string{
	"database/sql/driver",
	"modernc.org/sqlite",
	"github.com/jackc/pgx",
	"github.com/lib/pq",
	"github.com/mattn/go-sqlite3",
	"github.com/docker/",
	"github.com/moby/",
	"k8s.io/client-go",
	"github.com/mcpctl/mcpctl/internal/store",
	"github.com/mcpctl/mcpctl/internal/server",
}

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

func linked(all []string) []string {
	var bad []string
	for _, d := range all {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				bad = append(bad, d)
			}
		}
	}
	return bad
}

func TestCLILinksNoDriverDockerOrKubernetes(t *testing.T) {
	if bad := linked(deps(t, "github.com/mcpctl/mcpctl/cmd/mcpctl")); len(bad) > 0 {
		t.Errorf("mcpctl links forbidden packages:\n  %s", strings.Join(bad, "\n  "))
	}
	// The check must be able to fail: mcpd does link a database driver.
	if bad := linked(deps(t, "github.com/mcpctl/mcpctl/cmd/mcpd")); len(bad) == 0 {
		t.Errorf("the forbidden list matches nothing in mcpd; the check is broken")
	}
}
