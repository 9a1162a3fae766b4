package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
)

// DeleteOptions are the inputs of `mcpctl delete`.
type DeleteOptions struct {
	F       *Factory
	Kind    string
	Names   []string
	Project string
	Cascade bool
	Yes     bool
	DryRun  bool
}

// NewCmdDelete builds `mcpctl delete`.
func NewCmdDelete(f *Factory, runF func(*DeleteOptions) error) *cobra.Command {
	o := &DeleteOptions{F: f}
	cmd := &cobra.Command{
		Use:   "delete KIND NAME...",
		Short: "Delete resources",
		Long: `Delete resources by name. On a terminal mcpctl asks first; --yes skips the
question (scripts that are not on a terminal are not asked).

An object still used by others is not deleted (a server in a project, a
secret a server reads, a project with prompts); the error names the users.
--cascade deletes anyway and detaches them: the project drops the server,
the server drops the env entries of the secret, the project's prompts are
deleted.`,
		Args:              kindArgs(true, false),
		ValidArgsFunction: completeKindAndNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind, o.Names = args[0], args[1:]
			if runF != nil {
				return runF(o)
			}
			return deleteRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Project, "project", "p", "", "the project of a project-scoped kind (prompts)")
	cmd.Flags().BoolVar(&o.Cascade, "cascade", false, "detach or delete the objects that use this one")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "show what would be deleted and changed, and change nothing")
	return cmd
}

// errAborted is the answer "no" to a confirmation.
var errAborted = errors.New("aborted; nothing was deleted")

func deleteRun(ctx context.Context, o *DeleteOptions) error {
	if isUsers(o.Kind) {
		return deleteUsers(ctx, o)
	}
	if k, ok := v1.LookupKind(o.Kind); ok && isTokens(k) {
		return deleteTokens(ctx, o)
	}
	k, err := resolveItemKind(o.Kind, o.Project, "-p")
	if err != nil {
		return err
	}
	if !o.Yes && !o.DryRun && o.F.IO.InTTY {
		ids := make([]string, len(o.Names))
		for i, n := range o.Names {
			ids[i] = k.Singular + "/" + n
		}
		if !confirm(o.F, fmt.Sprintf("Delete %s?", strings.Join(ids, ", "))) {
			return errAborted
		}
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	var failed []error
	for _, name := range o.Names {
		resp, err := c.Delete(ctx, k, o.Project, name, client.DeleteOptions{Cascade: o.Cascade, DryRun: o.DryRun})
		if err != nil {
			failed = append(failed, err)
			continue
		}
		suffix := ""
		if o.DryRun {
			suffix = " (server dry run)"
		}
		fmt.Fprintf(o.F.IO.Out, "%s deleted%s\n", resp.Deleted.ID(), suffix)
		for _, r := range resp.Cascaded {
			fmt.Fprintf(o.F.IO.Out, "  %s %s (cascade)%s\n", r.ID(), r.Action, suffix)
		}
	}
	return errors.Join(failed...)
}

// confirm asks a yes/no question on the terminal; only "y" or "yes" is yes.
func confirm(f *Factory, question string) bool {
	fmt.Fprintf(f.IO.ErrOut, "%s [y/N] ", question)
	line, _ := bufio.NewReader(f.IO.In).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true
	}
	return false
}

// kindNamed returns a kind known to exist.
func kindNamed(name string) v1.Kind {
	k, _ := v1.LookupKind(name)
	return k
}
