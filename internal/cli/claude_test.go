package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// existingMCPJSON is a .mcp.json a user wrote: other keys, other servers,
// and values whose spelling (escapes, 1.50, &) a rewrite must keep.
const existingMCPJSON = `{
  "$schema": "https://example.com/mcp.schema.json",
  "mcpServers": {
    "github": {"type": "http", "url": "https://api.example.com/mcp/?a=1&b=2",
               "headers": {"Authorization": "Bearer ${GITHUB_TOKEN}"}},
    "mcpctl-demo": {"type": "stdio", "command": "old-mcplocal"},
    "local": {"command": "npx", "args": ["-y", "caf\u00e9-server"], "timeout": 1.50}
  },
  "other": [1, 2.0, {"x": null}]
}
`

func TestConfigClaude(t *testing.T) {
	stdio := map[string]any{"type": "stdio", "command": "mcplocal", "args": []any{"stdio", "--project", "demo"}}
	httpEntry := map[string]any{"type": "http", "url": "https://mcpd.example.com/projects/demo/mcp",
		"headers": map[string]any{"Authorization": "Bearer mcpctl_pat_secret"}}
	tests := []struct {
		name     string
		existing string // the file before; "" for none
		mode     fs.FileMode
		env      string // $MCPCTL_TOKEN
		args     []string
		code     int
		// wantServers are the file's mcpServers after (nil: the file is as
		// before, or absent).
		wantServers map[string]any
		wantMode    fs.FileMode
		stdout      string // JSON printed, compared as a value
		stderr      []string
	}{
		{
			name: "fresh file", args: []string{"--project", "demo"}, code: ExitOK,
			wantServers: map[string]any{"mcpctl-demo": stdio}, wantMode: 0o644,
			stderr: []string{"wrote mcpServers.mcpctl-demo to ", "or with Claude Code's CLI: claude mcp add --scope project mcpctl-demo -- mcplocal stdio --project demo"},
		},
		{
			name: "merge: replaces its entry, keeps the rest", existing: existingMCPJSON, mode: 0o640,
			args: []string{"--project", "demo", "--mcplocal", "/opt/mcp tools/mcplocal"}, code: ExitOK,
			wantServers: map[string]any{
				"github": map[string]any{"type": "http", "url": "https://api.example.com/mcp/?a=1&b=2",
					"headers": map[string]any{"Authorization": "Bearer ${GITHUB_TOKEN}"}},
				"mcpctl-demo": map[string]any{"type": "stdio", "command": "/opt/mcp tools/mcplocal", "args": []any{"stdio", "--project", "demo"}},
				"local":       map[string]any{"command": "npx", "args": []any{"-y", "café-server"}, "timeout": 1.5},
			},
			wantMode: 0o640,
			stderr:   []string{"replaced mcpServers.mcpctl-demo in ", "-- '/opt/mcp tools/mcplocal' stdio --project demo"},
		},
		{
			name: "merge: adds a named entry", existing: existingMCPJSON, mode: 0o644,
			args: []string{"--project", "demo", "--name", "demo2"}, code: ExitOK,
			wantMode: 0o644, stderr: []string{"wrote mcpServers.demo2 to "},
		},
		{
			name: "--http with a token: mode 0600", existing: existingMCPJSON, mode: 0o644, env: "mcpctl_pat_secret",
			args: []string{"--project", "demo", "--http", "--name", "demo-http"}, code: ExitOK,
			wantMode: 0o600,
			stderr: []string{"wrote mcpServers.demo-http to ", "holds a bearer token (mode 0600)",
				`claude mcp add --scope project --transport http demo-http https://mcpd.example.com/projects/demo/mcp --header "Authorization: Bearer <token>"`},
		},
		{
			name: "--token wins over the environment", env: "mcpctl_pat_other",
			args: []string{"--project", "demo", "--http", "--token", "mcpctl_pat_secret"}, code: ExitOK,
			wantServers: map[string]any{"mcpctl-demo": httpEntry}, wantMode: 0o600,
		},
		{
			name: "--print writes nothing", args: []string{"--project", "demo", "--http", "--token", "mcpctl_pat_secret", "--print"}, code: ExitOK,
			stdout: `{"mcpServers": {"mcpctl-demo": {"type": "http", "url": "https://mcpd.example.com/projects/demo/mcp", "headers": {"Authorization": "Bearer mcpctl_pat_secret"}}}}`,
		},
		{
			name: "--print leaves an existing file alone", existing: existingMCPJSON, mode: 0o644, args: []string{"-p", "demo", "--print"}, code: ExitOK,
			stdout: `{"mcpServers": {"mcpctl-demo": {"type": "stdio", "command": "mcplocal", "args": ["stdio", "--project", "demo"]}}}`,
		},
		{
			name: "--context names the context for mcplocal", args: []string{"--project", "demo", "--context", "lab", "--print"}, code: ExitOK,
			stdout: `{"mcpServers": {"mcpctl-demo": {"type": "stdio", "command": "mcplocal", "args": ["stdio", "--project", "demo"], "env": {"MCPCTL_CONTEXT": "lab"}}}}`,
			stderr: []string{"claude mcp add --scope project --env MCPCTL_CONTEXT=lab mcpctl-demo -- mcplocal stdio --project demo"},
		},
		{
			name: "invalid JSON is refused and kept", existing: "{\"mcpServers\": {\n", mode: 0o644,
			args: []string{"--project", "demo"}, code: ExitError, stderr: []string{"is not a JSON object", "it was not changed"},
		},
		{
			name: "a JSON array is refused", existing: `[{"mcpServers": {}}]`, mode: 0o644,
			args: []string{"--project", "demo"}, code: ExitError, stderr: []string{"is not a JSON object"},
		},
		{
			name: "mcpServers not an object is refused", existing: `{"mcpServers": []}`, mode: 0o644,
			args: []string{"--project", "demo"}, code: ExitError, stderr: []string{"mcpServers is not a JSON object"},
		},
		{
			name: "--http without a token", args: []string{"--project", "demo", "--http"}, code: ExitUsage,
			stderr: []string{"--http needs an McpToken", "mcpctl create mcptoken NAME -p demo --bind role:view,resource:projects"},
		},
		{name: "no project", args: []string{}, code: ExitUsage, stderr: []string{"--project is required"}},
		{name: "bad project name", args: []string{"--project", "Demo_1"}, code: ExitUsage, stderr: []string{`--project "Demo_1" must be a DNS label`}},
		{name: "bad entry name", args: []string{"--project", "demo", "--name", "a b"}, code: ExitUsage, stderr: []string{`--name "a b"`}},
		{name: "--token without --http", args: []string{"--project", "demo", "--token", "x"}, code: ExitUsage, stderr: []string{"--token is for --http"}},
		{name: "unknown context", args: []string{"--project", "demo", "--context", "nope"}, code: ExitUsage, stderr: []string{`context "nope" does not exist`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("MCPCTL_TOKEN", tc.env)
			f, io := newFactory(t, "", false, "")
			cfgPath, _ := ConfigPath()
			cfg := &Config{CurrentContext: "lab", Contexts: []Context{{Name: "lab", MCPDURL: "https://mcpd.example.com/", Token: "mcpctl_sess_x"}}}
			if err := cfg.Save(cfgPath); err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			t.Chdir(dir)
			path := filepath.Join(dir, ".mcp.json")
			if tc.existing != "" {
				if err := os.WriteFile(path, []byte(tc.existing), tc.mode); err != nil {
					t.Fatal(err)
				}
				os.Chmod(path, tc.mode) // past the umask
			}

			code := Run(f, append([]string{"config", "claude"}, tc.args...))
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, io.out.String(), io.err.String())
			}
			for _, want := range tc.stderr {
				if !strings.Contains(io.err.String(), want) {
					t.Errorf("stderr lacks %q:\n%s", want, io.err.String())
				}
			}
			if strings.Contains(io.err.String(), "mcpctl_pat_") {
				t.Errorf("stderr shows the token:\n%s", io.err.String())
			}
			if tc.stdout != "" {
				if diff := cmp.Diff(jsonValue(t, []byte(tc.stdout)), jsonValue(t, io.out.Bytes())); diff != "" {
					t.Errorf("stdout (-want +got):\n%s", diff)
				}
			} else if io.out.Len() > 0 {
				t.Errorf("stdout: %q, want nothing", io.out.String())
			}

			got, err := os.ReadFile(path)
			if tc.code != ExitOK || tc.stdout != "" {
				// Refused or printed: the file is as it was.
				if tc.existing == "" && !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("a file was written: %q, %v", got, err)
				}
				if tc.existing != "" && string(got) != tc.existing {
					t.Errorf("the file changed:\n%s", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(path)
			if st.Mode().Perm() != tc.wantMode {
				t.Errorf("mode %v, want %v", st.Mode().Perm(), tc.wantMode)
			}
			if tc.wantServers != nil {
				servers := jsonValue(t, got).(map[string]any)["mcpServers"]
				if diff := cmp.Diff(any(tc.wantServers), servers); diff != "" {
					t.Errorf("mcpServers (-want +got):\n%s", diff)
				}
			}
			if tc.existing != "" {
				checkKept(t, []byte(tc.existing), got)
			}
			if entries, _ := filepath.Glob(filepath.Join(dir, ".mcp.json-*")); len(entries) > 0 {
				t.Errorf("temporary files left: %v", entries)
			}
		})
	}
}

// checkKept checks that every key of before but mcpServers.mcpctl-demo,
// demo2 and demo-http is in after, in the same order and with the same
// value byte for byte (compacted).
func checkKept(t *testing.T, before, after []byte) {
	t.Helper()
	var b, a jsonObject
	if err := json.Unmarshal(before, &b); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(after, &a); err != nil {
		t.Fatalf("the file is not a JSON object: %v\n%s", err, after)
	}
	keys := func(o jsonObject) (ks []string) {
		for _, m := range o {
			ks = append(ks, m.Key)
		}
		return ks
	}
	if diff := cmp.Diff(keys(b), keys(a)); diff != "" {
		t.Errorf("top-level keys (-before +after):\n%s", diff)
	}
	for _, m := range b {
		v, _ := a.get(m.Key)
		if m.Key == "mcpServers" {
			var bs, as jsonObject
			json.Unmarshal(m.Value, &bs)
			json.Unmarshal(v, &as)
			for _, s := range bs {
				if s.Key == "mcpctl-demo" {
					continue
				}
				got, _ := as.get(s.Key)
				if !bytes.Equal(compact(t, s.Value), compact(t, got)) {
					t.Errorf("mcpServers.%s changed: %s -> %s", s.Key, s.Value, got)
				}
			}
			continue
		}
		if !bytes.Equal(compact(t, m.Value), compact(t, v)) {
			t.Errorf("%s changed: %s -> %s", m.Key, m.Value, v)
		}
	}
}

func compact(t *testing.T, v []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, v); err != nil {
		t.Fatalf("%v: %s", err, v)
	}
	return b.Bytes()
}

func jsonValue(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	return v
}

func TestJSONObjectRoundTrip(t *testing.T) {
	in := `{"b": 1.50, "a": {"z": "\u00e9&<"}, "b2": [ ]}`
	var o jsonObject
	if err := json.Unmarshal([]byte(in), &o); err != nil {
		t.Fatal(err)
	}
	o.set("a", json.RawMessage(`true`))
	o.set("c", json.RawMessage(`null`))
	got, err := marshalJSON(o)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"b":1.50,"a":true,"b2":[],"c":null}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	for _, bad := range []string{`[]`, `null`, `"x"`, `{"a":}`} {
		if err := json.Unmarshal([]byte(bad), &o); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}
