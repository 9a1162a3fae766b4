package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Token is a stored McpToken. The raw token is never stored: Hash is its
// hex SHA-256.
type Token struct {
	Hash        string
	Project     string
	Name        string
	Prefix      string
	Description string
	// Bindings are the rights fixed at creation.
	Bindings  []v1.RoleBinding
	CreatedBy string
	CreatedAt time.Time
	// ExpiresAt is zero for a token that never expires.
	ExpiresAt  time.Time
	RevokedAt  time.Time
	LastUsedAt time.Time
}

// TokenFilter selects tokens in (project, name) order.
type TokenFilter struct {
	// Project, when set, keeps only that project's tokens.
	Project string
	// After continues a listing after this (project, name).
	After ResourceKey
	// Limit caps the page; 0 means 100.
	Limit int
}

const tokenColumns = "sha, project, name, prefix, description, bindings, created_by, created_at, expires_at, revoked_at, last_used_at"

func scanToken(s scanner) (Token, error) {
	var t Token
	var bindings string
	var created, expires, revoked, used int64
	if err := s.Scan(&t.Hash, &t.Project, &t.Name, &t.Prefix, &t.Description, &bindings, &t.CreatedBy,
		&created, &expires, &revoked, &used); err != nil {
		return Token{}, err
	}
	if err := json.Unmarshal([]byte(bindings), &t.Bindings); err != nil {
		return Token{}, fmt.Errorf("bindings of token %s/%s: %w", t.Project, t.Name, err)
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt, t.LastUsedAt = fromMicros(created), fromMicros(expires), fromMicros(revoked), fromMicros(used)
	return t, nil
}

// TokenByHash finds a token by the SHA-256 of its raw form.
func (d *DB) TokenByHash(ctx context.Context, hash string) (Token, error) {
	t, err := scanToken(d.db.QueryRowContext(ctx, d.q("SELECT "+tokenColumns+" FROM mcp_tokens WHERE sha = ?"), hash))
	return t, d.wrap(err)
}

// GetToken finds a token by project and name.
func (d *DB) GetToken(ctx context.Context, project, name string) (Token, error) {
	return getToken(ctx, d.db, d, project, name)
}

func getToken(ctx context.Context, q querier, d *DB, project, name string) (Token, error) {
	t, err := scanToken(q.QueryRowContext(ctx, d.q("SELECT "+tokenColumns+" FROM mcp_tokens WHERE project = ? AND name = ?"), project, name))
	return t, d.wrap(err)
}

// ListTokens reads one page of tokens.
func (d *DB) ListTokens(ctx context.Context, f TokenFilter) ([]Token, error) {
	return listTokens(ctx, d.db, d, f)
}

func listTokens(ctx context.Context, q querier, d *DB, f TokenFilter) ([]Token, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	var conds []string
	var args []any
	if f.Project != "" {
		conds = append(conds, "project = ?")
		args = append(args, f.Project)
	}
	if f.After != (ResourceKey{}) {
		conds = append(conds, "(project > ? OR (project = ? AND name > ?))")
		args = append(args, f.After.Project, f.After.Project, f.After.Name)
	}
	where := ""
	if len(conds) > 0 {
		where = " WHERE " + strings.Join(conds, " AND ")
	}
	args = append(args, f.Limit)
	rows, err := q.QueryContext(ctx, d.q("SELECT "+tokenColumns+" FROM mcp_tokens"+where+" ORDER BY project, name LIMIT ?"), args...)
	if err != nil {
		return nil, d.wrap(err)
	}
	defer rows.Close()
	var out []Token
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, d.wrap(err)
		}
		out = append(out, t)
	}
	return out, d.wrap(rows.Err())
}

// TouchTokens records last-use times in one transaction, keeping a later
// time already stored (another replica may have written it).
func (d *DB) TouchTokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	hashes := make([]string, 0, len(used))
	for h := range used {
		hashes = append(hashes, h)
	}
	sort.Strings(hashes) // one lock order for every writer
	tx, err := d.auditDB.BeginTx(ctx, nil)
	if err != nil {
		return d.wrap(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, d.q("UPDATE mcp_tokens SET last_used_at = ? WHERE sha = ? AND last_used_at < ?"),
			micros(used[h]), h, micros(used[h])); err != nil {
			return d.wrap(err)
		}
	}
	return d.wrap(tx.Commit())
}

func (t *resourceTx) GetToken(project, name string) (Token, error) {
	return getToken(t.ctx, t.tx, t.d, project, name)
}

func (t *resourceTx) Tokens(project string) ([]Token, error) {
	var out []Token
	f := TokenFilter{Project: project, Limit: 500}
	for {
		page, err := listTokens(t.ctx, t.tx, t.d, f)
		if err != nil {
			return nil, err
		}
		out = append(out, page...)
		if len(page) < f.Limit {
			return out, nil
		}
		f.After = ResourceKey{Project: page[len(page)-1].Project, Name: page[len(page)-1].Name}
	}
}

func (t *resourceTx) PutToken(tok Token) error {
	if _, err := t.tx.ExecContext(t.ctx, t.d.q("DELETE FROM mcp_tokens WHERE project = ? AND name = ?"), tok.Project, tok.Name); err != nil {
		return t.d.wrap(err)
	}
	if tok.Bindings == nil {
		tok.Bindings = []v1.RoleBinding{}
	}
	b, err := json.Marshal(tok.Bindings)
	if err != nil {
		return err
	}
	_, err = t.tx.ExecContext(t.ctx, t.d.q("INSERT INTO mcp_tokens ("+tokenColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
		tok.Hash, tok.Project, tok.Name, tok.Prefix, tok.Description, string(b), tok.CreatedBy,
		micros(tok.CreatedAt), micros(tok.ExpiresAt), micros(tok.RevokedAt), micros(tok.LastUsedAt))
	return t.d.wrap(err)
}

func (t *resourceTx) DeleteToken(project, name string) error {
	return t.d.one(t.tx.ExecContext(t.ctx, t.d.q("DELETE FROM mcp_tokens WHERE project = ? AND name = ?"), project, name))
}

func (t *resourceTx) RevokeToken(project, name string, at time.Time) error {
	res, err := t.tx.ExecContext(t.ctx, t.d.q("UPDATE mcp_tokens SET revoked_at = ? WHERE project = ? AND name = ? AND revoked_at = 0"),
		micros(at), project, name)
	if err != nil {
		return t.d.wrap(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return t.d.wrap(err)
	} else if n == 0 {
		_, err := t.GetToken(project, name)
		return err // nil: revoked already
	}
	return nil
}

func (t *resourceTx) RevokeTokensBy(email string, at time.Time) ([]Token, error) {
	rows, err := t.tx.QueryContext(t.ctx, t.d.q("SELECT "+tokenColumns+" FROM mcp_tokens WHERE created_by = ? AND revoked_at = 0"), email)
	if err != nil {
		return nil, t.d.wrap(err)
	}
	var out []Token
	for rows.Next() {
		tok, err := scanToken(rows)
		if err != nil {
			rows.Close()
			return nil, t.d.wrap(err)
		}
		out = append(out, tok)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, t.d.wrap(err)
	}
	_, err = t.tx.ExecContext(t.ctx, t.d.q("UPDATE mcp_tokens SET revoked_at = ? WHERE created_by = ? AND revoked_at = 0"), micros(at), email)
	return out, t.d.wrap(err)
}
