package store

import (
	"context"
	"strings"
	"time"
)

// MCPSession is the record of one session-era MCP session on a project
// endpoint.
type MCPSession struct {
	ID, Project, Subject, Version string
	// Init is the client's initialize params (JSON).
	Init      string
	Node      string
	CreatedAt time.Time
	LastSeen  time.Time
}

// PutMCPSession creates or replaces a session record.
func (d *DB) PutMCPSession(ctx context.Context, s MCPSession) error {
	_, err := d.db.ExecContext(ctx, d.q(`INSERT INTO mcp_sessions (id, project, subject, version, init, node, created_at, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET project = excluded.project, subject = excluded.subject, version = excluded.version,
			init = excluded.init, node = excluded.node, last_seen = excluded.last_seen`),
		s.ID, s.Project, s.Subject, s.Version, s.Init, s.Node, micros(s.CreatedAt), micros(s.LastSeen))
	return d.wrap(err)
}

// GetMCPSession reads a session record; ErrNotFound when absent.
func (d *DB) GetMCPSession(ctx context.Context, id string) (MCPSession, error) {
	var s MCPSession
	var created, seen int64
	err := d.db.QueryRowContext(ctx, d.q(`SELECT id, project, subject, version, init, node, created_at, last_seen FROM mcp_sessions WHERE id = ?`), id).
		Scan(&s.ID, &s.Project, &s.Subject, &s.Version, &s.Init, &s.Node, &created, &seen)
	if err != nil {
		return MCPSession{}, d.wrap(err)
	}
	s.CreatedAt, s.LastSeen = fromMicros(created), fromMicros(seen)
	return s, nil
}

// TouchMCPSession records a use of a session.
func (d *DB) TouchMCPSession(ctx context.Context, id string, at time.Time) error {
	_, err := d.db.ExecContext(ctx, d.q("UPDATE mcp_sessions SET last_seen = ? WHERE id = ? AND last_seen < ?"), micros(at), id, micros(at))
	return d.wrap(err)
}

// DeleteMCPSessions removes the records of ids, and every record last
// seen before idleBefore (when set).
func (d *DB) DeleteMCPSessions(ctx context.Context, ids []string, idleBefore time.Time) error {
	if len(ids) > 0 {
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
		args := make([]any, len(ids))
		for i, id := range ids {
			args[i] = id
		}
		if _, err := d.db.ExecContext(ctx, d.q("DELETE FROM mcp_sessions WHERE id IN ("+marks+")"), args...); err != nil {
			return d.wrap(err)
		}
	}
	if !idleBefore.IsZero() {
		if _, err := d.db.ExecContext(ctx, d.q("DELETE FROM mcp_sessions WHERE last_seen < ?"), micros(idleBefore)); err != nil {
			return d.wrap(err)
		}
	}
	return nil
}
