package cli

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

var printNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func ptr[T any](v T) *T { return &v }

// stored returns obj as mcpd returns it: normalized, with a creation time
// age before printNow and a resource version.
func stored(obj v1.Object, age time.Duration) v1.Object {
	obj.Normalize()
	created := printNow.Add(-age)
	obj.Metadata.CreatedAt, obj.Metadata.UpdatedAt = &created, &created
	obj.Metadata.ResourceVersion = "7"
	return obj
}

func testObjects() (servers, others []v1.Object) {
	servers = []v1.Object{
		stored(v1.Object{Kind: "Server", Metadata: v1.ObjectMeta{Name: "memory", Labels: map[string]string{"team": "infra", "env": "dev"}},
			Spec: &v1.ServerSpec{Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-memory"},
				Env: []v1.EnvVar{{Name: "A", Value: ptr("1")}, {Name: "TOKEN", SecretRef: &v1.SecretKeyRef{Name: "gh", Key: "TOKEN"}}}}}, 5*time.Minute),
		stored(v1.Object{Kind: "Server", Metadata: v1.ObjectMeta{Name: "docs"},
			Spec: &v1.ServerSpec{URL: "https://mcp.example.com/mcp"}}, 45*time.Second),
		stored(v1.Object{Kind: "Server", Metadata: v1.ObjectMeta{Name: "big"},
			Spec: &v1.ServerSpec{Image: "ghcr.io/example-organisation/a-very-long-server-name:1.2.3", Replicas: ptr(3), SessionMode: v1.SessionPerSession}}, 3*time.Hour),
	}
	others = []v1.Object{
		stored(v1.Object{Kind: "Prompt", Metadata: v1.ObjectMeta{Name: "intro", Project: "demo"},
			Spec: &v1.PromptSpec{Text: "# Intro\n\nBe   brief.\n", Tags: []string{"a", "b"}}}, 2*365*24*time.Hour),
		stored(v1.Object{Kind: "Project", Metadata: v1.ObjectMeta{Name: "demo", Labels: map[string]string{"team": "infra"}},
			Spec: &v1.ProjectSpec{Description: "the demo", Servers: []string{"memory", "docs"}, Gated: true,
				Tools: map[string]v1.ToolFilter{"memory": {Deny: []string{"delete_entities"}}}}}, 4*24*time.Hour),
		stored(v1.Object{Kind: "Secret", Metadata: v1.ObjectMeta{Name: "gh"},
			Spec: &v1.SecretSpec{Data: map[string]*string{"TOKEN": nil, "APP_ID": nil}}}, 3*time.Hour),
		stored(v1.Object{Kind: "Template", Metadata: v1.ObjectMeta{Name: "filesystem"},
			Spec: &v1.TemplateSpec{Description: "files", Inputs: []v1.TemplateInput{{Name: "ROOT", Required: true}, {Name: "MODE", Default: "ro"}},
				Server: v1.ServerSpec{Command: "npx", Args: []string{"-y", "@modelcontextprotocol/server-filesystem", "${ROOT}"},
					Env: []v1.EnvVar{{Name: "MODE", Value: ptr("${MODE}")}}}}}, 90*time.Second),
	}
	return servers, others
}

func TestPrintObjectsTables(t *testing.T) {
	t.Parallel()
	servers, others := testObjects()
	tests := []struct {
		name   string
		format string
		objs   []v1.Object
		want   string
	}{
		{
			name:   "servers",
			format: "table",
			objs:   servers,
			want: `NAME     TRANSPORT         RUNTIME   REPLICAS   SOURCE                                             AGE
memory   stdio             process   1          npx -y @modelcontextprotocol/server-memory         5m
docs     streamable-http   -         -          https://mcp.example.com/mcp                        45s
big      stdio             docker    3          ghcr.io/example-organisation/a-very-long-serv...   3h
`,
		},
		{
			name:   "servers wide",
			format: "wide",
			objs:   servers,
			want: `NAME     TRANSPORT         RUNTIME   REPLICAS   SOURCE                                                       AGE   SESSION       ENV   LABELS
memory   stdio             process   1          npx -y @modelcontextprotocol/server-memory                   5m    shared        2     env=dev,team=infra
docs     streamable-http   -         -          https://mcp.example.com/mcp                                  45s   shared        0     -
big      stdio             docker    3          ghcr.io/example-organisation/a-very-long-server-name:1.2.3   3h    per-session   0     -
`,
		},
		{
			name:   "every kind, in apply order, titled by kind",
			format: "table",
			objs:   others,
			want: `NAME        KEYS           AGE
secret/gh   APP_ID,TOKEN   3h

NAME                  INPUTS      SOURCE                                             AGE
template/filesystem   ROOT,MODE   npx -y @modelcontextprotocol/server-filesyste...   90s

NAME           SERVERS       GATED   AGE
project/demo   memory,docs   true    4d

NAME           PROJECT   PRIORITY   TAGS   AGE
prompt/intro   demo      5          a,b    2y
`,
		},
		{
			name:   "every kind wide",
			format: "wide",
			objs:   others,
			want: `NAME        KEYS           AGE   LABELS
secret/gh   APP_ID,TOKEN   3h    -

NAME                  INPUTS      SOURCE                                             AGE   DESCRIPTION   LABELS
template/filesystem   ROOT,MODE   npx -y @modelcontextprotocol/server-filesyste...   90s   files         -

NAME           SERVERS       GATED   AGE   SEPARATOR   DESCRIPTION   LABELS
project/demo   memory,docs   true    4d    "__"        the demo      team=infra

NAME           PROJECT   PRIORITY   TAGS   AGE   TEXT                LABELS
prompt/intro   demo      5          a,b    2y    # Intro Be brief.   -
`,
		},
		{
			name:   "name",
			format: "name",
			objs:   append(servers[:1:1], others...),
			want:   "server/memory\nprompt/demo/intro\nproject/demo\nsecret/gh\ntemplate/filesystem\n",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := printObjects(&b, tc.format, tc.objs, false, printNow); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, b.String()); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPrintObjectsJSON(t *testing.T) {
	t.Parallel()
	servers, _ := testObjects()
	top := func(t *testing.T, objs []v1.Object, single bool) map[string]any {
		t.Helper()
		var b bytes.Buffer
		if err := printObjects(&b, "json", objs, single, printNow); err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b.Bytes(), &m); err != nil {
			t.Fatalf("not JSON: %v\n%s", err, b.String())
		}
		return m
	}
	t.Run("one named object is the object", func(t *testing.T) {
		t.Parallel()
		m := top(t, servers[:1], true)
		if m["kind"] != "Server" || m["metadata"].(map[string]any)["name"] != "memory" {
			t.Errorf("got %v", m)
		}
	})
	t.Run("a list of one is a List", func(t *testing.T) {
		t.Parallel()
		m := top(t, servers[:1], false)
		if m["kind"] != "List" || m["apiVersion"] != v1.APIVersion || len(m["items"].([]any)) != 1 {
			t.Errorf("got %v", m)
		}
	})
	t.Run("several named objects are a List", func(t *testing.T) {
		t.Parallel()
		m := top(t, servers, true)
		if m["kind"] != "List" || len(m["items"].([]any)) != 3 {
			t.Errorf("got %v", m)
		}
	})
	t.Run("an empty List has items: []", func(t *testing.T) {
		t.Parallel()
		m := top(t, nil, false)
		if items, ok := m["items"].([]any); !ok || len(items) != 0 {
			t.Errorf(`items = %#v, want [] (scripts run jq '.items[]' on it)`, m["items"])
		}
	})
	t.Run("no HTML escaping", func(t *testing.T) {
		t.Parallel()
		var b bytes.Buffer
		obj := stored(v1.Object{Kind: "Server", Metadata: v1.ObjectMeta{Name: "q"}, Spec: &v1.ServerSpec{URL: "https://x.example/mcp?a=1&b=<2>"}}, 0)
		printObjects(&b, "json", []v1.Object{obj}, true, printNow) //nolint:errcheck // checked by content
		if !strings.Contains(b.String(), `"url": "https://x.example/mcp?a=1&b=<2>"`) {
			t.Errorf("output:\n%s", b.String())
		}
	})
}

func TestPrintObjectsYAML(t *testing.T) {
	t.Parallel()
	servers, _ := testObjects()
	var b bytes.Buffer
	if err := printObjects(&b, "yaml", servers[:2], false, printNow); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "apiVersion: mcpctl/v1\nkind: Server\n") {
		t.Errorf("does not start with the first document:\n%s", out)
	}
	if n := strings.Count(out, "\n---\n"); n != 1 {
		t.Errorf("%d separators between 2 documents:\n%s", n, out)
	}
	if strings.HasSuffix(out, "---\n") {
		t.Errorf("trailing separator:\n%s", out)
	}
}

// TestPrintedObjectsApply checks that what get prints as yaml or json
// reads back, with ParseManifest, as the same objects.
func TestPrintedObjectsApply(t *testing.T) {
	t.Parallel()
	servers, others := testObjects()
	all := append(append([]v1.Object{}, servers...), others...)
	// What apply sends: the printed object without the times mcpd sets.
	want := make([]*v1.Object, len(all))
	for i := range all {
		o := all[i]
		o.Metadata.CreatedAt, o.Metadata.UpdatedAt = nil, nil
		want[i] = &o
	}
	for _, tc := range []struct {
		format string
		objs   []v1.Object
		single bool
	}{
		{"yaml", all, false},
		{"json", all, false},
		{"json", all[:1], true},
		{"yaml", all[:1], true},
	} {
		var b bytes.Buffer
		if err := printObjects(&b, tc.format, tc.objs, tc.single, printNow); err != nil {
			t.Fatal(err)
		}
		docs, problems := ParseManifest("printed", b.Bytes())
		if len(problems) > 0 {
			t.Fatalf("%s: %v\n%s", tc.format, problems, b.String())
		}
		var got []*v1.Object
		for _, d := range docs {
			got = append(got, d.Object)
		}
		if diff := cmp.Diff(want[:len(tc.objs)], got); diff != "" {
			t.Errorf("%s of %d (-printed +read back):\n%s\n%s", tc.format, len(tc.objs), diff, b.String())
		}
	}
}

func TestAge(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Minute, "0s"}, // a clock ahead of ours
		{45 * time.Second, "45s"},
		{119 * time.Second, "119s"},
		{2 * time.Minute, "2m"},
		{5*time.Minute + 59*time.Second, "5m"},
		{119 * time.Minute, "119m"},
		{3 * time.Hour, "3h"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{4*24*time.Hour + 23*time.Hour, "4d"},
		{729 * 24 * time.Hour, "729d"},
		{2 * 365 * 24 * time.Hour, "2y"},
		{10 * 365 * 24 * time.Hour, "10y"},
	}
	for _, tc := range tests {
		created := printNow.Add(-tc.ago)
		if got := Age(&created, printNow); got != tc.want {
			t.Errorf("Age(now - %v) = %q, want %q", tc.ago, got, tc.want)
		}
	}
	if got := Age(nil, printNow); got != "-" {
		t.Errorf("Age(nil) = %q, want -", got)
	}
	if got := Age(&time.Time{}, printNow); got != "-" {
		t.Errorf("Age(zero) = %q, want -", got)
	}
}

func TestFormatLabels(t *testing.T) {
	t.Parallel()
	tests := []struct {
		labels map[string]string
		want   string
	}{
		{nil, "-"},
		{map[string]string{}, "-"},
		{map[string]string{"team": "infra"}, "team=infra"},
		{map[string]string{"team": "infra", "env": "", "mcpctl.dev/template": "fs", "b": "2", "a": "1", "z": "26"},
			"a=1,b=2,env=,mcpctl.dev/template=fs,team=infra,z=26"},
	}
	for _, tc := range tests {
		// Again and again: map order varies from one iteration to the next.
		for range 20 {
			if got := formatLabels(tc.labels); got != tc.want {
				t.Fatalf("formatLabels(%v) = %q, want %q", tc.labels, got, tc.want)
			}
		}
	}
}

func TestCheckOutput(t *testing.T) {
	t.Parallel()
	for _, o := range outputFormats {
		if err := checkOutput(o); err != nil {
			t.Errorf("checkOutput(%q) = %v", o, err)
		}
	}
	err := checkOutput("xml")
	if ExitCode(err) != ExitUsage || !strings.Contains(err.Error(), "table, wide, json, yaml, name") {
		t.Errorf("checkOutput(xml) = %v", err)
	}
}
