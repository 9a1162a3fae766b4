package store

import (
	"context"
	"errors"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Sentinel errors, compared with errors.Is.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrConflict: a unique key is taken or a version is stale.
	ErrConflict = errors.New("conflict")
	// ErrUnavailable: the database cannot be reached right now.
	ErrUnavailable = errors.New("store unavailable")
)

// User is a person who can log in. PasswordHash is a PHC-format argon2id
// string and never leaves mcpd.
type User struct {
	ID           string
	Email        string
	Name         string
	PasswordHash string
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// Session is a login session. Only the SHA-256 of its token is stored.
type Session struct {
	TokenHash string
	UserID    string
	CreatedAt time.Time
	ExpiresAt time.Time
	// RevokedAt is zero while the session is live.
	RevokedAt time.Time
	// User is filled by GetSession.
	User User
}

// AuditFilter selects audit events; zero fields do not filter.
type AuditFilter struct {
	Principal string
	TokenName string
	// Project and Tool select MCP call events.
	Project, Tool string
	Action        string
	Status        int
	Since         time.Time
	Until         time.Time
	// BeforeID continues a listing: only events with a smaller id.
	BeforeID int64
	// Limit caps the page; 0 means 100.
	Limit int
}

// Store is everything mcpd keeps. All methods are safe for concurrent use.
type Store interface {
	// Ping checks that the database answers a query.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
	// Dialect names the engine: "sqlite" or "postgres".
	Dialect() string

	// CreateFirstUser inserts the user newUser returns only when there is
	// no user at all, under the store's lock, and reports whether it did.
	// newUser is called only then, so costly work (hashing) is skipped on
	// every later start. Replicas starting together bootstrap exactly one.
	CreateFirstUser(ctx context.Context, newUser func() User) (bool, error)
	// CreateUser inserts u; a taken email is ErrConflict.
	CreateUser(ctx context.Context, u User) error
	// UserByEmail finds a user by exact email.
	UserByEmail(ctx context.Context, email string) (User, error)
	// ListUsers reads one page of users in email order, after the email
	// after; limit 0 means 100.
	ListUsers(ctx context.Context, after string, limit int) ([]User, error)
	// RevokeUserSessions revokes every live session of the user except the
	// one whose hash is except.
	RevokeUserSessions(ctx context.Context, userID, except string, at time.Time) error

	// CreateSession stores a new login session.
	CreateSession(ctx context.Context, s Session) error
	// GetSession returns the session with its user, revoked or not.
	GetSession(ctx context.Context, tokenHash string) (Session, error)
	// RevokeSession marks a session revoked; revoking twice is not an error.
	RevokeSession(ctx context.Context, tokenHash string, at time.Time) error
	// DeleteSessionsBefore removes sessions that expired before t.
	DeleteSessionsBefore(ctx context.Context, t time.Time) (int64, error)

	// InsertAuditEvents appends events in one transaction; ids are assigned
	// by the store.
	InsertAuditEvents(ctx context.Context, events []v1.AuditEvent) error
	// ListAuditEvents returns matching events, newest first.
	ListAuditEvents(ctx context.Context, f AuditFilter) ([]v1.AuditEvent, error)
	// CountAuditEvents counts matching events (ignoring BeforeID and Limit).
	CountAuditEvents(ctx context.Context, f AuditFilter) (int64, error)

	// TokenByHash finds an McpToken by the SHA-256 of its raw form.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// GetToken finds an McpToken by project and name.
	GetToken(ctx context.Context, project, name string) (Token, error)
	// ListTokens reads one page of McpTokens in (project, name) order.
	ListTokens(ctx context.Context, f TokenFilter) ([]Token, error)
	// TouchTokens records last-use times (hash → time) in one batch.
	TouchTokens(ctx context.Context, used map[string]time.Time) error

	// GetResource reads one resource; ErrNotFound when absent.
	GetResource(ctx context.Context, key ResourceKey) (Resource, error)
	// ListResources reads one page of one kind in (project, name) order.
	ListResources(ctx context.Context, f ResourceFilter) ([]Resource, error)
	// ViewResources runs fn in a read-only transaction that sees one
	// consistent state, without the store-wide lock.
	ViewResources(ctx context.Context, fn func(tx ResourceReader) error) error
	// UpdateResources runs fn in one transaction under the store-wide
	// lock; an error from fn writes nothing.
	UpdateResources(ctx context.Context, fn func(tx ResourceTx) error) error

	InstanceStore

	// PutMCPSession creates or replaces the record of an MCP session.
	PutMCPSession(ctx context.Context, s MCPSession) error
	// GetMCPSession reads one; ErrNotFound when absent.
	GetMCPSession(ctx context.Context, id string) (MCPSession, error)
	// TouchMCPSession records a use of a session.
	TouchMCPSession(ctx context.Context, id string, at time.Time) error
	// DeleteMCPSessions removes the records of ids and every record last
	// seen before idleBefore (when set).
	DeleteMCPSessions(ctx context.Context, ids []string, idleBefore time.Time) error
}

// InstanceStore keeps instances, their logs, and the leases that decide
// which mcpd reconciles which server.
type InstanceStore interface {
	// CreateInstance inserts a new instance; a taken id is ErrConflict.
	CreateInstance(ctx context.Context, in v1.Instance) error
	// GetInstance reads one instance; ErrNotFound when absent.
	GetInstance(ctx context.Context, id string) (v1.Instance, error)
	// ListInstances reads one page of instances in (server, id) order.
	ListInstances(ctx context.Context, f InstanceFilter) ([]v1.Instance, error)
	// UpdateInstance changes one instance with fn in a transaction and
	// returns it; an error from fn writes nothing.
	UpdateInstance(ctx context.Context, id string, fn func(*v1.Instance) error) (v1.Instance, error)
	// DeleteInstance removes an instance and its log.
	DeleteInstance(ctx context.Context, id string) error

	// AppendLogs stores lines of one instance, numbered by the caller.
	AppendLogs(ctx context.Context, instanceID string, lines []v1.LogLine) error
	// TrimLogs deletes an instance's lines with seq ≤ upTo.
	TrimLogs(ctx context.Context, instanceID string, upTo int64) error
	// LastLogSeq is the newest stored seq of an instance, 0 for none.
	LastLogSeq(ctx context.Context, instanceID string) (int64, error)
	// ReadLogs reads lines in seq order.
	ReadLogs(ctx context.Context, q LogQuery) ([]v1.LogLine, error)

	// TryLease takes or renews a lease until now+ttl and reports whether
	// holder has it.
	TryLease(ctx context.Context, name, holder string, now time.Time, ttl time.Duration) (bool, error)
	// ReleaseLease gives up holder's lease.
	ReleaseLease(ctx context.Context, name, holder string) error
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}
