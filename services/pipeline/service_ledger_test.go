package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/testkit/natstest"
)

// ledgerHarness serves lane io with recording handlers for service.tools.send
// (irreversible) and service.tools.undo (reversible) behind the engine's
// guard, on a real embedded NATS, and records the daily-log events.
type ledgerHarness struct {
	t      *testing.T
	bus    *msg.Bus
	engine *Engine
	mu     sync.Mutex
	calls  map[string]int // handler runs by task type
	byTask map[string]int // handler runs by task id
	events []audit.Event
}

func newLedgerHarness(t *testing.T) *ledgerHarness {
	t.Helper()
	reg, err := manifest.NewRegistry(notesManifest(), toolsManifest())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(gateConfig(false)), "config.yaml", nil, config.LoadOptions{Registry: reg, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	h := &ledgerHarness{t: t, calls: map[string]int{}, byTask: map[string]int{}}
	srv := natstest.Server(t)
	h.bus, err = msg.Connect(context.Background(), msg.Options{Server: srv, Logger: quiet(), IdleWait: 200 * time.Millisecond,
		Backoff: []time.Duration{20 * time.Millisecond}, AckWait: 5 * time.Second, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.bus.Close)
	h.engine, err = NewEngine(EngineOptions{Config: func() *config.Config { return cfg }, Registry: reg, Bus: h.bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r := msg.NewRouter()
	h.engine.Register(r)
	for _, typ := range []string{"service.tools.send", "service.tools.undo"} {
		r.Handle(typ, h.record)
	}
	serveRecordingAudit(t, h.bus, r, h.engine, []Lane{{Name: msg.LaneIO, Slots: 2}}, "service_ledger_test", func(ev audit.Event) {
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
	})
	return h
}

// record is the tools services' handler: it counts its runs.
func (h *ledgerHarness) record(_ context.Context, t *msg.Task) (any, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls[t.Type]++
	h.byTask[t.ID]++
	return map[string]any{"text": "ran " + t.ID}, nil
}

func (h *ledgerHarness) count(typ string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[typ]
}

// run publishes a service task (provenance rule, as a deterministic rule
// decides it) with the default note route and waits for it to end.
func (h *ledgerHarness) run(typ, item string, inputs map[string]any) *msg.Status {
	h.t.Helper()
	payload := map[string]any{"integration": "tools.default", "inputs": inputs}
	if item != "" {
		payload["item"] = item
	}
	p, err := h.bus.Publish(context.Background(), msg.Spec{Type: typ, Lane: msg.LaneIO, Priority: msg.PriorityEvaluate,
		Provenance: msg.ProvenanceRule, Payload: payload})
	if err != nil {
		h.t.Fatal(err)
	}
	return waitTaskEnd(h.t, h.bus, p.ID, 15*time.Second)
}

// dispatch runs a service.tools.send task for item through the engine's
// guard and handler directly, as one delivery of it (the same id twice is a
// redelivery).
func (h *ledgerHarness) dispatch(ctx context.Context, id, item string, inputs map[string]any, handler msg.Handler) (any, error) {
	h.t.Helper()
	b, err := json.Marshal(map[string]any{"integration": "tools.default", "inputs": inputs, "item": item, "on_result": []any{}})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.engine.GuardTasks(handler)(ctx, &msg.Task{ID: id, Type: "service.tools.send", Lane: msg.LaneIO,
		Priority: msg.PriorityEvaluate, Provenance: msg.ProvenanceRule, Payload: b})
}

// waitEvent waits for a daily-log event whose text contains text.
func (h *ledgerHarness) waitEvent(text string) {
	h.t.Helper()
	waitFor(h.t, 10*time.Second, "daily log event containing "+text, func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, ev := range h.events {
			if strings.Contains(ev.Text, text) {
				return true
			}
		}
		return false
	})
}

// ledgerKeys lists the ledger keys under an item.
func (h *ledgerHarness) ledgerKeys(item string) []string {
	h.t.Helper()
	keys, err := h.bus.Ledger().Keys(context.Background(), item+".>")
	if err != nil {
		h.t.Fatal(err)
	}
	return keys
}

// routed reports whether the service task id queued its first route task.
func (h *ledgerHarness) routed(id string) bool {
	_, err := h.bus.Status(context.Background(), routeTaskID(id, 0))
	return err == nil
}

// TestIrreversibleServiceOncePerItemAndInputs: an irreversible service task
// carrying an item runs once per item and rendered inputs, with one ledger
// entry; a second task of the same identity is skipped as done, its result
// says so and it queues no route. Other inputs, another item, no item (a chat
// approval) and a reversible service run every time.
func TestIrreversibleServiceOncePerItemAndInputs(t *testing.T) {
	h := newLedgerHarness(t)
	const itemA, itemB = "notes_mine.feed.a=0011223344556677", "notes_mine.feed.b=0011223344556677"
	steps := []struct {
		name      string
		typ, item string
		q         string
		wantSend  int
		wantUndo  int
		skipped   bool
	}{
		{"first call", "service.tools.send", itemA, "x", 1, 0, false},
		{"same item and inputs", "service.tools.send", itemA, "x", 1, 0, true},
		{"different inputs", "service.tools.send", itemA, "y", 2, 0, false},
		{"another item", "service.tools.send", itemB, "x", 3, 0, false},
		{"no item (chat approval)", "service.tools.send", "", "x", 4, 0, false},
		{"no item again", "service.tools.send", "", "x", 5, 0, false},
		{"reversible", "service.tools.undo", itemA, "x", 5, 1, false},
		{"reversible again", "service.tools.undo", itemA, "x", 5, 2, false},
	}
	for _, s := range steps {
		st := h.run(s.typ, s.item, map[string]any{"q": s.q, "n": 3})
		if st.Status != msg.StateDone {
			t.Fatalf("%s: %s %s", s.name, st.Status, st.Error)
		}
		if got := h.count("service.tools.send"); got != s.wantSend {
			t.Errorf("%s: send ran %d times, want %d", s.name, got, s.wantSend)
		}
		if got := h.count("service.tools.undo"); got != s.wantUndo {
			t.Errorf("%s: undo ran %d times, want %d", s.name, got, s.wantUndo)
		}
		skipped := strings.Contains(string(st.Result), `"skipped"`)
		if skipped != s.skipped {
			t.Errorf("%s: result %s, skipped want %v", s.name, st.Result, s.skipped)
		}
		if s.skipped {
			if !strings.Contains(string(st.Result), "already done") {
				t.Errorf("%s: result %s does not say already done", s.name, st.Result)
			}
			if h.routed(st.ID) {
				t.Errorf("%s: a skipped service task queued a result route", s.name)
			}
		} else if !h.routed(st.ID) {
			t.Errorf("%s: the service task queued no result route", s.name)
		}
	}
	// Two identities (inputs x and y) of the irreversible service on item A;
	// the reversible one leaves no entry.
	if keys := h.ledgerKeys(itemA); len(keys) != 2 {
		t.Errorf("ledger keys under item A: %v, want 2", keys)
	}
	key := serviceLedgerKey(itemA, "service:tools.default.send", map[string]any{"q": "x", "n": float64(3)})
	var entry LedgerEntry
	if _, err := h.bus.Ledger().Get(context.Background(), key, &entry); err != nil || entry.State != LedgerDone ||
		entry.Action != "service:tools.default.send" || entry.Item != itemA {
		t.Errorf("ledger %s: %+v %v", key, entry, err)
	}
	if keys := h.ledgerKeys(itemB); len(keys) != 1 {
		t.Errorf("ledger keys under item B: %v, want 1", keys)
	}
	h.waitEvent("Skipped service:tools.default.send already done for this item")
}

// TestIrreversibleServiceNotRepeatedAfterCrash: a worker that stops while an
// irreversible service runs (here: its context ends while the handler is in
// its call, leaving the intent as a kill -9 would) does not run it again when
// the task is redelivered — the entry becomes failed and the daily log says
// it was interrupted — nor when another task asks for the same call.
func TestIrreversibleServiceNotRepeatedAfterCrash(t *testing.T) {
	h := newLedgerHarness(t)
	const item = "notes_mine.feed.c=0011223344556677"
	inputs := map[string]any{"q": "x"}
	var mu sync.Mutex
	runs := 0
	started := make(chan struct{})
	hang := func(ctx context.Context, _ *msg.Task) (any, error) {
		mu.Lock()
		runs++
		first := runs == 1
		mu.Unlock()
		if first {
			close(started)
			<-ctx.Done() // the side effect is under way when Steward stops
			return nil, ctx.Err()
		}
		return map[string]any{"text": "ran"}, nil
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := h.dispatch(ctx, "task-1", item, inputs, hang)
		errc <- err
	}()
	<-started
	cancel() // the crash
	if err := <-errc; err == nil || msg.IsPermanent(err) {
		t.Fatalf("the interrupted attempt returned %v, want a transient error", err)
	}

	// The redelivery of the same task.
	_, err := h.dispatch(context.Background(), "task-1", item, inputs, hang)
	if !msg.IsPermanent(err) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("redelivery: %v, want a permanent 'interrupted' error", err)
	}
	// Another task deciding the same call on the same item.
	res, err := h.dispatch(context.Background(), "task-2", item, inputs, hang)
	if err != nil || !strings.Contains(jsonText(t, res), "already done") {
		t.Errorf("second task: %v %v", res, err)
	}
	mu.Lock()
	if runs != 1 {
		t.Errorf("the service ran %d times, want 1", runs)
	}
	mu.Unlock()
	key := serviceLedgerKey(item, "service:tools.default.send", inputs)
	var entry LedgerEntry
	if _, err := h.bus.Ledger().Get(context.Background(), key, &entry); err != nil || entry.State != LedgerFailed ||
		!strings.Contains(entry.Error, "interrupted") {
		t.Errorf("ledger %s: %+v %v", key, entry, err)
	}
	h.waitEvent("Interrupted service:tools.default.send (task task-1): Steward stopped while it ran; not repeated (it may have happened)")
}

// TestIrreversibleServiceErrors: a transient error (the handler asks for a
// retry) removes the intent, so the retry runs the service; a permanent one
// records it failed, and it is not run again for the item.
func TestIrreversibleServiceErrors(t *testing.T) {
	h := newLedgerHarness(t)
	const item = "notes_mine.feed.d=0011223344556677"
	for _, tt := range []struct {
		name      string
		err       error
		wantRuns  int    // after a second delivery and a second task
		wantState string // the ledger entry after both
	}{
		{"transient", errors.New("429 too many requests"), 2, LedgerDone},
		{"permanent", msg.Permanent(errors.New("blocked prompt")), 1, LedgerFailed},
		// A failure that certainly did nothing (a refused key) leaves no
		// entry: the next task of that identity runs it.
		{"not performed", platform.NotPerformed(msg.Permanent(errors.New("the API key was refused"))), 2, LedgerDone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inputs := map[string]any{"q": tt.name}
			runs := 0
			handler := func(context.Context, *msg.Task) (any, error) {
				runs++
				if runs == 1 {
					return nil, tt.err
				}
				return map[string]any{"text": "ran"}, nil
			}
			if _, err := h.dispatch(context.Background(), tt.name+"-1", item, inputs, handler); !errors.Is(err, tt.err) {
				t.Fatalf("first attempt: %v, want %v", err, tt.err)
			}
			if !msg.IsPermanent(tt.err) {
				// The lane retries the same task.
				if _, err := h.dispatch(context.Background(), tt.name+"-1", item, inputs, handler); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
			res, err := h.dispatch(context.Background(), tt.name+"-2", item, inputs, handler)
			if platform.IsNotPerformed(tt.err) {
				if err != nil || strings.Contains(jsonText(t, res), "already done") {
					t.Errorf("second task after a failure that did nothing: %v %v, want a run", res, err)
				}
			} else if err != nil || !strings.Contains(jsonText(t, res), "already done") {
				t.Errorf("second task: %v %v", res, err)
			}
			if runs != tt.wantRuns {
				t.Errorf("the service ran %d times, want %d", runs, tt.wantRuns)
			}
			var entry LedgerEntry
			key := serviceLedgerKey(item, "service:tools.default.send", inputs)
			if _, err := h.bus.Ledger().Get(context.Background(), key, &entry); err != nil || entry.State != tt.wantState {
				t.Errorf("ledger %s: %+v %v, want %s", key, entry, err, tt.wantState)
			}
		})
	}
}
