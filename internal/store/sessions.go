package store

import (
	"context"
	"time"
)

// CreateSession stores a new login session.
func (d *DB) CreateSession(ctx context.Context, s Session) error {
	_, err := d.db.ExecContext(ctx, d.q(`INSERT INTO sessions (token_hash, user_id, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?)`), s.TokenHash, s.UserID, micros(s.CreatedAt), micros(s.ExpiresAt), micros(s.RevokedAt))
	return d.wrap(err)
}

// GetSession returns a session with its user.
func (d *DB) GetSession(ctx context.Context, tokenHash string) (Session, error) {
	var s Session
	var created, expires, revoked, uCreated, uUpdated int64
	err := d.db.QueryRowContext(ctx, d.q(`SELECT s.token_hash, s.user_id, s.created_at, s.expires_at, s.revoked_at,
			u.id, u.email, u.name, u.created_at, u.updated_at
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = ?`), tokenHash).
		Scan(&s.TokenHash, &s.UserID, &created, &expires, &revoked,
			&s.User.ID, &s.User.Email, &s.User.Name, &uCreated, &uUpdated)
	if err != nil {
		return Session{}, d.wrap(err)
	}
	s.CreatedAt, s.ExpiresAt, s.RevokedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked)
	s.User.CreatedAt, s.User.UpdatedAt = fromMicros(uCreated), fromMicros(uUpdated)
	return s, nil
}

// RevokeSession marks a session revoked, keeping the first revocation time.
func (d *DB) RevokeSession(ctx context.Context, tokenHash string, at time.Time) error {
	res, err := d.db.ExecContext(ctx, d.q(`UPDATE sessions SET revoked_at = ? WHERE token_hash = ? AND revoked_at = 0`),
		micros(at), tokenHash)
	if err != nil {
		return d.wrap(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := d.GetSession(ctx, tokenHash); err != nil {
			return err
		}
	}
	return nil
}

// DeleteSessionsBefore removes sessions that expired before t.
func (d *DB) DeleteSessionsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := d.db.ExecContext(ctx, d.q(`DELETE FROM sessions WHERE expires_at < ?`), micros(t))
	if err != nil {
		return 0, d.wrap(err)
	}
	return res.RowsAffected()
}
