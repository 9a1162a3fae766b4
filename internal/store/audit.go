package store

import (
	"context"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// auditChunk keeps one INSERT well under both engines' bound-parameter
// limits (SQLite 32766, PostgreSQL 65535) with 17 columns a row.
const auditChunk = 500

// InsertAuditEvents appends events in one transaction, in multi-row
// INSERTs: one round trip per 500 events.
func (d *DB) InsertAuditEvents(ctx context.Context, events []v1.AuditEvent) error {
	if len(events) == 0 {
		return nil
	}
	tx, err := d.auditDB.BeginTx(ctx, nil)
	if err != nil {
		return d.wrap(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	for start := 0; start < len(events); start += auditChunk {
		chunk := events[start:min(start+auditChunk, len(events))]
		var b strings.Builder
		b.WriteString("INSERT INTO audit_events (ts, principal, action, method, path, status, duration_us, client_ip, request_id, token_name, token_sha, project, server, tool, outcome, denied, detail) VALUES ")
		args := make([]any, 0, len(chunk)*17)
		for i, e := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			args = append(args, micros(e.Time), e.Principal, e.Action, e.Method, e.Path, e.Status,
				int64(e.DurationMS*1000), e.ClientIP, e.RequestID, e.TokenName, e.TokenSHA, e.Project, e.Server, e.Tool, e.Outcome, b2i(e.Denied), e.Detail)
		}
		if _, err := tx.ExecContext(ctx, d.q(b.String()), args...); err != nil {
			return d.wrap(err)
		}
	}
	return d.wrap(tx.Commit())
}

func (d *DB) auditWhere(f AuditFilter, withCursor bool) (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	if f.Principal != "" {
		add("principal = ?", f.Principal)
	}
	if f.TokenName != "" {
		add("token_name = ?", f.TokenName)
	}
	if f.Project != "" {
		add("project = ?", f.Project)
	}
	if f.Tool != "" {
		add("tool = ?", f.Tool)
	}
	if f.Action != "" {
		add("action = ?", f.Action)
	}
	if f.Status != 0 {
		add("status = ?", f.Status)
	}
	if !f.Since.IsZero() {
		add("ts >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		add("ts < ?", micros(f.Until))
	}
	if withCursor && f.BeforeID > 0 {
		add("id < ?", f.BeforeID)
	}
	if len(conds) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args
}

// ListAuditEvents returns matching events, newest first.
func (d *DB) ListAuditEvents(ctx context.Context, f AuditFilter) ([]v1.AuditEvent, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := d.auditWhere(f, true)
	args = append(args, limit)
	rows, err := d.db.QueryContext(ctx, d.q(`SELECT id, ts, principal, action, method, path, status, duration_us, client_ip, request_id, token_name, token_sha,
			project, server, tool, outcome, denied, detail
		FROM audit_events`+where+` ORDER BY id DESC LIMIT ?`), args...)
	if err != nil {
		return nil, d.wrap(err)
	}
	defer rows.Close()
	out := []v1.AuditEvent{}
	for rows.Next() {
		var e v1.AuditEvent
		var ts, dur, denied int64
		if err := rows.Scan(&e.ID, &ts, &e.Principal, &e.Action, &e.Method, &e.Path, &e.Status, &dur, &e.ClientIP, &e.RequestID, &e.TokenName, &e.TokenSHA,
			&e.Project, &e.Server, &e.Tool, &e.Outcome, &denied, &e.Detail); err != nil {
			return nil, d.wrap(err)
		}
		e.Time = fromMicros(ts)
		e.DurationMS = float64(dur) / 1000
		e.Denied = denied != 0
		out = append(out, e)
	}
	return out, d.wrap(rows.Err())
}

// CountAuditEvents counts matching events.
func (d *DB) CountAuditEvents(ctx context.Context, f AuditFilter) (int64, error) {
	where, args := d.auditWhere(f, false)
	var n int64
	err := d.db.QueryRowContext(ctx, d.q("SELECT COUNT(*) FROM audit_events"+where), args...).Scan(&n)
	return n, d.wrap(err)
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
