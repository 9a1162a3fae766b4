package v1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// validate runs s.Validate and returns its problems.
func validate(s Spec) FieldErrors {
	var fe FieldErrors
	s.Validate(&fe)
	return fe
}

func TestServerSpecDefault(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   ServerSpec
		want ServerSpec
	}{
		{"command",
			ServerSpec{Command: "mcp-fs", Args: []string{"/data"}},
			ServerSpec{Command: "mcp-fs", Args: []string{"/data"}, Transport: TransportStdio, Runtime: RuntimeProcess,
				Replicas: new(1), SessionMode: SessionShared}},
		{"url",
			ServerSpec{URL: "https://mcp.example.com/mcp"},
			ServerSpec{URL: "https://mcp.example.com/mcp", Transport: TransportStreamableHTTP, SessionMode: SessionShared}},
		{"url over sse",
			ServerSpec{URL: "https://mcp.example.com/sse", Transport: TransportSSE},
			ServerSpec{URL: "https://mcp.example.com/sse", Transport: TransportSSE, SessionMode: SessionShared}},
		{"image",
			ServerSpec{Image: "ghcr.io/org/srv:1"},
			ServerSpec{Image: "ghcr.io/org/srv:1", Transport: TransportStdio, Runtime: RuntimeDocker,
				Replicas: new(1), SessionMode: SessionShared}},
		{"image on kubernetes over http",
			ServerSpec{Image: "srv", Transport: TransportStreamableHTTP, Port: 8080, Runtime: RuntimeKubernetes},
			ServerSpec{Image: "srv", Transport: TransportStreamableHTTP, Port: 8080, Runtime: RuntimeKubernetes,
				Replicas: new(1), SessionMode: SessionShared}},
		{"set values are kept",
			ServerSpec{Command: "x", Replicas: new(0), SessionMode: SessionPerSession},
			ServerSpec{Command: "x", Transport: TransportStdio, Runtime: RuntimeProcess, Replicas: new(0), SessionMode: SessionPerSession}},
		{"empty health check",
			ServerSpec{Command: "x", HealthCheck: &HealthCheck{}},
			ServerSpec{Command: "x", Transport: TransportStdio, Runtime: RuntimeProcess, Replicas: new(1), SessionMode: SessionShared,
				HealthCheck: &HealthCheck{Interval: "30s", Timeout: "10s", FailureThreshold: 3}}},
		{"partial health check",
			ServerSpec{Command: "x", HealthCheck: &HealthCheck{Tool: "ping", Interval: "5s", FailureThreshold: 1}},
			ServerSpec{Command: "x", Transport: TransportStdio, Runtime: RuntimeProcess, Replicas: new(1), SessionMode: SessionShared,
				HealthCheck: &HealthCheck{Tool: "ping", Interval: "5s", Timeout: "5s", FailureThreshold: 1}}},
		{"no source",
			ServerSpec{},
			ServerSpec{Transport: TransportStdio, Replicas: new(1), SessionMode: SessionShared}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := tt.in
			got.Default()
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Default (-want +got):\n%s", diff)
			}
			// Default is idempotent: twice is once.
			twice := got
			twice.Default()
			if diff := cmp.Diff(got, twice); diff != "" {
				t.Errorf("second Default changed the spec (-once +twice):\n%s", diff)
			}
		})
	}
}

// TestSpecDefaultIdempotent applies Default twice to specs of every kind.
func TestSpecDefaultIdempotent(t *testing.T) {
	t.Parallel()
	specs := map[string]func() Spec{
		"server":   func() Spec { return &ServerSpec{Image: "x", HealthCheck: &HealthCheck{}} },
		"template": func() Spec { return &TemplateSpec{Server: ServerSpec{URL: "${U}"}} },
		"project":  func() Spec { return &ProjectSpec{Servers: []string{"a"}} },
		"prompt":   func() Spec { return &PromptSpec{Text: "t"} },
		"secret":   func() Spec { return &SecretSpec{Data: map[string]*string{"k": nil}} },
	}
	for name, newSpec := range specs {
		once, twice := newSpec(), newSpec()
		once.Default()
		twice.Default()
		twice.Default()
		if diff := cmp.Diff(once, twice); diff != "" {
			t.Errorf("%s: Default twice != once (-once +twice):\n%s", name, diff)
		}
	}
}

func TestServerSpecValidate(t *testing.T) {
	t.Parallel()
	const envName = "must be an environment variable name: letters, digits and '_', not starting with a digit"
	const badURL = "must be an http or https URL such as https://mcp.example.com/mcp"
	const badPort = "is the container port of an image serving streamable-http or sse: 1 to 65535"
	tests := []struct {
		name string
		spec ServerSpec
		want FieldErrors
	}{
		// Valid specs, defaulted or not.
		{"command", ServerSpec{Command: "mcp-fs", Args: []string{"/data"}}, nil},
		{"command defaulted", ServerSpec{Command: "mcp-fs", Transport: TransportStdio, Runtime: RuntimeProcess, Replicas: new(1), SessionMode: SessionShared}, nil},
		{"replicas 0", ServerSpec{Command: "x", Replicas: new(0)}, nil},
		{"replicas 10", ServerSpec{Command: "x", Replicas: new(10)}, nil},
		{"image over stdio", ServerSpec{Image: "ghcr.io/org/srv:1.0", Runtime: RuntimeDocker}, nil},
		{"image over http", ServerSpec{Image: "srv", Transport: TransportStreamableHTTP, Port: 8080, Runtime: RuntimeKubernetes}, nil},
		{"image over sse", ServerSpec{Image: "srv", Transport: TransportSSE, Port: 65535}, nil},
		{"url", ServerSpec{URL: "https://mcp.example.com/mcp"}, nil},
		{"http url over sse", ServerSpec{URL: "http://localhost:8080/sse", Transport: TransportSSE, SessionMode: SessionPerSession}, nil},
		{"env", ServerSpec{Command: "x", Env: []EnvVar{
			{Name: "A", Value: new("")},
			{Name: "_b2", SecretRef: &SecretKeyRef{Name: "gh", Key: "tls.crt"}},
		}}, nil},
		{"health check", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Tool: "ping", Arguments: map[string]any{"a": 1},
			Interval: "1h", Timeout: "1h", FailureThreshold: 100}}, nil},
		{"health check minimums", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Interval: "1s", Timeout: "100ms", FailureThreshold: 1}}, nil},
		{"failureThreshold 0 means the default", ServerSpec{Command: "x", HealthCheck: &HealthCheck{FailureThreshold: 0}}, nil},

		// Where the server comes from.
		{"no source", ServerSpec{}, FieldErrors{{"spec", "set exactly one of command (with args), image or url"}}},
		{"command and image", ServerSpec{Command: "x", Image: "y"},
			FieldErrors{{"spec.image", "command and image are both set; a server has exactly one of command (with args), image or url"}}},
		{"image and url", ServerSpec{Image: "y", URL: "https://h/"},
			FieldErrors{{"spec.url", "image and url are both set; a server has exactly one of command (with args), image or url"}}},

		// Replicas.
		{"replicas 11", ServerSpec{Command: "x", Replicas: new(11)}, FieldErrors{{"spec.replicas", "must be from 0 to 10, not 11"}}},
		{"replicas -1", ServerSpec{Command: "x", Replicas: new(-1)}, FieldErrors{{"spec.replicas", "must be from 0 to 10, not -1"}}},
		{"url with replicas", ServerSpec{URL: "https://h/", Replicas: new(1)},
			FieldErrors{{"spec.replicas", "a url server runs elsewhere; remove replicas"}}},

		// Transport and port.
		{"url over stdio", ServerSpec{URL: "https://h/mcp", Transport: TransportStdio},
			FieldErrors{{"spec.transport", "a url server speaks streamable-http or sse, not stdio"}}},
		{"command over sse", ServerSpec{Command: "x", Transport: TransportSSE},
			FieldErrors{{"spec.transport", "a command server speaks stdio; use an image or url for sse"}}},
		{"command over http", ServerSpec{Command: "x", Transport: TransportStreamableHTTP},
			FieldErrors{{"spec.transport", "a command server speaks stdio; use an image or url for streamable-http"}}},
		{"image over http without port", ServerSpec{Image: "srv", Transport: TransportStreamableHTTP},
			FieldErrors{{"spec.port", "an image serving streamable-http needs the container port it listens on"}}},
		{"unknown transport", ServerSpec{URL: "https://h/", Transport: "grpc"},
			FieldErrors{{"spec.transport", `must be stdio, streamable-http or sse, not "grpc"`}}},
		{"transport is case-sensitive", ServerSpec{URL: "https://h/", Transport: "SSE"},
			FieldErrors{{"spec.transport", `must be stdio, streamable-http or sse, not "SSE"`}}},
		{"port with a command", ServerSpec{Command: "x", Port: 8080}, FieldErrors{{"spec.port", badPort}}},
		{"port with stdio image", ServerSpec{Image: "x", Port: 8080}, FieldErrors{{"spec.port", badPort}}},
		{"port too large", ServerSpec{Image: "x", Transport: TransportSSE, Port: 65536}, FieldErrors{{"spec.port", badPort}}},
		{"negative port", ServerSpec{Image: "x", Transport: TransportSSE, Port: -1}, FieldErrors{{"spec.port", badPort}}},

		// Args, image and url.
		{"url with args", ServerSpec{URL: "https://h/", Args: []string{"-v"}}, FieldErrors{{"spec.args", "a url server takes no args"}}},
		{"NUL in an arg", ServerSpec{Command: "x", Args: []string{"ok", "a\x00b"}}, FieldErrors{{"spec.args[1]", "must not contain a NUL byte"}}},
		{"image with a space", ServerSpec{Image: "org/srv latest"},
			FieldErrors{{"spec.image", "must be an image reference such as ghcr.io/org/server:1.0, without spaces"}}},
		{"ftp url", ServerSpec{URL: "ftp://example.com/mcp"}, FieldErrors{{"spec.url", badURL}}},
		{"url without host", ServerSpec{URL: "https:///mcp"}, FieldErrors{{"spec.url", badURL}}},
		{"relative url", ServerSpec{URL: "/mcp"}, FieldErrors{{"spec.url", badURL}}},
		{"unparsable url", ServerSpec{URL: "http://[::1"}, FieldErrors{{"spec.url", badURL}}},
		{"url with a placeholder", ServerSpec{URL: "${URL}"}, FieldErrors{{"spec.url", badURL}}},
		{"long description", ServerSpec{Command: "x", Description: strings.Repeat("d", 1025)},
			FieldErrors{{"spec.description", "must be at most 1024 characters"}}},

		// Environment.
		{"duplicate env names", ServerSpec{Command: "x", Env: []EnvVar{
			{Name: "A", Value: new("1")}, {Name: "B", Value: new("2")}, {Name: "A", Value: new("3")},
		}}, FieldErrors{{"spec.env[2].name", "A is set twice"}}},
		{"env with value and secretRef", ServerSpec{Command: "x", Env: []EnvVar{
			{Name: "A", Value: new("1"), SecretRef: &SecretKeyRef{Name: "s", Key: "k"}},
		}}, FieldErrors{{"spec.env[0]", "set value or secretRef, not both"}}},
		{"env with neither", ServerSpec{Command: "x", Env: []EnvVar{{Name: "A", Value: new("1")}, {Name: "B"}}},
			FieldErrors{{"spec.env[1]", "set value or secretRef"}}},
		{"env name starts with a digit", ServerSpec{Command: "x", Env: []EnvVar{{Name: "1A", Value: new("1")}}},
			FieldErrors{{"spec.env[0].name", envName}}},
		{"env name with a dash", ServerSpec{Command: "x", Env: []EnvVar{{Name: "MY-VAR", Value: new("1")}}},
			FieldErrors{{"spec.env[0].name", envName}}},
		{"empty env name", ServerSpec{Command: "x", Env: []EnvVar{{Name: "", Value: new("1")}}},
			FieldErrors{{"spec.env[0].name", envName}}},
		{"bad secretRef key", ServerSpec{Command: "x", Env: []EnvVar{{Name: "A", SecretRef: &SecretKeyRef{Name: "s", Key: "a key"}}}},
			FieldErrors{{"spec.env[0].secretRef.key", "must be 1 to 253 letters, digits, '-', '_' or '.'"}}},
		{"empty secretRef key", ServerSpec{Command: "x", Env: []EnvVar{{Name: "A", SecretRef: &SecretKeyRef{Name: "s"}}}},
			FieldErrors{{"spec.env[0].secretRef.key", "must be 1 to 253 letters, digits, '-', '_' or '.'"}}},
		{"bad secretRef name", ServerSpec{Command: "x", Env: []EnvVar{{Name: "A", SecretRef: &SecretKeyRef{Name: "My_Secret", Key: "k"}}}},
			FieldErrors{{"spec.env[0].secretRef.name", `must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. "my-server-1")`}}},

		// Runtime and session mode.
		{"command on docker", ServerSpec{Command: "x", Runtime: RuntimeDocker},
			FieldErrors{{"spec.runtime", "a command runs on the process runtime; use image to run on docker"}}},
		{"command on kubernetes", ServerSpec{Command: "x", Runtime: RuntimeKubernetes},
			FieldErrors{{"spec.runtime", "a command runs on the process runtime; use image to run on kubernetes"}}},
		{"image on process", ServerSpec{Image: "x", Runtime: RuntimeProcess},
			FieldErrors{{"spec.runtime", "an image runs on docker or kubernetes, not process"}}},
		{"unknown runtime", ServerSpec{Image: "x", Runtime: "podman"},
			FieldErrors{{"spec.runtime", `must be process, docker or kubernetes, not "podman"`}}},
		{"url with runtime", ServerSpec{URL: "https://h/", Runtime: RuntimeDocker},
			FieldErrors{{"spec.runtime", "a url server runs elsewhere; remove runtime"}}},
		{"unknown session mode", ServerSpec{Command: "x", SessionMode: "exclusive"},
			FieldErrors{{"spec.sessionMode", `must be shared or per-session, not "exclusive"`}}},

		// Health check.
		{"bad interval", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Interval: "often"}},
			FieldErrors{{"spec.healthCheck.interval", `must be a duration such as 30s or 1m, not "often"`}}},
		{"interval without unit", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Interval: "30"}},
			FieldErrors{{"spec.healthCheck.interval", `must be a duration such as 30s or 1m, not "30"`}}},
		{"interval too short", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Interval: "500ms"}},
			FieldErrors{{"spec.healthCheck.interval", "must be from 1s to 1h0m0s, not 500ms"}}},
		{"interval too long", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Interval: "61m"}},
			FieldErrors{{"spec.healthCheck.interval", "must be from 1s to 1h0m0s, not 61m"}}},
		{"timeout too short", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Timeout: "10ms"}},
			FieldErrors{{"spec.healthCheck.timeout", "must be from 100ms to 1h0m0s, not 10ms"}}},
		{"timeout longer than interval", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Interval: "5s", Timeout: "10s"}},
			FieldErrors{{"spec.healthCheck.timeout", "must not be longer than interval (5s)"}}},
		// The default timeout (10s) shrinks to a shorter interval.
		{"short interval without timeout", func() ServerSpec {
			s := ServerSpec{Command: "x", HealthCheck: &HealthCheck{Interval: "2s"}}
			s.Default()
			return s
		}(), nil},
		{"failureThreshold 101", ServerSpec{Command: "x", HealthCheck: &HealthCheck{FailureThreshold: 101}},
			FieldErrors{{"spec.healthCheck.failureThreshold", "must be from 1 to 100, not 101"}}},
		{"failureThreshold -1", ServerSpec{Command: "x", HealthCheck: &HealthCheck{FailureThreshold: -1}},
			FieldErrors{{"spec.healthCheck.failureThreshold", "must be from 1 to 100, not -1"}}},
		{"arguments without tool", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Arguments: map[string]any{"a": 1}}},
			FieldErrors{{"spec.healthCheck.arguments", "are the arguments of tool; set tool too"}}},
		{"long tool name", ServerSpec{Command: "x", HealthCheck: &HealthCheck{Tool: strings.Repeat("t", 129)}},
			FieldErrors{{"spec.healthCheck.tool", "must be at most 128 characters"}}},

		// Several problems at once, in field order.
		{"several", ServerSpec{Command: "x", Transport: TransportSSE, Replicas: new(20), SessionMode: "x",
			Env: []EnvVar{{Name: "A"}}},
			FieldErrors{
				{"spec.transport", "a command server speaks stdio; use an image or url for sse"},
				{"spec.env[0]", "set value or secretRef"},
				{"spec.replicas", "must be from 0 to 10, not 20"},
				{"spec.sessionMode", `must be shared or per-session, not "x"`},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.spec
			if diff := cmp.Diff(tt.want, validate(&s)); diff != "" {
				t.Errorf("Validate (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServerSpecSourceAndDuration(t *testing.T) {
	t.Parallel()
	sources := []struct {
		spec ServerSpec
		want string
	}{
		{ServerSpec{Command: "npx", Args: []string{"-y", "pkg"}}, "npx -y pkg"},
		{ServerSpec{Command: "mcp-fs"}, "mcp-fs"},
		{ServerSpec{Image: "ghcr.io/x:1", Args: []string{"--v"}}, "ghcr.io/x:1"},
		{ServerSpec{URL: "https://h/mcp"}, "https://h/mcp"},
	}
	for _, tt := range sources {
		if got := tt.spec.Source(); got != tt.want {
			t.Errorf("Source() = %q, want %q", got, tt.want)
		}
	}
	if got := Duration("1m30s").Parse().String(); got != "1m30s" {
		t.Errorf(`Duration("1m30s").Parse() = %s`, got)
	}
	if got := Duration("").Parse(); got != 0 {
		t.Errorf(`Duration("").Parse() = %s, want 0`, got)
	}
}

func TestServerSpecReferences(t *testing.T) {
	t.Parallel()
	s := &ServerSpec{Command: "x", Env: []EnvVar{
		{Name: "A", SecretRef: &SecretKeyRef{Name: "gh", Key: "token"}},
		{Name: "B", Value: new("b")},
		{Name: "C", SecretRef: &SecretKeyRef{Name: "db", Key: "password"}},
	}}
	want := []Ref{
		{Kind: "Secret", Name: "gh", Key: "token", Field: "spec.env[0].secretRef"},
		{Kind: "Secret", Name: "db", Key: "password", Field: "spec.env[2].secretRef"},
	}
	if diff := cmp.Diff(want, s.References()); diff != "" {
		t.Errorf("References (-want +got):\n%s", diff)
	}
	if got := (&ServerSpec{Command: "x"}).References(); got != nil {
		t.Errorf("References of a spec without secrets = %v, want nil", got)
	}
}

func TestSecretSpecValidate(t *testing.T) {
	t.Parallel()
	const keyRule = "the key must be 1 to 253 letters, digits, '-', '_' or '.'"
	big := strings.Repeat("x", MaxSecretValue)
	tests := []struct {
		name string
		data map[string]*string
		want FieldErrors
	}{
		{"empty", nil, nil},
		{"good keys", map[string]*string{"token": new("t"), "API_KEY": new(""), "tls.crt": nil, "a-b": new("x"), "-.": new("x")}, nil},
		{"longest key", map[string]*string{strings.Repeat("k", 253): new("x")}, nil},
		{"value at the limit", map[string]*string{"k": &big}, nil},
		{"key with a space", map[string]*string{"my key": new("x")}, FieldErrors{{"spec.data.my key", keyRule}}},
		{"key with a slash", map[string]*string{"a/b": new("x")}, FieldErrors{{"spec.data.a/b", keyRule}}},
		{"empty key", map[string]*string{"": new("x")}, FieldErrors{{"spec.data.", keyRule}}},
		{"key too long", map[string]*string{strings.Repeat("k", 254): new("x")},
			FieldErrors{{"spec.data." + strings.Repeat("k", 254), keyRule}}},
		{"value over 64 KiB", map[string]*string{"b": new(big + "x"), "a": new("small")},
			FieldErrors{{"spec.data.b", "the value is larger than 64 KiB"}}},
		{"problems in key order", map[string]*string{"z z": new("x"), "a a": new(big + "x")}, FieldErrors{
			{"spec.data.a a", keyRule},
			{"spec.data.a a", "the value is larger than 64 KiB"},
			{"spec.data.z z", keyRule},
		}},
	}
	for _, tt := range tests {
		s := &SecretSpec{Data: tt.data}
		if diff := cmp.Diff(tt.want, validate(s)); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestSecretSpecRedacted(t *testing.T) {
	t.Parallel()
	s := &SecretSpec{Data: map[string]*string{"token": new("t0k"), "user": new("me"), "empty": nil}}
	got := s.Redacted()
	want := &SecretSpec{Data: map[string]*string{"token": nil, "user": nil, "empty": nil}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Redacted (-want +got):\n%s", diff)
	}
	// The original keeps its values.
	if v := s.Data["token"]; v == nil || *v != "t0k" {
		t.Errorf("Redacted changed the original: token = %v", v)
	}
	got.Data["new"] = new("x")
	if _, ok := s.Data["new"]; ok {
		t.Error("Redacted shares its map with the original")
	}
	if diff := cmp.Diff([]string{"empty", "token", "user"}, s.Keys()); diff != "" {
		t.Errorf("Keys (-want +got):\n%s", diff)
	}

	if diff := cmp.Diff(&SecretSpec{}, (&SecretSpec{}).Redacted()); diff != "" {
		t.Errorf("Redacted of an empty secret (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(&SecretSpec{Data: map[string]*string{}}, (&SecretSpec{Data: map[string]*string{}}).Redacted()); diff != "" {
		t.Errorf("Redacted of an empty map (-want +got):\n%s", diff)
	}
	if refs := s.References(); refs != nil {
		t.Errorf("References = %v, want nil", refs)
	}
	before := &SecretSpec{Data: map[string]*string{"k": new("v")}}
	before.Default()
	if diff := cmp.Diff(&SecretSpec{Data: map[string]*string{"k": new("v")}}, before); diff != "" {
		t.Errorf("Default changed a secret (-want +got):\n%s", diff)
	}
}

func TestTemplateSpecValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec TemplateSpec
		want FieldErrors
	}{
		{"placeholders declared", TemplateSpec{
			Inputs: []TemplateInput{{Name: "TOKEN", Required: true}, {Name: "DIR", Default: "/data"}},
			Server: ServerSpec{Command: "mcp-fs", Args: []string{"${DIR}", "--token=${TOKEN}"},
				Env: []EnvVar{{Name: "T", Value: new("${TOKEN}")}}},
		}, nil},
		{"url placeholder", TemplateSpec{
			Inputs: []TemplateInput{{Name: "HOST"}},
			Server: ServerSpec{URL: "https://${HOST}/mcp"},
		}, nil},
		{"whole url placeholder", TemplateSpec{
			Inputs: []TemplateInput{{Name: "URL"}},
			Server: ServerSpec{URL: "${URL}"},
		}, nil},
		{"$X without braces is not a placeholder", TemplateSpec{Server: ServerSpec{Command: "sh", Args: []string{"-c", "echo $HOME"}}}, nil},
		{"undeclared placeholder", TemplateSpec{
			Inputs: []TemplateInput{{Name: "A"}},
			Server: ServerSpec{Command: "x", Args: []string{"${A}", "${X}"}},
		}, FieldErrors{{"spec.server", "${X} is used but not declared in spec.inputs"}}},
		{"undeclared placeholders in image and env, sorted", TemplateSpec{
			Server: ServerSpec{Image: "org/${IMG}:${TAG}", Env: []EnvVar{{Name: "E", Value: new("${B_VAL}")}}},
		}, FieldErrors{
			{"spec.server", "${B_VAL} is used but not declared in spec.inputs"},
			{"spec.server", "${IMG} is used but not declared in spec.inputs"},
			{"spec.server", "${TAG} is used but not declared in spec.inputs"},
		}},
		{"duplicate input", TemplateSpec{
			Inputs: []TemplateInput{{Name: "A"}, {Name: "B"}, {Name: "A"}},
			Server: ServerSpec{Command: "x"},
		}, FieldErrors{{"spec.inputs[2].name", "A is declared twice"}}},
		{"bad input name", TemplateSpec{
			Inputs: []TemplateInput{{Name: "my-input"}, {Name: ""}},
			Server: ServerSpec{Command: "x"},
		}, FieldErrors{
			{"spec.inputs[0].name", "must be an environment variable name: letters, digits and '_', not starting with a digit"},
			{"spec.inputs[1].name", "must be an environment variable name: letters, digits and '_', not starting with a digit"},
		}},
		{"server problems under spec.server", TemplateSpec{
			Server: ServerSpec{Command: "x", Image: "y", Replicas: new(11)},
		}, FieldErrors{
			{"spec.server.image", "command and image are both set; a server has exactly one of command (with args), image or url"},
			{"spec.server.replicas", "must be from 0 to 10, not 11"},
		}},
		{"empty server", TemplateSpec{}, FieldErrors{{"spec.server", "set exactly one of command (with args), image or url"}}},
		{"long description", TemplateSpec{Description: strings.Repeat("d", 1025), Server: ServerSpec{Command: "x"}},
			FieldErrors{{"spec.description", "must be at most 1024 characters"}}},
	}
	for _, tt := range tests {
		s := tt.spec
		if diff := cmp.Diff(tt.want, validate(&s)); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestTemplateSpecDefaultAndReferences(t *testing.T) {
	t.Parallel()
	tpl := &TemplateSpec{Server: ServerSpec{Command: "x", Env: []EnvVar{{Name: "A", SecretRef: &SecretKeyRef{Name: "s", Key: "k"}}}}}
	tpl.Default()
	want := ServerSpec{Command: "x", Transport: TransportStdio, Runtime: RuntimeProcess, Replicas: new(1), SessionMode: SessionShared,
		Env: []EnvVar{{Name: "A", SecretRef: &SecretKeyRef{Name: "s", Key: "k"}}}}
	if diff := cmp.Diff(want, tpl.Server); diff != "" {
		t.Errorf("Default (-want +got):\n%s", diff)
	}
	wantRefs := []Ref{{Kind: "Secret", Name: "s", Key: "k", Field: "spec.server.env[0].secretRef"}}
	if diff := cmp.Diff(wantRefs, tpl.References()); diff != "" {
		t.Errorf("References (-want +got):\n%s", diff)
	}
}

// newTemplate returns a fresh template for the Instantiate tests.
func newTemplate() *TemplateSpec {
	return &TemplateSpec{
		Inputs: []TemplateInput{
			{Name: "TOKEN", Required: true},
			{Name: "REGION", Default: "eu"},
			{Name: "DEBUG"},
		},
		Server: ServerSpec{
			Command: "mcp-${REGION}",
			Args:    []string{"--region=${REGION}", "--token", "${TOKEN}", "--debug=${DEBUG}", "$REGION"},
			Env: []EnvVar{
				{Name: "TOKEN", Value: new("placeholder")},
				{Name: "LOG", Value: new("log-${REGION}-${REGION}")},
				{Name: "GH", SecretRef: &SecretKeyRef{Name: "gh", Key: "token"}},
			},
			Replicas:    new(2),
			HealthCheck: &HealthCheck{Tool: "ping", Arguments: map[string]any{"x": "y"}, Interval: "30s"},
		},
	}
}

func TestTemplateSpecInstantiate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		values map[string]string
		want   ServerSpec
	}{
		{"required only; defaults fill in", map[string]string{"TOKEN": "t0k"}, ServerSpec{
			Command: "mcp-eu",
			Args:    []string{"--region=eu", "--token", "t0k", "--debug=", "$REGION"},
			Env: []EnvVar{
				{Name: "TOKEN", Value: new("t0k")},
				{Name: "LOG", Value: new("log-eu-eu")},
				{Name: "GH", SecretRef: &SecretKeyRef{Name: "gh", Key: "token"}},
				{Name: "REGION", Value: new("eu")},
			},
			Replicas:    new(2),
			HealthCheck: &HealthCheck{Tool: "ping", Arguments: map[string]any{"x": "y"}, Interval: "30s"},
		}},
		{"every value", map[string]string{"TOKEN": "t", "REGION": "us", "DEBUG": "1"}, ServerSpec{
			Command: "mcp-us",
			Args:    []string{"--region=us", "--token", "t", "--debug=1", "$REGION"},
			Env: []EnvVar{
				{Name: "TOKEN", Value: new("t")},
				{Name: "LOG", Value: new("log-us-us")},
				{Name: "GH", SecretRef: &SecretKeyRef{Name: "gh", Key: "token"}},
				{Name: "REGION", Value: new("us")},
				{Name: "DEBUG", Value: new("1")},
			},
			Replicas:    new(2),
			HealthCheck: &HealthCheck{Tool: "ping", Arguments: map[string]any{"x": "y"}, Interval: "30s"},
		}},
		{"an empty value is a value", map[string]string{"TOKEN": "", "REGION": ""}, ServerSpec{
			Command: "mcp-",
			Args:    []string{"--region=", "--token", "", "--debug=", "$REGION"},
			Env: []EnvVar{
				{Name: "TOKEN", Value: new("")},
				{Name: "LOG", Value: new("log--")},
				{Name: "GH", SecretRef: &SecretKeyRef{Name: "gh", Key: "token"}},
				{Name: "REGION", Value: new("")},
			},
			Replicas:    new(2),
			HealthCheck: &HealthCheck{Tool: "ping", Arguments: map[string]any{"x": "y"}, Interval: "30s"},
		}},
		{"values are not expanded again", map[string]string{"TOKEN": "${REGION}", "REGION": "${TOKEN}"}, ServerSpec{
			Command: "mcp-${TOKEN}",
			Args:    []string{"--region=${TOKEN}", "--token", "${REGION}", "--debug=", "$REGION"},
			Env: []EnvVar{
				{Name: "TOKEN", Value: new("${REGION}")},
				{Name: "LOG", Value: new("log-${TOKEN}-${TOKEN}")},
				{Name: "GH", SecretRef: &SecretKeyRef{Name: "gh", Key: "token"}},
				{Name: "REGION", Value: new("${TOKEN}")},
			},
			Replicas:    new(2),
			HealthCheck: &HealthCheck{Tool: "ping", Arguments: map[string]any{"x": "y"}, Interval: "30s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tpl := newTemplate()
			got, err := tpl.Instantiate(tt.values)
			if err != nil {
				t.Fatalf("Instantiate: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Instantiate (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(newTemplate(), tpl); diff != "" {
				t.Errorf("Instantiate changed the template (-before +after):\n%s", diff)
			}
		})
	}
}

func TestTemplateSpecInstantiateURL(t *testing.T) {
	t.Parallel()
	tpl := &TemplateSpec{
		Inputs: []TemplateInput{{Name: "HOST", Required: true, Default: "mcp.example.com"}, {Name: "PATH_"}},
		Server: ServerSpec{URL: "https://${HOST}/${PATH_}", Transport: TransportSSE},
	}
	got, err := tpl.Instantiate(nil)
	if err != nil {
		t.Fatalf("Instantiate: %v", err)
	}
	// A required input with a default needs no value.
	want := ServerSpec{URL: "https://mcp.example.com/", Transport: TransportSSE,
		Env: []EnvVar{{Name: "HOST", Value: new("mcp.example.com")}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Instantiate (-want +got):\n%s", diff)
	}
	got.Default()
	if diff := cmp.Diff(FieldErrors(nil), validate(&got)); diff != "" {
		t.Errorf("the instantiated server is not valid (-want +got):\n%s", diff)
	}
}

func TestTemplateSpecInstantiateErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		tpl    *TemplateSpec
		values map[string]string
		want   string
	}{
		{"missing required", newTemplate(), map[string]string{"REGION": "us"},
			"missing required input TOKEN: pass --set NAME=VALUE"},
		{"missing several required",
			&TemplateSpec{Inputs: []TemplateInput{{Name: "B", Required: true}, {Name: "A", Required: true}}, Server: ServerSpec{Command: "x"}},
			nil, "missing required input B, A: pass --set NAME=VALUE"},
		{"unknown key", newTemplate(), map[string]string{"TOKEN": "t", "TOKN": "t"},
			"the template has no input TOKN (its inputs: TOKEN, REGION, DEBUG)"},
		{"unknown keys sorted", newTemplate(), map[string]string{"TOKEN": "t", "b": "1", "a": "2"},
			"the template has no input a, b (its inputs: TOKEN, REGION, DEBUG)"},
		{"unknown key and no inputs", &TemplateSpec{Server: ServerSpec{Command: "x"}}, map[string]string{"X": "1"},
			"the template has no input X (its inputs: none)"},
		{"unknown and missing", newTemplate(), map[string]string{"token": "t"},
			"the template has no input token (its inputs: TOKEN, REGION, DEBUG); missing required input TOKEN: pass --set NAME=VALUE"},
	}
	for _, tt := range tests {
		got, err := tt.tpl.Instantiate(tt.values)
		if err == nil {
			t.Errorf("%s: Instantiate = %+v, want an error", tt.name, got)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%s: Instantiate error = %q, want %q", tt.name, err, tt.want)
		}
		if diff := cmp.Diff(ServerSpec{}, got); diff != "" {
			t.Errorf("%s: Instantiate returned a spec with the error (-want +got):\n%s", tt.name, diff)
		}
	}
}

// TestTemplateSpecInstantiateCopies checks that the instantiated spec
// shares nothing the caller may change with the template.
func TestTemplateSpecInstantiateCopies(t *testing.T) {
	t.Parallel()
	tpl := newTemplate()
	got, err := tpl.Instantiate(map[string]string{"TOKEN": "t"})
	if err != nil {
		t.Fatal(err)
	}
	got.Args[0] = "changed"
	*got.Env[0].Value = "changed"
	*got.Env[1].Value = "changed"
	got.Env[2].SecretRef.Key = "changed"
	*got.Replicas = 9
	got.HealthCheck.Tool = "changed"
	got.HealthCheck.Arguments["x"] = "changed"
	got.HealthCheck.Arguments["new"] = 1
	got.Default()
	if diff := cmp.Diff(newTemplate(), tpl); diff != "" {
		t.Errorf("changing the instantiated spec changed the template (-before +after):\n%s", diff)
	}

	// Nested tool arguments are copied too.
	nested := &TemplateSpec{Server: ServerSpec{Command: "x", HealthCheck: &HealthCheck{Tool: "t",
		Arguments: map[string]any{"m": map[string]any{"l": []any{"a"}}}}}}
	got3, err := nested.Instantiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	got3.HealthCheck.Arguments["m"].(map[string]any)["l"].([]any)[0] = "changed"
	got3.HealthCheck.Arguments["m"].(map[string]any)["k"] = "new"
	if diff := cmp.Diff(map[string]any{"m": map[string]any{"l": []any{"a"}}}, nested.Server.HealthCheck.Arguments); diff != "" {
		t.Errorf("changing nested arguments changed the template (-before +after):\n%s", diff)
	}

	// A template without health check, env or replicas instantiates to a
	// spec without them.
	bare := &TemplateSpec{Server: ServerSpec{Command: "x"}}
	got2, err := bare.Instantiate(nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(ServerSpec{Command: "x"}, got2); diff != "" {
		t.Errorf("Instantiate of a bare template (-want +got):\n%s", diff)
	}
}

func TestProjectSpecDefault(t *testing.T) {
	t.Parallel()
	p := &ProjectSpec{Servers: []string{"a"}}
	p.Default()
	if p.Separator == nil || *p.Separator != DefaultSeparator || DefaultSeparator != "__" {
		t.Errorf("default separator = %v, want \"__\"", p.Separator)
	}
	empty := &ProjectSpec{Servers: []string{"a"}, Separator: new("")}
	empty.Default()
	if *empty.Separator != "" {
		t.Errorf("Default replaced an empty separator with %q", *empty.Separator)
	}
}

func TestProjectSpecValidate(t *testing.T) {
	t.Parallel()
	const label = `must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. "my-server-1")`
	badSep := func(s string) string {
		return `must be 1 to 4 of '_', '-' and '.' (default "__"), not "` + s + `"`
	}
	tests := []struct {
		name string
		spec ProjectSpec
		want FieldErrors
	}{
		{"empty", ProjectSpec{}, nil},
		{"servers and filters", ProjectSpec{Servers: []string{"github", "fs"}, Gated: true, Tools: map[string]ToolFilter{
			"github": {Allow: []string{"search", "get_issue"}, Deny: []string{"delete_repo"}},
			"fs":     {Deny: []string{"write"}},
		}}, nil},
		{"default separator", ProjectSpec{Servers: []string{"a", "b"}, Separator: new("__")}, nil},
		{"separators of _-.", ProjectSpec{Servers: []string{"a", "b"}, Separator: new("_-._")}, nil},
		{"single dot", ProjectSpec{Servers: []string{"a", "b"}, Separator: new(".")}, nil},
		{"empty separator with one server", ProjectSpec{Servers: []string{"a"}, Separator: new("")}, nil},
		{"empty separator with no server", ProjectSpec{Separator: new("")}, nil},
		{"empty separator with two servers", ProjectSpec{Servers: []string{"a", "b"}, Separator: new("")},
			FieldErrors{{"spec.separator", "may be empty only when the project has one server; it has 2"}}},
		{"separator inside a server name", ProjectSpec{Servers: []string{"fs", "my-fs"}, Separator: new("-")},
			FieldErrors{{"spec.separator", `"-" occurs in server name my-fs, so tool names could collide (my-fs-x could be server my-fs's tool); use a separator no server name contains, such as "__"`}}},
		{"dash separator, no dash in names", ProjectSpec{Servers: []string{"fs", "git"}, Separator: new("-")}, nil},
		{"separator ::", ProjectSpec{Servers: []string{"a"}, Separator: new("::")}, FieldErrors{{"spec.separator", badSep("::")}}},
		{"separator too long", ProjectSpec{Servers: []string{"a"}, Separator: new("_____")}, FieldErrors{{"spec.separator", badSep("_____")}}},
		{"separator with a letter", ProjectSpec{Servers: []string{"a"}, Separator: new("_x_")}, FieldErrors{{"spec.separator", badSep("_x_")}}},
		{"separator with a space", ProjectSpec{Servers: []string{"a"}, Separator: new(" ")}, FieldErrors{{"spec.separator", badSep(" ")}}},
		{"duplicate server", ProjectSpec{Servers: []string{"a", "b", "a"}},
			FieldErrors{{"spec.servers[2]", "server a is listed twice"}}},
		{"bad server name", ProjectSpec{Servers: []string{"a", "B_ad"}}, FieldErrors{{"spec.servers[1]", label}}},
		{"empty server name", ProjectSpec{Servers: []string{""}}, FieldErrors{{"spec.servers[0]", "must not be empty"}}},
		{"filter for a server not in servers", ProjectSpec{Servers: []string{"a"}, Tools: map[string]ToolFilter{"b": {Deny: []string{"x"}}}},
			FieldErrors{{"spec.tools.b", "filters server b, which is not in spec.servers"}}},
		{"filters without servers, sorted", ProjectSpec{Tools: map[string]ToolFilter{"z": {}, "m": {}}}, FieldErrors{
			{"spec.tools.m", "filters server m, which is not in spec.servers"},
			{"spec.tools.z", "filters server z, which is not in spec.servers"},
		}},
		{"tool in allow and deny", ProjectSpec{Servers: []string{"gh"}, Tools: map[string]ToolFilter{
			"gh": {Allow: []string{"search", "push"}, Deny: []string{"delete", "push"}},
		}}, FieldErrors{{"spec.tools.gh.deny[1]", "tool push is in both allow and deny; keep it in one"}}},
		{"empty tool names", ProjectSpec{Servers: []string{"gh"}, Tools: map[string]ToolFilter{
			"gh": {Allow: []string{"a", ""}, Deny: []string{""}},
		}}, FieldErrors{
			{"spec.tools.gh.allow[1]", "must not be empty"},
			{"spec.tools.gh.deny[0]", "must not be empty"},
		}},
		{"long description", ProjectSpec{Description: strings.Repeat("d", 1025)},
			FieldErrors{{"spec.description", "must be at most 1024 characters"}}},
	}
	for _, tt := range tests {
		s := tt.spec
		if diff := cmp.Diff(tt.want, validate(&s)); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", tt.name, diff)
		}
	}
}

func TestProjectSpecReferences(t *testing.T) {
	t.Parallel()
	p := &ProjectSpec{Servers: []string{"github", "fs"}, Tools: map[string]ToolFilter{"fs": {}}}
	want := []Ref{
		{Kind: "Server", Name: "github", Field: "spec.servers[0]"},
		{Kind: "Server", Name: "fs", Field: "spec.servers[1]"},
	}
	if diff := cmp.Diff(want, p.References()); diff != "" {
		t.Errorf("References (-want +got):\n%s", diff)
	}
	if got := (&ProjectSpec{}).References(); len(got) != 0 {
		t.Errorf("References of an empty project = %v, want none", got)
	}
}

func TestPromptSpec(t *testing.T) {
	t.Parallel()
	const tagRule = "must be 1 to 63 letters, digits, '-', '_' or '.'"
	tests := []struct {
		name string
		spec PromptSpec
		want FieldErrors
	}{
		{"valid", PromptSpec{Text: "Be brief.", Priority: 10, Tags: []string{"style", "v1.2", "A_b-c"}}, nil},
		{"lowest priority", PromptSpec{Text: "t", Priority: 1}, nil},
		{"text at the limit", PromptSpec{Text: strings.Repeat("t", MaxPromptText)}, nil},
		{"empty text", PromptSpec{}, FieldErrors{{"spec.text", "must not be empty"}}},
		{"blank text", PromptSpec{Text: " \n\t"}, FieldErrors{{"spec.text", "must not be empty"}}},
		{"text too long", PromptSpec{Text: strings.Repeat("t", MaxPromptText+1)}, FieldErrors{{"spec.text", "must be at most 64 KiB"}}},
		{"priority 11", PromptSpec{Text: "t", Priority: 11}, FieldErrors{{"spec.priority", "must be from 1 to 10, not 11"}}},
		{"priority -1", PromptSpec{Text: "t", Priority: -1}, FieldErrors{{"spec.priority", "must be from 1 to 10, not -1"}}},
		{"bad tags", PromptSpec{Text: "t", Tags: []string{"ok", "-dash", "two words", "", strings.Repeat("t", 64)}}, FieldErrors{
			{"spec.tags[1]", tagRule},
			{"spec.tags[2]", tagRule},
			{"spec.tags[3]", tagRule},
			{"spec.tags[4]", tagRule},
		}},
	}
	for _, tt := range tests {
		s := tt.spec
		if diff := cmp.Diff(tt.want, validate(&s)); diff != "" {
			t.Errorf("%s: Validate (-want +got):\n%s", tt.name, diff)
		}
	}

	p := &PromptSpec{Text: "t"}
	p.Default()
	if p.Priority != 5 {
		t.Errorf("default priority = %d, want 5", p.Priority)
	}
	p = &PromptSpec{Text: "t", Priority: 7}
	p.Default()
	if p.Priority != 7 {
		t.Errorf("Default changed priority 7 to %d", p.Priority)
	}
	if refs := p.References(); refs != nil {
		t.Errorf("References = %v, want nil", refs)
	}
}

func TestServerResources(t *testing.T) {
	tests := []struct {
		name string
		r    Resources
		url  bool
		want FieldErrors
	}{
		{"all set", Resources{Memory: "256Mi", CPUs: "0.5", Pids: 128}, false, nil},
		{"bytes and Gi", Resources{Memory: "1Gi"}, false, nil},
		{"plain bytes", Resources{Memory: "33554432"}, false, nil},
		{"too little memory", Resources{Memory: "1Mi"}, false, FieldErrors{{"spec.resources.memory", `must be a size from 16Mi to 64Gi such as 512Mi, not "1Mi"`}}},
		{"unknown unit", Resources{Memory: "1GB"}, false, FieldErrors{{"spec.resources.memory", `must be a size from 16Mi to 64Gi such as 512Mi, not "1GB"`}}},
		{"too much memory", Resources{Memory: "65Gi"}, false, FieldErrors{{"spec.resources.memory", `must be a size from 16Mi to 64Gi such as 512Mi, not "65Gi"`}}},
		{"cpus not a number", Resources{CPUs: "half"}, false, FieldErrors{{"spec.resources.cpus", `must be a number of CPUs from 0.01 to 64 such as 0.5, not "half"`}}},
		{"cpus zero", Resources{CPUs: "0"}, false, FieldErrors{{"spec.resources.cpus", `must be a number of CPUs from 0.01 to 64 such as 0.5, not "0"`}}},
		{"pids too few", Resources{Pids: 3}, false, FieldErrors{{"spec.resources.pids", "must be from 16 to 100000, not 3"}}},
		{"on a url server", Resources{Pids: 64}, true, FieldErrors{{"spec.resources", "a url server runs elsewhere; remove resources"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := ServerSpec{Image: "x", Resources: &tt.r}
			if tt.url {
				s = ServerSpec{URL: "https://example.com/mcp", Resources: &tt.r}
			}
			var fe FieldErrors
			s.Validate(&fe)
			if diff := cmp.Diff(tt.want, fe); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if n, ok := ParseMemory("512Mi"); !ok || n != 512<<20 {
		t.Errorf("ParseMemory(512Mi) = %d, %v", n, ok)
	}
	if n, ok := ParseCPUs("0.25"); !ok || n != 250_000_000 {
		t.Errorf("ParseCPUs(0.25) = %d, %v", n, ok)
	}
}
