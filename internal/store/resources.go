package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// ResourceKey identifies a resource. Project is "" for kinds that are not
// project-scoped.
type ResourceKey struct {
	Kind, Project, Name string
}

// Resource is one stored object of DESIGN.md §5. The store does not read
// Spec: it is the JSON the API layer wrote (with secret values encrypted).
type Resource struct {
	ResourceKey
	Labels map[string]string
	Spec   []byte
	// Version is the resourceVersion: 1 on create, +1 on every update.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	// Refs are the objects this one references (unscoped targets: only
	// Kind and Name are used). Written with the resource; not read back.
	Refs []ResourceKey
}

// ResourceFilter selects resources of one kind in (project, name) order.
type ResourceFilter struct {
	Kind string
	// Project, when set, keeps only that project's resources.
	Project string
	// After continues a listing after this key's (project, name).
	After ResourceKey
	// Limit caps the page; 0 means 100.
	Limit int
}

// ResourceReader reads resources inside one transaction: every read sees
// the same state.
type ResourceReader interface {
	// Get returns one resource or ErrNotFound.
	Get(key ResourceKey) (Resource, error)
	// List returns a page of resources.
	List(f ResourceFilter) ([]Resource, error)
}

// ResourceTx reads and writes resources inside one transaction that holds
// the store-wide lock, so reference checks and writes cannot interleave
// with another writer's.
type ResourceTx interface {
	ResourceReader
	// Create inserts r with Version 1 (set on r); an existing key is
	// ErrConflict.
	Create(r *Resource) error
	// Update replaces the resource whose Version is r.Version and
	// increments r.Version; a different stored version is ErrConflict, a
	// missing resource ErrNotFound. CreatedAt is kept from the store.
	Update(r *Resource) error
	// Delete removes a resource and its outgoing references.
	Delete(key ResourceKey) error
	// Referrers lists the resources that reference kind/name.
	Referrers(kind, name string) ([]ResourceKey, error)

	// GetUser finds a user by email, under the lock (the last-admin check).
	GetUser(email string) (User, error)
	// CreateUser inserts u; a taken email is ErrConflict.
	CreateUser(u User) error
	// UpdateUser writes a user's name, password hash and update time.
	UpdateUser(u User) error
	// DeleteUser removes a user and their sessions.
	DeleteUser(id string) error

	// GetToken finds a token by project and name.
	GetToken(project, name string) (Token, error)
	// Tokens lists every token of a project.
	Tokens(project string) ([]Token, error)
	// PutToken stores tok, replacing the token of the same project and
	// name (the caller checked that one is no longer active).
	PutToken(tok Token) error
	// DeleteToken removes a token; ErrNotFound when absent.
	DeleteToken(project, name string) error
	// RevokeToken marks a token revoked; revoking twice is not an error.
	RevokeToken(project, name string, at time.Time) error
	// RevokeTokensBy revokes every active token created by email and
	// returns them.
	RevokeTokensBy(email string, at time.Time) ([]Token, error)
}

const resourceColumns = "kind, project, name, labels, spec, resource_version, created_at, updated_at"

// GetResource reads one resource.
func (d *DB) GetResource(ctx context.Context, key ResourceKey) (Resource, error) {
	return getResource(ctx, d.db, d, key)
}

// ListResources reads one page of resources.
func (d *DB) ListResources(ctx context.Context, f ResourceFilter) ([]Resource, error) {
	return listResources(ctx, d.db, d, f)
}

// UpdateResources runs fn in one transaction under the store-wide lock;
// fn's error rolls everything back.
func (d *DB) UpdateResources(ctx context.Context, fn func(tx ResourceTx) error) error {
	return d.locked(ctx, func(tx *sql.Tx) error {
		return fn(&resourceTx{ctx: ctx, d: d, tx: tx})
	})
}

// ViewResources runs fn in a read-only transaction that sees one
// consistent state (a REPEATABLE READ snapshot on PostgreSQL, a WAL
// snapshot on SQLite) without taking the store-wide lock: long reads
// such as an export never hold writers back.
func (d *DB) ViewResources(ctx context.Context, fn func(tx ResourceReader) error) error {
	opts := &sql.TxOptions{ReadOnly: true}
	if d.dialect == "postgres" {
		opts.Isolation = sql.LevelRepeatableRead
	}
	tx, err := d.db.BeginTx(ctx, opts)
	if err != nil {
		return d.wrap(err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only: nothing to keep
	return fn(&resourceTx{ctx: ctx, d: d, tx: tx})
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type scanner interface{ Scan(dest ...any) error }

func scanResource(s scanner) (Resource, error) {
	var r Resource
	var labels, spec string
	var created, updated int64
	if err := s.Scan(&r.Kind, &r.Project, &r.Name, &labels, &spec, &r.Version, &created, &updated); err != nil {
		return Resource{}, err
	}
	if labels != "" && labels != "{}" {
		if err := json.Unmarshal([]byte(labels), &r.Labels); err != nil {
			return Resource{}, fmt.Errorf("labels of %s/%s: %w", r.Kind, r.Name, err)
		}
	}
	r.Spec = []byte(spec)
	r.CreatedAt, r.UpdatedAt = fromMicros(created), fromMicros(updated)
	return r, nil
}

func getResource(ctx context.Context, q querier, d *DB, key ResourceKey) (Resource, error) {
	row := q.QueryRowContext(ctx, d.q("SELECT "+resourceColumns+" FROM resources WHERE kind = ? AND project = ? AND name = ?"),
		key.Kind, key.Project, key.Name)
	r, err := scanResource(row)
	return r, d.wrap(err)
}

func listResources(ctx context.Context, q querier, d *DB, f ResourceFilter) ([]Resource, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var where strings.Builder
	args := []any{f.Kind}
	where.WriteString("kind = ?")
	if f.Project != "" {
		where.WriteString(" AND project = ?")
		args = append(args, f.Project)
	}
	if f.After != (ResourceKey{}) {
		where.WriteString(" AND (project > ? OR (project = ? AND name > ?))")
		args = append(args, f.After.Project, f.After.Project, f.After.Name)
	}
	args = append(args, f.Limit)
	rows, err := q.QueryContext(ctx, d.q("SELECT "+resourceColumns+" FROM resources WHERE "+where.String()+
		" ORDER BY project, name LIMIT ?"), args...)
	if err != nil {
		return nil, d.wrap(err)
	}
	defer rows.Close()
	out := make([]Resource, 0, min(f.Limit, 1000))
	for rows.Next() {
		r, err := scanResource(rows)
		if err != nil {
			return nil, d.wrap(err)
		}
		out = append(out, r)
	}
	return out, d.wrap(rows.Err())
}

type resourceTx struct {
	ctx context.Context
	d   *DB
	tx  *sql.Tx
}

func (t *resourceTx) Get(key ResourceKey) (Resource, error) {
	return getResource(t.ctx, t.tx, t.d, key)
}

func (t *resourceTx) List(f ResourceFilter) ([]Resource, error) {
	return listResources(t.ctx, t.tx, t.d, f)
}

func encodeLabels(l map[string]string) (string, error) {
	if len(l) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(l)
	return string(b), err
}

func (t *resourceTx) Create(r *Resource) error {
	labels, err := encodeLabels(r.Labels)
	if err != nil {
		return err
	}
	r.Version = 1
	if _, err := t.tx.ExecContext(t.ctx, t.d.q("INSERT INTO resources ("+resourceColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"),
		r.Kind, r.Project, r.Name, labels, string(r.Spec), r.Version, micros(r.CreatedAt), micros(r.UpdatedAt)); err != nil {
		return t.d.wrap(err)
	}
	return t.writeRefs(r)
}

func (t *resourceTx) Update(r *Resource) error {
	labels, err := encodeLabels(r.Labels)
	if err != nil {
		return err
	}
	res, err := t.tx.ExecContext(t.ctx, t.d.q("UPDATE resources SET labels = ?, spec = ?, resource_version = ?, updated_at = ? "+
		"WHERE kind = ? AND project = ? AND name = ? AND resource_version = ?"),
		labels, string(r.Spec), r.Version+1, micros(r.UpdatedAt), r.Kind, r.Project, r.Name, r.Version)
	if err != nil {
		return t.d.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return t.d.wrap(err)
	} else if n == 0 {
		if _, err := t.Get(r.ResourceKey); err != nil {
			return err
		}
		return fmt.Errorf("%w: %s/%s is not at version %d", ErrConflict, r.Kind, r.Name, r.Version)
	}
	r.Version++
	return t.writeRefs(r)
}

func (t *resourceTx) writeRefs(r *Resource) error {
	if _, err := t.tx.ExecContext(t.ctx, t.d.q("DELETE FROM resource_refs WHERE from_kind = ? AND from_project = ? AND from_name = ?"),
		r.Kind, r.Project, r.Name); err != nil {
		return t.d.wrap(err)
	}
	seen := map[ResourceKey]bool{}
	for _, ref := range r.Refs {
		k := ResourceKey{Kind: ref.Kind, Name: ref.Name}
		if seen[k] {
			continue
		}
		seen[k] = true
		if _, err := t.tx.ExecContext(t.ctx, t.d.q("INSERT INTO resource_refs (to_kind, to_name, from_kind, from_project, from_name) VALUES (?, ?, ?, ?, ?)"),
			k.Kind, k.Name, r.Kind, r.Project, r.Name); err != nil {
			return t.d.wrap(err)
		}
	}
	return nil
}

func (t *resourceTx) Delete(key ResourceKey) error {
	if err := t.d.one(t.tx.ExecContext(t.ctx, t.d.q("DELETE FROM resources WHERE kind = ? AND project = ? AND name = ?"),
		key.Kind, key.Project, key.Name)); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(t.ctx, t.d.q("DELETE FROM resource_refs WHERE from_kind = ? AND from_project = ? AND from_name = ?"),
		key.Kind, key.Project, key.Name)
	return t.d.wrap(err)
}

func (t *resourceTx) Referrers(kind, name string) ([]ResourceKey, error) {
	rows, err := t.tx.QueryContext(t.ctx, t.d.q("SELECT from_kind, from_project, from_name FROM resource_refs "+
		"WHERE to_kind = ? AND to_name = ? ORDER BY from_kind, from_project, from_name"), kind, name)
	if err != nil {
		return nil, t.d.wrap(err)
	}
	defer rows.Close()
	var out []ResourceKey
	for rows.Next() {
		var k ResourceKey
		if err := rows.Scan(&k.Kind, &k.Project, &k.Name); err != nil {
			return nil, t.d.wrap(err)
		}
		out = append(out, k)
	}
	return out, t.d.wrap(rows.Err())
}

// EachResource calls fn with every resource of kind in (project, name)
// order, reading pages of 500 through list: a ResourceTx's List, or a
// Store's ListResources bound to a context.
func EachResource(list func(ResourceFilter) ([]Resource, error), kind string, fn func(Resource) error) error {
	f := ResourceFilter{Kind: kind, Limit: 500}
	for {
		page, err := list(f)
		if err != nil {
			return err
		}
		for _, r := range page {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(page) < f.Limit {
			return nil
		}
		f.After = page[len(page)-1].ResourceKey
	}
}
