package mcplocal

import (
	"context"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/mcpctl/mcpctl/internal/gateway"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// tenants are HTTP mode's engines, one per McpToken: each token's calls
// reach mcpd's relay with that token, so mcpd's fence, RBAC and audit see
// the real caller.
type tenants struct {
	mcpd    string
	in      *introspector
	metrics *gateway.Metrics
	log     *slog.Logger

	mu  sync.Mutex
	all map[string]*tenant // by token SHA-256
}

type tenant struct {
	eng  *engine
	edge *gateway.Edge
}

func newTenants(mcpdURL string, metrics *gateway.Metrics, log *slog.Logger) *tenants {
	return &tenants{mcpd: mcpdURL, in: newIntrospector(mcpdURL), metrics: metrics, log: log, all: map[string]*tenant{}}
}

func (t *tenants) serve(w http.ResponseWriter, r *http.Request) {
	project := r.PathValue("project")
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		gateway.WriteError(w, http.StatusUnauthorized, v1.CodeTokenRequired,
			"send an McpToken of project "+project+" as Authorization: Bearer <token> (create one with `mcpctl create mcptoken NAME -p "+project+"`)")
		return
	}
	info, err := t.in.lookup(r.Context(), tok)
	var apiErr *v1.Error
	switch {
	case errors.As(err, &apiErr):
		gateway.WriteError(w, http.StatusUnauthorized, v1.CodeTokenInvalid, "mcpd refused the token: "+apiErr.Message)
		return
	case err != nil && info != nil:
		gateway.WriteError(w, http.StatusUnauthorized, v1.CodeTokenInvalid, err.Error())
		return
	case err != nil:
		t.log.Warn("token introspection failed", "err", err)
		w.Header().Set("Retry-After", "5")
		gateway.WriteError(w, http.StatusServiceUnavailable, "UNAVAILABLE", "mcpd cannot be reached to check the token; try again shortly")
		return
	}
	if info.Project != project {
		gateway.WriteError(w, http.StatusForbidden, v1.CodeForbidden,
			"this McpToken belongs to project "+info.Project+", not "+project+": use /projects/"+info.Project+"/mcp or a token of "+project)
		return
	}
	ten, err := t.get(info, tok)
	if err != nil {
		t.log.Error("tenant", "err", err)
		gateway.WriteError(w, http.StatusInternalServerError, "INTERNAL", "the gateway could not be set up for this token; see mcplocal's log")
		return
	}
	ten.edge.ServeProject(w, r, project)
}

func (t *tenants) get(info *v1.TokenIntrospection, tok string) (*tenant, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ten := t.all[info.SHA256]; ten != nil {
		return ten, nil
	}
	eng, err := remote(t.mcpd, info.Project, tok, t.metrics, t.log.With("project", info.Project, "token", info.Name))
	if err != nil {
		return nil, err
	}
	p := gateway.Principal{Subject: "McpToken:" + info.SHA256, TokenName: info.Name, TokenSHA: info.SHA256}
	ten := &tenant{eng: eng, edge: gateway.NewEdge(edgeConfig(), eng.gw, fixed{p}, nil, t.log)}
	t.all[info.SHA256] = ten
	return ten, nil
}

func (t *tenants) close(ctx context.Context) {
	t.mu.Lock()
	all := t.all
	t.all = map[string]*tenant{}
	t.mu.Unlock()
	for _, ten := range all {
		ten.edge.Close(ctx)
		ten.eng.close()
	}
}

// fixed is a tenant's authenticator: the token was checked already.
type fixed struct{ p gateway.Principal }

func (f fixed) Authenticate(*http.Request, string) (gateway.Principal, error) { return f.p, nil }

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
