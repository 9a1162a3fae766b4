package v1

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// problems returns the field problems of err: nil for a nil error, and a
// test failure when err is not a *ValidationError.
func problems(t *testing.T, err error) FieldErrors {
	t.Helper()
	if err == nil {
		return nil
	}
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v is %T, want *ValidationError", err, err)
	}
	return ve.Fields
}

// jsonValue parses s into maps, slices and scalars, failing the test on
// malformed JSON.
func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("parse %s: %v", s, err)
	}
	return v
}

const knownKinds = "Secret, Template, Server, Project, Prompt, Group, RbacDefinition, McpToken"

func TestLookupKind(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in     string
		want   string // "" when not found
		scoped bool
	}{
		{"Server", "Server", false},
		{"servers", "Server", false},
		{"server", "Server", false},
		{"srv", "Server", false},
		{"SERVERS", "Server", false},
		{"SrV", "Server", false},
		{"Secret", "Secret", false},
		{"secrets", "Secret", false},
		{"sec", "Secret", false},
		{"Template", "Template", false},
		{"templates", "Template", false},
		{"tpl", "Template", false},
		{"TMPL", "Template", false},
		{"Project", "Project", false},
		{"projects", "Project", false},
		{"proj", "Project", false},
		{"prj", "Project", false},
		{"Prompt", "Prompt", true},
		{"prompts", "Prompt", true},
		{"pr", "Prompt", true},
		{"PROMPT", "Prompt", true},
		{"", "", false},
		{"widget", "", false},
		{" server", "", false},
		{"server ", "", false},
		{"serverss", "", false},
		{"s", "", false},
	}
	for _, tt := range tests {
		k, ok := LookupKind(tt.in)
		if ok != (tt.want != "") || k.Kind != tt.want {
			t.Errorf("LookupKind(%q) = %q, %v; want %q, %v", tt.in, k.Kind, ok, tt.want, tt.want != "")
			continue
		}
		if ok && k.Scoped != tt.scoped {
			t.Errorf("LookupKind(%q).Scoped = %v, want %v", tt.in, k.Scoped, tt.scoped)
		}
	}
}

func TestKindsNewSpec(t *testing.T) {
	t.Parallel()
	want := map[string]Spec{
		"Secret":         &SecretSpec{},
		"Template":       &TemplateSpec{},
		"Server":         &ServerSpec{},
		"Project":        &ProjectSpec{},
		"Prompt":         &PromptSpec{},
		"Group":          &GroupSpec{},
		"RbacDefinition": &RbacDefinitionSpec{},
		"McpToken":       &McpTokenSpec{},
	}
	for _, k := range Kinds {
		if diff := cmp.Diff(want[k.Kind], k.NewSpec()); diff != "" {
			t.Errorf("%s NewSpec() (-want +got):\n%s", k.Kind, diff)
		}
		if a, b := k.NewSpec(), k.NewSpec(); a == b {
			t.Errorf("%s NewSpec() returns the same spec twice", k.Kind)
		}
	}
	if got := KindNames(); got != knownKinds {
		t.Errorf("KindNames() = %q, want %q", got, knownKinds)
	}
}

func TestKindOrder(t *testing.T) {
	t.Parallel()
	// Every kind comes after the kinds it may reference.
	before := [][2]string{
		{"Secret", "Server"},
		{"Secret", "Template"},
		{"Template", "Server"},
		{"Server", "Project"},
		{"Project", "Prompt"},
	}
	for _, p := range before {
		if KindOrder(p[0]) >= KindOrder(p[1]) {
			t.Errorf("KindOrder(%s) = %d, not before KindOrder(%s) = %d", p[0], KindOrder(p[0]), p[1], KindOrder(p[1]))
		}
	}
	for _, unknown := range []string{"Widget", "server", ""} {
		if got := KindOrder(unknown); got != len(Kinds) {
			t.Errorf("KindOrder(%q) = %d, want %d (last)", unknown, got, len(Kinds))
		}
	}
}

func TestObjectID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		obj  Object
		want string
	}{
		{Object{Kind: "Server", Metadata: ObjectMeta{Name: "github"}}, "server/github"},
		{Object{Kind: "Prompt", Metadata: ObjectMeta{Name: "intro", Project: "dev"}}, "prompt/dev/intro"},
		{Object{Kind: "Widget", Metadata: ObjectMeta{Name: "w"}}, "widget/w"},
	}
	for _, tt := range tests {
		if got := tt.obj.ID(); got != tt.want {
			t.Errorf("ID() of %s %s = %q, want %q", tt.obj.Kind, tt.obj.Metadata.Name, got, tt.want)
		}
	}
	r := ApplyResult{Kind: "Prompt", Name: "intro", Project: "dev"}
	if got := r.ID(); got != "prompt/dev/intro" {
		t.Errorf("ApplyResult.ID() = %q, want prompt/dev/intro", got)
	}
}

func TestRefString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ref  Ref
		want string
	}{
		{Ref{Kind: "Secret", Name: "github", Key: "token"}, "secret/github key token"},
		{Ref{Kind: "Server", Name: "fs", Field: "spec.servers[0]"}, "server/fs"},
	}
	for _, tt := range tests {
		if got := tt.ref.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.ref, got, tt.want)
		}
	}
}

func TestObjectReferences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		obj  *Object
		want []Ref
	}{
		{"prompt names its project", &Object{Kind: "Prompt", Metadata: ObjectMeta{Name: "p", Project: "dev"}, Spec: &PromptSpec{Text: "hi"}},
			[]Ref{{Kind: "Project", Name: "dev", Field: "metadata.project"}}},
		{"server names secret keys", &Object{Kind: "Server", Metadata: ObjectMeta{Name: "s"}, Spec: &ServerSpec{Command: "x", Env: []EnvVar{
			{Name: "A", Value: new("a")},
			{Name: "B", SecretRef: &SecretKeyRef{Name: "gh", Key: "token"}},
		}}}, []Ref{{Kind: "Secret", Name: "gh", Key: "token", Field: "spec.env[1].secretRef"}}},
		{"project names servers", &Object{Kind: "Project", Metadata: ObjectMeta{Name: "p"}, Spec: &ProjectSpec{Servers: []string{"a", "b"}}},
			[]Ref{{Kind: "Server", Name: "a", Field: "spec.servers[0]"}, {Kind: "Server", Name: "b", Field: "spec.servers[1]"}}},
		{"nil spec", &Object{Kind: "Server", Metadata: ObjectMeta{Name: "s"}}, nil},
		{"secret names nothing", &Object{Kind: "Secret", Metadata: ObjectMeta{Name: "s"}, Spec: &SecretSpec{}}, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, ObjectReferences(tt.obj)); diff != "" {
			t.Errorf("%s: ObjectReferences (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestObjectNormalize(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	o := &Object{
		Kind: "Server",
		Metadata: ObjectMeta{Name: "fs", Labels: map[string]string{}, CreatedAt: &created, UpdatedAt: &created,
			ResourceVersion: "7"},
		Spec: &ServerSpec{Command: "mcp-fs"},
	}
	o.Normalize()
	want := &Object{
		APIVersion: APIVersion,
		Kind:       "Server",
		// Labels: an empty map is stored as none. The timestamps are
		// server-owned and cleared; the resource version is kept for the
		// conditional write.
		Metadata: ObjectMeta{Name: "fs", ResourceVersion: "7"},
		Spec: &ServerSpec{Command: "mcp-fs", Transport: TransportStdio, Runtime: RuntimeProcess,
			Replicas: new(1), SessionMode: SessionShared},
	}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("Normalize (-want +got):\n%s", diff)
	}

	// A nil spec is left for Validate to report.
	nilSpec := &Object{Kind: "Server", Metadata: ObjectMeta{Name: "fs"}}
	nilSpec.Normalize()
	if nilSpec.Spec != nil || nilSpec.APIVersion != APIVersion {
		t.Errorf("Normalize of a nil spec = %+v", nilSpec)
	}
}

func TestObjectValidate(t *testing.T) {
	t.Parallel()
	const label = `must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. "my-server-1")`
	const badKey = "the key must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	const badValue = "the value must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit"
	server := func(name string, labels map[string]string) *Object {
		return &Object{Kind: "Server", Metadata: ObjectMeta{Name: name, Labels: labels}, Spec: &ServerSpec{Command: "x"}}
	}
	tests := []struct {
		name string
		obj  *Object
		want FieldErrors
	}{
		{"valid server", server("fs", map[string]string{"team": "infra", "example.com/tier": "a.b_c-1", "empty": ""}), nil},
		{"valid prompt", &Object{Kind: "Prompt", Metadata: ObjectMeta{Name: "intro", Project: "dev"}, Spec: &PromptSpec{Text: "hi"}}, nil},
		{"valid secret", &Object{Kind: "Secret", Metadata: ObjectMeta{Name: "gh"}, Spec: &SecretSpec{}}, nil},
		{"empty name", server("", nil), FieldErrors{{"metadata.name", "must not be empty"}}},
		{"upper-case name", server("GitHub", nil), FieldErrors{{"metadata.name", label}}},
		{"underscore name", server("my_server", nil), FieldErrors{{"metadata.name", label}}},
		{"long name", server(strings.Repeat("a", 64), nil), FieldErrors{{"metadata.name", "must be at most 63 characters (a DNS label)"}}},
		{"prompt without project", &Object{Kind: "Prompt", Metadata: ObjectMeta{Name: "intro"}, Spec: &PromptSpec{Text: "hi"}},
			FieldErrors{{"metadata.project", "a Prompt belongs to a project: set metadata.project (or -p PROJECT)"}}},
		{"prompt with bad project", &Object{Kind: "Prompt", Metadata: ObjectMeta{Name: "intro", Project: "Dev"}, Spec: &PromptSpec{Text: "hi"}},
			FieldErrors{{"metadata.project", label}}},
		{"server with project", &Object{Kind: "Server", Metadata: ObjectMeta{Name: "fs", Project: "dev"}, Spec: &ServerSpec{Command: "x"}},
			FieldErrors{{"metadata.project", "a Server is not project-scoped; remove metadata.project"}}},
		{"label key starts with dash", server("fs", map[string]string{"-team": "x"}), FieldErrors{{"metadata.labels.-team", badKey}}},
		{"label key with space", server("fs", map[string]string{"my team": "x"}), FieldErrors{{"metadata.labels.my team", badKey}}},
		{"label key too long", server("fs", map[string]string{strings.Repeat("k", 64): "x"}),
			FieldErrors{{"metadata.labels." + strings.Repeat("k", 64), badKey}}},
		{"empty label key", server("fs", map[string]string{"": "x"}), FieldErrors{{"metadata.labels.", badKey}}},
		{"empty label prefix", server("fs", map[string]string{"/team": "x"}),
			FieldErrors{{"metadata.labels./team", "the key prefix must be a DNS subdomain of at most 253 characters"}}},
		{"upper-case label prefix", server("fs", map[string]string{"Example.com/team": "x"}),
			FieldErrors{{"metadata.labels.Example.com/team", "the key prefix must be a DNS subdomain such as example.com"}}},
		{"empty name after prefix", server("fs", map[string]string{"example.com/": "x"}), FieldErrors{{"metadata.labels.example.com/", badKey}}},
		{"label value with space", server("fs", map[string]string{"team": "the infra"}), FieldErrors{{"metadata.labels.team", badValue}}},
		{"label value ends with dot", server("fs", map[string]string{"team": "infra."}), FieldErrors{{"metadata.labels.team", badValue}}},
		{"label value too long", server("fs", map[string]string{"team": strings.Repeat("v", 64)}), FieldErrors{{"metadata.labels.team", badValue}}},
		{"label problems in key order", server("fs", map[string]string{"b": "-", "a": "-"}),
			FieldErrors{{"metadata.labels.a", badValue}, {"metadata.labels.b", badValue}}},
		{"spec problems after metadata", &Object{Kind: "Server", Metadata: ObjectMeta{Name: "Fs"}, Spec: &ServerSpec{Command: "x", Replicas: new(11)}},
			FieldErrors{{"metadata.name", label}, {"spec.replicas", "must be from 0 to 10, not 11"}}},
		{"nil spec", &Object{Kind: "Server", Metadata: ObjectMeta{Name: "fs"}}, FieldErrors{{"spec", "is required"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.obj.Normalize()
			if diff := cmp.Diff(tt.want, problems(t, tt.obj.Validate())); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestObjectValidateKindAndVersion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		obj  *Object
		want FieldErrors
	}{
		{"unknown kind", &Object{Kind: "Widget", Metadata: ObjectMeta{Name: "w"}},
			FieldErrors{{"kind", `unknown kind "Widget"; known kinds: ` + knownKinds}}},
		{"lower-case kind", &Object{Kind: "server", Metadata: ObjectMeta{Name: "w"}, Spec: &ServerSpec{Command: "x"}},
			FieldErrors{{"kind", `unknown kind "server"; known kinds: ` + knownKinds}}},
		{"wrong apiVersion", &Object{APIVersion: "mcpctl/v2", Kind: "Server", Metadata: ObjectMeta{Name: "w"}, Spec: &ServerSpec{Command: "x"}},
			FieldErrors{{"apiVersion", `must be "mcpctl/v1" (or omitted), not "mcpctl/v2"`}}},
		{"omitted apiVersion", &Object{Kind: "Server", Metadata: ObjectMeta{Name: "w"}, Spec: &ServerSpec{Command: "x"}}, nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, problems(t, tt.obj.Validate())); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestObjectUnmarshalJSON(t *testing.T) {
	t.Parallel()
	var o Object
	// Lenient: an unknown field (as a newer mcpd may send) is ignored.
	in := `{"apiVersion":"mcpctl/v1","kind":"Secret","metadata":{"name":"gh","resourceVersion":"3"},"spec":{"data":{"token":null}},"extra":1}`
	if err := json.Unmarshal([]byte(in), &o); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	want := Object{APIVersion: APIVersion, Kind: "Secret", Metadata: ObjectMeta{Name: "gh", ResourceVersion: "3"},
		Spec: &SecretSpec{Data: map[string]*string{"token": nil}}}
	if diff := cmp.Diff(want, o); diff != "" {
		t.Errorf("Unmarshal (-want +got):\n%s", diff)
	}

	var noSpec Object
	if err := json.Unmarshal([]byte(`{"kind":"Project","metadata":{"name":"p"},"spec":null}`), &noSpec); err != nil {
		t.Fatalf("Unmarshal with a null spec: %v", err)
	}
	if diff := cmp.Diff(Spec(&ProjectSpec{}), noSpec.Spec); diff != "" {
		t.Errorf("null spec (-want +got):\n%s", diff)
	}

	for _, kind := range []string{"Widget", "server", ""} {
		var bad Object
		err := json.Unmarshal([]byte(`{"kind":"`+kind+`","spec":{}}`), &bad)
		want := `unknown kind "` + kind + `"; known kinds: ` + knownKinds
		if err == nil || err.Error() != want {
			t.Errorf("Unmarshal of kind %q = %v, want %q", kind, err, want)
		}
	}

	// A marshalled object reads back equal.
	orig := Object{APIVersion: APIVersion, Kind: "Server", Metadata: ObjectMeta{Name: "fs", Labels: map[string]string{"a": "b"}},
		Spec: &ServerSpec{Command: "x", Args: []string{"-v"}, Replicas: new(0)}}
	b, err := json.Marshal(orig)
	if err != nil {
		t.Fatal(err)
	}
	var back Object
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatalf("Unmarshal(%s): %v", b, err)
	}
	if diff := cmp.Diff(orig, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
}

func TestApplyRequestValidate(t *testing.T) {
	t.Parallel()
	one := []json.RawMessage{json.RawMessage(`{}`)}
	tests := []struct {
		name string
		req  ApplyRequest
		want FieldErrors
	}{
		{"defaults", ApplyRequest{Objects: one}, nil},
		{"update", ApplyRequest{Objects: one, OnConflict: OnConflictUpdate}, nil},
		{"skip", ApplyRequest{Objects: one, OnConflict: OnConflictSkip, DryRun: true}, nil},
		{"fail", ApplyRequest{Objects: one, OnConflict: OnConflictFail}, nil},
		{"at the limit", ApplyRequest{Objects: make([]json.RawMessage, MaxApplyObjects)}, nil},
		{"bad onConflict", ApplyRequest{Objects: one, OnConflict: "replace"},
			FieldErrors{{"onConflict", `must be update, skip or fail, not "replace"`}}},
		{"onConflict is case-sensitive", ApplyRequest{Objects: one, OnConflict: "Skip"},
			FieldErrors{{"onConflict", `must be update, skip or fail, not "Skip"`}}},
		{"no objects", ApplyRequest{}, FieldErrors{{"objects", "must hold at least one object"}}},
		{"empty objects", ApplyRequest{Objects: []json.RawMessage{}}, FieldErrors{{"objects", "must hold at least one object"}}},
		{"too many objects", ApplyRequest{Objects: make([]json.RawMessage, MaxApplyObjects+1)},
			FieldErrors{{"objects", "must hold at most 20000 objects; split the apply"}}},
		{"both", ApplyRequest{OnConflict: "x"}, FieldErrors{
			{"onConflict", `must be update, skip or fail, not "x"`},
			{"objects", "must hold at least one object"},
		}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, problems(t, tt.req.Validate())); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		path     string
		old, new any
		want     []Change
	}{
		{"equal", "spec", jsonValue(t, `{"a":1,"b":[1,2]}`), jsonValue(t, `{"b":[1,2],"a":1}`), nil},
		{"both nil", "spec", nil, nil, nil},
		{"scalar at the root", "", 1.0, 2.0, []Change{{Path: "", Old: json.RawMessage(`1`), New: json.RawMessage(`2`)}}},
		{"nested change", "spec",
			jsonValue(t, `{"healthCheck":{"interval":"30s","tool":"ping"},"command":"x"}`),
			jsonValue(t, `{"healthCheck":{"interval":"1m","tool":"ping"},"command":"x"}`),
			[]Change{{Path: "spec.healthCheck.interval", Old: json.RawMessage(`"30s"`), New: json.RawMessage(`"1m"`)}}},
		{"added and removed keys", "metadata.labels",
			jsonValue(t, `{"a":"1","b":"2"}`), jsonValue(t, `{"b":"2","c":"3"}`),
			[]Change{
				{Path: "metadata.labels.a", Old: json.RawMessage(`"1"`)},
				{Path: "metadata.labels.c", New: json.RawMessage(`"3"`)},
			}},
		{"lists compared whole", "spec",
			jsonValue(t, `{"args":["a","b","c"]}`), jsonValue(t, `{"args":["a","x","c"]}`),
			[]Change{{Path: "spec.args", Old: json.RawMessage(`["a","b","c"]`), New: json.RawMessage(`["a","x","c"]`)}}},
		{"list of objects compared whole", "spec",
			jsonValue(t, `{"env":[{"name":"A","value":"1"}]}`), jsonValue(t, `{"env":[{"name":"A","value":"2"}]}`),
			[]Change{{Path: "spec.env", Old: json.RawMessage(`[{"name":"A","value":"1"}]`), New: json.RawMessage(`[{"name":"A","value":"2"}]`)}}},
		{"object replaced by scalar", "spec",
			jsonValue(t, `{"tools":{"a":{}}}`), jsonValue(t, `{"tools":"none"}`),
			[]Change{{Path: "spec.tools", Old: json.RawMessage(`{"a":{}}`), New: json.RawMessage(`"none"`)}}},
		{"changes sorted by key", "",
			jsonValue(t, `{"z":1,"a":1,"m":{"y":1,"b":1}}`), jsonValue(t, `{"z":2,"a":2,"m":{"y":2,"b":2}}`),
			[]Change{
				{Path: "a", Old: json.RawMessage(`1`), New: json.RawMessage(`2`)},
				{Path: "m.b", Old: json.RawMessage(`1`), New: json.RawMessage(`2`)},
				{Path: "m.y", Old: json.RawMessage(`1`), New: json.RawMessage(`2`)},
				{Path: "z", Old: json.RawMessage(`1`), New: json.RawMessage(`2`)},
			}},
		{"typed specs", "spec",
			&ServerSpec{Command: "x", Args: []string{"a"}, Transport: TransportStdio},
			&ServerSpec{Command: "x", Args: []string{"a", "b"}, Replicas: new(2)},
			[]Change{
				{Path: "spec.args", Old: json.RawMessage(`["a"]`), New: json.RawMessage(`["a","b"]`)},
				{Path: "spec.replicas", New: json.RawMessage(`2`)},
				{Path: "spec.transport", Old: json.RawMessage(`"stdio"`)},
			}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, Diff(tt.path, tt.old, tt.new)); diff != "" {
			t.Errorf("%s: Diff (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestChangeString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		c    Change
		want string
	}{
		{Change{Path: "spec.replicas", New: json.RawMessage(`2`)}, "spec.replicas: + 2"},
		{Change{Path: "spec.replicas", Old: json.RawMessage(`2`)}, "spec.replicas: - 2"},
		{Change{Path: "spec.replicas", Old: json.RawMessage(`1`), New: json.RawMessage(`2`)}, "spec.replicas: 1 -> 2"},
	}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestMergePatch(t *testing.T) {
	t.Parallel()
	// The examples of RFC 7386 appendix A, and a few more.
	tests := []struct{ doc, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`["a","b"]`, `["c","d"]`, `["c","d"]`},
		{`{"a":"b"}`, `["c"]`, `["c"]`},
		{`{"a":"foo"}`, `null`, `null`},
		{`{"a":"foo"}`, `"bar"`, `"bar"`},
		{`{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{`[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{`null`, `{"a":1}`, `{"a":1}`},
		{`{"a":1}`, `{}`, `{"a":1}`},
		{`{"spec":{"replicas":1,"args":["x"]}}`, `{"spec":{"replicas":3}}`, `{"spec":{"replicas":3,"args":["x"]}}`},
	}
	for _, tt := range tests {
		doc, patch := jsonValue(t, tt.doc), jsonValue(t, tt.patch)
		got := MergePatch(doc, patch)
		if diff := cmp.Diff(jsonValue(t, tt.want), got); diff != "" {
			t.Errorf("MergePatch(%s, %s) (-want +got):\n%s", tt.doc, tt.patch, diff)
		}
		// Neither input is changed.
		if diff := cmp.Diff(jsonValue(t, tt.doc), doc); diff != "" {
			t.Errorf("MergePatch(%s, %s) changed the document (-before +after):\n%s", tt.doc, tt.patch, diff)
		}
		if diff := cmp.Diff(jsonValue(t, tt.patch), patch); diff != "" {
			t.Errorf("MergePatch(%s, %s) changed the patch (-before +after):\n%s", tt.doc, tt.patch, diff)
		}
	}
}
