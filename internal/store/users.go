package store

import (
	"context"
	"database/sql"
	"time"
)

const userColumns = "id, email, name, password_hash, created_at, updated_at"

func insertUser(ctx context.Context, ex execer, d *DB, u User) error {
	_, err := ex.ExecContext(ctx, d.q("INSERT INTO users ("+userColumns+") VALUES (?, ?, ?, ?, ?, ?)"),
		u.ID, u.Email, u.Name, u.PasswordHash, micros(u.CreatedAt), micros(u.UpdatedAt))
	return d.wrap(err)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// CreateFirstUser inserts newUser() when the users table is empty.
func (d *DB) CreateFirstUser(ctx context.Context, newUser func() User) (bool, error) {
	created := false
	err := d.locked(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM users").Scan(&n); err != nil {
			return d.wrap(err)
		}
		if n > 0 {
			return nil
		}
		if err := insertUser(ctx, tx, d, newUser()); err != nil {
			return err
		}
		created = true
		return nil
	})
	return created, err
}

// CreateUser inserts u.
func (d *DB) CreateUser(ctx context.Context, u User) error {
	return insertUser(ctx, d.db, d, u)
}

// UserByEmail finds a user by email.
func (d *DB) UserByEmail(ctx context.Context, email string) (User, error) {
	u, err := scanUser(d.db.QueryRowContext(ctx, d.q("SELECT "+userColumns+" FROM users WHERE email = ?"), email))
	return u, d.wrap(err)
}

func scanUser(s scanner) (User, error) {
	var u User
	var created, updated int64
	if err := s.Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &created, &updated); err != nil {
		return User{}, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

// ListUsers reads one page of users in email order, after the email
// after.
func (d *DB) ListUsers(ctx context.Context, after string, limit int) ([]User, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := d.db.QueryContext(ctx, d.q("SELECT "+userColumns+" FROM users WHERE email > ? ORDER BY email LIMIT ?"), after, limit)
	if err != nil {
		return nil, d.wrap(err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, d.wrap(err)
		}
		out = append(out, u)
	}
	return out, d.wrap(rows.Err())
}

// RevokeUserSessions revokes every live session of a user but except.
func (d *DB) RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) error {
	_, err := d.db.ExecContext(ctx, d.q("UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND token_hash <> ? AND revoked_at = 0"),
		micros(at), userID, except)
	return d.wrap(err)
}

func (t *resourceTx) GetUser(email string) (User, error) {
	u, err := scanUser(t.tx.QueryRowContext(t.ctx, t.d.q("SELECT "+userColumns+" FROM users WHERE email = ?"), email))
	return u, t.d.wrap(err)
}

func (t *resourceTx) CreateUser(u User) error { return insertUser(t.ctx, t.tx, t.d, u) }

func (t *resourceTx) DeleteUser(id string) error {
	// Sessions go with the user (ON DELETE CASCADE; explicit for engines
	// that do not enforce it).
	if _, err := t.tx.ExecContext(t.ctx, t.d.q("DELETE FROM sessions WHERE user_id = ?"), id); err != nil {
		return t.d.wrap(err)
	}
	return t.d.one(t.tx.ExecContext(t.ctx, t.d.q("DELETE FROM users WHERE id = ?"), id))
}

func (t *resourceTx) UpdateUser(u User) error {
	return t.d.one(t.tx.ExecContext(t.ctx, t.d.q("UPDATE users SET name = ?, password_hash = ?, updated_at = ? WHERE id = ?"),
		u.Name, u.PasswordHash, micros(u.UpdatedAt), u.ID))
}
