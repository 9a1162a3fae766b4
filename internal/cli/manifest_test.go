package cli

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// docIDs names each document as "kind/name @ where".
func docIDs(docs []*Document) []string {
	var out []string
	for _, d := range docs {
		out = append(out, d.Object.ID()+" @ "+d.Where())
	}
	return out
}

// matchProblems checks that problems and want pair up one to one, each
// problem containing its wanted text.
func matchProblems(t *testing.T, problems, want []string) {
	t.Helper()
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n  %s", len(problems), len(want), strings.Join(problems, "\n  "))
	}
	for i := range want {
		if !strings.Contains(problems[i], want[i]) {
			t.Errorf("problem %d = %q\nwant it to contain %q", i, problems[i], want[i])
		}
	}
}

const serverDoc = `kind: Server
metadata:
  name: a
spec:
  command: npx
`

// nested returns a flow sequence nested n deep.
func nested(n int) string {
	return strings.Repeat("[", n) + strings.Repeat("]", n)
}

func TestParseManifest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		source, data string
		wantDocs     []string
		wantProblems []string
	}{
		{
			name:   "unknown field names its line",
			source: "f.yaml",
			data: `kind: Server
metadata:
  name: a
spec:
  command: npx
  bogus: 1
`,
			wantProblems: []string{"f.yaml: document 1 (line 1): spec.bogus (line 6): unknown field"},
		},
		{
			name:   "a later document's errors name its own lines",
			source: "f.yaml",
			data: serverDoc + `---
# the second one
kind: Server
metadata:
  name: b
spec:
  command: npx
  bogus: 1
`,
			wantDocs: []string{"server/a @ f.yaml: document 1 (line 1)"},
			wantProblems: []string{
				"f.yaml: document 2 (line 8): spec.bogus (line 13): unknown field",
			},
		},
		{
			name:   "validation errors after decoding name lines too",
			source: "f.yaml",
			data: serverDoc + `---
kind: Server
metadata:
  name: Bad_Name
spec:
  command: npx
  replicas: 11
`,
			wantDocs: []string{"server/a @ f.yaml: document 1 (line 1)"},
			wantProblems: []string{
				"f.yaml: document 2 (line 7): metadata.name (line 9): must be a DNS label",
				"f.yaml: document 2 (line 7): spec.replicas (line 12): must be from 0 to 10, not 11",
			},
		},
		{
			name:     "JSON on one line",
			source:   "f.json",
			data:     `{"kind":"Server","metadata":{"name":"a"},"spec":{"command":"npx"}}`,
			wantDocs: []string{"server/a @ f.json: document 1 (line 1)"},
		},
		{
			name:   "JSON over several lines keeps lines",
			source: "f.json",
			data: `{
  "kind": "Server",
  "metadata": {"name": "a"},
  "spec": {"command": "npx", "bogus": 1}
}`,
			wantProblems: []string{"f.json: document 1 (line 1): spec.bogus (line 4): unknown field"},
		},
		{
			name:     "empty trailing documents are skipped",
			source:   "f.yaml",
			data:     "---\n" + serverDoc + "---\n---\n# only a comment\n",
			wantDocs: []string{"server/a @ f.yaml: document 1 (line 2)"},
		},
		{
			name:     "empty documents are not counted",
			source:   "f.yaml",
			data:     serverDoc + "---\n---\n# nothing\n---\n" + named("Secret", "s"),
			wantDocs: []string{"server/a @ f.yaml: document 1 (line 1)", "secret/s @ f.yaml: document 2 (line 10)"},
		},
		{
			name:         "a list document is refused",
			source:       "f.yaml",
			data:         serverDoc + "---\n- a\n- b\n",
			wantDocs:     []string{"server/a @ f.yaml: document 1 (line 1)"},
			wantProblems: []string{"f.yaml: document 2 (line 7): the document is a list, not an object"},
		},
		{
			name:         "a scalar document is refused",
			source:       "f.yaml",
			data:         "hello\n",
			wantProblems: []string{`f.yaml: document 1 (line 1): the document is a string, not an object`},
		},
		{
			name:         "a syntax error stops the stream and names the document",
			source:       "f.yaml",
			data:         serverDoc + "---\nkind: Server\nmetadata: {\n---\n" + serverDoc,
			wantDocs:     []string{"server/a @ f.yaml: document 1 (line 1)"},
			wantProblems: []string{"f.yaml: document 2: line "},
		},
		{
			name:   "duplicate keys are refused with their line",
			source: "f.yaml",
			data: `kind: Server
metadata:
  name: a
  name: b
spec:
  command: npx
`,
			wantProblems: []string{`f.yaml: document 1 (line 1): line 4: key "name" appears twice in the same mapping`},
		},
		{
			name:   "merge keys are refused",
			source: "f.yaml",
			data: `kind: Server
metadata:
  name: a
spec:
  x: &base
    command: npx
  <<: *base
`,
			wantProblems: []string{"f.yaml: document 1 (line 1): line 7: YAML merge keys (<<) are not supported"},
		},
		{
			name:   "plain aliases are expanded",
			source: "f.yaml",
			data: `kind: Server
metadata:
  name: a
spec:
  command: &cmd npx
  args: [*cmd, *cmd]
`,
			wantDocs: []string{"server/a @ f.yaml: document 1 (line 1)"},
		},
		{
			name:   "a List expands to its items, and item errors name the item",
			source: "f.yaml",
			data: `apiVersion: mcpctl/v1
kind: List
items:
- kind: Server
  metadata:
    name: a
  spec:
    command: npx
- kind: Server
  metadata:
    name: b
  spec:
    command: npx
    bogus: 1
- kind: Secret
  metadata:
    name: s
  spec:
    data: {K: v}
`,
			wantDocs: []string{
				"server/a @ f.yaml: list item 1: document 1 (line 4)",
				"secret/s @ f.yaml: list item 3: document 1 (line 15)",
			},
			wantProblems: []string{"f.yaml: list item 2: document 1 (line 9): spec.bogus (line 14): unknown field"},
		},
		{
			name:     "a List of one item names the item",
			source:   "f.yaml",
			data:     "kind: List\nitems:\n- " + strings.ReplaceAll(strings.TrimSuffix(named("Server", "a"), "\n"), "\n", "\n  ") + "\n",
			wantDocs: []string{"server/a @ f.yaml: list item 1: document 1 (line 3)"},
		},
		{
			name:     "an empty List has no documents",
			source:   "f.yaml",
			data:     "kind: List\nitems: []\n",
			wantDocs: nil,
		},
		{
			name:   "nesting up to the limit is accepted",
			source: "f.yaml",
			// The root is at depth 0, spec 1, healthCheck 2, arguments 3,
			// x 4, and the innermost of 61 lists 64.
			data:     "kind: Server\nmetadata: {name: a}\nspec:\n  command: npx\n  healthCheck:\n    tool: t\n    arguments:\n      x: " + nested(61) + "\n",
			wantDocs: []string{"server/a @ f.yaml: document 1 (line 1)"},
		},
		{
			name:         "nesting deeper than 64 is refused",
			source:       "f.yaml",
			data:         "kind: Server\nmetadata: {name: a}\nspec:\n  command: npx\n  healthCheck:\n    tool: t\n    arguments:\n      x: " + nested(62) + "\n",
			wantProblems: []string{"f.yaml: document 1 (line 1): the document nests deeper than 64 levels; refused"},
		},
		{
			name:         "an alias to its own anchor is refused",
			source:       "f.yaml",
			data:         "kind: Server\nmetadata: {name: a}\nspec: &s\n  command: npx\n  healthCheck: {tool: t, arguments: {x: *s}}\n",
			wantProblems: []string{"f.yaml: document 1 (line 1): the document "},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			docs, problems := ParseManifest(tc.source, []byte(tc.data))
			if diff := cmp.Diff(tc.wantDocs, docIDs(docs)); diff != "" {
				t.Errorf("documents (-want +got):\n%s", diff)
			}
			matchProblems(t, problems, tc.wantProblems)
		})
	}
}

// billionLaughs is the classic alias bomb: 9 levels of 9 aliases, 9^9
// values when expanded.
func billionLaughs() string {
	var b strings.Builder
	b.WriteString(`a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]` + "\n")
	prev := "a"
	for _, n := range []string{"b", "c", "d", "e", "f", "g", "h", "i"} {
		b.WriteString(n + ": &" + n + " [" + strings.Repeat("*"+prev+",", 8) + "*" + prev + "]\n")
		prev = n
	}
	return b.String()
}

func TestParseManifestAliasBomb(t *testing.T) {
	t.Parallel()
	for name, data := range map[string]string{
		"top level":   billionLaughs(),
		"inside spec": "kind: Server\nmetadata: {name: a}\nspec:\n  command: npx\n  healthCheck:\n    tool: t\n    arguments:\n" + indent(billionLaughs(), "      "),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				docs     []*Document
				problems []string
			}
			done := make(chan result, 1)
			go func() {
				docs, problems := ParseManifest("bomb.yaml", []byte(data))
				done <- result{docs, problems}
			}()
			select {
			case r := <-done:
				if len(r.docs) != 0 {
					t.Errorf("the bomb decoded to %d documents", len(r.docs))
				}
				matchProblems(t, r.problems, []string{"bomb.yaml: document 1 (line 1): the document expands to more than 1000000 values (a YAML alias bomb?); refused"})
			case <-time.After(10 * time.Second):
				t.Fatal("ParseManifest did not return within 10 s on an alias bomb")
			}
		})
	}
}

func indent(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func named(kind, name string) string {
	spec := "  command: npx\n"
	if kind == "Secret" {
		spec = "  data: {K: v}\n"
	}
	return "kind: " + kind + "\nmetadata:\n  name: " + name + "\nspec:\n" + spec
}

func TestReadManifestsDirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"b.yaml":        named("Server", "b1") + "---\n" + named("Server", "b2"),
		"a.yml":         named("Secret", "a"),
		"c.json":        `{"kind":"Server","metadata":{"name":"c"},"spec":{"command":"npx"}}`,
		"notes.txt":     "not a manifest",
		"README.md":     "# not a manifest",
		"sub/d.yaml":    named("Server", "nested"),
		"dir.yaml/x.md": "a directory named like a manifest",
	})
	docs, err := ReadManifests([]string{dir}, strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"secret/a @ " + filepath.Join(dir, "a.yml") + ": document 1 (line 1)",
		"server/b1 @ " + filepath.Join(dir, "b.yaml") + ": document 1 (line 1)",
		"server/b2 @ " + filepath.Join(dir, "b.yaml") + ": document 2 (line 7)",
		"server/c @ " + filepath.Join(dir, "c.json") + ": document 1 (line 1)",
	}
	if diff := cmp.Diff(want, docIDs(docs)); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

func TestReadManifestsStdin(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"f.yaml": named("Secret", "s")})
	docs, err := ReadManifests([]string{"-", filepath.Join(dir, "f.yaml")}, strings.NewReader(named("Server", "from-stdin")))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"server/from-stdin @ -: document 1 (line 1)",
		"secret/s @ " + filepath.Join(dir, "f.yaml") + ": document 1 (line 1)",
	}
	if diff := cmp.Diff(want, docIDs(docs)); diff != "" {
		t.Errorf("documents (-want +got):\n%s", diff)
	}
}

// endless is a reader that never ends.
type endless struct{ read int64 }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '#'
	}
	e.read += int64(len(p))
	return len(p), nil
}

func TestReadManifestsErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"empty/notes.txt": "nothing",
		"one/a.yaml":      named("Server", "x"),
		"one/b.yaml":      "# a comment\n" + named("Server", "x"),
		"bad/a.yaml":      named("Server", "ok") + "---\nkind: Server\nmetadata: {name: a}\nspec: {command: npx, bogus: 1}\n",
		"bad/b.yaml":      "kind: Widget\nmetadata: {name: w}\nspec: {}\n---\n" + named("Server", "ok"),
		"blank.yaml":      "# nothing here\n",
	})
	big := filepath.Join(dir, "big.yaml")
	f, err := os.Create(big)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	// Sparse: 50 MB that take no disk space, and would take memory only
	// if read.
	if err := os.Truncate(big, 50<<20); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		paths        []string
		stdin        io.Reader
		wantUsage    bool
		wantErr      string
		wantProblems []string
	}{
		{
			name:    "a missing file",
			paths:   []string{filepath.Join(dir, "nope.yaml")},
			wantErr: "read " + filepath.Join(dir, "nope.yaml") + ": no such file or directory",
		},
		{
			name:    "a file over the limit is refused by its size",
			paths:   []string{big},
			wantErr: big + " is 50.0 MiB; manifests are limited to 16.0 MiB: split it into several files",
		},
		{
			name:    "standard input over the limit",
			paths:   []string{"-"},
			stdin:   &endless{},
			wantErr: "- is larger than 16.0 MiB, the limit of manifests: split it into several files",
		},
		{
			name:      "empty standard input",
			paths:     []string{"-"},
			stdin:     strings.NewReader(""),
			wantUsage: true,
			wantErr:   "no documents found in -",
		},
		{
			name:      "a file with only comments",
			paths:     []string{filepath.Join(dir, "blank.yaml")},
			wantUsage: true,
			wantErr:   "no documents found in " + filepath.Join(dir, "blank.yaml"),
		},
		{
			name:      "a directory without manifests",
			paths:     []string{filepath.Join(dir, "empty")},
			wantUsage: true,
			wantErr:   "directory " + filepath.Join(dir, "empty") + " has no .yaml, .yml or .json files",
		},
		{
			name:  "the same object in two files",
			paths: []string{filepath.Join(dir, "one")},
			wantProblems: []string{
				filepath.Join(dir, "one", "b.yaml") + ": document 1 (line 2): server/x is also defined at " +
					filepath.Join(dir, "one", "a.yaml") + ": document 1 (line 1); keep one",
			},
		},
		{
			name:  "every problem of every file together",
			paths: []string{filepath.Join(dir, "bad")},
			wantProblems: []string{
				filepath.Join(dir, "bad", "a.yaml") + ": document 2 (line 7): spec.bogus (line 9): unknown field",
				filepath.Join(dir, "bad", "b.yaml") + `: document 1 (line 1): kind (line 1): unknown kind "Widget"`,
				filepath.Join(dir, "bad", "b.yaml") + ": document 2 (line 5): server/ok is also defined at " +
					filepath.Join(dir, "bad", "a.yaml") + ": document 1 (line 1); keep one",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			stdin := tc.stdin
			if stdin == nil {
				stdin = strings.NewReader("")
			}
			docs, err := ReadManifests(tc.paths, stdin)
			if err == nil {
				t.Fatalf("no error; documents %v", docIDs(docs))
			}
			if docs != nil {
				t.Errorf("documents returned with an error: %v", docIDs(docs))
			}
			if got := ExitCode(err) == ExitUsage; got != tc.wantUsage {
				t.Errorf("usage error = %v, want %v (%v)", got, tc.wantUsage, err)
			}
			var me *ManifestError
			if tc.wantProblems != nil {
				if !errors.As(err, &me) {
					t.Fatalf("error %T %v, want a *ManifestError", err, err)
				}
				matchProblems(t, me.Problems, tc.wantProblems)
				if !strings.HasPrefix(err.Error(), "the input is not valid; nothing was applied:\n  ") {
					t.Errorf("message %q", err.Error())
				}
				return
			}
			if errors.As(err, &me) {
				t.Errorf("unexpected *ManifestError: %v", err)
			}
			if err.Error() != tc.wantErr {
				t.Errorf("error = %q\nwant    %q", err.Error(), tc.wantErr)
			}
		})
	}

	t.Run("a missing file is fs.ErrNotExist", func(t *testing.T) {
		t.Parallel()
		_, err := ReadManifests([]string{filepath.Join(dir, "nope.yaml")}, strings.NewReader(""))
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
		}
	})
	t.Run("standard input is read only up to the limit", func(t *testing.T) {
		t.Parallel()
		r := &endless{}
		ReadManifests([]string{"-"}, r) //nolint:errcheck // the error is checked above
		if r.read > MaxManifestSize+64<<10 {
			t.Errorf("read %d bytes of standard input; the limit is %d", r.read, MaxManifestSize)
		}
	})
}

func TestDocumentLineOf(t *testing.T) {
	t.Parallel()
	data := named("Secret", "first") + `---
kind: Server
metadata:
  name: a
  labels:
    team: infra
spec:
  command: npx
  env:
  - name: PLAIN
    value: x
  - name: TOKEN
    secretRef:
      name: gh
      key: TOKEN
`
	docs, problems := ParseManifest("f.yaml", []byte(data))
	if len(problems) > 0 || len(docs) != 2 {
		t.Fatalf("docs %v, problems %v", docIDs(docs), problems)
	}
	d := docs[1]
	tests := []struct {
		path string
		want int
	}{
		{"kind", 7},
		{"metadata.labels.team", 11},
		{"spec.env[1].secretRef.key", 20},
		{"spec.env[1].secretRef", 18},
		{"spec.env[1]", 17},
		{"spec.env[0].value", 16},
		// Paths that are not in the document fall back to the nearest
		// ancestor that is.
		{"spec.env[1].secretRef.nothere", 18},
		{"spec.env[7].name", 14},
		{"spec.replicas", 12},
		{"metadata.labels.other", 10},
		{"nothing", 7},
		{"", 7},
	}
	for _, tc := range tests {
		if got := d.LineOf(tc.path); got != tc.want {
			t.Errorf("LineOf(%q) = %d, want %d", tc.path, got, tc.want)
		}
	}
	if d.Line != 7 {
		t.Errorf("Line = %d, want 7", d.Line)
	}
}
