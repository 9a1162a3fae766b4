package v1_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

func TestValidateName(t *testing.T) {
	t.Parallel()
	const (
		ok      = ""
		empty   = "must not be empty"
		tooLong = "must be at most 63 characters (a DNS label)"
		label   = `must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. "my-server-1")`
	)
	tests := []struct {
		name string
		want string
	}{
		{"a", ok},
		{"0", ok},
		{"my-server-1", ok},
		{"a--b", ok},
		{"1password", ok},
		{strings.Repeat("a", 63), ok},
		{"", empty},
		{strings.Repeat("a", 64), tooLong},
		{strings.Repeat("a", 300), tooLong},
		{"../x", label},
		{"..", label},
		{"a/b", label},
		{"a b", label},
		{" a", label},
		{"a\n", label},
		{"Upper", label},
		{"x;DROP TABLE users", label},
		{"x'--", label},
		{"-a", label},
		{"a-", label},
		{"-", label},
		{"a_b", label},
		{"a.b", label},
		{"ä", label},
		{"a\x00", label},
	}
	for _, tt := range tests {
		if got := v1.ValidateName(tt.name); got != tt.want {
			t.Errorf("ValidateName(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestValidateEmail(t *testing.T) {
	t.Parallel()
	const (
		ok      = ""
		empty   = "must not be empty"
		tooLong = "must be at most 254 characters"
		plain   = "must be a plain email address such as alice@example.com"
	)
	tests := []struct {
		email string
		want  string
	}{
		{"alice@example.com", ok},
		{"alice+tag@example.com", ok},
		{"ALICE@EXAMPLE.COM", ok},
		{"admin@mcpctl.local", ok},
		{strings.Repeat("a", 242) + "@example.com", ok}, // 254 characters
		{"", empty},
		{strings.Repeat("a", 243) + "@example.com", tooLong},
		{"alice", plain},
		{"alice@", plain},
		{"@example.com", plain},
		{"alice@@example.com", plain},
		{"Alice <alice@example.com>", plain},
		{"<alice@example.com>", plain},
		{" alice@example.com", plain},
		{"alice@example.com ", plain},
		{"alice@example.com\n", plain},
		{"alice@example.com (comment)", plain},
		{"alice@example.com, bob@example.com", plain},
		{`"al ice"@example.com`, plain},
		{"x@y.z; DROP TABLE users", plain},
	}
	for _, tt := range tests {
		if got := v1.ValidateEmail(tt.email); got != tt.want {
			t.Errorf("ValidateEmail(%q) = %q, want %q", tt.email, got, tt.want)
		}
	}
}

func TestLoginRequestValidate(t *testing.T) {
	t.Parallel()
	secret := "hunter2-" + strings.Repeat("s", v1.MaxPasswordLength)
	tests := []struct {
		name string
		req  v1.LoginRequest
		want v1.FieldErrors // nil: valid
	}{
		{"valid", v1.LoginRequest{Email: "alice@example.com", Password: "pw"}, nil},
		{"password at the limit", v1.LoginRequest{Email: "alice@example.com", Password: strings.Repeat("p", v1.MaxPasswordLength)}, nil},
		{"empty", v1.LoginRequest{}, v1.FieldErrors{
			{Field: "email", Message: "must not be empty"},
			{Field: "password", Message: "must not be empty"},
		}},
		{"bad email", v1.LoginRequest{Email: "alice", Password: "pw"}, v1.FieldErrors{
			{Field: "email", Message: "must be a plain email address such as alice@example.com"},
		}},
		{"email with a percent sign", v1.LoginRequest{Email: "%d%s", Password: "pw"}, v1.FieldErrors{
			{Field: "email", Message: "must be a plain email address such as alice@example.com"},
		}},
		{"password too long", v1.LoginRequest{Email: "alice@example.com", Password: secret}, v1.FieldErrors{
			{Field: "password", Message: "must be at most 1024 bytes"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.req.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var ve *v1.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate() = %v (%T), want *v1.ValidationError", err, err)
			}
			if diff := cmp.Diff(tt.want, ve.Fields); diff != "" {
				t.Errorf("details (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error echoes the password: %v", err)
			}
		})
	}
}

func TestErrorStrings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"message only", &v1.Error{Message: "boom"}, "boom"},
		{"with code", &v1.Error{Message: "the token has expired: log in again", Code: v1.CodeTokenExpired},
			"the token has expired: log in again (TOKEN_EXPIRED)"},
		{"with details", &v1.Error{Message: "the request is not valid; see details", Code: v1.CodeValidationFailed,
			Details:   []v1.FieldError{{Field: "email", Message: "must not be empty"}, {Message: "the body must hold one JSON object"}},
			RequestID: "r1", Status: 400},
			"the request is not valid; see details (VALIDATION_FAILED)\n  email: must not be empty\n  the body must hold one JSON object"},
		{"validation error", (&v1.FieldErrors{{Field: "name", Message: "must not be empty"}, {Message: "bad"}}).Err(),
			"validation failed; name: must not be empty; bad"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%s: Error() = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestFieldErrors(t *testing.T) {
	t.Parallel()
	var fe v1.FieldErrors
	if err := fe.Err(); err != nil {
		t.Errorf("empty FieldErrors.Err() = %v, want nil", err)
	}
	fe.Add("spec.env[2].name", "must be at most %d characters, got %q", 63, "x")
	fe.Add("limit", "%s", "100% wrong")
	want := v1.FieldErrors{
		{Field: "spec.env[2].name", Message: `must be at most 63 characters, got "x"`},
		{Field: "limit", Message: "100% wrong"},
	}
	var ve *v1.ValidationError
	if !errors.As(fe.Err(), &ve) {
		t.Fatalf("Err() = %T, want *v1.ValidationError", fe.Err())
	}
	if diff := cmp.Diff(want, ve.Fields); diff != "" {
		t.Errorf("fields (-want +got):\n%s", diff)
	}
}
