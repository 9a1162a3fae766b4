package cli

import (
	"context"
	"fmt"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
)

// NewCmdVersion builds `mcpctl version`.
func NewCmdVersion(f *Factory) *cobra.Command {
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the mcpctl version, and mcpd's when a context is set",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(f.IO.Out, "mcpctl %s\n", v1.Version)
			if clientOnly {
				return nil
			}
			cur, _, _, err := f.CurrentContext()
			if err != nil {
				return nil // no context: the client version is all there is
			}
			c, err := f.Client(cur)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 3*time.Second)
			defer cancel()
			h, err := c.Health(ctx)
			if err != nil {
				fmt.Fprintf(f.IO.Out, "mcpd   unreachable at %s\n", cur.MCPDURL)
				return nil
			}
			fmt.Fprintf(f.IO.Out, "mcpd   %s (%s)\n", h.Version, cur.MCPDURL)
			return nil
		},
	}
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print only the client version")
	return cmd
}
