package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
)

// ApplyOptions are the inputs of `mcpctl apply`.
type ApplyOptions struct {
	F          *Factory
	Files      []string
	DryRun     string
	OnConflict string
	Output     string
}

// NewCmdApply builds `mcpctl apply`.
func NewCmdApply(f *Factory, runF func(*ApplyOptions) error) *cobra.Command {
	o := &ApplyOptions{F: f}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR|- [-f ...]",
		Short: "Create or update resources from YAML or JSON documents",
		Long: `Create or update resources from files, directories (*.yaml, *.yml, *.json)
or standard input ("-"). Documents are kubectl-style: kind, metadata, spec;
several may share a file, separated by "---".

Every document is checked first, here and then by mcpd; if any is invalid,
nothing is written. All are written in one transaction, in an order where
references resolve (secrets, templates, servers, projects, prompts).

  mcpctl apply -f examples/
  mcpctl get all -A -o yaml | mcpctl apply -f -
  mcpctl apply -f project.yaml --dry-run=server   # show what would change

A secret value given as null keeps the stored value, so a secret read with
'get -o yaml' applies unchanged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(o.Files) == 0 {
				return &UsageError{Msg: "apply needs -f FILE, -f DIR or -f - (standard input)"}
			}
			switch o.DryRun {
			case "none", "server":
			default:
				return &UsageError{Msg: fmt.Sprintf("--dry-run=%q is not supported: use none or server", o.DryRun)}
			}
			switch o.OnConflict {
			case v1.OnConflictUpdate, v1.OnConflictSkip, v1.OnConflictFail:
			default:
				return &UsageError{Msg: fmt.Sprintf("--on-conflict=%q is not supported: use update, skip or fail", o.OnConflict)}
			}
			if o.Output != "text" && o.Output != "json" {
				return &UsageError{Msg: fmt.Sprintf("-o %q is not supported: use text or json", o.Output)}
			}
			if runF != nil {
				return runF(o)
			}
			return applyRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringArrayVarP(&o.Files, "filename", "f", nil, "file, directory or - for standard input (repeatable)")
	cmd.Flags().StringVar(&o.DryRun, "dry-run", "none", "none, or server: mcpd checks everything and reports what would change, writing nothing")
	cmd.Flags().Lookup("dry-run").NoOptDefVal = "server"
	cmd.Flags().StringVar(&o.OnConflict, "on-conflict", v1.OnConflictUpdate, "what to do with objects that exist: update, skip or fail")
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "text or json")
	return cmd
}

func applyRun(ctx context.Context, o *ApplyOptions) error {
	docs, err := ReadManifests(o.Files, o.F.IO.In)
	if err != nil {
		return err
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	resp, err := applyDocs(ctx, c, docs, client.ApplyOptions{DryRun: o.DryRun == "server", OnConflict: o.OnConflict})
	if err != nil {
		return err
	}
	if o.Output == "json" {
		return printJSON(o.F.IO.Out, resp)
	}
	printApplyResults(o.F.IO.Out, resp)
	return nil
}

// applyDocs sends documents to mcpd; errors mcpd reports for a document's
// field are mapped back to the file and line.
func applyDocs(ctx context.Context, c *client.Client, docs []*Document, opts client.ApplyOptions) (*v1.ApplyResponse, error) {
	objs := make([]*v1.Object, len(docs))
	for i, d := range docs {
		objs[i] = d.Object
	}
	resp, err := c.Apply(ctx, objs, opts)
	if err != nil {
		return nil, mapApplyError(err, docs)
	}
	return resp, nil
}

var objectPathRE = regexp.MustCompile(`^objects\[(\d+)\]\.?(.*)$`)

// mapApplyError rewrites the "objects[i].field" details of mcpd's answer
// as file, document and line.
func mapApplyError(err error, docs []*Document) error {
	var ae *v1.Error
	if !errors.As(err, &ae) || len(ae.Details) == 0 {
		return err
	}
	var problems []string
	for _, d := range ae.Details {
		m := objectPathRE.FindStringSubmatch(d.Field)
		if m == nil {
			problems = append(problems, d.String())
			continue
		}
		i, _ := strconv.Atoi(m[1])
		if i >= len(docs) {
			problems = append(problems, d.String())
			continue
		}
		problems = append(problems, docs[i].FieldMessage(v1.FieldError{Field: m[2], Message: d.Message}))
	}
	return &ManifestError{Problems: problems}
}

func printApplyResults(w io.Writer, resp *v1.ApplyResponse) {
	suffix := ""
	if resp.DryRun {
		suffix = " (server dry run)"
	}
	for _, r := range resp.Results {
		fmt.Fprintf(w, "%s %s%s\n", r.ID(), r.Action, suffix)
		for _, c := range r.Changes {
			fmt.Fprintf(w, "    %s\n", c)
		}
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "    warning: %s\n", warn)
		}
	}
	for _, r := range resp.Results {
		if r.Token != "" {
			fmt.Fprintln(w)
			printTokenBanner(w, r.ID(), r.Token)
		}
	}
}
