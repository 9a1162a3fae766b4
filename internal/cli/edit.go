package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
)

// EditOptions are the inputs of `mcpctl edit`.
type EditOptions struct {
	F       *Factory
	Kind    string
	Name    string
	Project string
	// Editor overrides $VISUAL / $EDITOR (tests).
	Editor string
}

// NewCmdEdit builds `mcpctl edit`.
func NewCmdEdit(f *Factory, runF func(*EditOptions) error) *cobra.Command {
	o := &EditOptions{F: f}
	cmd := &cobra.Command{
		Use:   "edit KIND NAME",
		Short: "Edit a resource in your editor",
		Long: `Open a resource as YAML in $VISUAL or $EDITOR (default vi). When you save
and quit, the change is sent to mcpd. If it is not valid, the editor opens
again with the errors as comments at the top; quit without saving (or
leave the file unchanged) to give up.

If someone changed the object while you edited, nothing is written and
mcpctl says so: run edit again. Secret values show as null and keep their
values unless you write new ones.`,
		Args:              kindArgs(true, true),
		ValidArgsFunction: completeKindAndNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind, o.Name = args[0], args[1]
			if runF != nil {
				return runF(o)
			}
			return editRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Project, "project", "p", "", "the project of a project-scoped kind (prompts)")
	return cmd
}

// errEditCancelled is returned when the file comes back unchanged.
var errEditCancelled = errors.New("edit cancelled: no changes made")

func editRun(ctx context.Context, o *EditOptions) error {
	k, err := resolveItemKind(o.Kind, o.Project, "-p")
	if err != nil {
		return err
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	orig, err := c.Get(ctx, k, o.Project, o.Name, false)
	if err != nil {
		return err
	}
	version := orig.Metadata.ResourceVersion
	body, err := toYAML(orig)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "mcpctl-edit-")
	if err != nil {
		return err
	}
	// The edit is kept when it could not be sent (a conflict, an outage),
	// so the work is not lost.
	keep := false
	defer func() {
		if !keep {
			os.RemoveAll(dir)
		}
	}()
	file := filepath.Join(dir, k.Singular+"-"+o.Name+".yaml")
	header := "# Edit the object below; lines starting with '#' are ignored.\n" +
		"# Save and quit to apply it; leave it unchanged to cancel.\n"
	content := []byte(header + string(body))
	for {
		if err := os.WriteFile(file, content, 0o600); err != nil {
			return err
		}
		if err := runEditor(o, file); err != nil {
			return err
		}
		edited, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		if bytes.Equal(stripComments(edited), stripComments(content)) {
			return errEditCancelled
		}
		obj, problems := parseEdited(edited, orig)
		if len(problems) == 0 {
			obj.Metadata.ResourceVersion = version
			out, err := c.Update(ctx, obj)
			if err == nil {
				fmt.Fprintf(o.F.IO.Out, "%s edited\n", out.ID())
				return nil
			}
			var ae *v1.Error
			if !errors.As(err, &ae) || ae.Code != v1.CodeValidationFailed {
				// A conflict, an outage: reopening would not help.
				keep = true
				return fmt.Errorf("%w\nyour edit is saved in %s; run `mcpctl edit %s %s` again and copy your change over", err, file, k.Singular, o.Name)
			}
			problems = []string{ae.Message}
			for _, d := range ae.Details {
				problems = append(problems, d.String())
			}
		}
		// Reopen with the errors on top, like kubectl.
		var b strings.Builder
		b.WriteString("# The edit was not applied:\n")
		for _, p := range problems {
			for _, line := range strings.Split(p, "\n") {
				b.WriteString("#   " + line + "\n")
			}
		}
		b.WriteString("#\n")
		content = append([]byte(b.String()), stripLeadingComments(edited)...)
	}
}

// parseEdited reads the edited file back: one document of the same kind
// and name.
func parseEdited(data []byte, orig *v1.Object) (*v1.Object, []string) {
	docs, problems := ParseManifest("edited file", data)
	if len(problems) > 0 {
		return nil, problems
	}
	if len(docs) != 1 {
		return nil, []string{fmt.Sprintf("the file must hold exactly one document; it holds %d", len(docs))}
	}
	obj := docs[0].Object
	switch {
	case obj.Kind != orig.Kind:
		return nil, []string{fmt.Sprintf("kind cannot be changed (it is %s)", orig.Kind)}
	case obj.Metadata.Name != orig.Metadata.Name || obj.Metadata.Project != orig.Metadata.Project:
		return nil, []string{fmt.Sprintf("metadata.name cannot be changed (it is %s); to rename, create a new object and delete this one", orig.Metadata.Name)}
	}
	return obj, nil
}

func runEditor(o *EditOptions, file string) error {
	editor := o.Editor
	for _, v := range []string{"VISUAL", "EDITOR"} {
		if editor == "" {
			editor = os.Getenv(v)
		}
	}
	if editor == "" {
		editor = "vi"
	}
	// The editor variable may carry arguments ("code --wait").
	parts := strings.Fields(editor)
	cmd := exec.Command(parts[0], append(parts[1:], file)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, o.F.IO.ErrOut
	if f, ok := o.F.IO.In.(*os.File); ok {
		cmd.Stdin = f
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("editor %q failed: %w; nothing was changed", editor, err)
	}
	return nil
}

// stripComments drops blank lines and the comment lines edit writes, which
// start in the first column. An indented '#' line is kept: it may be text
// of a block scalar, such as a markdown heading in a prompt.
func stripComments(b []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 || line[0] == '#' {
			continue
		}
		out.Write(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func stripLeadingComments(b []byte) []byte {
	for len(b) > 0 && (b[0] == '#' || b[0] == '\n') {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}
