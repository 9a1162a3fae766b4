package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// Errors from Authenticate and Login, compared with errors.Is. The API maps
// them to 401 with the codes TOKEN_REQUIRED, TOKEN_EXPIRED, TOKEN_INVALID
// and INVALID_CREDENTIALS.
var (
	ErrTokenRequired      = errors.New("a bearer token is required: log in with `mcpctl login` and send it as Authorization: Bearer <token>")
	ErrTokenExpired       = errors.New("the token has expired: log in again")
	ErrTokenInvalid       = errors.New("the token is not valid: it is unknown, malformed or was revoked; log in again")
	ErrInvalidCredentials = errors.New("email or password is wrong")
)

// McpToken refusals: the same codes as sessions (errors.Is matches
// ErrTokenInvalid or ErrTokenExpired), with the way out for a token.
var (
	errMcpTokenInvalid = &tokenError{ErrTokenInvalid, "the McpToken is not valid: it is unknown, malformed, was revoked or deleted; create a new one with `mcpctl create mcptoken NAME -p PROJECT`"}
	errMcpTokenExpired = &tokenError{ErrTokenExpired, "the McpToken has expired; create a new one with `mcpctl create mcptoken NAME -p PROJECT`"}
)

type tokenError struct {
	base error
	msg  string
}

func (e *tokenError) Error() string { return e.msg }
func (e *tokenError) Unwrap() error { return e.base }

// Principal is who a request acts for.
type Principal struct {
	UserID    string
	Email     string
	Name      string
	CreatedAt time.Time
	// TokenHash identifies the session presented.
	TokenHash string
	// ExpiresAt is when the session or token stops working; zero for a
	// token that never expires.
	ExpiresAt time.Time
	// Token is set when the bearer is an McpToken; the user fields are
	// then empty.
	Token *Token
}

// Token is what an McpToken principal carries.
type Token struct {
	Name, Project string
	// Bindings are the rights fixed at the token's creation.
	Bindings  []v1.RoleBinding
	CreatedBy string
}

// Subject is the principal as RBAC subjects and audit events name it.
func (p *Principal) Subject() string {
	if p.Token != nil {
		return v1.SubjectMcpToken + ":" + p.TokenHash
	}
	return v1.SubjectUser + ":" + p.Email
}

// expired reports whether the principal's bearer no longer works at now.
func (p *Principal) expired(now time.Time) bool {
	return !p.ExpiresAt.IsZero() && !now.Before(p.ExpiresAt)
}

// Config tunes an Authenticator.
type Config struct {
	// SessionTTL is the lifetime of a login session.
	SessionTTL time.Duration
	// CacheTTL is how long a look-up (hit or miss) is trusted without asking
	// the store; a logout on another replica takes effect within it. 0
	// disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the cached entries; 0 means 100000.
	CacheSize int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Authenticator checks bearer tokens and logs users in and out.
type Authenticator struct {
	cfg   Config
	store store.Store

	mu    sync.RWMutex
	cache map[string]cacheEntry

	// used collects McpToken last-use times until FlushUsage writes them.
	usedMu sync.Mutex
	used   map[string]time.Time
}

type cacheEntry struct {
	principal *Principal // nil: the token is unknown or revoked
	until     time.Time
	// tombstone marks a logout made on this replica.
	tombstone bool
}

// New returns an Authenticator over s.
func New(cfg Config, s store.Store) *Authenticator {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.CacheSize == 0 {
		cfg.CacheSize = 100000
	}
	// Build the dummy hash now, so that the first login with an unknown
	// email is not slower than the others.
	dummy()
	return &Authenticator{cfg: cfg, store: s, cache: map[string]cacheEntry{}, used: map[string]time.Time{}}
}

// BearerToken extracts the token of an Authorization header value; ok is
// false when the header is absent or not a bearer.
func BearerToken(header string) (string, bool) {
	scheme, tok, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// Authenticate resolves a raw bearer token to its principal. Store errors
// other than not-found are returned as they are (the API answers 503).
func (a *Authenticator) Authenticate(ctx context.Context, raw string) (*Principal, error) {
	if raw == "" {
		return nil, ErrTokenRequired
	}
	if len(raw) > 512 {
		return nil, ErrTokenInvalid
	}
	hash := HashToken(raw)
	now := a.cfg.Now()
	if strings.HasPrefix(raw, v1.McpTokenPrefix) {
		return a.authenticateToken(ctx, hash, now)
	}
	p, cached := a.lookupCache(hash, now)
	if !cached {
		sess, err := a.store.GetSession(ctx, hash)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p = nil
		case err != nil:
			return nil, fmt.Errorf("look up session: %w", err)
		case !sess.RevokedAt.IsZero():
			p = nil
		default:
			p = &Principal{UserID: sess.User.ID, Email: sess.User.Email, Name: sess.User.Name,
				CreatedAt: sess.User.CreatedAt, TokenHash: hash, ExpiresAt: sess.ExpiresAt}
		}
		a.storeCache(hash, p, now, false)
	}
	if p == nil {
		return nil, ErrTokenInvalid
	}
	if p.expired(now) {
		return nil, ErrTokenExpired
	}
	return p, nil
}

// authenticateToken resolves an McpToken by hash. A revoked token is
// unknown; its use is noted for the batched lastUsedAt write.
func (a *Authenticator) authenticateToken(ctx context.Context, hash string, now time.Time) (*Principal, error) {
	p, cached := a.lookupCache(hash, now)
	if !cached {
		t, err := a.store.TokenByHash(ctx, hash)
		switch {
		case errors.Is(err, store.ErrNotFound):
			p = nil
		case err != nil:
			return nil, fmt.Errorf("look up McpToken: %w", err)
		case !t.RevokedAt.IsZero():
			p = nil
		default:
			p = &Principal{Name: t.Name, CreatedAt: t.CreatedAt, TokenHash: hash, ExpiresAt: t.ExpiresAt,
				Token: &Token{Name: t.Name, Project: t.Project, Bindings: t.Bindings, CreatedBy: t.CreatedBy}}
		}
		a.storeCache(hash, p, now, false)
	}
	if p == nil {
		return nil, errMcpTokenInvalid
	}
	if p.expired(now) {
		return nil, errMcpTokenExpired
	}
	a.noteUse(hash, now)
	return p, nil
}

func (a *Authenticator) noteUse(hash string, now time.Time) {
	a.usedMu.Lock()
	a.used[hash] = now
	a.usedMu.Unlock()
}

// Forget drops a token (session or McpToken) from this replica's cache at
// once, as a revocation must: other replicas drop it within CacheTTL.
func (a *Authenticator) Forget(hash string) {
	a.storeCache(hash, nil, a.cfg.Now(), true)
}

// ForgetUser drops every cached session of the user from this replica's
// cache but except (the session of the request that asked), so a
// password change or a deletion ends them here at once, and on other
// replicas within CacheTTL.
func (a *Authenticator) ForgetUser(userID, except string) {
	if a.cfg.CacheTTL <= 0 {
		return
	}
	now := a.cfg.Now()
	a.mu.Lock()
	defer a.mu.Unlock()
	for hash, e := range a.cache {
		if e.principal != nil && e.principal.Token == nil && e.principal.UserID == userID && hash != except {
			a.cache[hash] = cacheEntry{until: now.Add(a.cfg.CacheTTL), tombstone: true}
		}
	}
}

// FlushUsage writes the McpToken last-use times noted since the last
// flush, in one store batch, so a request never waits on that write.
func (a *Authenticator) FlushUsage(ctx context.Context) error {
	a.usedMu.Lock()
	used := a.used
	a.used = map[string]time.Time{}
	a.usedMu.Unlock()
	if len(used) == 0 {
		return nil
	}
	if err := a.store.TouchTokens(ctx, used); err != nil {
		a.usedMu.Lock()
		for h, t := range used { // keep them for the next try, unless newer
			if a.used[h].Before(t) {
				a.used[h] = t
			}
		}
		a.usedMu.Unlock()
		return fmt.Errorf("record McpToken use: %w", err)
	}
	return nil
}

func (a *Authenticator) lookupCache(hash string, now time.Time) (*Principal, bool) {
	if a.cfg.CacheTTL <= 0 {
		return nil, false
	}
	a.mu.RLock()
	e, ok := a.cache[hash]
	a.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return nil, false
	}
	return e.principal, true
}

// Cached returns the principal of raw when the cache holds a live, valid
// entry for it, without asking the store. The rate limiter uses it to
// key by principal without spending a store query on a request it may
// refuse.
func (a *Authenticator) Cached(raw string) (*Principal, bool) {
	if raw == "" || len(raw) > 512 {
		return nil, false
	}
	now := a.cfg.Now()
	hash := HashToken(raw)
	p, ok := a.lookupCache(hash, now)
	if !ok || p == nil || p.expired(now) {
		return nil, false
	}
	if p.Token != nil {
		a.noteUse(hash, now)
	}
	return p, true
}

// storeCache records a look-up result. A tombstone (written by Logout) is
// never replaced by a positive result: a look-up that read the session
// just before the logout must not bring it back to life on this replica.
func (a *Authenticator) storeCache(hash string, p *Principal, now time.Time, tombstone bool) {
	if a.cfg.CacheTTL <= 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if old, ok := a.cache[hash]; ok && old.tombstone && !tombstone && now.Before(old.until) {
		return
	}
	if _, ok := a.cache[hash]; !ok && len(a.cache) >= a.cfg.CacheSize {
		a.evict(now)
	}
	a.cache[hash] = cacheEntry{principal: p, until: now.Add(a.cfg.CacheTTL), tombstone: tombstone}
}

// evict makes room: expired entries go first, then misses (a flood of
// garbage tokens consists of misses), then arbitrary entries down to 90 %
// of the bound. Valid sessions survive a flood of garbage, and memory stays
// bounded whatever arrives. Called with a.mu held.
func (a *Authenticator) evict(now time.Time) {
	for k, e := range a.cache {
		if !now.Before(e.until) {
			delete(a.cache, k)
		}
	}
	target := a.cfg.CacheSize * 9 / 10
	for k, e := range a.cache {
		if len(a.cache) <= target {
			return
		}
		if e.principal == nil && !e.tombstone {
			delete(a.cache, k)
		}
	}
	for k := range a.cache { // map order is random: a random eviction
		if len(a.cache) <= target {
			return
		}
		delete(a.cache, k)
	}
}

// Login checks email and password and opens a session. An unknown email
// and a wrong password both return ErrInvalidCredentials after the same
// amount of hashing work.
func (a *Authenticator) Login(ctx context.Context, email, password string) (raw string, p *Principal, err error) {
	u, err := a.store.UserByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		BurnPasswordCheck(password)
		return "", nil, ErrInvalidCredentials
	}
	if err != nil {
		return "", nil, fmt.Errorf("look up user: %w", err)
	}
	ok, err := VerifyPassword(u.PasswordHash, password)
	if err != nil {
		return "", nil, fmt.Errorf("verify password of %s: %w", u.Email, err)
	}
	if !ok {
		return "", nil, ErrInvalidCredentials
	}
	raw, hash := NewToken(SessionTokenPrefix)
	now := a.cfg.Now().UTC()
	sess := store.Session{TokenHash: hash, UserID: u.ID, CreatedAt: now, ExpiresAt: now.Add(a.cfg.SessionTTL)}
	if err := a.store.CreateSession(ctx, sess); err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	p = &Principal{UserID: u.ID, Email: u.Email, Name: u.Name, CreatedAt: u.CreatedAt, TokenHash: hash, ExpiresAt: sess.ExpiresAt}
	a.storeCache(hash, p, a.cfg.Now(), false)
	return raw, p, nil
}

// Logout revokes the session of p. It takes effect at once on this
// replica and within CacheTTL on the others.
func (a *Authenticator) Logout(ctx context.Context, p *Principal) error {
	if err := a.store.RevokeSession(ctx, p.TokenHash, a.cfg.Now().UTC()); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	a.Forget(p.TokenHash)
	return nil
}
