// Package secret encrypts Secret values at rest with AES-256-GCM.
//
// A Keyring holds one or more 256-bit keys; the first encrypts, any of
// them decrypts. Each ciphertext names the key that made it ("v1:<key
// id>:<base64>"), so keys can be rotated: add the new key first, re-encrypt
// (mcpd rotate-secret-key), drop the old key. The associated data binds a
// ciphertext to its secret and key, so a value copied into another secret
// does not decrypt.
package secret

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// KeySize is the length of a key in bytes (AES-256).
const KeySize = 32

// prefix marks the ciphertext format version.
const prefix = "v1:"

// ErrUnknownKey means a value was encrypted with a key this keyring does
// not hold.
var ErrUnknownKey = errors.New("encrypted with a key mcpd does not have")

// Keyring encrypts with its first key and decrypts with any. It is safe
// for concurrent use.
type Keyring struct {
	mu      sync.RWMutex
	current string
	keys    map[string]cipher.AEAD
	// file is the key file the keys came from, if any. mcpd re-reads it
	// when it changes (before encrypting) or when a value names an unknown
	// key: `mcpd rotate-secret-key` may have run beside a running mcpd.
	file  string
	stamp fileStamp
}

// fileStamp identifies one version of the key file. Size and modification
// time alone miss a rewrite with a same-size key within one tick of a
// coarse file clock; WriteKeyFile renames a new file into place, so the
// file's identity changes on every write.
type fileStamp struct {
	fi os.FileInfo // nil when the file could not be read
}

func stampOf(file string) fileStamp {
	fi, err := os.Stat(file)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi: fi}
}

func (s fileStamp) equal(o fileStamp) bool {
	if s.fi == nil || o.fi == nil {
		return s.fi == nil && o.fi == nil
	}
	return os.SameFile(s.fi, o.fi) && s.fi.ModTime().Equal(o.fi.ModTime()) && s.fi.Size() == o.fi.Size()
}

// refresh re-reads the key file when it changed (or when force), keeping
// the current keys if the file cannot be read.
func (k *Keyring) refresh(force bool) {
	if k.file == "" {
		return
	}
	st := stampOf(k.file)
	k.mu.RLock()
	same := st.equal(k.stamp)
	k.mu.RUnlock()
	if same && !force {
		return
	}
	keys, err := ReadKeyFile(k.file)
	if err != nil || k.set(keys) != nil {
		return
	}
	k.mu.Lock()
	k.stamp = st
	k.mu.Unlock()
}

// NewKeyring builds a keyring; keys[0] encrypts.
func NewKeyring(keys [][]byte) (*Keyring, error) {
	k := &Keyring{}
	if err := k.set(keys); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *Keyring) set(keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("no secret key")
	}
	m := make(map[string]cipher.AEAD, len(keys))
	for i, key := range keys {
		if len(key) != KeySize {
			return fmt.Errorf("secret key %d is %d bytes; it must be %d bytes (base64 of 32 random bytes, e.g. from `openssl rand -base64 32`)", i+1, len(key), KeySize)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return err
		}
		m[KeyID(key)] = aead
	}
	k.mu.Lock()
	k.current, k.keys = KeyID(keys[0]), m
	k.mu.Unlock()
	return nil
}

// KeyID names a key without revealing it: 8 hex digits of its SHA-256.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:4])
}

// CurrentID is the id of the key that encrypts (after re-reading a
// changed key file, as Encrypt does: Reseal compares against it).
func (k *Keyring) CurrentID() string {
	k.refresh(false)
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.current
}

// Encrypt seals plain bound to aad (which names where the value lives).
func (k *Keyring) Encrypt(plain, aad string) (string, error) {
	k.refresh(false)
	k.mu.RLock()
	id, aead := k.current, k.keys[k.current]
	k.mu.RUnlock()
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	sealed := aead.Seal(nonce, nonce, []byte(plain), []byte(aad))
	return prefix + id + ":" + base64.RawStdEncoding.EncodeToString(sealed), nil
}

// Decrypt opens a value Encrypt made with the same aad.
func (k *Keyring) Decrypt(ct, aad string) (string, error) {
	id, body, err := split(ct)
	if err != nil {
		return "", err
	}
	aead := k.aead(id)
	if aead == nil {
		return "", fmt.Errorf("%w (key id %s); give mcpd that key in MCPD_SECRET_KEY or its key file", ErrUnknownKey, id)
	}
	ns := aead.NonceSize()
	if len(body) < ns+aead.Overhead() {
		return "", errors.New("encrypted value is truncated")
	}
	plain, err := aead.Open(nil, body[:ns], body[ns:], []byte(aad))
	if err != nil {
		return "", fmt.Errorf("encrypted value does not decrypt with key %s: it was altered or moved", id)
	}
	return string(plain), nil
}

func (k *Keyring) aead(id string) cipher.AEAD {
	k.mu.RLock()
	aead := k.keys[id]
	k.mu.RUnlock()
	if aead != nil || k.file == "" {
		return aead
	}
	k.refresh(true)
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.keys[id]
}

// KeyIDOf returns the id of the key that encrypted ct.
func KeyIDOf(ct string) string {
	id, _, err := split(ct)
	if err != nil {
		return ""
	}
	return id
}

func split(ct string) (string, []byte, error) {
	rest, ok := strings.CutPrefix(ct, prefix)
	id, b64, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || len(id) != 8 {
		return "", nil, errors.New("not an encrypted value of this mcpd version")
	}
	body, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		return "", nil, errors.New("encrypted value is not valid base64")
	}
	return id, body, nil
}

// ParseKeys reads keys written as base64 (standard or URL alphabet,
// padded or not), separated by commas or new lines; '#' starts a comment.
// The first key encrypts.
func ParseKeys(s string) ([][]byte, error) {
	var keys [][]byte
	n := 0
	// Comments end at the end of the line, so strip them before splitting
	// on commas: a comment may hold commas (the key file's header does).
	for line := range strings.Lines(s) {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		for field := range strings.SplitSeq(line, ",") {
			field = strings.TrimSpace(field)
			if field == "" {
				continue
			}
			n++
			key, err := decodeKey(field)
			if err != nil {
				return nil, fmt.Errorf("secret key %d: %w", n, err)
			}
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("no secret key given")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	s = strings.TrimRight(s, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			if len(b) != KeySize {
				return nil, fmt.Errorf("decodes to %d bytes; it must be base64 of exactly %d random bytes (e.g. `openssl rand -base64 32`)", len(b), KeySize)
			}
			return b, nil
		}
	}
	return nil, fmt.Errorf("is not base64; use base64 of %d random bytes (e.g. `openssl rand -base64 32`)", KeySize)
}

// GenerateKey returns a new random key.
func GenerateKey() []byte {
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return b
}

// EncodeKey formats a key the way ParseKeys reads it.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// Source says where a keyring's keys came from.
type Source struct {
	// Env is true when the keys came from MCPD_SECRET_KEY.
	Env bool
	// File is the key file otherwise.
	File string
	// Created is true when the key file was created now.
	Created bool
}

// Load builds the keyring from envKeys (MCPD_SECRET_KEY) when set, else
// from the key file, which is created with a new key (mode 0600) when
// absent. A key file readable by others is refused.
func Load(envKeys, file string) (*Keyring, Source, error) {
	if strings.TrimSpace(envKeys) != "" {
		keys, err := ParseKeys(envKeys)
		if err != nil {
			return nil, Source{}, fmt.Errorf("MCPD_SECRET_KEY: %w", err)
		}
		k, err := NewKeyring(keys)
		return k, Source{Env: true}, err
	}
	src := Source{File: file}
	keys, err := ReadKeyFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		keys = [][]byte{GenerateKey()}
		err := writeKeyFile(file, keys, false)
		switch {
		case errors.Is(err, fs.ErrExist):
			// Another mcpd on this data directory created it first: use
			// its key, or the two would encrypt with different keys.
			if keys, err = ReadKeyFile(file); err != nil {
				return nil, src, err
			}
		case err != nil:
			return nil, src, err
		default:
			src.Created = true
		}
	} else if err != nil {
		return nil, src, err
	}
	k, err := NewKeyring(keys)
	if err != nil {
		return nil, src, fmt.Errorf("key file %s: %w", file, err)
	}
	k.file, k.stamp = file, stampOf(file)
	return k, src, nil
}

// ReadKeyFile reads a key file; it must not be readable by group or others.
func ReadKeyFile(file string) ([][]byte, error) {
	fi, err := os.Stat(file)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secret key file %s has mode %04o; it must be readable by its owner only: chmod 600 %s",
			file, fi.Mode().Perm(), file)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("secret key file %s: %w", file, err)
	}
	return keys, nil
}

// WriteKeyFile writes keys (the first encrypts) atomically with mode 0600.
func WriteKeyFile(file string, keys [][]byte) error { return writeKeyFile(file, keys, true) }

// writeKeyFile writes the file through a temporary file; without replace
// an existing file is left alone and the error is fs.ErrExist.
func writeKeyFile(file string, keys [][]byte, replace bool) error {
	var b bytes.Buffer
	b.WriteString("# mcpd secret keys (base64, AES-256). The first key encrypts; the others only decrypt.\n")
	b.WriteString("# Keep this file safe: without it the stored secret values cannot be read.\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s # id %s\n", EncodeKey(k), KeyID(k))
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".secret-key-*")
	if err != nil {
		return fmt.Errorf("write secret key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b.Bytes()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if !replace {
		return os.Link(tmp.Name(), file) // fails with ErrExist if present
	}
	return os.Rename(tmp.Name(), file)
}
