package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

// NewCmdConfig builds `mcpctl config` and its verbs.
func NewCmdConfig(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Show and switch contexts (mcpd URL + session) in ~/.config/mcpctl/config.yaml",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return &UsageError{Msg: "config needs a verb: get-contexts, use-context, current-context or claude"}
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts; * marks the current one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(f.IO.Out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "CURRENT\tNAME\tMCPD-URL\tUSER\tLOGGED-IN")
			for _, c := range cfg.Contexts {
				mark := ""
				if c.Name == cfg.CurrentContext {
					mark = "*"
				}
				in := "no"
				if c.Token != "" {
					in = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", mark, c.Name, c.MCPDURL, c.Email, in)
			}
			return tw.Flush()
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:               "use-context NAME",
		Short:             "Make NAME the current context",
		Args:              exactArgs(1, "use-context needs the context name: mcpctl config use-context NAME"),
		ValidArgsFunction: contextNames(f),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := f.Config()
			if err != nil {
				return err
			}
			if _, ok := cfg.Context(args[0]); !ok {
				return &UsageError{Msg: fmt.Sprintf("context %q does not exist; known contexts: %s", args[0], orNone(cfg.Names()))}
			}
			cfg.CurrentContext = args[0]
			if err := cfg.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "Switched to context %q\n", args[0])
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "current-context",
		Short: "Print the name of the current context",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, _, err := f.Config()
			if err != nil {
				return err
			}
			if cfg.CurrentContext == "" {
				return fmt.Errorf("no current context: log in with `mcpctl login` or run `mcpctl config use-context NAME`")
			}
			fmt.Fprintln(f.IO.Out, cfg.CurrentContext)
			return nil
		},
	})
	cmd.AddCommand(NewCmdConfigClaude(f, nil))
	return cmd
}

func exactArgs(n int, msg string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return &UsageError{Msg: msg}
		}
		return nil
	}
}

// contextNames completes context names from the config file.
func contextNames(f *Factory) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(cmd *cobra.Command, args []string, prefix string) ([]string, cobra.ShellCompDirective) {
		cfg, _, err := f.Config()
		if err != nil || len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return cfg.Names(), cobra.ShellCompDirectiveNoFileComp
	}
}
