package v1

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// McpTokenPrefix starts every raw McpToken, so scanners and people can
// tell one apart from a login session token.
const McpTokenPrefix = "mcpctl_pat_"

// Token RBAC modes: what a new token holds before --bind adds to it.
const (
	TokenRbacEmpty = "empty" // nothing
	TokenRbacClone = "clone" // every right its creator holds now
)

// DefaultTokenTTL is the lifetime of a token created without a ttl.
const DefaultTokenTTL = "90d"

// McpTokenSpec is what a token is asked to be. Its rights are fixed when
// it is created: applying a changed spec to an active token changes
// nothing (delete or --force to re-create it).
type McpTokenSpec struct {
	Description string `json:"description,omitempty"`
	// TTL is a duration such as 30d or 12h, "never", or an RFC 3339 expiry
	// time. Empty means 90d.
	TTL string `json:"ttl,omitempty"`
	// Rbac is empty (the default) or clone.
	Rbac string `json:"rbac,omitempty"`
	// Bindings are added to what Rbac gives.
	Bindings []RoleBinding `json:"bindings,omitempty"`
}

// Default fills the ttl and rbac mode and normalizes bindings.
func (s *McpTokenSpec) Default() {
	if s.TTL == "" {
		s.TTL = DefaultTokenTTL
	}
	if s.Rbac == "" {
		s.Rbac = TokenRbacEmpty
	}
	for i := range s.Bindings {
		s.Bindings[i].Normalize()
	}
	s.Bindings = dedupe(s.Bindings)
}

// Validate checks the ttl form, the rbac mode and each binding.
func (s *McpTokenSpec) Validate(fe *FieldErrors) {
	if s.TTL != "" {
		// The form only: whether an expiry time is still ahead is checked
		// when a token is made (a listed expired token applies and is
		// skipped).
		if _, err := ParseTTL(s.TTL, time.Time{}); err != nil {
			fe.Add("spec.ttl", "%v", err)
		}
	}
	if s.Rbac != "" && s.Rbac != TokenRbacEmpty && s.Rbac != TokenRbacClone {
		fe.Add("spec.rbac", "must be empty (no rights but the bindings) or clone (the creator's rights), not %q", s.Rbac)
	}
	if len(s.Description) > 1024 {
		fe.Add("spec.description", "must be at most 1024 bytes")
	}
	for i := range s.Bindings {
		b := s.Bindings[i]
		b.Normalize() // "server" is read as servers, as in an RbacDefinition
		b.validate(fmt.Sprintf("spec.bindings[%d]", i), fe)
	}
}

// References is empty: the project is checked as the token's scope.
func (s *McpTokenSpec) References() []Ref { return nil }

// MaxTokenTTL bounds a duration ttl (ten years); "never" is explicit.
const MaxTokenTTL = 10 * 365 * 24 * time.Hour

// ParseTTL reads a ttl: "never" (zero time), a duration in days ("30d")
// or Go form ("12h", "90m"), or an RFC 3339 expiry time, which must be in
// the future and at most ten years ahead. It returns the expiry time.
// With a zero now only the form is checked.
func ParseTTL(s string, now time.Time) (time.Time, error) {
	const help = "use a duration such as 30d or 12h, never, or an RFC 3339 time such as 2027-01-01T00:00:00Z"
	if s == "never" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		switch {
		case now.IsZero():
		case !t.After(now):
			return time.Time{}, fmt.Errorf("ttl %q is in the past; %s", s, help)
		case t.Sub(now) > MaxTokenTTL:
			return time.Time{}, fmt.Errorf("ttl %q is more than ten years ahead; use never for a token that does not expire", s)
		}
		return t.UTC(), nil
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return time.Time{}, fmt.Errorf("ttl %q is not a number of days; %s", s, help)
		}
		d = time.Duration(n) * 24 * time.Hour
		if n > int(MaxTokenTTL/(24*time.Hour)) {
			d = MaxTokenTTL + 1
		}
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return time.Time{}, fmt.Errorf("ttl %q is not understood; %s", s, help)
		}
	}
	switch {
	case d < time.Minute:
		return time.Time{}, fmt.Errorf("ttl %q is shorter than a minute; %s", s, help)
	case d > MaxTokenTTL:
		return time.Time{}, fmt.Errorf("ttl %q is longer than ten years; use never for a token that does not expire", s)
	}
	return now.Add(d).UTC().Truncate(time.Second), nil
}

// Token states, as STATUS shows them.
const (
	TokenActive  = "active"
	TokenRevoked = "revoked"
	TokenExpired = "expired"
)

// McpTokenStatus is the server-owned state of a token.
type McpTokenStatus struct {
	// SHA256 is the hex SHA-256 of the raw token: the RBAC subject
	// McpToken:<sha256> and the audit field tokenSha.
	SHA256 string `json:"sha256"`
	// Prefix is the start of the raw token, for people to recognise it.
	Prefix    string `json:"prefix"`
	CreatedBy string `json:"createdBy"`
	// ExpiresAt is absent for a token that never expires.
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
	RevokedAt  *time.Time `json:"revokedAt,omitempty"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	// State is active, revoked or expired.
	State string `json:"state"`
}

// McpToken is a token as the API shows it: never the raw token.
type McpToken struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Metadata   ObjectMeta     `json:"metadata"`
	Spec       McpTokenSpec   `json:"spec"`
	Status     McpTokenStatus `json:"status"`
}

// McpTokenList is one page of tokens.
type McpTokenList struct {
	Items      []McpToken `json:"items"`
	NextCursor string     `json:"nextCursor,omitempty"`
}

// CreateMcpTokenRequest is the body of POST
// /api/v1/projects/{project}/mcptokens.
type CreateMcpTokenRequest struct {
	Name string       `json:"name"`
	Spec McpTokenSpec `json:"spec"`
	// Force replaces an active token of the same name (it stops working);
	// it needs delete on that token.
	Force bool `json:"force,omitempty"`
}

// CreatedMcpToken answers a create: Token is the raw token, shown once.
type CreatedMcpToken struct {
	Token    string   `json:"token"`
	McpToken McpToken `json:"mcpToken"`
}

// TokenIntrospection answers GET /api/v1/mcptokens/introspect for the
// token presented as bearer.
type TokenIntrospection struct {
	Active   bool          `json:"active"`
	Name     string        `json:"name"`
	Project  string        `json:"project"`
	SHA256   string        `json:"sha256"`
	Bindings []RoleBinding `json:"bindings"`
	// ExpiresAt is absent for a token that never expires.
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	CreatedBy string     `json:"createdBy"`
}
