package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mcpctl/mcpctl/internal/store"
)

func res(kind, project, name, spec string, refs ...store.ResourceKey) store.Resource {
	return store.Resource{ResourceKey: store.ResourceKey{Kind: kind, Project: project, Name: name},
		Spec: []byte(spec), CreatedAt: t0, UpdatedAt: t0, Refs: refs}
}

func testResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	sec := res("Secret", "", "github", `{"data":{"TOKEN":"enc"}}`)
	sec.Labels = map[string]string{"team": "infra"}
	srv := res("Server", "", "memory", `{"command":"npx"}`, store.ResourceKey{Kind: "Secret", Name: "github"})
	err := s.UpdateResources(ctx, func(tx store.ResourceTx) error {
		if err := tx.Create(&sec); err != nil {
			return err
		}
		return tx.Create(&srv)
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if sec.Version != 1 || srv.Version != 1 {
		t.Errorf("versions after create = %d, %d; want 1, 1", sec.Version, srv.Version)
	}
	got, err := s.GetResource(ctx, sec.ResourceKey)
	if err != nil {
		t.Fatalf("GetResource: %v", err)
	}
	if diff := cmp.Diff(sec, got, cmpopts.IgnoreFields(store.Resource{}, "Refs")); diff != "" {
		t.Errorf("GetResource (-want +got):\n%s", diff)
	}
	if _, err := s.GetResource(ctx, store.ResourceKey{Kind: "Server", Name: "github"}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetResource of another kind's name: err = %v, want ErrNotFound", err)
	}

	// A second create of the same key conflicts.
	err = s.UpdateResources(ctx, func(tx store.ResourceTx) error {
		dup := res("Secret", "", "github", `{}`)
		return tx.Create(&dup)
	})
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate create: err = %v, want ErrConflict", err)
	}

	// Referrers sees the server's reference; an update that drops the
	// reference removes it.
	err = s.UpdateResources(ctx, func(tx store.ResourceTx) error {
		refs, err := tx.Referrers("Secret", "github")
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]store.ResourceKey{{Kind: "Server", Name: "memory"}}, refs); diff != "" {
			t.Errorf("Referrers (-want +got):\n%s", diff)
		}
		cur, err := tx.Get(srv.ResourceKey)
		if err != nil {
			return err
		}
		cur.Spec = []byte(`{"command":"uvx"}`)
		cur.Refs = nil
		if err := tx.Update(&cur); err != nil {
			return err
		}
		if cur.Version != 2 {
			t.Errorf("version after update = %d, want 2", cur.Version)
		}
		refs, err = tx.Referrers("Secret", "github")
		if err != nil {
			return err
		}
		if len(refs) != 0 {
			t.Errorf("Referrers after the reference was dropped = %v, want none", refs)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("update: %v", err)
	}

	// An update from a stale version conflicts and changes nothing.
	stale := srv // still at version 1
	stale.Spec = []byte(`{"command":"stale"}`)
	err = s.UpdateResources(ctx, func(tx store.ResourceTx) error { return tx.Update(&stale) })
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("stale update: err = %v, want ErrConflict", err)
	}
	got, _ = s.GetResource(ctx, srv.ResourceKey)
	if string(got.Spec) != `{"command":"uvx"}` || got.Version != 2 {
		t.Errorf("after stale update: spec %s version %d; want the version-2 spec", got.Spec, got.Version)
	}

	// Update and Delete of a missing resource are ErrNotFound.
	ghost := res("Server", "", "ghost", `{}`)
	ghost.Version = 1
	err = s.UpdateResources(ctx, func(tx store.ResourceTx) error { return tx.Update(&ghost) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("update of a missing resource: err = %v, want ErrNotFound", err)
	}
	err = s.UpdateResources(ctx, func(tx store.ResourceTx) error { return tx.Delete(ghost.ResourceKey) })
	if !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete of a missing resource: err = %v, want ErrNotFound", err)
	}

	// Delete removes the resource and its outgoing references.
	p := res("Project", "", "demo", `{}`, store.ResourceKey{Kind: "Server", Name: "memory"})
	err = s.UpdateResources(ctx, func(tx store.ResourceTx) error {
		if err := tx.Create(&p); err != nil {
			return err
		}
		if err := tx.Delete(p.ResourceKey); err != nil {
			return err
		}
		refs, err := tx.Referrers("Server", "memory")
		if err != nil {
			return err
		}
		if len(refs) != 0 {
			t.Errorf("Referrers after the referrer was deleted = %v, want none", refs)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("create+delete: %v", err)
	}
	if _, err := s.GetResource(ctx, p.ResourceKey); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetResource after delete: err = %v, want ErrNotFound", err)
	}
}

func testResourcePages(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Prompts in two projects, created out of order; names chosen so that
	// a locale-aware collation would order them differently from bytes.
	names := []string{"b-1", "a-2", "a1", "a-1", "b0"}
	err := s.UpdateResources(ctx, func(tx store.ResourceTx) error {
		for i, n := range names {
			for _, proj := range []string{"zeta", "alpha"} {
				r := res("Prompt", proj, n, fmt.Sprintf(`{"text":"%d"}`, i))
				if err := tx.Create(&r); err != nil {
					return err
				}
			}
		}
		other := res("Server", "", "a-0", `{}`)
		return tx.Create(&other)
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var all []string
	f := store.ResourceFilter{Kind: "Prompt", Limit: 3}
	for page := 0; ; page++ {
		rs, err := s.ListResources(ctx, f)
		if err != nil {
			t.Fatalf("ListResources: %v", err)
		}
		for _, r := range rs {
			all = append(all, r.Project+"/"+r.Name)
		}
		if len(rs) < f.Limit {
			break
		}
		f.After = rs[len(rs)-1].ResourceKey
		if page > 10 {
			t.Fatal("pagination does not end")
		}
	}
	want := []string{"alpha/a-1", "alpha/a-2", "alpha/a1", "alpha/b-1", "alpha/b0",
		"zeta/a-1", "zeta/a-2", "zeta/a1", "zeta/b-1", "zeta/b0"}
	if diff := cmp.Diff(want, all); diff != "" {
		t.Errorf("pages in byte order (-want +got):\n%s", diff)
	}
	rs, err := s.ListResources(ctx, store.ResourceFilter{Kind: "Prompt", Project: "zeta", After: store.ResourceKey{Project: "zeta", Name: "a1"}})
	if err != nil {
		t.Fatalf("ListResources with project: %v", err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.Project+"/"+r.Name)
	}
	if diff := cmp.Diff([]string{"zeta/b-1", "zeta/b0"}, got); diff != "" {
		t.Errorf("project filter after a1 (-want +got):\n%s", diff)
	}
}

func testResourceRollback(t *testing.T, s store.Store) {
	ctx := context.Background()
	boom := errors.New("document 5 is invalid")
	err := s.UpdateResources(ctx, func(tx store.ResourceTx) error {
		for i := range 4 {
			r := res("Server", "", fmt.Sprintf("s%d", i), `{}`)
			if err := tx.Create(&r); err != nil {
				return err
			}
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want fn's error", err)
	}
	rs, err := s.ListResources(ctx, store.ResourceFilter{Kind: "Server"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 0 {
		t.Errorf("after a failed transaction %d servers exist; want none written", len(rs))
	}
}

// testViewResources: a read-only view sees one state while a writer
// commits, and does not hold the writer back.
func testViewResources(t *testing.T, s store.Store) {
	ctx := context.Background()
	put := func(name string) {
		t.Helper()
		err := s.UpdateResources(ctx, func(tx store.ResourceTx) error {
			return tx.Create(&store.Resource{ResourceKey: store.ResourceKey{Kind: "Server", Name: name}, Spec: []byte(`{}`), CreatedAt: t0, UpdatedAt: t0})
		})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
	}
	put("a")
	err := s.ViewResources(ctx, func(tx store.ResourceReader) error {
		before, err := tx.List(store.ResourceFilter{Kind: "Server"})
		if err != nil {
			return err
		}
		done := make(chan struct{})
		go func() { defer close(done); put("b") }() // a writer is not blocked by the view
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("a write waited for a read-only view")
		}
		after, err := tx.List(store.ResourceFilter{Kind: "Server"})
		if err != nil {
			return err
		}
		if len(before) != 1 || len(after) != 1 {
			t.Errorf("the view saw %d then %d servers; want 1 and 1 (one consistent state)", len(before), len(after))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("ViewResources: %v", err)
	}
	if got, _ := s.ListResources(ctx, store.ResourceFilter{Kind: "Server"}); len(got) != 2 {
		t.Errorf("after the view: %d servers, want 2", len(got))
	}
}
