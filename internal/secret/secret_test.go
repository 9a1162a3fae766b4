package secret

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// ciphertextRE is the stored form: version, 8 hex digits of key id, then
// unpadded standard base64.
var ciphertextRE = regexp.MustCompile(`^v1:[0-9a-f]{8}:[A-Za-z0-9+/]+$`)

func newKeyring(t *testing.T, keys ...[]byte) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func encrypt(t *testing.T, k *Keyring, plain, aad string) string {
	t.Helper()
	ct, err := k.Encrypt(plain, aad)
	if err != nil {
		t.Fatal(err)
	}
	return ct
}

// errorLacks fails when err is nil or its message holds any of secrets.
func errorLacks(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(err.Error(), s) {
			t.Errorf("error %q reveals %q", err, s)
		}
	}
}

func TestEncryptDecryptRoundTrip(t *testing.T) {
	t.Parallel()
	k := newKeyring(t, GenerateKey())
	for _, plain := range []string{"", "hunter2", "ünïcødé ✓", strings.Repeat("x", 10000), "with\x00nul"} {
		ct := encrypt(t, k, plain, "Secret/gh/token")
		if !ciphertextRE.MatchString(ct) {
			t.Errorf("ciphertext %q is not v1:<8 hex>:<base64>", ct)
		}
		if plain != "" && strings.Contains(ct, plain) {
			t.Errorf("ciphertext %q holds the plaintext", ct)
		}
		got, err := k.Decrypt(ct, "Secret/gh/token")
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if got != plain {
			t.Errorf("Decrypt = %q, want %q", got, plain)
		}
	}
}

func TestEncryptFormat(t *testing.T) {
	t.Parallel()
	key := GenerateKey()
	k := newKeyring(t, key)
	a := encrypt(t, k, "same", "aad")
	b := encrypt(t, k, "same", "aad")
	if a == b {
		t.Errorf("two encryptions of the same value are equal (%q): the nonce is not random", a)
	}
	for _, ct := range []string{a, b} {
		if want := "v1:" + KeyID(key) + ":"; !strings.HasPrefix(ct, want) {
			t.Errorf("ciphertext %q does not start with %q", ct, want)
		}
		if got := KeyIDOf(ct); got != KeyID(key) {
			t.Errorf("KeyIDOf(%q) = %q, want %q", ct, got, KeyID(key))
		}
	}
	if got := KeyIDOf("garbage"); got != "" {
		t.Errorf("KeyIDOf(garbage) = %q, want empty", got)
	}
}

func TestDecryptFailures(t *testing.T) {
	t.Parallel()
	const plain = "s3cr3t-plaintext"
	key := GenerateKey()
	k := newKeyring(t, key)
	ct := encrypt(t, k, plain, "Secret/gh/token")
	id, b64, _ := strings.Cut(strings.TrimPrefix(ct, "v1:"), ":")
	body, err := base64.RawStdEncoding.DecodeString(b64)
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) string {
		b := append([]byte(nil), body...)
		b[i] ^= 1
		return "v1:" + id + ":" + base64.RawStdEncoding.EncodeToString(b)
	}
	other := GenerateKey()
	foreign := encrypt(t, newKeyring(t, other), plain, "Secret/gh/token")

	tests := []struct {
		name string
		ct   string
		aad  string
		want string // in the error message
		is   error
	}{
		{"other secret", ct, "Secret/other/token", "altered or moved", nil},
		{"other key", ct, "Secret/gh/password", "altered or moved", nil},
		{"tampered nonce", flip(0), "Secret/gh/token", "altered or moved", nil},
		{"tampered body", flip(len(body) / 2), "Secret/gh/token", "altered or moved", nil},
		{"tampered tag", flip(len(body) - 1), "Secret/gh/token", "altered or moved", nil},
		{"truncated", "v1:" + id + ":" + base64.RawStdEncoding.EncodeToString(body[:20]), "Secret/gh/token", "truncated", nil},
		{"cut short by one byte", "v1:" + id + ":" + base64.RawStdEncoding.EncodeToString(body[:len(body)-1]), "Secret/gh/token", "altered or moved", nil},
		{"empty body", "v1:" + id + ":", "Secret/gh/token", "truncated", nil},
		{"not base64", "v1:" + id + ":!!!not base64!!!", "Secret/gh/token", "not valid base64", nil},
		{"padded base64", ct + "==", "Secret/gh/token", "not valid base64", nil},
		{"plain text", plain, "Secret/gh/token", "not an encrypted value", nil},
		{"empty", "", "Secret/gh/token", "not an encrypted value", nil},
		{"other version", "v2:" + strings.TrimPrefix(ct, "v1:"), "Secret/gh/token", "not an encrypted value", nil},
		{"no body separator", "v1:" + id, "Secret/gh/token", "not an encrypted value", nil},
		{"short key id", "v1:abc:" + b64, "Secret/gh/token", "not an encrypted value", nil},
		{"unknown key", foreign, "Secret/gh/token", KeyID(other), ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := k.Decrypt(tt.ct, tt.aad)
			if err == nil {
				t.Fatalf("Decrypt = %q, want an error", got)
			}
			if got != "" {
				t.Errorf("Decrypt returned %q with its error", got)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q lacks %q", err, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %q is not %v", err, tt.is)
			}
			if tt.is == nil && errors.Is(err, ErrUnknownKey) {
				t.Errorf("error %q is ErrUnknownKey", err)
			}
			errorLacks(t, err, plain, EncodeKey(key), EncodeKey(other))
		})
	}
}

func TestKeyringTwoKeys(t *testing.T) {
	t.Parallel()
	newKey, oldKey := GenerateKey(), GenerateKey()
	old := newKeyring(t, oldKey)
	both := newKeyring(t, newKey, oldKey)
	if got, want := both.CurrentID(), KeyID(newKey); got != want {
		t.Errorf("CurrentID = %q, want the first key's %q", got, want)
	}
	ctOld := encrypt(t, old, "old value", "a")
	ctNew := encrypt(t, both, "new value", "a")
	if got := KeyIDOf(ctNew); got != KeyID(newKey) {
		t.Errorf("new value encrypted with key %q, want the first key %q", got, KeyID(newKey))
	}
	for ct, want := range map[string]string{ctOld: "old value", ctNew: "new value"} {
		got, err := both.Decrypt(ct, "a")
		if err != nil {
			t.Errorf("Decrypt(%s): %v", KeyIDOf(ct), err)
		} else if got != want {
			t.Errorf("Decrypt = %q, want %q", got, want)
		}
	}
	if _, err := old.Decrypt(ctNew, "a"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("old keyring decrypting a new value: %v, want ErrUnknownKey", err)
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel()
	key := GenerateKey()
	id := KeyID(key)
	if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(id) {
		t.Errorf("KeyID = %q, want 8 hex digits", id)
	}
	if again := KeyID(append([]byte(nil), key...)); again != id {
		t.Errorf("KeyID not stable: %q then %q", id, again)
	}
	if other := KeyID(GenerateKey()); other == id {
		t.Errorf("two random keys have the same id %q", id)
	}
	// Pinned: ids are written in key files and ciphertexts, so they must
	// not change between versions.
	if got, want := KeyID(make([]byte, KeySize)), "66687aad"; got != want {
		t.Errorf("KeyID(zero key) = %q, want %q", got, want)
	}
	if strings.Contains(EncodeKey(key), id) {
		t.Errorf("id %q is part of the key", id)
	}
}

func TestNewKeyringErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewKeyring(nil); err == nil {
		t.Error("NewKeyring(nil) succeeded")
	}
	_, err := NewKeyring([][]byte{GenerateKey(), make([]byte, 16)})
	if err == nil || !strings.Contains(err.Error(), "secret key 2 is 16 bytes") {
		t.Errorf("NewKeyring with a short second key: %v", err)
	}
}

func TestParseKeys(t *testing.T) {
	t.Parallel()
	// Bytes chosen so that standard and URL base64 differ (+/ vs -_).
	k1 := []byte(strings.Repeat("\xfb\xff\xbf", 10) + "\xfe\xff")
	k2 := GenerateKey()
	k3 := GenerateKey()
	std := base64.StdEncoding.EncodeToString(k1)
	if !strings.ContainsAny(std, "+/") || !strings.HasSuffix(std, "=") {
		t.Fatalf("test key %q does not exercise the alphabets and padding", std)
	}
	enc := func(e *base64.Encoding, k []byte) string { return e.EncodeToString(k) }

	tests := []struct {
		name string
		in   string
		want [][]byte
	}{
		{"std padded", std, [][]byte{k1}},
		{"std unpadded", enc(base64.RawStdEncoding, k1), [][]byte{k1}},
		{"url padded", enc(base64.URLEncoding, k1), [][]byte{k1}},
		{"url unpadded", enc(base64.RawURLEncoding, k1), [][]byte{k1}},
		{"comma separated", EncodeKey(k1) + "," + EncodeKey(k2) + " , " + EncodeKey(k3), [][]byte{k1, k2, k3}},
		{"newline separated", EncodeKey(k1) + "\n" + EncodeKey(k2) + "\r\n" + EncodeKey(k3) + "\n", [][]byte{k1, k2, k3}},
		{"comments and blanks", "# keys\n\n  " + EncodeKey(k2) + " # id x\n#" + EncodeKey(k1) + "\n" + EncodeKey(k3), [][]byte{k2, k3}},
		{"comment with commas", "# keys (base64, AES-256), first encrypts\n" + EncodeKey(k1) + " # id x, y\n" + EncodeKey(k2), [][]byte{k1, k2}},
		{"surrounding space", "  \t" + EncodeKey(k1) + "\t ", [][]byte{k1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseKeys(tt.in)
			if err != nil {
				t.Fatalf("ParseKeys: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseKeys mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseKeysErrors(t *testing.T) {
	t.Parallel()
	good := EncodeKey(GenerateKey())
	short := base64.StdEncoding.EncodeToString(make([]byte, 16))
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"empty", "", []string{"no secret key"}},
		{"only comments", "# nothing\n  \n,", []string{"no secret key"}},
		{"short key", short, []string{"secret key 1:", "16 bytes", "32"}},
		{"second key long", good + "," + base64.StdEncoding.EncodeToString(make([]byte, 48)), []string{"secret key 2:", "48 bytes"}},
		{"third not base64", good + "\n# comment\n\n" + good + "\nnot*base64!", []string{"secret key 3:", "not base64"}},
		{"mixed alphabets", good + "\n" + "+-" + good[2:], []string{"secret key 2:", "not base64"}},
		{"hex key", strings.Repeat("ab", 32), []string{"secret key 1:", "48 bytes"}},
		// A line longer than bufio.Scanner's token limit must not end the
		// parse silently and drop the keys after it.
		{"huge line", good + "\n" + strings.Repeat("A", 70000) + "\n" + good, []string{"secret key 2:"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.in)
			if err == nil {
				t.Fatalf("ParseKeys = %d keys, want an error", len(keys))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			errorLacks(t, err, good, short)
		})
	}
}

func TestLoadEnv(t *testing.T) {
	t.Parallel()
	k1, k2 := GenerateKey(), GenerateKey()
	file := filepath.Join(t.TempDir(), "secret-key")
	k, src, err := Load(EncodeKey(k1)+","+EncodeKey(k2), file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Source{Env: true}, src); diff != "" {
		t.Errorf("Source mismatch (-want +got):\n%s", diff)
	}
	if got := k.CurrentID(); got != KeyID(k1) {
		t.Errorf("CurrentID = %q, want %q", got, KeyID(k1))
	}
	if _, err := os.Stat(file); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load with env keys touched the key file: %v", err)
	}
	_, _, err = Load("not base64!", file)
	if err == nil || !strings.Contains(err.Error(), "MCPD_SECRET_KEY") || !strings.Contains(err.Error(), "secret key 1") {
		t.Errorf("Load with bad env keys: %v", err)
	}
}

func TestLoadCreatesKeyFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "data", "secret-key")
	k, src, err := Load("", file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Source{File: file, Created: true}, src); diff != "" {
		t.Errorf("Source mismatch (-want +got):\n%s", diff)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %04o, want 0600", fi.Mode().Perm())
	}
	keys, err := ReadKeyFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || KeyID(keys[0]) != k.CurrentID() {
		t.Errorf("key file holds %d keys, want the one with id %s", len(keys), k.CurrentID())
	}
	ct := encrypt(t, k, "v", "a")

	// whitespace-only env keys count as unset
	k2, src2, err := Load(" \n", file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Source{File: file}, src2); diff != "" {
		t.Errorf("second Load Source mismatch (-want +got):\n%s", diff)
	}
	if k2.CurrentID() != k.CurrentID() {
		t.Errorf("second Load has key %s, want %s", k2.CurrentID(), k.CurrentID())
	}
	if got, err := k2.Decrypt(ct, "a"); err != nil || got != "v" {
		t.Errorf("second keyring Decrypt = %q, %v", got, err)
	}
}

func TestLoadRefusesKeyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	if err := WriteKeyFile(good, [][]byte{GenerateKey()}); err != nil {
		t.Fatal(err)
	}
	readable := filepath.Join(dir, "readable")
	if err := WriteKeyFile(readable, [][]byte{GenerateKey()}); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(readable, 0o644); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return f
	}
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"group and world readable", readable, []string{"0644", "chmod 600 " + readable}},
		{"corrupt", write("corrupt", "this is not a key\n"), []string{"corrupt", "secret key 1", "not base64"}},
		{"empty", write("empty", ""), []string{"no secret key"}},
		{"wrong length", write("short", base64.StdEncoding.EncodeToString(make([]byte, 31))+"\n"), []string{"31 bytes"}},
		{"a directory", dir, []string{dir}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := os.ReadFile(tt.file)
			k, _, err := Load("", tt.file)
			if err == nil {
				t.Fatalf("Load succeeded with key %s", k.CurrentID())
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if after, _ := os.ReadFile(tt.file); string(after) != string(before) {
				t.Error("Load rewrote a key file it refused")
			}
		})
	}
}

func TestWriteKeyFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "secret-key")
	if err := os.WriteFile(file, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	keys := [][]byte{GenerateKey(), GenerateKey()}
	if err := WriteKeyFile(file, keys); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %04o, want 0600", fi.Mode().Perm())
	}
	got, err := ReadKeyFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(keys, got); diff != "" {
		t.Errorf("keys mismatch (-want +got):\n%s", diff)
	}
	b, _ := os.ReadFile(file)
	if !strings.Contains(string(b), "# id "+KeyID(keys[1])) {
		t.Errorf("key file does not name key ids:\n%s", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the key file (temporary file left behind?)", len(entries))
	}
}

// A keyring from the key file follows the file: `mcpd rotate-secret-key`
// rewrites it beside a running mcpd.
func TestKeyFileReload(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (file string, k *Keyring, oldKey, newKey []byte) {
		file = filepath.Join(t.TempDir(), "secret-key")
		k, _, err := Load("", file)
		if err != nil {
			t.Fatal(err)
		}
		old, err := ReadKeyFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return file, k, old[0], GenerateKey()
	}

	t.Run("encrypt uses the new first key", func(t *testing.T) {
		t.Parallel()
		file, k, oldKey, newKey := setup(t)
		ctOld := encrypt(t, k, "old", "a")
		if err := WriteKeyFile(file, [][]byte{newKey, oldKey}); err != nil {
			t.Fatal(err)
		}
		ct := encrypt(t, k, "new", "a")
		if got := KeyIDOf(ct); got != KeyID(newKey) {
			t.Errorf("Encrypt after the file changed used key %s, want the new %s", got, KeyID(newKey))
		}
		if got := k.CurrentID(); got != KeyID(newKey) {
			t.Errorf("CurrentID = %s, want %s", got, KeyID(newKey))
		}
		if got, err := k.Decrypt(ctOld, "a"); err != nil || got != "old" {
			t.Errorf("Decrypt of an old value = %q, %v", got, err)
		}
	})

	t.Run("decrypt reloads on an unknown key", func(t *testing.T) {
		t.Parallel()
		file, k, oldKey, newKey := setup(t)
		ct := encrypt(t, newKeyring(t, newKey), "made elsewhere", "a")
		if err := WriteKeyFile(file, [][]byte{newKey, oldKey}); err != nil {
			t.Fatal(err)
		}
		if got, err := k.Decrypt(ct, "a"); err != nil || got != "made elsewhere" {
			t.Errorf("Decrypt = %q, %v; want the value", got, err)
		}
	})

	t.Run("same size rewrite", func(t *testing.T) {
		t.Parallel()
		// The final step of a rotation replaces one key by another: the
		// file keeps its size and may keep its modification time.
		file, k, _, newKey := setup(t)
		if err := WriteKeyFile(file, [][]byte{newKey}); err != nil {
			t.Fatal(err)
		}
		if got := KeyIDOf(encrypt(t, k, "v", "a")); got != KeyID(newKey) {
			t.Errorf("Encrypt after the file changed used key %s, want the new %s", got, KeyID(newKey))
		}
	})

	t.Run("reseal follows the file", func(t *testing.T) {
		t.Parallel()
		file, k, oldKey, newKey := setup(t)
		sealed, err := k.SealData("gh", map[string]*string{"a": ptr("1"), "b": ptr("2")}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteKeyFile(file, [][]byte{newKey, oldKey}); err != nil {
			t.Fatal(err)
		}
		out, n, err := k.Reseal("gh", sealed)
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("Reseal changed %d values, want 2", n)
		}
		for key, ct := range out {
			if KeyIDOf(ct) != KeyID(newKey) {
				t.Errorf("value %s has key %s after Reseal, want %s", key, KeyIDOf(ct), KeyID(newKey))
			}
		}
	})

	t.Run("unreadable file keeps the keys", func(t *testing.T) {
		t.Parallel()
		file, k, _, _ := setup(t)
		id := k.CurrentID()
		ct := encrypt(t, k, "v", "a")
		if err := os.WriteFile(file, []byte("garbage\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if got := KeyIDOf(encrypt(t, k, "v", "a")); got != id {
			t.Errorf("Encrypt with a corrupt file used key %s, want the loaded %s", got, id)
		}
		if got, err := k.Decrypt(ct, "a"); err != nil || got != "v" {
			t.Errorf("Decrypt with a corrupt file = %q, %v", got, err)
		}
	})
}

func TestKeyringFromEnvIgnoresFiles(t *testing.T) {
	t.Parallel()
	key := GenerateKey()
	k := newKeyring(t, key)
	other := encrypt(t, newKeyring(t, GenerateKey()), "v", "a")
	if _, err := k.Decrypt(other, "a"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Decrypt under an unknown key: %v, want ErrUnknownKey", err)
	}
	if got := k.CurrentID(); got != KeyID(key) {
		t.Errorf("CurrentID = %s, want %s", got, KeyID(key))
	}
}

func ptr(s string) *string { return &s }

func TestSealData(t *testing.T) {
	t.Parallel()
	k := newKeyring(t, GenerateKey())
	old, err := k.SealData("gh", map[string]*string{"token": ptr("t0k3n"), "user": ptr("me")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.SealData("gh", map[string]*string{
		"token": nil,           // unchanged: keeps the old ciphertext
		"user":  ptr("you"),    // new value
		"pin":   nil,           // nil without an old value: Unset
		"empty": ptr(""),       // explicit empty
		"multi": ptr("a\nb\n"), // any bytes
	}, old)
	if err != nil {
		t.Fatal(err)
	}
	if sealed["token"] != old["token"] {
		t.Errorf("nil value did not keep the old ciphertext: %q, want %q", sealed["token"], old["token"])
	}
	if sealed["user"] == old["user"] {
		t.Error("new value kept the old ciphertext")
	}
	for key, ct := range sealed {
		if key == "pin" {
			if ct != Unset {
				t.Errorf("a nil value without an old one is stored as %q, want Unset", ct)
			}
			continue
		}
		if !ciphertextRE.MatchString(ct) {
			t.Errorf("value %s is stored as %q, not a ciphertext", key, ct)
		}
	}
	got, err := k.OpenData("gh", sealed)
	if err != nil {
		t.Fatal(err)
	}
	// An Unset key has no value: OpenData leaves it out; an explicit ""
	// is a value.
	want := map[string]string{"token": "t0k3n", "user": "you", "empty": "", "multi": "a\nb\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("OpenData mismatch (-want +got):\n%s", diff)
	}
	if v, err := k.OpenValue("gh", "user", sealed["user"]); err != nil || v != "you" {
		t.Errorf("OpenValue = %q, %v", v, err)
	}
	// Values are bound to their secret and key.
	if _, err := k.OpenValue("gh", "user", sealed["token"]); err == nil {
		t.Error("a value moved to another key decrypted")
	}
	if _, err := k.OpenData("other", sealed); err == nil {
		t.Error("values moved to another secret decrypted")
	}
	empty, err := k.OpenData("gh", nil)
	if err != nil || len(empty) != 0 {
		t.Errorf("OpenData(nil) = %v, %v", empty, err)
	}
}

func TestOpenDataKeyError(t *testing.T) {
	t.Parallel()
	const plain = "do-not-print-me"
	k := newKeyring(t, GenerateKey())
	otherKey := GenerateKey()
	foreign, err := newKeyring(t, otherKey).SealData("gh", map[string]*string{"token": ptr(plain)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = k.OpenData("gh", foreign)
	var ke *KeyError
	if !errors.As(err, &ke) {
		t.Fatalf("OpenData error %v is not a *KeyError", err)
	}
	if ke.Secret != "gh" || ke.Key != "token" {
		t.Errorf("KeyError names secret %q key %q, want gh token", ke.Secret, ke.Key)
	}
	if !errors.Is(err, ErrUnknownKey) {
		t.Errorf("error %v does not wrap ErrUnknownKey", err)
	}
	for _, w := range []string{"secret gh", "key token", KeyID(otherKey)} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q lacks %q", err, w)
		}
	}
	errorLacks(t, err, plain, foreign["token"], EncodeKey(otherKey))

	// A tampered value: a KeyError, but not an unknown key.
	sealed, err := k.SealData("gh", map[string]*string{"token": ptr(plain)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sealed["token"] = sealed["token"][:len(sealed["token"])-2] + "AA"
	_, err = k.OpenData("gh", sealed)
	if !errors.As(err, &ke) || errors.Is(err, ErrUnknownKey) {
		t.Errorf("tampered value: %v, want a KeyError that is not ErrUnknownKey", err)
	}
	errorLacks(t, err, plain, sealed["token"])
}

func TestReseal(t *testing.T) {
	t.Parallel()
	oldKey, newKey, lostKey := GenerateKey(), GenerateKey(), GenerateKey()
	plain := map[string]*string{"a": ptr("1"), "b": ptr("2"), "c": ptr("3")}
	underOld, err := newKeyring(t, oldKey).SealData("gh", plain, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := newKeyring(t, newKey, oldKey)
	underNew, err := k.SealData("gh", map[string]*string{"d": ptr("4")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mixed := map[string]string{"a": underOld["a"], "b": underOld["b"], "c": underOld["c"], "d": underNew["d"]}
	before := make(map[string]string, len(mixed))
	for key, ct := range mixed {
		before[key] = ct
	}

	out, n, err := k.Reseal("gh", mixed)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Errorf("Reseal changed %d values, want 3", n)
	}
	if diff := cmp.Diff(before, mixed); diff != "" {
		t.Errorf("Reseal modified its input (-want +got):\n%s", diff)
	}
	if out["d"] != underNew["d"] {
		t.Error("Reseal re-encrypted a value already under the current key")
	}
	for key, ct := range out {
		if KeyIDOf(ct) != KeyID(newKey) {
			t.Errorf("value %s is under key %s, want %s", key, KeyIDOf(ct), KeyID(newKey))
		}
	}
	got, err := newKeyring(t, newKey).OpenData("gh", out)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"}, got); diff != "" {
		t.Errorf("resealed values (-want +got):\n%s", diff)
	}

	// Nothing to do the second time.
	if _, n, err := k.Reseal("gh", out); err != nil || n != 0 {
		t.Errorf("second Reseal = %d, %v; want 0, nil", n, err)
	}

	// A value under a key the keyring lacks stops the reseal.
	lost, err := newKeyring(t, lostKey).SealData("gh", map[string]*string{"z": ptr("secret-z")}, nil)
	if err != nil {
		t.Fatal(err)
	}
	mixed["z"] = lost["z"]
	res, n, err := k.Reseal("gh", mixed)
	var ke *KeyError
	if !errors.As(err, &ke) || ke.Key != "z" || !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Reseal with an unknown key: %v, want a KeyError for z wrapping ErrUnknownKey", err)
	}
	if res != nil || n != 0 {
		t.Errorf("failed Reseal returned %d values, n = %d", len(res), n)
	}
	errorLacks(t, err, "secret-z")
}

func TestKeyErrorMessage(t *testing.T) {
	t.Parallel()
	inner := errors.New("boom")
	err := error(&KeyError{Secret: "github", Key: "token", Err: inner})
	if got, want := err.Error(), "secret github key token: boom"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, inner) {
		t.Error("KeyError does not unwrap to its cause")
	}
}
