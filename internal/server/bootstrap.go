package server

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/store"
	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
)

// PasswordFile is where a generated bootstrap password is written (0600)
// in the data directory.
const PasswordFile = "bootstrap-admin-password"

// bootstrapAdmin creates the first admin when the store has no user. It
// returns the admin email and, when the password was generated, the file
// holding it.
func bootstrapAdmin(ctx context.Context, cfg *config.Config, st store.Store, log *slog.Logger) (email, file string, err error) {
	email = cfg.BootstrapAdminEmail
	password := cfg.BootstrapAdminPassword
	generated := password == ""
	if generated {
		password = randomPassword(24)
	}
	created, err := st.CreateFirstUser(ctx, func() store.User {
		// Hashed only when the store is empty: every later start skips it.
		now := time.Now().UTC()
		return store.User{ID: auth.NewID(), Email: email, Name: "Administrator", PasswordHash: auth.HashPassword(password),
			CreatedAt: now, UpdatedAt: now}
	})
	if err != nil {
		return "", "", fmt.Errorf("bootstrap admin: %w", err)
	}
	if !created {
		return email, "", nil
	}
	if !generated {
		log.Info("bootstrap admin created from MCPD_BOOTSTRAP_ADMIN_EMAIL/PASSWORD", "email", email)
		return email, "", nil
	}
	file = filepath.Join(cfg.DataDir, PasswordFile)
	// Printed once, on the start that creates the admin, before the file is
	// written: if the write fails, the log still holds the only copy.
	log.Warn("bootstrap admin created with a generated password; store it safely, then delete the file",
		"email", email, "password", password, "file", file)
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		return "", "", fmt.Errorf("write bootstrap password file (the password is in the log line above): %w", err)
	}
	return email, file, nil
}

const alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

func randomPassword(n int) string {
	b := make([]byte, n)
	max := big.NewInt(int64(len(alphabet)))
	for i := range b {
		k, _ := rand.Int(rand.Reader, max)
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

// ensureAdminGroup creates the built-in admin group when it is missing (a
// new store, or one from before RBAC), with the bootstrap admin as its
// member, or, when that user does not exist, the user created first.
func ensureAdminGroup(ctx context.Context, st store.Store, email string, log *slog.Logger) error {
	created := ""
	err := st.UpdateResources(ctx, func(tx store.ResourceTx) error {
		key := store.ResourceKey{Kind: "Group", Name: v1.AdminGroup}
		if _, err := tx.Get(key); err == nil || !errors.Is(err, store.ErrNotFound) {
			return err
		}
		member := ""
		if _, err := tx.GetUser(email); err == nil {
			member = email
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		} else if member, err = firstUser(ctx, st); err != nil {
			return err
		}
		spec := v1.GroupSpec{Description: "Built-in: members hold every right.", Members: []string{member}}
		b, err := json.Marshal(&spec)
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		created = member
		return tx.Create(&store.Resource{ResourceKey: key, Spec: b, CreatedAt: now, UpdatedAt: now})
	})
	if err != nil {
		return fmt.Errorf("create the admin group: %w", err)
	}
	if created != "" {
		log.Info("admin group created", "member", created)
	}
	return nil
}

// firstUser is the email of the user created first.
func firstUser(ctx context.Context, st store.Store) (string, error) {
	var first store.User
	after := ""
	for {
		page, err := st.ListUsers(ctx, after, 500)
		if err != nil {
			return "", err
		}
		for _, u := range page {
			if first.Email == "" || u.CreatedAt.Before(first.CreatedAt) {
				first = u
			}
			after = u.Email
		}
		if len(page) < 500 {
			return first.Email, nil
		}
	}
}
