package store_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	"github.com/mcpctl/mcpctl/internal/store/storetest"
)

func openSQLite(t *testing.T) store.Store {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(t.TempDir(), "mcpd.db")})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func openPostgres(t *testing.T) store.Store {
	t.Helper()
	db, err := store.Open(context.Background(), store.Options{PostgresURL: storetest.PostgresURL(t)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLite(t *testing.T)   { storetest.Run(t, openSQLite) }
func TestPostgres(t *testing.T) { storetest.Run(t, openPostgres) }

// Several processes' worth of Open calls on one database at once must
// leave exactly one applied schema and no error.
func TestConcurrentMigrations(t *testing.T) {
	engines := map[string]func(t *testing.T) store.Options{
		"sqlite":   func(t *testing.T) store.Options { return store.Options{SQLitePath: filepath.Join(t.TempDir(), "m.db")} },
		"postgres": func(t *testing.T) store.Options { return store.Options{PostgresURL: storetest.PostgresURL(t)} },
	}
	for name, opts := range engines {
		t.Run(name, func(t *testing.T) {
			o := opts(t)
			var wg sync.WaitGroup
			errs := make([]error, 5)
			for i := range errs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db, err := store.Open(context.Background(), o)
					if err == nil {
						err = db.Ping(context.Background())
						db.Close()
					}
					errs[i] = err
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("Open %d: %v", i, err)
				}
			}
			// Each migration applied exactly once.
			driver, dsn := "pgx", o.PostgresURL
			if o.SQLitePath != "" {
				driver, dsn = "sqlite", o.SQLitePath
			}
			raw, err := sql.Open(driver, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer raw.Close()
			var n, distinct int
			if err := raw.QueryRow("SELECT COUNT(*), COUNT(DISTINCT version) FROM schema_migrations").Scan(&n, &distinct); err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob("migrations/" + name + "/*.sql")
			if n != len(files) || distinct != n {
				t.Errorf("schema_migrations has %d rows (%d distinct) for %d migration files", n, distinct, len(files))
			}
		})
	}
}

func TestUnreachablePostgres(t *testing.T) {
	t.Parallel()
	_, err := store.Open(context.Background(), store.Options{
		PostgresURL:    "postgres://mcpd:s3cret@127.0.0.1:1/mcpd?sslmode=disable",
		ConnectTimeout: 3 * time.Second,
	})
	if err == nil {
		t.Fatal("Open succeeded against a closed port")
	}
	msg := err.Error()
	if !strings.Contains(msg, "cannot reach PostgreSQL at postgres://mcpd:xxxxx@127.0.0.1:1/mcpd") || strings.Contains(msg, "s3cret") {
		t.Errorf("error should name the redacted URL and not leak the password: %s", msg)
	}
}

func TestSQLiteUnwritableDir(t *testing.T) {
	t.Parallel()
	// A path below a regular file cannot be created, even by root.
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o600)
	_, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(f, "sub", "mcpd.db")})
	if err == nil || !strings.Contains(err.Error(), "data directory") {
		t.Errorf("Open under a file: got %v, want a data directory error", err)
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:secret@h:5432/db", "postgres://u:xxxxx@h:5432/db"},
		{"postgres://u@h/db?password=secret&sslmode=disable", "postgres://u@h/db?password=xxxxx&sslmode=disable"},
		{"postgres://u@h/db?sslpassword=secret", "postgres://u@h/db?sslpassword=xxxxx"},
		{"postgres://u@h/db?PASSWORD=secret", "postgres://u@h/db?PASSWORD=xxxxx"},
		{"postgres://h/db", "postgres://h/db"},
	}
	for _, tc := range tests {
		got := store.RedactURL(tc.in)
		if got != tc.want || strings.Contains(got, "secret") {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
