package auth_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/store"
)

// BenchmarkLoginRefused shows that an unknown email costs the same as a
// wrong password (docs/benchmarks.md): the answer must not reveal which.
func BenchmarkLoginRefused(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{SQLitePath: filepath.Join(b.TempDir(), "db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateUser(ctx, store.User{ID: "u1", Email: "known@example.com", PasswordHash: auth.HashPassword("right-password")}); err != nil {
		b.Fatal(err)
	}
	a := auth.New(auth.Config{}, st)
	for _, tc := range []struct{ name, email string }{
		{"wrong-password", "known@example.com"},
		{"unknown-email", "unknown@example.com"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, _, err := a.Login(ctx, tc.email, "wrong-password"); err != auth.ErrInvalidCredentials {
					b.Fatalf("Login: %v", err)
				}
			}
		})
	}
}

// BenchmarkAuthenticateCached is the hot path of every authenticated
// request: a cached token look-up.
func BenchmarkAuthenticateCached(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, store.Options{SQLitePath: filepath.Join(b.TempDir(), "db")})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	st.CreateUser(ctx, store.User{ID: "u1", Email: "known@example.com", PasswordHash: auth.HashPassword("right-password")})
	a := auth.New(auth.Config{SessionTTL: 3600e9, CacheTTL: 3600e9}, st)
	tok, _, err := a.Login(ctx, "known@example.com", "right-password")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Authenticate(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
