package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// request is one request the stub mcpd received.
type request struct {
	Method, Path, Query, ContentType, Auth string
	Body                                   string
}

func (r request) String() string { return r.Method + " " + r.Path }

// apiStub is an httptest mcpd that records every request and answers with
// answer (status and JSON body). A nil answer fails every request.
type apiStub struct {
	url    string
	answer func(request) (int, any)
	mu     sync.Mutex
	reqs   []request
}

// newStub starts a stub mcpd and points the current context of a fresh
// config file at it. It sets MCPCTL_CONFIG: callers cannot be parallel.
func newStub(t *testing.T, answer func(request) (int, any)) *apiStub {
	t.Helper()
	s := &apiStub{answer: answer}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, ContentType: r.Header.Get("Content-Type"),
			Auth: r.Header.Get("Authorization"), Body: string(body)}
		s.mu.Lock()
		s.reqs = append(s.reqs, req)
		s.mu.Unlock()
		status, out := http.StatusInternalServerError, any(v1.Error{Message: "the stub has no answer for " + req.String(), Code: v1.CodeInternal})
		if s.answer != nil {
			status, out = s.answer(req)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(out) //nolint:errcheck // the client reports a broken answer
	}))
	t.Cleanup(srv.Close)
	s.url = srv.URL
	path := filepath.Join(t.TempDir(), "mcpctl", "config.yaml")
	t.Setenv("MCPCTL_CONFIG", path)
	cfg := &Config{CurrentContext: "stub", Contexts: []Context{{Name: "stub", MCPDURL: srv.URL, Email: "ada@example.com", Token: "mcpctl_sess_test"}}}
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
	return s
}

// factory returns a Factory with fake streams.
func (s *apiStub) factory(stdin string, tty bool) (*Factory, *fakeIO) {
	io := &fakeIO{in: strings.NewReader(stdin)}
	return &Factory{IO: IOStreams{In: io.in, Out: &io.out, ErrOut: &io.err, InTTY: tty}}, io
}

func (s *apiStub) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// requestLines names each request as "METHOD /path?query".
func (s *apiStub) requestLines() []string {
	var out []string
	for _, r := range s.requests() {
		line := r.String()
		if r.Query != "" {
			line += "?" + r.Query
		}
		out = append(out, line)
	}
	return out
}

func deleted(r request) (int, any) {
	if r.Method != http.MethodDelete {
		return http.StatusMethodNotAllowed, v1.Error{Message: "unexpected " + r.String(), Code: v1.CodeMethodNotAllowed}
	}
	name := r.Path[strings.LastIndexByte(r.Path, '/')+1:]
	return http.StatusOK, v1.DeleteResponse{Deleted: v1.ApplyResult{Kind: "Server", Name: name, Action: v1.ActionDeleted}}
}

func TestDeleteConfirmation(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		stdin       string
		tty         bool
		wantCode    int
		wantAsked   bool
		wantOut     string
		wantDeletes []string
	}{
		{
			name: "no on a terminal aborts", args: []string{"delete", "server", "x"}, stdin: "n\n", tty: true,
			wantCode: ExitError, wantAsked: true,
		},
		{
			name: "end of input on a terminal aborts", args: []string{"delete", "server", "x"}, stdin: "", tty: true,
			wantCode: ExitError, wantAsked: true,
		},
		{
			name: "anything but yes aborts", args: []string{"delete", "server", "x"}, stdin: "yep\n", tty: true,
			wantCode: ExitError, wantAsked: true,
		},
		{
			name: "y on a terminal deletes", args: []string{"delete", "server", "x"}, stdin: "y\n", tty: true,
			wantAsked: true, wantOut: "server/x deleted\n", wantDeletes: []string{"DELETE /api/v1/servers/x"},
		},
		{
			name: "YES on a terminal deletes", args: []string{"delete", "srv", "x"}, stdin: " YES \n", tty: true,
			wantAsked: true, wantOut: "server/x deleted\n", wantDeletes: []string{"DELETE /api/v1/servers/x"},
		},
		{
			name: "one question for several names", args: []string{"delete", "servers", "x", "y"}, stdin: "y\n", tty: true,
			wantAsked: true, wantOut: "server/x deleted\nserver/y deleted\n",
			wantDeletes: []string{"DELETE /api/v1/servers/x", "DELETE /api/v1/servers/y"},
		},
		{
			name: "not on a terminal nobody is asked", args: []string{"delete", "server", "x"}, stdin: "n\n", tty: false,
			wantOut: "server/x deleted\n", wantDeletes: []string{"DELETE /api/v1/servers/x"},
		},
		{
			name: "--yes skips the question", args: []string{"delete", "server", "x", "--yes"}, stdin: "n\n", tty: true,
			wantOut: "server/x deleted\n", wantDeletes: []string{"DELETE /api/v1/servers/x"},
		},
		{
			name: "a dry run is not asked about", args: []string{"delete", "server", "x", "--dry-run", "--cascade"}, stdin: "n\n", tty: true,
			wantOut: "server/x deleted (server dry run)\n", wantDeletes: []string{"DELETE /api/v1/servers/x?cascade=true&dryRun=true"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stub := newStub(t, deleted)
			f, io := stub.factory(tc.stdin, tc.tty)
			if code := Run(f, tc.args); code != tc.wantCode {
				t.Fatalf("exit %d, want %d; stderr %q", code, tc.wantCode, io.err.String())
			}
			question := "Delete server/x"
			if asked := strings.Contains(io.err.String(), question); asked != tc.wantAsked {
				t.Errorf("asked = %v, want %v; stderr %q", asked, tc.wantAsked, io.err.String())
			}
			if tc.wantAsked && !strings.HasPrefix(io.err.String(), "Delete server/x") {
				t.Errorf("stderr %q does not start with the question", io.err.String())
			}
			if tc.wantCode == ExitError && !strings.Contains(io.err.String(), "aborted; nothing was deleted") {
				t.Errorf("stderr %q does not say it aborted", io.err.String())
			}
			if diff := cmp.Diff(tc.wantOut, io.out.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantDeletes, stub.requestLines()); diff != "" {
				t.Errorf("requests (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("the question names every object", func(t *testing.T) {
		stub := newStub(t, deleted)
		f, io := stub.factory("n\n", true)
		Run(f, []string{"delete", "prompt", "a", "b", "-p", "demo"})
		if want := "Delete prompt/a, prompt/b? [y/N] "; !strings.HasPrefix(io.err.String(), want) {
			t.Errorf("stderr %q, want it to start with %q", io.err.String(), want)
		}
	})
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	manifest := filepath.Join(dir, "x.yaml")
	writeFiles(t, dir, map[string]string{"x.yaml": named("Server", "x")})
	tests := []struct {
		name    string
		args    []string
		stdin   string
		tty     bool
		wantErr string
	}{
		{name: "secret key twice", args: []string{"create", "secret", "s", "--data", "A=1", "--data", "A=2"}, wantErr: "--data sets A twice"},
		{name: "secret key from data and stdin", args: []string{"create", "secret", "s", "--data", "A=1", "--data-stdin", "A"}, stdin: "v", wantErr: "key A is given twice"},
		{name: "secret without keys", args: []string{"create", "secret", "s"}, wantErr: "a secret needs at least one key"},
		{name: "secret data not a pair", args: []string{"create", "secret", "s", "--data", "A"}, wantErr: `--data "A" is not KEY=VALUE`},
		{name: "env from secret not a reference", args: []string{"create", "server", "x", "--command", "npx", "--env-from-secret", "BAD"}, wantErr: `--env-from-secret "BAD" is not KEY=SECRET/KEY`},
		{name: "env from secret without a key", args: []string{"create", "server", "x", "--command", "npx", "--env-from-secret", "A=gh"}, wantErr: `--env-from-secret "A=gh" is not KEY=SECRET/KEY`},
		{name: "env set twice", args: []string{"create", "server", "x", "--command", "npx", "--env", "A=1", "--env-from-secret", "A=gh/K"}, wantErr: "environment variable A is set twice"},
		{name: "set without a template", args: []string{"create", "server", "x", "--command", "npx", "--set", "A=1"}, wantErr: "--set fills template inputs"},
		{name: "allow not server:tool", args: []string{"create", "project", "p", "--allow", "x"}, wantErr: `--allow "x" is not SERVER:TOOL`},
		{name: "prompt without project", args: []string{"create", "prompt", "p", "--text", "hi"}, wantErr: "a prompt belongs to a project"},
		{name: "prompt with both texts", args: []string{"create", "prompt", "p", "-p", "demo", "--text", "hi", "--text-file", "-"}, wantErr: "one of the two"},
		{name: "apply without -f", args: []string{"apply"}, wantErr: "apply needs -f FILE"},
		{name: "apply client dry run", args: []string{"apply", "-f", manifest, "--dry-run=client"}, wantErr: `--dry-run="client" is not supported: use none or server`},
		{name: "apply on-conflict", args: []string{"apply", "-f", manifest, "--on-conflict", "maybe"}, wantErr: `--on-conflict="maybe" is not supported`},
		{name: "apply output", args: []string{"apply", "-f", manifest, "-o", "yaml"}, wantErr: `-o "yaml" is not supported: use text or json`},
		{name: "apply nothing on stdin", args: []string{"apply", "-f", "-"}, wantErr: "no documents found in -"},
		{name: "get unknown kind", args: []string{"get", "widgets"}, wantErr: `unknown resource type "widgets"; known types: secrets (sec), templates (tpl, tmpl), servers (srv), projects (proj, prj), prompts (pr)`},
		{name: "get unknown output", args: []string{"get", "servers", "-o", "xml"}, wantErr: `-o "xml" is not supported`},
		{name: "get reveal of servers", args: []string{"get", "servers", "--reveal"}, wantErr: "--reveal applies to secrets only"},
		{name: "get all with names", args: []string{"get", "all", "x"}, wantErr: "get all takes no names"},
		{name: "get prompt without project", args: []string{"get", "prompt", "p"}, wantErr: "a prompt belongs to a project: add -p PROJECT"},
		{name: "patch without a change", args: []string{"patch", "server", "x"}, wantErr: "nothing to change: give FIELD=VALUE pairs or -p JSON"},
		{name: "patch with both", args: []string{"patch", "server", "x", "replicas=2", "-p", `{"spec":{}}`}, wantErr: "give FIELD=VALUE pairs or -p JSON, not both"},
		{name: "patch not an object", args: []string{"patch", "server", "x", "-p", "[1]"}, wantErr: "-p must be a JSON object"},
		{name: "patch not JSON", args: []string{"patch", "server", "x", "-p", "{"}, wantErr: "-p is not valid JSON"},
		{name: "patch type", args: []string{"patch", "server", "x", "--type", "json", "a=1"}, wantErr: `--type "json" is not supported`},
		{name: "patch metadata name", args: []string{"patch", "server", "x", "metadata.name=y"}, wantErr: "of metadata only labels can be patched"},
		{name: "delete without a name", args: []string{"delete", "server"}, wantErr: "missing the name: `mcpctl delete KIND NAME...`"},
		{name: "delete unknown kind", args: []string{"delete", "widgets", "x"}, wantErr: `unknown resource type "widgets"`},
		{name: "delete prompt without project", args: []string{"delete", "prompt", "p", "--yes"}, wantErr: "a prompt belongs to a project"},
		{name: "get without a kind", args: []string{"get"}, wantErr: "missing the kind: `mcpctl get KIND [NAME...]`; kinds: secrets (sec)"},
		{name: "edit with two names", args: []string{"edit", "server", "a", "b"}, wantErr: "one name only"},
		{name: "edit without a name", args: []string{"edit", "server"}, wantErr: "missing the name: `mcpctl edit KIND NAME`"},
		{name: "backup without -o", args: []string{"backup"}, wantErr: "backup needs -o FILE"},
		{name: "backup without a terminal", args: []string{"backup", "-o", filepath.Join(dir, "b.json")}, wantErr: "no terminal to ask for the passphrase"},
		{name: "backup short passphrase", args: []string{"backup", "-o", filepath.Join(dir, "b.json"), "--passphrase-stdin"}, stdin: "short\n", wantErr: "at least 12 characters"},
		{name: "restore without -f", args: []string{"restore"}, wantErr: "restore needs -f FILE"},
		{name: "restore on-conflict", args: []string{"restore", "-f", "x", "--on-conflict", "maybe"}, wantErr: `--on-conflict "maybe" is not supported: use fail, skip or overwrite`},
		{name: "unknown flag", args: []string{"get", "servers", "--bogus"}, wantErr: "unknown flag: --bogus"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stub := newStub(t, nil)
			f, io := stub.factory(tc.stdin, tc.tty)
			if code := Run(f, tc.args); code != ExitUsage {
				t.Errorf("exit %d, want %d; stderr %q", code, ExitUsage, io.err.String())
			}
			if !strings.Contains(io.err.String(), tc.wantErr) {
				t.Errorf("stderr %q\nwant it to contain %q", io.err.String(), tc.wantErr)
			}
			if reqs := stub.requestLines(); len(reqs) > 0 {
				t.Errorf("a usage error sent requests: %v", reqs)
			}
			if _, err := os.Stat(filepath.Join(dir, "b.json")); err == nil {
				t.Errorf("a backup was written")
			}
		})
	}
}

func TestGetUnknownKindBeforeLogin(t *testing.T) {
	f, io := newFactory(t, "", false, "")
	if code := Run(f, []string{"get", "widgets"}); code != ExitUsage || !strings.Contains(io.err.String(), `unknown resource type "widgets"`) {
		t.Errorf("exit %d, stderr %q; want the unknown type named even when not logged in", code, io.err.String())
	}
}

func TestMapApplyError(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": named("Secret", "gh"),
		"b.yaml": `# a server that reads the secret
kind: Server
metadata:
  name: x
spec:
  command: npx
  env:
  - name: TOKEN
    secretRef:
      name: gh
      key: TOKEN
`,
	})
	docs, err := ReadManifests([]string{dir}, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a.yaml"), filepath.Join(dir, "b.yaml")
	apiErr := &v1.Error{Message: "validation failed", Code: v1.CodeValidationFailed, Status: 400, Details: []v1.FieldError{
		{Field: "objects[1].spec.env[0].secretRef", Message: "secret/gh has no key TOKEN"},
		{Field: "objects[1].spec.env[0].secretRef.name", Message: "exact path"},
		{Field: "objects[1].spec.nothere", Message: "an unknown path falls back to spec"},
		{Field: "objects[0]", Message: "the whole object"},
		{Field: "objects[0].metadata.name", Message: "named"},
		{Field: "onConflict", Message: "must be update, skip or fail"},
		{Field: "", Message: "no field at all"},
		{Field: "objects[7].spec", Message: "past the documents"},
	}}
	err = mapApplyError(fmt.Errorf("apply: %w", apiErr), docs)
	var me *ManifestError
	if !errors.As(err, &me) {
		t.Fatalf("got %T %v, want a *ManifestError", err, err)
	}
	want := []string{
		b + ": document 1 (line 2): spec.env[0].secretRef (line 9): secret/gh has no key TOKEN",
		b + ": document 1 (line 2): spec.env[0].secretRef.name (line 10): exact path",
		b + ": document 1 (line 2): spec.nothere (line 5): an unknown path falls back to spec",
		a + ": document 1 (line 1): the whole object",
		a + ": document 1 (line 1): metadata.name (line 3): named",
		"onConflict: must be update, skip or fail",
		"no field at all",
		"objects[7].spec: past the documents",
	}
	if diff := cmp.Diff(want, me.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}

	for _, err := range []error{
		errors.New("connection refused"),
		&v1.Error{Message: "conflict", Code: v1.CodeConflict, Status: 409},
	} {
		if got := mapApplyError(err, docs); got != err {
			t.Errorf("mapApplyError(%v) = %v, want it unchanged", err, got)
		}
	}
}

func TestApplyCommand(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"a.yaml": named("Secret", "gh"),
		"b.yaml": "kind: Server\nmetadata:\n  name: x\nspec:\n  command: npx\n  env:\n  - name: TOKEN\n    secretRef: {name: gh, key: TOKEN}\n",
	})
	t.Run("mcpd's field errors name the file and line", func(t *testing.T) {
		stub := newStub(t, func(r request) (int, any) {
			return http.StatusBadRequest, v1.Error{Message: "validation failed", Code: v1.CodeValidationFailed, Details: []v1.FieldError{
				{Field: "objects[1].spec.env[0].secretRef", Message: "secret/gh has no key TOKEN"},
			}}
		})
		f, io := stub.factory("", false)
		if code := Run(f, []string{"apply", "-f", dir}); code != ExitError {
			t.Errorf("exit %d, want %d", code, ExitError)
		}
		want := "error: the input is not valid; nothing was applied:\n  " +
			filepath.Join(dir, "b.yaml") + ": document 1 (line 1): spec.env[0].secretRef (line 8): secret/gh has no key TOKEN\n"
		if diff := cmp.Diff(want, io.err.String()); diff != "" {
			t.Errorf("stderr (-want +got):\n%s", diff)
		}
		reqs := stub.requests()
		if len(reqs) != 1 || reqs[0].String() != "POST /api/v1/apply" || reqs[0].Auth != "Bearer mcpctl_sess_test" {
			t.Fatalf("requests %v", reqs)
		}
		var body struct {
			Objects    []v1.Object `json:"objects"`
			OnConflict string      `json:"onConflict"`
			DryRun     bool        `json:"dryRun"`
		}
		if err := json.Unmarshal([]byte(reqs[0].Body), &body); err != nil {
			t.Fatal(err)
		}
		if len(body.Objects) != 2 || body.Objects[0].ID() != "secret/gh" || body.Objects[1].ID() != "server/x" || body.OnConflict != "update" || body.DryRun {
			t.Errorf("body %s", reqs[0].Body)
		}
	})
	t.Run("a local problem sends nothing", func(t *testing.T) {
		stub := newStub(t, nil)
		f, io := stub.factory("kind: Server\nmetadata: {name: y}\nspec: {command: npx, replica: 2}\n", false)
		if code := Run(f, []string{"apply", "-f", dir, "-f", "-"}); code != ExitError {
			t.Errorf("exit %d, want %d", code, ExitError)
		}
		if want := "-: document 1 (line 1): spec.replica (line 3): unknown field (did you mean replicas?)"; !strings.Contains(io.err.String(), want) {
			t.Errorf("stderr %q\nwant it to contain %q", io.err.String(), want)
		}
		if reqs := stub.requestLines(); len(reqs) > 0 {
			t.Errorf("requests %v", reqs)
		}
	})
	t.Run("a server dry run prints the changes", func(t *testing.T) {
		stub := newStub(t, func(r request) (int, any) {
			return http.StatusOK, v1.ApplyResponse{DryRun: true, Results: []v1.ApplyResult{
				{Kind: "Secret", Name: "gh", Action: v1.ActionUnchanged},
				{Kind: "Server", Name: "x", Action: v1.ActionConfigured, Changes: []v1.Change{{Path: "spec.replicas", Old: json.RawMessage("1"), New: json.RawMessage("2")}}},
			}}
		})
		f, io := stub.factory("", false)
		if code := Run(f, []string{"apply", "-f", dir, "--dry-run", "--on-conflict", "skip"}); code != ExitOK {
			t.Fatalf("exit %d: %s", code, io.err.String())
		}
		want := "secret/gh unchanged (server dry run)\nserver/x configured (server dry run)\n    spec.replicas: 1 -> 2\n"
		if diff := cmp.Diff(want, io.out.String()); diff != "" {
			t.Errorf("stdout (-want +got):\n%s", diff)
		}
		if reqs := stub.requests(); len(reqs) != 1 || !strings.Contains(reqs[0].Body, `"dryRun":true`) || !strings.Contains(reqs[0].Body, `"onConflict":"skip"`) {
			t.Errorf("requests %v", reqs)
		}
	})
}

func TestPairsPatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		pairs   []string
		want    map[string]any
		wantErr string
	}{
		{
			name:  "a field is under spec",
			pairs: []string{"replicas=2"},
			want:  map[string]any{"spec": map[string]any{"replicas": 2}},
		},
		{
			name:  "spec. may be written",
			pairs: []string{"spec.replicas=3", "sessionMode=per-session"},
			want:  map[string]any{"spec": map[string]any{"replicas": 3, "sessionMode": "per-session"}},
		},
		{
			name:  "nested paths",
			pairs: []string{"healthCheck.interval=10s", "spec.healthCheck.failureThreshold=5", "healthCheck.arguments.q=x"},
			want: map[string]any{"spec": map[string]any{"healthCheck": map[string]any{
				"interval": "10s", "failureThreshold": 5, "arguments": map[string]any{"q": "x"}}}},
		},
		{
			name:  "YAML values",
			pairs: []string{"gated=true", "ratio=1.5", "args=[-y, '@x/y']", "description=null", "servers=[]", "separator='__'", "text=yes"},
			want: map[string]any{"spec": map[string]any{"gated": true, "ratio": 1.5, "args": []any{"-y", "@x/y"}, "description": nil,
				"servers": []any{}, "separator": "__", "text": "yes"}},
		},
		{
			name:  "the value is everything after the first =",
			pairs: []string{"url=https://x.example/mcp?a=b"},
			want:  map[string]any{"spec": map[string]any{"url": "https://x.example/mcp?a=b"}},
		},
		{
			name:  "a later pair wins",
			pairs: []string{"replicas=1", "replicas=2"},
			want:  map[string]any{"spec": map[string]any{"replicas": 2}},
		},
		{
			name:  "label values stay strings; null removes one",
			pairs: []string{"metadata.labels.tier=5", "metadata.labels.on=true", "metadata.labels.team=infra", "metadata.labels.gone=null"},
			want: map[string]any{"metadata": map[string]any{"labels": map[string]any{
				"tier": "5", "on": "true", "team": "infra", "gone": nil}}},
		},
		{
			name:  "secret values stay strings (a PIN is not octal)",
			pairs: []string{"data.PIN=0123", "data.ON=true"},
			want:  map[string]any{"spec": map[string]any{"data": map[string]any{"PIN": "0123", "ON": "true"}}},
		},
		{
			name:  "a label key with a DNS prefix",
			pairs: []string{"metadata.labels.mcpctl.dev/template=fs", "replicas=0"},
			want: map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"mcpctl.dev/template": "fs"}},
				"spec":     map[string]any{"replicas": 0},
			},
		},
		{name: "list index", pairs: []string{"args[0]=x"}, wantErr: `"args[0]": list items cannot be patched one by one`},
		{name: "env index", pairs: []string{"spec.env[1].value=x"}, wantErr: "list items cannot be patched one by one"},
		{name: "metadata name", pairs: []string{"metadata.name=y"}, wantErr: `"metadata.name": of metadata only labels can be patched`},
		{name: "metadata project", pairs: []string{"metadata.project=y"}, wantErr: "of metadata only labels can be patched"},
		{name: "all labels", pairs: []string{"metadata.labels={a: b}"}, wantErr: "of metadata only labels can be patched"},
		{name: "no =", pairs: []string{"replicas"}, wantErr: `"replicas" is not FIELD=VALUE`},
		{name: "no field", pairs: []string{"=2"}, wantErr: `"=2" is not FIELD=VALUE`},
		{name: "empty segment", pairs: []string{"healthCheck..interval=1s"}, wantErr: `"healthCheck..interval" has an empty path segment`},
		{name: "bad YAML", pairs: []string{"args=[a"}, wantErr: "args: the value is not valid YAML (quote it)"},
		{name: "one bad pair of several", pairs: []string{"replicas=2", "oops"}, wantErr: `"oops" is not FIELD=VALUE`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := PairsPatch(tc.pairs)
			if tc.wantErr != "" {
				if err == nil || ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("PairsPatch(%q) = %v, %v; want a usage error containing %q", tc.pairs, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("patch (-want +got):\n%s", diff)
			}
		})
	}
}

func serverAnswer(name, rv string) v1.Object {
	o := v1.Object{APIVersion: v1.APIVersion, Kind: "Server", Metadata: v1.ObjectMeta{Name: name, ResourceVersion: rv}, Spec: &v1.ServerSpec{Command: "npx"}}
	o.Spec.Default()
	return o
}

func TestPatchCommand(t *testing.T) {
	stub := newStub(t, func(r request) (int, any) { return http.StatusOK, serverAnswer("memory", "8") })
	f, io := stub.factory("", false)
	if code := Run(f, []string{"patch", "srv", "memory", "replicas=2", "metadata.labels.mcpctl.dev/template=fs"}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, io.err.String())
	}
	if want := "server/memory patched (resourceVersion 8)\n"; io.out.String() != want {
		t.Errorf("stdout %q, want %q", io.out.String(), want)
	}
	reqs := stub.requests()
	if len(reqs) != 1 {
		t.Fatalf("requests %v", reqs)
	}
	got := reqs[0]
	want := request{Method: "PATCH", Path: "/api/v1/servers/memory", ContentType: "application/merge-patch+json", Auth: "Bearer mcpctl_sess_test",
		Body: `{"metadata":{"labels":{"mcpctl.dev/template":"fs"}},"spec":{"replicas":2}}`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("request (-want +got):\n%s", diff)
	}
}

func TestCreateCommand(t *testing.T) {
	t.Run("a dry run prints the object and sends nothing", func(t *testing.T) {
		stub := newStub(t, nil)
		f, io := stub.factory("", false)
		args := []string{"create", "server", "gh", "--image", "ghcr.io/github/github-mcp-server", "--arg", "stdio", "--arg", "--read-only",
			"--env", "MODE=ro", "--env-from-secret", "GITHUB_TOKEN=github/TOKEN", "--replicas", "0", "--session-mode", "per-session",
			"-l", "team=infra", "--dry-run", "-o", "json"}
		if code := Run(f, args); code != ExitOK {
			t.Fatalf("exit %d: %s", code, io.err.String())
		}
		var got v1.Object
		if err := json.Unmarshal(io.out.Bytes(), &got); err != nil {
			t.Fatalf("%v\n%s", err, io.out.String())
		}
		want := v1.Object{APIVersion: v1.APIVersion, Kind: "Server", Metadata: v1.ObjectMeta{Name: "gh", Labels: map[string]string{"team": "infra"}},
			Spec: &v1.ServerSpec{Image: "ghcr.io/github/github-mcp-server", Args: []string{"stdio", "--read-only"}, Transport: "stdio", Runtime: "docker",
				Replicas: ptr(0), SessionMode: "per-session", Env: []v1.EnvVar{
					{Name: "MODE", Value: ptr("ro")},
					{Name: "GITHUB_TOKEN", SecretRef: &v1.SecretKeyRef{Name: "github", Key: "TOKEN"}},
				}}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("object (-want +got):\n%s", diff)
		}
		if reqs := stub.requestLines(); len(reqs) > 0 {
			t.Errorf("a dry run sent %v", reqs)
		}
	})
	t.Run("an invalid object is refused locally", func(t *testing.T) {
		stub := newStub(t, nil)
		f, io := stub.factory("", false)
		if code := Run(f, []string{"create", "server", "x", "--command", "npx", "--url", "https://x.example/mcp"}); code != ExitError {
			t.Errorf("exit %d, want %d", code, ExitError)
		}
		if !strings.Contains(io.err.String(), "spec.url: command and url are both set") {
			t.Errorf("stderr %q", io.err.String())
		}
		if reqs := stub.requestLines(); len(reqs) > 0 {
			t.Errorf("requests %v", reqs)
		}
	})
	t.Run("a secret from standard input", func(t *testing.T) {
		stub := newStub(t, func(r request) (int, any) {
			return http.StatusCreated, v1.Object{APIVersion: v1.APIVersion, Kind: "Secret", Metadata: v1.ObjectMeta{Name: "gh"},
				Spec: &v1.SecretSpec{Data: map[string]*string{"TOKEN": nil, "APP": nil}}}
		})
		f, io := stub.factory("s3cret value\n", false)
		if code := Run(f, []string{"create", "secret", "gh", "--data-stdin", "TOKEN", "--data", "APP=1=2"}); code != ExitOK {
			t.Fatalf("exit %d: %s", code, io.err.String())
		}
		if io.out.String() != "secret/gh created\n" {
			t.Errorf("stdout %q", io.out.String())
		}
		reqs := stub.requests()
		if len(reqs) != 1 || reqs[0].String() != "POST /api/v1/secrets" {
			t.Fatalf("requests %v", reqs)
		}
		want := `{"apiVersion":"mcpctl/v1","kind":"Secret","metadata":{"name":"gh"},"spec":{"data":{"APP":"1=2","TOKEN":"s3cret value"}}}`
		if diff := cmp.Diff(want, reqs[0].Body); diff != "" {
			t.Errorf("body (-want +got):\n%s", diff)
		}
	})
}

func TestGetCommand(t *testing.T) {
	stub := newStub(t, func(r request) (int, any) {
		switch r.Path {
		case "/api/v1/servers":
			return http.StatusOK, v1.ObjectList{Items: []v1.Object{serverAnswer("a", "1"), serverAnswer("b", "2")}}
		case "/api/v1/projects/demo/prompts":
			return http.StatusOK, v1.ObjectList{}
		}
		return http.StatusNotFound, v1.Error{Message: "not found", Code: v1.CodeNotFound}
	})
	tests := []struct {
		args             []string
		wantOut, wantErr string
		wantCode         int
		wantRequest      string
	}{
		{args: []string{"get", "servers", "-o", "name", "-l", "team=infra"}, wantOut: "server/a\nserver/b\n",
			wantRequest: "GET /api/v1/servers?labelSelector=team%3Dinfra&limit=500"},
		{args: []string{"get", "servers"}, wantOut: "NAME   TRANSPORT   RUNTIME   REPLICAS   SOURCE   AGE\na      stdio       process   1          npx      -\nb      stdio       process   1          npx      -\n",
			wantRequest: "GET /api/v1/servers?limit=500"},
		{args: []string{"get", "prompts", "-p", "demo"}, wantErr: "No resources found.\n",
			wantRequest: "GET /api/v1/projects/demo/prompts?limit=500"},
		{args: []string{"get", "prompts", "-p", "demo", "-o", "json"}, wantOut: "{\n  \"apiVersion\": \"mcpctl/v1\",\n  \"kind\": \"List\",\n  \"items\": []\n}\n",
			wantRequest: "GET /api/v1/projects/demo/prompts?limit=500"},
		{args: []string{"get", "server", "nope"}, wantErr: "error: not found (NOT_FOUND)\n", wantCode: ExitError,
			wantRequest: "GET /api/v1/servers/nope"},
	}
	for _, tc := range tests {
		before := len(stub.requests())
		f, io := stub.factory("", false)
		if code := Run(f, tc.args); code != tc.wantCode {
			t.Errorf("%v: exit %d, want %d: %s", tc.args, code, tc.wantCode, io.err.String())
		}
		if diff := cmp.Diff(tc.wantOut, io.out.String()); diff != "" {
			t.Errorf("%v: stdout (-want +got):\n%s", tc.args, diff)
		}
		if diff := cmp.Diff(tc.wantErr, io.err.String()); diff != "" {
			t.Errorf("%v: stderr (-want +got):\n%s", tc.args, diff)
		}
		if diff := cmp.Diff([]string{tc.wantRequest}, stub.requestLines()[before:]); diff != "" {
			t.Errorf("%v: requests (-want +got):\n%s", tc.args, diff)
		}
	}
}

func TestDescribeCommand(t *testing.T) {
	stub := newStub(t, func(r request) (int, any) {
		switch r.Path {
		case "/api/v1/servers/memory":
			o := serverAnswer("memory", "3")
			o.Spec.(*v1.ServerSpec).Env = []v1.EnvVar{{Name: "TOKEN", SecretRef: &v1.SecretKeyRef{Name: "gh", Key: "TOKEN"}}}
			return http.StatusOK, o
		case "/api/v1/projects":
			return http.StatusOK, v1.ObjectList{Items: []v1.Object{{Kind: "Project", Metadata: v1.ObjectMeta{Name: "demo"},
				Spec: &v1.ProjectSpec{Servers: []string{"other", "memory"}}}}}
		}
		return http.StatusNotFound, v1.Error{Message: "not found", Code: v1.CodeNotFound}
	})
	f, io := stub.factory("", false)
	if code := Run(f, []string{"describe", "server", "memory"}); code != ExitOK {
		t.Fatalf("exit %d: %s", code, io.err.String())
	}
	for _, want := range []string{"Name:", "memory", "Uses:\n  secret/gh key TOKEN (spec.env[0].secretRef)\n", "Used by:\n  project/demo (spec.servers[1])\n"} {
		if !strings.Contains(io.out.String(), want) {
			t.Errorf("stdout does not contain %q:\n%s", want, io.out.String())
		}
	}
}

func TestSealOpen(t *testing.T) {
	t.Parallel()
	const pass = "correct horse battery staple"
	plain := []byte(`{"gh":{"TOKEN":"s3cret"}}`)
	aad := []byte("objects hash")
	box, err := Seal(pass, plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	if len(box.KDF.Salt) != 16 || len(box.Nonce) != 12 || bytes.Contains(box.Ciphertext, []byte("s3cret")) {
		t.Fatalf("box %+v", box)
	}
	tests := []struct {
		name    string
		box     func(SealedBox) SealedBox
		pass    string
		aad     []byte // nil: the sealing's
		want    []byte
		wantErr string
	}{
		{name: "round trip", pass: pass, want: plain},
		{name: "wrong passphrase", pass: pass + "!", wantErr: "the passphrase is wrong or the archive was altered"},
		{name: "altered objects", pass: pass, aad: []byte("another hash"), wantErr: "the passphrase is wrong or the archive was altered"},
		{name: "tampered ciphertext", pass: pass, wantErr: "the passphrase is wrong or the archive was altered", box: func(b SealedBox) SealedBox {
			b.Ciphertext = bytes.Clone(b.Ciphertext)
			b.Ciphertext[3] ^= 1
			return b
		}},
		{name: "damaged nonce", pass: pass, wantErr: "nonce is damaged", box: func(b SealedBox) SealedBox { b.Nonce = b.Nonce[:8]; return b }},
	}
	kdf := func(f func(*KDFParams)) func(SealedBox) SealedBox {
		return func(b SealedBox) SealedBox { f(&b.KDF); return b }
	}
	for name, f := range map[string]func(*KDFParams){
		"another kdf":   func(p *KDFParams) { p.Name = "scrypt" },
		"short salt":    func(p *KDFParams) { p.Salt = p.Salt[:8] },
		"no time":       func(p *KDFParams) { p.Time = 0 },
		"too much time": func(p *KDFParams) { p.Time = 7 },
		"little memory": func(p *KDFParams) { p.Memory = 1024 },
		"huge memory":   func(p *KDFParams) { p.Memory = 512 << 10 },
		"no threads":    func(p *KDFParams) { p.Threads = 0 },
	} {
		tests = append(tests, struct {
			name    string
			box     func(SealedBox) SealedBox
			pass    string
			aad     []byte // nil: the sealing's
			want    []byte
			wantErr string
		}{name: name, pass: pass, box: kdf(f), wantErr: "key derivation parameters are not ones mcpctl writes"})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := box
			b.KDF.Salt = bytes.Clone(box.KDF.Salt)
			if tc.box != nil {
				b = tc.box(b)
			}
			openAAD := aad
			if tc.aad != nil {
				openAAD = tc.aad
			}
			got, err := b.Open(tc.pass, openAAD)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("Open = %q, %v; want an error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tc.want) {
				t.Errorf("Open = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestReadPassphrase(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		stdin      string
		fromStdin  bool
		tty        bool
		typed      []string
		confirm    bool
		want       string
		wantPrompt string
		wantErr    string
	}{
		{name: "first line of stdin", stdin: "correct horse battery\r\nrest\n", fromStdin: true, want: "correct horse battery"},
		{name: "stdin without newline", stdin: "correct horse battery", fromStdin: true, want: "correct horse battery"},
		{name: "stdin too short", stdin: "short\n", fromStdin: true, wantErr: "at least 12 characters"},
		{name: "characters, not bytes", stdin: "ééééééééééé\n", fromStdin: true, wantErr: "at least 12 characters"},
		{name: "asked twice on a terminal", tty: true, typed: []string{"correct horse battery", "correct horse battery"}, confirm: true,
			want: "correct horse battery", wantPrompt: "Backup passphrase: \nRepeat the passphrase: \n"},
		{name: "asked once to restore", tty: true, typed: []string{"correct horse battery"},
			want: "correct horse battery", wantPrompt: "Backup passphrase: \n"},
		{name: "differing answers", tty: true, typed: []string{"correct horse battery", "correct horse battery!"}, confirm: true,
			wantErr: "the passphrases differ"},
		{name: "no terminal", stdin: "correct horse battery\n", wantErr: "no terminal to ask for the passphrase"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var errOut bytes.Buffer
			f := &Factory{IO: IOStreams{In: strings.NewReader(tc.stdin), Out: io.Discard, ErrOut: &errOut, InTTY: tc.tty}}
			typed := tc.typed
			f.ReadPassword = func() (string, error) {
				if len(typed) == 0 {
					return "", errors.New("asked too often")
				}
				p := typed[0]
				typed = typed[1:]
				return p, nil
			}
			got, err := readPassphrase(f, tc.fromStdin, tc.confirm)
			if tc.wantErr != "" {
				if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("readPassphrase = %q, %v; want a usage error containing %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("readPassphrase = %q, %v; want %q", got, err, tc.want)
			}
			if errOut.String() != tc.wantPrompt {
				t.Errorf("prompts %q, want %q", errOut.String(), tc.wantPrompt)
			}
		})
	}
}

func TestBackupRestore(t *testing.T) {
	const pass = "correct horse battery staple"
	secret := v1.Object{APIVersion: v1.APIVersion, Kind: "Secret", Metadata: v1.ObjectMeta{Name: "gh", ResourceVersion: "4"},
		Spec: &v1.SecretSpec{Data: map[string]*string{"TOKEN": ptr("s3cret-value"), "EMPTY": ptr("")}}}
	server := serverAnswer("memory", "5")
	stub := newStub(t, func(r request) (int, any) {
		switch r.Method + " " + r.Path {
		case "GET /api/v1/export":
			if r.Query != "reveal=true" {
				return http.StatusBadRequest, v1.Error{Message: "query " + r.Query, Code: v1.CodeValidationFailed}
			}
			return http.StatusOK, v1.ObjectList{Items: []v1.Object{secret, server}}
		case "POST /api/v1/apply":
			var req v1.ApplyRequest
			json.Unmarshal([]byte(r.Body), &req) //nolint:errcheck // checked below
			resp := v1.ApplyResponse{DryRun: req.DryRun}
			for _, raw := range req.Objects {
				var o v1.Object
				json.Unmarshal(raw, &o) //nolint:errcheck // checked below
				resp.Results = append(resp.Results, v1.ApplyResult{Kind: o.Kind, Name: o.Metadata.Name, Action: v1.ActionCreated})
			}
			return http.StatusOK, resp
		}
		return http.StatusNotFound, v1.Error{Message: "not found", Code: v1.CodeNotFound}
	})
	archive := filepath.Join(t.TempDir(), "backup.json")

	f, io := stub.factory(pass+"\n", false)
	if code := Run(f, []string{"backup", "-o", archive, "--passphrase-stdin"}); code != ExitOK {
		t.Fatalf("backup: exit %d: %s", code, io.err.String())
	}
	if want := "wrote 2 objects (1 secrets, values encrypted) to " + archive + "\n"; io.out.String() != want {
		t.Errorf("stdout %q, want %q", io.out.String(), want)
	}
	st, err := os.Stat(archive)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("archive: %v, mode %v", err, st.Mode())
	}
	data, _ := os.ReadFile(archive)
	if bytes.Contains(data, []byte("s3cret-value")) {
		t.Errorf("the archive holds a secret value in clear")
	}
	if !bytes.Contains(data, []byte(`"format": "mcpctl-backup/v1"`)) || !bytes.Contains(data, []byte(`"name": "memory"`)) {
		t.Errorf("archive:\n%s", data)
	}

	t.Run("a wrong passphrase restores nothing", func(t *testing.T) {
		before := len(stub.requests())
		f, io := stub.factory("not the passphrase\n", false)
		if code := Run(f, []string{"restore", "-f", archive, "--passphrase-stdin"}); code != ExitError || !strings.Contains(io.err.String(), "passphrase is wrong") {
			t.Errorf("exit %d, stderr %q", code, io.err.String())
		}
		if reqs := stub.requestLines()[before:]; len(reqs) > 0 {
			t.Errorf("requests %v", reqs)
		}
	})
	t.Run("the values come back", func(t *testing.T) {
		before := len(stub.requests())
		f, io := stub.factory(pass+"\n", false)
		if code := Run(f, []string{"restore", "-f", archive, "--passphrase-stdin", "--on-conflict", "overwrite"}); code != ExitOK {
			t.Fatalf("exit %d: %s", code, io.err.String())
		}
		if want := "secret/gh created\nserver/memory created\n"; io.out.String() != want {
			t.Errorf("stdout %q, want %q", io.out.String(), want)
		}
		reqs := stub.requests()[before:]
		if len(reqs) != 1 || reqs[0].String() != "POST /api/v1/apply" {
			t.Fatalf("requests %v", reqs)
		}
		var req struct {
			Objects    []map[string]any `json:"objects"`
			OnConflict string           `json:"onConflict"`
		}
		if err := json.Unmarshal([]byte(reqs[0].Body), &req); err != nil {
			t.Fatal(err)
		}
		if req.OnConflict != v1.OnConflictUpdate || len(req.Objects) != 2 {
			t.Fatalf("body %s", reqs[0].Body)
		}
		wantSecret := map[string]any{"apiVersion": "mcpctl/v1", "kind": "Secret", "metadata": map[string]any{"name": "gh"},
			"spec": map[string]any{"data": map[string]any{"TOKEN": "s3cret-value", "EMPTY": ""}}}
		if diff := cmp.Diff(wantSecret, req.Objects[0]); diff != "" {
			t.Errorf("restored secret (-want +got):\n%s", diff)
		}
	})
}

func TestParseEdited(t *testing.T) {
	t.Parallel()
	orig := serverAnswer("memory", "3")
	body, err := toYAML(&orig)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		data         string
		wantProblems []string
	}{
		{name: "unchanged", data: "# a comment\n" + string(body)},
		{name: "changed", data: strings.Replace(string(body), "replicas: 1", "replicas: 2", 1)},
		{name: "another kind", data: "kind: Secret\nmetadata: {name: memory}\nspec: {data: {A: b}}\n",
			wantProblems: []string{"kind cannot be changed (it is Server)"}},
		{name: "another name", data: strings.Replace(string(body), "name: memory", "name: other", 1),
			wantProblems: []string{"metadata.name cannot be changed (it is memory)"}},
		{name: "two documents", data: string(body) + "---\n" + string(body), wantProblems: []string{"exactly one document; it holds 2"}},
		{name: "nothing", data: "# all gone\n", wantProblems: []string{"exactly one document; it holds 0"}},
		{name: "an unknown field", data: "# header\n" + string(body) + "  bogus: 1\n",
			wantProblems: []string{"edited file: document 1 (line 2): spec.bogus (line "}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			obj, problems := parseEdited([]byte(tc.data), &orig)
			matchProblems(t, problems, tc.wantProblems)
			if tc.wantProblems == nil && (obj == nil || obj.ID() != "server/memory") {
				t.Errorf("object %v", obj)
			}
		})
	}
	t.Run("kind change is named", func(t *testing.T) {
		t.Parallel()
		secret := v1.Object{Kind: "Secret", Metadata: v1.ObjectMeta{Name: "memory"}, Spec: &v1.SecretSpec{}}
		_, problems := parseEdited(body, &secret)
		matchProblems(t, problems, []string{"kind cannot be changed (it is Secret)"})
	})
}

func TestStripComments(t *testing.T) {
	t.Parallel()
	prompt := v1.Object{APIVersion: v1.APIVersion, Kind: "Prompt", Metadata: v1.ObjectMeta{Name: "intro", Project: "demo"},
		Spec: &v1.PromptSpec{Text: "# Intro\n\nBe brief.\n", Priority: 5}}
	body, err := toYAML(&prompt)
	if err != nil {
		t.Fatal(err)
	}
	header := "# Edit the object below; lines starting with '#' are ignored.\n# Save and quit to apply it; leave it unchanged to cancel.\n"
	orig := []byte(header + string(body))
	tests := []struct {
		name      string
		edited    string
		unchanged bool
	}{
		{name: "as written", edited: string(orig), unchanged: true},
		{name: "header removed", edited: string(body), unchanged: true},
		{name: "a comment and blank lines added", edited: "# mine\n\n" + string(body) + "\n", unchanged: true},
		{name: "a heading in the text changed", edited: strings.Replace(string(orig), "# Intro", "# Welcome", 1)},
		{name: "a field changed", edited: strings.Replace(string(orig), "priority: 5", "priority: 6", 1)},
	}
	if !strings.Contains(string(body), "    # Intro\n") {
		t.Fatalf("the heading is not an indented line of a block scalar:\n%s", body)
	}
	for _, tc := range tests {
		if got := bytes.Equal(stripComments([]byte(tc.edited)), stripComments(orig)); got != tc.unchanged {
			t.Errorf("%s: unchanged = %v, want %v", tc.name, got, tc.unchanged)
		}
	}
}

func TestEditCommand(t *testing.T) {
	prompt := v1.Object{APIVersion: v1.APIVersion, Kind: "Prompt", Metadata: v1.ObjectMeta{Name: "intro", Project: "demo", ResourceVersion: "9"},
		Spec: &v1.PromptSpec{Text: "# Intro\n\nBe brief.\n", Priority: 5}}
	answer := func(r request) (int, any) {
		switch r.Method {
		case http.MethodGet:
			return http.StatusOK, prompt
		case http.MethodPut:
			var o v1.Object
			json.Unmarshal([]byte(r.Body), &o) //nolint:errcheck // checked by the test
			o.Metadata.ResourceVersion = "10"
			return http.StatusOK, o
		}
		return http.StatusMethodNotAllowed, v1.Error{Message: "no", Code: v1.CodeMethodNotAllowed}
	}
	editor := func(t *testing.T, script string) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "editor.sh")
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		t.Setenv("VISUAL", p)
	}
	t.Run("a heading of the text is a change", func(t *testing.T) {
		stub := newStub(t, answer)
		editor(t, `sed -i 's/# Intro/# Welcome/' "$1"`)
		f, io := stub.factory("", false)
		if code := Run(f, []string{"edit", "prompt", "intro", "-p", "demo"}); code != ExitOK {
			t.Fatalf("exit %d: %s", code, io.err.String())
		}
		if io.out.String() != "prompt/demo/intro edited\n" {
			t.Errorf("stdout %q", io.out.String())
		}
		reqs := stub.requests()
		if len(reqs) != 2 || reqs[1].String() != "PUT /api/v1/projects/demo/prompts/intro" {
			t.Fatalf("requests %v", reqs)
		}
		if !strings.Contains(reqs[1].Body, `"text":"# Welcome\n\nBe brief.\n"`) || !strings.Contains(reqs[1].Body, `"resourceVersion":"9"`) {
			t.Errorf("body %s", reqs[1].Body)
		}
	})
	t.Run("an untouched file cancels", func(t *testing.T) {
		stub := newStub(t, answer)
		editor(t, "exit 0")
		f, io := stub.factory("", false)
		if code := Run(f, []string{"edit", "prompt", "intro", "-p", "demo"}); code != ExitError || !strings.Contains(io.err.String(), "edit cancelled: no changes made") {
			t.Errorf("exit %d, stderr %q", code, io.err.String())
		}
		if reqs := stub.requestLines(); len(reqs) != 1 {
			t.Errorf("requests %v", reqs)
		}
	})
}
