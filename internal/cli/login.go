package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
)

// DefaultMCPDURL is where mcpd listens by default.
const DefaultMCPDURL = "http://127.0.0.1:3100"

// LoginOptions are the inputs of `mcpctl login`.
type LoginOptions struct {
	F             *Factory
	MCPDURL       string
	Email         string
	PasswordStdin bool
	Context       string
}

// NewCmdLogin builds `mcpctl login`; runF replaces the run function in tests.
func NewCmdLogin(f *Factory, runF func(*LoginOptions) error) *cobra.Command {
	o := &LoginOptions{F: f}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Log in to an mcpd and save the session in a context",
		Long: `Log in to an mcpd with email and password. The session token is saved in
the context (default: "default") of ~/.config/mcpctl/config.yaml (mode 0600),
which becomes the current context.

The password is asked on a terminal; in scripts pipe it with --password-stdin.`,
		Example: `  mcpctl login --mcpd-url http://127.0.0.1:3100 --email admin@mcpctl.local
  echo "$PASSWORD" | mcpctl login --mcpd-url https://mcpd.example.com --email me@example.com --password-stdin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return loginRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.MCPDURL, "mcpd-url", "", "URL of mcpd (default: the context's URL, else "+DefaultMCPDURL+")")
	cmd.Flags().StringVar(&o.Email, "email", "", "your email address (required)")
	cmd.Flags().BoolVar(&o.PasswordStdin, "password-stdin", false, "read the password from the first line of standard input")
	cmd.Flags().StringVar(&o.Context, "context-name", "", "name of the context to save (default: the current one, else \"default\")")
	return cmd
}

func loginRun(ctx context.Context, o *LoginOptions) error {
	if o.Email == "" {
		return &UsageError{Msg: "--email is required: mcpctl login --email you@example.com"}
	}
	if msg := v1.ValidateEmail(o.Email); msg != "" {
		return &UsageError{Msg: "--email " + msg}
	}
	cfg, path, err := o.F.Config()
	if err != nil {
		return err
	}
	name := o.Context
	if name == "" {
		name = o.F.ContextName
	}
	if name == "" {
		name = cfg.CurrentContext
	}
	if name == "" {
		name = "default"
	}
	if msg := v1.ValidateName(name); msg != "" {
		return &UsageError{Msg: fmt.Sprintf("context name %q %s", name, msg)}
	}
	url := o.MCPDURL
	if prev, ok := cfg.Context(name); ok && url == "" {
		url = prev.MCPDURL
	}
	if url == "" {
		url = DefaultMCPDURL
	}
	c, err := client.New(url, client.Options{})
	if err != nil {
		return &UsageError{Msg: err.Error()}
	}
	password, err := readPassword(o)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := c.Login(ctx, o.Email, password)
	if err != nil {
		return fmt.Errorf("log in to %s: %w", c.URL(), err)
	}
	cfg.Upsert(Context{Name: name, MCPDURL: c.URL(), Email: resp.User.Email, Token: resp.Token, ExpiresAt: resp.ExpiresAt})
	cfg.CurrentContext = name
	if err := cfg.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(o.F.IO.Out, "Logged in to %s as %s (context %q; session expires %s)\n",
		c.URL(), resp.User.Email, name, formatTime(resp.ExpiresAt))
	return nil
}

func readPassword(o *LoginOptions) (string, error) {
	if o.PasswordStdin {
		pw, err := stdinLine(bufio.NewReader(o.F.IO.In))
		if err == nil && pw == "" {
			err = &UsageError{Msg: "--password-stdin: the first line of standard input is empty"}
		}
		return pw, err
	}
	if !o.F.IO.InTTY || o.F.ReadPassword == nil {
		return "", &UsageError{Msg: "no terminal to ask for the password: pipe it with --password-stdin"}
	}
	pw, err := askPassword(o.F, "Password: ")
	if err == nil && pw == "" {
		err = &UsageError{Msg: "the password is empty"}
	}
	return pw, err
}

// stdinLine reads the next line of piped input (--password-stdin),
// without its line ending.
func stdinLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil && line == "" {
		return "", &UsageError{Msg: "--password-stdin: standard input is empty; pipe the password in"}
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// LogoutOptions are the inputs of `mcpctl logout`.
type LogoutOptions struct {
	F *Factory
}

// NewCmdLogout builds `mcpctl logout`.
func NewCmdLogout(f *Factory, runF func(*LogoutOptions) error) *cobra.Command {
	o := &LogoutOptions{F: f}
	return &cobra.Command{
		Use:   "logout",
		Short: "Revoke the session of the current context and forget its token",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(o)
			}
			return logoutRun(cmd.Context(), o)
		},
	}
}

func logoutRun(ctx context.Context, o *LogoutOptions) error {
	cur, cfg, path, err := o.F.CurrentContext()
	if err != nil {
		return err
	}
	if cur.Token == "" {
		fmt.Fprintf(o.F.IO.Out, "Not logged in to %s (context %q)\n", cur.MCPDURL, cur.Name)
		return nil
	}
	c, err := o.F.Client(cur)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = c.Logout(ctx)
	// A token the server no longer accepts is logged out already.
	if err != nil && !client.IsCode(err, v1.CodeTokenInvalid) && !client.IsCode(err, v1.CodeTokenExpired) {
		var ue *client.UnreachableError
		if errors.As(err, &ue) {
			return fmt.Errorf("%w\nthe token is kept so you can retry; delete the context to forget it", err)
		}
		return fmt.Errorf("log out of %s: %w", cur.MCPDURL, err)
	}
	cur.Token, cur.ExpiresAt = "", time.Time{}
	if err := cfg.Save(path); err != nil {
		return err
	}
	fmt.Fprintf(o.F.IO.Out, "Logged out of %s (context %q)\n", cur.MCPDURL, cur.Name)
	return nil
}
