package chat

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/notes"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
	"github.com/stewardhq/steward/services/journal"
	"github.com/stewardhq/steward/services/pipeline"
)

// toolsManifest is a test integration type with no instance fields and two
// chat-proposable services: echo (parameters {text} required) and its options
// default; and fail, which always fails.
func toolsManifest() *manifest.Manifest {
	schema := map[string]any{
		"type":       "object",
		"properties": map[string]any{"text": map[string]any{"type": "string", "description": "What to echo"}},
		"required":   []any{"text"},
	}
	return &manifest.Manifest{
		Type: "tools",
		Services: []manifest.Service{
			{Name: "echo", Description: "Echo text", Reversible: true, InputSchema: schema,
				Chat: &manifest.ChatSpec{Description: "Echo the text back"}},
			{Name: "fail", Description: "Always fails", Reversible: true,
				Chat: &manifest.ChatSpec{Description: "A service that fails", Options: []manifest.Option{{ID: "go", Label: "Go"}, {ID: "later", Label: "Later"}, {ID: "reject", Label: "No"}}}},
			{Name: "silent", Description: "Not proposable"},
			{Name: "orphan", Description: "Proposable, but no handler", Chat: &manifest.ChatSpec{Description: "Nobody implements this"}},
		},
	}
}

// vaultManifest needs a configured instance (it has a required field), so its
// chat service is offered only when one is configured.
func vaultManifest() *manifest.Manifest {
	return &manifest.Manifest{
		Type:   "vault",
		Fields: []manifest.Field{{Name: "path", Type: manifest.TypeString, Required: true}},
		Services: []manifest.Service{{Name: "store", Description: "Store a secret",
			Chat: &manifest.ChatSpec{Description: "Store something in the vault"}}},
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// harness is a real embedded NATS, an llmfake, the chat service with its worker
// lanes (served by the pipeline service) and, when asked, the journal.
type harness struct {
	t        testing.TB
	dir      string
	notesDir string
	srv      *msg.Server
	bus      *msg.Bus
	fake     *llmfake.Server
	reg      *manifest.Registry
	svc      *Service
	cfgMu    sync.Mutex
	cfg      *config.Config
	cfgText  string
	stopRun  func()

	extra     func(*msg.Router)
	routed    bool // dispatch through the engine's guard, which routes service results
	mu        sync.Mutex
	echoCalls int
	echoErr   error
	ticks     int
}

type harnessOptions struct {
	registry *manifest.Registry
	extra    string // appended to the config
	journal  bool
	latency  time.Duration
	router   func(*msg.Router) // extra handlers
	routed   bool              // serve with the pipeline engine's GuardTasks (result routing)
}

const baseConfig = `llms:
  default:
    base_url: %s
    model: fake-model
    concurrency: 1
directories:
  notes: %s
  logs: %s
`

func newHarness(t testing.TB, o harnessOptions) *harness {
	t.Helper()
	h := &harness{t: t, dir: t.TempDir(), notesDir: t.TempDir(), reg: o.registry, extra: o.router, routed: o.routed}
	if h.reg == nil {
		var err error
		h.reg, err = manifest.NewRegistry(notes.Manifest(), toolsManifest(), vaultManifest())
		if err != nil {
			t.Fatal(err)
		}
	}
	h.fake = llmfake.New(llmfake.WithLatency(o.latency))
	t.Cleanup(h.fake.Close)
	h.setConfig(fmt.Sprintf(baseConfig, h.fake.URL(), h.notesDir, t.TempDir()) + o.extra)
	h.start(o.journal)
	return h
}

func (h *harness) setConfig(text string) {
	h.t.Helper()
	cfg, err := config.Parse([]byte(text), "config.yaml", nil, config.LoadOptions{Registry: h.reg, Environ: []string{}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.cfgMu.Lock()
	h.cfg, h.cfgText = cfg, text
	h.cfgMu.Unlock()
}

func (h *harness) configText() string {
	h.cfgMu.Lock()
	defer h.cfgMu.Unlock()
	return h.cfgText
}

func (h *harness) config() *config.Config {
	h.cfgMu.Lock()
	defer h.cfgMu.Unlock()
	return h.cfg
}

// start starts the server on the harness's store, connects, builds the service
// and serves its lanes.
func (h *harness) start(withJournal bool) {
	t := h.t
	ctx := context.Background()
	srv, err := msg.StartServer(ctx, msg.ServerOptions{StoreDir: h.dir})
	if err != nil {
		t.Fatal(err)
	}
	h.srv = srv
	bus, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: quiet(), IdleWait: 200 * time.Millisecond,
		Backoff: []time.Duration{20 * time.Millisecond}, AckWait: 5 * time.Second, MaxAttempts: 3,
		ShutdownGrace: 5 * time.Second, LeaseTTL: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	h.bus = bus
	h.svc, err = New(Options{Bus: bus, Config: h.config, Registry: h.reg, Logger: quiet(), Now: h.now})
	if err != nil {
		t.Fatal(err)
	}
	r := msg.NewRouter()
	notes.New(notes.Options{Emitter: bus, Config: h.config, Logger: quiet()}).Register(r)
	r.Handle("service.tools.echo", func(ctx context.Context, task *msg.Task) (any, error) {
		var p struct {
			Inputs struct {
				Text string `json:"text"`
			} `json:"inputs"`
		}
		if err := task.Decode(&p); err != nil {
			return nil, err
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		h.echoCalls++
		if h.echoErr != nil {
			return nil, h.echoErr
		}
		return map[string]any{"text": "echo: " + p.Inputs.Text}, nil
	})
	r.Handle("service.vault.store", func(context.Context, *msg.Task) (any, error) {
		return map[string]any{"text": "stored"}, nil
	})
	r.Handle("service.tools.fail", func(context.Context, *msg.Task) (any, error) {
		return nil, msg.Permanent(errors.New("boom"))
	})
	if h.extra != nil {
		h.extra(r)
	}
	h.svc.Register(r)
	po := pipeline.Options{Bus: bus, Router: r, Lanes: pipeline.Lanes(map[string]int{"default": 1}), Logger: quiet()}
	if h.routed {
		eng, err := pipeline.NewEngine(pipeline.EngineOptions{Config: h.config, Registry: h.reg, Bus: bus, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		po.Guard = eng.GuardTasks
	}
	p, err := pipeline.New(po)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = p.Run(runCtx) }()
	if withJournal {
		cfg := h.config()
		j, err := journal.New(journal.Options{Bus: bus, LogsDir: cfg.Directories.Logs, NotesDir: cfg.Directories.Notes, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = j.Run(runCtx) }()
	}
	var once sync.Once
	h.stopRun = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			bus.Close()
			srv.Shutdown()
		})
	}
	t.Cleanup(h.stopRun)
}

// restart stops everything and starts it again on the same store.
func (h *harness) restart(withJournal bool) {
	h.stopRun()
	h.start(withJournal)
}

func (h *harness) create() string {
	h.t.Helper()
	id, err := h.svc.Create(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return id
}

func (h *harness) send(conv, text string) SendResult {
	h.t.Helper()
	res, err := h.svc.Send(context.Background(), conv, text)
	if err != nil {
		h.t.Fatalf("send %q: %v", text, err)
	}
	return res
}

func (h *harness) history(conv string) []Message {
	h.t.Helper()
	msgs, err := h.svc.History(context.Background(), conv)
	if err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

// wait polls a task until it is no longer pending.
func (h *harness) wait(taskID string) PollResult {
	h.t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		res, err := h.svc.Poll(context.Background(), taskID)
		if err != nil {
			h.t.Fatalf("poll %s: %v", taskID, err)
		}
		if res.Status != "pending" {
			return res
		}
		time.Sleep(20 * time.Millisecond)
	}
	h.t.Fatalf("task %s still pending", taskID)
	return PollResult{}
}

// now is the service clock: real time plus a millisecond per call, so that
// every record has a distinct, increasing timestamp.
func (h *harness) now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ticks++
	return time.Now().Add(time.Duration(h.ticks) * time.Millisecond)
}

func (h *harness) echoCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.echoCalls
}

// requestError asserts err is a *RequestError with that status and detail.
func requestError(t *testing.T, err error, status int, detail string) {
	t.Helper()
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("want a RequestError %d %q, got %v", status, detail, err)
	}
	if re.Status != status || re.Detail != detail {
		t.Fatalf("got %d %q, want %d %q", re.Status, re.Detail, status, detail)
	}
}
