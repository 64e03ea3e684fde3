// Command steward is Steward's single binary: `steward run` starts the embedded
// NATS server and every service; `steward config check` validates a config;
// `steward version` prints the version.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// exitError carries a process exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }

func main() {
	root := newRootCmd()
	if err := root.Execute(); err != nil {
		code := 1
		var ee *exitError
		if errors.As(err, &ee) {
			code = ee.code
		}
		if err.Error() != "" {
			fmt.Fprintln(os.Stderr, "steward:", err)
		}
		os.Exit(code)
	}
}

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "steward",
		Short: "Steward: a self-hosted, safety-first personal assistant",
		Long: `Steward pulls your mail and GitHub items, has an LLM that you run classify
each one, and lets deterministic when/then rules act on the result — reversibly,
unless a person approves or the config says !yolo.

Start it with:   steward run
Check a config:  steward config check --config config.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newRunCmd(), newConfigCmd(), newTasksCmd(), newVersionCmd(), newChatCmd(), newNATSKeyCmd())
	return root
}
