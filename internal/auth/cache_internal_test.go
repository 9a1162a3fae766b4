package auth

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/clocktest"
	"github.com/mcpctl/mcpctl/internal/store"
)

// countingStore counts session look-ups: the hot path must not make them.
type countingStore struct {
	store.Store
	lookups atomic.Int64
}

func (c *countingStore) GetSession(ctx context.Context, hash string) (store.Session, error) {
	c.lookups.Add(1)
	return c.Store.GetSession(ctx, hash)
}

func newTestAuth(t *testing.T, cfg Config) (*Authenticator, *countingStore) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{SQLitePath: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateUser(ctx, store.User{ID: "u1", Email: "a@example.com", PasswordHash: HashPassword("password-1")}); err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: db}
	return New(cfg, cs), cs
}

// A look-up that read the session before a logout on this replica must not
// put it back in the cache after the logout.
func TestLogoutTombstoneWinsOverStaleLookup(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	a, _ := newTestAuth(t, Config{SessionTTL: time.Hour, CacheTTL: 5 * time.Second, Now: clock.Now})
	ctx := context.Background()
	raw, p, err := a.Login(ctx, "a@example.com", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	stale := *p // what a concurrent look-up read before the logout
	if err := a.Logout(ctx, p); err != nil {
		t.Fatal(err)
	}
	a.storeCache(p.TokenHash, &stale, clock.Now(), false) // ...and writes it back late
	if _, err := a.Authenticate(ctx, raw); err != ErrTokenInvalid {
		t.Fatalf("after logout and a stale cache write: %v, want ErrTokenInvalid", err)
	}
	if _, ok := a.Cached(raw); ok {
		t.Fatal("Cached returns a logged-out token")
	}
}

// A flood of garbage tokens neither grows the cache past its bound nor
// evicts the valid sessions: they keep being served without the store.
func TestGarbageFloodKeepsValidSessionsCached(t *testing.T) {
	a, cs := newTestAuth(t, Config{SessionTTL: time.Hour, CacheTTL: time.Minute, CacheSize: 10})
	ctx := context.Background()
	raw, _, err := a.Login(ctx, "a@example.com", "password-1")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		tok, _ := NewToken("garbage_")
		if _, err := a.Authenticate(ctx, tok); err != ErrTokenInvalid {
			t.Fatalf("garbage %d: %v", i, err)
		}
	}
	if n := len(a.cache); n > 10 {
		t.Errorf("cache holds %d entries, bound is 10", n)
	}
	before := cs.lookups.Load()
	for range 5 {
		if _, err := a.Authenticate(ctx, raw); err != nil {
			t.Fatal(err)
		}
	}
	if n := cs.lookups.Load() - before; n != 0 {
		t.Errorf("the valid session cost %d store look-ups after the flood, want 0 (it was evicted)", n)
	}
	if _, ok := a.Cached(raw); !ok {
		t.Error("Cached does not know the valid session")
	}
}
