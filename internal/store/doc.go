// Package store keeps mcpd's state: users, login sessions and audit events
// now; servers, secrets, projects, instances and logs as they arrive.
//
// There is one implementation, DB, over database/sql with a small dialect
// layer: SQLite (modernc.org/sqlite, pure Go) is the default, a file in the
// data directory in WAL mode; PostgreSQL (pgx) is used when a URL is given,
// and then several mcpd replicas share it. Migrations are embedded per
// dialect and applied by Open under a lock (a PostgreSQL advisory lock, or
// SQLite's write lock), so replicas that start together do not race.
//
// Times are stored as BIGINT microseconds since the Unix epoch in both
// dialects, which keeps scanning identical and ordering exact.
//
// Errors: ErrNotFound, ErrConflict and ErrUnavailable are the sentinels
// callers compare with errors.Is; ErrUnavailable means the database cannot
// be reached, which the API answers with 503 until it comes back.
//
// The shared test suite in storetest runs against both engines.
package store
