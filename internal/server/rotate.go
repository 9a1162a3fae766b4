package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/secret"
	"github.com/mcpctl/mcpctl/internal/store"
)

// eachSecret calls fn with every stored secret and its sealed values.
func eachSecret(list func(store.ResourceFilter) ([]store.Resource, error), fn func(store.Resource, map[string]string) error) error {
	return store.EachResource(list, "Secret", func(r store.Resource) error {
		d, err := secret.ParseSealed(r.Spec)
		if err != nil {
			return fmt.Errorf("secret %s: %w", r.Name, err)
		}
		return fn(r, d.Data)
	})
}

// unknownSecretKeys lists the key ids of stored values that keys cannot
// decrypt.
func unknownSecretKeys(ctx context.Context, st store.Store, keys *secret.Keyring) ([]string, error) {
	seen := map[string]bool{}
	var unknown []string
	err := eachSecret(func(f store.ResourceFilter) ([]store.Resource, error) { return st.ListResources(ctx, f) },
		func(r store.Resource, data map[string]string) error {
			for key, ct := range data {
				if ct == secret.Unset {
					continue
				}
				id := secret.KeyIDOf(ct)
				if seen[id] {
					continue
				}
				seen[id] = true
				if _, err := keys.OpenValue(r.Name, key, ct); errors.Is(err, secret.ErrUnknownKey) {
					unknown = append(unknown, id)
				}
			}
			return nil
		})
	sort.Strings(unknown)
	return unknown, err
}

// rotateSecretKey re-encrypts every stored secret value with a new key.
//
// With the key file: a new key is generated and written first in the file
// (the old ones stay, so a running mcpd, which re-reads the file, can still
// decrypt and starts encrypting with the new key), every value is
// re-encrypted in one transaction, and then the old keys are dropped from
// the file. With MCPD_SECRET_KEY the operator supplies the list: the first
// key is the new one; afterwards the others can be removed.
func rotateSecretKey(stdout, stderr io.Writer) int {
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(stderr, "mcpd: configuration error:\n%v\n", err)
		return 1
	}
	if err := rotate(context.Background(), cfg, stdout); err != nil {
		fmt.Fprintf(stderr, "mcpd rotate-secret-key: %v\n", err)
		return 1
	}
	return 0
}

func rotate(ctx context.Context, cfg *config.Config, out io.Writer) error {
	var keys *secret.Keyring
	file := cfg.SecretKeyFile()
	var newKey []byte
	if cfg.SecretKey != "" {
		list, err := secret.ParseKeys(cfg.SecretKey)
		if err != nil {
			return fmt.Errorf("MCPD_SECRET_KEY: %w", err)
		}
		if keys, err = secret.NewKeyring(list); err != nil {
			return err
		}
	} else {
		if cfg.DatabaseURL != "" {
			return errors.New("with PostgreSQL, rotate through MCPD_SECRET_KEY: set it to NEW,OLD on every replica (a key file belongs to one host), then run rotate-secret-key")
		}
		old, err := secret.ReadKeyFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no key file at %s and MCPD_SECRET_KEY is unset: there is no key to rotate (mcpd creates the file on first start)", file)
		}
		if err != nil {
			return err
		}
		newKey = secret.GenerateKey()
		all := append([][]byte{newKey}, old...)
		if err := secret.WriteKeyFile(file, all); err != nil {
			return err
		}
		if keys, err = secret.NewKeyring(all); err != nil {
			return err
		}
	}
	st, err := store.Open(ctx, store.Options{PostgresURL: cfg.DatabaseURL, SQLitePath: filepath.Join(cfg.DataDir, "mcpd.db")})
	if err != nil {
		return err
	}
	defer st.Close()
	values, secrets := 0, map[string]bool{}
	// Re-encrypt until a pass changes nothing: a running mcpd may have
	// written a value with the old key just before it saw the new one.
	for pass := 0; ; pass++ {
		changed := 0
		err := st.UpdateResources(ctx, func(tx store.ResourceTx) error {
			return eachSecret(tx.List, func(r store.Resource, data map[string]string) error {
				sealed, n, err := keys.Reseal(r.Name, data)
				if err != nil || n == 0 {
					return err
				}
				if r.Spec, err = (secret.Sealed{Data: sealed}).Marshal(); err != nil {
					return err
				}
				r.UpdatedAt = time.Now().UTC()
				changed += n
				secrets[r.Name] = true
				return tx.Update(&r)
			})
		})
		if err != nil {
			return fmt.Errorf("re-encrypt (nothing was changed in this pass, and the old keys are kept): %w", err)
		}
		values += changed
		if changed == 0 {
			break
		}
		if pass == 4 {
			return fmt.Errorf("values are still being written under the old keys after %d passes (%d re-encrypted so far); every key is kept, run rotate-secret-key again", pass+1, values)
		}
	}
	fmt.Fprintf(out, "re-encrypted %d values in %d secrets with key %s\n", values, len(secrets), keys.CurrentID())
	if newKey != nil {
		if err := secret.WriteKeyFile(file, [][]byte{newKey}); err != nil {
			return fmt.Errorf("all values use the new key, but dropping the old keys from %s failed: %w", file, err)
		}
		fmt.Fprintf(out, "the key file %s now holds only the new key; back it up\n", file)
	} else {
		fmt.Fprintln(out, "every value now uses the first key of MCPD_SECRET_KEY; the other keys can be removed from it on every replica")
	}
	return nil
}
