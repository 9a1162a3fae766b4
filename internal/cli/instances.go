package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	v1 "github.com/mcpctl/mcpctl/pkg/api/v1"
	"github.com/mcpctl/mcpctl/pkg/client"
	"github.com/spf13/cobra"
)

// ExitNotReady is `mcpctl status ID`'s code for an instance that exists
// but is not ready.
const ExitNotReady = 3

// notReadyError: the instance exists and is not ready; the report says why.
type notReadyError struct{ silentError }

// isInstances reports whether a kind argument names instances, which are
// owned by mcpd, not declared.
func isInstances(arg string) bool {
	switch strings.ToLower(arg) {
	case "instance", "instances", "inst":
		return true
	}
	return false
}

// checkInstanceID refuses malformed ids before any request.
func checkInstanceID(ids ...string) error {
	for _, id := range ids {
		if msg := v1.ValidateInstanceID(id); msg != "" {
			return &UsageError{Msg: fmt.Sprintf("%q %s", id, msg)}
		}
	}
	return nil
}

// checkDrained checks the id and --drain-timeout of stop and restart.
func checkDrained(id string, drain time.Duration) error {
	if err := checkInstanceID(id); err != nil {
		return err
	}
	if drain < 0 || drain > 10*time.Minute {
		return &UsageError{Msg: "--drain-timeout must be from 0s to 10m"}
	}
	return nil
}

// instanceClient checks ids, then opens the client.
func instanceClient(f *Factory, ids ...string) (*client.Client, error) {
	if err := checkInstanceID(ids...); err != nil {
		return nil, err
	}
	return f.APIClient()
}

func instanceColumns(wide bool) []string {
	cols := []string{"ID", "SERVER", "STATE", "READY", "RESTARTS", "AGE"}
	if wide {
		cols = append(cols, "NODE", "RUNTIME", "RUNTIME ID", "MESSAGE")
	}
	return cols
}

func instanceRow(in v1.Instance, wide bool, now time.Time) []string {
	ready := "no"
	if in.Health.Readiness {
		ready = "yes"
	}
	restarts := strconv.Itoa(in.Restarts)
	if !in.NextStartAt.IsZero() && in.NextStartAt.After(now) {
		restarts += fmt.Sprintf(" (next start in %s)", in.NextStartAt.Sub(now).Round(time.Second))
	}
	row := []string{in.ID, in.Server, in.State, ready, restarts, Age(&in.CreatedAt, now)}
	if wide {
		row = append(row, dash(in.Node), in.Runtime, dash(in.RuntimeID), dash(truncate(printable(in.Message), 60)))
	}
	return row
}

func getInstances(ctx context.Context, o *GetOptions) error {
	if o.LabelSelector != "" || o.Project != "" || o.Reveal {
		return &UsageError{Msg: "instances take no -l, -p or --reveal; narrow them with --server"}
	}
	c, err := instanceClient(o.F, o.Names...)
	if err != nil {
		return err
	}
	defer c.Close()
	var list []v1.Instance
	if len(o.Names) == 0 {
		if list, err = c.ListInstances(ctx, o.Server, o.AllInstances); err != nil {
			return err
		}
	}
	for _, id := range o.Names {
		in, err := c.GetInstance(ctx, id)
		if err != nil {
			return err
		}
		list = append(list, *in)
	}
	now := timeNow()
	if o.Now != nil {
		now = o.Now()
	}
	wide := o.Output == "wide"
	format := o.Output
	if wide {
		format = "table"
	}
	return printList(o.F.IO.Out, format, list, len(o.Names) == 1, "instance/", func(in v1.Instance) string { return in.ID },
		instanceColumns(wide), func(in v1.Instance) []string { return instanceRow(in, wide, now) }, o.F.IO.ErrOut)
}

func describeInstances(ctx context.Context, o *DescribeOptions) error {
	c, err := instanceClient(o.F, o.Names...)
	if err != nil {
		return err
	}
	defer c.Close()
	now := timeNow()
	for i, id := range o.Names {
		in, err := c.GetInstance(ctx, id)
		if err != nil {
			return err
		}
		if i > 0 {
			fmt.Fprintln(o.F.IO.Out, "\n---")
		}
		w := o.F.IO.Out
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "ID:\t%s\n", in.ID)
		fmt.Fprintf(tw, "Server:\t%s\n", in.Server)
		fmt.Fprintf(tw, "State:\t%s\n", in.State)
		if in.Message != "" {
			fmt.Fprintf(tw, "Message:\t%s\n", printable(in.Message))
		}
		fmt.Fprintf(tw, "Runtime:\t%s (%s)\n", in.Runtime, dash(in.RuntimeID))
		fmt.Fprintf(tw, "Node:\t%s\n", dash(in.Node))
		fmt.Fprintf(tw, "Restarts:\t%d\n", in.Restarts)
		if in.ExitCode != nil {
			fmt.Fprintf(tw, "Last exit code:\t%d\n", *in.ExitCode)
		}
		if !in.NextStartAt.IsZero() {
			fmt.Fprintf(tw, "Next start:\t%s\n", formatTime(in.NextStartAt))
		}
		fmt.Fprintf(tw, "Created:\t%s (%s ago)\n", formatTime(in.CreatedAt), Age(&in.CreatedAt, now))
		fmt.Fprintf(tw, "Started:\t%s\n", formatTime(in.StartedAt))
		fmt.Fprintf(tw, "Ready:\t%s\n", formatTime(in.ReadyAt))
		if !in.StoppedAt.IsZero() {
			fmt.Fprintf(tw, "Stopped:\t%s\n", formatTime(in.StoppedAt))
		}
		h := in.Health
		fmt.Fprintf(tw, "Health:\t%s (ready %v, live %v, %d of %d failed probes, last %s, %.1f ms)\n", h.Status, h.Readiness, h.Liveness,
			h.ConsecutiveFailures, h.AlertThreshold, formatTime(h.LastChecked), h.LatencyMillis)
		if h.LastError != "" {
			fmt.Fprintf(tw, "Last probe error:\t%s\n", printable(h.LastError))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(w, "Events:")
		if len(in.Events) == 0 {
			fmt.Fprintln(w, "  <none>")
			continue
		}
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  AGE\tTYPE\tREASON\tMESSAGE")
		for _, ev := range in.Events {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", Age(&ev.Time, now), ev.Type, printable(ev.Reason), printable(ev.Message))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// NewCmdStart builds `mcpctl start SERVER`.
func NewCmdStart(f *Factory) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "start SERVER",
		Short: "Start one more instance of a server (its replicas grow by one)",
		Long: `Start one more instance of a server. The server's replicas grow by one, so
mcpd keeps the new instance running; ` + "`mcpctl stop ID`" + ` undoes it.

  mcpctl start memory
  mcpctl get instances --server memory`,
		Args: exactArgs(1, "usage: mcpctl start SERVER"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			in, err := c.StartInstance(cmd.Context(), args[0])
			if errors.Is(err, client.ErrAccepted) {
				fmt.Fprintf(f.IO.Out, "server/%s: %v\n", args[0], err)
				return nil
			}
			if err != nil {
				return err
			}
			if output == "table" || output == "wide" {
				fmt.Fprintf(f.IO.Out, "instance/%s of server %s started (%s); follow it with `mcpctl logs -f %s`\n", in.ID, in.Server, in.State, in.ID)
				return nil
			}
			return printList(f.IO.Out, output, []v1.Instance{*in}, true, "instance/", func(in v1.Instance) string { return in.ID }, nil, nil, f.IO.ErrOut)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "table", "output format: table, json, yaml or name")
	return cmd
}

// NewCmdStop builds `mcpctl stop ID`.
func NewCmdStop(f *Factory) *cobra.Command {
	var drain time.Duration
	var yes bool
	cmd := &cobra.Command{
		Use:   "stop ID",
		Short: "Stop an instance for good (its server's replicas drop by one)",
		Long: `Stop an instance: mcpd asks it to stop (end of input, SIGTERM), waits the drain
timeout, then kills it and everything it started. The server's replicas drop
by one, so the instance is not replaced; to replace it, use restart.

On a terminal mcpctl asks first; --yes skips the question.

Exit codes: 0 stopped, 1 error, 2 usage.`,
		Args: oneInstanceID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := checkDrained(id, drain); err != nil {
				return err
			}
			if !yes && f.IO.InTTY && !confirm(f, fmt.Sprintf("Stop instance %s?", id)) {
				return errAborted
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			in, err := c.StopInstance(cmd.Context(), id, drain)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "instance/%s stopped (%s)\n", in.ID, dash(printable(in.Message)))
			return nil
		},
	}
	cmd.Flags().DurationVar(&drain, "drain-timeout", 0, "how long the instance may take to stop before it is killed (default: mcpd's, 10s)")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

// NewCmdRestart builds `mcpctl restart ID`.
func NewCmdRestart(f *Factory) *cobra.Command {
	var drain time.Duration
	cmd := &cobra.Command{
		Use:   "restart ID",
		Short: "Stop an instance and start it again under the same id",
		Args:  oneInstanceID,
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			if err := checkDrained(id, drain); err != nil {
				return err
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			in, err := c.RestartInstance(cmd.Context(), id, drain)
			if err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "instance/%s restarted (%s, %d restarts)\n", in.ID, in.State, in.Restarts)
			return nil
		},
	}
	cmd.Flags().DurationVar(&drain, "drain-timeout", 0, "how long the instance may take to stop before it is killed (default: mcpd's, 10s)")
	return cmd
}

// NewCmdScale builds `mcpctl scale server NAME --replicas N`.
func NewCmdScale(f *Factory) *cobra.Command {
	replicas := -1
	cmd := &cobra.Command{
		Use:   "scale server NAME --replicas N",
		Short: "Set how many instances of a server mcpd keeps running",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 || !isServerKind(args[0]) {
				return &UsageError{Msg: "usage: mcpctl scale server NAME --replicas N"}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas < 0 || replicas > v1.MaxReplicas {
				return &UsageError{Msg: fmt.Sprintf("--replicas must be from 0 to %d", v1.MaxReplicas)}
			}
			c, err := f.APIClient()
			if err != nil {
				return err
			}
			defer c.Close()
			k, _ := v1.LookupKind("Server")
			patch := fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas)
			if _, err := c.Patch(cmd.Context(), k, "", args[1], patch); err != nil {
				return err
			}
			fmt.Fprintf(f.IO.Out, "server/%s scaled to %d replicas\n", args[1], replicas)
			return nil
		},
	}
	cmd.Flags().IntVar(&replicas, "replicas", -1, "the number of instances, 0 to 10 (required)")
	return cmd
}

func isServerKind(arg string) bool {
	k, ok := v1.LookupKind(arg)
	return ok && k.Kind == "Server"
}

// LogsOptions are the inputs of `mcpctl logs`.
type LogsOptions struct {
	F      *Factory
	ID     string
	Follow bool
	Tail   int
	Since  string
	// Transport forces websocket or sse for -f (default: websocket, then
	// sse when the upgrade is refused).
	Transport string
}

// NewCmdLogs builds `mcpctl logs ID`.
func NewCmdLogs(f *Factory) *cobra.Command {
	o := &LogsOptions{F: f}
	cmd := &cobra.Command{
		Use:   "logs ID",
		Short: "Print an instance's log, or follow it with -f",
		Long: `Print an instance's log lines (stderr of a STDIO server, and mcpd's notes).
With -f mcpctl keeps following: over a WebSocket, or over server-sent events
when something on the way refuses the upgrade. A broken connection is retried
with backoff and resumes after the last line shown, without repeats or gaps.
Ctrl-C ends it.

  mcpctl logs 0b6f1c9e-4a51-4c1e-9f0e-2d0c8a7b6e15 --tail 50
  mcpctl logs -f ID --since 10m

Exit codes: 0 done (with -f: the instance stopped, or Ctrl-C), 1 error, 2 usage.`,
		Args: oneInstanceID,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.ID = args[0]
			if err := checkInstanceID(o.ID); err != nil {
				return err
			}
			if o.Tail < 0 || o.Tail > 10000 {
				return &UsageError{Msg: "--tail must be from 1 to 10000"}
			}
			if o.Transport != "" && o.Transport != client.FollowWebSocket && o.Transport != client.FollowSSE {
				return &UsageError{Msg: "--transport must be websocket or sse"}
			}
			return logsRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Follow, "follow", "f", false, "keep printing new lines")
	cmd.Flags().IntVar(&o.Tail, "tail", 0, "only the last N lines")
	cmd.Flags().StringVar(&o.Since, "since", "", "only lines newer than a duration (10m) or a time (RFC 3339)")
	cmd.Flags().StringVar(&o.Transport, "transport", "", "with -f: websocket or sse (default: websocket, falling back to sse)")
	return cmd
}

func printLine(f *Factory, l v1.LogLine) {
	prefix := ""
	if l.Stream != "stderr" {
		prefix = "[" + l.Stream + "] "
	}
	fmt.Fprintf(f.IO.Out, "%s %s%s\n", l.Time.Local().Format("2006-01-02T15:04:05.000Z07:00"), prefix, printable(l.Line))
}

func logsRun(ctx context.Context, o *LogsOptions) error {
	c, err := o.F.APIClient()
	if err != nil {
		return err
	}
	defer c.Close()
	opts := client.LogOptions{Tail: o.Tail, Since: o.Since}
	if !o.Follow {
		for {
			lines, next, err := c.Logs(ctx, o.ID, opts)
			if err != nil {
				return err
			}
			for _, l := range lines {
				printLine(o.F, l)
			}
			if opts.Tail > 0 || len(lines) == 0 || next == opts.Cursor {
				return nil
			}
			opts.Cursor = next
		}
	}
	// Ctrl-C ends the follow cleanly, exit 0.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	transport := o.Transport
	if transport == "" {
		transport = client.FollowWebSocket
	}
	delay := 250 * time.Millisecond
	for {
		res, err := c.FollowLogs(ctx, o.ID, opts, transport, func(l v1.LogLine) error {
			printLine(o.F, l)
			return nil
		})
		if res.Cursor > opts.Cursor {
			opts.Cursor, opts.Tail, delay = res.Cursor, 0, 250*time.Millisecond
		}
		switch {
		case ctx.Err() != nil:
			return nil
		case err == nil && res.Ended:
			fmt.Fprintf(o.F.IO.ErrOut, "log stream ended: %s\n", res.Reason)
			return nil
		case errors.Is(err, client.ErrUpgradeRefused) && o.Transport == "":
			fmt.Fprintln(o.F.IO.ErrOut, "the WebSocket upgrade was refused on the way to mcpd; following over server-sent events")
			transport = client.FollowSSE
			continue
		case isFinal(err):
			return err
		}
		if opts.Cursor == 0 && opts.Tail == 0 && res.Cursor == 0 {
			// Nothing shown yet: resume from the start, not from "now".
			opts.Cursor = 0
		}
		fmt.Fprintf(o.F.IO.ErrOut, "log stream interrupted (%v); reconnecting in %s\n", err, delay)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay + time.Duration(rand.Int64N(int64(delay/4)+1))):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

// isFinal reports errors a reconnect cannot cure: mcpd's own refusals
// (not found, forbidden, bad request).
func isFinal(err error) bool {
	var e *v1.Error
	return errors.As(err, &e) && e.Code != "" && e.Status != 0 && e.Status < 500 && e.Status != 429
}

// instanceStatus is `mcpctl status ID`.
func instanceStatus(ctx context.Context, o *StatusOptions, id string) error {
	c, err := instanceClient(o.F, id)
	if err != nil {
		return err
	}
	defer c.Close()
	in, err := c.GetInstance(ctx, id)
	if err != nil {
		return err
	}
	if o.Output == "json" {
		if err := printJSON(o.F.IO.Out, struct {
			ID     string            `json:"id"`
			Server string            `json:"server"`
			State  string            `json:"state"`
			Health v1.InstanceHealth `json:"health"`
		}{in.ID, in.Server, in.State, in.Health}); err != nil {
			return err
		}
	} else {
		h := in.Health
		tw := tabwriter.NewWriter(o.F.IO.Out, 0, 4, 2, ' ', 0)
		fmt.Fprintf(tw, "Instance:\t%s (server %s)\n", in.ID, in.Server)
		fmt.Fprintf(tw, "State:\t%s\n", in.State)
		fmt.Fprintf(tw, "Health:\t%s\n", h.Status)
		fmt.Fprintf(tw, "Ready:\t%v\n", h.Readiness)
		fmt.Fprintf(tw, "Live:\t%v\n", h.Liveness)
		fmt.Fprintf(tw, "Failed probes:\t%d in a row (unhealthy at %d)\n", h.ConsecutiveFailures, h.AlertThreshold)
		fmt.Fprintf(tw, "Last checked:\t%s (%.1f ms)\n", formatTime(h.LastChecked), h.LatencyMillis)
		if h.LastError != "" {
			fmt.Fprintf(tw, "Last error:\t%s\n", printable(h.LastError))
		}
		fmt.Fprintf(tw, "Uptime:\t%s\n", (time.Duration(h.Uptime * float64(time.Second))).Round(time.Second))
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if !in.Health.Readiness {
		return &notReadyError{}
	}
	return nil
}

// oneInstanceID wants exactly one argument, an instance id.
func oneInstanceID(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return &UsageError{Msg: fmt.Sprintf("%s takes one instance ID (got %d arguments); list them with `mcpctl get instances`", cmd.CommandPath(), len(args))}
	}
	return nil
}
