package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// InstanceFilter selects instances in (server, id) order; zero fields do
// not filter.
type InstanceFilter struct {
	Server string
	Node   string
	// Runtime keeps only instances of that runtime.
	Runtime string
	// Active drops stopped instances.
	Active bool
	// AfterServer and AfterID continue a listing.
	AfterServer, AfterID string
	// Limit caps the page; 0 means 500.
	Limit int
}

// LogQuery selects log lines of one instance.
type LogQuery struct {
	InstanceID string
	// After returns lines with a larger seq (a cursor).
	After int64
	// Since drops lines written before it.
	Since time.Time
	// Tail, without After, returns the last Tail lines.
	Tail int
	// Limit caps the lines returned; 0 means 1000 (or Tail).
	Limit int
}

const instanceColumns = "id, server, runtime, runtime_id, node, state, message, restarts, exit_code, next_start_at, " +
	"created_at, started_at, ready_at, stopped_at, updated_at, health, events"

// updateInstance writes every column but id, in instanceColumns' order.
var updateInstance = func() string {
	cols := strings.Split(instanceColumns, ", ")[1:]
	for i, c := range cols {
		cols[i] = c + " = ?"
	}
	return "UPDATE instances SET " + strings.Join(cols, ", ") + " WHERE id = ?"
}()

func scanInstance(s scanner) (v1.Instance, error) {
	var in v1.Instance
	var exit sql.NullInt64
	var next, created, started, ready, stopped, updated int64
	var health, events string
	if err := s.Scan(&in.ID, &in.Server, &in.Runtime, &in.RuntimeID, &in.Node, &in.State, &in.Message, &in.Restarts, &exit,
		&next, &created, &started, &ready, &stopped, &updated, &health, &events); err != nil {
		return v1.Instance{}, err
	}
	if exit.Valid {
		code := int(exit.Int64)
		in.ExitCode = &code
	}
	in.NextStartAt, in.CreatedAt, in.StartedAt = fromMicros(next), fromMicros(created), fromMicros(started)
	in.ReadyAt, in.StoppedAt, in.UpdatedAt = fromMicros(ready), fromMicros(stopped), fromMicros(updated)
	if err := json.Unmarshal([]byte(health), &in.Health); err != nil {
		return v1.Instance{}, fmt.Errorf("health of instance %s: %w", in.ID, err)
	}
	if err := json.Unmarshal([]byte(events), &in.Events); err != nil {
		return v1.Instance{}, fmt.Errorf("events of instance %s: %w", in.ID, err)
	}
	return in, nil
}

func instanceArgs(in v1.Instance) ([]any, error) {
	health, err := json.Marshal(in.Health)
	if err != nil {
		return nil, err
	}
	events := []byte("[]")
	if len(in.Events) > 0 {
		if events, err = json.Marshal(in.Events); err != nil {
			return nil, err
		}
	}
	var exit any
	if in.ExitCode != nil {
		exit = int64(*in.ExitCode)
	}
	return []any{in.ID, in.Server, in.Runtime, in.RuntimeID, in.Node, in.State, in.Message, in.Restarts, exit,
		micros(in.NextStartAt), micros(in.CreatedAt), micros(in.StartedAt), micros(in.ReadyAt), micros(in.StoppedAt),
		micros(in.UpdatedAt), string(health), string(events)}, nil
}

// CreateInstance inserts a new instance; a taken id is ErrConflict.
func (d *DB) CreateInstance(ctx context.Context, in v1.Instance) error {
	args, err := instanceArgs(in)
	if err != nil {
		return err
	}
	_, err = d.db.ExecContext(ctx, d.q("INSERT INTO instances ("+instanceColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"), args...)
	return d.wrap(err)
}

// GetInstance reads one instance.
func (d *DB) GetInstance(ctx context.Context, id string) (v1.Instance, error) {
	in, err := scanInstance(d.db.QueryRowContext(ctx, d.q("SELECT "+instanceColumns+" FROM instances WHERE id = ?"), id))
	return in, d.wrap(err)
}

// ListInstances reads one page of instances.
func (d *DB) ListInstances(ctx context.Context, f InstanceFilter) ([]v1.Instance, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) { where = append(where, cond); args = append(args, arg) }
	if f.Server != "" {
		add("server = ?", f.Server)
	}
	if f.Node != "" {
		add("node = ?", f.Node)
	}
	if f.Runtime != "" {
		add("runtime = ?", f.Runtime)
	}
	if f.Active {
		add("state <> ?", v1.InstanceStopped)
	}
	if f.AfterServer != "" || f.AfterID != "" {
		where = append(where, "(server > ? OR (server = ? AND id > ?))")
		args = append(args, f.AfterServer, f.AfterServer, f.AfterID)
	}
	q := "SELECT " + instanceColumns + " FROM instances"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 500
	}
	q += fmt.Sprintf(" ORDER BY server, id LIMIT %d", limit)
	rows, err := d.db.QueryContext(ctx, d.q(q), args...)
	if err != nil {
		return nil, d.wrap(err)
	}
	defer rows.Close()
	var out []v1.Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, d.wrap(err)
		}
		out = append(out, in)
	}
	return out, d.wrap(rows.Err())
}

// UpdateInstance reads the instance, lets fn change it and writes it back,
// in one transaction; an error from fn writes nothing. The updated
// instance is returned.
func (d *DB) UpdateInstance(ctx context.Context, id string, fn func(*v1.Instance) error) (v1.Instance, error) {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return v1.Instance{}, d.wrap(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	sel := "SELECT " + instanceColumns + " FROM instances WHERE id = ?"
	if d.dialect == "postgres" {
		sel += " FOR UPDATE"
	}
	in, err := scanInstance(tx.QueryRowContext(ctx, d.q(sel), id))
	if err != nil {
		return v1.Instance{}, d.wrap(err)
	}
	if err := fn(&in); err != nil {
		return v1.Instance{}, err
	}
	in.ID = id
	args, err := instanceArgs(in)
	if err != nil {
		return v1.Instance{}, err
	}
	if _, err := tx.ExecContext(ctx, d.q(updateInstance),
		append(args[1:], id)...); err != nil {
		return v1.Instance{}, d.wrap(err)
	}
	return in, d.wrap(tx.Commit())
}

// DeleteInstance removes an instance and its log.
func (d *DB) DeleteInstance(ctx context.Context, id string) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return d.wrap(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	if _, err := tx.ExecContext(ctx, d.q("DELETE FROM instance_logs WHERE instance_id = ?"), id); err != nil {
		return d.wrap(err)
	}
	res, err := tx.ExecContext(ctx, d.q("DELETE FROM instances WHERE id = ?"), id)
	if err := d.one(res, err); err != nil {
		return err
	}
	return d.wrap(tx.Commit())
}

// AppendLogs stores log lines of one instance; their seq numbers are the
// caller's (the node that runs the instance numbers them).
func (d *DB) AppendLogs(ctx context.Context, instanceID string, lines []v1.LogLine) error {
	if len(lines) == 0 {
		return nil
	}
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return d.wrap(err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit this is a no-op
	// Multi-row inserts of up to 200 lines: one statement per batch is
	// what makes a log flood cheap.
	for chunk := range slices.Chunk(lines, 200) {
		var b strings.Builder
		b.WriteString("INSERT INTO instance_logs (instance_id, seq, ts, stream, line) VALUES ")
		args := make([]any, 0, 5*len(chunk))
		for i, l := range chunk {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?, ?, ?, ?)")
			args = append(args, instanceID, l.Seq, micros(l.Time), l.Stream, l.Line)
		}
		if _, err := tx.ExecContext(ctx, d.q(b.String()), args...); err != nil {
			return d.wrap(err)
		}
	}
	return d.wrap(tx.Commit())
}

// TrimLogs deletes an instance's lines with seq up to and including upTo.
func (d *DB) TrimLogs(ctx context.Context, instanceID string, upTo int64) error {
	_, err := d.db.ExecContext(ctx, d.q("DELETE FROM instance_logs WHERE instance_id = ? AND seq <= ?"), instanceID, upTo)
	return d.wrap(err)
}

// LastLogSeq is the seq of an instance's newest stored line, 0 for none.
func (d *DB) LastLogSeq(ctx context.Context, instanceID string) (int64, error) {
	var seq sql.NullInt64
	err := d.db.QueryRowContext(ctx, d.q("SELECT MAX(seq) FROM instance_logs WHERE instance_id = ?"), instanceID).Scan(&seq)
	return seq.Int64, d.wrap(err)
}

// ReadLogs reads log lines in seq order.
func (d *DB) ReadLogs(ctx context.Context, q LogQuery) ([]v1.LogLine, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 1000
		if q.Tail > 0 && q.After == 0 {
			limit = q.Tail // a tail asks for that many, not one default page
		}
	}
	where := "instance_id = ? AND seq > ?"
	args := []any{q.InstanceID, q.After}
	if !q.Since.IsZero() {
		where += " AND ts >= ?"
		args = append(args, micros(q.Since))
	}
	order := "ASC"
	if q.Tail > 0 && q.After == 0 {
		order, limit = "DESC", min(q.Tail, limit)
	}
	if order == "ASC" {
		// Seq numbers are dense but for rare gaps (a batch the store
		// refused), so the next page lies in (After, After+limit]. Saying
		// so keeps PostgreSQL on the primary key's order even before it
		// has statistics on a fast-growing log (without them it sorts
		// every line after the cursor: 30 ms a page instead of 0.5 ms).
		// Only an empty answer (a gap, or the end) asks again unbounded.
		out, err := d.readLogs(ctx, where+" AND seq <= ?", append(args, q.After+int64(limit)), order, limit)
		if err != nil || len(out) > 0 {
			return out, err
		}
	}
	return d.readLogs(ctx, where, args, order, limit)
}

func (d *DB) readLogs(ctx context.Context, where string, args []any, order string, limit int) ([]v1.LogLine, error) {
	rows, err := d.db.QueryContext(ctx, d.q(fmt.Sprintf("SELECT seq, ts, stream, line FROM instance_logs WHERE %s ORDER BY seq %s LIMIT %d",
		where, order, limit)), args...)
	if err != nil {
		return nil, d.wrap(err)
	}
	defer rows.Close()
	var out []v1.LogLine
	for rows.Next() {
		var l v1.LogLine
		var ts int64
		if err := rows.Scan(&l.Seq, &ts, &l.Stream, &l.Line); err != nil {
			return nil, d.wrap(err)
		}
		l.Time = fromMicros(ts)
		out = append(out, l)
	}
	if order == "DESC" {
		slices.Reverse(out)
	}
	return out, d.wrap(rows.Err())
}

// TryLease takes or renews the lease name for holder until now+ttl, and
// reports whether holder has it: it is free, expired, or already holder's.
func (d *DB) TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error) {
	res, err := d.db.ExecContext(ctx, d.q(`INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE leases.holder = excluded.holder OR leases.expires_at < ?`),
		name, holder, micros(now.Add(ttl)), micros(now))
	if err != nil {
		return false, d.wrap(err)
	}
	n, err := res.RowsAffected()
	return n == 1, d.wrap(err)
}

// ReleaseLease gives up holder's lease name; another holder's is kept.
func (d *DB) ReleaseLease(ctx context.Context, name, holder string) error {
	_, err := d.db.ExecContext(ctx, d.q("DELETE FROM leases WHERE name = ? AND holder = ?"), name, holder)
	return d.wrap(err)
}
