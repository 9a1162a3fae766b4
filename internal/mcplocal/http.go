package mcplocal

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

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
	used time.Time // guarded by tenants.mu
}

// tenantIdle is how long a token's engine stays without requests and
// sessions before it is closed.
const tenantIdle = 30 * time.Minute

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
	if errors.As(err, &apiErr) || (err != nil && info != nil) {
		// Revoked or expired: its engine (relay sessions with it) goes.
		t.drop(tokenSHA(tok))
	}
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
		ten.used = time.Now()
		return ten, nil
	}
	t.sweepLocked()
	eng, err := remote(t.mcpd, info.Project, tok, t.metrics, t.log.With("project", info.Project, "token", info.Name))
	if err != nil {
		return nil, err
	}
	p := gateway.Principal{Subject: "McpToken:" + info.SHA256, TokenName: info.Name, TokenSHA: info.SHA256}
	ten := &tenant{eng: eng, edge: gateway.NewEdge(edgeConfig(), eng.gw, fixed{p}, nil, t.log), used: time.Now()}
	t.all[info.SHA256] = ten
	return ten, nil
}

// sweepLocked closes the engines of tokens idle for tenantIdle with no
// session open. t.mu is held.
func (t *tenants) sweepLocked() {
	for sha, ten := range t.all {
		if time.Since(ten.used) > tenantIdle && len(ten.edge.Sessions()) == 0 {
			delete(t.all, sha)
			go closeTenant(ten)
		}
	}
}

// drop closes the engine of a token mcpd no longer accepts.
func (t *tenants) drop(sha string) {
	t.mu.Lock()
	ten := t.all[sha]
	delete(t.all, sha)
	t.mu.Unlock()
	if ten != nil {
		go closeTenant(ten)
	}
}

func closeTenant(ten *tenant) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ten.edge.Close(ctx)
	ten.eng.close()
}

// tokenSHA is the SHA-256 (hex) of a raw token, as mcpd names tokens.
func tokenSHA(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
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
