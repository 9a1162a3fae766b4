package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

// Options selects and tunes the database.
type Options struct {
	// PostgresURL selects PostgreSQL when not empty.
	PostgresURL string
	// SQLitePath is the SQLite file used when PostgresURL is empty.
	SQLitePath string
	// ConnectTimeout bounds the first contact with the database; 0 means 10s.
	ConnectTimeout time.Duration
}

// DB is the database/sql implementation of Store.
type DB struct {
	db *sql.DB
	// auditDB is a small pool of its own for audit batches, so that a busy
	// request path can never starve the audit writer of connections (and
	// its queue of room).
	auditDB *sql.DB
	dialect string
}

var _ Store = (*DB)(nil)

// migrationLockID is the PostgreSQL advisory lock key that serialises
// migrations and bootstrap across replicas ("mcpctl" in ASCII).
const migrationLockID = 0x6d6370_63746c

// Open connects, checks the database answers, and applies pending
// migrations under a lock.
func Open(ctx context.Context, o Options) (*DB, error) {
	if o.ConnectTimeout == 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	d := &DB{}
	driver, dsn := "pgx", withConnectTimeout(o.PostgresURL)
	if o.PostgresURL != "" {
		d.dialect = "postgres"
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("open PostgreSQL %s: %w", RedactURL(o.PostgresURL), err)
		}
		d.db = db
		d.db.SetMaxOpenConns(20)
		d.db.SetMaxIdleConns(10)
		d.db.SetConnMaxIdleTime(5 * time.Minute)
	} else {
		d.dialect = "sqlite"
		if err := os.MkdirAll(filepath.Dir(o.SQLitePath), 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		// WAL lets readers run beside the one writer; busy_timeout makes a
		// second writer (another process) wait instead of failing;
		// _txlock=immediate takes the write lock at BEGIN, so a read-then-
		// write transaction cannot deadlock on lock upgrade.
		driver = "sqlite"
		dsn = "file:" + o.SQLitePath + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)" +
			"&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		db, err := sql.Open(driver, dsn)
		if err != nil {
			return nil, fmt.Errorf("open SQLite %s: %w", o.SQLitePath, err)
		}
		d.db = db
		d.db.SetMaxOpenConns(8)
		d.db.SetMaxIdleConns(8)
	}
	pctx, cancel := context.WithTimeout(ctx, o.ConnectTimeout)
	defer cancel()
	if err := d.db.PingContext(pctx); err != nil {
		d.db.Close()
		return nil, d.connectError(o, err)
	}
	if err := d.migrate(ctx); err != nil {
		d.db.Close()
		return nil, err
	}
	auditDB, err := sql.Open(driver, dsn)
	if err != nil {
		d.db.Close()
		return nil, err
	}
	auditDB.SetMaxOpenConns(2)
	auditDB.SetMaxIdleConns(2)
	d.auditDB = auditDB
	return d, nil
}

func (d *DB) connectError(o Options, err error) error {
	if d.dialect == "postgres" {
		return fmt.Errorf("cannot reach PostgreSQL at %s: %w; check that it is running and that MCPD_DATABASE_URL is right", RedactURL(o.PostgresURL), err)
	}
	return fmt.Errorf("cannot open SQLite database %s: %w; check MCPD_DATA_DIR is writable", o.SQLitePath, err)
}

// withConnectTimeout adds connect_timeout=5 (seconds) to a PostgreSQL URL
// that sets none: without it a database that drops packets, rather than
// refusing connections, would hold requests until their clients give up.
func withConnectTimeout(raw string) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil {
		return raw
	}
	q := u.Query()
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "5")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// RedactURL hides the passwords of a database URL so it can be logged:
// the one in user:pass@ and the password and sslpassword parameters.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	q := u.Query()
	changed := false
	for k := range q {
		if strings.EqualFold(k, "password") || strings.EqualFold(k, "sslpassword") {
			q.Set(k, "xxxxx")
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// Dialect names the engine.
func (d *DB) Dialect() string { return d.dialect }

// Close releases the connections.
func (d *DB) Close() error { return errors.Join(d.auditDB.Close(), d.db.Close()) }

// Ping checks that the database answers a query.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	return d.wrap(d.db.QueryRowContext(ctx, "SELECT 1").Scan(&one))
}

// q rewrites '?' placeholders to PostgreSQL's $n.
func (d *DB) q(query string) string {
	if d.dialect != "postgres" {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + 16)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// wrap maps driver errors to the package's sentinels.
func (d *DB) wrap(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if errors.Is(err, context.Canceled) {
		return err
	}
	if strings.Contains(err.Error(), "sql: database is closed") {
		// database/sql does not export this error; the store is gone.
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case pgErr.Code == "23505":
			return fmt.Errorf("%w: %s", ErrConflict, pgErr.Message)
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "57P"):
			// connection exceptions and operator intervention (shutdown)
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return err
	}
	var sqErr *sqlite.Error
	if errors.As(err, &sqErr) {
		switch sqErr.Code() {
		case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
			return fmt.Errorf("%w: %v", ErrConflict, err)
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR:
			return fmt.Errorf("%w: %v", ErrUnavailable, err)
		}
		return err
	}
	var netErr net.Error
	var connErr *pgconn.ConnectError
	if errors.As(err, &netErr) || errors.As(err, &connErr) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, sql.ErrConnDone) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	if d.dialect == "postgres" && pgconn.SafeToRetry(err) {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	return err
}

// one checks a statement that must touch exactly one row: none is
// ErrNotFound.
func (d *DB) one(res sql.Result, err error) error {
	if err != nil {
		return d.wrap(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return d.wrap(err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// migrate applies the embedded migrations not yet recorded, in order, in
// one transaction, holding the lock that keeps other replicas out.
func (d *DB) migrate(ctx context.Context) error {
	dir := "migrations/" + d.dialect
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("read embedded migrations: %w", err)
	}
	type mig struct {
		version int
		name    string
	}
	var all []mig
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		all = append(all, mig{v, e.Name()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].version < all[j].version })

	return d.locked(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", d.wrap(err))
		}
		applied := map[int]bool{}
		rows, err := tx.QueryContext(ctx, "SELECT version FROM schema_migrations")
		if err != nil {
			return fmt.Errorf("read schema_migrations: %w", d.wrap(err))
		}
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				rows.Close()
				return err
			}
			applied[v] = true
		}
		rows.Close()
		for _, m := range all {
			if applied[m.version] {
				continue
			}
			body, err := migrations.ReadFile(dir + "/" + m.name)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return fmt.Errorf("apply migration %s: %w", m.name, d.wrap(err))
			}
			if _, err := tx.ExecContext(ctx, d.q("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)"),
				m.version, m.name, time.Now().UnixMicro()); err != nil {
				return fmt.Errorf("record migration %s: %w", m.name, d.wrap(err))
			}
		}
		return nil
	})
}

// locked runs fn in a transaction that holds the store-wide lock: a
// transaction-scoped advisory lock on PostgreSQL; on SQLite the write lock
// that BEGIN IMMEDIATE takes.
func (d *DB) locked(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return d.wrap(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if d.dialect == "postgres" {
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLockID)); err != nil {
			return fmt.Errorf("take migration lock: %w", d.wrap(err))
		}
	}
	if err := fn(tx); err != nil {
		return err
	}
	return d.wrap(tx.Commit())
}
