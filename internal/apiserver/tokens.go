package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// tokenRoutes are the McpToken endpoints:
//
//	GET    /api/v1/mcptokens                                 list (?project=, limit, cursor)
//	GET    /api/v1/mcptokens/introspect                      the bearer token itself
//	GET    /api/v1/projects/{project}/mcptokens              list one project's
//	POST   /api/v1/projects/{project}/mcptokens              create (the raw token is in the answer, once)
//	GET    /api/v1/projects/{project}/mcptokens/{name}       read
//	DELETE /api/v1/projects/{project}/mcptokens/{name}       delete
//	POST   /api/v1/projects/{project}/mcptokens/{name}/revoke revoke (kept, listed as revoked)
func (s *Server) tokenRoutes() []route {
	const coll = "/api/v1/projects/{project}/mcptokens"
	const item = coll + "/{name}"
	list := onCollection(v1.RoleView, "mcptokens")
	return []route{
		{"GET", "/api/v1/mcptokens", "mcptokens.list", list, s.listTokens},
		{"GET", "/api/v1/mcptokens/introspect", "mcptokens.introspect", perm{kind: permSelf, unfenced: true}, s.introspect},
		{"GET", coll, "mcptokens.list", list, s.listTokens},
		{"POST", coll, "mcptokens.create", self, s.createToken},
		{"GET", item, "mcptokens.get", onItem(v1.RoleView, "mcptokens", "name"), s.getToken},
		{"DELETE", item, "mcptokens.delete", onItem(v1.RoleDelete, "mcptokens", "name"), s.deleteToken},
		{"POST", item + "/revoke", "mcptokens.revoke", onItem(v1.RoleDelete, "mcptokens", "name"), s.revokeToken},
	}
}

// tokenState is a token's state at now.
func tokenState(t store.Token, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return v1.TokenRevoked
	case !t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt):
		return v1.TokenExpired
	}
	return v1.TokenActive
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// toMcpToken is a stored token in API form. Its spec is what re-creates
// it elsewhere: the rights it holds as bindings, rbac empty, the expiry
// as ttl.
func toMcpToken(t store.Token, now time.Time) v1.McpToken {
	created := t.CreatedAt
	ttl := "never"
	if !t.ExpiresAt.IsZero() {
		ttl = t.ExpiresAt.UTC().Format(time.RFC3339)
	}
	bindings := t.Bindings
	if bindings == nil {
		bindings = []v1.RoleBinding{}
	}
	return v1.McpToken{
		APIVersion: v1.APIVersion, Kind: "McpToken",
		Metadata: v1.ObjectMeta{Name: t.Name, Project: t.Project, CreatedAt: &created},
		Spec:     v1.McpTokenSpec{Description: t.Description, TTL: ttl, Rbac: v1.TokenRbacEmpty, Bindings: bindings},
		Status: v1.McpTokenStatus{SHA256: t.Hash, Prefix: t.Prefix, CreatedBy: t.CreatedBy,
			ExpiresAt: timePtr(t.ExpiresAt), RevokedAt: timePtr(t.RevokedAt), LastUsedAt: timePtr(t.LastUsedAt),
			State: tokenState(t, now)},
	}
}

// tokenKind is McpToken's entry in the kind registry: its paths are
// checked and named like any scoped kind's.
var tokenKind, _ = v1.LookupKind("McpToken")

// mintToken builds a new token for project: its rights are the caller's
// (rbac clone) or none, plus the spec's bindings, each of which the
// caller must hold. The raw token is returned once and never stored.
func (s *Server) mintToken(rights *authz.Rights, creator, project, name string, spec v1.McpTokenSpec) (raw string, t store.Token, err error) {
	now := s.now().UTC()
	expires, err := v1.ParseTTL(spec.TTL, now)
	if err != nil {
		return "", t, validationError(v1.FieldError{Field: "spec.ttl", Message: err.Error()})
	}
	var bindings []v1.RoleBinding
	if spec.Rbac == v1.TokenRbacClone {
		bindings = rights.Bindings()
	}
	if err := rights.Ceiling(spec.Bindings); err != nil {
		return "", t, forbiddenErr(err)
	}
	seen := map[v1.RoleBinding]bool{}
	for _, b := range bindings {
		seen[b] = true
	}
	for _, b := range spec.Bindings {
		if !seen[b] {
			seen[b] = true
			bindings = append(bindings, b)
		}
	}
	raw, hash := auth.NewToken(v1.McpTokenPrefix)
	t = store.Token{Hash: hash, Project: project, Name: name, Prefix: raw[:len(v1.McpTokenPrefix)+6],
		Description: spec.Description, Bindings: bindings, CreatedBy: creator, CreatedAt: now, ExpiresAt: expires}
	return raw, t, nil
}

// stageToken decides what an apply does with an McpToken: create it when
// the project has no active token of that name, skip it otherwise (a
// token's rights are fixed at creation; apply never changes them).
func (s *Server) stageToken(ctx context.Context, tx store.ResourceTx, st *staged, onConflict string) error {
	o := st.obj
	project, name := o.Metadata.Project, o.Metadata.Name
	st.result = v1.ApplyResult{Kind: o.Kind, Name: name, Project: project}
	if len(o.Metadata.Labels) > 0 {
		return validationError(v1.FieldError{Field: joinField(st.path, "metadata.labels"), Message: "an McpToken has no labels; remove them"})
	}
	// A token of this name, in any state, is left as it is: its rights are
	// fixed at creation, and re-creating a revoked or expired one from a
	// copy of `get -o yaml` would bring it back.
	cur, err := tx.GetToken(project, name)
	switch {
	case err == nil && onConflict == v1.OnConflictFail:
		return newError(http.StatusConflict, v1.CodeConflict, v1.IDOf("McpToken", project, name)+" already exists and --on-conflict is fail; nothing was written")
	case err == nil:
		st.result.Action = v1.ActionSkipped
		st.result.Warnings = []string{fmt.Sprintf("a token of this name exists (%s); apply never changes a token: delete it, or `mcpctl create mcptoken %s -p %s --force`, to replace it",
			tokenState(cur, s.now()), name, project)}
		return nil
	case !errors.Is(err, store.ErrNotFound):
		return err
	}
	rights, err := s.rightsIn(ctx)
	if err != nil {
		return err
	}
	creator := ""
	if rs, ok := ctx.Value(stateKey{}).(*reqState); ok {
		creator = rs.subject
	}
	raw, t, err := s.mintToken(rights, creator, project, name, *o.Spec.(*v1.McpTokenSpec))
	if err != nil {
		ae := toAPIError(err)
		if ae.status == http.StatusBadRequest {
			fe := make(v1.FieldErrors, len(ae.details))
			for i, d := range ae.details {
				fe[i] = v1.FieldError{Field: joinField(st.path, d.Field), Message: d.Message}
			}
			return validationError(fe...)
		}
		return newError(ae.status, ae.code, o.ID()+": "+ae.msg)
	}
	st.token = &t
	st.result.Action, st.result.Token = v1.ActionCreated, raw
	return nil
}

// createToken creates one token. An active token of the same name is a
// 409 unless force, which replaces it (the old one stops working).
//
//	POST /api/v1/projects/{project}/mcptokens  {"name": "ci", "spec": {...}, "force": false}
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	key, err := keyOf(tokenKind, r)
	project := key.Project
	if err == nil {
		err = onlyParams(r)
	}
	var req v1.CreateMcpTokenRequest
	if err == nil {
		err = decodeJSON(r, &req)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var fe v1.FieldErrors
	if msg := v1.ValidateName(req.Name); msg != "" {
		fe.Add("name", "%s", msg)
	}
	req.Spec.Validate(&fe)
	if err := fe.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	req.Spec.Default()
	if state(r).principal.Token != nil {
		// A token's child would outlive the token's revocation and expiry.
		s.writeError(w, r, newError(http.StatusForbidden, v1.CodeForbidden, "an McpToken cannot create McpTokens; log in as a user to create one"))
		return
	}
	if err := s.allow(r.Context(), authz.Request{Verb: v1.RoleCreate, Resource: "mcptokens", Name: req.Name, Project: project}); err != nil {
		s.writeError(w, r, err)
		return
	}
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	raw, t, err := s.mintToken(rights, state(r).subject, project, req.Name, req.Spec)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var replaced string
	err = s.store.UpdateResources(r.Context(), func(tx store.ResourceTx) error {
		if _, err := tx.Get(store.ResourceKey{Kind: "Project", Name: project}); errors.Is(err, store.ErrNotFound) {
			return newError(http.StatusNotFound, v1.CodeNotFound, "project/"+project+" not found; create the project first")
		} else if err != nil {
			return err
		}
		cur, err := tx.GetToken(project, req.Name)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case tokenState(cur, s.now()) == v1.TokenActive && !req.Force:
			return newError(http.StatusConflict, v1.CodeConflict, fmt.Sprintf(
				"%s is active; revoke or delete it first, or create with --force to replace it (the old token stops working)", v1.IDOf("McpToken", project, req.Name)))
		default:
			// Replacing a token deletes its record: that needs delete.
			if err := s.allow(r.Context(), authz.Request{Verb: v1.RoleDelete, Resource: "mcptokens", Name: req.Name, Project: project}); err != nil {
				return err
			}
			replaced = cur.Hash
		}
		return tx.PutToken(t)
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if replaced != "" {
		s.auth.Forget(replaced)
	}
	writeJSON(w, http.StatusCreated, v1.CreatedMcpToken{Token: raw, McpToken: toMcpToken(t, s.now())})
}

// listTokens pages through tokens in (project, name) order, showing only
// those the caller may view.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var fe v1.FieldErrors
	if err := onlyParams(r, "limit", "cursor", "project"); err != nil {
		fe = append(fe, toAPIError(err).details...)
	}
	f := store.TokenFilter{Project: r.PathValue("project"), Limit: 100}
	if f.Project != "" {
		if msg := v1.ValidateName(f.Project); msg != "" {
			fe.Add("project", "%s", msg)
		}
	}
	if p := q.Get("project"); p != "" {
		if msg := v1.ValidateName(p); msg != "" {
			fe.Add("project", "%s", msg)
		} else if f.Project != "" && p != f.Project {
			fe.Add("project", "must be %s, the project in the path, or be left out", f.Project)
		}
		f.Project = p
	}
	limit := pageLimit(q, &fe)
	f.After = cursorParam(q, &fe)
	if err := fe.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now()
	items, next, more, err := pageOf(limit, 500, s.maxScan, f.After,
		func(after store.ResourceKey, n int) ([]store.Token, error) {
			f.After, f.Limit = after, n
			return s.store.ListTokens(r.Context(), f)
		},
		func(t store.Token) store.ResourceKey { return store.ResourceKey{Project: t.Project, Name: t.Name} },
		func(t store.Token) (v1.McpToken, bool, error) {
			ok := rights.Allows(authz.Request{Verb: v1.RoleView, Resource: "mcptokens", Name: t.Name, Project: t.Project})
			return toMcpToken(t, now), ok, nil
		})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v1.McpTokenList{Items: append([]v1.McpToken{}, items...), NextCursor: nextCursor(more, next)})
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request) {
	key, err := keyOf(tokenKind, r)
	if err == nil {
		err = onlyParams(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	t, err := s.store.GetToken(r.Context(), key.Project, key.Name)
	if errors.Is(err, store.ErrNotFound) {
		err = notFound(key)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toMcpToken(t, s.now()))
}

// deleteToken removes a token; it stops working at once on this replica
// and within MCPD_AUTH_CACHE_TTL on the others.
func (s *Server) deleteToken(w http.ResponseWriter, r *http.Request) {
	s.endToken(w, r, func(tx store.ResourceTx, project, name string) error { return tx.DeleteToken(project, name) },
		v1.ActionDeleted)
}

// revokeToken marks a token revoked and keeps it, so listings and audit
// still show it.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	s.endToken(w, r, func(tx store.ResourceTx, project, name string) error {
		return tx.RevokeToken(project, name, s.now().UTC())
	}, "revoked")
}

func (s *Server) endToken(w http.ResponseWriter, r *http.Request, end func(tx store.ResourceTx, project, name string) error, action string) {
	key, err := keyOf(tokenKind, r)
	if err == nil {
		err = onlyParams(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var t store.Token
	err = s.store.UpdateResources(r.Context(), func(tx store.ResourceTx) error {
		var err error
		if t, err = tx.GetToken(key.Project, key.Name); err != nil {
			return err
		}
		return end(tx, key.Project, key.Name)
	})
	if errors.Is(err, store.ErrNotFound) {
		err = notFound(key)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.auth.Forget(t.Hash)
	writeJSON(w, http.StatusOK, v1.DeleteResponse{Deleted: v1.ApplyResult{Kind: "McpToken", Name: key.Name, Project: key.Project, Action: action}})
}

// introspect describes the McpToken presented as bearer: what the gateway
// (mcplocal HTTP mode) asks before it lets a client in.
func (s *Server) introspect(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	p := state(r).principal
	if p.Token == nil {
		s.writeError(w, r, validationError(v1.FieldError{Field: "Authorization",
			Message: "introspect describes the McpToken sent as bearer; this bearer is a login session"}))
		return
	}
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v1.TokenIntrospection{Active: true, Name: p.Token.Name, Project: p.Token.Project,
		SHA256: p.TokenHash, Bindings: rights.Bindings(), ExpiresAt: timePtr(p.ExpiresAt), CreatedBy: p.Token.CreatedBy})
}
