package auth_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/clocktest"
	"github.com/mcpctl/mcpctl/internal/store"
)

const (
	aliceEmail    = "alice@example.com"
	alicePassword = "correct horse battery staple"
)

// aliceHash is computed once: argon2id is deliberately slow.
var aliceHash = sync.OnceValue(func() string { return auth.HashPassword(alicePassword) })

// openStore opens a SQLite store in a temporary directory holding the user
// alice.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, store.Options{SQLitePath: filepath.Join(t.TempDir(), "db")})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	u := store.User{ID: "u-alice", Email: aliceEmail, Name: "Alice", PasswordHash: aliceHash(), CreatedAt: t0, UpdatedAt: t0}
	if err := db.CreateUser(ctx, u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return db
}

// login logs alice in and fails the test if that does not work.
func login(t *testing.T, a *auth.Authenticator) (string, *auth.Principal) {
	t.Helper()
	raw, p, err := a.Login(context.Background(), aliceEmail, alicePassword)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	return raw, p
}

// isAuthError reports whether err is one of the package's 401 errors.
func isAuthError(err error) bool {
	for _, target := range []error{auth.ErrTokenRequired, auth.ErrTokenExpired, auth.ErrTokenInvalid, auth.ErrInvalidCredentials} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

func TestPasswordRoundTrip(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, password string
	}{
		{"words", alicePassword},
		{"empty", ""},
		{"unicode", "pässwörd 🔑 密码"},
		{"long", strings.Repeat("x", 1000)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			hash := auth.HashPassword(tt.password)
			if !strings.HasPrefix(hash, "$argon2id$v=19$") {
				t.Errorf("hash %q is not a PHC argon2id string", hash)
			}
			if strings.Contains(hash, tt.password) && tt.password != "" {
				t.Errorf("hash %q contains the password", hash)
			}
			ok, err := auth.VerifyPassword(hash, tt.password)
			if err != nil || !ok {
				t.Errorf("VerifyPassword(right password) = %v, %v; want true, nil", ok, err)
			}
			ok, err = auth.VerifyPassword(hash, tt.password+"x")
			if err != nil || ok {
				t.Errorf("VerifyPassword(wrong password) = %v, %v; want false, nil", ok, err)
			}
		})
	}
}

func TestHashPasswordIsSalted(t *testing.T) {
	t.Parallel()
	h1, h2 := auth.HashPassword(alicePassword), auth.HashPassword(alicePassword)
	if h1 == h2 {
		t.Fatalf("two hashes of the same password are equal: %q", h1)
	}
	for _, h := range []string{h1, h2} {
		if ok, err := auth.VerifyPassword(h, alicePassword); err != nil || !ok {
			t.Errorf("VerifyPassword(%q) = %v, %v; want true, nil", h, ok, err)
		}
	}
}

func TestVerifyPasswordMalformedHash(t *testing.T) {
	t.Parallel()
	// A valid salt and key in unpadded standard base64.
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	tests := []struct {
		name, hash string
	}{
		{"empty", ""},
		{"plain text", "hunter2"},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"argon2i", "$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key},
		{"too few fields", "$argon2id$v=19$m=19456,t=2,p=1$" + salt},
		{"too many fields", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "$x"},
		{"old version", "$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key},
		{"version not a number", "$argon2id$v=x$m=19456,t=2,p=1$" + salt + "$" + key},
		{"no parameters", "$argon2id$v=19$$" + salt + "$" + key},
		{"zero passes", "$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key},
		{"zero lanes", "$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key},
		{"negative memory", "$argon2id$v=19$m=-1,t=2,p=1$" + salt + "$" + key},
		{"lanes overflow", "$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key},
		{"salt not base64", "$argon2id$v=19$m=19456,t=2,p=1$!!!$" + key},
		{"key not base64", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$!!!"},
		{"empty key", "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$"},
		{"text before the first $", "x$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key},
		{"junk after the version", "$argon2id$v=19junk$m=19456,t=2,p=1$" + salt + "$" + key},
		{"junk after the parameters", "$argon2id$v=19$m=19456,t=2,p=1junk$" + salt + "$" + key},
		{"empty salt", "$argon2id$v=19$m=19456,t=2,p=1$$" + key},
		{"memory bomb", "$argon2id$v=19$m=4294967295,t=2,p=1$" + salt + "$" + key},
		{"pass bomb", "$argon2id$v=19$m=19456,t=100000,p=1$" + salt + "$" + key},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ok, err := auth.VerifyPassword(tt.hash, alicePassword)
			if err == nil || ok {
				t.Errorf("VerifyPassword(%q) = %v, %v; want false and an error", tt.hash, ok, err)
			}
		})
	}
}

func TestNewToken(t *testing.T) {
	t.Parallel()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	for _, prefix := range []string{auth.SessionTokenPrefix, "x_", ""} {
		t.Run(fmt.Sprintf("prefix %q", prefix), func(t *testing.T) {
			t.Parallel()
			seen := map[string]bool{}
			hashes := map[string]bool{}
			for range 1000 {
				raw, hash := auth.NewToken(prefix)
				body, ok := strings.CutPrefix(raw, prefix)
				if !ok {
					t.Fatalf("token %q lacks the prefix %q", raw, prefix)
				}
				if len(body) != 43 {
					t.Fatalf("token %q has %d characters after the prefix, want 43", raw, len(body))
				}
				if i := strings.IndexFunc(body, func(r rune) bool { return !strings.ContainsRune(base62, r) }); i >= 0 {
					t.Fatalf("token %q has a non-base62 character at %d", raw, len(prefix)+i)
				}
				if diff := cmp.Diff(auth.HashToken(raw), hash); diff != "" {
					t.Fatalf("hash of %q (-HashToken +NewToken):\n%s", raw, diff)
				}
				if seen[raw] || hashes[hash] {
					t.Fatalf("token %q issued twice", raw)
				}
				seen[raw], hashes[hash] = true, true
			}
		})
	}
}

func TestHashToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw, want string
	}{
		{"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, auth.HashToken(tt.raw)); diff != "" {
			t.Errorf("HashToken(%q) (-want +got):\n%s", tt.raw, diff)
		}
	}
}

func TestBearerToken(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header    string
		wantToken string
		wantOK    bool
	}{
		{"Bearer x", "x", true},
		{"bearer x", "x", true},
		{"BEARER x", "x", true},
		{"Bearer  x  ", "x", true},
		{"Basic x", "", false},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer    ", "", false},
		{"Bearerx", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			t.Parallel()
			tok, ok := auth.BearerToken(tt.header)
			if tok != tt.wantToken || ok != tt.wantOK {
				t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, tok, ok, tt.wantToken, tt.wantOK)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openStore(t)
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	a := auth.New(auth.Config{SessionTTL: time.Hour, CacheTTL: 5 * time.Second, Now: clock.Now}, db)

	raw, p := login(t, a)
	if !strings.HasPrefix(raw, auth.SessionTokenPrefix) {
		t.Errorf("token %q lacks the prefix %q", raw, auth.SessionTokenPrefix)
	}
	want := &auth.Principal{
		UserID:    "u-alice",
		Email:     aliceEmail,
		Name:      "Alice",
		CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		TokenHash: auth.HashToken(raw),
		ExpiresAt: clock.Now().Add(time.Hour),
	}
	if diff := cmp.Diff(want, p); diff != "" {
		t.Errorf("Login principal (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff("User:"+aliceEmail, p.Subject()); diff != "" {
		t.Errorf("Subject (-want +got):\n%s", diff)
	}
	got, err := a.Authenticate(ctx, raw)
	if err != nil {
		t.Fatalf("Authenticate after Login: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Authenticate principal (-want +got):\n%s", diff)
	}
}

func TestLoginRejected(t *testing.T) {
	t.Parallel()
	db := openStore(t)
	a := auth.New(auth.Config{SessionTTL: time.Hour}, db)
	tests := []struct {
		name, email, password string
	}{
		{"wrong password", aliceEmail, "not the password"},
		{"empty password", aliceEmail, ""},
		{"unknown email", "mallory@example.com", alicePassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			raw, p, err := a.Login(context.Background(), tt.email, tt.password)
			if !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Errorf("Login error = %v, want ErrInvalidCredentials", err)
			}
			if raw != "" || p != nil {
				t.Errorf("Login returned %q, %+v with its error", raw, p)
			}
		})
	}
}

func TestAuthenticateRejects(t *testing.T) {
	t.Parallel()
	db := openStore(t)
	a := auth.New(auth.Config{SessionTTL: time.Hour, CacheTTL: 5 * time.Second}, db)
	raw, _ := login(t, a)
	swap := "a"
	if strings.HasSuffix(raw, "a") {
		swap = "b"
	}
	changed := raw[:len(raw)-1] + swap
	unissued, _ := auth.NewToken(auth.SessionTokenPrefix)

	tests := []struct {
		name, token string
		want        error
	}{
		{"empty", "", auth.ErrTokenRequired},
		{"garbage", "garbage", auth.ErrTokenInvalid},
		{"one character changed", changed, auth.ErrTokenInvalid},
		{"never issued", unissued, auth.ErrTokenInvalid},
		{"600 characters", strings.Repeat("a", 600), auth.ErrTokenInvalid},
		{"600 characters after a valid token", raw + strings.Repeat("a", 600-len(raw)), auth.ErrTokenInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := a.Authenticate(context.Background(), tt.token)
			if !errors.Is(err, tt.want) {
				t.Errorf("Authenticate error = %v, want %v", err, tt.want)
			}
			if p != nil {
				t.Errorf("Authenticate returned %+v with its error", p)
			}
		})
	}
}

func TestAuthenticateExpiry(t *testing.T) {
	t.Parallel()
	const ttl = time.Hour
	for _, cacheTTL := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprintf("cache %s", cacheTTL), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			a := auth.New(auth.Config{SessionTTL: ttl, CacheTTL: cacheTTL, Now: clock.Now}, openStore(t))
			raw, _ := login(t, a)
			steps := []struct {
				advance time.Duration
				want    error
			}{
				{0, nil},
				{ttl - time.Second, nil},
				{2 * time.Second, auth.ErrTokenExpired}, // now cached, if the cache is on
				{24 * time.Hour, auth.ErrTokenExpired},
			}
			elapsed := time.Duration(0)
			for _, s := range steps {
				clock.Advance(s.advance)
				elapsed += s.advance
				_, err := a.Authenticate(ctx, raw)
				if !errors.Is(err, s.want) {
					t.Errorf("Authenticate %s after login: error = %v, want %v", elapsed, err, s.want)
				}
			}
		})
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	for _, cacheTTL := range []time.Duration{0, 5 * time.Second} {
		t.Run(fmt.Sprintf("cache %s", cacheTTL), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			a := auth.New(auth.Config{SessionTTL: time.Hour, CacheTTL: cacheTTL, Now: clock.Now}, openStore(t))
			raw, _ := login(t, a)
			p, err := a.Authenticate(ctx, raw) // warms the cache
			if err != nil {
				t.Fatalf("Authenticate before Logout: %v", err)
			}
			if err := a.Logout(ctx, p); err != nil {
				t.Fatalf("Logout: %v", err)
			}
			if _, err := a.Authenticate(ctx, raw); !errors.Is(err, auth.ErrTokenInvalid) {
				t.Errorf("Authenticate right after Logout: error = %v, want ErrTokenInvalid", err)
			}
			if err := a.Logout(ctx, p); err != nil {
				t.Errorf("second Logout: %v", err)
			}
		})
	}
}

// Two Authenticators over one store stand for two mcpd replicas: a logout
// on A reaches B within B's CacheTTL, and not later.
func TestLogoutAcrossReplicas(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		cacheTTL time.Duration
		// steps advance the shared clock after the logout, then ask B.
		steps []struct {
			advance time.Duration
			want    error
		}
	}{
		{
			name:     "cached for 5s",
			cacheTTL: 5 * time.Second,
			steps: []struct {
				advance time.Duration
				want    error
			}{
				{0, nil},
				{4*time.Second + 999*time.Millisecond, nil},
				{time.Millisecond, auth.ErrTokenInvalid}, // 5s: the bound
				{time.Second, auth.ErrTokenInvalid},
			},
		},
		{
			name:     "no cache",
			cacheTTL: 0,
			steps: []struct {
				advance time.Duration
				want    error
			}{
				{0, auth.ErrTokenInvalid},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db := openStore(t)
			clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			cfg := auth.Config{SessionTTL: time.Hour, CacheTTL: tt.cacheTTL, Now: clock.Now}
			replicaA, replicaB := auth.New(cfg, db), auth.New(cfg, db)

			raw, p := login(t, replicaA)
			if _, err := replicaB.Authenticate(ctx, raw); err != nil {
				t.Fatalf("replica B before logout: %v", err)
			}
			if err := replicaA.Logout(ctx, p); err != nil {
				t.Fatalf("Logout on replica A: %v", err)
			}
			if _, err := replicaA.Authenticate(ctx, raw); !errors.Is(err, auth.ErrTokenInvalid) {
				t.Errorf("replica A right after its logout: error = %v, want ErrTokenInvalid", err)
			}
			elapsed := time.Duration(0)
			for _, s := range tt.steps {
				clock.Advance(s.advance)
				elapsed += s.advance
				_, err := replicaB.Authenticate(ctx, raw)
				if !errors.Is(err, s.want) {
					t.Errorf("replica B %s after logout: error = %v, want %v", elapsed, err, s.want)
				}
			}
		})
	}
}

// A flood of garbage tokens must not stop valid tokens from working.
func TestCacheFloodOfGarbage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := auth.New(auth.Config{SessionTTL: time.Hour, CacheTTL: time.Minute, CacheSize: 10}, openStore(t))
	raw, _ := login(t, a)
	if _, err := a.Authenticate(ctx, raw); err != nil {
		t.Fatalf("Authenticate before the flood: %v", err)
	}
	for i := range 50 {
		tok := fmt.Sprintf("garbage-%d", i)
		if _, err := a.Authenticate(ctx, tok); !errors.Is(err, auth.ErrTokenInvalid) {
			t.Fatalf("Authenticate(%q): error = %v, want ErrTokenInvalid", tok, err)
		}
	}
	p, err := a.Authenticate(ctx, raw)
	if err != nil {
		t.Fatalf("Authenticate after the flood: %v", err)
	}
	if diff := cmp.Diff(aliceEmail, p.Email); diff != "" {
		t.Errorf("principal email (-want +got):\n%s", diff)
	}
}

// The cache holds at most CacheSize entries. Seen from outside: after B
// has cached more sessions than that and all are revoked behind its back,
// B can vouch for at most CacheSize of them from memory; the rest it must
// re-read from the store, which refuses them.
func TestCacheSizeBound(t *testing.T) {
	t.Parallel()
	const size, sessions = 10, 50
	ctx := context.Background()
	db := openStore(t)
	clock := clocktest.New(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	b := auth.New(auth.Config{SessionTTL: time.Hour, CacheTTL: time.Minute, CacheSize: size, Now: clock.Now}, db)

	var raws []string
	for range sessions {
		raw, hash := auth.NewToken(auth.SessionTokenPrefix)
		s := store.Session{TokenHash: hash, UserID: "u-alice", CreatedAt: clock.Now(), ExpiresAt: clock.Now().Add(time.Hour)}
		if err := db.CreateSession(ctx, s); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
		if _, err := b.Authenticate(ctx, raw); err != nil {
			t.Fatalf("Authenticate before revocation: %v", err)
		}
		raws = append(raws, raw)
	}
	for _, raw := range raws {
		if err := db.RevokeSession(ctx, auth.HashToken(raw), clock.Now()); err != nil {
			t.Fatalf("RevokeSession: %v", err)
		}
	}
	accepted := 0
	for _, raw := range raws {
		switch _, err := b.Authenticate(ctx, raw); {
		case err == nil:
			accepted++
		case !errors.Is(err, auth.ErrTokenInvalid):
			t.Fatalf("Authenticate after revocation: %v", err)
		}
	}
	if accepted > size {
		t.Errorf("%d revoked sessions still accepted from the cache, want at most CacheSize=%d", accepted, size)
	}
}

// Authenticate is safe for concurrent use, with a cache small enough to be
// emptied while other goroutines read it.
func TestAuthenticateConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := auth.New(auth.Config{SessionTTL: time.Hour, CacheTTL: time.Minute, CacheSize: 10}, openStore(t))
	raw, _ := login(t, a)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 50 {
				if _, err := a.Authenticate(ctx, raw); err != nil {
					t.Errorf("Authenticate(valid): %v", err)
					return
				}
				tok := fmt.Sprintf("garbage-%d-%d", g, i)
				if _, err := a.Authenticate(ctx, tok); !errors.Is(err, auth.ErrTokenInvalid) {
					t.Errorf("Authenticate(%q): error = %v, want ErrTokenInvalid", tok, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

// When the store cannot answer, Authenticate and Login must not claim the
// credentials are bad: the API answers 503, not 401.
func TestStoreDown(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openStore(t)
	// No cache: every look-up reaches the (closed) store. A login's own
	// session would otherwise be served from the cache.
	a := auth.New(auth.Config{SessionTTL: time.Hour}, db)
	raw, _ := login(t, a)
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, tok := range []string{raw, "garbage"} {
		p, err := a.Authenticate(ctx, tok)
		if err == nil || isAuthError(err) {
			t.Errorf("Authenticate(%q) with the store closed: %+v, %v; want a store error", tok, p, err)
		}
	}
	if _, _, err := a.Login(ctx, aliceEmail, alicePassword); err == nil || isAuthError(err) {
		t.Errorf("Login with the store closed: error = %v, want a store error", err)
	}
}
