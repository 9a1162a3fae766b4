package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// SessionTokenPrefix marks login session tokens so that secret scanners and
// people can tell them apart from other credentials.
const SessionTokenPrefix = "mcpctl_sess_"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewToken returns prefix + base62 of 32 random bytes (256 bits), and the
// hex SHA-256 of the whole token, which is all the store keeps.
func NewToken(prefix string) (raw, hash string) {
	b := make([]byte, 32)
	rand.Read(b)
	n := new(big.Int).SetBytes(b)
	var sb strings.Builder
	sb.WriteString(prefix)
	digits := make([]byte, 0, 44)
	base := big.NewInt(62)
	mod := new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, base, mod)
		digits = append(digits, base62[mod.Int64()])
	}
	for len(digits) < 43 { // fixed width: 62^43 > 2^256
		digits = append(digits, '0')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		sb.WriteByte(digits[i])
	}
	raw = sb.String()
	return raw, HashToken(raw)
}

// HashToken is the hex SHA-256 of a raw token. Tokens carry 256 bits of
// entropy, so a fast hash is enough: there is nothing to brute-force.
func HashToken(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

// NewID returns a random UUIDv4 string, for user ids.
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
