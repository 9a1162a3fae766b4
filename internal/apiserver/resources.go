package apiserver

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// resourceRoutes are the REST routes of every kind (DESIGN.md §6):
//
//	GET    /api/v1/<plural>               list (limit, cursor, labelSelector, project)
//	POST   /api/v1/<plural>               create
//	GET    /api/v1/<plural>/{name}        read (?reveal=true for secret values)
//	PUT    /api/v1/<plural>/{name}        replace (conditional on resourceVersion)
//	PATCH  /api/v1/<plural>/{name}        JSON merge patch
//	DELETE /api/v1/<plural>/{name}        delete (?cascade=true)
//
// Project-scoped kinds live under /api/v1/projects/{project}/<plural>, and
// GET /api/v1/<plural> lists them across projects.
func (s *Server) resourceRoutes() []route {
	var rs []route
	for _, k := range v1.Kinds {
		if k.Managed {
			continue // its own routes
		}
		base := "/api/v1/" + k.Plural
		item := base + "/{name}"
		coll := base
		list := onCollection(v1.RoleView, k.Plural)
		if k.Scoped {
			coll = "/api/v1/projects/{project}/" + k.Plural
			item = coll + "/{name}"
			rs = append(rs, route{"GET", base, k.Plural + ".list", list, s.listObjects(k)})
		}
		rs = append(rs,
			route{"GET", coll, k.Plural + ".list", list, s.listObjects(k)},
			// Checked per object in writeObjects, once the name is read.
			route{"POST", coll, k.Plural + ".create", self, s.putObject(k, modeCreate)},
			route{"GET", item, k.Plural + ".get", onItem(v1.RoleView, k.Plural, "name"), s.getObject(k)},
			route{"PUT", item, k.Plural + ".update", onItem(v1.RoleEdit, k.Plural, "name"), s.putObject(k, modeUpdate)},
			route{"PATCH", item, k.Plural + ".patch", onItem(v1.RoleEdit, k.Plural, "name"), s.patchObject(k)},
			route{"DELETE", item, k.Plural + ".delete", onItem(v1.RoleDelete, k.Plural, "name"), s.deleteObject(k)},
		)
	}
	// A project's servers, under the project: what an McpToken, fenced to
	// its project, can read.
	rs = append(rs, route{"GET", "/api/v1/projects/{project}/servers", "servers.list", onCollection(v1.RoleView, "servers"), s.listProjectServers})
	return append(rs,
		route{"POST", "/api/v1/apply", "apply", self, s.apply},
		route{"GET", "/api/v1/export", "export", self, s.export},
	)
}

// export answers every object of every kind the caller may view (but
// the built-in admin group and McpTokens), in apply order, read in one
// transaction so the set is consistent (what backup and `get all -A`
// need). ?reveal=true includes secret values and is audited as
// export.reveal.
//
//	GET /api/v1/export[?reveal=true]
func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r, "reveal"); err != nil {
		s.writeError(w, r, err)
		return
	}
	reveal := r.URL.Query().Get("reveal") == "true"
	if reveal {
		state(r).action = "export.reveal"
		if err := s.allow(r.Context(), authz.Request{Verb: v1.RoleRun, Action: "backup"}); err != nil {
			s.writeError(w, r, err)
			return
		}
	}
	rights, err := s.rightsIn(r.Context())
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := v1.ObjectList{Items: []v1.Object{}}
	err = s.store.ViewResources(r.Context(), func(tx store.ResourceReader) error {
		for _, k := range v1.Kinds {
			if k.Managed {
				continue
			}
			err := store.EachResource(tx.List, k.Kind, func(res store.Resource) error {
				if !rights.Allows(authz.Request{Verb: v1.RoleView, Resource: k.Plural, Name: res.Name, Project: res.Project}) {
					return nil // export holds what the caller may view
				}
				if res.Kind == "Group" && res.Name == v1.AdminGroup {
					return nil // built in, like the users it names: not part of a backup
				}
				o, err := s.toObject(res, reveal)
				out.Items = append(out.Items, o)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// keyOf is the store key of kind k named by the request path.
func keyOf(k v1.Kind, r *http.Request) (store.ResourceKey, error) {
	key := store.ResourceKey{Kind: k.Kind, Project: r.PathValue("project"), Name: r.PathValue("name")}
	var fe v1.FieldErrors
	if key.Name != "" {
		if msg := v1.ValidateName(key.Name); msg != "" {
			fe.Add("name", "%s", msg)
		}
	}
	if k.Scoped && key.Project != "" {
		if msg := v1.ValidateName(key.Project); msg != "" {
			fe.Add("project", "%s", msg)
		}
	}
	return key, fe.Err()
}

func notFound(key store.ResourceKey) error {
	return newError(http.StatusNotFound, v1.CodeNotFound, v1.IDOf(key.Kind, key.Project, key.Name)+" not found")
}

// reveal reads ?reveal=true, which only a Secret honours. It renames the
// audited action so reading values is found apart from reading keys.
func (s *Server) reveal(k v1.Kind, r *http.Request) (bool, error) {
	if r.URL.Query().Get("reveal") != "true" {
		return false, nil // any other value than false was refused by onlyParams
	}
	if k.Kind != "Secret" {
		return false, validationError(v1.FieldError{Field: "reveal", Message: "only secrets have values to reveal"})
	}
	state(r).action = k.Plural + ".reveal"
	return true, s.allow(r.Context(), authz.Request{Verb: v1.RoleRun, Action: "reveal-secrets"})
}

// listObjects pages through one kind in (project, name) order. A label
// selector filters; the page holds up to limit matches, or fewer when the
// rows one request may read run out first.
func (s *Server) listObjects(k v1.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var fe v1.FieldErrors
		if err := onlyParams(r, "limit", "cursor", "labelSelector", "project", "reveal"); err != nil {
			fe = append(fe, toAPIError(err).details...)
		}
		limit := pageLimit(q, &fe)
		sel, err := v1.ParseSelector(q.Get("labelSelector"))
		if err != nil {
			fe.Add("labelSelector", "%v", err)
		}
		f := store.ResourceFilter{Kind: k.Kind, Project: r.PathValue("project"), After: cursorParam(q, &fe)}
		if _, err := keyOf(k, r); err != nil {
			fe = append(fe, toAPIError(err).details...)
		}
		project := q.Get("project")
		if project != "" {
			if msg := v1.ValidateName(project); msg != "" {
				fe.Add("project", "%s", msg)
			}
			if p := r.PathValue("project"); p != "" && project != p {
				fe.Add("project", "must be %s, the project in the path, or be left out", p)
			}
			if k.Kind != "Server" && !k.Scoped {
				fe.Add("project", "only servers and project-scoped kinds can be listed by project")
			}
		}
		reveal, rerr := s.reveal(k, r)
		if ae := toAPIError(rerr); rerr != nil && ae.status != http.StatusBadRequest {
			s.writeError(w, r, rerr) // a refusal, not a field problem
			return
		} else if rerr != nil {
			fe = append(fe, ae.details...)
		}
		if err := fe.Err(); err != nil {
			s.writeError(w, r, err)
			return
		}
		// A project narrows servers to the ones it lists.
		var inProject map[string]bool
		switch {
		case project != "" && k.Scoped:
			f.Project = project
		case project != "":
			// The answer shows what the project holds: reading it is
			// viewing the project.
			if err := s.allow(r.Context(), authz.Request{Verb: v1.RoleView, Resource: "projects", Name: project}); err != nil {
				s.writeError(w, r, err)
				return
			}
			p, err := s.readObject(r, store.ResourceKey{Kind: "Project", Name: project}, false)
			if err != nil {
				s.writeError(w, r, err)
				return
			}
			inProject = map[string]bool{}
			for _, name := range p.Spec.(*v1.ProjectSpec).Servers {
				inProject[name] = true
			}
		}
		rights, err := s.rightsIn(r.Context())
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		// One row more than the page: when it exists there is a next page,
		// and a page that ends the listing carries no cursor. A filter
		// reads in larger batches, and at most maxScan rows per request:
		// past that the page ends short, with a cursor to go on.
		viewAll := rights.ViewsAll(k.Plural)
		batch, maxScan := limit+1, 0
		if len(sel) > 0 || inProject != nil || !viewAll {
			batch, maxScan = max(batch, 500), s.maxScan
		}
		items, next, more, err := pageOf(limit, batch, maxScan, f.After,
			func(after store.ResourceKey, n int) ([]store.Resource, error) {
				f.After, f.Limit = after, n
				return s.store.ListResources(r.Context(), f)
			},
			func(res store.Resource) store.ResourceKey { return res.ResourceKey },
			func(res store.Resource) (v1.Object, bool, error) {
				if !sel.Matches(res.Labels) || inProject != nil && !inProject[res.Name] ||
					!viewAll && !rights.Allows(authz.Request{Verb: v1.RoleView, Resource: k.Plural, Name: res.Name, Project: res.Project}) {
					return v1.Object{}, false, nil
				}
				o, err := s.toObject(res, reveal)
				return o, true, err
			})
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, v1.ObjectList{Items: append([]v1.Object{}, items...), NextCursor: nextCursor(more, next)})
	}
}

// listProjectServers lists the servers a project names: GET
// /api/v1/servers?project=P under the project's own path.
func (s *Server) listProjectServers(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Has("project") {
		s.writeError(w, r, validationError(v1.FieldError{Field: "project", Message: "is given by the path; remove the query parameter"}))
		return
	}
	q.Set("project", r.PathValue("project"))
	r.URL.RawQuery = q.Encode()
	r.SetPathValue("project", "")
	k, _ := v1.LookupKind("Server")
	s.listObjects(k)(w, r)
}

// pageOf reads rows in key order after start, batch at a time, through
// read, and keeps what keep makes of them, until limit items are kept or
// (when maxScan > 0) maxScan rows were read. next is the key of the last
// row read; more says rows may follow it, so a page that ends the listing
// carries no cursor.
func pageOf[R, I any](limit, batch, maxScan int, start store.ResourceKey,
	read func(after store.ResourceKey, n int) ([]R, error), key func(R) store.ResourceKey,
	keep func(R) (I, bool, error)) (items []I, next store.ResourceKey, more bool, err error) {
	next, scanned := start, 0
	for len(items) < limit {
		page, err := read(next, batch)
		if err != nil {
			return nil, next, false, err
		}
		for i, row := range page {
			next = key(row)
			scanned++
			item, ok, err := keep(row)
			if err != nil {
				return nil, next, false, err
			}
			if ok {
				items = append(items, item)
			}
			if len(items) == limit || maxScan > 0 && scanned >= maxScan {
				return items, next, i < len(page)-1 || len(page) == batch, nil
			}
		}
		if len(page) < batch {
			break
		}
	}
	return items, next, false, nil
}

// pageLimit reads ?limit=, 1 to 1000, 100 when absent.
func pageLimit(q url.Values, fe *v1.FieldErrors) int {
	v := q.Get("limit")
	if v == "" {
		return 100
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 1000 {
		fe.Add("limit", "must be an integer from 1 to 1000")
	}
	return n
}

// nextCursor is a page's nextCursor: the last key read when there is more.
func nextCursor(more bool, next store.ResourceKey) string {
	if !more {
		return ""
	}
	return encodeResourceCursor(next)
}

func encodeResourceCursor(k store.ResourceKey) string {
	return base64.RawURLEncoding.EncodeToString([]byte("r:" + k.Project + "/" + k.Name))
}

// cursorParam reads ?cursor= of a listing in (project, name) order; a
// cursor this server did not issue is a field error.
func cursorParam(q url.Values, fe *v1.FieldErrors) store.ResourceKey {
	c := q.Get("cursor")
	if c == "" {
		return store.ResourceKey{}
	}
	after, ok := decodeResourceCursor(c)
	if !ok {
		fe.Add("cursor", "is not a cursor this server issued; pass nextCursor from the previous page unchanged")
	}
	return after
}

func decodeResourceCursor(c string) (store.ResourceKey, bool) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(b), "r:") {
		return store.ResourceKey{}, false
	}
	project, name, ok := strings.Cut(string(b[2:]), "/")
	return store.ResourceKey{Project: project, Name: name}, ok && name != ""
}

func (s *Server) getObject(k v1.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := keyOf(k, r)
		if err == nil {
			err = onlyParams(r, "reveal")
		}
		reveal, rerr := s.reveal(k, r)
		if err == nil {
			err = rerr
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		o, err := s.readObject(r, key, reveal)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, o)
	}
}

// onlyParams refuses query parameters other than the allowed ones.
func onlyParams(r *http.Request, allowed ...string) error {
	var fe v1.FieldErrors
	var unknown []string
	for p := range r.URL.Query() {
		ok := false
		for _, a := range allowed {
			ok = ok || p == a
		}
		if !ok {
			unknown = append(unknown, p)
		}
	}
	sort.Strings(unknown)
	for _, p := range unknown {
		if len(allowed) == 0 {
			fe.Add(p, "unknown query parameter; this endpoint takes none")
		} else {
			fe.Add(p, "unknown query parameter; allowed: %s", strings.Join(allowed, ", "))
		}
	}
	// A flag read as false unless it is exactly "true" would turn
	// ?dryRun=1 into a real write: anything but true or false is refused.
	for _, a := range allowed {
		if !flagParams[a] {
			continue
		}
		if v := r.URL.Query().Get(a); v != "" && v != "true" && v != "false" {
			fe.Add(a, "must be true or false")
		}
	}
	return fe.Err()
}

// flagParams are the query parameters that take true or false.
var flagParams = map[string]bool{"dryRun": true, "cascade": true, "reveal": true, "all": true}

func (s *Server) readObject(r *http.Request, key store.ResourceKey, reveal bool) (v1.Object, error) {
	res, err := s.store.GetResource(r.Context(), key)
	if errors.Is(err, store.ErrNotFound) {
		return v1.Object{}, notFound(key)
	}
	if err != nil {
		return v1.Object{}, err
	}
	return s.toObject(res, reveal)
}

// decodeBody reads one object from the request body, strictly, and checks
// it names kind k (and, for an item path, the path's name and project).
func decodeBody(r *http.Request, k v1.Kind, key store.ResourceKey) (*v1.Object, error) {
	body, err := readJSONBody(r, "application/json")
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if json.Unmarshal(body, &doc) == nil && doc != nil {
		// What the path says need not be repeated in the body.
		if _, ok := doc["kind"]; !ok {
			doc["kind"] = k.Kind
		}
		if _, ok := doc["metadata"]; !ok {
			doc["metadata"] = map[string]any{}
		}
		if md, ok := doc["metadata"].(map[string]any); ok {
			if md["name"] == nil && key.Name != "" {
				md["name"] = key.Name
			}
			if md["project"] == nil && key.Project != "" {
				md["project"] = key.Project
			}
		}
	}
	var o *v1.Object
	if doc != nil {
		o, err = v1.DecodeValue(doc)
	} else {
		o, err = v1.DecodeObject(body)
	}
	if err != nil {
		return nil, err
	}
	var fe v1.FieldErrors
	if o.Kind != k.Kind {
		fe.Add("kind", "is %s but this endpoint is for %s; use /api/v1/%s or apply", o.Kind, k.Kind, k.Plural)
	}
	if key.Name != "" && o.Metadata.Name != key.Name {
		fe.Add("metadata.name", "the name cannot be changed (it is %s); to rename, create a new object and delete this one", key.Name)
	}
	if key.Project != "" && o.Metadata.Project != key.Project {
		fe.Add("metadata.project", "must be %s, the project in the path", key.Project)
	}
	return o, fe.Err()
}

// putObject creates (POST) or replaces (PUT) one object from the body.
func (s *Server) putObject(k v1.Kind, mode writeMode) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := keyOf(k, r)
		if err == nil {
			err = onlyParams(r, "dryRun")
		}
		var o *v1.Object
		if err == nil {
			o, err = decodeBody(r, k, key)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeOne(w, r, writeOp{obj: o, mode: mode})
	}
}

// writeOne creates or updates one object and answers with it as stored
// (or, for a dry run, with what would happen).
func (s *Server) writeOne(w http.ResponseWriter, r *http.Request, op writeOp) {
	dry := r.URL.Query().Get("dryRun") == "true"
	results, err := s.writeObjects(r.Context(), []writeOp{op}, v1.OnConflictUpdate, dry)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	status := http.StatusOK
	if results[0].Action == v1.ActionCreated {
		status = http.StatusCreated
	}
	if dry {
		writeJSON(w, status, v1.ApplyResponse{DryRun: true, Results: results})
		return
	}
	r0 := results[0]
	out, err := s.readObject(r, store.ResourceKey{Kind: r0.Kind, Project: r0.Project, Name: r0.Name}, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, status, out)
}

// patchObject applies a JSON merge patch (RFC 7386) to the object as the
// API shows it (secret values null: a null in the patch deletes a key, an
// untouched redacted value keeps its value), in the write's transaction.
func (s *Server) patchObject(k v1.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := keyOf(k, r)
		if err == nil {
			err = onlyParams(r, "dryRun")
		}
		var body []byte
		if err == nil {
			body, err = readJSONBody(r, "application/merge-patch+json", "application/json")
		}
		var patch any
		if err == nil {
			if err = json.Unmarshal(body, &patch); err != nil {
				err = validationError(v1.FieldError{Message: "malformed JSON: " + err.Error()})
			} else if _, ok := patch.(map[string]any); !ok {
				err = validationError(v1.FieldError{Message: "a merge patch must be a JSON object such as {\"spec\":{\"replicas\":2}}"})
			}
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		s.writeOne(w, r, writeOp{key: key, patch: patch, mode: modeUpdate})
	}
}

func (s *Server) deleteObject(k v1.Kind) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		key, err := keyOf(k, r)
		if err == nil {
			err = onlyParams(r, "cascade", "dryRun")
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		q := r.URL.Query()
		out, err := s.deleteCascade(r.Context(), key, q.Get("cascade") == "true", q.Get("dryRun") == "true")
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	}
}

// apply creates or updates every object of the request in one
// transaction, after checking all of them.
func (s *Server) apply(w http.ResponseWriter, r *http.Request) {
	if err := onlyParams(r); err != nil {
		s.writeError(w, r, err)
		return
	}
	var req v1.ApplyRequest
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	ops := make([]writeOp, len(req.Objects))
	var fe v1.FieldErrors
	for i, raw := range req.Objects {
		path := fmt.Sprintf("objects[%d]", i)
		o, err := v1.DecodeObject(raw)
		if err != nil {
			fe = append(fe, prefixed(path, err)...)
			continue
		}
		ops[i] = writeOp{obj: o, path: path, mode: modeApply}
	}
	if err := fe.Err(); err != nil {
		s.writeError(w, r, err)
		return
	}
	onConflict := req.OnConflict
	if onConflict == "" {
		onConflict = v1.OnConflictUpdate
	}
	results, err := s.writeObjects(r.Context(), ops, onConflict, req.DryRun)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v1.ApplyResponse{DryRun: req.DryRun, Results: results})
}

// prefixed returns a validation error's fields under path.
func prefixed(path string, err error) v1.FieldErrors {
	var ve *v1.ValidationError
	if !errors.As(err, &ve) {
		return v1.FieldErrors{{Field: path, Message: err.Error()}}
	}
	out := make(v1.FieldErrors, len(ve.Fields))
	for i, f := range ve.Fields {
		out[i] = v1.FieldError{Field: joinField(path, f.Field), Message: f.Message}
	}
	return out
}

func joinField(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	}
	return path + "." + field
}
