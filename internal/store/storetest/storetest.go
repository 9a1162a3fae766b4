// Package storetest is the conformance suite every store engine passes.
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

// Run runs the suite; open returns a fresh, empty, migrated store per call.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	t.Run("Ping", func(t *testing.T) {
		s := open(t)
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("Users", func(t *testing.T) { testUsers(t, open(t)) })
	t.Run("CreateFirstUserOnce", func(t *testing.T) { testFirstUser(t, open(t)) })
	t.Run("Sessions", func(t *testing.T) { testSessions(t, open(t)) })
	t.Run("Audit", func(t *testing.T) { testAudit(t, open(t)) })
	t.Run("Resources", func(t *testing.T) { testResources(t, open(t)) })
	t.Run("ResourcePages", func(t *testing.T) { testResourcePages(t, open(t)) })
	t.Run("ResourceRollback", func(t *testing.T) { testResourceRollback(t, open(t)) })
	t.Run("ViewResources", func(t *testing.T) { testViewResources(t, open(t)) })
	t.Run("Tokens", func(t *testing.T) { testTokens(t, open(t)) })
	t.Run("UserAdmin", func(t *testing.T) { testUserAdmin(t, open(t)) })
	t.Run("AuditTokens", func(t *testing.T) { testAuditTokens(t, open(t)) })
	t.Run("Instances", func(t *testing.T) { testInstances(t, open(t)) })
	t.Run("InstanceLogs", func(t *testing.T) { testInstanceLogs(t, open(t)) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, open(t)) })
	t.Run("LogGap", func(t *testing.T) { testLogGap(t, open(t)) })
	t.Run("MCPSessions", func(t *testing.T) { testMCPSessions(t, open(t)) })
	t.Run("AuditCalls", func(t *testing.T) { testAuditCalls(t, open(t)) })
}

var t0 = time.Date(2026, 11, 1, 12, 0, 0, 123456000, time.UTC)

func user(id, email string) store.User {
	return store.User{ID: id, Email: email, Name: "N " + id, PasswordHash: "$argon2id$x", CreatedAt: t0, UpdatedAt: t0}
}

func testUsers(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := user("u1", "alice@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	got, err := s.UserByEmail(ctx, "alice@example.com")
	if err != nil {
		t.Fatalf("UserByEmail: %v", err)
	}
	if diff := cmp.Diff(u, got); diff != "" {
		t.Errorf("UserByEmail (-want +got):\n%s", diff)
	}
	if err := s.CreateUser(ctx, user("u2", "alice@example.com")); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate email: got %v, want ErrConflict", err)
	}
	if _, err := s.UserByEmail(ctx, "nobody@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("missing user: got %v, want ErrNotFound", err)
	}
	// SQL metacharacters are data, never syntax.
	if _, err := s.UserByEmail(ctx, "x' OR '1'='1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("injection probe: got %v, want ErrNotFound", err)
	}
}

func testFirstUser(t *testing.T, s store.Store) {
	ctx := context.Background()
	results := make(chan error, 4)
	created := make(chan bool, 4)
	for i := range 4 {
		go func() {
			ok, err := s.CreateFirstUser(ctx, func() store.User {
				return user(fmt.Sprint("admin", i), fmt.Sprintf("admin%d@example.com", i))
			})
			created <- ok
			results <- err
		}()
	}
	n := 0
	for range 4 {
		if err := <-results; err != nil {
			t.Errorf("CreateFirstUser: %v", err)
		}
		if <-created {
			n++
		}
	}
	if n != 1 {
		t.Errorf("CreateFirstUser created %d users, want exactly 1", n)
	}
}

func testSessions(t *testing.T, s store.Store) {
	ctx := context.Background()
	u := user("u1", "bob@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := store.Session{TokenHash: "h1", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	got, err := s.GetSession(ctx, "h1")
	if err != nil {
		t.Fatalf("GetSession: %v", err)
	}
	want := sess
	want.User = u
	want.User.PasswordHash = ""
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("GetSession (-want +got):\n%s", diff)
	}
	if err := s.CreateSession(ctx, sess); !errors.Is(err, store.ErrConflict) {
		t.Errorf("duplicate session: got %v, want ErrConflict", err)
	}
	revokedAt := t0.Add(time.Minute)
	if err := s.RevokeSession(ctx, "h1", revokedAt); err != nil {
		t.Fatalf("RevokeSession: %v", err)
	}
	if err := s.RevokeSession(ctx, "h1", revokedAt.Add(time.Minute)); err != nil {
		t.Fatalf("RevokeSession twice: %v", err)
	}
	got, _ = s.GetSession(ctx, "h1")
	if !got.RevokedAt.Equal(revokedAt) {
		t.Errorf("RevokedAt = %v, want the first revocation %v", got.RevokedAt, revokedAt)
	}
	if err := s.RevokeSession(ctx, "nope", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke missing: got %v, want ErrNotFound", err)
	}
	if _, err := s.GetSession(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get missing: got %v, want ErrNotFound", err)
	}
	if err := s.CreateSession(ctx, store.Session{TokenHash: "h2", UserID: "u1", CreatedAt: t0, ExpiresAt: t0.Add(48 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	n, err := s.DeleteSessionsBefore(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Errorf("DeleteSessionsBefore = %d, %v; want 1, nil", n, err)
	}
	if _, err := s.GetSession(ctx, "h2"); err != nil {
		t.Errorf("unexpired session deleted: %v", err)
	}
}

func testAudit(t *testing.T, s store.Store) {
	ctx := context.Background()
	var events []v1.AuditEvent
	for i := range 1203 { // more than two insert chunks
		p := "alice@example.com"
		if i%3 == 0 {
			p = "bob@example.com"
		}
		status := 200
		if i%10 == 0 {
			status = 401
		}
		events = append(events, v1.AuditEvent{
			Time: t0.Add(time.Duration(i) * time.Second), Principal: p, Action: "auth.me", Method: "GET",
			Path: "/api/v1/auth/me", Status: status, DurationMS: 1.5, ClientIP: "127.0.0.1", RequestID: fmt.Sprint("r", i),
		})
	}
	if err := s.InsertAuditEvents(ctx, events); err != nil {
		t.Fatalf("InsertAuditEvents: %v", err)
	}
	n, err := s.CountAuditEvents(ctx, store.AuditFilter{})
	if err != nil || n != 1203 {
		t.Fatalf("Count = %d, %v; want 1203", n, err)
	}
	// Page through everything with cursors; ids must be unique and descending.
	seen := 0
	var before int64
	for {
		page, err := s.ListAuditEvents(ctx, store.AuditFilter{Limit: 500, BeforeID: before})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(page) == 0 {
			break
		}
		for i, e := range page {
			if before != 0 && e.ID >= before || i > 0 && e.ID >= page[i-1].ID {
				t.Fatalf("ids not strictly descending at %d", e.ID)
			}
		}
		seen += len(page)
		before = page[len(page)-1].ID
	}
	if seen != 1203 {
		t.Errorf("paged %d events, want 1203", seen)
	}
	first, _ := s.ListAuditEvents(ctx, store.AuditFilter{Limit: 1})
	want := events[1202]
	want.ID = first[0].ID
	if diff := cmp.Diff(want, first[0]); diff != "" {
		t.Errorf("newest event (-want +got):\n%s", diff)
	}
	tests := []struct {
		name string
		f    store.AuditFilter
		want int64
	}{
		{"principal", store.AuditFilter{Principal: "bob@example.com"}, 401},
		{"status", store.AuditFilter{Status: 401}, 121},
		{"principal and status", store.AuditFilter{Principal: "bob@example.com", Status: 401}, 41},
		{"action", store.AuditFilter{Action: "auth.me"}, 1203},
		{"no such action", store.AuditFilter{Action: "auth.login"}, 0},
		{"since", store.AuditFilter{Since: t0.Add(1200 * time.Second)}, 3},
		{"until", store.AuditFilter{Until: t0.Add(10 * time.Second)}, 10},
		{"window", store.AuditFilter{Since: t0.Add(10 * time.Second), Until: t0.Add(20 * time.Second)}, 10},
	}
	for _, tc := range tests {
		n, err := s.CountAuditEvents(ctx, tc.f)
		if err != nil || n != tc.want {
			t.Errorf("%s: count = %d, %v; want %d", tc.name, n, err, tc.want)
		}
		tc.f.Limit = 2000
		list, err := s.ListAuditEvents(ctx, tc.f)
		if err != nil || int64(len(list)) != tc.want {
			t.Errorf("%s: list = %d, %v; want %d", tc.name, len(list), err, tc.want)
		}
	}
}
