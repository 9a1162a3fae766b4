package e2e

import (
	"bytes"
	"database/sql"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/mcpctl/mcpctl/internal/store/storetest"
	"sigs.k8s.io/yaml"
)

// secretValue is the secret in testdata/demo.yaml; it must never be stored,
// logged or audited in plain text.
const secretValue = "ghp_e2e_VALUE_7f3a9c"

// engine starts an mcpd on SQLite or PostgreSQL; dump returns every byte
// the store holds, for the plain-text search.
type engine struct {
	name  string
	start func(t *testing.T) (*mcpd, func() []byte)
}

func engines() []engine {
	return []engine{
		{"sqlite", func(t *testing.T) (*mcpd, func() []byte) {
			m := startMcpd(t, "")
			return m, func() []byte {
				var all []byte
				files, _ := filepath.Glob(filepath.Join(m.DataDir, "mcpd.db*"))
				for _, f := range files {
					b, _ := os.ReadFile(f)
					all = append(all, b...)
				}
				return all
			}
		}},
		{"postgres", func(t *testing.T) (*mcpd, func() []byte) {
			url := storetest.PostgresURL(t)
			m := startMcpd(t, "", "MCPD_DATABASE_URL="+url, "MCPD_SECRET_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
			return m, func() []byte { return dumpPostgres(t, url) }
		}},
	}
}

// dumpPostgres returns the text of every row of the tables that hold
// resources and audit events.
func dumpPostgres(t *testing.T, url string) []byte {
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var out bytes.Buffer
	for _, table := range []string{"resources", "resource_refs", "audit_events"} {
		rows, err := db.Query("SELECT t::text FROM " + table + " t")
		if err != nil {
			t.Fatalf("dump %s: %v", table, err)
		}
		for rows.Next() {
			var s string
			rows.Scan(&s)
			out.WriteString(s + "\n")
		}
		rows.Close()
	}
	return out.Bytes()
}

func TestResourceVerbs(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			m, dump := e.start(t)
			cfg := t.TempDir()
			run := func(stdin string, args ...string) result { return mcpctl(t, cfg, stdin, args...) }
			must := func(r result, want ...string) {
				t.Helper()
				if r.Code != 0 {
					t.Fatalf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
				}
				for _, w := range want {
					if !strings.Contains(r.Stdout, w) {
						t.Fatalf("want %q in stdout:\n%s", w, r.Stdout)
					}
				}
			}
			cliLogin(t, cfg, m.URL)

			must(run("", "apply", "-f", "testdata/demo.yaml"),
				"project/demo created", "secret/github created", "server/memory created", "server/fetch created",
				"template/filesystem created", "prompt/demo/style created")
			must(run("", "apply", "-f", "testdata/demo.yaml"), "server/memory unchanged", "secret/github unchanged")

			// Dynamic completion asks mcpd for names; kinds and aliases
			// complete offline.
			must(run("", "__complete", "get", "server", ""), "memory", "fetch")
			must(run("", "__complete", "describe", "sr"), "srv")
			must(run("", "__complete", "get", "prompts", "--project", "demo", ""), "style")
			for _, shell := range []string{"bash", "zsh", "fish"} {
				must(run("", "completion", shell), "__complete")
			}

			must(run("", "get", "servers"), "NAME", "TRANSPORT", "memory", "fetch", "AGE")
			must(run("", "get", "srv", "-l", "team=infra", "-o", "name"), "server/memory")
			if r := run("", "get", "srv", "-l", "team=infra", "-o", "name"); strings.Contains(r.Stdout, "fetch") {
				t.Fatalf("label selector did not filter: %s", r.Stdout)
			}
			must(run("", "get", "all", "-p", "demo"), "secret/github", "server/memory", "project/demo", "prompt/style")
			must(run("", "get", "secret", "github", "-o", "yaml"), "TOKEN: null")
			must(run("", "get", "secret", "github", "--reveal", "-o", "json"), secretValue)
			must(run("", "describe", "server", "memory"), "Name:", "memory", "Uses:", "secret/github key TOKEN", "Used by:", "project/demo")

			// Round trip: everything onto a fresh mcpd, spec sections equal.
			all := run("", "get", "all", "-A", "-o", "yaml")
			must(all)
			m2, _ := e.start(t)
			cfg2 := t.TempDir()
			cliLogin(t, cfg2, m2.URL)
			// Secret values do not travel: the key exists without a value,
			// and apply says so.
			must(mcpctl(t, cfg2, all.Stdout, "apply", "-f", "-"), "server/memory created", "prompt/demo/style created",
				"secret/github created\n    warning: key TOKEN has no value")
			must(mcpctl(t, cfg2, "", "get", "secret", "github", "--reveal", "-o", "yaml"), "TOKEN: null")
			again := mcpctl(t, cfg2, "", "get", "all", "-A", "-o", "yaml")
			must(again)
			if a, b := specs(t, all.Stdout), specs(t, again.Stdout); a != b {
				t.Fatalf("round trip changed the specs:\n--- before\n%s\n--- after\n%s", a, b)
			}

			// patch, both forms; a bad value is refused.
			must(run("", "patch", "server", "memory", "replicas=3", "metadata.labels.env=prod"), "server/memory patched")
			must(run("", "patch", "project", "demo", "--type", "merge", "-p", `{"spec":{"gated":true}}`), "project/demo patched")
			must(run("", "get", "project", "demo", "-o", "yaml"), "gated: true")
			if r := run("", "patch", "server", "memory", "replicas=11"); r.Code != 1 || !strings.Contains(r.Stderr, "spec.replicas: must be from 0 to 10") {
				t.Fatalf("patch replicas=11: %+v", r)
			}

			// edit: a valid change applies; an invalid one reopens with the
			// error as a comment (the script then gives up by not saving).
			editor := filepath.Join(t.TempDir(), "editor.sh")
			os.WriteFile(editor, []byte("#!/bin/sh\nif grep -q 'The edit was not applied' \"$1\"; then cp \"$1\" \""+cfg+"/reopened.yaml\"; exit 0; fi\n"+
				"sed -i \"s/replicas: [0-9]*/replicas: $REPLICAS/\" \"$1\"\n"), 0o755)
			r := mcpctlEnv(t, cfg, "", []string{"EDITOR=" + editor, "REPLICAS=4"}, "edit", "server", "memory")
			must(r, "server/memory edited")
			must(run("", "get", "server", "memory", "-o", "yaml"), "replicas: 4")
			r = mcpctlEnv(t, cfg, "", []string{"EDITOR=" + editor, "REPLICAS=11"}, "edit", "server", "memory")
			if r.Code == 0 || !strings.Contains(r.Stderr, "edit cancelled") {
				t.Fatalf("invalid edit: %+v", r)
			}
			reopened, _ := os.ReadFile(filepath.Join(cfg, "reopened.yaml"))
			if !strings.Contains(string(reopened), "# The edit was not applied") || !strings.Contains(string(reopened), "must be from 0 to 10") {
				t.Fatalf("the editor was not reopened with the error:\n%s", reopened)
			}
			// edit that changes the name is refused.
			rename := filepath.Join(t.TempDir(), "rename.sh")
			os.WriteFile(rename, []byte("#!/bin/sh\nif grep -q 'not applied' \"$1\"; then cp \"$1\" \""+cfg+"/renamed.yaml\"; exit 0; fi\nsed -i 's/name: memory/name: other/' \"$1\"\n"), 0o755)
			mcpctlEnv(t, cfg, "", []string{"EDITOR=" + rename}, "edit", "server", "memory")
			renamed, _ := os.ReadFile(filepath.Join(cfg, "renamed.yaml"))
			if !strings.Contains(string(renamed), "metadata.name cannot be changed") {
				t.Fatalf("rename was not refused:\n%s", renamed)
			}
			// Someone else changes the object while the editor is open: the
			// edit is refused as stale and kept in a file.
			racer := filepath.Join(t.TempDir(), "racer.sh")
			os.WriteFile(racer, []byte("#!/bin/sh\n"+filepath.Join(binDir, "mcpctl")+" patch server memory replicas=6 >/dev/null\n"+
				"sed -i 's/replicas: [0-9]*/replicas: 7/' \"$1\"\n"), 0o755)
			r = mcpctlEnv(t, cfg, "", []string{"EDITOR=" + racer}, "edit", "server", "memory")
			if r.Code != 1 || !strings.Contains(r.Stderr, "was changed since you read it") || !strings.Contains(r.Stderr, "your edit is saved in ") {
				t.Fatalf("edit racing a patch: %+v", r)
			}
			kept := strings.TrimSpace(r.Stderr[strings.Index(r.Stderr, "your edit is saved in ")+len("your edit is saved in "):])
			kept = kept[:strings.Index(kept, ";")]
			if b, err := os.ReadFile(kept); err != nil || !strings.Contains(string(b), "replicas: 7") {
				t.Fatalf("the kept edit %s: %v\n%s", kept, err, b)
			}
			must(run("", "get", "server", "memory", "-o", "yaml"), "replicas: 6")

			// create, one per kind.
			must(run("", "create", "secret", "slack", "--data", "WEBHOOK=https://hooks.example/x"), "secret/slack created")
			must(run("", "create", "server", "files", "--from-template", "filesystem", "--set", "ROOT=/srv"), "server/files created")
			must(run("", "get", "server", "files", "-o", "yaml"), "/srv", "mcpctl.dev/template: filesystem")
			must(run("", "create", "server", "hook", "--command", "hook-mcp", "--env-from-secret", "URL=slack/WEBHOOK"), "server/hook created")
			must(run("", "create", "project", "ops", "--server", "hook", "--deny", "hook:drop"), "project/ops created")
			must(run("", "create", "prompt", "hi", "-p", "ops", "--text", "Hello"), "prompt/ops/hi created")
			if r := run("", "create", "server", "x", "--command", "a", "--image", "b"); r.Code != 1 || !strings.Contains(r.Stderr, "both set") {
				t.Fatalf("command and image: %+v", r)
			}
			if r := run("", "create", "server", "x", "--from-template", "filesystem"); r.Code != 2 || !strings.Contains(r.Stderr, "missing required input ROOT") {
				t.Fatalf("missing template input: %+v", r)
			}

			// delete: a used object is refused naming its user; --cascade.
			if r := run("", "delete", "server", "hook", "--yes"); r.Code != 1 || !strings.Contains(r.Stderr, "project/ops") {
				t.Fatalf("delete used server: %+v", r)
			}
			must(run("", "delete", "server", "hook", "--yes", "--cascade"), "server/hook deleted", "project/ops configured (cascade)")
			must(run("", "delete", "project", "ops", "--cascade"), "project/ops deleted", "prompt/ops/hi deleted (cascade)")
			if r := run("", "get", "prompt", "hi", "-p", "ops"); r.Code != 1 || !strings.Contains(r.Stderr, "not found") {
				t.Fatalf("cascaded prompt still there: %+v", r)
			}
			if r := run("", "get", "widgets"); r.Code != 2 || !strings.Contains(r.Stderr, "known types: secrets") {
				t.Fatalf("unknown kind: %+v", r)
			}

			// The secret value is nowhere in plain text.
			if bytes.Contains(dump(), []byte(secretValue)) {
				t.Error("the secret value is in the store in plain text")
			}
			if strings.Contains(m.Log(), secretValue) {
				t.Error("the secret value is in mcpd's log")
			}
		})
	}
}

// specs returns the kind, name and spec of every document, without
// server-set metadata, for comparing a round trip.
func specs(t *testing.T, stream string) string {
	var out strings.Builder
	for _, doc := range strings.Split(stream, "\n---\n") {
		var o map[string]any
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			t.Fatalf("parse %q: %v", doc, err)
		}
		md := o["metadata"].(map[string]any)
		b, _ := yaml.Marshal(map[string]any{"kind": o["kind"], "name": md["name"], "project": md["project"], "labels": md["labels"], "spec": o["spec"]})
		out.Write(b)
		out.WriteString("---\n")
	}
	return out.String()
}

// mcpd restarted on the same data directory reads its own key file and
// the values sealed before the restart.
func TestSecretKeyFileSurvivesRestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := startMcpd(t, dir)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	if r := mcpctl(t, cfg, secretValue+"\n", "create", "secret", "github", "--data-stdin", "TOKEN"); r.Code != 0 {
		t.Fatalf("create secret: %+v", r)
	}
	st, err := os.Stat(filepath.Join(dir, "secret-key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v; want 0600", err, st.Mode())
	}
	m.Stop()
	m = startMcpd(t, dir)
	cliLogin(t, cfg, m.URL)
	r := mcpctl(t, cfg, "", "get", "secret", "github", "--reveal", "-o", "yaml")
	if r.Code != 0 || !strings.Contains(r.Stdout, "TOKEN: "+secretValue) {
		t.Fatalf("reveal after restart: %+v", r)
	}
}

func TestBackupRestore(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			m, _ := e.start(t)
			cfg := t.TempDir()
			run := func(stdin string, args ...string) result { return mcpctl(t, cfg, stdin, args...) }
			cliLogin(t, cfg, m.URL)
			if r := run("", "apply", "-f", "testdata/demo.yaml"); r.Code != 0 {
				t.Fatalf("apply: %+v", r)
			}
			archive := filepath.Join(t.TempDir(), "backup.json")
			const pass = "a long backup passphrase"
			if r := run("short\n", "backup", "-o", archive, "--passphrase-stdin"); r.Code != 2 || !strings.Contains(r.Stderr, "at least 12 characters") {
				t.Fatalf("short passphrase: %+v", r)
			}
			if r := run(pass+"\n", "backup", "-o", archive, "--passphrase-stdin"); r.Code != 0 || !strings.Contains(r.Stdout, "wrote 6 objects (1 secrets") {
				t.Fatalf("backup: %+v", r)
			}
			st, err := os.Stat(archive)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("archive: %v mode %v; want 0600", err, st.Mode())
			}
			if b, _ := os.ReadFile(archive); bytes.Contains(b, []byte(secretValue)) {
				t.Fatal("the archive holds the secret value in plain text")
			}
			before := run("", "get", "all", "-A", "-o", "yaml")

			// Onto a fresh mcpd: everything back, secret values included.
			m2, _ := e.start(t)
			cfg2 := t.TempDir()
			run2 := func(stdin string, args ...string) result { return mcpctl(t, cfg2, stdin, args...) }
			cliLogin(t, cfg2, m2.URL)
			if r := run2("not the passphrase\n", "restore", "-f", archive, "--passphrase-stdin"); r.Code != 1 || !strings.Contains(r.Stderr, "passphrase is wrong") {
				t.Fatalf("wrong passphrase: %+v", r)
			}
			// An archive whose servers were altered does not restore, even
			// with the right passphrase.
			orig, _ := os.ReadFile(archive)
			altered := filepath.Join(t.TempDir(), "altered.json")
			os.WriteFile(altered, bytes.Replace(orig, []byte(`"command": "npx"`), []byte(`"command": "evil"`), 1), 0o600)
			if r := run2(pass+"\n", "restore", "-f", altered, "--passphrase-stdin"); r.Code != 1 || !strings.Contains(r.Stderr, "the archive was altered") {
				t.Fatalf("altered archive: %+v", r)
			}
			if r := run2(string(orig), "restore", "-f", "-", "--passphrase-stdin"); r.Code != 2 || !strings.Contains(r.Stderr, "both read standard input") {
				t.Fatalf("restore -f - --passphrase-stdin: %+v", r)
			}
			if r := run2("", "get", "servers", "-o", "name"); r.Stdout != "" {
				t.Fatalf("a failed restore wrote objects: %q", r.Stdout)
			}
			if r := run2(pass+"\n", "restore", "-f", archive, "--passphrase-stdin"); r.Code != 0 || !strings.Contains(r.Stdout, "secret/github created") {
				t.Fatalf("restore: %+v", r)
			}
			after := run2("", "get", "all", "-A", "-o", "yaml")
			if a, b := specs(t, before.Stdout), specs(t, after.Stdout); a != b {
				t.Fatalf("restore changed the specs:\n--- before\n%s\n--- after\n%s", a, b)
			}
			if r := run2("", "get", "secret", "github", "--reveal", "-o", "yaml"); !strings.Contains(r.Stdout, "TOKEN: "+secretValue) {
				t.Fatalf("secret value not restored: %+v", r)
			}

			// Again, onto objects that now exist.
			if r := run2(pass+"\n", "restore", "-f", archive, "--passphrase-stdin"); r.Code != 1 || !strings.Contains(r.Stderr, "already exists and --on-conflict is fail") {
				t.Fatalf("restore --on-conflict fail: %+v", r)
			}
			if r := run2("", "patch", "server", "memory", "replicas=5"); r.Code != 0 {
				t.Fatalf("patch: %+v", r)
			}
			if r := run2(pass+"\n", "restore", "-f", archive, "--passphrase-stdin", "--on-conflict", "skip"); r.Code != 0 || !strings.Contains(r.Stdout, "server/memory skipped") {
				t.Fatalf("restore --on-conflict skip: %+v", r)
			}
			if r := run2("", "get", "server", "memory", "-o", "yaml"); !strings.Contains(r.Stdout, "replicas: 5") {
				t.Fatalf("skip changed the server: %s", r.Stdout)
			}
			if r := run2(pass+"\n", "restore", "-f", archive, "--passphrase-stdin", "--on-conflict", "overwrite"); r.Code != 0 ||
				!strings.Contains(r.Stdout, "server/memory configured") || !strings.Contains(r.Stdout, "secret/github unchanged") {
				t.Fatalf("restore --on-conflict overwrite: %+v", r)
			}
			if r := run2("", "get", "server", "memory", "-o", "yaml"); !strings.Contains(r.Stdout, "replicas: 1") {
				t.Fatalf("overwrite did not restore the server: %s", r.Stdout)
			}
		})
	}
}

// Each bad input is refused with a message naming the document, line or
// field, and nothing is written.
func TestApplyBadInput(t *testing.T) {
	bomb := "kind: Server\nmetadata: {name: bomb}\nspec:\n  command: x\n  args: &a [x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		bomb += "  " + n + ": &" + n + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = n
	}
	secret := "kind: Secret\nmetadata: {name: github}\nspec:\n  data: {TOKEN: x}\n"
	server := func(name string) string {
		return "kind: Server\nmetadata: {name: " + name + "}\nspec: {command: npx}\n"
	}
	cases := []struct {
		name, input string
		big         bool
		want        []string
	}{
		{name: "unknown kind", input: "kind: Widget\nmetadata: {name: w}\nspec: {}\n",
			want: []string{"document 1 (line 1)", `unknown kind "Widget"`, "known kinds: Secret, Template, Server, Project, Prompt, Group, RbacDefinition, McpToken"}},
		{name: "unknown field", input: secret + "---\nkind: Server\nmetadata: {name: s}\nspec:\n  transport: stdio\n  comand: npx\n",
			want: []string{"document 2 (line 6)", "spec.comand (line 10): unknown field (did you mean command?)"}},
		{name: "same kind and name twice", input: server("a") + "---\n" + server("a"),
			want: []string{"document 2 (line 5)", "server/a is also defined at", "document 1 (line 1)"}},
		{name: "alias bomb", input: bomb, want: []string{"alias bomb"}},
		{name: "50 MB file", big: true, want: []string{"50.0 MiB", "limited to 16.0 MiB"}},
		{name: "not an object", input: "- kind: Server\n- kind: Secret\n", want: []string{"document 1 (line 1)", "the document is a list, not an object"}},
		{name: "missing secret key", input: secret + "---\nkind: Server\nmetadata: {name: s}\nspec:\n  command: npx\n  env:\n  - {name: T, secretRef: {name: github, key: NOPE}}\n",
			want: []string{"document 2 (line 6)", "spec.env[0].secretRef (line 11)", "secret/github has no key NOPE (its keys: TOKEN)"}},
		{name: "missing secret", input: "kind: Server\nmetadata: {name: s}\nspec:\n  command: npx\n  env:\n  - {name: T, secretRef: {name: nope, key: K}}\n",
			want: []string{"spec.env[0].secretRef (line 6)", "secret/nope does not exist"}},
		{name: "replicas 11", input: "kind: Server\nmetadata: {name: s}\nspec:\n  command: npx\n  replicas: 11\n",
			want: []string{"spec.replicas (line 5)", "must be from 0 to 10, not 11"}},
		{name: "command and image", input: "kind: Server\nmetadata: {name: s}\nspec:\n  command: npx\n  image: ghcr.io/x/y\n",
			want: []string{"spec.image (line 5)", "command and image are both set"}},
		{name: "tool in allow and deny", input: server("a") + "---\nkind: Project\nmetadata: {name: p}\nspec:\n  servers: [a]\n  tools:\n    a: {allow: [read, write], deny: [write]}\n",
			want: []string{"document 2 (line 5)", "spec.tools.a.deny[0] (line 10)", "tool write is in both allow and deny"}},
		{name: "document 5 of 6 invalid here", input: secret + "---\n" + server("a") + "---\n" + server("b") + "---\n" + server("c") +
			"---\nkind: Server\nmetadata: {name: e}\nspec: {command: npx, replicas: 11}\n---\n" + server("f"),
			want: []string{"document 5 (line 18)", "spec.replicas (line 20)", "nothing was applied"}},
		{name: "document 5 of 6 invalid at mcpd", input: secret + "---\n" + server("a") + "---\n" + server("b") + "---\n" + server("c") +
			"---\nkind: Project\nmetadata: {name: p}\nspec: {servers: [a, ghost]}\n---\n" + server("f"),
			want: []string{"document 5 (line 18)", "spec.servers[1] (line 20)", "server/ghost does not exist"}},
	}
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			m, _ := e.start(t)
			cfg := t.TempDir()
			cliLogin(t, cfg, m.URL)
			for _, c := range cases {
				file := filepath.Join(t.TempDir(), "in.yaml")
				if c.big {
					f, _ := os.Create(file)
					f.Truncate(50 << 20) // sparse: cheap to make
					f.Close()
				} else {
					os.WriteFile(file, []byte(c.input), 0o600)
				}
				r := mcpctl(t, cfg, "", "apply", "-f", file)
				if r.Code != 1 {
					t.Errorf("%s: exit %d, want 1\nstderr: %s", c.name, r.Code, r.Stderr)
				}
				for _, w := range c.want {
					if !strings.Contains(r.Stderr, w) {
						t.Errorf("%s: want %q in stderr:\n%s", c.name, w, r.Stderr)
					}
				}
				if got := mcpctl(t, cfg, "", "get", "all", "-A", "-o", "name"); got.Stdout != "" {
					t.Fatalf("%s: objects were written: %s", c.name, got.Stdout)
				}
			}
		})
	}
}

// --dry-run=server reports what would change and writes nothing.
func TestApplyDryRun(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			m, _ := e.start(t)
			cfg := t.TempDir()
			cliLogin(t, cfg, m.URL)
			in := "kind: Server\nmetadata: {name: s}\nspec: {command: npx, replicas: 1}\n"
			if r := mcpctl(t, cfg, in, "apply", "-f", "-", "--dry-run=server"); r.Code != 0 || !strings.Contains(r.Stdout, "server/s created (server dry run)") {
				t.Fatalf("dry run create: %+v", r)
			}
			if r := mcpctl(t, cfg, "", "get", "servers", "-o", "name"); r.Stdout != "" {
				t.Fatalf("dry run wrote: %s", r.Stdout)
			}
			mcpctl(t, cfg, in, "apply", "-f", "-")
			changed := strings.Replace(in, "replicas: 1", "replicas: 2", 1)
			r := mcpctl(t, cfg, changed, "apply", "-f", "-", "--dry-run=server")
			if r.Code != 0 || !strings.Contains(r.Stdout, "server/s configured (server dry run)") || !strings.Contains(r.Stdout, "spec.replicas: 1 -> 2") {
				t.Fatalf("dry run update: %+v", r)
			}
			if r := mcpctl(t, cfg, "", "get", "server", "s", "-o", "yaml"); !strings.Contains(r.Stdout, "replicas: 1") {
				t.Fatalf("dry run changed the server: %s", r.Stdout)
			}
			if r := mcpctl(t, cfg, "", "delete", "server", "s", "--dry-run"); r.Code != 0 || !strings.Contains(r.Stdout, "server/s deleted (server dry run)") {
				t.Fatalf("delete --dry-run: %+v", r)
			}
			if r := mcpctl(t, cfg, "", "get", "servers", "-o", "name"); r.Stdout != "server/s\n" {
				t.Fatalf("delete --dry-run deleted: %q", r.Stdout)
			}
		})
	}
}

// The README's quick start: the secret from standard input, then the
// examples directory.
func TestExamplesApply(t *testing.T) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			m, _ := e.start(t)
			cfg := t.TempDir()
			cliLogin(t, cfg, m.URL)
			if r := mcpctl(t, cfg, "ghp_example\n", "create", "secret", "github", "--data-stdin", "TOKEN"); r.Code != 0 {
				t.Fatalf("create secret: %+v", r)
			}
			r := mcpctl(t, cfg, "", "apply", "-f", "../../examples/demo/")
			if r.Code != 0 || !strings.Contains(r.Stdout, "project/demo created") || !strings.Contains(r.Stdout, "server/github created") {
				t.Fatalf("apply examples: %+v", r)
			}
			if r := mcpctl(t, cfg, "", "create", "server", "notes", "--from-template", "filesystem", "--set", "ROOT=/tmp/notes", "-l", "team=notes"); r.Code != 0 {
				t.Fatalf("server from the example template: %+v", r)
			}
			if r := mcpctl(t, cfg, "", "get", "server", "notes", "-o", "yaml"); !strings.Contains(r.Stdout, "mcpctl.dev/template: filesystem") || !strings.Contains(r.Stdout, "team: notes") {
				t.Fatalf("labels of a server from a template: %s", r.Stdout)
			}
		})
	}
}

// mcpd rotate-secret-key beside a running mcpd: the values move to a new
// key, the running mcpd keeps reading them (it re-reads the key file), and
// so does a restarted one.
func TestRotateSecretKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	m := startMcpd(t, dir)
	cfg := t.TempDir()
	cliLogin(t, cfg, m.URL)
	if r := mcpctl(t, cfg, secretValue+"\n", "create", "secret", "github", "--data-stdin", "TOKEN"); r.Code != 0 {
		t.Fatalf("create secret: %+v", r)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "secret-key"))

	cmd := exec.Command(filepath.Join(binDir, "mcpd"), "rotate-secret-key")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "MCPD_DATA_DIR=" + dir}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "re-encrypted 1 values in 1 secrets with key") {
		t.Fatalf("rotate-secret-key: %v\n%s", err, out)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "secret-key"))
	if bytes.Equal(before, after) || strings.Contains(string(out), secretValue) {
		t.Fatalf("the key file did not change, or the output shows the value:\n%s", out)
	}
	reveal := func(url string) {
		t.Helper()
		r := mcpctl(t, cfg, "", "get", "secret", "github", "--reveal", "-o", "yaml")
		if r.Code != 0 || !strings.Contains(r.Stdout, "TOKEN: "+secretValue) {
			t.Fatalf("reveal from %s after rotation: %+v", url, r)
		}
	}
	reveal("the running mcpd")
	// A value written after the rotation uses the new key too.
	if r := mcpctl(t, cfg, "v2\n", "create", "secret", "other", "--data-stdin", "K"); r.Code != 0 {
		t.Fatalf("create after rotation: %+v", r)
	}
	m.Stop()
	m = startMcpd(t, dir)
	cliLogin(t, cfg, m.URL)
	reveal("a restarted mcpd")
	if strings.Contains(m.Log(), "keys mcpd does not have") {
		t.Fatalf("after rotation mcpd finds values under unknown keys:\n%s", m.Log())
	}
}

// cliLogin logs the CLI with its config in cfg into the mcpd at url.
func cliLogin(t testing.TB, cfg, url string) {
	t.Helper()
	if r := mcpctl(t, cfg, adminPassword+"\n", "login", "--mcpd-url", url, "--email", adminEmail, "--password-stdin"); r.Code != 0 {
		t.Fatalf("login: %+v", r)
	}
}
