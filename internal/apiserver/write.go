package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/mcpctl/mcpctl/internal/authz"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// writeMode says whether an object may be created, updated, or either.
type writeMode int

const (
	modeApply  writeMode = iota // create or update
	modeCreate                  // must not exist
	modeUpdate                  // must exist
)

// writeOp is one object to write; path prefixes its error fields
// ("objects[3]") in an apply. A patch op has no obj: its object is the
// stored one, key, with patch merged in, computed inside the transaction.
type writeOp struct {
	obj   *v1.Object
	path  string
	mode  writeMode
	key   store.ResourceKey
	patch any
}

// kind is the op's kind, known before a patch is resolved.
func (op *writeOp) kind() string {
	if op.obj == nil {
		return op.key.Kind
	}
	return op.obj.Kind
}

// toObject turns a stored resource into its API form; secret values are
// null unless reveal.
func (s *Server) toObject(res store.Resource, reveal bool) (v1.Object, error) {
	if res.Kind != "Secret" {
		return plainObject(res)
	}
	o := v1.Object{APIVersion: v1.APIVersion, Kind: res.Kind, Metadata: metadataOf(res)}
	sealed, err := secret.ParseSealed(res.Spec)
	if err != nil {
		return v1.Object{}, fmt.Errorf("secret %s: %w", res.Name, err)
	}
	spec := &v1.SecretSpec{Data: map[string]*string{}}
	for key := range sealed.Data {
		spec.Data[key] = nil
	}
	if reveal {
		plain, err := s.secrets.OpenData(res.Name, sealed.Data)
		if err != nil {
			return v1.Object{}, err
		}
		for key, v := range plain {
			spec.Data[key] = &v
		}
	}
	o.Spec = spec
	return o, nil
}

// metadataOf is a stored resource's metadata in API form.
func metadataOf(res store.Resource) v1.ObjectMeta {
	created, updated := res.CreatedAt, res.UpdatedAt
	return v1.ObjectMeta{Name: res.Name, Project: res.Project, Labels: res.Labels,
		CreatedAt: &created, UpdatedAt: &updated, ResourceVersion: strconv.FormatInt(res.Version, 10)}
}

// plainObject decodes a stored resource of a kind without secrets.
func plainObject(res store.Resource) (v1.Object, error) {
	k, ok := v1.LookupKind(res.Kind)
	if !ok || k.Kind == "Secret" {
		return v1.Object{}, fmt.Errorf("plainObject: cannot decode a stored %q", res.Kind)
	}
	o := v1.Object{APIVersion: v1.APIVersion, Kind: k.Kind, Metadata: metadataOf(res), Spec: k.NewSpec()}
	if err := json.Unmarshal(res.Spec, o.Spec); err != nil {
		return v1.Object{}, fmt.Errorf("stored %s %s: %w", k.Singular, res.Name, err)
	}
	return o, nil
}

func objectKey(o *v1.Object) store.ResourceKey {
	return store.ResourceKey{Kind: o.Kind, Project: o.Metadata.Project, Name: o.Metadata.Name}
}

// staged is an op's object resolved against the store inside the
// transaction.
type staged struct {
	writeOp
	index  int
	cur    *store.Resource // nil when the object does not exist
	next   store.Resource
	result v1.ApplyResult
	keys   []string     // a Secret's data keys after the write
	token  *store.Token // an McpToken to store
}

// writeObjects checks every op, then writes them in one transaction (or,
// for a dry run, only reports). Results come back in op order.
func (s *Server) writeObjects(ctx context.Context, ops []writeOp, onConflict string, dry bool) ([]v1.ApplyResult, error) {
	var fe v1.FieldErrors
	first := map[store.ResourceKey]string{}
	for _, op := range ops {
		if op.patch != nil {
			continue // checked inside the transaction, once resolved
		}
		if err := op.obj.Prepare(); err != nil {
			fe = append(fe, prefixed(op.path, err)...)
		}
		key := objectKey(op.obj)
		if p, dup := first[key]; dup {
			fe.Add(joinField(op.path, "metadata.name"), "%s appears twice in this apply (also at %s); keep one", op.obj.ID(), p)
		} else {
			first[key] = op.path
		}
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	rights, err := s.rightsIn(ctx)
	if err != nil {
		return nil, err
	}
	// Before anything is read: a caller with no right at all on an object
	// learns nothing of it (that it exists, its version).
	for _, op := range ops {
		if op.patch != nil || op.mode == modeUpdate {
			continue // the route checked edit on the path's object
		}
		o := op.obj
		req := authz.Request{Resource: pluralOf(o.Kind), Name: o.Metadata.Name, Project: o.Metadata.Project}
		verbs := []string{v1.RoleCreate}
		if op.mode == modeApply {
			verbs = append(verbs, v1.RoleEdit, v1.RoleView)
		}
		allowed := false
		for _, v := range verbs {
			req.Verb = v
			allowed = allowed || rights.Allows(req)
		}
		if !allowed {
			req.Verb = verbs[0]
			return nil, newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
				"%s: you may not %s: no role binding grants it; an admin can grant %s", joinField(op.path, o.ID()), req,
				v1.RoleBinding{Role: req.Verb, Resource: req.Resource, Name: req.Name, Project: req.Project}))
		}
	}
	// Apply order: every kind after the kinds it references.
	order := make([]*staged, len(ops))
	for i, op := range ops {
		order[i] = &staged{writeOp: op, index: i}
	}
	sort.SliceStable(order, func(a, b int) bool {
		return v1.KindOrder(order[a].kind()) < v1.KindOrder(order[b].kind())
	})
	results := make([]v1.ApplyResult, len(ops))
	err = s.store.UpdateResources(ctx, func(tx store.ResourceTx) error {
		for _, st := range order {
			if st.patch == nil {
				continue
			}
			o, err := s.resolvePatch(tx, st.key, st.patch)
			if err != nil {
				return err
			}
			if err := o.Prepare(); err != nil {
				return err
			}
			st.obj = o
		}
		batch := map[store.ResourceKey]*staged{}
		for _, st := range order {
			if st.kind() == "McpToken" {
				if err := s.stageToken(ctx, tx, st, onConflict); err != nil {
					return err
				}
				continue
			}
			if err := s.stage(tx, st, onConflict, dry); err != nil {
				return err
			}
			if st.result.Action != v1.ActionSkipped {
				batch[objectKey(st.obj)] = st
			}
		}
		// A group's rights are read afresh, under the lock, when a
		// non-admin writes a group: new members get what they grant.
		var pol *authz.Policy
		for _, st := range order {
			if st.kind() == "Group" && !rights.All && pol == nil {
				var err error
				if pol, err = authz.LoadTx(tx); err != nil {
					return err
				}
			}
			if err := s.authorizeWrite(tx, st, rights, pol); err != nil {
				return err
			}
		}
		// Naming an object is using it (a server reads the secret it
		// names), and the check of a reference tells whether it exists and
		// which keys it has: each needs view on the target.
		for _, st := range order {
			if st.result.Action == v1.ActionSkipped || st.token != nil {
				continue
			}
			for _, ref := range v1.ObjectReferences(st.obj) {
				req := authz.Request{Verb: v1.RoleView, Resource: pluralOf(ref.Kind), Name: ref.Name}
				if !rights.Allows(req) {
					return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
						"%s: %s names %s, which you may not view; an admin can grant %s", joinField(st.path, st.obj.ID()), ref.Field,
						v1.IDOf(ref.Kind, "", ref.Name), v1.RoleBinding{Role: v1.RoleView, Resource: req.Resource, Name: ref.Name}))
				}
			}
		}
		var fe v1.FieldErrors
		for _, st := range order {
			if st.result.Action != v1.ActionSkipped { // a token's project is checked here too
				if err := checkRefs(tx, st, batch, &fe); err != nil {
					return err
				}
			}
		}
		if err := fe.Err(); err != nil {
			return err
		}
		now := s.now().UTC()
		for _, st := range order {
			switch st.result.Action {
			case v1.ActionCreated:
				if st.token != nil {
					if !dry {
						if err := tx.PutToken(*st.token); err != nil {
							return err
						}
					} else {
						st.result.Token = ""
					}
					results[st.index] = st.result
					continue
				}
				st.next.CreatedAt, st.next.UpdatedAt = now, now
				if !dry {
					if err := tx.Create(&st.next); err != nil {
						return err
					}
				}
				st.result.ResourceVersion = "1"
			case v1.ActionConfigured:
				st.next.UpdatedAt = now
				if !dry {
					if err := tx.Update(&st.next); err != nil {
						return err
					}
				}
				st.result.ResourceVersion = strconv.FormatInt(st.next.Version, 10)
			default:
				if st.cur != nil {
					st.result.ResourceVersion = strconv.FormatInt(st.cur.Version, 10)
				}
			}
			results[st.index] = st.result
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !dry {
		s.invalidateFor(results)
		s.instancesChanged()
	}
	return results, nil
}

// instancesChanged asks the instance manager to reconcile now rather than
// at its next pass: a server, or a secret its env names, may have changed.
func (s *Server) instancesChanged() {
	if s.instances != nil {
		s.instances.Trigger()
	}
}

// invalidateFor rebuilds the RBAC policy at once when a write changed a
// group or a definition.
func (s *Server) invalidateFor(results []v1.ApplyResult) {
	for _, r := range results {
		if (r.Kind == "Group" || r.Kind == "RbacDefinition") && r.Action != v1.ActionUnchanged && r.Action != v1.ActionSkipped {
			s.authz.Invalidate()
			return
		}
	}
}

// authorizeWrite checks that the caller may make st's write: create for a
// new object, edit for a changed one, view for one left as it is (the
// answer tells whether it exists and matches); for a definition, that it
// grants nothing the caller does not hold; for a group, that new members
// get nothing the caller does not hold; for the admin group, that the
// caller is an admin and an existing user stays in it.
func (s *Server) authorizeWrite(tx store.ResourceTx, st *staged, rights *authz.Rights, pol *authz.Policy) error {
	verb := v1.RoleView
	switch st.result.Action {
	case v1.ActionCreated:
		verb = v1.RoleCreate
	case v1.ActionConfigured:
		verb = v1.RoleEdit
	}
	o := st.obj
	if spec, ok := o.Spec.(*v1.SecretSpec); ok && verb == v1.RoleView && st.result.Action == v1.ActionUnchanged && spec.HasValues() {
		// "unchanged" would confirm a guessed value: writing values
		// needs edit whatever the outcome.
		verb = v1.RoleEdit
	}
	req := authz.Request{Verb: verb, Resource: pluralOf(o.Kind), Name: o.Metadata.Name, Project: o.Metadata.Project}
	if !rights.Allows(req) {
		return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
			"%s: you may not %s: no role binding grants it; an admin can grant role:%s,resource:%s", joinField(st.path, o.ID()), req, verb, req.Resource))
	}
	if verb == v1.RoleView {
		return nil
	}
	switch spec := o.Spec.(type) {
	case *v1.RbacDefinitionSpec:
		if err := rights.Ceiling(spec.RoleBindings); err != nil {
			return newError(http.StatusForbidden, v1.CodeForbidden, o.ID()+": "+err.Error())
		}
	case *v1.McpTokenSpec:
		if err := rights.Ceiling(st.token.Bindings); err != nil {
			return newError(http.StatusForbidden, v1.CodeForbidden, o.ID()+": "+err.Error())
		}
	case *v1.GroupSpec:
		if o.Metadata.Name == v1.AdminGroup {
			if !rights.All {
				return newError(http.StatusForbidden, v1.CodeForbidden, "only members of the admin group can change the admin group")
			}
			return keepsAnAdmin(tx, spec.Members, "")
		}
		// A new member receives the group's rights: adding one is a grant,
		// held to the same ceiling as writing a definition.
		if rights.All {
			return nil
		}
		var old v1.GroupSpec
		if st.cur != nil {
			if err := json.Unmarshal(st.cur.Spec, &old); err != nil {
				return fmt.Errorf("stored group %s: %w", o.Metadata.Name, err)
			}
		}
		for _, m := range spec.Members {
			if slices.Contains(old.Members, m) {
				continue
			}
			if err := rights.Ceiling(pol.GroupRights(o.Metadata.Name).Bindings()); err != nil {
				return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
					"%s: adding %s hands them the group's rights: %v", o.ID(), m, strings.TrimPrefix(err.Error(), "forbidden: ")))
			}
			break
		}
	}
	return nil
}

// keepsAnAdmin refuses an admin group whose members, less the one being
// deleted, include no existing user: nobody could administer mcpd any more.
func keepsAnAdmin(tx store.ResourceTx, members []string, deleting string) error {
	for _, m := range members {
		if m == deleting {
			continue
		}
		_, err := tx.GetUser(m)
		if err == nil {
			return nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	return newError(http.StatusConflict, v1.CodeConflict,
		"the admin group must keep at least one existing user, or nobody could administer mcpd; add another admin first (mcpctl edit group admin)")
}

// resolvePatch merges a JSON merge patch into the stored object as the API
// shows it (secret values null) and decodes the result. Read inside the
// write's transaction, the patch applies to the current version in one
// step; a resourceVersion in the patch makes it conditional.
func (s *Server) resolvePatch(tx store.ResourceTx, key store.ResourceKey, patch any) (*v1.Object, error) {
	res, err := tx.Get(key)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound(key)
	}
	if err != nil {
		return nil, err
	}
	cur, err := s.toObject(res, false)
	if err != nil {
		return nil, err
	}
	// Server-owned metadata is not part of what is patched.
	cur.Metadata.CreatedAt, cur.Metadata.UpdatedAt, cur.Metadata.ResourceVersion = nil, nil, ""
	var doc any
	b, _ := json.Marshal(cur)
	json.Unmarshal(b, &doc) //nolint:errcheck // we just marshalled it
	o, err := v1.DecodeValue(v1.MergePatch(doc, patch))
	if err != nil {
		return nil, err
	}
	var fe v1.FieldErrors
	if o.Kind != key.Kind {
		fe.Add("kind", "cannot be changed")
	}
	if o.Metadata.Name != key.Name || o.Metadata.Project != key.Project {
		fe.Add("metadata.name", "the name cannot be changed (it is %s); to rename, create a new object and delete this one", key.Name)
	}
	if err := fe.Err(); err != nil {
		return nil, err
	}
	if o.Metadata.ResourceVersion == "" {
		o.Metadata.ResourceVersion = strconv.FormatInt(res.Version, 10)
	}
	return o, nil
}

// stage reads the stored object, decides what happens to it, and builds
// the resource to write.
func (s *Server) stage(tx store.ResourceTx, st *staged, onConflict string, dry bool) error {
	o := st.obj
	key := objectKey(o)
	st.result = v1.ApplyResult{Kind: o.Kind, Name: o.Metadata.Name, Project: o.Metadata.Project}
	cur, err := tx.Get(key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if st.mode == modeUpdate {
			return notFound(key)
		}
	case err != nil:
		return err
	default:
		st.cur = &cur
	}
	if st.cur != nil {
		switch {
		case st.mode == modeCreate:
			return newError(http.StatusConflict, v1.CodeConflict,
				o.ID()+" already exists; change it with `mcpctl apply` or `mcpctl edit`")
		case onConflict == v1.OnConflictSkip:
			st.result.Action = v1.ActionSkipped
			return nil
		case onConflict == v1.OnConflictFail:
			return newError(http.StatusConflict, v1.CodeConflict,
				o.ID()+" already exists and --on-conflict is fail; nothing was written")
		}
		if rv := o.Metadata.ResourceVersion; rv != "" && rv != strconv.FormatInt(cur.Version, 10) {
			return newError(http.StatusConflict, v1.CodeConflict,
				v1.StaleVersionMessage(o.ID(), rv, strconv.FormatInt(cur.Version, 10)))
		}
	}
	next := store.Resource{ResourceKey: key, Labels: o.Metadata.Labels}
	for _, ref := range v1.ObjectReferences(o) {
		next.Refs = append(next.Refs, store.ResourceKey{Kind: ref.Kind, Name: ref.Name})
	}
	changedSecret := false
	if spec, ok := o.Spec.(*v1.SecretSpec); ok {
		var old secret.Sealed
		if st.cur != nil {
			if old, err = secret.ParseSealed(st.cur.Spec); err != nil {
				return fmt.Errorf("secret %s: %w", key.Name, err)
			}
		}
		st.keys = spec.Keys()
		sealed, changed, err := s.sealSecret(key.Name, spec, old.Data)
		if err != nil {
			return err
		}
		changedSecret = changed
		for _, k := range spec.Keys() {
			if sealed[k] == secret.Unset {
				st.result.Warnings = append(st.result.Warnings, fmt.Sprintf(
					"key %s has no value (a redacted value was applied to a secret that never had one); set it with `mcpctl edit secret %s`", k, key.Name))
			}
		}
		next.Spec, err = secret.Sealed{Data: sealed}.Marshal()
		if err != nil {
			return err
		}
	} else {
		next.Spec, err = json.Marshal(o.Spec)
		if err != nil {
			return err
		}
	}
	if st.cur == nil {
		st.result.Action = v1.ActionCreated
		st.next = next
		return nil
	}
	next.Version, next.CreatedAt = cur.Version, cur.CreatedAt
	if string(next.Spec) == string(cur.Spec) && maps.Equal(next.Labels, cur.Labels) {
		st.result.Action = v1.ActionUnchanged
		return nil
	}
	st.result.Action = v1.ActionConfigured
	st.next = next
	if dry {
		st.result.Changes = s.changes(*st.cur, o, changedSecret)
	}
	return nil
}

// sealSecret encrypts spec's values for storage and reports whether any
// value or key differs from old. A null value keeps the old value.
func (s *Server) sealSecret(name string, spec *v1.SecretSpec, old map[string]string) (map[string]string, bool, error) {
	changed := len(old) != len(spec.Data)
	keep := map[string]*string{}
	for key, v := range spec.Data {
		ct, had := old[key]
		if !had {
			changed = true
		}
		if v == nil || !had {
			keep[key] = v
			continue
		}
		plain, err := s.secrets.OpenValue(name, key, ct)
		if err != nil || plain != *v {
			changed = true
			keep[key] = v
			continue
		}
		keep[key] = nil // same value: keep the stored ciphertext
	}
	sealed, err := s.secrets.SealData(name, keep, old)
	return sealed, changed, err
}

// changes lists what an update changes, for dry runs; secret values are
// not shown, only that they change.
func (s *Server) changes(cur store.Resource, next *v1.Object, secretChanged bool) []v1.Change {
	old, err := s.toObject(cur, false)
	if err != nil {
		return nil
	}
	view := func(o *v1.Object) map[string]any {
		spec := o.Spec
		if sp, ok := spec.(*v1.SecretSpec); ok {
			spec = sp.Redacted()
		}
		return map[string]any{"metadata": map[string]any{"labels": o.Metadata.Labels}, "spec": spec}
	}
	out := v1.Diff("", view(&old), view(next))
	if secretChanged && len(out) == 0 {
		hidden := json.RawMessage(`"(hidden)"`)
		out = append(out, v1.Change{Path: "spec.data", Old: hidden, New: hidden})
	}
	return out
}

// checkRefs adds a problem for each reference of st that resolves neither
// in the batch nor in the store, and for each secret key st removes while
// another object still uses it.
func checkRefs(tx store.ResourceTx, st *staged, batch map[store.ResourceKey]*staged, fe *v1.FieldErrors) error {
	for _, ref := range v1.ObjectReferences(st.obj) {
		field := joinField(st.path, ref.Field)
		tk := store.ResourceKey{Kind: ref.Kind, Name: ref.Name}
		var keys []string
		if b, ok := batch[tk]; ok {
			keys = b.keys
		} else {
			res, err := tx.Get(tk)
			if errors.Is(err, store.ErrNotFound) {
				fe.Add(field, "%s does not exist; create it first or apply it in the same file", v1.IDOf(ref.Kind, "", ref.Name))
				continue
			}
			if err != nil {
				return err
			}
			if ref.Kind == "Secret" {
				keys = sealedKeys(res.Spec)
			}
		}
		if ref.Key != "" && !slices.Contains(keys, ref.Key) {
			fe.Add(field, "secret/%s has no key %s (its keys: %s)", ref.Name, ref.Key, orNone(keys))
		}
	}
	if st.obj.Kind != "Secret" || st.cur == nil {
		return nil
	}
	removed := map[string]bool{}
	for _, k := range sealedKeys(st.cur.Spec) {
		if !slices.Contains(st.keys, k) {
			removed[k] = true
		}
	}
	if len(removed) == 0 {
		return nil
	}
	referrers, err := tx.Referrers("Secret", st.obj.Metadata.Name)
	if err != nil {
		return err
	}
	for _, rk := range referrers {
		var refs []v1.Ref
		if b, ok := batch[rk]; ok {
			refs = v1.ObjectReferences(b.obj)
		} else {
			res, err := tx.Get(rk)
			if err != nil {
				return err
			}
			o, err := plainObject(res)
			if err != nil {
				return err
			}
			refs = v1.ObjectReferences(&o)
		}
		for _, ref := range refs {
			if ref.Kind == "Secret" && ref.Name == st.obj.Metadata.Name && removed[ref.Key] {
				fe.Add(joinField(st.path, "spec.data"), "key %s is still used by %s (%s); remove that reference first",
					ref.Key, v1.IDOf(rk.Kind, rk.Project, rk.Name), ref.Field)
			}
		}
	}
	return nil
}

func sealedKeys(spec []byte) []string {
	sealed, err := secret.ParseSealed(spec)
	if err != nil {
		return nil
	}
	return sealed.Keys()
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// deleteCascade deletes one object. Objects that still reference it make
// the delete a 409 naming them, unless cascade: then each is detached
// (a project drops the server, a server drops the secret's env entries) or,
// for a project's prompts, deleted.
func (s *Server) deleteCascade(ctx context.Context, key store.ResourceKey, cascade, dry bool) (v1.DeleteResponse, error) {
	var out v1.DeleteResponse
	if key.Kind == "Group" && key.Name == v1.AdminGroup {
		return out, newError(http.StatusConflict, v1.CodeConflict,
			"the admin group is built in and cannot be deleted; change its members with `mcpctl edit group admin`")
	}
	rights, err := s.rightsIn(ctx)
	if err != nil {
		return out, err
	}
	var forget []string // hashes of deleted tokens, dropped from the cache after commit
	err = s.store.UpdateResources(ctx, func(tx store.ResourceTx) error {
		cur, err := tx.Get(key)
		if errors.Is(err, store.ErrNotFound) {
			return notFound(key)
		}
		if err != nil {
			return err
		}
		out.Deleted = v1.ApplyResult{Kind: key.Kind, Name: key.Name, Project: key.Project, Action: v1.ActionDeleted,
			ResourceVersion: strconv.FormatInt(cur.Version, 10)}
		var referrers []store.ResourceKey
		if k, _ := v1.LookupKind(key.Kind); !k.Scoped {
			if referrers, err = tx.Referrers(key.Kind, key.Name); err != nil {
				return err
			}
		}
		// A project's tokens go with it; only active ones make the
		// delete need --cascade (revoked and expired ones are records).
		var tokens []store.Token
		var active []string
		if key.Kind == "Project" {
			if tokens, err = tx.Tokens(key.Name); err != nil {
				return err
			}
			for _, t := range tokens {
				if tokenState(t, s.now()) == v1.TokenActive {
					active = append(active, v1.IDOf("McpToken", t.Project, t.Name))
				}
			}
		}
		if (len(referrers) > 0 || len(active) > 0) && !cascade {
			ids := make([]string, 0, len(referrers)+len(active))
			for _, rk := range referrers {
				ids = append(ids, v1.IDOf(rk.Kind, rk.Project, rk.Name))
			}
			ids = append(ids, active...)
			return newError(http.StatusConflict, v1.CodeConflict, fmt.Sprintf(
				"%s is still used by %s; remove it from them first, or delete with --cascade (%s)",
				v1.IDOf(key.Kind, key.Project, key.Name), strings.Join(ids, ", "), cascadeEffect(key.Kind)))
		}
		now := s.now().UTC()
		for _, t := range tokens {
			if !rights.Allows(authz.Request{Verb: v1.RoleDelete, Resource: "mcptokens", Name: t.Name, Project: t.Project}) {
				return cascadeForbidden(key, "delete", "mcptokens", t.Name)
			}
			if !dry {
				if err := tx.DeleteToken(t.Project, t.Name); err != nil {
					return err
				}
			}
			forget = append(forget, t.Hash)
			out.Cascaded = append(out.Cascaded, v1.ApplyResult{Kind: "McpToken", Name: t.Name, Project: t.Project, Action: v1.ActionDeleted})
		}
		for _, rk := range referrers {
			res, err := tx.Get(rk)
			if err != nil {
				return err
			}
			r := v1.ApplyResult{Kind: rk.Kind, Name: rk.Name, Project: rk.Project}
			verb := v1.RoleEdit
			if key.Kind == "Project" {
				verb = v1.RoleDelete
			}
			if !rights.Allows(authz.Request{Verb: verb, Resource: pluralOf(rk.Kind), Name: rk.Name, Project: rk.Project}) {
				return cascadeForbidden(key, verb, pluralOf(rk.Kind), rk.Name)
			}
			if key.Kind == "Project" {
				r.Action = v1.ActionDeleted
				if !dry {
					if err := tx.Delete(rk); err != nil {
						return err
					}
				}
				out.Cascaded = append(out.Cascaded, r)
				continue
			}
			o, err := plainObject(res)
			if err != nil {
				return err
			}
			detach(&o, key)
			next := res
			next.UpdatedAt = now
			next.Refs = nil
			for _, ref := range v1.ObjectReferences(&o) {
				next.Refs = append(next.Refs, store.ResourceKey{Kind: ref.Kind, Name: ref.Name})
			}
			if next.Spec, err = json.Marshal(o.Spec); err != nil {
				return err
			}
			if !dry {
				if err := tx.Update(&next); err != nil {
					return err
				}
			}
			r.Action, r.ResourceVersion = v1.ActionConfigured, strconv.FormatInt(next.Version, 10)
			out.Cascaded = append(out.Cascaded, r)
		}
		if dry {
			return nil
		}
		return tx.Delete(key)
	})
	if err == nil && !dry {
		for _, h := range forget {
			s.auth.Forget(h)
		}
		if key.Kind == "Group" || key.Kind == "RbacDefinition" {
			s.authz.Invalidate()
		}
		s.instancesChanged()
	}
	return out, err
}

func cascadeForbidden(key store.ResourceKey, verb, resource, name string) error {
	return newError(http.StatusForbidden, v1.CodeForbidden, fmt.Sprintf(
		"deleting %s with --cascade would %s %s/%s, which no role binding of yours grants; ask an admin for role:%s,resource:%s",
		v1.IDOf(key.Kind, key.Project, key.Name), verb, resource, name, verb, resource))
}

func cascadeEffect(kind string) string {
	switch kind {
	case "Server":
		return "which removes the server from those projects"
	case "Secret":
		return "which removes the env entries that use the secret"
	case "Project":
		return "which deletes the project's prompts and McpTokens"
	}
	return "which detaches them"
}

// detach removes o's references to target.
func detach(o *v1.Object, target store.ResourceKey) {
	dropEnv := func(env []v1.EnvVar) []v1.EnvVar {
		return slices.DeleteFunc(env, func(e v1.EnvVar) bool {
			return e.SecretRef != nil && e.SecretRef.Name == target.Name
		})
	}
	switch spec := o.Spec.(type) {
	case *v1.ProjectSpec:
		spec.Servers = slices.DeleteFunc(spec.Servers, func(s string) bool { return s == target.Name })
		delete(spec.Tools, target.Name)
	case *v1.ServerSpec:
		spec.Env = dropEnv(spec.Env)
	case *v1.TemplateSpec:
		spec.Server.Env = dropEnv(spec.Server.Env)
	}
}
