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
	// Groups are the groups the user is a member of (in user listings).
	Groups []string `json:"groups,omitempty"`
}

// UserList is one page of GET /api/v1/users.
type UserList struct {
	Items      []User `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// CreateUserRequest is the body of POST /api/v1/users.
type CreateUserRequest struct {
	Email    string `json:"email"`
	Name     string `json:"name,omitempty"`
	Password string `json:"password"`
}

// Validate reports field problems; the password is never echoed.
func (r *CreateUserRequest) Validate() error {
	var fe FieldErrors
	if msg := ValidateEmail(r.Email); msg != "" {
		fe.Add("email", "%s", msg)
	}
	if len(r.Name) > 200 {
		fe.Add("name", "must be at most 200 bytes")
	}
	validateNewPassword(&fe, "password", r.Password)
	return fe.Err()
}

// MinPasswordLength is the shortest password mcpd accepts.
const MinPasswordLength = 8

func validateNewPassword(fe *FieldErrors, field, pw string) {
	switch {
	case len(pw) < MinPasswordLength:
		fe.Add(field, "must be at least %d characters", MinPasswordLength)
	case len(pw) > MaxPasswordLength:
		fe.Add(field, "must be at most %d bytes", MaxPasswordLength)
	}
}

// UpdateUserRequest is the body of PATCH /api/v1/users/{email}: an admin
// renames a user or resets their password.
type UpdateUserRequest struct {
	Name     *string `json:"name,omitempty"`
	Password *string `json:"password,omitempty"`
}

// Validate reports field problems.
func (r *UpdateUserRequest) Validate() error {
	var fe FieldErrors
	if r.Name == nil && r.Password == nil {
		fe.Add("", "nothing to change: send name or password")
	}
	if r.Name != nil && len(*r.Name) > 200 {
		fe.Add("name", "must be at most 200 bytes")
	}
	if r.Password != nil {
		validateNewPassword(&fe, "password", *r.Password)
	}
	return fe.Err()
}

// PasswordRequest is the body of POST /api/v1/auth/password: a user
// changes their own password.
type PasswordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// Validate reports field problems.
func (r *PasswordRequest) Validate() error {
	var fe FieldErrors
	if r.CurrentPassword == "" {
		fe.Add("currentPassword", "must not be empty")
	}
	validateNewPassword(&fe, "newPassword", r.NewPassword)
	if r.NewPassword != "" && r.NewPassword == r.CurrentPassword {
		fe.Add("newPassword", "must differ from the current password")
	}
	return fe.Err()
}

// CanIResponse answers GET /api/v1/auth/can-i.
type CanIResponse struct {
	Allowed bool `json:"allowed"`
	// Subject is who was asked about.
	Subject string `json:"subject"`
	// Reason says which binding allows it, or why nothing does.
	Reason string `json:"reason"`
}

// Me is the answer to GET /api/v1/auth/me.
type Me struct {
	User User `json:"user"`
	// SessionExpiresAt is when the bearer presented stops working.
	SessionExpiresAt time.Time `json:"sessionExpiresAt"`
}
