package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
)

// APIClient returns a client for the current context.
func (f *Factory) APIClient() (*client.Client, error) {
	cur, _, _, err := f.CurrentContext()
	if err != nil {
		return nil, err
	}
	return f.Client(cur)
}

// resolveKind maps a CLI kind argument (plural, singular, alias or kind
// name) to its kind.
func resolveKind(arg string) (v1.Kind, error) {
	if isUsers(arg) {
		return v1.Kind{}, &UsageError{Msg: "users are not resources: use `mcpctl get|describe|create|delete user`"}
	}
	k, ok := v1.LookupKind(arg)
	if !ok {
		return v1.Kind{}, &UsageError{Msg: fmt.Sprintf("unknown resource type %q; known types: %s", arg, kindList())}
	}
	return k, nil
}

// resolveItemKind resolves the kind of a verb that names objects: a
// project-scoped kind needs its project, which flag gives.
func resolveItemKind(arg, project, flag string) (v1.Kind, error) {
	k, err := resolveKind(arg)
	if err == nil && k.Scoped && project == "" {
		err = &UsageError{Msg: fmt.Sprintf("a %s belongs to a project: add %s PROJECT", k.Singular, flag)}
	}
	return k, err
}

// kindArgs checks that a verb got a kind (and a name, when needName), and
// says which kinds exist when it did not.
func kindArgs(needName, exactlyOneName bool) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		use := "`" + cmd.CommandPath() + " " + strings.SplitN(cmd.Use, " ", 2)[1] + "`"
		switch {
		case len(args) == 0:
			return &UsageError{Msg: "missing the kind: " + use + "; kinds: " + kindList()}
		case needName && len(args) == 1:
			return &UsageError{Msg: "missing the name: " + use}
		case exactlyOneName && len(args) > 2:
			return &UsageError{Msg: fmt.Sprintf("one name only: %s (got %d)", use, len(args)-1)}
		}
		return nil
	}
}

func kindList() string {
	var names []string
	for _, k := range v1.Kinds {
		n := k.Plural
		if len(k.Aliases) > 0 {
			n += " (" + strings.Join(k.Aliases, ", ") + ")"
		}
		names = append(names, n)
	}
	return strings.Join(append(names, "users"), ", ")
}

// GetOptions are the inputs of `mcpctl get`.
type GetOptions struct {
	F             *Factory
	Kind          string
	Names         []string
	Output        string
	LabelSelector string
	Project       string
	AllProjects   bool
	Reveal        bool
	// Server and AllInstances narrow or widen a listing of instances.
	Server       string
	AllInstances bool
	// Now is the clock for AGE; nil means time.Now.
	Now func() time.Time
}

// NewCmdGet builds `mcpctl get`.
func NewCmdGet(f *Factory, runF func(*GetOptions) error) *cobra.Command {
	o := &GetOptions{F: f}
	cmd := &cobra.Command{
		Use:   "get KIND [NAME...]",
		Short: "List or show resources",
		Long: `List resources of a kind, or show the named ones.

Kinds: ` + kindList() + `, and "all" for every kind.

  mcpctl get servers
  mcpctl get server memory -o yaml
  mcpctl get servers -l team=infra -o wide
  mcpctl get prompts -p demo
  mcpctl get all -p demo          # the project, its servers, their secrets, its prompts
  mcpctl get all -A -o yaml > backup.yaml   # everything; secret values are not included

Secret values are shown only with --reveal.`,
		Args:              kindArgs(false, false),
		ValidArgsFunction: completeKindAndNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind, o.Names = args[0], args[1:]
			if err := checkOutput(o.Output); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			return getRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "table", "output format: table, wide, json, yaml or name")
	cmd.Flags().StringVarP(&o.LabelSelector, "selector", "l", "", "label selector, e.g. team=infra,env!=prod")
	cmd.Flags().StringVarP(&o.Project, "project", "p", "", "the project (prompts; for servers: the servers it uses; for all: everything it uses)")
	cmd.Flags().BoolVarP(&o.AllProjects, "all-projects", "A", false, "every project (the default for lists)")
	cmd.Flags().BoolVar(&o.Reveal, "reveal", false, "show secret values")
	cmd.Flags().StringVar(&o.Server, "server", "", "instances: only those of this server")
	cmd.Flags().BoolVar(&o.AllInstances, "all", false, "instances: stopped ones too (kept for an hour)")
	return cmd
}

func getRun(ctx context.Context, o *GetOptions) error {
	if _, err := v1.ParseSelector(o.LabelSelector); err != nil {
		return &UsageError{Msg: err.Error()}
	}
	if isUsers(o.Kind) {
		return getUsers(ctx, o)
	}
	if isInstances(o.Kind) {
		return getInstances(ctx, o)
	}
	if o.Server != "" || o.AllInstances {
		return &UsageError{Msg: "--server and --all are for instances: mcpctl get instances --server NAME"}
	}
	if !strings.EqualFold(o.Kind, "all") {
		// A mistyped kind is reported before a missing login.
		k, err := resolveKind(o.Kind)
		if err != nil {
			return err
		}
		if isTokens(k) {
			return getTokens(ctx, o)
		}
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	var objs []v1.Object
	if strings.EqualFold(o.Kind, "all") {
		if len(o.Names) > 0 {
			return &UsageError{Msg: "get all takes no names; use -p PROJECT to narrow it"}
		}
		objs, err = getAll(ctx, c, o)
	} else {
		objs, err = getKind(ctx, c, o)
	}
	if err != nil {
		return err
	}
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	if len(objs) == 0 && (o.Output == "table" || o.Output == "wide") {
		fmt.Fprintln(o.F.IO.ErrOut, "No resources found.")
		return nil
	}
	return printObjects(o.F.IO.Out, o.Output, objs, len(o.Names) == 1, now())
}

func getKind(ctx context.Context, c *client.Client, o *GetOptions) ([]v1.Object, error) {
	k, err := resolveKind(o.Kind)
	if err != nil {
		return nil, err
	}
	if o.Reveal && k.Kind != "Secret" {
		return nil, &UsageError{Msg: "--reveal applies to secrets only"}
	}
	if len(o.Names) > 0 {
		if _, err := resolveItemKind(o.Kind, o.Project, "-p"); err != nil {
			return nil, err
		}
		var objs []v1.Object
		for _, n := range o.Names {
			obj, err := c.Get(ctx, k, o.Project, n, o.Reveal)
			if err != nil {
				return nil, err
			}
			objs = append(objs, *obj)
		}
		return objs, nil
	}
	project := o.Project
	if o.AllProjects {
		project = ""
	}
	return c.ListAll(ctx, k, client.ListOptions{Project: project, LabelSelector: o.LabelSelector, Reveal: o.Reveal})
}

// getAll lists every kind; with -p, the project and what it uses.
func getAll(ctx context.Context, c *client.Client, o *GetOptions) ([]v1.Object, error) {
	if o.Reveal {
		return nil, &UsageError{Msg: "--reveal applies to `get secrets` only"}
	}
	sel, _ := v1.ParseSelector(o.LabelSelector)
	if o.Project == "" || o.AllProjects {
		// One consistent read: what `get all -A -o yaml | apply -f -`
		// copies must not mix states from before and after a write.
		all, err := c.Export(ctx, false)
		if err != nil {
			return nil, err
		}
		out := all[:0]
		for _, obj := range all {
			if sel.Matches(obj.Metadata.Labels) {
				out = append(out, obj)
			}
		}
		return out, nil
	}
	proj, err := c.Get(ctx, kindNamed("Project"), "", o.Project, false)
	if err != nil {
		return nil, err
	}
	servers, err := c.ListAll(ctx, kindNamed("Server"), client.ListOptions{Project: o.Project, LabelSelector: o.LabelSelector})
	if err != nil {
		return nil, err
	}
	secretNames := map[string]bool{}
	for _, s := range servers {
		for _, ref := range s.Spec.References() {
			secretNames[ref.Name] = true
		}
	}
	names := make([]string, 0, len(secretNames))
	for n := range secretNames {
		names = append(names, n)
	}
	sort.Strings(names)
	var secrets []v1.Object
	for _, n := range names {
		s, err := c.Get(ctx, kindNamed("Secret"), "", n, false)
		if client.IsCode(err, v1.CodeNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if sel.Matches(s.Metadata.Labels) {
			secrets = append(secrets, *s)
		}
	}
	prompts, err := c.ListAll(ctx, kindNamed("Prompt"), client.ListOptions{Project: o.Project, LabelSelector: o.LabelSelector})
	if err != nil {
		return nil, err
	}
	var out []v1.Object
	out = append(out, secrets...)
	out = append(out, servers...)
	if sel.Matches(proj.Metadata.Labels) {
		out = append(out, *proj)
	}
	return append(out, prompts...), nil
}

// completeKindAndNames completes a kind first, then names of that kind
// from mcpd (quietly nothing when mcpd cannot be reached).
func completeKindAndNames(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			var out []string
			for _, k := range v1.Kinds {
				out = append(out, k.Plural, k.Singular)
				out = append(out, k.Aliases...)
			}
			out = append(out, "users", "user")
			if cmd.Name() == "get" {
				out = append(out, "all")
			}
			return filterPrefix(out, toComplete), cobra.ShellCompDirectiveNoFileComp
		}
		k, ok := v1.LookupKind(args[0])
		if !ok {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		c, err := f.APIClient()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		project, _ := cmd.Flags().GetString("project")
		objs, err := c.ListAll(ctx, k, client.ListOptions{Project: project})
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		for _, o := range objs {
			names = append(names, o.Metadata.Name)
		}
		return filterPrefix(names, toComplete), cobra.ShellCompDirectiveNoFileComp
	}
}

func filterPrefix(all []string, prefix string) []string {
	var out []string
	for _, s := range all {
		if strings.HasPrefix(s, prefix) {
			out = append(out, s)
		}
	}
	return out
}
