package apiserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/mcpctl/mcpctl/internal/gateway"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// MCPEndpoint serves the MCP project endpoints: the gateway's Edge.
type MCPEndpoint interface {
	// ServeProject serves one request to the endpoint of project (or
	// "project/server" for the per-server relay).
	ServeProject(w http.ResponseWriter, r *http.Request, project string)
}

// MCP route actions: their refusals are audited like any request, their
// calls by the gateway (one event per MCP call).
const (
	actionMCP      = "mcp"
	actionMCPRelay = "mcp.relay"
)

// mcpRoutes are the project endpoint and the per-server relay mcplocal
// uses. Both need view on the project; an McpToken reaches only its own.
func (s *Server) mcpRoutes() []route {
	var out []route
	for _, m := range []string{http.MethodPost, http.MethodGet, http.MethodDelete} {
		out = append(out,
			route{m, "/projects/{project}/mcp", actionMCP, onItem(v1.RoleView, "projects", "project"), s.serveMCP},
			route{m, "/api/v1/projects/{project}/servers/{server}/mcp", actionMCPRelay, onItem(v1.RoleView, "projects", "project"), s.serveRelay})
	}
	return out
}

func isMCP(st *reqState) bool { return st.action == actionMCP || st.action == actionMCPRelay }

func (s *Server) serveMCP(w http.ResponseWriter, r *http.Request) {
	if s.mcp == nil {
		s.writeError(w, r, newError(http.StatusNotFound, v1.CodeNotFound, "this mcpd serves no MCP endpoints"))
		return
	}
	s.mcp.ServeProject(w, r, r.PathValue("project"))
}

// serveRelay is one server of a project, its names unchanged: what
// mcplocal merges on the user's side. The project's filter still applies.
func (s *Server) serveRelay(w http.ResponseWriter, r *http.Request) {
	if s.mcp == nil {
		s.writeError(w, r, newError(http.StatusNotFound, v1.CodeNotFound, "this mcpd serves no MCP endpoints"))
		return
	}
	project, server := r.PathValue("project"), r.PathValue("server")
	if msg := v1.ValidateName(server); msg != "" {
		s.writeError(w, r, newError(http.StatusNotFound, v1.CodeNotFound, "server "+strconvQuote(server)+" "+msg))
		return
	}
	s.mcp.ServeProject(w, r, project+"/"+server)
}

// MCPAuthenticator hands the gateway the principal the API's middleware
// found and authorized (bearer, token fence, view on the project).
type MCPAuthenticator struct{}

// Authenticate returns the request's principal.
func (MCPAuthenticator) Authenticate(r *http.Request, _ string) (gateway.Principal, error) {
	st := state(r)
	if st.principal == nil {
		return gateway.Principal{}, &gateway.AuthError{Status: http.StatusUnauthorized, Code: v1.CodeTokenRequired, Message: "a bearer token is required"}
	}
	p := gateway.Principal{Subject: st.subject}
	if t := st.principal.Token; t != nil {
		p.TokenName, p.TokenSHA = t.Name, st.principal.TokenHash
	}
	return p, nil
}

// gatewayRoutes: what a gateway (mcplocal) needs of a project, for anyone
// who may view it.
func (s *Server) gatewayRoutes() []route {
	return []route{{"GET", "/api/v1/projects/{project}/gateway", "projects.gateway", onItem(v1.RoleView, "projects", "project"), s.gatewayConfig}}
}

func (s *Server) gatewayConfig(w http.ResponseWriter, r *http.Request) {
	cfg, err := LoadGatewayConfig(r.Context(), s.store, r.PathValue("project"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, cfg)
}

// LoadGatewayConfig reads a project's gateway configuration from the
// store: its servers' session modes, its filters, separator and prompts.
// An unknown project is store.ErrNotFound.
func LoadGatewayConfig(ctx context.Context, st store.Store, project string) (*v1.GatewayConfig, error) {
	r, err := st.GetResource(ctx, store.ResourceKey{Kind: "Project", Name: project})
	if err != nil {
		return nil, err
	}
	var spec v1.ProjectSpec
	if err := json.Unmarshal(r.Spec, &spec); err != nil {
		return nil, fmt.Errorf("stored spec of project %s: %w", project, err)
	}
	spec.Default()
	cfg := &v1.GatewayConfig{Project: project, Separator: *spec.Separator, Tools: spec.Tools, Servers: []v1.GatewayServer{}}
	for _, sv := range spec.Servers {
		mode := v1.SessionShared
		if r, err := st.GetResource(ctx, store.ResourceKey{Kind: "Server", Name: sv}); err == nil {
			var ss v1.ServerSpec
			if json.Unmarshal(r.Spec, &ss) == nil && ss.SessionMode != "" {
				mode = ss.SessionMode
			}
		}
		cfg.Servers = append(cfg.Servers, v1.GatewayServer{Name: sv, SessionMode: mode})
	}
	err = store.EachResource(func(f store.ResourceFilter) ([]store.Resource, error) {
		f.Project = project
		return st.ListResources(ctx, f)
	}, "Prompt", func(r store.Resource) error {
		var ps v1.PromptSpec
		if err := json.Unmarshal(r.Spec, &ps); err != nil {
			return err
		}
		ps.Default()
		cfg.Prompts = append(cfg.Prompts, v1.GatewayPrompt{Name: r.Name, Text: ps.Text, Priority: ps.Priority, Tags: ps.Tags})
		return nil
	})
	return cfg, err
}
