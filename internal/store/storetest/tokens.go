package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func token(project, name, hash, by string) store.Token {
	return store.Token{Hash: hash, Project: project, Name: name, Prefix: "mcpctl_pat_abcdef", Description: "d " + name,
		Bindings: []v1.RoleBinding{{Role: v1.RoleView, Resource: "prompts"}}, CreatedBy: by, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

func inTx(t *testing.T, s store.Store, fn func(tx store.ResourceTx) error) error {
	t.Helper()
	return s.UpdateResources(context.Background(), fn)
}

func testTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	a := token("demo", "ci", "h-ci", "User:alice@example.com")
	b := token("demo", "agent", "h-agent", "User:bob@example.com")
	c := token("other", "ci", "h-other", "User:alice@example.com")
	c.ExpiresAt = time.Time{} // never
	for _, tok := range []store.Token{a, b, c} {
		if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.PutToken(tok) }); err != nil {
			t.Fatalf("PutToken %s: %v", tok.Name, err)
		}
	}
	got, err := s.TokenByHash(ctx, "h-ci")
	if err != nil {
		t.Fatalf("TokenByHash: %v", err)
	}
	if diff := cmp.Diff(a, got); diff != "" {
		t.Errorf("TokenByHash (-want +got):\n%s", diff)
	}
	if got, err := s.GetToken(ctx, "other", "ci"); err != nil || !got.ExpiresAt.IsZero() {
		t.Errorf("GetToken other/ci: %+v %v; want a token that never expires", got, err)
	}
	if _, err := s.TokenByHash(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown hash: %v, want ErrNotFound", err)
	}
	names := func(f store.TokenFilter) []string {
		t.Helper()
		ts, err := s.ListTokens(ctx, f)
		if err != nil {
			t.Fatalf("ListTokens: %v", err)
		}
		var out []string
		for _, tk := range ts {
			out = append(out, tk.Project+"/"+tk.Name)
		}
		return out
	}
	if diff := cmp.Diff([]string{"demo/agent", "demo/ci", "other/ci"}, names(store.TokenFilter{})); diff != "" {
		t.Errorf("ListTokens (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"demo/ci"}, names(store.TokenFilter{Project: "demo", After: store.ResourceKey{Project: "demo", Name: "agent"}})); diff != "" {
		t.Errorf("ListTokens after demo/agent (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"demo/agent"}, names(store.TokenFilter{Limit: 1})); diff != "" {
		t.Errorf("ListTokens limit 1 (-want +got):\n%s", diff)
	}

	// Putting a token of the same project and name replaces the old row:
	// the old hash is unknown from then on.
	a2 := token("demo", "ci", "h-ci-2", "User:alice@example.com")
	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.PutToken(a2) }); err != nil {
		t.Fatalf("PutToken replacement: %v", err)
	}
	if _, err := s.TokenByHash(ctx, "h-ci"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the replaced token's hash: %v, want ErrNotFound", err)
	}
	// The same hash twice is a conflict, and the transaction writes nothing.
	dup := token("demo", "dup", "h-agent", "User:x@example.com")
	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.PutToken(dup) }); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate hash: %v, want ErrConflict", err)
	}
	if _, err := s.GetToken(ctx, "demo", "dup"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused put left a row: %v", err)
	}

	// Revoke keeps the first time; revoking twice is fine; a missing one is
	// ErrNotFound.
	at := t0.Add(time.Minute)
	for range 2 {
		if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.RevokeToken("demo", "agent", at) }); err != nil {
			t.Fatalf("RevokeToken: %v", err)
		}
		at = at.Add(time.Minute)
	}
	if got, _ := s.GetToken(ctx, "demo", "agent"); !got.RevokedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("RevokedAt = %v, want the first revocation %v", got.RevokedAt, t0.Add(time.Minute))
	}
	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.RevokeToken("demo", "ghost", at) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke a missing token: %v, want ErrNotFound", err)
	}
	var revoked []store.Token
	err = inTx(t, s, func(tx store.ResourceTx) error {
		var err error
		revoked, err = tx.RevokeTokensBy("User:alice@example.com", at)
		return err
	})
	if err != nil || len(revoked) != 2 {
		t.Fatalf("RevokeTokensBy: %d tokens, %v; want alice's 2", len(revoked), err)
	}
	for _, p := range []string{"demo", "other"} {
		if got, _ := s.GetToken(ctx, p, "ci"); got.RevokedAt.IsZero() {
			t.Errorf("%s/ci not revoked", p)
		}
	}

	// Last use: a batch writes each, and never moves a time backwards.
	later, earlier := t0.Add(2*time.Hour), t0.Add(time.Hour)
	if err := s.TouchTokens(ctx, map[string]time.Time{"h-ci-2": later, "h-other": earlier}); err != nil {
		t.Fatalf("TouchTokens: %v", err)
	}
	if err := s.TouchTokens(ctx, map[string]time.Time{"h-ci-2": earlier, "unknown": later}); err != nil {
		t.Fatalf("TouchTokens again: %v", err)
	}
	if got, _ := s.GetToken(ctx, "demo", "ci"); !got.LastUsedAt.Equal(later) {
		t.Errorf("LastUsedAt = %v, want %v (an older batch must not move it back)", got.LastUsedAt, later)
	}

	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.DeleteToken("demo", "ci") }); err != nil {
		t.Fatalf("DeleteToken: %v", err)
	}
	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.DeleteToken("demo", "ci") }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	var left []store.Token
	inTx(t, s, func(tx store.ResourceTx) error { left, err = tx.Tokens("demo"); return err })
	if len(left) != 1 || left[0].Name != "agent" {
		t.Errorf("Tokens(demo) after delete: %+v", left)
	}
}

func testUserAdmin(t *testing.T, s store.Store) {
	ctx := context.Background()
	for i := range 3 {
		if err := s.CreateUser(ctx, user(fmt.Sprint("u", i), fmt.Sprintf("user%d@example.com", i))); err != nil {
			t.Fatal(err)
		}
	}
	page, err := s.ListUsers(ctx, "user0@example.com", 1)
	if err != nil || len(page) != 1 || page[0].Email != "user1@example.com" {
		t.Fatalf("ListUsers after user0, limit 1: %+v %v", page, err)
	}
	u := page[0]
	u.Name, u.PasswordHash, u.UpdatedAt = "Renamed", "$argon2id$new", t0.Add(time.Hour)
	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.UpdateUser(u) }); err != nil {
		t.Fatalf("UpdateUser: %v", err)
	}
	if got, _ := s.UserByEmail(ctx, u.Email); got.Name != "Renamed" || got.PasswordHash != "$argon2id$new" || !got.UpdatedAt.Equal(u.UpdatedAt) {
		t.Errorf("after UpdateUser: %+v", got)
	}
	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.UpdateUser(store.User{ID: "ghost"}) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateUser of a missing user: %v, want ErrNotFound", err)
	}
	for _, h := range []string{"s-keep", "s-a", "s-b"} {
		if err := s.CreateSession(ctx, store.Session{TokenHash: h, UserID: u.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RevokeUserSessions(ctx, u.ID, "s-keep", t0); err != nil {
		t.Fatalf("RevokeUserSessions: %v", err)
	}
	for h, wantRevoked := range map[string]bool{"s-keep": false, "s-a": true, "s-b": true} {
		if got, _ := s.GetSession(ctx, h); got.RevokedAt.IsZero() == wantRevoked {
			t.Errorf("session %s revoked = %v, want %v", h, !got.RevokedAt.IsZero(), wantRevoked)
		}
	}
	err = inTx(t, s, func(tx store.ResourceTx) error {
		got, err := tx.GetUser(u.Email)
		if err != nil {
			return err
		}
		return tx.DeleteUser(got.ID)
	})
	if err != nil {
		t.Fatalf("DeleteUser: %v", err)
	}
	if _, err := s.UserByEmail(ctx, u.Email); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted user: %v", err)
	}
	if _, err := s.GetSession(ctx, "s-keep"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a deleted user's session: %v, want ErrNotFound", err)
	}
	if err := inTx(t, s, func(tx store.ResourceTx) error { return tx.DeleteUser(u.ID) }); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("delete twice: %v, want ErrNotFound", err)
	}
	err = inTx(t, s, func(tx store.ResourceTx) error { return tx.CreateUser(user("u9", "user0@example.com")) })
	if !errors.Is(err, store.ErrConflict) {
		t.Errorf("tx.CreateUser with a taken email: %v, want ErrConflict", err)
	}
}

func testAuditTokens(t *testing.T, s store.Store) {
	ctx := context.Background()
	events := []v1.AuditEvent{
		{Time: t0, Principal: "McpToken:aa", Action: "projects.get", Method: "GET", Path: "/p", Status: 200, TokenName: "ci", TokenSHA: "aa"},
		{Time: t0, Principal: "User:a@b.c", Action: "projects.get", Method: "GET", Path: "/p", Status: 200},
	}
	if err := s.InsertAuditEvents(ctx, events); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListAuditEvents(ctx, store.AuditFilter{TokenName: "ci"})
	if err != nil || len(got) != 1 || got[0].TokenSHA != "aa" || got[0].TokenName != "ci" {
		t.Errorf("audit by tokenName: %+v %v", got, err)
	}
}
