package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
)

// isUsers reports whether a kind argument names users, which are not a
// resource kind: they are named by email and have passwords.
func isUsers(arg string) bool {
	switch strings.ToLower(arg) {
	case "user", "users":
		return true
	}
	return false
}

func getUsers(ctx context.Context, o *GetOptions) error {
	if o.LabelSelector != "" || o.Project != "" || o.Reveal {
		return &UsageError{Msg: "users take no -l, -p or --reveal"}
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	var users []v1.User
	if len(o.Names) == 0 {
		if users, err = c.ListUsers(ctx); err != nil {
			return err
		}
	}
	for _, email := range o.Names {
		u, err := c.GetUser(ctx, email)
		if err != nil {
			return err
		}
		users = append(users, *u)
	}
	now := timeNow()
	if o.Now != nil {
		now = o.Now()
	}
	return printList(o.F.IO.Out, o.Output, users, len(o.Names) == 1, "user/", func(u v1.User) string { return u.Email },
		[]string{"EMAIL", "NAME", "GROUPS", "AGE"}, func(u v1.User) []string {
			return []string{u.Email, dash(u.Name), dash(strings.Join(u.Groups, ",")), Age(&u.CreatedAt, now)}
		}, o.F.IO.ErrOut)
}

func describeUsers(ctx context.Context, o *DescribeOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	for i, email := range o.Names {
		u, err := c.GetUser(ctx, email)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(o.F.IO.Out, "\n---")
		}
		tw := tabwriter.NewWriter(o.F.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "Email:\t%s\n", u.Email)
		fmt.Fprintf(tw, "Name:\t%s\n", dash(u.Name))
		fmt.Fprintf(tw, "ID:\t%s\n", u.ID)
		fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", formatTime(u.CreatedAt), Age(&u.CreatedAt, timeNow()))
		fmt.Fprintf(tw, "Groups:\t%s\n", dash(strings.Join(u.Groups, ", ")))
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(o.F.IO.Out, "Rights: mcpctl auth can-i VERB KIND --as User:%s\n", u.Email)
	}
	return nil
}

func deleteUsers(ctx context.Context, o *DeleteOptions) error {
	if o.Cascade || o.DryRun || o.Project != "" {
		return &UsageError{Msg: "deleting users takes no --cascade, --dry-run or -p"}
	}
	if !o.Yes && o.F.IO.InTTY && !confirm(o.F, fmt.Sprintf("Delete user %s? Their sessions end and their McpTokens are revoked.", strings.Join(o.Names, ", "))) {
		return errAborted
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	var failed []error
	for _, email := range o.Names {
		if err := c.DeleteUser(ctx, email); err != nil {
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(o.F.IO.Out, "user/%s deleted\n", email)
	}
	return errors.Join(failed...)
}

// readNewPassword reads a new password: the first line of r with
// fromStdin, else twice from the terminal.
func readNewPassword(f *Factory, r *bufio.Reader, fromStdin bool, prompt string) (string, error) {
	if fromStdin {
		return stdinLine(r)
	}
	if !f.IO.InTTY || f.ReadPassword == nil {
		return "", &UsageError{Msg: "no terminal to ask for the password: pipe it with --password-stdin"}
	}
	pw, err := askPassword(f, prompt+": ")
	if err != nil {
		return "", err
	}
	again, err := askPassword(f, "Again: ")
	if err != nil {
		return "", err
	}
	if pw != again {
		return "", &UsageError{Msg: "the two passwords differ; nothing was changed"}
	}
	return pw, nil
}

func askPassword(f *Factory, prompt string) (string, error) {
	fmt.Fprint(f.IO.ErrOut, prompt)
	pw, err := f.ReadPassword()
	fmt.Fprintln(f.IO.ErrOut)
	if err != nil {
		return "", fmt.Errorf("read password: %w", err)
	}
	return pw, nil
}

// checkNewPassword applies mcpd's password rule before anything is sent.
func checkNewPassword(pw string) error {
	switch {
	case len(pw) < v1.MinPasswordLength:
		return &UsageError{Msg: fmt.Sprintf("the new password must be at least %d characters", v1.MinPasswordLength)}
	case len(pw) > v1.MaxPasswordLength:
		return &UsageError{Msg: fmt.Sprintf("the new password must be at most %d bytes", v1.MaxPasswordLength)}
	}
	return nil
}

func newCmdCreateUser(f *Factory) *cobra.Command {
	var name string
	var stdin bool
	cmd := &cobra.Command{
		Use:   "user EMAIL [--name NAME] [--password-stdin]",
		Short: "Create a user (admins)",
		Long: `Create a user who can log in. The password is asked twice on a terminal;
scripts pipe it with --password-stdin. A new user holds no rights until an
RbacDefinition or a group grants them some.

  mcpctl create user alice@example.com --name Alice
  mcpctl create rbac alice-servers --subject User:alice@example.com --roleBindings role:edit,resource:servers`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := v1.CreateUserRequest{Email: args[0], Name: name}
			if msg := v1.ValidateEmail(req.Email); msg != "" {
				return &UsageError{Msg: "the email " + msg}
			}
			pw, err := readNewPassword(f, bufio.NewReader(f.IO.In), stdin, "Password for "+req.Email)
			if err != nil {
				return err
			}
			if err := checkNewPassword(pw); err != nil {
				return err
			}
			req.Password = pw
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			u, err := c.CreateUser(cmd.Context(), req)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "user/%s created\n", u.Email)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the user's display name")
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from the first line of standard input")
	return cmd
}

// NewCmdPasswd builds `mcpctl passwd`.
func NewCmdPasswd(f *Factory) *cobra.Command {
	var stdin bool
	cmd := &cobra.Command{
		Use:   "passwd [EMAIL] [--password-stdin]",
		Short: "Change your password, or (admins) reset another user's",
		Long: `Without EMAIL, change your own password: the current one is asked first, and
your other sessions end. With EMAIL, reset that user's password: it needs edit
on users and every right the user holds (only admins reset an admin's), since
the new password lets you act as them; all their sessions end.

With --password-stdin the first line of standard input is the current
password (own change only) and the next line the new one.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
			defer cancel()
			in := bufio.NewReader(f.IO.In)
			var current string
			if len(args) == 0 {
				var err error
				if stdin {
					current, err = stdinLine(in)
				} else if f.IO.InTTY && f.ReadPassword != nil {
					current, err = askPassword(f, "Current password: ")
				} else {
					err = &UsageError{Msg: "no terminal to ask for the passwords: pipe them with --password-stdin"}
				}
				if err != nil {
					return err
				}
				if current == "" {
					return &UsageError{Msg: "the current password is empty"}
				}
			}
			prompt := "New password"
			if len(args) == 1 {
				prompt += " for " + args[0]
			}
			next, err := readNewPassword(f, in, stdin, prompt)
			if err != nil {
				return err
			}
			if err := checkNewPassword(next); err != nil {
				return err
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			if len(args) == 1 {
				if _, err := c.UpdateUser(ctx, args[0], v1.UpdateUserRequest{Password: &next}); err != nil {
					return err
				}
				fmt.Fprintf(f.IO.Out, "password of %s reset; their sessions have ended\n", args[0])
				return nil
			}
			if err := c.ChangePassword(ctx, current, next); err != nil {
				return err
			}
			fmt.Fprintln(f.IO.Out, "password changed; your other sessions have ended")
			return nil
		},
	}
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password(s) from standard input, one per line")
	return cmd
}
