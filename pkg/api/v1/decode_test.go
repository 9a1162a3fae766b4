package v1

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDecodeObjectKinds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		doc  string
		want *Object
	}{
		{"server", `{
			"apiVersion": "mcpctl/v1", "kind": "Server",
			"metadata": {"name": "github", "labels": {"team": "infra"}, "resourceVersion": "4"},
			"spec": {
				"description": "GitHub",
				"command": "npx", "args": ["-y", "@modelcontextprotocol/server-github"],
				"env": [
					{"name": "GITHUB_TOKEN", "secretRef": {"name": "github", "key": "token"}},
					{"name": "LOG", "value": "debug"},
					{"name": "EMPTY", "value": ""}
				],
				"replicas": 2, "runtime": "process", "sessionMode": "per-session",
				"healthCheck": {"tool": "ping", "arguments": {"n": 1, "deep": {"x": [true]}}, "interval": "1m", "timeout": "5s", "failureThreshold": 5}
			}}`,
			&Object{APIVersion: APIVersion, Kind: "Server",
				Metadata: ObjectMeta{Name: "github", Labels: map[string]string{"team": "infra"}, ResourceVersion: "4"},
				Spec: &ServerSpec{
					Description: "GitHub",
					Command:     "npx", Args: []string{"-y", "@modelcontextprotocol/server-github"},
					Env: []EnvVar{
						{Name: "GITHUB_TOKEN", SecretRef: &SecretKeyRef{Name: "github", Key: "token"}},
						{Name: "LOG", Value: new("debug")},
						{Name: "EMPTY", Value: new("")},
					},
					Replicas: new(2), Runtime: RuntimeProcess, SessionMode: SessionPerSession,
					HealthCheck: &HealthCheck{Tool: "ping", Arguments: map[string]any{"n": 1.0, "deep": map[string]any{"x": []any{true}}},
						Interval: "1m", Timeout: "5s", FailureThreshold: 5},
				}}},
		{"image server with replicas 0", `{"kind": "Server", "metadata": {"name": "img"},
			"spec": {"image": "ghcr.io/org/srv:1.0", "transport": "streamable-http", "port": 8080, "replicas": 0}}`,
			&Object{Kind: "Server", Metadata: ObjectMeta{Name: "img"},
				Spec: &ServerSpec{Image: "ghcr.io/org/srv:1.0", Transport: TransportStreamableHTTP, Port: 8080, Replicas: new(0)}}},
		{"secret", `{"kind": "Secret", "metadata": {"name": "github"}, "spec": {"data": {"token": "abc", "kept": null}}}`,
			&Object{Kind: "Secret", Metadata: ObjectMeta{Name: "github"},
				Spec: &SecretSpec{Data: map[string]*string{"token": new("abc"), "kept": nil}}}},
		{"template", `{"kind": "Template", "metadata": {"name": "remote"}, "spec": {
				"description": "a remote server",
				"inputs": [{"name": "URL", "required": true, "description": "where"}, {"name": "REGION", "default": "eu"}],
				"server": {"url": "${URL}", "transport": "sse"}}}`,
			&Object{Kind: "Template", Metadata: ObjectMeta{Name: "remote"}, Spec: &TemplateSpec{
				Description: "a remote server",
				Inputs:      []TemplateInput{{Name: "URL", Required: true, Description: "where"}, {Name: "REGION", Default: "eu"}},
				Server:      ServerSpec{URL: "${URL}", Transport: TransportSSE},
			}}},
		{"project", `{"kind": "Project", "metadata": {"name": "dev"}, "spec": {
				"servers": ["github", "fs"], "tools": {"github": {"allow": ["search"], "deny": ["delete_repo"]}},
				"separator": ".", "gated": true}}`,
			&Object{Kind: "Project", Metadata: ObjectMeta{Name: "dev"}, Spec: &ProjectSpec{
				Servers:   []string{"github", "fs"},
				Tools:     map[string]ToolFilter{"github": {Allow: []string{"search"}, Deny: []string{"delete_repo"}}},
				Separator: new("."), Gated: true,
			}}},
		{"project with empty separator", `{"kind": "Project", "metadata": {"name": "dev"}, "spec": {"servers": ["fs"], "separator": ""}}`,
			&Object{Kind: "Project", Metadata: ObjectMeta{Name: "dev"}, Spec: &ProjectSpec{Servers: []string{"fs"}, Separator: new("")}}},
		{"prompt", `{"kind": "Prompt", "metadata": {"name": "intro", "project": "dev"},
				"spec": {"text": "Be brief.", "priority": 7, "tags": ["style"]}}`,
			&Object{Kind: "Prompt", Metadata: ObjectMeta{Name: "intro", Project: "dev"},
				Spec: &PromptSpec{Text: "Be brief.", Priority: 7, Tags: []string{"style"}}}},
		{"empty spec", `{"kind": "Project", "metadata": {"name": "dev"}, "spec": {}}`,
			&Object{Kind: "Project", Metadata: ObjectMeta{Name: "dev"}, Spec: &ProjectSpec{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeObject([]byte(tt.doc))
			if err != nil {
				t.Fatalf("DecodeObject: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeObject (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeObjectErrors(t *testing.T) {
	t.Parallel()
	const notObject = ", not an object with kind, metadata and spec"
	tests := []struct {
		name string
		doc  string
		want FieldErrors
	}{
		// The document itself.
		{"malformed", `{"kind": `, FieldErrors{{"", "malformed JSON: unexpected EOF"}}},
		{"empty", ``, FieldErrors{{"", "malformed JSON: EOF"}}},
		{"list", `[{"kind": "Server"}]`, FieldErrors{{"", "the document is a list" + notObject}}},
		{"string", `"server"`, FieldErrors{{"", `the document is a string` + notObject}}},
		{"number", `42`, FieldErrors{{"", "the document is a number" + notObject}}},
		{"boolean", `true`, FieldErrors{{"", "the document is a boolean" + notObject}}},
		{"null", `null`, FieldErrors{{"", "the document is null" + notObject}}},

		// The kind.
		{"missing kind", `{"metadata": {"name": "a"}, "spec": {}}`, FieldErrors{{"kind", "is required; known kinds: " + knownKinds}}},
		{"empty kind", `{"kind": "", "spec": {}}`, FieldErrors{{"kind", "is required; known kinds: " + knownKinds}}},
		{"unknown kind", `{"kind": "Widget", "spec": {}}`, FieldErrors{{"kind", `unknown kind "Widget"; known kinds: ` + knownKinds}}},
		{"lower-case kind", `{"kind": "server", "spec": {}}`,
			FieldErrors{{"kind", `unknown kind "server" (did you mean Server?); known kinds: ` + knownKinds}}},
		{"plural kind", `{"kind": "prompts", "spec": {}}`,
			FieldErrors{{"kind", `unknown kind "prompts" (did you mean Prompt?); known kinds: ` + knownKinds}}},
		{"alias kind", `{"kind": "tpl", "spec": {}}`,
			FieldErrors{{"kind", `unknown kind "tpl" (did you mean Template?); known kinds: ` + knownKinds}}},

		// Required and unknown fields, with their full paths.
		{"missing spec", `{"kind": "Server", "metadata": {"name": "a"}}`, FieldErrors{{"spec", "is required"}}},
		{"unknown top-level field", `{"kind": "Server", "metdata": {"name": "a"}, "spec": {}}`,
			FieldErrors{{"metdata", "unknown field (did you mean metadata?)"}}},
		{"top-level field in the wrong case", `{"kind": "Server", "Spec": {}, "spec": {}}`,
			FieldErrors{{"Spec", "unknown field (did you mean spec?)"}}},
		{"unrelated top-level field", `{"kind": "Server", "owner": "me", "spec": {}}`,
			FieldErrors{{"owner", "unknown field; known fields: apiVersion, kind, metadata, spec"}}},
		{"unknown metadata field", `{"kind": "Server", "metadata": {"nmae": "a"}, "spec": {}}`,
			FieldErrors{{"metadata.nmae", "unknown field (did you mean name?)"}}},
		{"unrelated metadata field", `{"kind": "Server", "metadata": {"name": "a", "namespace": "x"}, "spec": {}}`,
			FieldErrors{{"metadata.namespace", "unknown field; known fields: createdAt, labels, name, project, resourceVersion, updatedAt"}}},
		{"unknown spec field", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"comand": "x"}}`,
			FieldErrors{{"spec.comand", "unknown field (did you mean command?)"}}},
		{"spec field in the wrong case", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"sessionmode": "shared"}}`,
			FieldErrors{{"spec.sessionmode", "unknown field (did you mean sessionMode?)"}}},
		{"field of another kind's spec", `{"kind": "Secret", "metadata": {"name": "a"}, "spec": {"command": "x"}}`,
			FieldErrors{{"spec.command", "unknown field; known fields: data"}}},
		{"unknown nested field", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "env": [
				{"name": "A", "value": "1"},
				{"name": "B", "secretReff": {"name": "s", "key": "k"}}]}}`,
			FieldErrors{{"spec.env[1].secretReff", "unknown field (did you mean secretRef?)"}}},
		{"unknown field deeper", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "env": [
				{"name": "B", "secretRef": {"name": "s", "kye": "k"}}]}}`,
			FieldErrors{{"spec.env[0].secretRef.kye", "unknown field (did you mean key?)"}}},
		{"unknown health check field", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "healthCheck": {"intervall": "1m"}}}`,
			FieldErrors{{"spec.healthCheck.intervall", "unknown field (did you mean interval?)"}}},
		{"unknown template server field", `{"kind": "Template", "metadata": {"name": "a"}, "spec": {"server": {"urll": "x"}}}`,
			FieldErrors{{"spec.server.urll", "unknown field (did you mean url?)"}}},
		{"unknown tool filter field", `{"kind": "Project", "metadata": {"name": "a"}, "spec": {"tools": {"gh": {"alow": []}}}}`,
			FieldErrors{{"spec.tools.gh.alow", "unknown field (did you mean allow?)"}}},

		// Wrong types, with their paths.
		{"replicas as a string", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "replicas": "3"}}`,
			FieldErrors{{"spec.replicas", `must be an integer, not a string`}}},
		{"replicas as a fraction", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "replicas": 1.5}}`,
			FieldErrors{{"spec.replicas", "must be an integer, not a number"}}},
		{"replicas as a float", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "replicas": 3.0}}`,
			FieldErrors{{"spec.replicas", "must be an integer, not a number"}}},
		{"replicas in exponent form", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "replicas": 1e1}}`,
			FieldErrors{{"spec.replicas", "must be an integer, not a number"}}},
		{"port beyond 2^53", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"image": "x", "port": 9007199254740993}}`,
			FieldErrors{{"spec.port", "must be an integer, not a number"}}},
		{"args as a string", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "args": "x"}}`,
			FieldErrors{{"spec.args", `must be a list, not a string`}}},
		{"arg as a number", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "args": ["-v", 1]}}`,
			FieldErrors{{"spec.args[1]", "must be a string, not a number"}}},
		{"a value is never shown", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "args": "` + strings.Repeat("y", 50) + `"}}`,
			FieldErrors{{"spec.args", `must be a list, not a string`}}},
		{"gated as a string", `{"kind": "Project", "metadata": {"name": "a"}, "spec": {"gated": "yes"}}`,
			FieldErrors{{"spec.gated", `must be true or false, not a string`}}},
		{"command as a boolean", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": false}}`,
			FieldErrors{{"spec.command", "must be a string, not a boolean"}}},
		{"env as an object", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "env": {"A": "1"}}}`,
			FieldErrors{{"spec.env", "must be a list, not an object"}}},
		{"env entry as a string", `{"kind": "Server", "metadata": {"name": "a"}, "spec": {"command": "x", "env": ["A=1"]}}`,
			FieldErrors{{"spec.env[0]", `must be an object, not a string`}}},
		{"spec as a list", `{"kind": "Server", "metadata": {"name": "a"}, "spec": []}`,
			FieldErrors{{"spec", "must be an object, not a list"}}},
		{"metadata as a string", `{"kind": "Server", "metadata": "a", "spec": {}}`,
			FieldErrors{{"metadata", `must be an object, not a string`}}},
		{"apiVersion as a number", `{"apiVersion": 1, "kind": "Server", "metadata": {"name": "a"}, "spec": {}}`,
			FieldErrors{{"apiVersion", "must be a string, not a number"}}},
		{"label value as a number", `{"kind": "Server", "metadata": {"name": "a", "labels": {"tier": 1}}, "spec": {}}`,
			FieldErrors{{"metadata.labels.tier", "must be a string, not a number"}}},
		{"secret value as a number", `{"kind": "Secret", "metadata": {"name": "a"}, "spec": {"data": {"pin": 1234}}}`,
			FieldErrors{{"spec.data.pin", "must be a string, not a number"}}},
		{"tool filter as a list", `{"kind": "Project", "metadata": {"name": "a"}, "spec": {"tools": {"gh": ["x"]}}}`,
			FieldErrors{{"spec.tools.gh", "must be an object, not a list"}}},
		{"priority as a string", `{"kind": "Prompt", "metadata": {"name": "a", "project": "p"}, "spec": {"text": "t", "priority": "high"}}`,
			FieldErrors{{"spec.priority", `must be an integer, not a string`}}},
		{"createdAt as a number", `{"kind": "Server", "metadata": {"name": "a", "createdAt": 1767225600}, "spec": {}}`,
			FieldErrors{{"metadata.createdAt", "must be a string, not a number"}}},
		{"updatedAt as an object", `{"kind": "Server", "metadata": {"name": "a", "updatedAt": {}}, "spec": {}}`,
			FieldErrors{{"metadata.updatedAt", "must be a string, not an object"}}},

		// Every problem is reported, in key order.
		{"several problems", `{"kind": "Server", "metadata": {"name": 1, "labelz": {}}, "spec": {"replicas": "1", "args": {}, "zzz": 1}}`,
			FieldErrors{
				{"metadata.labelz", "unknown field (did you mean labels?)"},
				{"metadata.name", "must be a string, not a number"},
				{"spec.args", "must be a list, not an object"},
				{"spec.replicas", `must be an integer, not a string`},
				{"spec.zzz", "unknown field; known fields: args, command, description, env, healthCheck, image, port, replicas, resources, runtime, sessionMode, transport, url"},
			}},
		{"missing spec and unknown field", `{"kind": "Server", "metadata": {"name": "a"}, "sepc": {}}`,
			FieldErrors{{"spec", "is required"}, {"sepc", "unknown field (did you mean spec?)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			obj, err := DecodeObject([]byte(tt.doc))
			if obj != nil {
				t.Errorf("DecodeObject returned an object with an error: %+v", obj)
			}
			if err == nil {
				t.Fatal("DecodeObject succeeded, want an error")
			}
			if diff := cmp.Diff(tt.want, problems(t, err)); diff != "" {
				t.Errorf("DecodeObject problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDecodeObjectStatusIgnored(t *testing.T) {
	t.Parallel()
	const spec = `"kind": "Server", "metadata": {"name": "fs"}, "spec": {"command": "mcp-fs"}`
	without, err := DecodeObject([]byte(`{` + spec + `}`))
	if err != nil {
		t.Fatal(err)
	}
	with, err := DecodeObject([]byte(`{` + spec + `, "status": {"phase": "Running", "instances": [{"id": 1}], "whatever": null}}`))
	if err != nil {
		t.Fatalf("DecodeObject with status: %v", err)
	}
	if diff := cmp.Diff(without, with); diff != "" {
		t.Errorf("status changed the object (-without +with):\n%s", diff)
	}
	// Even a status of an unexpected shape is not looked at.
	if _, err := DecodeObject([]byte(`{` + spec + `, "status": "anything"}`)); err != nil {
		t.Errorf("DecodeObject with a string status: %v", err)
	}
}

func TestDecodeObjectNulls(t *testing.T) {
	t.Parallel()
	doc := `{"apiVersion": null, "kind": "Server",
		"metadata": {"name": "fs", "project": null, "labels": null, "createdAt": null, "resourceVersion": null},
		"spec": {"command": "mcp-fs", "description": null, "args": null, "replicas": null, "runtime": null,
			"env": [{"name": "A", "value": null, "secretRef": {"name": "s", "key": "k"}}],
			"healthCheck": null, "transport": null, "port": null}}`
	got, err := DecodeObject([]byte(doc))
	if err != nil {
		t.Fatalf("DecodeObject: %v", err)
	}
	want := &Object{Kind: "Server", Metadata: ObjectMeta{Name: "fs"}, Spec: &ServerSpec{
		Command: "mcp-fs",
		Env:     []EnvVar{{Name: "A", SecretRef: &SecretKeyRef{Name: "s", Key: "k"}}},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeObject (-want +got):\n%s", diff)
	}
	// replicas: null is unset, so the default applies.
	got.Normalize()
	if r := got.Spec.(*ServerSpec).Replicas; r == nil || *r != 1 {
		t.Errorf("replicas after Normalize = %v, want 1", r)
	}

	// A null spec decodes to the kind's empty spec.
	nullSpec, err := DecodeObject([]byte(`{"kind": "Secret", "metadata": {"name": "s"}, "spec": null}`))
	if err != nil {
		t.Fatalf("DecodeObject with a null spec: %v", err)
	}
	if diff := cmp.Diff(Spec(&SecretSpec{}), nullSpec.Spec); diff != "" {
		t.Errorf("null spec (-want +got):\n%s", diff)
	}
}

func TestDecodeObjectTimestamps(t *testing.T) {
	t.Parallel()
	got, err := DecodeObject([]byte(`{"kind": "Server",
		"metadata": {"name": "fs", "createdAt": "2026-01-02T03:04:05Z", "updatedAt": "2026-02-03T04:05:06.5+01:00"},
		"spec": {"command": "x"}}`))
	if err != nil {
		t.Fatalf("DecodeObject: %v", err)
	}
	wantCreated := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	wantUpdated := time.Date(2026, 2, 3, 3, 5, 6, 5e8, time.UTC)
	if c := got.Metadata.CreatedAt; c == nil || !c.Equal(wantCreated) {
		t.Errorf("createdAt = %v, want %v", c, wantCreated)
	}
	if u := got.Metadata.UpdatedAt; u == nil || !u.Equal(wantUpdated) {
		t.Errorf("updatedAt = %v, want %v", u, wantUpdated)
	}

	// A string that is not a time is refused too.
	if obj, err := DecodeObject([]byte(`{"kind": "Server", "metadata": {"name": "fs", "createdAt": "yesterday"}, "spec": {}}`)); err == nil {
		t.Errorf("DecodeObject with createdAt \"yesterday\" = %+v, want an error", obj)
	} else {
		problems(t, err) // a *ValidationError
	}
}

// TestDecodeValue decodes documents parsed elsewhere (as from YAML), where
// numbers are float64 and not json.Number.
func TestDecodeValue(t *testing.T) {
	t.Parallel()
	doc := map[string]any{
		"kind":     "Server",
		"metadata": map[string]any{"name": "img", "labels": map[string]any{"a": "b"}},
		"spec": map[string]any{
			"image": "ghcr.io/x/y:1", "port": float64(8080), "transport": "sse", "replicas": float64(3),
			"args": []any{"--verbose"},
		},
		"status": map[string]any{"phase": "Running"},
	}
	got, err := DecodeValue(doc)
	if err != nil {
		t.Fatalf("DecodeValue: %v", err)
	}
	want := &Object{Kind: "Server", Metadata: ObjectMeta{Name: "img", Labels: map[string]string{"a": "b"}},
		Spec: &ServerSpec{Image: "ghcr.io/x/y:1", Port: 8080, Transport: TransportSSE, Replicas: new(3), Args: []string{"--verbose"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DecodeValue (-want +got):\n%s", diff)
	}

	bad := map[string]any{
		"kind":     "Server",
		"metadata": map[string]any{"name": "img"},
		"spec":     map[string]any{"image": "x", "replicas": 2.5, "port": "80"},
	}
	_, err = DecodeValue(bad)
	want2 := FieldErrors{
		{"spec.port", `must be an integer, not a string`},
		{"spec.replicas", "must be an integer, not a number"},
	}
	if diff := cmp.Diff(want2, problems(t, err)); diff != "" {
		t.Errorf("DecodeValue problems (-want +got):\n%s", diff)
	}

	for _, v := range []any{nil, []any{}, "x", 1.0, map[string]string{"kind": "Server"}} {
		if _, err := DecodeValue(v); err == nil {
			t.Errorf("DecodeValue(%#v) succeeded, want an error", v)
		} else if fe := problems(t, err); len(fe) != 1 || fe[0].Field != "" {
			t.Errorf("DecodeValue(%#v) problems = %v, want one about the document", v, fe)
		}
	}
}

// TestDecodeObjectThenValidate checks that decoding and validation fit
// together: a decoded document normalizes to a valid object, and the
// marshalled object decodes strictly back to itself.
func TestDecodeObjectThenValidate(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{"kind": "Server", "metadata": {"name": "fs"}, "spec": {"command": "mcp-fs", "healthCheck": {}}}`,
		`{"kind": "Server", "metadata": {"name": "remote"}, "spec": {"url": "https://mcp.example.com/mcp"}}`,
		`{"kind": "Secret", "metadata": {"name": "gh"}, "spec": {"data": {"token": "x"}}}`,
		`{"kind": "Template", "metadata": {"name": "t"}, "spec": {"inputs": [{"name": "TOKEN"}], "server": {"command": "x", "args": ["${TOKEN}"]}}}`,
		`{"kind": "Project", "metadata": {"name": "dev"}, "spec": {"servers": ["fs"]}}`,
		`{"kind": "Prompt", "metadata": {"name": "p", "project": "dev"}, "spec": {"text": "hi"}}`,
	}
	for _, doc := range docs {
		obj, err := DecodeObject([]byte(doc))
		if err != nil {
			t.Errorf("DecodeObject(%s): %v", doc, err)
			continue
		}
		obj.Normalize()
		if err := obj.Validate(); err != nil {
			t.Errorf("Validate(%s): %v", doc, err)
		}
		b, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeObject(b)
		if err != nil {
			t.Errorf("DecodeObject of the marshalled %s: %v", b, err)
			continue
		}
		if diff := cmp.Diff(obj, back); diff != "" {
			t.Errorf("round trip of %s (-want +got):\n%s", doc, diff)
		}
	}
}

func TestEditDistance(t *testing.T) {
	t.Parallel()
	tests := []struct{ a, b string }{
		{"", ""}, {"abc", ""}, {"", "abc"}, {"kitten", "sitting"}, {"name", "nmae"}, {"same", "same"},
	}
	want := []int{0, 3, 3, 3, 2, 0}
	for i, tt := range tests {
		if got := editDistance(tt.a, tt.b); got != want[i] {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, want[i])
		}
	}
}
