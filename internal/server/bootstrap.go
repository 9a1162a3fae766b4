package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"github.com/mcpctl/mcpctl/internal/auth"
	"github.com/mcpctl/mcpctl/internal/config"
	"github.com/mcpctl/mcpctl/internal/store"
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
		return store.User{ID: newID(), Email: email, Name: "Administrator", PasswordHash: auth.HashPassword(password),
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

// newID returns a random UUIDv4 string.
func newID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
