// Package app assembles a running Steward: it loads the config, embeds (or joins)
// NATS, connects the task layer and starts the requested services in one process.
// cmd/steward calls it for `steward run`; end-to-end tests call it too.
//
// It owns process wiring only: no service logic lives here.
package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/integrations/gemini"
	"github.com/stewardhq/steward/integrations/notes"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
	"github.com/stewardhq/steward/services/chat"
	"github.com/stewardhq/steward/services/gateway"
	"github.com/stewardhq/steward/services/journal"
	"github.com/stewardhq/steward/services/pipeline"
	"github.com/stewardhq/steward/services/scheduler"
)

// Service names accepted by --services.
const (
	ServiceGateway   = "gateway"
	ServiceScheduler = "scheduler"
	ServicePipeline  = "pipeline"
	ServiceChat      = "chat"
	ServiceJournal   = "journal"
)

// AllServices lists every service, in start order.
var allServices = []string{ServicePipeline, ServiceChat, ServiceJournal, ServiceScheduler, ServiceGateway}

// AllServices returns every service name, in start order.
func AllServices() []string { return slices.Clone(allServices) }

// Options are the `steward run` flags.
type Options struct {
	// ConfigPath is --config ("" = $STEWARD_CONFIG, else ./config.yaml).
	ConfigPath string
	// DataDir is --data (overrides directories.data). A Run that embeds NATS
	// holds an exclusive lock on it (see DataLockFile).
	DataDir string
	// Services is --services (nil = all).
	Services []string
	// NATSURL is --nats (overrides nats.url): join that NATS instead of embedding.
	NATSURL string
	// NATSCredentials is --nats-creds (overrides nats.credentials): the .creds or
	// nkey seed file for NATSURL, so no password needs to be in the URL.
	NATSCredentials string
	// NATSCA is --nats-ca (overrides nats.ca): the CA file that signs the TLS
	// certificate of the NATS server at NATSURL.
	NATSCA string
	// NATSListen is --nats-listen (overrides nats.listen): the client address of
	// the embedded NATS server; nil keeps nats.listen, a pointer to "" turns TCP
	// clients off.
	NATSListen *string
	// NATSMaxDisconnect is --nats-max-disconnect: how long the NATS connection
	// may stay lost before Run gives up and returns an error, so that the
	// service manager restarts Steward (0 = msg.DefaultMaxDisconnect).
	NATSMaxDisconnect time.Duration
	// Port is --port (overrides the port of gateway.listen; 0 = keep).
	Port int
	// Expose is --expose: listen on every interface (requires gateway.token).
	Expose bool
	// Lanes is --lanes: the pipeline lanes this process serves, as names or
	// path.Match patterns such as "llm_*" (nil = all). It lets the GPU box serve
	// only the LLM lanes while the Pi serves io and script.
	Lanes []string
	// Dev is --dev: watch the config file and apply valid edits without a restart.
	Dev bool
	// Environ is the environment (nil = os.Environ()).
	Environ []string
	// Logger receives operational logs.
	Logger *slog.Logger
	// Ready, when set, is called once every service is up, with what was started.
	Ready func(Info)
}

// Info describes a started Steward.
type Info struct {
	// GatewayURL is the gateway's base URL ("" when not started).
	GatewayURL string
	// NATSURL is the URL nats clients use ("" when the embedded server has no TCP
	// listener).
	NATSURL string
	// NATSCredentials is the credentials file TCP clients of the embedded server
	// sign in with ("" when Steward joined another NATS, or the embedded server
	// has no TCP listener).
	NATSCredentials string
	// ConfigSource is the config file in use ("" = none).
	ConfigSource string
}

// Registry returns the integration types compiled into Steward.
func Registry() *manifest.Registry { return builtin.Registry() }

// LoadConfig loads the config for these options and runs the rules check, so the
// caller sees every warning. It is what `steward run` and `steward config check`
// share.
func LoadConfig(o Options) (*config.Config, *rules.Report, error) {
	cfg, err := config.Load(config.LoadOptions{
		Path:      o.ConfigPath,
		Registry:  Registry(),
		Overrides: o.overrides(),
		Environ:   o.Environ,
	})
	if err != nil {
		return nil, nil, err
	}
	report, err := rules.Check(cfg, Registry())
	if err != nil {
		return cfg, report, err
	}
	return cfg, report, nil
}

func (o Options) overrides() map[string]string {
	ov := map[string]string{}
	if o.DataDir != "" {
		ov["directories.data"] = o.DataDir
	}
	if o.NATSURL != "" {
		ov["nats.url"] = o.NATSURL
	}
	if o.NATSCredentials != "" {
		ov["nats.credentials"] = o.NATSCredentials
	}
	if o.NATSCA != "" {
		ov["nats.ca"] = o.NATSCA
	}
	if o.NATSListen != nil {
		ov["nats.listen"] = *o.NATSListen
	}
	return ov
}

// Run starts Steward and blocks until ctx is cancelled, then shuts down in order:
// stop accepting work, let in-flight tasks finish (bounded), close NATS.
func Run(ctx context.Context, o Options) error {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	services := o.Services
	if len(services) == 0 {
		services = AllServices()
	}
	for _, s := range services {
		if !slices.Contains(allServices, s) {
			return fmt.Errorf("--services: unknown service %q (allowed: %s)", s, strings.Join(allServices, ", "))
		}
	}
	cfg, report, err := LoadConfig(o)
	if err != nil {
		return err
	}
	for _, n := range cfg.Notices {
		log.Info(n)
	}
	for _, w := range report.Warnings {
		log.Warn(w)
	}

	gatewayAddr, err := gatewayListen(cfg.Gateway.Listen, o.Port)
	if err != nil {
		return err
	}
	// Refuse an unsafe gateway before starting anything else.
	if slices.Contains(services, ServiceGateway) && !gatewayAllowed(gatewayAddr, o.Expose, cfg.Gateway.Token) {
		return fmt.Errorf("%w: --expose (or a non-loopback gateway.listen) needs gateway.token: "+
			"add `gateway: {token: !secret gateway_token}` to config.yaml with the token in secrets.yaml, "+
			"or set STEWARD_GATEWAY_TOKEN", gateway.ErrTokenRequired)
	}

	// NATS: join or embed.
	var srv *msg.Server
	natsURL := cfg.NATS.URL
	if natsURL == "" {
		// The embedded server's store lives in the data directory: one process
		// at a time, or both write the same files and lose data.
		lock, err := lockDataDir(cfg.Directories.Data)
		if err != nil {
			return err
		}
		defer lock.unlock()
		if !loopbackOrEmpty(cfg.NATS.Listen) {
			return fmt.Errorf("nats.listen %q is not a loopback address: the embedded NATS server speaks cleartext with one all-powerful user, "+
				"so Steward only lets it listen on 127.0.0.1. To split Steward across machines run a nats-server with "+
				"TLS and one user per machine (see deploy/nats/nats-server.conf) and start every Steward with --nats URL --nats-creds FILE", cfg.NATS.Listen)
		}
		if err := checkNATSListen(cfg.NATS.Listen); err != nil {
			return err
		}
	}
	// The gateway's port is taken now, before NATS and the services start, so a
	// port in use fails at once; the gateway binds it again when it starts.
	var gatewayHold net.Listener
	if slices.Contains(services, ServiceGateway) {
		gatewayHold, err = holdGatewayAddr(gatewayAddr, o.Expose)
		if err != nil {
			return err
		}
		defer func() {
			if gatewayHold != nil {
				_ = gatewayHold.Close()
			}
		}()
	}
	if natsURL == "" {
		storeDir := cfg.NATS.StoreDir
		if storeDir == "" {
			storeDir = filepath.Join(cfg.Directories.Data, "nats")
		}
		if err := os.MkdirAll(storeDir, 0o700); err != nil {
			return fmt.Errorf("nats store dir: %w", err)
		}
		srv, err = msg.StartServer(ctx, msg.ServerOptions{StoreDir: storeDir, Listen: cfg.NATS.Listen})
		if err != nil {
			return err
		}
		defer srv.Shutdown()
		if srv.NkeyFile() != "" {
			// The path only: the file's contents never reach a log.
			log.Info("embedded NATS started", "store_dir", storeDir, "listen", cfg.NATS.Listen, "credentials", srv.NkeyFile())
		} else {
			log.Info("embedded NATS started (in-process clients only)", "store_dir", storeDir)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics := msg.NewMetrics(reg)

	holder := &configHolder{}
	holder.store(cfg)
	llmConcurrency := func(c *config.Config) map[string]int {
		m := map[string]int{}
		for _, p := range c.LLMs {
			m[p.Name] = p.Concurrency
		}
		return m
	}
	lanes, err := selectLanes(pipeline.Lanes(llmConcurrency(cfg)), o.Lanes)
	if err != nil {
		return err
	}
	laneNames := make([]string, len(lanes))
	for i, l := range lanes {
		laneNames[i] = l.Name
	}
	maxDown := o.NATSMaxDisconnect
	if maxDown <= 0 {
		maxDown = msg.DefaultMaxDisconnect
	}
	bus, err := msg.Connect(ctx, msg.Options{
		URL:         natsURL,
		Server:      srv,
		Credentials: cfg.NATS.Credentials,
		RootCAs:     cfg.NATS.CA,
		// At boot the NATS machine may come up after this one: wait for it as
		// long as a lost connection is waited for.
		ConnectWait:   maxDown,
		MaxDisconnect: maxDown,
		Name:          "steward " + strings.Join(services, ","),
		Logger:        log,
		Policies:      func(t string) msg.Policy { return policyFor(holder.load(), t) },
		Retention:     cfg.QueuePolicies.Retention,
		Lanes:         laneNames,
		Metrics:       metrics,
	})
	if err != nil {
		return err
	}
	defer bus.Close()
	log.Info("NATS connected", "server", natsServerName(natsURL, srv))
	reg.MustRegister(bus.DepthCollector())
	reportStartupWarnings(ctx, bus, report.Warnings, log)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	start := func(name string, f func(context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(runCtx); err != nil && !errors.Is(err, context.Canceled) {
				errs <- fmt.Errorf("%s: %w", name, err)
				cancel()
			}
		}()
	}

	info := Info{ConfigSource: cfg.Source}
	if srv != nil {
		info.NATSURL = srv.ClientURL()
		info.NATSCredentials = srv.NkeyFile()
	} else {
		info.NATSURL = natsURL
	}
	router := msg.NewRouter()
	engine, err := pipeline.NewEngine(pipeline.EngineOptions{Config: holder.load, Registry: Registry(),
		Integrations: builtin.Integrations(log.With("integration", "builtin")), Bus: bus, Logger: log.With("service", "pipeline")})
	if err != nil {
		return err
	}
	engine.Register(router)
	notes.New(notes.Options{Emitter: bus, Config: holder.load, Logger: log.With("integration", "notes")}).Register(router)
	gemini.New(gemini.Options{Config: holder.load, Logger: log.With("integration", "gemini")}).Register(router)
	// Chat wraps the service handlers registered above (approved proposals report
	// back to the conversation), so it registers last. Every process registers it,
	// so proposals offer exactly the services this binary can run.
	chatSvc, err := chat.New(chat.Options{Bus: bus, Config: holder.load, Registry: Registry(), MaxContent: cfg.Chat.MaxMessageBytes,
		Logger: log.With("service", "chat")})
	if err != nil {
		return err
	}
	chatSvc.Register(router)
	for _, s := range services {
		switch s {
		case ServicePipeline:
			p, err := pipeline.New(pipeline.Options{Bus: bus, Router: router, Lanes: lanes, Logger: log.With("service", "pipeline"),
				Guard: engine.GuardTasks})
			if err != nil {
				return err
			}
			start(s, p.Run)
		case ServiceScheduler:
			sch := &schedulerRunner{holder: holder, bus: bus, log: log.With("service", "scheduler")}
			start(s, sch.run)
			holder.onChange(sch.restart)
		case ServiceGateway:
			h := gateway.New(gateway.Options{Config: holder.load, Registry: Registry(), Bus: bus, Metrics: reg, Chat: chatSvc,
				Logger: log.With("service", "gateway")})
			addr := gatewayHold.Addr().String()
			_ = gatewayHold.Close()
			gatewayHold = nil
			gs, err := gateway.NewServer(gateway.ServerOptions{Addr: addr, Expose: o.Expose, Token: cfg.Gateway.Token,
				TLSCertFile: cfg.Gateway.TLSCert, TLSKeyFile: cfg.Gateway.TLSKey, Handler: h, Logger: log.With("service", "gateway")})
			if err != nil {
				cancel()
				wg.Wait()
				return err
			}
			info.GatewayURL = gs.URL() // Serve logs "Gateway listening"
			start(s, gs.Serve)
		case ServiceJournal:
			j, err := journal.New(journal.Options{Bus: bus, LogsDir: cfg.Directories.Logs, NotesDir: cfg.Directories.Notes,
				Logger: log.With("service", "journal")})
			if err != nil {
				cancel()
				wg.Wait()
				return err
			}
			start(s, j.Run)
		case ServiceChat:
			// chat.message runs on the LLM lane of the pipeline's router (registered
			// above), so chat needs no goroutine of its own.
			log.Debug("chat handlers registered on the pipeline lanes", "service", s)
		}
	}
	if o.Dev && cfg.Source != "" {
		start("config watcher", func(ctx context.Context) error {
			return watchConfig(ctx, o, holder, log.With("component", "config"))
		})
	}
	if o.Ready != nil {
		o.Ready(info)
	}
	log.Info("steward running", "services", strings.Join(services, ","), "config", cfg.Source)

	// A NATS connection that cannot come back ends the process with an error,
	// so that systemd (Restart=on-failure) starts a fresh one.
	var lost error
	select {
	case <-runCtx.Done():
	case <-bus.Done():
		if lost = bus.Err(); lost != nil {
			log.Error("NATS is gone for good: stopping with an error so the service manager restarts Steward", "err", lost)
			lost = fmt.Errorf("nats: %w", lost)
		}
		cancel()
	}
	log.Info("shutting down: no new work is fetched; waiting for tasks in flight")
	wg.Wait()
	close(errs)
	if lost != nil {
		return lost
	}
	for err := range errs {
		return err
	}
	log.Info("stopped")
	return nil
}

// natsServerName says which NATS server Run uses, for the log: the URL with
// any password or token redacted, or the embedded server and where it takes
// clients.
func natsServerName(url string, srv *msg.Server) string {
	if srv == nil {
		return msg.RedactURL(url)
	}
	if u := srv.ClientURL(); u != "" {
		return "embedded (clients on " + u + ")"
	}
	return "embedded (in-process clients only)"
}

// selectLanes keeps the lanes matching any pattern (all when none are given).
func selectLanes(all []pipeline.Lane, patterns []string) ([]pipeline.Lane, error) {
	if len(patterns) == 0 {
		return all, nil
	}
	var out []pipeline.Lane
	names := make([]string, len(all))
	for i, l := range all {
		names[i] = l.Name
	}
	for _, pat := range patterns {
		if _, err := path.Match(pat, ""); err != nil {
			return nil, fmt.Errorf("--lanes %q: %w", pat, err)
		}
		matched := false
		for _, l := range all {
			if ok, _ := path.Match(pat, l.Name); ok {
				matched = true
				if !slices.Contains(out, l) {
					out = append(out, l)
				}
			}
		}
		if !matched {
			return nil, fmt.Errorf("--lanes %q matches no lane (lanes: %s)", pat, strings.Join(names, ", "))
		}
	}
	return out, nil
}

// loopbackOrEmpty reports whether a host:port listens only on loopback ("" = no
// listener).
func loopbackOrEmpty(addr string) bool {
	if addr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // the server reports the malformed address
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// policyFor adapts the queue_policies section to the task layer's policy type.
func policyFor(c *config.Config, taskType string) msg.Policy {
	p := c.QueuePolicies.Policy(taskType)
	out := msg.Policy{DeduplicatePending: p.DeduplicatePending}
	if p.RateLimit != nil {
		out.RateLimit = &msg.RateLimit{Max: p.RateLimit.Max, Per: p.RateLimit.Per, PerText: p.RateLimit.PerText}
	}
	return out
}

// gatewayListen applies --port to gateway.listen.
func gatewayListen(listen string, port int) (string, error) {
	if listen == "" {
		listen = gateway.DefaultAddr
	}
	if port == 0 {
		return listen, nil
	}
	if port < 0 || port > 65535 {
		return "", fmt.Errorf("--port %d: want 1-65535", port)
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return "", fmt.Errorf("gateway.listen %q: want host:port", listen)
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// gatewayAllowed reports whether the gateway may listen where asked.
func gatewayAllowed(addr string, expose bool, token config.Secret) bool {
	if !token.IsZero() {
		return true
	}
	if expose {
		return false
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return true // NewServer reports the bad address
	}
	if host == "" || host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// configHolder is the live config: services read it per use, and --dev swaps it.
type configHolder struct {
	cur       atomic.Pointer[config.Config]
	mu        sync.Mutex
	listeners []func(*config.Config)
}

func (h *configHolder) load() *config.Config { return h.cur.Load() }

func (h *configHolder) store(c *config.Config) {
	h.cur.Store(c)
	h.mu.Lock()
	ls := slices.Clone(h.listeners)
	h.mu.Unlock()
	for _, l := range ls {
		l(c)
	}
}

func (h *configHolder) onChange(f func(*config.Config)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.listeners = append(h.listeners, f)
}

// schedulerRunner runs a scheduler built from the current config and rebuilds it
// when the config changes.
type schedulerRunner struct {
	holder *configHolder
	bus    *msg.Bus
	log    *slog.Logger
	kick   chan struct{}
	once   sync.Once
}

func (s *schedulerRunner) init() { s.once.Do(func() { s.kick = make(chan struct{}, 1) }) }

func (s *schedulerRunner) restart(*config.Config) {
	s.init()
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (s *schedulerRunner) run(ctx context.Context) error {
	s.init()
	for {
		sch, err := scheduler.New(scheduler.Options{Config: s.holder.load(), Registry: Registry(), Bus: s.bus, Logger: s.log})
		if err != nil {
			return err
		}
		for _, j := range sch.Jobs() {
			s.log.Info("scheduled", "job", j.Name, "cron", j.Expr, "next", j.Next.Format(time.RFC3339))
		}
		jobCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- sch.Run(jobCtx) }()
		select {
		case <-ctx.Done():
			stop()
			<-done
			return nil
		case <-s.kick:
			stop()
			if err := <-done; err != nil {
				return err
			}
			s.log.Info("config changed: schedules reloaded")
		case err := <-done:
			stop()
			return err
		}
	}
}

// ConnectClient connects a command-line client (steward tasks) to the NATS of a
// running Steward: --nats, else nats.url, else the embedded server's nats.listen.
func ConnectClient(ctx context.Context, o Options) (*msg.Bus, error) {
	cfg, err := config.Load(config.LoadOptions{Path: o.ConfigPath, Registry: Registry(), Overrides: o.overrides(), Environ: o.Environ})
	if err != nil {
		return nil, err
	}
	url := cfg.NATS.URL
	if url == "" {
		if cfg.NATS.Listen == "" {
			return nil, errors.New("nats.listen is empty, so the embedded NATS server takes no clients; pass --nats URL")
		}
		url = "nats://" + cfg.NATS.Listen
	}
	creds, err := clientCredentials(cfg)
	if err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	bus, err := msg.Connect(ctx, msg.Options{URL: url, Credentials: creds, RootCAs: cfg.NATS.CA, Name: "steward cli", Logger: log,
		Retention: cfg.QueuePolicies.Retention, Policies: func(t string) msg.Policy { return policyFor(cfg, t) }})
	if err != nil {
		return nil, clientConnectError(err, cfg, creds)
	}
	return bus, nil
}

// clientConnectError explains why a command-line client could not connect:
// refused credentials are not a Steward that is down.
func clientConnectError(err error, cfg *config.Config, creds string) error {
	if !errors.Is(err, nats.ErrAuthorization) {
		return fmt.Errorf("%w (is `steward run` running?)", err)
	}
	if creds == "" {
		return fmt.Errorf("%w: authorization failure: the NATS server wants credentials and none were found "+
			"(no --nats-creds, nats.credentials or STEWARD_NATS_CREDENTIALS, and no %s): pass --nats-creds FILE, "+
			"or --data DIR of the running `steward run`", err, filepath.Join(cfg.NATS.StoreDir, msg.NkeyFileName))
	}
	return fmt.Errorf("%w: authorization failure: the NATS server refused the credentials in %s: pass the right file with "+
		"--nats-creds FILE (or nats.credentials, STEWARD_NATS_CREDENTIALS); the embedded server of `steward run` "+
		"keeps its own in <data>/nats/%s", err, creds, msg.NkeyFileName)
}

// clientCredentials is the credentials file of a command-line client:
// nats.credentials (--nats-creds, STEWARD_NATS_CREDENTIALS), else the embedded
// server's generated seed in the store directory when it exists.
func clientCredentials(cfg *config.Config) (string, error) {
	if cfg.NATS.Credentials != "" {
		return cfg.NATS.Credentials, nil
	}
	path := filepath.Join(cfg.NATS.StoreDir, msg.NkeyFileName)
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return path, nil
	case errors.Is(err, fs.ErrPermission):
		return "", fmt.Errorf("cannot read the NATS credentials in %s (%w): run this command as the user that runs `steward run` "+
			"(e.g. sudo -u steward), or pass --nats-creds", cfg.NATS.StoreDir, fs.ErrPermission)
	default:
		return "", nil // none: a server without authentication, or the error names what is missing
	}
}
