package server

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// The admin group is created once, with the bootstrap admin when that user
// exists, else with the user created first (a store from before RBAC whose
// bootstrap email changed); an existing group is never touched.
func TestEnsureAdminGroup(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	members := func(t *testing.T, db *store.DB) []string {
		t.Helper()
		res, err := db.GetResource(ctx, store.ResourceKey{Kind: "Group", Name: v1.AdminGroup})
		if err != nil {
			t.Fatalf("admin group: %v", err)
		}
		var g v1.GroupSpec
		if err := json.Unmarshal(res.Spec, &g); err != nil {
			t.Fatal(err)
		}
		return g.Members
	}
	tests := []struct {
		name  string
		users map[string]time.Duration // email → created after t0
		boot  string
		want  []string
	}{
		{"bootstrap admin exists", map[string]time.Duration{"root@example.com": time.Hour, "old@example.com": 0}, "root@example.com", []string{"root@example.com"}},
		{"bootstrap email changed since", map[string]time.Duration{"b@example.com": time.Hour, "z-first@example.com": 0}, "new@example.com", []string{"z-first@example.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db, err := store.Open(ctx, store.Options{SQLitePath: filepath.Join(t.TempDir(), "mcpd.db")})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for email, after := range tt.users {
				u := store.User{ID: email, Email: email, PasswordHash: "x", CreatedAt: t0.Add(after), UpdatedAt: t0}
				if err := db.CreateUser(ctx, u); err != nil {
					t.Fatal(err)
				}
			}
			if err := ensureAdminGroup(ctx, db, tt.boot, log); err != nil {
				t.Fatalf("ensureAdminGroup: %v", err)
			}
			if diff := cmp.Diff(tt.want, members(t, db)); diff != "" {
				t.Errorf("members (-want +got):\n%s", diff)
			}
			// A second start leaves the group as it is, even when the
			// bootstrap email names someone else.
			if err := ensureAdminGroup(ctx, db, "b@example.com", log); err != nil {
				t.Fatalf("ensureAdminGroup again: %v", err)
			}
			if diff := cmp.Diff(tt.want, members(t, db)); diff != "" {
				t.Errorf("members after a second start (-want +got):\n%s", diff)
			}
		})
	}
}
