// Package auth hashes passwords, issues and checks login session tokens,
// and caches token look-ups so the hot path does not touch the store.
package auth

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1
// lane). They are stored in each hash, so raising them later keeps old
// hashes verifiable.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
)

// HashPassword returns a PHC-format argon2id hash of password.
func HashPassword(password string) string {
	salt := make([]byte, argonSaltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, argonMemoryKiB, argonTime, argonThreads, b64.EncodeToString(salt), b64.EncodeToString(key))
}

var errBadHash = errors.New("malformed argon2id hash")

// VerifyPassword reports whether password matches a hash made by
// HashPassword. The comparison is constant-time.
func VerifyPassword(hash, password string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false, errBadHash
	}
	var mem, iters uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &iters, &threads); err != nil ||
		parts[3] != fmt.Sprintf("m=%d,t=%d,p=%d", mem, iters, threads) {
		return false, errBadHash
	}
	// Bounds keep a corrupted or hostile hash from exhausting memory or CPU.
	if threads == 0 || threads > 64 || iters == 0 || iters > 64 || mem < 8*uint32(threads) || mem > 1<<20 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) == 0 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(password), salt, iters, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

var dummy = sync.OnceValue(func() string {
	b := make([]byte, 24)
	rand.Read(b)
	return HashPassword(base64.RawStdEncoding.EncodeToString(b))
})

// BurnPasswordCheck spends the same time as VerifyPassword on a real hash,
// so that an unknown email answers no faster than a wrong password.
func BurnPasswordCheck(password string) {
	VerifyPassword(dummy(), password) //nolint:errcheck // the result is discarded on purpose
}
