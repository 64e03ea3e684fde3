package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/msg"
)

func newNATSKeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "nats-key FILE",
		Short: "Create a NATS nkey for one machine and print its public key",
		Long: `Create a NATS user nkey seed in FILE (mode 0600, in a 0700 directory; an
existing FILE is kept) and print the public key. Run it on each machine of a
split deployment: the machine's Steward signs in with --nats-creds FILE, and the
public key goes into /etc/nats/steward-users.env on the NATS machine
(STEWARD_NATS_PI_NKEY=... or STEWARD_NATS_GPU_NKEY=...). The seed never leaves
the machine and is never printed.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := msg.EnsureNkeyFile(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), pub)
			return nil
		},
	}
}
