package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store/storetest"
)

// The three npm servers of the gateway's compatibility test, pinned.
var npmServers = map[string][]string{
	"everything": {"-y", "@modelcontextprotocol/server-everything@2026.8.31"},
	"memory":     {"-y", "@modelcontextprotocol/server-memory@2025.11.25"},
	"fs":         {"-y", "@modelcontextprotocol/server-filesystem@2026.8.31"},
}

// TestGatewayNpmServers merges three real npm servers into one project
// and calls one tool of each through mcpd's endpoint: from the go-sdk
// client in both protocol eras and from the official TypeScript SDK's
// client.
func TestGatewayNpmServers(t *testing.T) {
	if _, err := exec.LookPath("npx"); err != nil {
		storetest.RequireService(t, "npx (Node.js)")
	}
	node, _ := conformanceSuite(t, "0.2.0-alpha.12")
	sdkDir := filepath.Join(filepath.Dir(filepath.Dir(filepath.Dir(node))), "@modelcontextprotocol", "sdk")
	if _, err := os.Stat(sdkDir); err != nil {
		t.Fatalf("the TypeScript SDK the suite installs is not at %s: %v", sdkDir, err)
	}
	m := startMcpd(t, "", instanceEnv...)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	a := api{t: t, base: m.URL, token: login(t, m.URL)}
	shared := t.TempDir()
	writeFile(t, filepath.Join(shared, "note.txt"), "hello from the filesystem server\n")
	var objs []map[string]any
	for name, args := range npmServers {
		if name == "fs" {
			args = append(slices.Clone(args), shared)
		}
		objs = append(objs, serverObj(name, map[string]any{"command": "npx", "args": args, "healthCheck": map[string]any{"interval": "5s"}}))
	}
	objs = append(objs, map[string]any{"kind": "Project", "metadata": map[string]any{"name": "trio"},
		"spec": map[string]any{"servers": []string{"everything", "memory", "fs"}}})
	applyJSON(t, a, objs...)
	tok := rawToken(t, mcpctl(t, cfg, "", "create", "mcptoken", "ci", "-p", "trio", "--rbac", "clone", "-o", "json"))
	deadline := time.Now().Add(5 * time.Minute) // npx downloads the packages first
	for name := range npmServers {
		for len(inState(instances(t, cfg, name, false), "running")) == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("npm server %s not running within 5 minutes", name)
			}
			time.Sleep(time.Second)
		}
	}
	url := m.URL + "/projects/trio/mcp"
	calls := []struct {
		name string
		args map[string]any
		want string
	}{
		{"everything__echo", map[string]any{"message": "merged"}, "merged"},
		{"memory__read_graph", map[string]any{}, "entities"},
		{"fs__read_text_file", map[string]any{"path": filepath.Join(shared, "note.txt")}, "hello from the filesystem server"},
	}
	for _, version := range []string{"2025-11-25", "2026-07-28"} {
		cs := mcpConnect(t, url, tok, version, nil)
		names := toolNames(t, cs)
		for _, c := range calls {
			if !slices.Contains(names, c.name) {
				t.Errorf("%s: merged listing lacks %s: %v", version, c.name, names)
			}
			got, err := callText(t, cs, c.name, c.args)
			if err != nil || !strings.Contains(got, c.want) {
				t.Errorf("%s: %s = %q, %v", version, c.name, got, err)
			}
		}
	}

	// The official TypeScript SDK's client.
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "testdata", "tsclient.mjs")
	var callsJSON []map[string]any
	for _, c := range calls {
		callsJSON = append(callsJSON, map[string]any{"name": c.name, "arguments": c.args})
	}
	cj, _ := json.Marshal(callsJSON)
	cmd := exec.Command(node, script, url, tok, string(cj))
	cmd.Env = append(os.Environ(), "MCP_SDK_DIR="+sdkDir)
	out, err := cmd.Output()
	var res struct {
		ProtocolVersion string
		Tools           []string
		Calls           []struct {
			Name    string
			IsError bool
			Text    string
		}
		Error string
	}
	if err != nil || json.Unmarshal(out, &res) != nil {
		t.Fatalf("TypeScript client: %v %s", err, out)
	}
	if len(res.Calls) != len(calls) {
		t.Fatalf("TypeScript client made %d calls: %+v", len(res.Calls), res)
	}
	for i, c := range calls {
		if !slices.Contains(res.Tools, c.name) || res.Calls[i].IsError || !strings.Contains(res.Calls[i].Text, c.want) {
			t.Errorf("TypeScript client, %s: %+v (tools %v)", c.name, res.Calls[i], res.Tools)
		}
	}
	t.Logf("TypeScript SDK client: protocol %s, %d tools", res.ProtocolVersion, len(res.Tools))
}
