package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
)

func isTokens(k v1.Kind) bool { return k.Kind == "McpToken" }

func tokenID(t v1.McpToken) string { return t.Metadata.Project + "/" + t.Metadata.Name }

func getTokens(ctx context.Context, o *GetOptions) error {
	if o.LabelSelector != "" || o.Reveal {
		return &UsageError{Msg: "mcptokens take no -l or --reveal (a token is shown once, when it is created)"}
	}
	if len(o.Names) > 0 && o.Project == "" {
		return &UsageError{Msg: "an mcptoken belongs to a project: add -p PROJECT"}
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	var tokens []v1.McpToken
	if len(o.Names) == 0 {
		project := o.Project
		if o.AllProjects {
			project = ""
		}
		if tokens, err = c.ListTokens(ctx, project); err != nil {
			return err
		}
	}
	for _, n := range o.Names {
		t, err := c.GetToken(ctx, o.Project, n)
		if err != nil {
			return err
		}
		tokens = append(tokens, *t)
	}
	now := timeNow()
	if o.Now != nil {
		now = o.Now()
	}
	return printList(o.F.IO.Out, o.Output, tokens, len(o.Names) == 1, "mcptoken/", tokenID,
		[]string{"NAME", "PROJECT", "PREFIX", "CREATED", "LAST USED", "EXPIRES", "STATUS"}, func(t v1.McpToken) []string {
			return []string{t.Metadata.Name, t.Metadata.Project, t.Status.Prefix + "…", Age(t.Metadata.CreatedAt, now),
				ago(t.Status.LastUsedAt, now), expires(t.Status.ExpiresAt, now), t.Status.State}
		}, o.F.IO.ErrOut)
}

func ago(t *time.Time, now time.Time) string {
	if t == nil {
		return "never"
	}
	return Age(t, now) + " ago"
}

func expires(t *time.Time, now time.Time) string {
	switch {
	case t == nil:
		return "never"
	case !t.After(now):
		return Age(t, now) + " ago"
	}
	return "in " + Age(&now, *t)
}

func describeTokens(ctx context.Context, o *DescribeOptions) error {
	if o.Project == "" {
		return &UsageError{Msg: "an mcptoken belongs to a project: add -p PROJECT"}
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	for i, n := range o.Names {
		t, err := c.GetToken(ctx, o.Project, n)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(o.F.IO.Out, "\n---")
		}
		if err := describeToken(o.F.IO.Out, t, timeNow()); err != nil {
			return err
		}
	}
	return nil
}

func describeToken(w io.Writer, t *v1.McpToken, now time.Time) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Name:\t%s\n", t.Metadata.Name)
	fmt.Fprintf(tw, "Project:\t%s\n", t.Metadata.Project)
	fmt.Fprintf(tw, "Description:\t%s\n", dash(t.Spec.Description))
	fmt.Fprintf(tw, "Status:\t%s\n", t.Status.State)
	fmt.Fprintf(tw, "Prefix:\t%s…\n", t.Status.Prefix)
	fmt.Fprintf(tw, "SHA-256:\t%s\n", t.Status.SHA256)
	fmt.Fprintf(tw, "Subject:\tMcpToken:%s\n", t.Status.SHA256)
	fmt.Fprintf(tw, "Created by:\t%s\n", t.Status.CreatedBy)
	if t.Metadata.CreatedAt != nil {
		fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", formatTime(*t.Metadata.CreatedAt), Age(t.Metadata.CreatedAt, now))
	}
	fmt.Fprintf(tw, "Last used:\t%s\n", ago(t.Status.LastUsedAt, now))
	fmt.Fprintf(tw, "Expires:\t%s\n", expires(t.Status.ExpiresAt, now))
	if t.Status.RevokedAt != nil {
		fmt.Fprintf(tw, "Revoked:\t%s\n", formatTime(*t.Status.RevokedAt))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	bindings := make([]string, len(t.Spec.Bindings))
	for i, b := range t.Spec.Bindings {
		bindings[i] = b.String()
	}
	section(w, "Bindings", bindings)
	fmt.Fprintf(w, "Also holds:   what RbacDefinitions naming McpToken:%s grant (mcpctl auth can-i ... --as McpToken:%s)\n", t.Status.SHA256[:12]+"…", t.Status.SHA256)
	fmt.Fprintf(w, "Reaches only: /api/v1/projects/%s/... (and /api/v1/mcptokens/introspect)\n", t.Metadata.Project)
	return nil
}

// endTokens deletes or revokes tokens by name.
func endTokens(ctx context.Context, f *Factory, project string, names []string, yes bool, verb string,
	end func(ctx context.Context, project, name string) error) error {
	if project == "" {
		return &UsageError{Msg: "an mcptoken belongs to a project: add -p PROJECT"}
	}
	if !yes && f.IO.InTTY {
		ids := make([]string, len(names))
		for i, n := range names {
			ids[i] = "mcptoken/" + project + "/" + n
		}
		if !confirm(f, fmt.Sprintf("%s %s? Clients using it are refused from then on.", verb, strings.Join(ids, ", "))) {
			return fmt.Errorf("aborted; nothing was %sd", strings.ToLower(verb))
		}
	}
	var failed []error
	for _, n := range names {
		if err := end(ctx, project, n); err != nil {
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(f.IO.Out, "mcptoken/%s/%s %sd\n", project, n, strings.ToLower(verb))
	}
	return errors.Join(failed...)
}

func deleteTokens(ctx context.Context, o *DeleteOptions) error {
	if o.Cascade || o.DryRun {
		return &UsageError{Msg: "deleting mcptokens takes no --cascade or --dry-run"}
	}
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	return endTokens(ctx, o.F, o.Project, o.Names, o.Yes, "Delete", c.DeleteToken)
}

// NewCmdRevoke builds `mcpctl revoke mcptoken NAME -p PROJECT`.
func NewCmdRevoke(f *Factory) *cobra.Command {
	var project string
	var yes bool
	cmd := &cobra.Command{
		Use:   "revoke mcptoken NAME... -p PROJECT",
		Short: "Revoke McpTokens: they stop working and stay listed as revoked",
		Long: `Revoke McpTokens. A revoked token is refused at once by the mcpd that revoked
it and within MCPD_AUTH_CACHE_TTL (5s by default) by other replicas. It stays
in listings (STATUS revoked) and in the audit log; delete removes it.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return &UsageError{Msg: "usage: mcpctl revoke mcptoken NAME... -p PROJECT"}
			}
			if k, ok := v1.LookupKind(args[0]); !ok || !isTokens(k) {
				return &UsageError{Msg: fmt.Sprintf("only mcptokens can be revoked, not %q", args[0])}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			return endTokens(cmd.Context(), f, project, args[1:], yes, "Revoke", c.RevokeToken)
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "the project of the tokens")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// printTokenBanner shows a new raw token, once, where people notice it.
func printTokenBanner(w io.Writer, id, raw string) {
	fmt.Fprintf(w, "%s created.\n\n", id)
	fmt.Fprintln(w, "  Copy the token now: it is shown only this once and mcpd keeps only its hash.")
	fmt.Fprintf(w, "\n    %s\n\n", raw)
	fmt.Fprintln(w, "  Send it as \"Authorization: Bearer <token>\"; `mcpctl revoke mcptoken` ends it.")
}

func newCmdCreateMcpToken(f *Factory) *cobra.Command {
	var project, rbac, ttl, description, output string
	var binds []string
	var force bool
	cmd := &cobra.Command{
		Use:   "mcptoken NAME -p PROJECT [--rbac empty|clone] [--bind BINDING...] [--ttl 30d|12h|never|RFC3339] [--description D] [--force]",
		Short: "Create a bearer token for one project's MCP endpoint",
		Long: `Create an McpToken: a bearer token for an MCP client that is not a person (an
agent, a CI job). It reaches only project PROJECT: /api/v1/projects/PROJECT/...
(and the project's MCP endpoint, once mcpd serves it); anything else is
refused, whatever its rights.

Its rights are fixed now: --rbac clone copies yours, --rbac empty (the
default) starts with none, and each --bind adds one binding, which you must
hold yourself. The token is printed once; mcpd keeps only its SHA-256.

  mcpctl create mcptoken ci -p demo --rbac clone --ttl 30d
  mcpctl create mcptoken agent -p demo --bind role:view,resource:prompts --ttl never
  mcpctl create mcptoken ci -p demo --rbac clone --force   # replace the ci token: the old one stops working

--force (and creating over a revoked or expired token of the same name)
replaces the old token's record, which needs delete on it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if project == "" {
				return &UsageError{Msg: "a token belongs to a project: add -p PROJECT"}
			}
			if output != "" && output != "json" && output != "yaml" {
				return &UsageError{Msg: fmt.Sprintf("-o %q is not supported: use json or yaml (or leave it out)", output)}
			}
			spec := v1.McpTokenSpec{Description: description, TTL: ttl, Rbac: rbac}
			for _, b := range binds {
				rb, err := v1.ParseRoleBinding(b)
				if err != nil {
					return &UsageError{Msg: fmt.Sprintf("--bind %q: %v", b, err)}
				}
				spec.Bindings = append(spec.Bindings, rb)
			}
			var fe v1.FieldErrors
			spec.Validate(&fe)
			if len(fe) > 0 {
				return &UsageError{Msg: strings.TrimPrefix(fe[0].Field, "spec.") + ": " + fe[0].Message}
			}
			if msg := v1.ValidateName(args[0]); msg != "" {
				return &UsageError{Msg: "the name " + msg}
			}
			spec.Default()
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			out, err := c.CreateToken(cmd.Context(), project, v1.CreateMcpTokenRequest{Name: args[0], Spec: spec, Force: force})
			if err != nil {
				return err
			}
			if output != "" {
				return printList(f.IO.Out, output, []v1.CreatedMcpToken{*out}, true, "", nil, nil, nil, f.IO.ErrOut)
			}
			printTokenBanner(f.IO.Out, "mcptoken/"+project+"/"+args[0], out.Token)
			return nil
		},
	}
	cmd.Flags().StringVarP(&project, "project", "p", "", "the project the token reaches")
	cmd.Flags().StringVar(&rbac, "rbac", v1.TokenRbacEmpty, "empty (no rights but --bind) or clone (your rights)")
	cmd.Flags().StringArrayVar(&binds, "bind", nil, "a binding such as role:view,resource:servers or action:logs (repeatable)")
	cmd.Flags().StringVar(&ttl, "ttl", v1.DefaultTokenTTL, "lifetime: 30d, 12h, never, or an RFC 3339 expiry time")
	cmd.Flags().StringVar(&description, "description", "", "what the token is for")
	cmd.Flags().BoolVar(&force, "force", false, "replace an active token of this name (the old one stops working)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "print the answer (with the token) as json or yaml")
	return cmd
}
