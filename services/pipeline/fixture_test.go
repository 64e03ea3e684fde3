package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/stewardhq/steward/internal/testkit/natstest"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// The test integration type "notes" with platform "feed": two reversible
// actions (tag; star, declared once), one irreversible (publish).
func notesManifest() *manifest.Manifest {
	return &manifest.Manifest{
		Type: "notes",
		Fields: []manifest.Field{
			{Name: "source", Type: manifest.TypeString},
		},
		Platforms: []manifest.Platform{{
			Name: "feed", EntryTask: "check", Stages: []string{"check", "collect", "classify", "evaluate", "act"},
			Actions: []manifest.Action{
				{Name: "tag", Tier: manifest.Reversible},
				{Name: "star", Tier: manifest.Reversible, Once: true},
				{Name: "publish", Tier: manifest.Irreversible},
			},
			DeterministicKeys:      []string{"author", "words"},
			DefaultClassifications: []manifest.Classification{{Name: "urgent", Prompt: "is it urgent?", Type: "confidence"}},
		}},
	}
}

// fakeIntegration records every action performed, per item.
type fakeIntegration struct {
	mu        sync.Mutex
	performed []string
	failNext  map[string]error // action name → error for its next Perform
	opened    int
}

func (f *fakeIntegration) Manifest() *manifest.Manifest { return notesManifest() }
func (f *fakeIntegration) Platform(name string) platform.Platform {
	if name == "feed" {
		return f
	}
	return nil
}
func (f *fakeIntegration) Check(context.Context, platform.Env, *msg.Task) (any, error) {
	return nil, nil
}
func (f *fakeIntegration) Collect(context.Context, platform.Env, *msg.Task) (any, error) {
	return nil, nil
}
func (f *fakeIntegration) OpenActor(_ context.Context, _ platform.Env, it *items.Item) (platform.Actor, error) {
	f.mu.Lock()
	f.opened++
	f.mu.Unlock()
	return &fakeActor{f: f, key: it.Key}, nil
}

func (f *fakeIntegration) actions() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.performed...)
}

type fakeActor struct {
	f   *fakeIntegration
	key string
}

func (a *fakeActor) Perform(_ context.Context, act config.Action) (string, error) {
	name := act.Name
	if act.Kind == config.ActionDict {
		name = act.Keys()[0]
	}
	a.f.mu.Lock()
	defer a.f.mu.Unlock()
	if err, ok := a.f.failNext[name]; ok {
		delete(a.f.failNext, name)
		return "", err
	}
	a.f.performed = append(a.f.performed, a.key+":"+name)
	return fmt.Sprintf("Did %s on %s", name, a.key), nil
}

func (a *fakeActor) Close(error) {}

// harness is a real embedded NATS, an llmfake, the engine and the lanes.
type harness struct {
	t      testing.TB
	srv    *msg.Server
	bus    *msg.Bus
	fake   *llmfake.Server
	impl   *fakeIntegration
	reg    *manifest.Registry
	cfg    *config.Config
	cfgMu  sync.Mutex
	engine *Engine
	cancel context.CancelFunc
	done   chan error
}

const baseConfig = `llms:
  default:
    base_url: %s
    model: fake-model
    concurrency: %d
integrations:
  - type: notes
    name: mine
    platforms:
      feed:
        classifications:
          urgent: is this urgent?
          spam:
            prompt: is this spam?
            type: boolean
        automations:
          - when: {author: boss}
            then: publish
          - when: {classification.urgent: ">=0.8"}
            then: [tag, star]
          - when: {classification.spam: true}
            then: publish
          - when: {classification.spam: true, author: robot}
            then: [!yolo publish]
`

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serveRecordingAudit runs a pipeline service on bus (router's handlers on
// lanes, behind engine's guard) and a consumer of the AUDIT stream (durable
// name durable) that passes every event to record, until the test's cleanup.
func serveRecordingAudit(t *testing.T, bus *msg.Bus, router *msg.Router, engine *Engine, lanes []Lane, durable string, record func(audit.Event)) {
	t.Helper()
	svc, err := New(Options{Bus: bus, Router: router, Logger: quiet(), Guard: engine.GuardTasks, Lanes: lanes})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 2)
	go func() { done <- svc.Run(ctx) }()
	go func() {
		done <- bus.ConsumeEvents(ctx, msg.StreamAudit, durable, func(_ context.Context, _ string, data []byte) error {
			var ev audit.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				return msg.Permanent(err)
			}
			record(ev)
			return nil
		})
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
}

func newHarness(t testing.TB, concurrency int, fakeOpts ...llmfake.Option) *harness {
	t.Helper()
	h := &harness{t: t, impl: &fakeIntegration{failNext: map[string]error{}}}
	var err error
	h.reg, err = manifest.NewRegistry(notesManifest())
	if err != nil {
		t.Fatal(err)
	}
	h.fake = llmfake.New(fakeOpts...)
	t.Cleanup(h.fake.Close)
	h.setConfig(fmt.Sprintf(baseConfig, h.fake.URL(), concurrency))
	h.srv = natstest.Server(t)
	h.bus = h.connect()
	h.engine, err = NewEngine(EngineOptions{Config: h.config, Registry: h.reg, Integrations: []platform.Integration{h.impl},
		Bus: h.bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func (h *harness) connect() *msg.Bus {
	b, err := msg.Connect(context.Background(), msg.Options{Server: h.srv, Logger: quiet(), IdleWait: 200 * time.Millisecond,
		Backoff: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond}, AckWait: 5 * time.Second, MaxAttempts: 8})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(b.Close)
	return b
}

func (h *harness) setConfig(text string) {
	cfg, err := config.Parse([]byte(text), "config.yaml", nil, config.LoadOptions{Registry: h.reg, Environ: []string{}})
	if err == nil && len(cfg.LLMs) == 0 {
		err = fmt.Errorf("no llms")
	}
	if err != nil {
		h.t.Fatal(err)
	}
	h.cfgMu.Lock()
	h.cfg = cfg
	h.cfgMu.Unlock()
}

func (h *harness) config() *config.Config {
	h.cfgMu.Lock()
	defer h.cfgMu.Unlock()
	return h.cfg
}

// start serves io and llm_default with the engine's handlers (plus extra ones).
func (h *harness) start(extra ...func(*msg.Router)) {
	r := msg.NewRouter()
	h.engine.Register(r)
	for _, f := range extra {
		f(r)
	}
	svc, err := New(Options{Bus: h.bus, Router: r, Lanes: Lanes(map[string]int{"default": h.cfg.LLMs[0].Concurrency}), Logger: quiet()})
	if err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- svc.Run(ctx) }()
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

// addItem stores an item and queues its classification.
func (h *harness) addItem(key string, facts map[string]any, body string) *items.Item {
	h.t.Helper()
	ctx := context.Background()
	env := h.engine.env()
	it, err := env.UpdateItem(ctx, "notes.mine", "feed", key, func(it *items.Item, exists bool) error {
		it.Title = "note " + key
		it.Facts = facts
		it.Content = []items.Field{{Name: "author", Text: fmt.Sprint(facts["author"])}, {Name: "body", Text: body}}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if err := env.QueueClassify(ctx, it, msg.PriorityClassify); err != nil {
		h.t.Fatal(err)
	}
	return it
}

func (h *harness) item(key string) *items.Item {
	it, err := h.engine.env().Item(context.Background(), "notes.mine", "feed", key)
	if err != nil {
		h.t.Fatal(err)
	}
	return it
}

// waitFor polls cond for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

// tasksOf lists the recorded tasks of a type.
func (h *harness) tasksOf(typ string) []msg.Status {
	list, err := h.bus.Tasks(context.Background(), func(s *msg.Status) bool { return s.Type == typ })
	if err != nil {
		h.t.Fatal(err)
	}
	return list
}

var errBoom = errors.New("boom")

// waitTaskEnd waits (up to d) until task id has recorded its outcome, done or
// failed, and returns that record.
func waitTaskEnd(t testing.TB, bus *msg.Bus, id string, d time.Duration) *msg.Status {
	t.Helper()
	var st *msg.Status
	waitFor(t, d, "task "+id+" to end", func() bool {
		s, err := bus.Status(context.Background(), id)
		if err == nil && (s.Status == msg.StateDone || s.Status == msg.StateFailed) {
			st = s
			return true
		}
		return false
	})
	return st
}
