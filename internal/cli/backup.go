package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
	"golang.org/x/crypto/argon2"
)

// BackupFormat names the archive format and version.
const BackupFormat = "mcpctl-backup/v1"

// Backup is the archive `mcpctl backup` writes: every object as the API
// shows it (secret values null) and the secret values sealed with a key
// derived from a passphrase. The sealing also authenticates the objects
// and the creation time (their SHA-256 is the associated data), so an
// archive whose servers were altered does not restore.
type Backup struct {
	Format    string    `json:"format"`
	CreatedAt time.Time `json:"createdAt"`
	Source    string    `json:"source,omitempty"`
	// Objects is the JSON list of objects, kept as written so its hash can
	// be checked.
	Objects json.RawMessage `json:"objects"`
	Secrets SealedBox       `json:"secrets"`
}

// associatedData binds the sealed values to the objects and time.
func (b *Backup) associatedData() ([]byte, error) {
	var compact bytes.Buffer
	if err := json.Compact(&compact, b.Objects); err != nil {
		return nil, fmt.Errorf("the archive's objects are not valid JSON: %w", err)
	}
	sum := sha256.Sum256(compact.Bytes())
	return []byte(b.Format + "\n" + b.CreatedAt.UTC().Format(time.RFC3339Nano) + "\n" + hex.EncodeToString(sum[:])), nil
}

// SealedBox is AES-256-GCM ciphertext under a key derived from a
// passphrase with argon2id.
type SealedBox struct {
	KDF        KDFParams `json:"kdf"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
}

// KDFParams are the argon2id parameters of a SealedBox.
type KDFParams struct {
	Name    string `json:"name"`
	Salt    []byte `json:"salt"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memoryKiB"`
	Threads uint8  `json:"threads"`
}

// minPassphrase is the shortest backup passphrase accepted.
const minPassphrase = 12

func deriveKey(pass string, p KDFParams) ([]byte, error) {
	if p.Name != "argon2id" || len(p.Salt) < 16 || p.Time < 1 || p.Time > 6 || p.Memory < 8<<10 || p.Memory > 256<<10 || p.Threads < 1 || p.Threads > 16 {
		return nil, errors.New("the archive's key derivation parameters are not ones mcpctl writes; the file may be damaged")
	}
	return argon2.IDKey([]byte(pass), p.Salt, p.Time, p.Memory, p.Threads, 32), nil
}

// Seal encrypts plain with a key derived from pass; aad is authenticated
// with it.
func Seal(pass string, plain, aad []byte) (SealedBox, error) {
	p := KDFParams{Name: "argon2id", Salt: make([]byte, 16), Time: 3, Memory: 64 << 10, Threads: 4}
	if _, err := rand.Read(p.Salt); err != nil {
		return SealedBox{}, err
	}
	key, err := deriveKey(pass, p)
	if err != nil {
		return SealedBox{}, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return SealedBox{}, err
	}
	box := SealedBox{KDF: p, Nonce: make([]byte, aead.NonceSize())}
	if _, err := rand.Read(box.Nonce); err != nil {
		return SealedBox{}, err
	}
	box.Ciphertext = aead.Seal(nil, box.Nonce, plain, aad)
	return box, nil
}

// Open decrypts a box sealed with the same aad; a wrong passphrase and an
// altered archive give the same error.
func (b SealedBox) Open(pass string, aad []byte) ([]byte, error) {
	key, err := deriveKey(pass, b.KDF)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(b.Nonce) != aead.NonceSize() {
		return nil, errors.New("the archive's nonce is damaged")
	}
	plain, err := aead.Open(nil, b.Nonce, b.Ciphertext, aad)
	if err != nil {
		return nil, errors.New("cannot decrypt the secret values: the passphrase is wrong or the archive was altered")
	}
	return plain, nil
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// readPassphrase reads the passphrase from the first line of standard
// input, or asks twice on the terminal.
func readPassphrase(f *Factory, fromStdin, confirmIt bool) (string, error) {
	var pass string
	switch {
	case fromStdin:
		line, err := bufio.NewReader(f.IO.In).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the passphrase from standard input: %w", err)
		}
		pass = strings.TrimRight(line, "\r\n")
	case f.IO.InTTY && f.ReadPassword != nil:
		fmt.Fprint(f.IO.ErrOut, "Backup passphrase: ")
		p, err := f.ReadPassword()
		fmt.Fprintln(f.IO.ErrOut)
		if err != nil {
			return "", err
		}
		pass = p
		if confirmIt {
			fmt.Fprint(f.IO.ErrOut, "Repeat the passphrase: ")
			again, err := f.ReadPassword()
			fmt.Fprintln(f.IO.ErrOut)
			if err != nil {
				return "", err
			}
			if again != pass {
				return "", &UsageError{Msg: "the passphrases differ; nothing was written"}
			}
		}
	default:
		return "", &UsageError{Msg: "no terminal to ask for the passphrase: pass it on standard input with --passphrase-stdin"}
	}
	if len([]rune(pass)) < minPassphrase {
		return "", &UsageError{Msg: fmt.Sprintf("the passphrase must be at least %d characters", minPassphrase)}
	}
	return pass, nil
}

// BackupOptions are the inputs of `mcpctl backup`.
type BackupOptions struct {
	F               *Factory
	Output          string
	PassphraseStdin bool
}

// NewCmdBackup builds `mcpctl backup`.
func NewCmdBackup(f *Factory, runF func(*BackupOptions) error) *cobra.Command {
	o := &BackupOptions{F: f}
	cmd := &cobra.Command{
		Use:   "backup -o FILE [--passphrase-stdin]",
		Short: "Write every resource, secret values included, to an encrypted archive",
		Long: `Write every resource to FILE (mode 0600). Secret values are included,
encrypted with AES-256-GCM under a key derived from a passphrase
(argon2id); everything else is readable JSON. Restore with
'mcpctl restore -f FILE'.

The passphrase is asked for twice on a terminal, or read from the first
line of standard input with --passphrase-stdin. It is at least 12
characters; without it the secret values cannot be restored.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Output == "" {
				return &UsageError{Msg: "backup needs -o FILE"}
			}
			if runF != nil {
				return runF(o)
			}
			return backupRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "the archive file to write")
	cmd.Flags().BoolVar(&o.PassphraseStdin, "passphrase-stdin", false, "read the passphrase from standard input")
	return cmd
}

func backupRun(ctx context.Context, o *BackupOptions) error {
	pass, err := readPassphrase(o.F, o.PassphraseStdin, true)
	if err != nil {
		return err
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	// One consistent read of everything, values included.
	objs, err := c.Export(ctx, true)
	if err != nil {
		return err
	}
	values := map[string]map[string]string{}
	for i := range objs {
		if s, ok := objs[i].Spec.(*v1.SecretSpec); ok {
			vals := map[string]string{}
			for key, v := range s.Data {
				if v != nil {
					vals[key] = *v
				}
			}
			values[objs[i].Metadata.Name] = vals
			objs[i].Spec = s.Redacted()
		}
	}
	b := Backup{Format: BackupFormat, CreatedAt: time.Now().UTC(), Source: c.URL()}
	if b.Objects, err = json.Marshal(objs); err != nil {
		return err
	}
	plain, err := json.Marshal(values)
	if err != nil {
		return err
	}
	aad, err := b.associatedData()
	if err != nil {
		return err
	}
	if b.Secrets, err = Seal(pass, plain, aad); err != nil {
		return err
	}
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := WriteFileAtomic(o.Output, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", o.Output, err)
	}
	fmt.Fprintf(o.F.IO.Out, "wrote %d objects (%d secrets, values encrypted) to %s\n", len(objs), len(values), o.Output)
	if size := len(b.Objects) + len(plain); len(objs) > v1.MaxApplyObjects || size > v1.MaxApplyBody {
		fmt.Fprintf(o.F.IO.ErrOut, "warning: restore sends the archive in one apply, and mcpd takes at most %d objects and %s "+
			"(or MCPD_BODY_LIMIT, if larger) in one; this one has %d objects and %s: raise MCPD_BODY_LIMIT on the mcpd you restore to\n",
			v1.MaxApplyObjects, humanBytes(v1.MaxApplyBody), len(objs), humanBytes(int64(size)))
	}
	return nil
}

// RestoreOptions are the inputs of `mcpctl restore`.
type RestoreOptions struct {
	F               *Factory
	File            string
	OnConflict      string
	PassphraseStdin bool
	DryRun          bool
}

// NewCmdRestore builds `mcpctl restore`.
func NewCmdRestore(f *Factory, runF func(*RestoreOptions) error) *cobra.Command {
	o := &RestoreOptions{F: f}
	cmd := &cobra.Command{
		Use:   "restore -f FILE [--on-conflict fail|skip|overwrite] [--passphrase-stdin]",
		Short: "Bring back the resources of a backup archive",
		Long: `Restore every resource of an archive written by 'mcpctl backup', secret
values included, in one transaction.

--on-conflict says what happens to objects that already exist: fail (the
default: nothing is written if any exists), skip (leave them as they are)
or overwrite (replace them with the archive's version).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.File == "" {
				return &UsageError{Msg: "restore needs -f FILE"}
			}
			switch o.OnConflict {
			case "fail", "skip", "overwrite":
			default:
				return &UsageError{Msg: fmt.Sprintf("--on-conflict %q is not supported: use fail, skip or overwrite", o.OnConflict)}
			}
			if runF != nil {
				return runF(o)
			}
			return restoreRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.File, "filename", "f", "", "the archive")
	cmd.Flags().StringVar(&o.OnConflict, "on-conflict", "fail", "fail, skip or overwrite")
	cmd.Flags().BoolVar(&o.PassphraseStdin, "passphrase-stdin", false, "read the passphrase from standard input")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "check everything and show what would change, writing nothing")
	return cmd
}

// maxArchive bounds the archive restore reads.
const maxArchive = 256 << 20

func restoreRun(ctx context.Context, o *RestoreOptions) error {
	if o.File == "-" && o.PassphraseStdin {
		return &UsageError{Msg: "-f - and --passphrase-stdin both read standard input; give the archive as a file"}
	}
	data, err := readLimitedTo(o.File, o.F.IO.In, maxArchive, "backup archives", "this is not an archive mcpctl wrote")
	if err != nil {
		return err
	}
	var b Backup
	if err := json.Unmarshal(data, &b); err != nil {
		return fmt.Errorf("%s is not a backup archive: %v", o.File, err)
	}
	if b.Format != BackupFormat {
		return fmt.Errorf("%s is not a %s archive (format %q)", o.File, BackupFormat, b.Format)
	}
	aad, err := b.associatedData()
	if err != nil {
		return err
	}
	pass, err := readPassphrase(o.F, o.PassphraseStdin, false)
	if err != nil {
		return err
	}
	plain, err := b.Secrets.Open(pass, aad)
	if err != nil {
		return err
	}
	var values map[string]map[string]string
	if err := json.Unmarshal(plain, &values); err != nil {
		return fmt.Errorf("the archive's secret values are damaged: %w", err)
	}
	var list []v1.Object
	if err := json.Unmarshal(b.Objects, &list); err != nil {
		return fmt.Errorf("the archive's objects cannot be read: %w", err)
	}
	objs := make([]*v1.Object, len(list))
	for i := range list {
		obj := &list[i]
		obj.Metadata.ResourceVersion = ""
		obj.Metadata.CreatedAt, obj.Metadata.UpdatedAt = nil, nil
		if s, ok := obj.Spec.(*v1.SecretSpec); ok {
			if s.Data == nil {
				s.Data = map[string]*string{}
			}
			for key, v := range values[obj.Metadata.Name] {
				s.Data[key] = &v
			}
		}
		objs[i] = obj
	}
	if len(objs) == 0 {
		fmt.Fprintln(o.F.IO.Out, "the archive holds no objects")
		return nil
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	onConflict := o.OnConflict
	if onConflict == "overwrite" {
		onConflict = v1.OnConflictUpdate
	}
	resp, err := c.Apply(ctx, objs, client.ApplyOptions{DryRun: o.DryRun, OnConflict: onConflict})
	if err != nil {
		return err
	}
	printApplyResults(o.F.IO.Out, resp)
	return nil
}
