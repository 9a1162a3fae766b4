package v1

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Transports of a server.
const (
	TransportStdio          = "stdio"
	TransportStreamableHTTP = "streamable-http"
	TransportSSE            = "sse"
)

// Runtimes that run a server's instances.
const (
	RuntimeProcess    = "process"
	RuntimeDocker     = "docker"
	RuntimeKubernetes = "kubernetes"
)

// Session modes of a server.
const (
	SessionShared     = "shared"
	SessionPerSession = "per-session"
)

// MaxReplicas bounds ServerSpec.Replicas.
const MaxReplicas = 10

// ServerSpec declares one MCP server and how to run it. Exactly one of
// Command (with Args), Image or URL says where it comes from.
type ServerSpec struct {
	Description string `json:"description,omitempty"`
	// Transport is stdio, streamable-http or sse. Default: streamable-http
	// for a URL, stdio otherwise.
	Transport string `json:"transport,omitempty"`
	// Command and Args start the server as a process.
	Command string   `json:"command,omitempty"`
	Args    []string `json:"args,omitempty"`
	// Image runs the server in a container; Args are then its arguments.
	Image string `json:"image,omitempty"`
	// Port is the container port an image serves HTTP on.
	Port int `json:"port,omitempty"`
	// URL is a server that runs elsewhere; mcpd only connects to it.
	URL string `json:"url,omitempty"`
	// Env is the server's environment.
	Env []EnvVar `json:"env,omitempty"`
	// Replicas is how many instances mcpd keeps running: 0 to 10, default 1.
	// Not used for a URL server.
	Replicas *int `json:"replicas,omitempty"`
	// Runtime is process, docker or kubernetes. Default: process for a
	// command, docker for an image; none for a URL.
	Runtime string `json:"runtime,omitempty"`
	// HealthCheck tunes the instance probe; nil means the default probe
	// (tools/list) at the default interval.
	HealthCheck *HealthCheck `json:"healthCheck,omitempty"`
	// SessionMode is shared (default: one upstream session multiplexed) or
	// per-session (one upstream per client session).
	SessionMode string `json:"sessionMode,omitempty"`
	// Resources bound each instance. The docker runtime enforces them
	// (defaults: 512Mi memory, 1 CPU, 256 pids); the process runtime
	// does not.
	Resources *Resources `json:"resources,omitempty"`
}

// Resources bound one instance.
type Resources struct {
	// Memory such as 256Mi or 1Gi (Ki, Mi, Gi; or plain bytes): 16Mi to 64Gi.
	Memory string `json:"memory,omitempty"`
	// CPUs such as 0.5 or 2: 0.01 to 64.
	CPUs string `json:"cpus,omitempty"`
	// Pids caps processes and threads: 16 to 100000.
	Pids int `json:"pids,omitempty"`
}

// ParseMemory reads a memory size: a number of bytes, or one with a Ki,
// Mi or Gi suffix.
func ParseMemory(s string) (int64, bool) {
	mult := int64(1)
	for suffix, m := range map[string]int64{"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30} {
		if v, ok := strings.CutSuffix(s, suffix); ok {
			s, mult = v, m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n <= 0 || n > (64<<30)/mult {
		return 0, false
	}
	return n * mult, true
}

// ParseCPUs reads a CPU count such as 0.5 as billionths of a CPU.
func ParseCPUs(s string) (int64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || f > 64 {
		return 0, false
	}
	return int64(f * 1e9), true
}

func (r *Resources) validate(fe *FieldErrors, path string) {
	if r.Memory != "" {
		if n, ok := ParseMemory(r.Memory); !ok || n < 16<<20 {
			fe.Add(path+".memory", "must be a size from 16Mi to 64Gi such as 512Mi, not %q", r.Memory)
		}
	}
	if r.CPUs != "" {
		if n, ok := ParseCPUs(r.CPUs); !ok || n < 1e7 {
			fe.Add(path+".cpus", "must be a number of CPUs from 0.01 to 64 such as 0.5, not %q", r.CPUs)
		}
	}
	if r.Pids != 0 && (r.Pids < 16 || r.Pids > 100000) {
		fe.Add(path+".pids", "must be from 16 to 100000, not %d", r.Pids)
	}
}

// EnvVar is one environment variable: a literal Value or a SecretRef.
type EnvVar struct {
	Name      string        `json:"name"`
	Value     *string       `json:"value,omitempty"`
	SecretRef *SecretKeyRef `json:"secretRef,omitempty"`
}

// SecretKeyRef names one key of a Secret.
type SecretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// HealthCheck is the probe of a server's instances.
type HealthCheck struct {
	// Tool is called as the probe; empty means tools/list.
	Tool string `json:"tool,omitempty"`
	// Arguments are the tool call's arguments.
	Arguments map[string]any `json:"arguments,omitempty"`
	// Interval between probes: default 30s, 1s to 1h.
	Interval Duration `json:"interval,omitempty"`
	// Timeout of one probe: default 10s (or Interval, if shorter), at most
	// Interval.
	Timeout Duration `json:"timeout,omitempty"`
	// FailureThreshold is how many failed probes in a row make an
	// instance unhealthy: default 3, 1 to 100.
	FailureThreshold int `json:"failureThreshold,omitempty"`
}

// Duration is a Go duration string such as "30s" or "1m30s".
type Duration string

// Parse returns the duration; Validate has checked it.
func (d Duration) Parse() time.Duration {
	v, _ := time.ParseDuration(string(d))
	return v
}

// Default fills transport, runtime, replicas, session mode and the health
// check's defaults.
func (s *ServerSpec) Default() {
	if s.Transport == "" {
		s.Transport = TransportStdio
		if s.URL != "" {
			s.Transport = TransportStreamableHTTP
		}
	}
	if s.Runtime == "" {
		switch {
		case s.Command != "":
			s.Runtime = RuntimeProcess
		case s.Image != "":
			s.Runtime = RuntimeDocker
		}
	}
	if s.Replicas == nil && s.URL == "" {
		one := 1
		s.Replicas = &one
	}
	if s.SessionMode == "" {
		s.SessionMode = SessionShared
	}
	if h := s.HealthCheck; h != nil {
		if h.Interval == "" {
			h.Interval = "30s"
		}
		if h.Timeout == "" {
			// 10s, but never longer than a shorter interval.
			h.Timeout = "10s"
			if iv, err := time.ParseDuration(string(h.Interval)); err == nil && iv < 10*time.Second {
				h.Timeout = h.Interval
			}
		}
		if h.FailureThreshold == 0 {
			h.FailureThreshold = 3
		}
	}
}

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Validate checks the server spec; see the field docs for the rules.
func (s *ServerSpec) Validate(fe *FieldErrors) { s.validate(fe, "spec", false) }

// validate checks s under path; in a template, ${INPUT} placeholders may
// stand where strings are checked.
func (s *ServerSpec) validate(fe *FieldErrors, path string, template bool) {
	if len(s.Description) > 1024 {
		fe.Add(path+".description", "must be at most 1024 characters")
	}
	var sources []string
	if s.Command != "" {
		sources = append(sources, "command")
	}
	if s.Image != "" {
		sources = append(sources, "image")
	}
	if s.URL != "" {
		sources = append(sources, "url")
	}
	switch len(sources) {
	case 0:
		fe.Add(path, "set exactly one of command (with args), image or url")
	case 1:
	default:
		fe.Add(path+"."+sources[1], "%s and %s are both set; a server has exactly one of command (with args), image or url", sources[0], sources[1])
	}
	switch s.Transport {
	case TransportStdio, TransportStreamableHTTP, TransportSSE, "":
	default:
		fe.Add(path+".transport", "must be stdio, streamable-http or sse, not %q", s.Transport)
	}
	switch {
	case s.Command != "" && s.Transport != "" && s.Transport != TransportStdio:
		fe.Add(path+".transport", "a command server speaks stdio; use an image or url for %s", s.Transport)
	case s.URL != "" && s.Transport == TransportStdio:
		fe.Add(path+".transport", "a url server speaks streamable-http or sse, not stdio")
	case s.Image != "" && s.Transport != "" && s.Transport != TransportStdio && s.Port == 0:
		fe.Add(path+".port", "an image serving %s needs the container port it listens on", s.Transport)
	}
	// An image's transport defaults to stdio, so "" is stdio here.
	if s.Port != 0 && (s.Image == "" || s.Port < 1 || s.Port > 65535 || s.Transport == TransportStdio || s.Transport == "") {
		fe.Add(path+".port", "is the container port of an image serving streamable-http or sse: 1 to 65535")
	}
	if len(s.Args) > 0 && s.URL != "" {
		fe.Add(path+".args", "a url server takes no args")
	}
	for i, a := range s.Args {
		if strings.IndexByte(a, 0) >= 0 {
			fe.Add(fmt.Sprintf("%s.args[%d]", path, i), "must not contain a NUL byte")
		}
	}
	if s.URL != "" && !template {
		u, err := url.Parse(s.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fe.Add(path+".url", "must be an http or https URL such as https://mcp.example.com/mcp")
		}
	}
	if s.Image != "" && strings.ContainsAny(s.Image, " \t\n") {
		fe.Add(path+".image", "must be an image reference such as ghcr.io/org/server:1.0, without spaces")
	}
	seen := map[string]bool{}
	for i, e := range s.Env {
		p := fmt.Sprintf("%s.env[%d]", path, i)
		if !envNameRE.MatchString(e.Name) {
			fe.Add(p+".name", "must be an environment variable name: letters, digits and '_', not starting with a digit")
		} else if seen[e.Name] {
			fe.Add(p+".name", "%s is set twice", e.Name)
		}
		seen[e.Name] = true
		switch {
		case e.Value != nil && e.SecretRef != nil:
			fe.Add(p, "set value or secretRef, not both")
		case e.Value == nil && e.SecretRef == nil:
			fe.Add(p, "set value or secretRef")
		case e.Value != nil && strings.IndexByte(*e.Value, 0) >= 0:
			fe.Add(p+".value", "must not contain a NUL byte: an environment variable cannot carry one")
		case e.SecretRef != nil:
			if msg := ValidateName(e.SecretRef.Name); msg != "" {
				fe.Add(p+".secretRef.name", "%s", msg)
			}
			if !secretKeyOK(e.SecretRef.Key) {
				fe.Add(p+".secretRef.key", "%s", secretKeyRule)
			}
		}
	}
	if s.Replicas != nil {
		switch {
		case s.URL != "":
			fe.Add(path+".replicas", "a url server runs elsewhere; remove replicas")
		case *s.Replicas < 0 || *s.Replicas > MaxReplicas:
			fe.Add(path+".replicas", "must be from 0 to %d, not %d", MaxReplicas, *s.Replicas)
		}
	}
	switch s.Runtime {
	case "":
	case RuntimeProcess:
		if s.Image != "" {
			fe.Add(path+".runtime", "an image runs on docker or kubernetes, not process")
		}
	case RuntimeDocker, RuntimeKubernetes:
		if s.Command != "" {
			fe.Add(path+".runtime", "a command runs on the process runtime; use image to run on %s", s.Runtime)
		}
	default:
		fe.Add(path+".runtime", "must be process, docker or kubernetes, not %q", s.Runtime)
	}
	if s.Runtime != "" && s.URL != "" {
		fe.Add(path+".runtime", "a url server runs elsewhere; remove runtime")
	}
	switch s.SessionMode {
	case "", SessionShared, SessionPerSession:
	default:
		fe.Add(path+".sessionMode", "must be shared or per-session, not %q", s.SessionMode)
	}
	if h := s.HealthCheck; h != nil {
		h.validate(fe, path+".healthCheck")
	}
	if r := s.Resources; r != nil {
		if s.URL != "" {
			fe.Add(path+".resources", "a url server runs elsewhere; remove resources")
		}
		r.validate(fe, path+".resources")
	}
}

func (h *HealthCheck) validate(fe *FieldErrors, path string) {
	if h.Tool == "" && len(h.Arguments) > 0 {
		fe.Add(path+".arguments", "are the arguments of tool; set tool too")
	}
	if len(h.Tool) > 128 {
		fe.Add(path+".tool", "must be at most 128 characters")
	}
	interval, iok := parseDuration(fe, path+".interval", h.Interval, time.Second, time.Hour)
	timeout, tok := parseDuration(fe, path+".timeout", h.Timeout, 100*time.Millisecond, time.Hour)
	if iok && tok && interval > 0 && timeout > interval {
		fe.Add(path+".timeout", "must not be longer than interval (%s)", h.Interval)
	}
	if h.FailureThreshold != 0 && (h.FailureThreshold < 1 || h.FailureThreshold > 100) {
		fe.Add(path+".failureThreshold", "must be from 1 to 100, not %d", h.FailureThreshold)
	}
}

func parseDuration(fe *FieldErrors, path string, d Duration, min, max time.Duration) (time.Duration, bool) {
	if d == "" {
		return 0, true
	}
	v, err := time.ParseDuration(string(d))
	if err != nil {
		fe.Add(path, "must be a duration such as 30s or 1m, not %q", string(d))
		return 0, false
	}
	if v < min || v > max {
		fe.Add(path, "must be from %s to %s, not %s", min, max, d)
		return 0, false
	}
	return v, true
}

// References lists the secret keys the environment names.
func (s *ServerSpec) References() []Ref { return s.refs("spec") }

func (s *ServerSpec) refs(path string) []Ref {
	var out []Ref
	for i, e := range s.Env {
		if e.SecretRef != nil {
			out = append(out, Ref{Kind: "Secret", Name: e.SecretRef.Name, Key: e.SecretRef.Key,
				Field: fmt.Sprintf("%s.env[%d].secretRef", path, i)})
		}
	}
	return out
}

// Source describes where the server comes from, for tables.
func (s *ServerSpec) Source() string {
	switch {
	case s.Command != "":
		return strings.TrimSpace(s.Command + " " + strings.Join(s.Args, " "))
	case s.Image != "":
		return s.Image
	}
	return s.URL
}
