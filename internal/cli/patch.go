package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"
)

// PatchOptions are the inputs of `mcpctl patch`.
type PatchOptions struct {
	F       *Factory
	Kind    string
	Name    string
	Pairs   []string
	Type    string
	Patch   string
	Project string
	Output  string
}

// NewCmdPatch builds `mcpctl patch`.
func NewCmdPatch(f *Factory, runF func(*PatchOptions) error) *cobra.Command {
	o := &PatchOptions{F: f}
	cmd := &cobra.Command{
		Use:   "patch KIND NAME [FIELD=VALUE...] [--type merge -p JSON]",
		Short: "Change fields of a resource",
		Long: `Change some fields of a resource, leaving the others.

FIELD=VALUE pairs name fields by path; a path not starting with metadata. or
spec. is taken under spec. VALUE is read as YAML: 3 is a number, true a
boolean, [a, b] a list, null removes the field.

  mcpctl patch server memory replicas=2 sessionMode=per-session
  mcpctl patch server memory metadata.labels.team=infra
  mcpctl patch project demo --type merge -p '{"spec":{"gated":true}}'

The change is applied by mcpd to the version it holds, in one step.
Values given here are visible in the process list while mcpctl runs: for
secret values use 'mcpctl edit secret NAME'.`,
		Args:              kindArgs(true, false),
		ValidArgsFunction: completeKindAndNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Kind, o.Name, o.Pairs = args[0], args[1], args[2:]
			if o.Type != "merge" {
				return &UsageError{Msg: fmt.Sprintf("--type %q is not supported: use merge (a JSON merge patch, RFC 7386)", o.Type)}
			}
			switch {
			case o.Patch != "" && len(o.Pairs) > 0:
				return &UsageError{Msg: fmt.Sprintf("give FIELD=VALUE pairs or -p JSON, not both (-p is the patch, here %q; a prompt's project is --project)", o.Patch)}
			case o.Patch == "" && len(o.Pairs) == 0:
				return &UsageError{Msg: "nothing to change: give FIELD=VALUE pairs or -p JSON"}
			}
			if runF != nil {
				return runF(o)
			}
			return patchRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Type, "type", "merge", "patch type: merge")
	cmd.Flags().StringVarP(&o.Patch, "patch", "p", "", "the patch as a JSON object")
	cmd.Flags().StringVar(&o.Project, "project", "", "the project of a project-scoped kind (prompts)")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "", "print the patched object: json or yaml")
	return cmd
}

func patchRun(ctx context.Context, o *PatchOptions) error {
	k, err := resolveItemKind(o.Kind, o.Project, "--project")
	if err != nil {
		return err
	}
	var patch []byte
	if o.Patch != "" {
		var v any
		if err := json.Unmarshal([]byte(o.Patch), &v); err != nil {
			return &UsageError{Msg: "-p is not valid JSON: " + err.Error()}
		}
		if _, ok := v.(map[string]any); !ok {
			return &UsageError{Msg: `-p must be a JSON object such as {"spec":{"replicas":2}}`}
		}
		patch = []byte(o.Patch)
	} else {
		m, err := PairsPatch(o.Pairs)
		if err != nil {
			return err
		}
		patch, _ = json.Marshal(m)
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	obj, err := c.Patch(ctx, k, o.Project, o.Name, patch)
	if err != nil {
		return err
	}
	switch o.Output {
	case "json", "yaml":
		return printObjects(o.F.IO.Out, o.Output, []v1.Object{*obj}, true, obj.Metadata.UpdatedAt.UTC())
	}
	fmt.Fprintf(o.F.IO.Out, "%s patched (resourceVersion %s)\n", obj.ID(), obj.Metadata.ResourceVersion)
	return nil
}

// PairsPatch turns FIELD=VALUE pairs into a merge patch object.
func PairsPatch(pairs []string) (map[string]any, error) {
	root := map[string]any{}
	for _, p := range pairs {
		path, raw, ok := strings.Cut(p, "=")
		if !ok || path == "" {
			return nil, &UsageError{Msg: fmt.Sprintf("%q is not FIELD=VALUE", p)}
		}
		if strings.ContainsAny(path, "[]") {
			return nil, &UsageError{Msg: fmt.Sprintf("%q: list items cannot be patched one by one; set the whole list, e.g. args=[a, b]", path)}
		}
		parts := strings.Split(path, ".")
		if parts[0] != "spec" && parts[0] != "metadata" {
			parts = append([]string{"spec"}, parts...)
		}
		for _, s := range parts {
			if s == "" {
				return nil, &UsageError{Msg: fmt.Sprintf("%q has an empty path segment", path)}
			}
		}
		if parts[0] == "metadata" && (len(parts) < 3 || parts[1] != "labels") {
			return nil, &UsageError{Msg: fmt.Sprintf("%q: of metadata only labels can be patched (metadata.labels.KEY=VALUE)", path)}
		}
		if parts[0] == "metadata" {
			// A label key may hold dots: metadata.labels.mcpctl.dev/template.
			parts = []string{"metadata", "labels", strings.Join(parts[2:], ".")}
		}
		var v any
		if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
			return nil, &UsageError{Msg: fmt.Sprintf("%s: the value is not valid YAML (quote it)", path)}
		}
		// Label values and secret values are strings even when they look
		// like numbers (a PIN 0123 is not the octal 83).
		if v != nil && (parts[0] == "metadata" || len(parts) > 2 && parts[1] == "data") {
			v = raw
		}
		m := root
		for _, s := range parts[:len(parts)-1] {
			next, ok := m[s].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[s] = next
			}
			m = next
		}
		m[parts[len(parts)-1]] = v
	}
	return root, nil
}
