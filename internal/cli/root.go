// Package cli is the mcpctl command line: one file per noun, each command
// an Options struct, a constructor and a run function.
package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// IOStreams are the command's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
	// InTTY reports whether In is a terminal (password prompts need one).
	InTTY bool
}

// Factory gives commands what they share: streams, the config file and a
// client for the selected context.
type Factory struct {
	IO IOStreams
	// ContextName overrides the current context (--context).
	ContextName string
	// ReadPassword reads a password from the terminal without echo.
	ReadPassword func() (string, error)
}

// Config loads the configuration file and its path.
func (f *Factory) Config() (*Config, string, error) {
	path, err := ConfigPath()
	if err != nil {
		return nil, "", err
	}
	c, err := LoadConfig(path)
	return c, path, err
}

// CurrentContext returns the context selected by --context or the config.
func (f *Factory) CurrentContext() (*Context, *Config, string, error) {
	cfg, path, err := f.Config()
	if err != nil {
		return nil, nil, "", err
	}
	name := f.ContextName
	if name == "" {
		name = cfg.CurrentContext
	}
	if name == "" {
		return nil, cfg, path, &UsageError{Msg: "no current context: log in first with `mcpctl login --mcpd-url URL --email EMAIL`"}
	}
	ctx, ok := cfg.Context(name)
	if !ok {
		return nil, cfg, path, &UsageError{Msg: fmt.Sprintf("context %q does not exist; known contexts: %s", name, orNone(cfg.Names()))}
	}
	return ctx, cfg, path, nil
}

// Client returns a client for ctx with its token.
func (f *Factory) Client(ctx *Context) (*client.Client, error) {
	return client.New(ctx.MCPDURL, client.Options{Token: ctx.Token})
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "(none)"
	}
	return strings.Join(names, ", ")
}

// UsageError is a mistake in how the command was called: exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Exit codes (DESIGN.md §7).
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 2
)

// ExitCode maps an error to the process exit code; the one place it is
// decided.
func ExitCode(err error) int {
	var ue *UsageError
	var nr *notReadyError
	var ce *contractError
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ue), errors.As(err, &ce):
		return ExitUsage
	case errors.As(err, &nr):
		return ExitNotReady
	}
	return ExitError
}

// NewRootCmd builds the mcpctl command tree.
func NewRootCmd(f *Factory) *cobra.Command {
	root := &cobra.Command{
		Use:   "mcpctl",
		Short: "mcpctl is kubectl for MCP servers",
		Long: `mcpctl manages MCP servers, secrets and projects on an mcpd.

Start with:  mcpctl login --mcpd-url http://127.0.0.1:3100 --email admin@mcpctl.local`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(f.IO.In)
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.PersistentFlags().StringVar(&f.ContextName, "context", "", "use this context instead of the current one")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Msg: err.Error() + "\nsee `" + c.CommandPath() + " --help`"}
	})
	root.AddCommand(
		NewCmdLogin(f, nil),
		NewCmdLogout(f, nil),
		NewCmdStatus(f, nil),
		NewCmdConfig(f),
		NewCmdVersion(f),
		NewCmdGet(f, nil),
		NewCmdDescribe(f, nil),
		NewCmdCreate(f),
		NewCmdApply(f, nil),
		NewCmdEdit(f, nil),
		NewCmdPatch(f, nil),
		NewCmdDelete(f, nil),
		NewCmdBackup(f, nil),
		NewCmdRestore(f, nil),
		NewCmdRevoke(f),
		NewCmdPasswd(f),
		NewCmdAuth(f),
		NewCmdStart(f),
		NewCmdStop(f),
		NewCmdRestart(f),
		NewCmdScale(f),
		NewCmdLogs(f),
		NewCmdTest(f),
	)
	return root
}

// Main runs mcpctl with args and returns the exit code.
func Main(args []string) int {
	f := &Factory{
		IO: IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, InTTY: term.IsTerminal(int(os.Stdin.Fd()))},
		ReadPassword: func() (string, error) {
			b, err := term.ReadPassword(int(os.Stdin.Fd()))
			return string(b), err
		},
	}
	return Run(f, args)
}

// Run executes the command tree with args and maps the result to an exit
// code, printing the error.
func Run(f *Factory, args []string) int {
	root := NewRootCmd(f)
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	var silent *silentError
	if err != nil && !errors.As(err, &silent) {
		if cmd != nil && isCobraUsage(err) {
			err = &UsageError{Msg: err.Error() + "\nsee `" + cmd.CommandPath() + " --help`"}
		}
		fmt.Fprintln(f.IO.ErrOut, "error:", err)
	}
	return ExitCode(err)
}

// isCobraUsage recognises cobra's own argument errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "requires at most", "unknown flag", "unknown shorthand", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(time.RFC3339)
}
