package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/msg"
)

func newTasksCmd() *cobra.Command {
	var o app.Options
	cmd := &cobra.Command{
		Use:   "tasks",
		Short: "List, show and retry tasks of a running Steward",
		Long: `Read the task status records (KV bucket "tasks") of a running Steward, and
re-run failed tasks. Connects to --nats, else nats.url, else the embedded server
at nats.listen (127.0.0.1:4222), signing in with --nats-creds, else
nats.credentials, else the embedded server's generated <data>/nats/steward.nk
(run it as the user that runs steward run).`,
	}
	cmd.PersistentFlags().StringVar(&o.ConfigPath, "config", "", "config file (default $STEWARD_CONFIG, else ./config.yaml)")
	cmd.PersistentFlags().StringVar(&o.DataDir, "data", "", "data directory of the running Steward (directories.data), where its NATS credentials are")
	cmd.PersistentFlags().StringVar(&o.NATSURL, "nats", "", "NATS URL of the running Steward (keep passwords out of it: --nats-creds)")
	cmd.PersistentFlags().StringVar(&o.NATSCA, "nats-ca", "", "CA certificate file (PEM) of a tls:// NATS server (nats.ca, $STEWARD_NATS_CA)")
	cmd.PersistentFlags().StringVar(&o.NATSCredentials, "nats-creds", "", "credentials file: a .creds or nkey seed file (nats.credentials, $STEWARD_NATS_CREDENTIALS)")

	connect := func(cmd *cobra.Command) (*msg.Bus, context.Context, context.CancelFunc, error) {
		ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
		if cmd.Flags().Changed("nats") && urlHasSecret(o.NATSURL) {
			warnArgvSecret(cmd.ErrOrStderr(), "--nats with a password or token in the URL", "--nats-creds FILE (or STEWARD_NATS_URL)")
		}
		bus, err := app.ConnectClient(ctx, o)
		if err != nil {
			cancel()
			return nil, nil, nil, err
		}
		return bus, ctx, cancel, nil
	}
	// withBus runs a subcommand with a connection to the running Steward.
	withBus := func(fn func(ctx context.Context, bus *msg.Bus, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
		return func(cmd *cobra.Command, args []string) error {
			bus, ctx, cancel, err := connect(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			defer bus.Close()
			return fn(ctx, bus, cmd, args)
		}
	}

	var status, typ string
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List recorded tasks, oldest first",
		Args:  cobra.NoArgs,
		// A misspelt state would list nothing and look like "no such tasks".
		PreRunE: func(*cobra.Command, []string) error { return checkTaskState(status) },
		RunE: withBus(func(ctx context.Context, bus *msg.Bus, cmd *cobra.Command, _ []string) error {
			list, err := bus.Tasks(ctx, func(s *msg.Status) bool {
				return (status == "" || s.Status == status) && (typ == "" || s.Type == typ || strings.HasPrefix(s.Type, typ+"."))
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if list == nil {
					list = []msg.Status{}
				}
				return enc.Encode(list)
			}
			tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tSTATUS\tATTEMPTS\tCREATED\tERROR")
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.ID, statusText(s), s.Attempts, s.CreatedAt.Local().Format("2006-01-02 15:04:05"), errorText(s.Error))
			}
			return tw.Flush()
		}),
	}
	ls.Flags().StringVar(&status, "status", "", "only tasks in this state: "+strings.Join(taskStates(), ", "))
	ls.Flags().StringVar(&typ, "type", "", "only this task type (or prefix, e.g. email.inbox)")
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	show := &cobra.Command{
		Use:   "show ID",
		Short: "Print a task's status record as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: withBus(func(ctx context.Context, bus *msg.Bus, cmd *cobra.Command, args []string) error {
			st, err := bus.Status(ctx, args[0])
			if errors.Is(err, msg.ErrNotFound) {
				return fmt.Errorf("task %s not found (records are kept for queue_policies.retention)", args[0])
			}
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(st)
		}),
	}

	retry := &cobra.Command{
		Use:   "retry ID...",
		Short: "Re-run failed tasks as new tasks (same type, payload, priority, lane, provenance)",
		Args:  cobra.MinimumNArgs(1),
		RunE: withBus(func(ctx context.Context, bus *msg.Bus, cmd *cobra.Command, args []string) error {
			var failed int
			for _, id := range args {
				p, err := bus.Retry(ctx, id)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: %v\n", id, err)
					failed++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s → %s\n", id, p.ID)
			}
			if failed > 0 {
				return &exitError{code: 1, err: fmt.Errorf("%d of %d tasks not retried", failed, len(args))}
			}
			return nil
		}),
	}
	cmd.AddCommand(ls, show, retry)
	return cmd
}

// taskStates are the states `steward tasks ls --status` accepts.
func taskStates() []string {
	return []string{msg.StatePending, msg.StateActive, msg.StateDone, msg.StateFailed}
}

// checkTaskState accepts "" (every state) or one of taskStates.
func checkTaskState(s string) error {
	if s == "" || slices.Contains(taskStates(), s) {
		return nil
	}
	return fmt.Errorf("--status %q: not a task state (allowed: %s)", s, strings.Join(taskStates(), ", "))
}

// statusText is a record's state as `tasks ls` shows it: an active record
// that no worker has heartbeated for a while says "active (stale)".
func statusText(s msg.Status) string {
	if s.Stale {
		return s.Status + " (stale)"
	}
	return s.Status
}

// errorText is an error as `tasks ls` shows it: on one line, without terminal
// control sequences (errors can quote mail), at most 60 characters.
func errorText(e string) string {
	r := []rune(strings.Join(strings.Fields(terminalSafe(e)), " "))
	if len(r) > 60 {
		return string(r[:57]) + "..."
	}
	return string(r)
}
