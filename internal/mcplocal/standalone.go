package mcplocal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/cli"
	"github.com/mcpctl/mcpctl/internal/gateway"
	"github.com/mcpctl/mcpctl/internal/workload"
	"github.com/mcpctl/mcpctl/internal/workload/process"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// fileProject is a project read from a manifest file: one Project, the
// Servers it names and its Prompts, in the format `mcpctl apply` takes.
type fileProject struct {
	project *gateway.Project
	servers map[string]*v1.ServerSpec
}

// loadFile reads and checks a standalone project file. Every problem is
// reported at once, naming the file and line.
func loadFile(path string) (*fileProject, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	docs, problems := cli.ParseManifest(path, data)
	fp := &fileProject{servers: map[string]*v1.ServerSpec{}}
	var spec *v1.ProjectSpec
	var prompts []gateway.Prompt
	for _, d := range docs {
		o := d.Object
		switch s := o.Spec.(type) {
		case *v1.ProjectSpec:
			if spec != nil {
				problems = append(problems, d.Where()+": a second Project; a standalone file holds one")
				continue
			}
			spec = s
			fp.project = &gateway.Project{Name: o.Metadata.Name}
		case *v1.ServerSpec:
			fp.servers[o.Metadata.Name] = s
			for _, e := range s.Env {
				if e.SecretRef != nil {
					problems = append(problems, fmt.Sprintf("%s: server %s: env %s names a secret; standalone mcplocal has no secrets: give a value, e.g. value: ${%s} is not expanded either, so write it out", d.Where(), o.Metadata.Name, e.Name, e.Name))
				}
			}
			if s.Runtime == v1.RuntimeDocker || s.Runtime == v1.RuntimeKubernetes {
				problems = append(problems, fmt.Sprintf("%s: server %s: runtime %s; standalone mcplocal runs processes (command) or connects to a url", d.Where(), o.Metadata.Name, s.Runtime))
			}
		case *v1.PromptSpec:
			prompts = append(prompts, gateway.Prompt{Name: o.Metadata.Name, Text: s.Text, Priority: s.Priority, Tags: s.Tags})
		default:
			problems = append(problems, fmt.Sprintf("%s: kind %s has no place in a standalone project file (Project, Server, Prompt)", d.Where(), o.Kind))
		}
	}
	if spec == nil && len(problems) == 0 {
		problems = append(problems, path+": no Project; add one (kind: Project, spec.servers: [...])")
	}
	if spec != nil {
		spec.Default()
		fp.project.Separator, fp.project.Filters, fp.project.Prompts = *spec.Separator, spec.Tools, prompts
		for _, name := range spec.Servers {
			s, ok := fp.servers[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: project %s names server %s, which the file does not define", path, fp.project.Name, name))
				continue
			}
			fp.project.Servers = append(fp.project.Servers, gateway.ProjectServer{Name: name, SessionMode: s.SessionMode})
		}
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return fp, nil
}

func (fp *fileProject) Project(_ context.Context, name string) (*gateway.Project, error) {
	if name != fp.project.Name {
		return nil, fmt.Errorf("project %s (this mcplocal serves %s): %w", name, fp.project.Name, gateway.ErrNoProject)
	}
	return fp.project, nil
}

// localTransports runs the file's servers as local processes (through the
// process runtime: own process group, stopped with its children) or
// connects to their URL.
func localTransports(fp *fileProject, rt *process.Runtime, log *slog.Logger) gateway.TransportFunc {
	return func(ctx context.Context, server string) (mcp.Transport, func(), error) {
		spec := fp.servers[server]
		if spec == nil {
			return nil, nil, fmt.Errorf("server %s is not in the file", server)
		}
		if spec.URL != "" {
			if spec.Transport == v1.TransportSSE {
				return &mcp.SSEClientTransport{Endpoint: spec.URL}, nil, nil
			}
			return &mcp.StreamableClientTransport{Endpoint: spec.URL, MaxRetries: -1}, nil, nil
		}
		id := workload.NewID()
		env := map[string]string{}
		for _, e := range spec.Env {
			if e.Value != nil {
				env[e.Name] = *e.Value
			}
		}
		slog := log.With("server", server)
		ws := workload.Spec{InstanceID: id, Server: server, Transport: spec.Transport, Command: spec.Command, Args: spec.Args,
			Port: spec.Port, Env: env, Log: func(l workload.Line) { slog.Info("server output", "line", l.Text) }}
		if _, err := rt.Start(ctx, ws); err != nil {
			return nil, nil, err
		}
		stop := func() {
			sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			rt.Stop(sctx, id, workload.StopOptions{Drain: 5 * time.Second})
		}
		t, err := rt.Connect(ctx, id)
		if err != nil {
			stop()
			return nil, nil, err
		}
		return t, stop, nil
	}
}

// jsonAudit writes one JSON line per call.
type jsonAudit struct {
	mu sync.Mutex
	w  io.Writer
}

func (a *jsonAudit) Record(e gateway.CallEvent) {
	b, _ := json.Marshal(map[string]any{
		"time": e.Time.UTC(), "audit": "mcp." + e.Method, "principal": e.Principal.Subject, "project": e.Project,
		"server": e.Server, "name": e.Name, "durationMs": float64(e.Duration.Microseconds()) / 1000,
		"outcome": e.Outcome, "denied": e.Denied, "detail": e.Detail, "session": e.SessionID,
	})
	a.mu.Lock()
	defer a.mu.Unlock()
	a.w.Write(append(b, '\n'))
}

// staticToken lets in the callers that present one token (MCPLOCAL_TOKEN).
type staticToken struct{ token string }

func (s staticToken) Authenticate(r *http.Request, _ string) (gateway.Principal, error) {
	h := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || tok == "" {
		return gateway.Principal{}, &gateway.AuthError{Status: http.StatusUnauthorized, Code: v1.CodeTokenRequired,
			Message: "this mcplocal needs a bearer token (MCPLOCAL_TOKEN): send Authorization: Bearer <token>"}
	}
	if !constantTimeEqual(tok, s.token) {
		return gateway.Principal{}, &gateway.AuthError{Status: http.StatusUnauthorized, Code: v1.CodeTokenInvalid, Message: "the bearer token is not this mcplocal's (MCPLOCAL_TOKEN)"}
	}
	return gateway.Principal{Subject: "mcplocal-token"}, nil
}
