package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// userRoutes are the user endpoints. Users are named by email.
//
//	GET    /api/v1/users            list (limit, cursor)
//	POST   /api/v1/users            create {email, name, password}
//	GET    /api/v1/users/{email}    read
//	PATCH  /api/v1/users/{email}    rename or reset the password {name?, password?}
//	DELETE /api/v1/users/{email}    delete (not the last admin)
func (s *Server) userRoutes() []route {
	const item = "/api/v1/users/{email}"
	return []route{
		{"GET", "/api/v1/users", "users.list", onCollection(v1.RoleView, "users"), s.listUsers},
		{"POST", "/api/v1/users", "users.create", self, s.createUser},
		{"GET", item, "users.get", onItem(v1.RoleView, "users", "email"), s.getUser},
		{"PATCH", item, "users.patch", onItem(v1.RoleEdit, "users", "email"), s.updateUser},
		{"DELETE", item, "users.delete", onItem(v1.RoleDelete, "users", "email"), s.deleteUser},
	}
}

func (s *Server) apiUser(pol *authz.Policy, u store.User) v1.User {
	return v1.User{ID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt, Groups: pol.GroupsOf(u.Email)}
}

// writeUser answers with u and its groups.
func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, status int, u store.User) {
	pol, err := s.authz.Policy(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, s.apiUser(pol, u))
}

func userNotFound(email string) error {
	return newError(http.StatusNotFound, v1.CodeNotFound, "user "+strconvQuote(email)+" not found")
}

func emailParam(r *http.Request) (string, error) {
	email := r.PathValue("email")
	if msg := v1.ValidateEmail(email); msg != "" {
		return "", validationError(v1.FieldError{Field: "email", Message: msg})
	}
	return email, nil
}

func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var fe v1.FieldErrors
	if err := onlyParams(r, "limit", "cursor"); err != nil {
		fe = append(fe, toAPIError(err).details...)
	}
	limit := pageLimit(q, &fe)
	after := ""
	if c := q.Get("cursor"); c != "" {
		b, err := base64.RawURLEncoding.DecodeString(c)
		if err != nil || !strings.HasPrefix(string(b), "u:") {
			fe.Add("cursor", "is not a cursor this server issued; pass nextCursor from the previous page unchanged")
		}
		after = strings.TrimPrefix(string(b), "u:")
	}
	if err := fe.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	pol, err := s.authz.Policy(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	items, next, more, err := pageOf(limit, 500, s.maxScan, store.ResourceKey{Name: after},
		func(after store.ResourceKey, n int) ([]store.User, error) {
			return s.store.ListUsers(r.Context(), after.Name, n)
		},
		func(u store.User) store.ResourceKey { return store.ResourceKey{Name: u.Email} },
		func(u store.User) (v1.User, bool, error) {
			return s.apiUser(pol, u), rights.Allows(authz.Request{Verb: v1.RoleView, Resource: "users", Name: u.Email}), nil
		})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := v1.UserList{Items: append([]v1.User{}, items...)}
	if more {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte("u:" + next.Name))
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) getUser(w http.ResponseWriter, r *http.Request) {
	email, err := emailParam(r)
	if err == nil {
		err = onlyParams(r)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	u, err := s.store.UserByEmail(r.Context(), email)
	if errors.Is(err, store.ErrNotFound) {
		err = userNotFound(email)
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeUser(w, r, http.StatusOK, u)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	var req v1.CreateUserRequest
	err := onlyParams(r)
	if err == nil {
		err = decodeJSON(r, &req)
	}
	if err == nil {
		err = req.Validate()
	}
	if err == nil {
		err = s.allow(r.Context(), authz.Request{Verb: v1.RoleCreate, Resource: "users", Name: req.Email})
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := s.now().UTC()
	u := store.User{ID: auth.NewID(), Email: req.Email, Name: req.Name, PasswordHash: auth.HashPassword(req.Password),
		CreatedAt: now, UpdatedAt: now}
	err = s.store.UpdateResources(r.Context(), func(tx store.ResourceTx) error {
		if _, err := tx.GetUser(req.Email); err == nil {
			return store.ErrConflict
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		// Groups and definitions may already name the email: whoever
		// picks its password gets what they grant.
		if err := s.mayTakeOver(r, tx, req.Email, "create the user"); err != nil {
			return err
		}
		return tx.CreateUser(u)
	})
	if errors.Is(err, store.ErrConflict) {
		err = newError(http.StatusConflict, v1.CodeConflict, "user "+strconvQuote(req.Email)+" already exists")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeUser(w, r, http.StatusCreated, u)
}

// updateUser renames a user or resets their password; a reset ends the
// user's other sessions.
func (s *Server) updateUser(w http.ResponseWriter, r *http.Request) {
	email, err := emailParam(r)
	if err == nil {
		err = onlyParams(r)
	}
	var req v1.UpdateUserRequest
	if err == nil {
		body, rerr := readJSONBody(r, "application/merge-patch+json", "application/json")
		err = rerr
		if err == nil {
			dec := json.NewDecoder(strings.NewReader(string(body)))
			dec.DisallowUnknownFields()
			if derr := dec.Decode(&req); derr != nil {
				err = validationError(v1.FieldError{Message: "the body must be {\"name\": ..., \"password\": ...}: " + derr.Error()})
			}
		}
	}
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	hash := ""
	if req.Password != nil {
		hash = auth.HashPassword(*req.Password) // slow: before the lock
	}
	var u store.User
	err = s.store.UpdateResources(r.Context(), func(tx store.ResourceTx) error {
		var err error
		u, err = tx.GetUser(email)
		if errors.Is(err, store.ErrNotFound) {
			return userNotFound(email)
		}
		if err != nil {
			return err
		}
		if req.Password != nil {
			if err := s.mayTakeOver(r, tx, email, "reset the password of"); err != nil {
				return err
			}
			u.PasswordHash = hash
		}
		if req.Name != nil {
			u.Name = *req.Name
		}
		u.UpdatedAt = s.now().UTC()
		return tx.UpdateUser(u)
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Password != nil {
		if err := s.endSessions(r, u.ID); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	s.writeUser(w, r, http.StatusOK, u)
}

// mayTakeOver refuses an action on an account that would hand the caller
// that account's rights (creating it, resetting its password) unless the
// caller holds every right it holds: only admins act so on admins. It is
// called inside the write's transaction and reads the groups and
// definitions afresh (not the cached snapshot), so a grant made a moment
// ago on another replica is counted.
func (s *Server) mayTakeOver(r *http.Request, tx store.ResourceTx, email, what string) error {
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		return err
	}
	pol, err := authz.LoadTx(tx)
	if err != nil {
		return err
	}
	target := pol.UserRights(email)
	if target.All && !rights.All {
		return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf("only an admin can %s %s, a member of the admin group", what, email))
	}
	if err := rights.Ceiling(target.Bindings()); err != nil {
		return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
			"you cannot %s %s: it would hand you their rights, and %v", what, email, strings.TrimPrefix(err.Error(), "forbidden: ")))
	}
	return nil
}

// endSessions revokes a user's sessions, but the one of this request.
func (s *Server) endSessions(r *http.Request, userID string) error {
	p := state(r).principal
	except := ""
	if p != nil && p.Token == nil {
		except = p.TokenHash
	}
	if err := s.store.RevokeUserSessions(r.Context(), userID, except, s.now().UTC()); err != nil {
		return err
	}
	s.auth.ForgetUser(userID, except)
	return nil
}

// deleteUser removes a user, their sessions and group memberships, and
// revokes the McpTokens they created. The last existing member of the
// admin group cannot be deleted.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	email, err := emailParam(r)
	if err == nil {
		err = onlyParams(r)
	}
	var rights *authz.Rights
	if err == nil {
		rights, err = s.rightsIn(r.Context())
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var revoked []store.Token
	var deleted string // the user's id
	now := s.now().UTC()
	err = s.store.UpdateResources(r.Context(), func(tx store.ResourceTx) error {
		u, err := tx.GetUser(email)
		if errors.Is(err, store.ErrNotFound) {
			return userNotFound(email)
		}
		if err != nil {
			return err
		}
		deleted = u.ID
		pol, err := authz.LoadTx(tx) // afresh, under the lock
		if err != nil {
			return err
		}
		if pol.IsAdmin(email) && !rights.All {
			return newError(http.StatusForbidden, v1.CodeForbidden, "only an admin can delete "+email+", a member of the admin group")
		}
		err = store.EachResource(tx.List, "Group", func(res store.Resource) error {
			var g v1.GroupSpec
			if err := json.Unmarshal(res.Spec, &g); err != nil {
				return fmt.Errorf("stored group %s: %w", res.Name, err)
			}
			if !slices.Contains(g.Members, email) {
				return nil
			}
			if res.Name == v1.AdminGroup {
				if err := keepsAnAdmin(tx, g.Members, email); err != nil {
					return newError(http.StatusConflict, v1.CodeConflict, fmt.Sprintf(
						"%s is the last admin: deleting them would leave nobody to administer mcpd; add another user to the admin group first", email))
				}
			}
			g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == email })
			next := res
			next.UpdatedAt = now
			if next.Spec, err = json.Marshal(&g); err != nil {
				return err
			}
			return tx.Update(&next)
		})
		if err != nil {
			return err
		}
		if revoked, err = tx.RevokeTokensBy(v1.SubjectUser+":"+email, now); err != nil {
			return err
		}
		return tx.DeleteUser(u.ID)
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	for _, t := range revoked {
		s.auth.Forget(t.Hash)
	}
	s.auth.ForgetUser(deleted, "")
	s.authz.Invalidate()
	w.WriteHeader(http.StatusNoContent)
}

// changePassword lets a user change their own password, given the current
// one; their other sessions end.
//
//	POST /api/v1/auth/password {"currentPassword": "...", "newPassword": "..."}
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	st := state(r)
	if st.principal.Token != nil {
		s.writeError(w, r, newError(http.StatusForbidden, v1.CodeForbidden, "an McpToken has no password; log in as a user to change yours"))
		return
	}
	var req v1.PasswordRequest
	err := onlyParams(r)
	if err == nil {
		err = decodeJSON(r, &req)
	}
	if err == nil {
		err = req.Validate()
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if v := s.loginEmail.allow(strings.ToLower(st.principal.Email)); !v.allowed {
		s.tooMany(w, r, v, "MCPD_LOGIN_RATE_LIMIT")
		return
	}
	u, err := s.store.UserByEmail(r.Context(), st.principal.Email)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	ok, err := auth.VerifyPassword(u.PasswordHash, req.CurrentPassword)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if !ok {
		s.writeError(w, r, validationError(v1.FieldError{Field: "currentPassword", Message: "is wrong"}))
		return
	}
	u.PasswordHash = auth.HashPassword(req.NewPassword)
	u.UpdatedAt = s.now().UTC()
	if err := s.store.UpdateResources(r.Context(), func(tx store.ResourceTx) error { return tx.UpdateUser(u) }); err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.endSessions(r, u.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// verbAliases maps kubectl's verbs to roles.
var verbAliases = map[string]string{
	"view": v1.RoleView, "get": v1.RoleView, "list": v1.RoleView, "watch": v1.RoleView,
	"edit": v1.RoleEdit, "update": v1.RoleEdit, "patch": v1.RoleEdit,
	"create": v1.RoleCreate, "delete": v1.RoleDelete, "run": v1.RoleRun,
}

// canI answers whether the caller (or, with as, another subject) may do
// one thing. Asking about another subject needs view on rbacdefinitions:
// whoever can read the definitions can work the answer out anyway.
//
//	GET /api/v1/auth/can-i?verb=edit&resource=servers&name=x[&as=User:bob@example.com]
//	GET /api/v1/auth/can-i?verb=run&action=logs
func (s *Server) canI(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var fe v1.FieldErrors
	if err := onlyParams(r, "verb", "resource", "name", "project", "action", "as"); err != nil {
		fe = append(fe, toAPIError(err).details...)
	}
	req := authz.Request{Verb: verbAliases[strings.ToLower(q.Get("verb"))], Name: q.Get("name"), Project: q.Get("project"), Action: q.Get("action")}
	switch {
	case q.Get("verb") == "":
		fe.Add("verb", "is required: view, create, edit, delete or run")
	case req.Verb == "":
		fe.Add("verb", "unknown verb %q; verbs are view (get, list), create, edit (update, patch), delete and run", q.Get("verb"))
	case req.Verb == v1.RoleRun:
		b := v1.RoleBinding{Role: v1.RoleRun, Action: req.Action}
		var bfe v1.FieldErrors
		v1.ValidateBindings("", []v1.RoleBinding{b}, &bfe)
		for _, e := range bfe {
			fe.Add("action", "%s", e.Message)
		}
	default:
		b := v1.RoleBinding{Role: req.Verb, Resource: q.Get("resource"), Name: req.Name, Project: req.Project}
		b.Normalize()
		if b.Resource == "*" {
			fe.Add("resource", "name one resource, not *")
		}
		var bfe v1.FieldErrors
		v1.ValidateBindings("", []v1.RoleBinding{b}, &bfe)
		for _, e := range bfe {
			fe.Add(strings.TrimPrefix(strings.TrimPrefix(e.Field, "[0]"), "."), "%s", e.Message)
		}
		req.Resource = b.Resource
	}
	if err := fe.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	st := state(r)
	subject := st.subject
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if as := q.Get("as"); as != "" && as != subject {
		if !rights.Allows(authz.Request{Verb: v1.RoleView, Resource: "rbacdefinitions"}) {
			s.writeError(w, r, newError(http.StatusForbidden, v1.CodeForbidden,
				"asking about another subject needs view on rbacdefinitions (role:view,resource:rbacdefinitions)"))
			return
		}
		if rights, err = s.subjectRights(r, as, rights); err != nil {
			s.writeError(w, r, err)
			return
		}
		subject = as
	}
	out := v1.CanIResponse{Subject: subject}
	g, ok := rights.Which(req)
	switch {
	case ok && rights.All:
		out.Allowed, out.Reason = true, "allowed: a member of the admin group holds every right"
	case ok:
		out.Allowed, out.Reason = true, fmt.Sprintf("allowed by %s (%s)", g.From, g.RoleBinding)
	case req.Verb == v1.RoleView && req.Name == "" && rights.ViewsAny(req.Resource):
		// What the list endpoint does: answer the objects that may be viewed.
		out.Allowed, out.Reason = true, "allowed for some objects only: a list shows those that named (or project) bindings allow"
	default:
		out.Reason = fmt.Sprintf("denied: no role binding of %s grants %s", subject, req)
	}
	writeJSON(w, http.StatusOK, out)
}

// subjectRights are the rights of an RBAC subject. A token's own bindings
// are shown only to a caller who may view the token.
func (s *Server) subjectRights(r *http.Request, subject string, caller *authz.Rights) (*authz.Rights, error) {
	kind, name, err := v1.ParseSubject(subject)
	if err != nil {
		return nil, validationError(v1.FieldError{Field: "as", Message: err.Error()})
	}
	pol, err := s.authz.Policy(r.Context())
	if err != nil {
		return nil, err
	}
	switch kind {
	case v1.SubjectUser:
		return pol.UserRights(name), nil
	case v1.SubjectGroup:
		return pol.GroupRights(name), nil
	}
	t, err := s.store.TokenByHash(r.Context(), name)
	if errors.Is(err, store.ErrNotFound) || err == nil && !caller.Allows(authz.Request{Verb: v1.RoleView, Resource: "mcptokens", Name: t.Name, Project: t.Project}) {
		return nil, newError(http.StatusNotFound, v1.CodeNotFound, "no McpToken you may view has sha256 "+name+" (role:view,resource:mcptokens)")
	}
	if err != nil {
		return nil, err
	}
	return pol.TokenRights(t.Hash, t.Name, t.Bindings), nil
}
