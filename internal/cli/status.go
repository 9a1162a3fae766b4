package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/spf13/cobra"
)

// StatusOptions are the inputs of `mcpctl status`.
type StatusOptions struct {
	F      *Factory
	Output string
}

// StatusReport is what `mcpctl status -o json` prints.
type StatusReport struct {
	Context   string     `json:"context"`
	MCPDURL   string     `json:"mcpdUrl"`
	Reachable bool       `json:"reachable"`
	Error     string     `json:"error,omitempty"`
	Health    *v1.Health `json:"health,omitempty"`
	User      *v1.Me     `json:"user,omitempty"`
	LoggedIn  bool       `json:"loggedIn"`
}

// NewCmdStatus builds `mcpctl status`.
func NewCmdStatus(f *Factory, runF func(*StatusOptions) error) *cobra.Command {
	o := &StatusOptions{F: f}
	cmd := &cobra.Command{
		Use:   "status [INSTANCE-ID]",
		Short: "Show whether mcpd is reachable and who you are, or an instance's health",
		Long: `Show the current context's mcpd: reachable or not, version, database state,
and the user you are logged in as.

With an instance id, show that instance's health instead: state, readiness,
liveness, failed probes in a row, the last probe and the uptime.

Exit codes: 0 reachable and logged in (with an id: the instance is ready);
1 unreachable, degraded, not logged in, or no such instance; 2 usage error;
3 the instance exists but is not ready.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.Output != "text" && o.Output != "json" {
				return &UsageError{Msg: fmt.Sprintf("-o %q is not supported: use text or json", o.Output)}
			}
			if runF != nil {
				return runF(o)
			}
			if len(args) == 1 {
				return instanceStatus(cmd.Context(), o, args[0])
			}
			return statusRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVarP(&o.Output, "output", "o", "text", "output format: text or json")
	return cmd
}

// errStatus is a non-zero status already explained by the printed report.
var errStatus = errors.New("status is not ok: see the report above")

func statusRun(ctx context.Context, o *StatusOptions) error {
	cur, _, _, err := o.F.CurrentContext()
	if err != nil {
		return err
	}
	c, err := o.F.Client(cur)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	r := StatusReport{Context: cur.Name, MCPDURL: cur.MCPDURL}
	h, err := c.Health(ctx)
	if err != nil {
		r.Error = err.Error()
	} else {
		r.Reachable, r.Health = true, h
		if cur.Token != "" {
			me, err := c.Me(ctx)
			if err != nil {
				r.Error = err.Error()
			} else {
				r.User, r.LoggedIn = me, true
			}
		}
	}
	if o.Output == "json" {
		enc := json.NewEncoder(o.F.IO.Out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
	} else {
		printStatus(o, r)
	}
	if !r.Reachable || !r.LoggedIn || r.Health.Status != v1.StatusOK {
		return errStatus
	}
	return nil
}

func printStatus(o *StatusOptions, r StatusReport) {
	tw := tabwriter.NewWriter(o.F.IO.Out, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	fmt.Fprintf(tw, "Context:\t%s\n", r.Context)
	fmt.Fprintf(tw, "mcpd:\t%s\n", r.MCPDURL)
	if !r.Reachable {
		fmt.Fprintf(tw, "Reachable:\tno\n")
		fmt.Fprintf(tw, "Error:\t%s\n", r.Error)
		return
	}
	fmt.Fprintf(tw, "Reachable:\tyes\n")
	fmt.Fprintf(tw, "Version:\t%s\n", r.Health.Version)
	fmt.Fprintf(tw, "Status:\t%s (database %s)\n", r.Health.Status, r.Health.DB)
	switch {
	case r.LoggedIn:
		fmt.Fprintf(tw, "User:\t%s (session expires %s)\n", r.User.User.Email, formatTime(r.User.SessionExpiresAt))
	case r.Error != "":
		fmt.Fprintf(tw, "User:\tnot logged in: %s\n", r.Error)
	default:
		fmt.Fprintf(tw, "User:\tnot logged in (run mcpctl login)\n")
	}
}
