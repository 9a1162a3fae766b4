package secret

import (
	"encoding/json"
	"fmt"
	"sort"
)

// aad binds a value to its secret and key.
func aad(secret, key string) string { return "Secret/" + secret + "/" + key }

// Unset is the stored form of a key that has no value: a key created from
// a redacted document (`get -o yaml` output applied to another mcpd).
const Unset = ""

// SealData encrypts the values of secret name's data. A nil value keeps
// the ciphertext old holds for that key (a redacted value sent back means
// "unchanged"); a nil value for a key old does not have is stored Unset.
func (k *Keyring) SealData(name string, data map[string]*string, old map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(data))
	for key, v := range data {
		if v == nil {
			out[key] = old[key] // Unset when old has no such key
			continue
		}
		ct, err := k.Encrypt(*v, aad(name, key))
		if err != nil {
			return nil, err
		}
		out[key] = ct
	}
	return out, nil
}

// OpenValue decrypts one value of secret name.
func (k *Keyring) OpenValue(name, key, ct string) (string, error) {
	return k.Decrypt(ct, aad(name, key))
}

// OpenData decrypts every value of secret name's sealed data; keys that
// are Unset are left out.
func (k *Keyring) OpenData(name string, sealed map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(sealed))
	for key, ct := range sealed {
		if ct == Unset {
			continue
		}
		v, err := k.Decrypt(ct, aad(name, key))
		if err != nil {
			return nil, &KeyError{Secret: name, Key: key, Err: err}
		}
		out[key] = v
	}
	return out, nil
}

// Reseal re-encrypts with the current key every value that another key
// encrypted, and reports how many it changed.
func (k *Keyring) Reseal(name string, sealed map[string]string) (map[string]string, int, error) {
	cur := k.CurrentID()
	out := make(map[string]string, len(sealed))
	n := 0
	for key, ct := range sealed {
		if ct == Unset || KeyIDOf(ct) == cur {
			out[key] = ct
			continue
		}
		v, err := k.Decrypt(ct, aad(name, key))
		if err != nil {
			return nil, 0, &KeyError{Secret: name, Key: key, Err: err}
		}
		if out[key], err = k.Encrypt(v, aad(name, key)); err != nil {
			return nil, 0, err
		}
		n++
	}
	return out, n, nil
}

// KeyError says which value failed to decrypt; it never holds the value.
type KeyError struct {
	Secret, Key string
	Err         error
}

func (e *KeyError) Error() string {
	return "secret " + e.Secret + " key " + e.Key + ": " + e.Err.Error()
}

func (e *KeyError) Unwrap() error { return e.Err }

// Sealed is a Secret's spec as mcpd stores it: each value encrypted (or
// Unset), keyed by data key.
type Sealed struct {
	Data map[string]string `json:"data,omitempty"`
}

// ParseSealed reads a stored Secret spec.
func ParseSealed(spec []byte) (Sealed, error) {
	var s Sealed
	if err := json.Unmarshal(spec, &s); err != nil {
		return Sealed{}, fmt.Errorf("stored secret spec: %w", err)
	}
	return s, nil
}

// Marshal returns the stored form.
func (s Sealed) Marshal() ([]byte, error) { return json.Marshal(s) }

// Keys returns the data keys, sorted.
func (s Sealed) Keys() []string {
	keys := make([]string, 0, len(s.Data))
	for k := range s.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
