package store

import (
	"context"
	"database/sql"
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
	var u User
	var created, updated int64
	err := d.db.QueryRowContext(ctx, d.q("SELECT "+userColumns+" FROM users WHERE email = ?"), email).
		Scan(&u.ID, &u.Email, &u.Name, &u.PasswordHash, &created, &updated)
	if err != nil {
		return User{}, d.wrap(err)
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}
