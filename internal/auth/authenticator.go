package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/mcpctl/mcpctl/internal/store"
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

// Principal is who a request acts for.
type Principal struct {
	UserID    string
	Email     string
	Name      string
	CreatedAt time.Time
	// TokenHash identifies the session presented.
	TokenHash string
	// ExpiresAt is when the session stops working.
	ExpiresAt time.Time
}

// Subject is the principal as RBAC subjects and audit events name it.
func (p *Principal) Subject() string { return "User:" + p.Email }

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
	return &Authenticator{cfg: cfg, store: s, cache: map[string]cacheEntry{}}
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
	if !now.Before(p.ExpiresAt) {
		return nil, ErrTokenExpired
	}
	return p, nil
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
	p, ok := a.lookupCache(HashToken(raw), now)
	if !ok || p == nil || !now.Before(p.ExpiresAt) {
		return nil, false
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
	a.storeCache(p.TokenHash, nil, a.cfg.Now(), true)
	return nil
}
