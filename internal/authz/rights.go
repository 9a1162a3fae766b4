package authz

import (
	"errors"
	"fmt"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// ErrForbidden is wrapped by every refusal; the API answers 403.
var ErrForbidden = errors.New("forbidden")

// Request is one thing a principal wants to do: a verb on a resource
// (optionally one object of it by name), or the run verb on an action.
type Request struct {
	// Verb is view, create, edit, delete or run.
	Verb string
	// Resource is a plural (servers, users, ...) for the resource verbs.
	Resource string
	// Name is the object; "" asks about the resource as a whole (a
	// listing, which then shows only the objects the caller may view).
	Name string
	// Project is the object's project, for project-scoped resources.
	Project string
	// Action is what run is asked for.
	Action string
}

// String names the request the way error messages show it.
func (r Request) String() string {
	if r.Verb == v1.RoleRun {
		return "run " + r.Action
	}
	obj := r.Name
	if r.Project != "" {
		obj = r.Project + "/" + r.Name
	}
	if obj == "" {
		return r.Verb + " " + r.Resource
	}
	return r.Verb + " " + r.Resource + "/" + obj
}

// roleHas reports whether role includes verb: edit includes view, create
// and delete; every other role only itself.
func roleHas(role, verb string) bool {
	if role == verb {
		return true
	}
	return role == v1.RoleEdit && (verb == v1.RoleView || verb == v1.RoleCreate || verb == v1.RoleDelete)
}

// Grants reports whether b allows req. A named binding allows only
// requests for that object, a binding with a project only requests for
// that project's objects.
func Grants(b v1.RoleBinding, req Request) bool {
	if req.Verb == v1.RoleRun || b.Role == v1.RoleRun {
		return req.Verb == v1.RoleRun && b.Role == v1.RoleRun && (b.Action == "*" || b.Action == req.Action)
	}
	return roleHas(b.Role, req.Verb) && (b.Resource == "*" || b.Resource == req.Resource) &&
		(b.Name == "" || b.Name == req.Name) && (b.Project == "" || b.Project == req.Project)
}

// Covers reports whether everything b grants, h grants too.
func Covers(h, b v1.RoleBinding) bool {
	if h.Role == v1.RoleRun || b.Role == v1.RoleRun {
		return h.Role == v1.RoleRun && b.Role == v1.RoleRun && (h.Action == "*" || h.Action == b.Action)
	}
	if h.Resource != "*" && h.Resource != b.Resource {
		return false
	}
	if h.Name != "" && h.Name != b.Name {
		return false
	}
	if h.Project != "" && h.Project != b.Project {
		return false
	}
	switch b.Role {
	case v1.RoleEdit:
		return h.Role == v1.RoleEdit
	default:
		return roleHas(h.Role, b.Role)
	}
}

// Grant is a binding with where it comes from.
type Grant struct {
	v1.RoleBinding
	// From names the source: "rbacdefinition/ops", "mcptoken/ci".
	From string
}

// Rights is what one principal may do.
type Rights struct {
	// All is set for members of the admin group.
	All bool
	// Grants are the principal's bindings.
	Grants []Grant
}

// AllBindings are the bindings that stand for every right: what a token
// cloned from an admin holds.
var AllBindings = []v1.RoleBinding{{Role: v1.RoleEdit, Resource: "*"}, {Role: v1.RoleRun, Action: "*"}}

// Allows reports whether the rights grant req.
func (r *Rights) Allows(req Request) bool {
	_, ok := r.Which(req)
	return ok
}

// Which returns the grant that allows req.
func (r *Rights) Which(req Request) (Grant, bool) {
	if r.All {
		return Grant{RoleBinding: AllBindings[0], From: "group/" + v1.AdminGroup}, true
	}
	for _, g := range r.Grants {
		if Grants(g.RoleBinding, req) {
			return g, true
		}
	}
	return Grant{}, false
}

// ViewsAny reports whether the rights let the principal view at least
// some objects of resource: a listing is then allowed and filtered.
func (r *Rights) ViewsAny(resource string) bool {
	if r.All {
		return true
	}
	for _, g := range r.Grants {
		if g.Role != v1.RoleRun && roleHas(g.Role, v1.RoleView) && (g.Resource == "*" || g.Resource == resource) {
			return true
		}
	}
	return false
}

// ViewsAll reports whether the rights let the principal view every
// object of resource, so a listing needs no per-object filter.
func (r *Rights) ViewsAll(resource string) bool {
	if r.All {
		return true
	}
	for _, g := range r.Grants {
		if g.Role != v1.RoleRun && g.Name == "" && g.Project == "" && roleHas(g.Role, v1.RoleView) && (g.Resource == "*" || g.Resource == resource) {
			return true
		}
	}
	return false
}

// Holds reports whether the rights include everything b grants: the
// ceiling on what a principal may hand to a token or write into a
// definition.
func (r *Rights) Holds(b v1.RoleBinding) bool {
	if r.All {
		return true
	}
	for _, g := range r.Grants {
		if Covers(g.RoleBinding, b) {
			return true
		}
	}
	return false
}

// Bindings returns the rights as bindings, without repeats: what a token
// created with rbac clone holds.
func (r *Rights) Bindings() []v1.RoleBinding {
	if r.All {
		return append([]v1.RoleBinding(nil), AllBindings...)
	}
	seen := map[v1.RoleBinding]bool{}
	out := []v1.RoleBinding{}
	for _, g := range r.Grants {
		if !seen[g.RoleBinding] {
			seen[g.RoleBinding] = true
			out = append(out, g.RoleBinding)
		}
	}
	return out
}

// Ceiling returns an error naming the first binding of bs that the rights
// do not hold.
func (r *Rights) Ceiling(bs []v1.RoleBinding) error {
	for _, b := range bs {
		if !r.Holds(b) {
			return fmt.Errorf("%w: you cannot grant %s: you do not hold it yourself", ErrForbidden, b)
		}
	}
	return nil
}
