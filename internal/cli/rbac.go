package cli

import (
	"fmt"
	"strings"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
)

func newCmdCreateRbac(f *Factory) *cobra.Command {
	c := &createOptions{f: f}
	var subjects, bindings []string
	cmd := &cobra.Command{
		Use:     "rbac NAME --subject KIND:NAME... --roleBindings BINDING...",
		Aliases: []string{"rbacdefinition"},
		Short:   "Create an RbacDefinition: role bindings for users, groups or tokens",
		Long: `Create an RbacDefinition. Everything is denied until a binding allows it.

Subjects: User:<email>, Group:<name>, McpToken:<sha256> (from describe mcptoken).
Bindings, as comma-separated key:value pairs:
  role:ROLE,resource:PLURAL[,name:NAME][,project:P]
                                          ROLE is view, edit, create or delete;
                                          edit holds view, create and delete too;
                                          PLURAL is a kind (servers, secrets, users, ...) or *;
                                          project limits prompts or mcptokens to one project
  action:ACTION                           run one action: ` + strings.Join(v1.Actions, ", ") + `, or *

You can grant only what you hold yourself.

  mcpctl create rbac alice-servers --subject User:alice@example.com \
      --roleBindings role:edit,resource:servers \
      --roleBindings role:view,resource:servers,name:my-ha --roleBindings action:logs`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(subjects) == 0 {
				return &UsageError{Msg: "name at least one --subject (User:<email>, Group:<name> or McpToken:<sha256>)"}
			}
			if len(bindings) == 0 {
				return &UsageError{Msg: "give at least one --roleBindings, such as role:view,resource:servers"}
			}
			spec := &v1.RbacDefinitionSpec{}
			for _, s := range subjects {
				if _, _, err := v1.ParseSubject(s); err != nil {
					return &UsageError{Msg: "--subject: " + err.Error()}
				}
				spec.Subjects = append(spec.Subjects, s)
			}
			for _, b := range bindings {
				rb, err := v1.ParseRoleBinding(b)
				if err != nil {
					return &UsageError{Msg: fmt.Sprintf("--roleBindings %q: %v", b, err)}
				}
				spec.RoleBindings = append(spec.RoleBindings, rb)
			}
			return c.create(cmd.Context(), &v1.Object{Kind: "RbacDefinition", Metadata: v1.ObjectMeta{Name: args[0]}, Spec: spec})
		},
	}
	cmd.Flags().StringArrayVar(&subjects, "subject", nil, "User:<email>, Group:<name> or McpToken:<sha256> (repeatable)")
	cmd.Flags().StringArrayVar(&bindings, "roleBindings", nil, "role:ROLE,resource:PLURAL[,name:NAME] or action:ACTION (repeatable)")
	c.flags(cmd)
	return cmd
}

func newCmdCreateGroup(f *Factory) *cobra.Command {
	c := &createOptions{f: f}
	var members []string
	var description string
	cmd := &cobra.Command{
		Use:   "group NAME [--member EMAIL...] [--description D]",
		Short: "Create a group of users; RBAC subjects Group:NAME apply to its members",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			spec := &v1.GroupSpec{Description: description, Members: members}
			return c.create(cmd.Context(), &v1.Object{Kind: "Group", Metadata: v1.ObjectMeta{Name: args[0]}, Spec: spec})
		},
	}
	cmd.Flags().StringArrayVar(&members, "member", nil, "a member's email (repeatable)")
	cmd.Flags().StringVar(&description, "description", "", "what the group is for")
	c.flags(cmd)
	return cmd
}

// NewCmdAuth builds `mcpctl auth` (can-i).
func NewCmdAuth(f *Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "auth", Short: "Inspect authorization"}
	var as, project string
	canI := &cobra.Command{
		Use:   "can-i VERB KIND [NAME] [--as SUBJECT] | can-i run ACTION [--as SUBJECT]",
		Short: "Ask whether you (or another subject) may do something",
		Long: `Ask mcpd whether an action is allowed. Prints yes or no with the reason, and
exits 0 for yes, 1 for no (or an error, printed on stderr, as kubectl does),
2 for a usage error. --project asks about a prompt or McpToken of one project.

VERB is view (get, list), create, edit (update, patch), delete, or run with
an action (` + strings.Join(v1.Actions, ", ") + `).
--as asks about another subject (User:<email>, Group:<name>,
McpToken:<sha256>); that needs view on rbacdefinitions.

  mcpctl auth can-i edit servers
  mcpctl auth can-i view secrets github --as User:alice@example.com
  mcpctl auth can-i run logs`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 || len(args) > 3 {
				return &UsageError{Msg: "usage: mcpctl auth can-i VERB KIND [NAME] or mcpctl auth can-i run ACTION"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			q := client.CanIQuery{Verb: args[0], As: as}
			if strings.EqualFold(args[0], v1.RoleRun) {
				if len(args) != 2 {
					return &UsageError{Msg: "usage: mcpctl auth can-i run ACTION"}
				}
				q.Action = args[1]
			} else {
				q.Resource = args[1]
				if isUsers(args[1]) {
					q.Resource = "users"
				} else if k, ok := v1.LookupKind(args[1]); ok {
					q.Resource = k.Plural
				} else if args[1] != "*" {
					return &UsageError{Msg: fmt.Sprintf("unknown resource type %q; known types: %s", args[1], kindList())}
				}
				if len(args) == 3 {
					q.Name = args[2]
				}
			}
			q.Project = project
			if as != "" {
				if _, _, err := v1.ParseSubject(as); err != nil {
					return &UsageError{Msg: "--as: " + err.Error()}
				}
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			resp, err := c.CanI(cmd.Context(), q)
			if err != nil {
				return err
			}
			answer := "no"
			if resp.Allowed {
				answer = "yes"
			}
			fmt.Fprintf(f.IO.Out, "%s\t(%s)\n", answer, resp.Reason)
			if !resp.Allowed {
				return errDenied
			}
			return nil
		},
	}
	canI.Flags().StringVar(&as, "as", "", "ask about this subject instead of yourself")
	canI.Flags().StringVarP(&project, "project", "p", "", "the project of a prompt or McpToken")
	cmd.AddCommand(canI)
	return cmd
}

// errDenied is a "no" from can-i: exit 1 with nothing more to print.
var errDenied = &silentError{}

type silentError struct{}

func (*silentError) Error() string { return "" }
