package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
)

// plainSecrets maps secret name to its plaintext data.
type plainSecrets map[string]map[string]string

func openStore(t *testing.T, cfg *config.Config) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), store.Options{SQLitePath: filepath.Join(cfg.DataDir, "mcpd.db")})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// seedSecrets stores secrets sealed by keys, the way the API does
// (internal/apiserver sealedSecret).
func seedSecrets(t *testing.T, cfg *config.Config, keys *secret.Keyring, secrets plainSecrets) {
	t.Helper()
	st := openStore(t, cfg)
	defer st.Close()
	now := time.Now().UTC()
	err := st.UpdateResources(context.Background(), func(tx store.ResourceTx) error {
		for name, data := range secrets {
			in := map[string]*string{}
			for k, v := range data {
				in[k] = &v
			}
			sealed, err := keys.SealData(name, in, nil)
			if err != nil {
				return err
			}
			spec, err := json.Marshal(map[string]any{"data": sealed})
			if err != nil {
				return err
			}
			r := store.Resource{ResourceKey: store.ResourceKey{Kind: "Secret", Name: name}, Spec: spec, CreatedAt: now, UpdatedAt: now}
			if err := tx.Create(&r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// storedSecrets reads every stored secret's sealed data.
func storedSecrets(t *testing.T, cfg *config.Config) map[string]map[string]string {
	t.Helper()
	st := openStore(t, cfg)
	defer st.Close()
	out := map[string]map[string]string{}
	f := store.ResourceFilter{Kind: "Secret", Limit: 1000}
	for {
		page, err := st.ListResources(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page {
			var spec struct {
				Data map[string]string `json:"data"`
			}
			if err := json.Unmarshal(r.Spec, &spec); err != nil {
				t.Fatalf("stored secret %s: %v", r.Name, err)
			}
			out[r.Name] = spec.Data
		}
		if len(page) < f.Limit {
			return out
		}
		f.After = page[len(page)-1].ResourceKey
	}
}

// checkSealedWith fails unless every stored value is under key and opens
// to want.
func checkSealedWith(t *testing.T, cfg *config.Config, key []byte, want plainSecrets) {
	t.Helper()
	keys, err := secret.NewKeyring([][]byte{key})
	if err != nil {
		t.Fatal(err)
	}
	got := plainSecrets{}
	for name, data := range storedSecrets(t, cfg) {
		for k, ct := range data {
			if id := secret.KeyIDOf(ct); id != secret.KeyID(key) {
				t.Errorf("secret %s key %s is under key %q, want %s", name, k, id, secret.KeyID(key))
			}
		}
		if got[name], err = keys.OpenData(name, data); err != nil {
			t.Errorf("open secret %s: %v", name, err)
		}
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored secrets (-want +got):\n%s", diff)
	}
}

func readKeys(t *testing.T, file string) [][]byte {
	t.Helper()
	keys, err := secret.ReadKeyFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return keys
}

var twoSecrets = plainSecrets{
	"github":   {"token": "ghp_plaintext", "user": "octocat"},
	"postgres": {"password": "pg-plaintext"},
	"empty":    {},
}

func TestRotateKeyFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg := testConfig(t, nil)
	running, src, err := secret.Load("", cfg.SecretKeyFile())
	if err != nil || !src.Created {
		t.Fatalf("Load = %+v, %v; want a created key file", src, err)
	}
	oldKeys := readKeys(t, cfg.SecretKeyFile())
	seedSecrets(t, cfg, running, twoSecrets)

	var out bytes.Buffer
	if err := rotate(ctx, cfg, &out); err != nil {
		t.Fatalf("rotate: %v\n%s", err, out.String())
	}
	keys := readKeys(t, cfg.SecretKeyFile())
	if len(keys) != 1 {
		t.Fatalf("key file holds %d keys after rotation, want 1", len(keys))
	}
	newKey := keys[0]
	if bytes.Equal(newKey, oldKeys[0]) {
		t.Fatal("key file still holds the old key")
	}
	if fi, err := os.Stat(cfg.SecretKeyFile()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file after rotation: %v, %v; want mode 0600", fi.Mode(), err)
	}
	checkSealedWith(t, cfg, newKey, twoSecrets)
	for _, want := range []string{
		fmt.Sprintf("re-encrypted 3 values in 2 secrets with key %s", secret.KeyID(newKey)),
		"now holds only the new key",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), secret.EncodeKey(newKey)) {
		t.Errorf("output shows the key:\n%s", out.String())
	}

	// A running mcpd with the file keyring follows the rotation.
	if got := running.CurrentID(); got != secret.KeyID(newKey) {
		t.Errorf("running keyring's key is %s, want %s", got, secret.KeyID(newKey))
	}
	stored := storedSecrets(t, cfg)
	if v, err := running.OpenValue("github", "token", stored["github"]["token"]); err != nil || v != "ghp_plaintext" {
		t.Errorf("running keyring OpenValue = %q, %v", v, err)
	}

	// A second rotation moves everything again.
	out.Reset()
	if err := rotate(ctx, cfg, &out); err != nil {
		t.Fatalf("second rotate: %v", err)
	}
	again := readKeys(t, cfg.SecretKeyFile())
	if len(again) != 1 || bytes.Equal(again[0], newKey) {
		t.Fatalf("second rotation left %d keys, first the same as before: %v", len(again), len(again) > 0 && bytes.Equal(again[0], newKey))
	}
	checkSealedWith(t, cfg, again[0], twoSecrets)
	if !strings.Contains(out.String(), "re-encrypted 3 values in 2 secrets") {
		t.Errorf("second rotation output:\n%s", out.String())
	}
}

func TestRotateNoSecrets(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, nil)
	if _, _, err := secret.Load("", cfg.SecretKeyFile()); err != nil {
		t.Fatal(err)
	}
	old := readKeys(t, cfg.SecretKeyFile())
	var out bytes.Buffer
	if err := rotate(context.Background(), cfg, &out); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if !strings.Contains(out.String(), "re-encrypted 0 values in 0 secrets") {
		t.Errorf("output:\n%s", out.String())
	}
	if keys := readKeys(t, cfg.SecretKeyFile()); len(keys) != 1 || bytes.Equal(keys[0], old[0]) {
		t.Errorf("key file holds %d keys, want one new key", len(keys))
	}
}

// More secrets than one page of the store listing.
func TestRotateManySecrets(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, nil)
	old, _, err := secret.Load("", cfg.SecretKeyFile())
	if err != nil {
		t.Fatal(err)
	}
	many := plainSecrets{}
	for i := range 1001 {
		many[fmt.Sprintf("s%04d", i)] = map[string]string{"v": fmt.Sprint(i)}
	}
	seedSecrets(t, cfg, old, many)
	var out bytes.Buffer
	if err := rotate(context.Background(), cfg, &out); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	if !strings.Contains(out.String(), "re-encrypted 1001 values in 1001 secrets") {
		t.Errorf("output:\n%s", out.String())
	}
	checkSealedWith(t, cfg, readKeys(t, cfg.SecretKeyFile())[0], many)
}

func TestRotateEnvKeys(t *testing.T) {
	t.Parallel()
	oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
	cfg := testConfig(t, map[string]string{
		"MCPD_SECRET_KEY": secret.EncodeKey(newKey) + "," + secret.EncodeKey(oldKey),
	})
	oldRing, err := secret.NewKeyring([][]byte{oldKey})
	if err != nil {
		t.Fatal(err)
	}
	seedSecrets(t, cfg, oldRing, twoSecrets)
	var out bytes.Buffer
	if err := rotate(context.Background(), cfg, &out); err != nil {
		t.Fatalf("rotate: %v", err)
	}
	checkSealedWith(t, cfg, newKey, twoSecrets)
	for _, want := range []string{
		fmt.Sprintf("re-encrypted 3 values in 2 secrets with key %s", secret.KeyID(newKey)),
		"first key of MCPD_SECRET_KEY",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(cfg.SecretKeyFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rotation with MCPD_SECRET_KEY touched the key file: %v", err)
	}
}

// A value under a key rotate does not have stops the rotation before it
// writes anything.
func TestRotateEnvMissingOldKey(t *testing.T) {
	t.Parallel()
	oldKey, newKey := secret.GenerateKey(), secret.GenerateKey()
	cfg := testConfig(t, map[string]string{"MCPD_SECRET_KEY": secret.EncodeKey(newKey)})
	oldRing, err := secret.NewKeyring([][]byte{oldKey})
	if err != nil {
		t.Fatal(err)
	}
	seedSecrets(t, cfg, oldRing, twoSecrets)
	before := storedSecrets(t, cfg)
	var out bytes.Buffer
	err = rotate(context.Background(), cfg, &out)
	if !errors.Is(err, secret.ErrUnknownKey) {
		t.Fatalf("rotate = %v, want ErrUnknownKey", err)
	}
	if !strings.Contains(err.Error(), secret.KeyID(oldKey)) {
		t.Errorf("error %q does not name the missing key %s", err, secret.KeyID(oldKey))
	}
	for _, plain := range []string{"ghp_plaintext", "octocat", "pg-plaintext"} {
		if strings.Contains(err.Error(), plain) {
			t.Errorf("error %q reveals a value", err)
		}
	}
	if diff := cmp.Diff(before, storedSecrets(t, cfg)); diff != "" {
		t.Errorf("a failed rotation changed the store (-before +after):\n%s", diff)
	}
}

func TestRotateNoKey(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, nil)
	var out bytes.Buffer
	err := rotate(context.Background(), cfg, &out)
	if err == nil || !strings.Contains(err.Error(), "no key to rotate") || !strings.Contains(err.Error(), cfg.SecretKeyFile()) {
		t.Fatalf("rotate without a key = %v; want an error naming the key file and saying there is no key to rotate", err)
	}
	if _, err := os.Stat(cfg.SecretKeyFile()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("rotate created a key file: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("output: %q", out.String())
	}
}

func TestRotateRefusesReadableKeyFile(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, nil)
	if _, _, err := secret.Load("", cfg.SecretKeyFile()); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(cfg.SecretKeyFile(), 0o644); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(cfg.SecretKeyFile())
	err := rotate(context.Background(), cfg, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("rotate with a 0644 key file = %v, want a chmod 600 error", err)
	}
	if after, _ := os.ReadFile(cfg.SecretKeyFile()); !bytes.Equal(before, after) {
		t.Error("rotate rewrote a key file it refused")
	}
}

func TestUnknownSecretKeys(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	known, lost := secret.GenerateKey(), secret.GenerateKey()
	cfg := testConfig(t, nil)
	knownRing, err := secret.NewKeyring([][]byte{known})
	if err != nil {
		t.Fatal(err)
	}
	lostRing, err := secret.NewKeyring([][]byte{lost})
	if err != nil {
		t.Fatal(err)
	}
	seedSecrets(t, cfg, knownRing, plainSecrets{"a": {"x": "1"}, "b": {"y": "2"}})
	seedSecrets(t, cfg, lostRing, plainSecrets{"c": {"x": "3", "y": "4"}, "d": {"z": "5"}})
	st := openStore(t, cfg)
	defer st.Close()

	got, err := unknownSecretKeys(ctx, st, knownRing)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{secret.KeyID(lost)}, got); diff != "" {
		t.Errorf("unknownSecretKeys (-want +got):\n%s", diff)
	}
	both, err := secret.NewKeyring([][]byte{known, lost})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := unknownSecretKeys(ctx, st, both); err != nil || len(got) != 0 {
		t.Errorf("unknownSecretKeys with every key = %v, %v; want none", got, err)
	}
}

func TestMainRotateSecretKeyArgs(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	code := Main([]string{"rotate-secret-key", "extra"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "rotate-secret-key takes no arguments") {
		t.Errorf("Main(rotate-secret-key extra) = %d, stderr %q; want 2 and a usage error", code, errb.String())
	}
	if out.Len() != 0 {
		t.Errorf("stdout: %q", out.String())
	}
}

// Main reads the configuration from the environment.
func TestMainRotateSecretKey(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("MCPD_DATA_DIR", dir)
	t.Setenv("MCPD_SECRET_KEY", "")
	t.Setenv("MCPD_DATABASE_URL", "")

	var out, errb bytes.Buffer
	if code := Main([]string{"rotate-secret-key"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "no key to rotate") {
		t.Errorf("Main without a key = %d, stderr %q; want 1 and no key to rotate", code, errb.String())
	}

	if _, _, err := secret.Load("", filepath.Join(dir, "secret-key")); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errb.Reset()
	if code := Main([]string{"rotate-secret-key"}, &out, &errb); code != 0 {
		t.Fatalf("Main = %d, stderr %q", code, errb.String())
	}
	if !strings.Contains(out.String(), "re-encrypted 0 values") {
		t.Errorf("stdout %q", out.String())
	}

	t.Setenv("MCPD_SECRET_KEY", "not-a-key")
	errb.Reset()
	if code := Main([]string{"rotate-secret-key"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "configuration error") {
		t.Errorf("Main with a bad MCPD_SECRET_KEY = %d, stderr %q", code, errb.String())
	}
	if strings.Contains(errb.String(), "not-a-key") {
		t.Errorf("stderr echoes the key: %q", errb.String())
	}
}

// With PostgreSQL the secret key must be shared by every replica: a
// production mcpd refuses to start without MCPD_SECRET_KEY, and rotation
// refuses the per-host key file.
func TestPostgresNeedsSharedSecretKey(t *testing.T) {
	t.Parallel()
	pg := "postgres://mcpd@127.0.0.1:1/mcpd?sslmode=disable"
	cfg := testConfig(t, map[string]string{"MCPD_DATABASE_URL": pg, "MCPD_ENV": "production"})
	err := Run(context.Background(), cfg, Deps{Log: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "MCPD_SECRET_KEY is required with PostgreSQL in production") {
		t.Errorf("Run without MCPD_SECRET_KEY in production on PostgreSQL: %v", err)
	}
	if _, statErr := os.Stat(cfg.SecretKeyFile()); !errors.Is(statErr, fs.ErrNotExist) {
		t.Errorf("a key file was created anyway: %v", statErr)
	}
	cfg = testConfig(t, map[string]string{"MCPD_DATABASE_URL": pg})
	err = rotate(context.Background(), cfg, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "with PostgreSQL, rotate through MCPD_SECRET_KEY") {
		t.Errorf("rotate with a key file on PostgreSQL: %v", err)
	}
}
