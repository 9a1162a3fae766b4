package cli

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// DescribeOptions are the inputs of `mcpctl describe`.
type DescribeOptions struct {
	F       *Factory
	Kind    string
	Names   []string
	Project string
}

// NewCmdDescribe builds `mcpctl describe`.
func NewCmdDescribe(f *Factory, runF func(*DescribeOptions) error) *cobra.Command {
	o := &DescribeOptions{F: f}
	cmd := &cobra.Command{
		Use:               "describe KIND NAME...",
		Short:             "Show a resource in detail, with what uses it and what it uses",
		Args:              kindArgs(true, false),
		ValidArgsFunction: completeKindAndNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind, o.Names = args[0], args[1:]
			if runF != nil {
				return runF(o)
			}
			return describeRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Project, "project", "p", "", "the project of a project-scoped kind (prompts)")
	return cmd
}

func describeRun(ctx context.Context, o *DescribeOptions) error {
	if isUsers(o.Kind) {
		return describeUsers(ctx, o)
	}
	if isInstances(o.Kind) {
		return describeInstances(ctx, o)
	}
	if k, ok := v1.LookupKind(o.Kind); ok && isTokens(k) {
		return describeTokens(ctx, o)
	}
	k, err := resolveItemKind(o.Kind, o.Project, "-p")
	if err != nil {
		return err
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	for i, name := range o.Names {
		obj, err := c.Get(ctx, k, o.Project, name, false)
		if err != nil {
			return err
		}
		users, err := usersOf(ctx, c, obj)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(o.F.IO.Out, "\n---")
		}
		if err := describe(o.F.IO.Out, obj, users); err != nil {
			return err
		}
	}
	return nil
}

// usersOf lists the objects that reference obj.
func usersOf(ctx context.Context, c *client.Client, obj *v1.Object) ([]string, error) {
	var kinds []string
	switch obj.Kind {
	case "Secret":
		kinds = []string{"Template", "Server"}
	case "Server":
		kinds = []string{"Project"}
	case "Project":
		return promptIDs(ctx, c, obj.Metadata.Name)
	default:
		return nil, nil
	}
	var users []string
	for _, kn := range kinds {
		objs, err := c.ListAll(ctx, kindNamed(kn), client.ListOptions{})
		if err != nil {
			return nil, err
		}
		for i := range objs {
			for _, ref := range objs[i].Spec.References() {
				if ref.Kind == obj.Kind && ref.Name == obj.Metadata.Name {
					users = append(users, fmt.Sprintf("%s (%s)", objs[i].ID(), ref.Field))
				}
			}
		}
	}
	return users, nil
}

func promptIDs(ctx context.Context, c *client.Client, project string) ([]string, error) {
	objs, err := c.ListAll(ctx, kindNamed("Prompt"), client.ListOptions{Project: project})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(objs))
	for i := range objs {
		out[i] = objs[i].ID()
	}
	return out, nil
}

func describe(w io.Writer, obj *v1.Object, users []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", obj.Metadata.Name)
	fmt.Fprintf(tw, "Kind:\t%s\n", obj.Kind)
	if obj.Metadata.Project != "" {
		fmt.Fprintf(tw, "Project:\t%s\n", obj.Metadata.Project)
	}
	fmt.Fprintf(tw, "Labels:\t%s\n", formatLabels(obj.Metadata.Labels))
	if obj.Metadata.CreatedAt != nil {
		fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", formatTime(*obj.Metadata.CreatedAt), Age(obj.Metadata.CreatedAt, timeNow()))
	}
	if obj.Metadata.UpdatedAt != nil {
		fmt.Fprintf(tw, "Updated:\t%s\n", formatTime(*obj.Metadata.UpdatedAt))
	}
	fmt.Fprintf(tw, "ResourceVersion:\t%s\n", obj.Metadata.ResourceVersion)
	if err := tw.Flush(); err != nil {
		return err
	}
	if s, ok := obj.Spec.(*v1.SecretSpec); ok {
		fmt.Fprintf(w, "Data (values hidden; mcpctl get secret %s --reveal shows them):\n", obj.Metadata.Name)
		for _, k := range s.Keys() {
			fmt.Fprintf(w, "  %s\n", k)
		}
	} else {
		b, err := yaml.Marshal(obj.Spec)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, "Spec:")
		for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	var uses []string
	for _, ref := range v1.ObjectReferences(obj) {
		uses = append(uses, fmt.Sprintf("%s (%s)", ref, ref.Field))
	}
	section(w, "Uses", uses)
	if obj.Kind == "Project" {
		section(w, "Prompts", users)
	} else if slices.Contains([]string{"Secret", "Server"}, obj.Kind) {
		section(w, "Used by", users)
	}
	return nil
}

func section(w io.Writer, title string, items []string) {
	if len(items) == 0 {
		fmt.Fprintf(w, "%s: none\n", title)
		return
	}
	fmt.Fprintf(w, "%s:\n", title)
	for _, it := range items {
		fmt.Fprintf(w, "  %s\n", it)
	}
}
