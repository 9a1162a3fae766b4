package v1

import (
	"regexp"
	"sort"
)

// MaxSecretValue bounds one secret value.
const MaxSecretValue = 64 << 10

// SecretSpec holds named values, encrypted at rest by mcpd.
//
// mcpd returns Data with every value null (redacted) unless the caller
// asks to reveal them. On write, a null value keeps the value the key
// already has, so a redacted secret read back and applied is unchanged;
// a new key with a null value has no value (revealed as null, and the
// apply result warns) until one is set.
type SecretSpec struct {
	Data map[string]*string `json:"data,omitempty"`
}

var secretKeyRE = regexp.MustCompile(`^[-._a-zA-Z0-9]{1,253}$`)

const secretKeyRule = "must be 1 to 253 letters, digits, '-', '_' or '.'"

func secretKeyOK(k string) bool { return secretKeyRE.MatchString(k) }

// Default does nothing: a secret has no defaults.
func (s *SecretSpec) Default() {}

// Validate checks the keys and the value sizes.
func (s *SecretSpec) Validate(fe *FieldErrors) {
	for _, k := range s.Keys() {
		if !secretKeyOK(k) {
			fe.Add("spec.data."+k, "the key %s", secretKeyRule)
		}
		if v := s.Data[k]; v != nil && len(*v) > MaxSecretValue {
			fe.Add("spec.data."+k, "the value is larger than 64 KiB")
		}
	}
}

// References returns nil: a secret names no other object.
func (s *SecretSpec) References() []Ref { return nil }

// Keys returns the data keys, sorted.
func (s *SecretSpec) Keys() []string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Redacted returns a copy with every value null.
func (s *SecretSpec) Redacted() *SecretSpec {
	out := &SecretSpec{}
	if s.Data != nil {
		out.Data = make(map[string]*string, len(s.Data))
		for k := range s.Data {
			out.Data[k] = nil
		}
	}
	return out
}

// HasValues reports whether any key carries a value (not null).
func (s *SecretSpec) HasValues() bool {
	for _, v := range s.Data {
		if v != nil {
			return true
		}
	}
	return false
}
