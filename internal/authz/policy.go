package authz

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Policy is an immutable snapshot of groups and RBAC definitions.
type Policy struct {
	admins    map[string]bool
	groupsOf  map[string][]string
	bySubject map[string][]Grant
	// users memoizes UserRights; the snapshot never changes, so neither
	// do the answers.
	users sync.Map // email → *Rights
}

// Definition is one RbacDefinition by name.
type Definition struct {
	Name string
	Spec v1.RbacDefinitionSpec
}

// NewPolicy builds a snapshot from groups (name → members) and
// definitions.
func NewPolicy(groups map[string][]string, defs []Definition) *Policy {
	p := &Policy{admins: map[string]bool{}, groupsOf: map[string][]string{}, bySubject: map[string][]Grant{}}
	for name, members := range groups {
		for _, m := range members {
			p.groupsOf[m] = append(p.groupsOf[m], name)
			if name == v1.AdminGroup {
				p.admins[m] = true
			}
		}
	}
	for _, gs := range p.groupsOf {
		slices.Sort(gs)
	}
	for _, d := range defs {
		for _, sub := range d.Spec.Subjects {
			for _, b := range d.Spec.RoleBindings {
				p.bySubject[sub] = append(p.bySubject[sub], Grant{RoleBinding: b, From: "rbacdefinition/" + d.Name})
			}
		}
	}
	return p
}

// IsAdmin reports whether email is a member of the admin group.
func (p *Policy) IsAdmin(email string) bool { return p.admins[email] }

// GroupsOf lists the groups email is a member of, sorted.
func (p *Policy) GroupsOf(email string) []string { return p.groupsOf[email] }

// UserRights are the rights of the user with email: all of them for an
// admin, else the bindings naming the user or one of their groups. The
// answer is shared by every caller: read it, never change it.
func (p *Policy) UserRights(email string) *Rights {
	if r, ok := p.users.Load(email); ok {
		return r.(*Rights)
	}
	r := &Rights{All: p.admins[email]}
	if !r.All {
		r.Grants = append(r.Grants, p.bySubject[v1.SubjectUser+":"+email]...)
		for _, g := range p.groupsOf[email] {
			r.Grants = append(r.Grants, p.bySubject[v1.SubjectGroup+":"+g]...)
		}
	}
	p.users.Store(email, r)
	return r
}

// TokenRights are the rights of the token with hash sha: its own
// bindings (fixed at creation, named name) and those of definitions
// naming McpToken:<sha>. A token is never an admin.
func (p *Policy) TokenRights(sha, name string, own []v1.RoleBinding) *Rights {
	r := &Rights{Grants: make([]Grant, 0, len(own))}
	for _, b := range own {
		r.Grants = append(r.Grants, Grant{RoleBinding: b, From: "mcptoken/" + name})
	}
	r.Grants = append(r.Grants, p.bySubject[v1.SubjectMcpToken+":"+sha]...)
	return r
}

// GroupRights are the rights a subject Group:<name> holds directly.
func (p *Policy) GroupRights(name string) *Rights {
	return &Rights{All: name == v1.AdminGroup, Grants: slices.Clone(p.bySubject[v1.SubjectGroup+":"+name])}
}

// Config tunes an Authorizer.
type Config struct {
	// CacheTTL is how long a snapshot is used before it is rebuilt: the
	// bound on how late another replica's RBAC change takes effect here.
	// 0 rebuilds on every request.
	CacheTTL time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authorizer keeps the current Policy.
type Authorizer struct {
	cfg   Config
	store store.Store

	mu      sync.Mutex // held while rebuilding
	current atomic.Pointer[snapshot]
	// gen counts invalidations; a snapshot older than gen is not used.
	gen atomic.Int64
	// refreshing is set while one request rebuilds an expired snapshot;
	// the others keep using the old one meanwhile.
	refreshing atomic.Bool
}

type snapshot struct {
	policy *Policy
	gen    int64
	built  time.Time
}

// New returns an Authorizer reading groups and definitions from s.
func New(cfg Config, s store.Store) *Authorizer {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authorizer{cfg: cfg, store: s}
}

// Invalidate makes the next Policy call rebuild the snapshot: called after
// a write to groups, definitions or users on this replica, so the change
// takes effect here at once.
func (a *Authorizer) Invalidate() { a.gen.Add(1) }

// Policy returns the current snapshot. An invalidated snapshot is rebuilt
// before answering; an expired one is rebuilt by one request while the
// others still use it.
func (a *Authorizer) Policy(ctx context.Context) (*Policy, error) {
	cur := a.current.Load()
	gen := a.gen.Load()
	if cur != nil && cur.gen == gen {
		if a.cfg.Now().Sub(cur.built) < a.cfg.CacheTTL {
			return cur.policy, nil
		}
		if !a.refreshing.CompareAndSwap(false, true) {
			return cur.policy, nil
		}
		defer a.refreshing.Store(false)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur := a.current.Load(); cur != nil && cur.gen == a.gen.Load() && a.cfg.Now().Sub(cur.built) < a.cfg.CacheTTL {
		return cur.policy, nil // another request rebuilt it meanwhile
	}
	// The generation and the time are taken before reading: a write that
	// lands during the read is then at most CacheTTL old when seen.
	gen, started := a.gen.Load(), a.cfg.Now()
	p, err := Load(ctx, a.store)
	if err != nil {
		return nil, err
	}
	a.current.Store(&snapshot{policy: p, gen: gen, built: started})
	return p, nil
}

// Load reads every group and definition from s into a Policy.
func Load(ctx context.Context, s store.Store) (*Policy, error) {
	return load(func(f store.ResourceFilter) ([]store.Resource, error) { return s.ListResources(ctx, f) })
}

// LoadTx reads every group and definition inside tx: what a write that
// hands over rights checks against, under the store's lock, on the
// transaction's own connection.
func LoadTx(tx store.ResourceTx) (*Policy, error) { return load(tx.List) }

func load(list func(store.ResourceFilter) ([]store.Resource, error)) (*Policy, error) {
	groups := map[string][]string{}
	err := store.EachResource(list, "Group", func(r store.Resource) error {
		var g v1.GroupSpec
		if err := json.Unmarshal(r.Spec, &g); err != nil {
			return fmt.Errorf("stored group %s: %w", r.Name, err)
		}
		groups[r.Name] = g.Members
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load groups: %w", err)
	}
	var defs []Definition
	err = store.EachResource(list, "RbacDefinition", func(r store.Resource) error {
		d := Definition{Name: r.Name}
		if err := json.Unmarshal(r.Spec, &d.Spec); err != nil {
			return fmt.Errorf("stored rbacdefinition %s: %w", r.Name, err)
		}
		defs = append(defs, d)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("load rbac definitions: %w", err)
	}
	return NewPolicy(groups, defs), nil
}
