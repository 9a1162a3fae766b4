package v1

import "fmt"

// Error codes carried in Error.Code. They are stable: scripts and the CLI
// branch on them.
const (
	CodeValidationFailed     = "VALIDATION_FAILED"
	CodeUnsupportedMediaType = "UNSUPPORTED_MEDIA_TYPE"
	CodeTokenRequired        = "TOKEN_REQUIRED"
	CodeTokenExpired         = "TOKEN_EXPIRED"
	CodeTokenInvalid         = "TOKEN_INVALID"
	CodeInvalidCredentials   = "INVALID_CREDENTIALS"
	CodeForbidden            = "FORBIDDEN"
	CodeNotFound             = "NOT_FOUND"
	CodeMethodNotAllowed     = "METHOD_NOT_ALLOWED"
	CodeConflict             = "CONFLICT"
	CodePayloadTooLarge      = "PAYLOAD_TOO_LARGE"
	CodeRateLimited          = "RATE_LIMITED"
	CodeInternal             = "INTERNAL"
	CodeUnavailable          = "STORE_UNAVAILABLE"
	// CodeSecretKeyUnavailable: a secret value is encrypted with a key
	// mcpd does not have.
	CodeSecretKeyUnavailable = "SECRET_KEY_UNAVAILABLE"
	// CodeInstancesDisabled: this mcpd runs no instances (MCPD_INSTANCES=off).
	CodeInstancesDisabled = "INSTANCES_DISABLED"
)

// Error is the body of every non-2xx answer of /api/v1 (DESIGN.md §6).
type Error struct {
	// Message is for people; it names the problem and the way out.
	Message string `json:"error"`
	// Code is for programs: one of the Code* constants.
	Code string `json:"code"`
	// Details lists per-field problems for VALIDATION_FAILED.
	Details []FieldError `json:"details,omitempty"`
	// RequestID links the answer to mcpd's log line and audit event.
	RequestID string `json:"requestId,omitempty"`
	// Status is the HTTP status; it is not sent, the client fills it in.
	Status int `json:"-"`
}

func (e *Error) Error() string {
	s := e.Message
	if e.Code != "" {
		s = fmt.Sprintf("%s (%s)", s, e.Code)
	}
	for _, d := range e.Details {
		s += "\n  " + d.String()
	}
	return s
}

// FieldError is one problem with one field of a request body or query.
type FieldError struct {
	// Field is a JSON path such as "email" or "spec.env[2].name".
	Field string `json:"field"`
	// Message says what is wrong and what is allowed.
	Message string `json:"message"`
}

func (f FieldError) String() string {
	if f.Field == "" {
		return f.Message
	}
	return f.Field + ": " + f.Message
}

// FieldErrors collects field problems; a nil or empty value means valid.
type FieldErrors []FieldError

// Add appends one problem.
func (fe *FieldErrors) Add(field, format string, args ...any) {
	*fe = append(*fe, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Err returns fe as an error, or nil when there is no problem.
func (fe FieldErrors) Err() error {
	if len(fe) == 0 {
		return nil
	}
	return &ValidationError{Fields: fe}
}

// ValidationError is returned by Validate methods. The server turns it into a
// 400 VALIDATION_FAILED answer with one detail per field.
type ValidationError struct {
	Fields FieldErrors
}

func (v *ValidationError) Error() string {
	s := "validation failed"
	for _, f := range v.Fields {
		s += "; " + f.String()
	}
	return s
}
