package main

import (
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/stewardhq/steward/internal/app"
	"github.com/stewardhq/steward/internal/msg"
)

func newRunCmd() *cobra.Command {
	var o app.Options
	var services, lanes, natsListen string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run Steward: embedded NATS plus every service in one process",
		Long: `Run Steward. By default it embeds a NATS server with JetStream (file store
under --data, clients on 127.0.0.1:4222 so the nats CLI works) and runs every
service: ` + strings.Join(app.AllServices(), ", ") + `.

The gateway listens on 127.0.0.1:6767. --expose listens on every interface and
requires gateway.token (every request then needs "Authorization: Bearer <token>").
Both ports are checked before anything starts: one in use fails at once.

A steward run that embeds NATS locks its data directory (<data>/steward.lock,
holding its PID): a second one on the same directory exits at once, naming the
first one's PID. With --nats URL there is no store in the data directory and no
lock, so workers that join one NATS may share a config and data directory.

The daily log gets the config's start-up safety warnings (rules the gate
disabled, !yolo rules, ...) once, and again only when they change.

SIGINT/SIGTERM stop fetching new tasks, let tasks in flight finish (at most 25 s;
unfinished ones are redelivered on the next start) and exit 0.

With a TCP listener the embedded NATS server accepts only the nkey user whose
seed it generates at first start in <data>/nats/steward.nk (mode 0600); steward
tasks and the nats CLI (--nkey FILE) sign in with it. A lost NATS connection is
re-established automatically; when it stays lost longer than
--nats-max-disconnect (or the server closes it for good), steward run exits
with status 1 so that its service manager restarts it.

Settings come from flags, then STEWARD_* environment variables, then the config
file (--config, else $STEWARD_CONFIG, else ./config.yaml; without one Steward
starts with an empty config and says so).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if services != "" {
				for _, s := range strings.Split(services, ",") {
					if s = strings.TrimSpace(s); s != "" {
						o.Services = append(o.Services, s)
					}
				}
			}
			for _, l := range strings.Split(lanes, ",") {
				if l = strings.TrimSpace(l); l != "" {
					o.Lanes = append(o.Lanes, l)
				}
			}
			o.Logger = newLogger(cmd.ErrOrStderr(), o.Dev)
			if cmd.Flags().Changed("nats-listen") {
				o.NATSListen = &natsListen
			}
			if cmd.Flags().Changed("nats") && urlHasSecret(o.NATSURL) {
				warnArgvSecret(cmd.ErrOrStderr(), "--nats with a password or token in the URL", "--nats-creds FILE (or STEWARD_NATS_URL)")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return app.Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.ConfigPath, "config", "", "config file (default $STEWARD_CONFIG, else ./config.yaml)")
	f.StringVar(&o.DataDir, "data", "", "data directory for the NATS store and state (default ./data; directories.data)")
	f.StringVar(&services, "services", "", "comma-separated subset of services to run (default all: "+strings.Join(app.AllServices(), ",")+")")
	f.StringVar(&o.NATSURL, "nats", "", "join an existing NATS server at this URL instead of embedding one (nats.url; keep passwords out of it: --nats-creds)")
	f.StringVar(&natsListen, "nats-listen", "", "client address of the embedded NATS server, host:port on loopback; \"\" = in-process only (default 127.0.0.1:4222; nats.listen, $STEWARD_NATS_LISTEN)")
	f.StringVar(&o.NATSCredentials, "nats-creds", "", "credentials file for --nats: a .creds or nkey seed file (nats.credentials, $STEWARD_NATS_CREDENTIALS)")
	f.StringVar(&o.NATSCA, "nats-ca", "", "CA certificate file (PEM) that signs the TLS certificate of the --nats server (nats.ca, $STEWARD_NATS_CA)")
	f.DurationVar(&o.NATSMaxDisconnect, "nats-max-disconnect", msg.DefaultMaxDisconnect, "exit with an error when NATS stays unreachable this long (systemd then restarts Steward)")
	f.IntVar(&o.Port, "port", 0, "gateway port (default 6767; gateway.listen)")
	f.BoolVar(&o.Expose, "expose", false, "listen on every interface (requires gateway.token)")
	f.StringVar(&lanes, "lanes", "", "comma-separated pipeline lanes to serve, names or patterns like 'llm_*' (default all: io, script, llm_<profile>)")
	f.BoolVar(&o.Dev, "dev", false, "human-readable logs; watch the config file and apply valid edits")
	return cmd
}

// newLogger returns JSON logs for machines, or text logs with --dev, on w.
// Durations print as Go writes them ("1.5s"), not as nanoseconds.
func newLogger(w io.Writer, dev bool) *slog.Logger {
	if dev {
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: readableDuration}))
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo, ReplaceAttr: readableDuration}))
}

// readableDuration is a slog ReplaceAttr that writes time.Duration values as
// strings such as "1.5s" (the JSON handler writes them as integer nanoseconds).
func readableDuration(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		a.Value = slog.StringValue(a.Value.Duration().String())
	}
	return a
}
