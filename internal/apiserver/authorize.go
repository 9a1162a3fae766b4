package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mcpctl/mcpctl/internal/authz"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// permKind says how a route is authorized. Every route names one: a
// route without is a programming error New refuses (deny by default).
type permKind int

const (
	permNone   permKind = iota
	permPublic          // no bearer at all (login, probes)
	// permSelf: any authenticated principal; the handler checks each
	// object it touches (apply, create, export, can-i, own account).
	permSelf
	permVerb // verb on resource, the object named by the path
	permRun  // the run role on an action
)

// perm is a route's authorization rule.
type perm struct {
	kind     permKind
	verb     string
	resource string
	action   string
	// nameParam is the path parameter naming the object ("name",
	// "email"); "" for collection routes.
	nameParam string
	// unfenced routes are open to an McpToken outside its project's
	// paths (introspect).
	unfenced bool
	// scoped says resource's objects belong to projects: the request
	// then names the path's project (decided once, not per request).
	scoped bool
}

var (
	public = perm{kind: permPublic}
	self   = perm{kind: permSelf}
)

func onItem(verb, resource, param string) perm {
	return perm{kind: permVerb, verb: verb, resource: resource, nameParam: param, scoped: v1.ScopedResource(resource)}
}

func onCollection(verb, resource string) perm {
	return perm{kind: permVerb, verb: verb, resource: resource, scoped: v1.ScopedResource(resource)}
}

func runs(action string) perm { return perm{kind: permRun, action: action} }

// authorized wraps a route's handler with its rule: the token fence, then
// the principal's rights. It runs after authentication (requireAuth), as
// the last layer before the handler, where the path parameters are known.
func (s *Server) authorized(rt route) http.HandlerFunc {
	if rt.perm.kind == permNone {
		panic("apiserver: route " + rt.method + " " + rt.path + " has no authorization rule")
	}
	if rt.perm.kind == permPublic {
		return rt.handle
	}
	return func(w http.ResponseWriter, r *http.Request) {
		st := state(r)
		if st.principal == nil { // requireAuth answered already; defensive
			s.writeError(w, r, st.authErr)
			return
		}
		if err := s.fence(rt, r, st); err != nil {
			s.writeError(w, r, err)
			return
		}
		rights, err := s.rightsOf(r.Context(), st)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		var req authz.Request
		switch p := rt.perm; p.kind {
		case permRun:
			req = authz.Request{Verb: v1.RoleRun, Action: p.action}
		case permVerb:
			req = authz.Request{Verb: p.verb, Resource: p.resource}
			if p.nameParam != "" {
				req.Name = r.PathValue(p.nameParam)
			}
			if p.scoped {
				req.Project = r.PathValue("project")
			}
		}
		switch {
		case rt.perm.kind == permSelf:
		case req.Verb == v1.RoleView && req.Name == "":
			// A listing: allowed when some objects are visible; the
			// handler shows only those.
			if !rights.ViewsAny(req.Resource) {
				s.writeError(w, r, forbidden(st, req))
				return
			}
		case !rights.Allows(req):
			s.writeError(w, r, forbidden(st, req))
			return
		}
		rt.handle(w, r)
	}
}

// fence keeps an McpToken inside its project: it reaches only the
// project itself, the paths under /api/v1/projects/<its project>/, and the
// routes marked unfenced; anything else is 403 whatever its bindings say.
func (s *Server) fence(rt route, r *http.Request, st *reqState) error {
	tok := st.principal.Token
	if tok == nil || rt.perm.unfenced {
		return nil
	}
	inside := false
	switch {
	case strings.HasPrefix(rt.path, "/api/v1/projects/{project}/"), rt.path == "/projects/{project}/mcp":
		inside = r.PathValue("project") == tok.Project
	case rt.path == "/api/v1/projects/{name}":
		inside = r.PathValue("name") == tok.Project && r.Method == http.MethodGet
	}
	if inside {
		return nil
	}
	return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
		"this McpToken belongs to project %s: it reaches only /projects/%s/mcp, /api/v1/projects/%s/... and /api/v1/mcptokens/introspect; use a login session for anything else",
		tok.Project, tok.Project, tok.Project))
}

// rightsOf computes the principal's rights once per request from the
// current policy snapshot.
func (s *Server) rightsOf(ctx context.Context, st *reqState) (*authz.Rights, error) {
	if st.rights != nil {
		return st.rights, nil
	}
	pol, err := s.authz.Policy(ctx)
	if err != nil {
		return nil, fmt.Errorf("load RBAC policy: %w", err)
	}
	p := st.principal
	if p.Token != nil {
		st.rights = pol.TokenRights(p.TokenHash, p.Token.Name, p.Token.Bindings)
	} else {
		st.rights = pol.UserRights(p.Email)
	}
	return st.rights, nil
}

// allow checks one request of the handler's own (an object inside an
// apply, a cascaded write) against the rights of the request in ctx. A
// context without a principal is refused: nothing is allowed by default.
func (s *Server) allow(ctx context.Context, req authz.Request) error {
	rights, err := s.rightsIn(ctx)
	if err != nil {
		return err
	}
	if !rights.Allows(req) {
		st, _ := ctx.Value(stateKey{}).(*reqState)
		if st == nil {
			st = &reqState{}
		}
		return forbidden(st, req)
	}
	return nil
}

// rightsIn returns the rights of the request in ctx: none without a
// principal.
func (s *Server) rightsIn(ctx context.Context) (*authz.Rights, error) {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	if st == nil || st.principal == nil {
		return &authz.Rights{}, nil
	}
	return s.rightsOf(ctx, st)
}

// forbidden is the 403 for req, naming the binding that would allow it.
func forbidden(st *reqState, req authz.Request) error {
	var need v1.RoleBinding
	if req.Verb == v1.RoleRun {
		need = v1.RoleBinding{Role: v1.RoleRun, Action: req.Action}
	} else {
		need = v1.RoleBinding{Role: req.Verb, Resource: req.Resource, Name: req.Name, Project: req.Project}
	}
	who := st.subject
	if st.principal != nil && st.principal.Token != nil {
		who = "McpToken " + st.principal.Token.Project + "/" + st.principal.Token.Name
	}
	return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
		"%s may not %s: no role binding grants it; an admin can grant %s in an RbacDefinition", who, req, need))
}

// forbiddenErr maps authz.ErrForbidden from the ceiling checks to a 403.
func forbiddenErr(err error) error {
	if errors.Is(err, authz.ErrForbidden) {
		return newError(http.StatusForbidden, v1.CodeForbidden, err.Error())
	}
	return err
}

// pluralOf is the RBAC resource name of a kind.
func pluralOf(kind string) string {
	if k, ok := v1.LookupKind(kind); ok {
		return k.Plural
	}
	return strings.ToLower(kind) + "s"
}
