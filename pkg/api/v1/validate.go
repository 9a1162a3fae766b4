package v1

import (
	"net/mail"
	"regexp"
	"strings"
)

// MaxNameLength is the longest resource name: a DNS label.
const MaxNameLength = 63

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// ValidateName checks that name is a DNS label (RFC 1123): lower-case
// letters, digits and '-', starting and ending with a letter or digit, at
// most 63 characters. The message says what is allowed, for people to act on.
func ValidateName(name string) string {
	switch {
	case name == "":
		return "must not be empty"
	case len(name) > MaxNameLength:
		return "must be at most 63 characters (a DNS label)"
	case !nameRE.MatchString(name):
		return "must be a DNS label: lower-case letters, digits and '-', starting and ending with a letter or digit (e.g. \"my-server-1\")"
	}
	return ""
}

// MaxEmailLength bounds an email address (RFC 5321 path limit).
const MaxEmailLength = 254

// ValidateEmail checks that email is a bare address such as
// "alice@example.com", without a display name.
func ValidateEmail(email string) string {
	if email == "" {
		return "must not be empty"
	}
	if len(email) > MaxEmailLength {
		return "must be at most 254 characters"
	}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || !strings.Contains(email, "@") {
		return "must be a plain email address such as alice@example.com"
	}
	return ""
}
