package v1

import "time"

// MaxPasswordLength bounds a password so that hashing cannot be used to burn
// CPU; it is far above what any password manager produces.
const MaxPasswordLength = 1024

// LoginRequest is the body of POST /api/v1/auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// Validate reports field problems; the password is never echoed.
func (r *LoginRequest) Validate() error {
	var fe FieldErrors
	if msg := ValidateEmail(r.Email); msg != "" {
		fe.Add("email", "%s", msg)
	}
	switch {
	case r.Password == "":
		fe.Add("password", "must not be empty")
	case len(r.Password) > MaxPasswordLength:
		fe.Add("password", "must be at most %d bytes", MaxPasswordLength)
	}
	return fe.Err()
}

// LoginResponse is the answer to a successful login. Token is shown once:
// mcpd keeps only its SHA-256.
type LoginResponse struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expiresAt"`
	User      User      `json:"user"`
}

// User is a person who can log in.
type User struct {
	ID        string    `json:"id"`
	Email     string    `json:"email"`
	Name      string    `json:"name,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
}

// Me is the answer to GET /api/v1/auth/me.
type Me struct {
	User User `json:"user"`
	// SessionExpiresAt is when the bearer presented stops working.
	SessionExpiresAt time.Time `json:"sessionExpiresAt"`
}
