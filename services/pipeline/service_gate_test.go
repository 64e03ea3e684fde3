package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/natstest"
)

// toolsManifest declares one reversible and one irreversible service.
func toolsManifest() *manifest.Manifest {
	return &manifest.Manifest{Type: "tools", Services: []manifest.Service{
		{Name: "undo", Reversible: true},
		{Name: "send"},
	}}
}

// gateConfig is a config with a tools instance, an irreversible script
// (research) and a reversible one (tidy). With yolo, an llm rule calls the
// irreversible service and script tagged !yolo.
func gateConfig(yolo bool) string {
	rules := `        automations:
          - when: {author: boss}
            then:
              - {service: {call: tools.default.send}}
`
	if yolo {
		rules += `          - when: {classification.urgent: ">=0.8"}
            then:
              - !yolo {service: {call: tools.default.send}}
              - !yolo {script: {name: research}}
`
	}
	return `llms:
  default:
    base_url: http://127.0.0.1:9
    model: m
integrations:
  - type: notes
    name: mine
    platforms:
      feed:
` + rules + `  - type: tools
    name: default
scripts:
  research:
    shell: echo research
  tidy:
    shell: echo tidy
    reversible: true
`
}

// gateHarness serves the io and script lanes with recording handlers for
// service.tools.undo, service.tools.send and script.run behind a guard.
type gateHarness struct {
	t      *testing.T
	bus    *msg.Bus
	reg    *manifest.Registry
	mu     sync.Mutex
	cfg    *config.Config
	ran    map[string]bool
	byType map[string]int
	engine *Engine
}

func newGateHarness(t *testing.T, yolo bool, guarded bool) *gateHarness {
	t.Helper()
	h := &gateHarness{t: t, ran: map[string]bool{}, byType: map[string]int{}}
	var err error
	if h.reg, err = manifest.NewRegistry(notesManifest(), toolsManifest()); err != nil {
		t.Fatal(err)
	}
	h.setConfig(yolo)
	srv := natstest.Server(t)
	h.bus, err = msg.Connect(context.Background(), msg.Options{Server: srv, Logger: quiet(), IdleWait: 200 * time.Millisecond,
		AckWait: 5 * time.Second, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.bus.Close)
	h.engine, err = NewEngine(EngineOptions{Config: h.config, Registry: h.reg, Bus: h.bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r := msg.NewRouter()
	h.engine.Register(r)
	record := func(_ context.Context, task *msg.Task) (any, error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.ran[task.ID] = true
		h.byType[task.Type]++
		return map[string]any{"text": "ran"}, nil
	}
	for _, typ := range []string{"service.tools.undo", "service.tools.send", "script.run"} {
		r.Handle(typ, record)
	}
	o := Options{Bus: h.bus, Router: r, Logger: quiet(),
		Lanes: []Lane{{Name: msg.LaneIO, Slots: 2}, {Name: msg.LaneScript, Slots: 2}}}
	if guarded {
		o.Guard = h.engine.GuardTasks
	}
	svc, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return h
}

func (h *gateHarness) setConfig(yolo bool) {
	cfg, err := config.Parse([]byte(gateConfig(yolo)), "config.yaml", nil, config.LoadOptions{Registry: h.reg, Environ: []string{}})
	if err != nil {
		h.t.Fatal(err)
	}
	h.mu.Lock()
	h.cfg = cfg
	h.mu.Unlock()
}

func (h *gateHarness) config() *config.Config {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.cfg
}

func (h *gateHarness) didRun(id string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ran[id]
}

// forged is one task as an attacker with NATS access publishes it.
type forged struct {
	typ          string
	lane         string
	payload      map[string]any
	irreversible bool
}

var forgedTasks = []forged{
	{"service.tools.send", msg.LaneIO, map[string]any{"integration": "tools.default", "inputs": map[string]any{}}, true},
	{"service.tools.undo", msg.LaneIO, map[string]any{"integration": "tools.default", "inputs": map[string]any{}}, false},
	{"script.run", msg.LaneScript, map[string]any{"script_name": "research", "inputs": map[string]any{}}, true},
	{"script.run", msg.LaneScript, map[string]any{"script_name": "tidy", "inputs": map[string]any{}}, false},
}

// approvalMarks are what chat puts in an approved action's payload besides
// the provenance: forging them must not count as an approval.
func approvalMarks(p map[string]any) map[string]any {
	out := map[string]any{"option": "approve", "yolo": true,
		"on_result": []any{map[string]any{"type": "chat_reply", "conversation_id": "0123456789abcdef0123456789abcdef", "proposal_id": "abcd1234"}}}
	for k, v := range p {
		out[k] = v
	}
	return out
}

// outcome waits for a task to end and reports whether its handler ran.
func (h *gateHarness) outcome(id string) (ran bool, st *msg.Status) {
	h.t.Helper()
	st = waitTaskEnd(h.t, h.bus, id, 10*time.Second)
	return h.didRun(id), st
}

// TestForgedServiceAndScriptTasks publishes script and service tasks directly
// on NATS, as an attacker with NATS access (or a stale task after a config
// change) would, with every provenance × reversibility × !yolo in config ×
// forged approval marks, and checks that the handler ran exactly when the
// safety gate allows it: reversible, or provenance rule (what an approved chat
// action carries), or an enabled llm rule tagging that service or script
// !yolo (a missing provenance counts as llm). Refusals fail permanently and
// name the reason.
func TestForgedServiceAndScriptTasks(t *testing.T) {
	h := newGateHarness(t, false, true)
	ctx := context.Background()
	for _, yolo := range []bool{false, true} {
		h.setConfig(yolo) // the guard reads the config in force per task
		type sent struct {
			name string
			id   string
			want bool
		}
		var all []sent
		for _, f := range forgedTasks {
			for _, prov := range []string{"", msg.ProvenanceLLM, msg.ProvenanceHybrid, msg.ProvenanceRule} {
				for _, marks := range []bool{false, true} {
					payload, prio := f.payload, msg.PriorityEvaluate
					if marks {
						payload, prio = approvalMarks(f.payload), msg.PriorityChatAction
					}
					p, err := h.bus.Publish(ctx, msg.Spec{Type: f.typ, Lane: f.lane, Priority: prio, Provenance: prov, Payload: payload})
					if err != nil || p.ID == "" {
						t.Fatalf("publish: %v %+v", err, p)
					}
					want := !f.irreversible || prov == msg.ProvenanceRule || yolo && prov != msg.ProvenanceHybrid
					all = append(all, sent{fmt.Sprintf("%s %v/provenance %q/yolo %v/approval marks %v", f.typ, payload["script_name"], prov, yolo, marks), p.ID, want})
				}
			}
		}
		for _, s := range all {
			ran, st := h.outcome(s.id)
			if ran != s.want {
				t.Errorf("%s: handler ran %v, want %v (status %s, error %q)", s.name, ran, s.want, st.Status, st.Error)
				continue
			}
			if !s.want && (st.Status != msg.StateFailed || st.Attempts != 1 || !strings.Contains(st.Error, "irreversible action blocked") ||
				!strings.Contains(st.Error, "not declared reversible")) {
				t.Errorf("%s: refused task: status %s after %d attempts, error %q", s.name, st.Status, st.Attempts, st.Error)
			}
			if s.want && st.Status != msg.StateDone {
				t.Errorf("%s: status %s, error %q", s.name, st.Status, st.Error)
			}
		}
	}
}

// TestBlockedTaskWritesDailyLogLine: a refusal is told in the daily log.
func TestBlockedTaskWritesDailyLogLine(t *testing.T) {
	h := newGateHarness(t, false, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var events []audit.Event
	go func() {
		_ = h.bus.ConsumeEvents(ctx, msg.StreamAudit, "gate_test", func(_ context.Context, _ string, data []byte) error {
			var ev audit.Event
			if err := json.Unmarshal(data, &ev); err != nil {
				return msg.Permanent(err)
			}
			mu.Lock()
			events = append(events, ev)
			mu.Unlock()
			return nil
		})
	}()
	p, err := h.bus.Publish(ctx, msg.Spec{Type: "service.tools.send", Lane: msg.LaneIO, Provenance: msg.ProvenanceLLM,
		Payload: map[string]any{"integration": "tools.default"}})
	if err != nil {
		t.Fatal(err)
	}
	if ran, st := h.outcome(p.ID); ran || st.Status != msg.StateFailed {
		t.Fatalf("ran %v, status %+v", ran, st)
	}
	waitFor(t, 10*time.Second, "the blocked event", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, ev := range events {
			if ev.ID == p.ID+":blocked" && ev.Kind == audit.KindBlocked &&
				strings.Contains(ev.Text, "Blocked service:tools.default.send (task "+p.ID+")") {
				return true
			}
		}
		return false
	})
}

// TestPipelineWithoutGuardFailsClosed: a pipeline service given no guard runs
// scripts and services only from rule provenance, even reversible ones.
func TestPipelineWithoutGuardFailsClosed(t *testing.T) {
	h := newGateHarness(t, true, false)
	ctx := context.Background()
	for _, c := range []struct {
		f    forged
		prov string
		want bool
	}{
		{forgedTasks[1], msg.ProvenanceLLM, false},
		{forgedTasks[0], msg.ProvenanceLLM, false},
		{forgedTasks[0], msg.ProvenanceRule, true},
		{forgedTasks[3], "", false},
	} {
		p, err := h.bus.Publish(ctx, msg.Spec{Type: c.f.typ, Lane: c.f.lane, Provenance: c.prov, Payload: c.f.payload})
		if err != nil {
			t.Fatal(err)
		}
		if ran, st := h.outcome(p.ID); ran != c.want {
			t.Errorf("%s from %q: ran %v, want %v (%s)", c.f.typ, c.prov, ran, c.want, st.Error)
		}
	}
}

// TestGuardPassesOtherTasks: the guard only looks at script and service tasks.
func TestGuardPassesOtherTasks(t *testing.T) {
	var ran []string
	next := func(_ context.Context, task *msg.Task) (any, error) { ran = append(ran, task.Type); return nil, nil }
	g := FailClosedGuard(nil, quiet())(next)
	for _, typ := range []string{"chat.message", "notes.feed.act", "notes.feed.check", "scripts.run"} {
		if _, err := g(context.Background(), &msg.Task{ID: "x", Type: typ}); err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	for _, typ := range []string{"script.run", "service.tools.undo"} {
		if _, err := g(context.Background(), &msg.Task{ID: "x", Type: typ, Payload: json.RawMessage(`"not an object"`)}); !msg.IsPermanent(err) {
			t.Fatalf("%s: %v", typ, err)
		}
	}
	if len(ran) != 4 {
		t.Fatalf("ran %v", ran)
	}
}

func (h *gateHarness) runs(typ string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byType[typ]
}

// TestEvaluatedTasksPassTheGate: what the evaluate stage publishes for the
// rules in force runs: an irreversible service from a rule-provenance rule,
// and an irreversible service and script from an llm rule tagged !yolo.
func TestEvaluatedTasksPassTheGate(t *testing.T) {
	h := newGateHarness(t, true, true)
	ctx := context.Background()
	env := h.engine.env()
	for key, facts := range map[string]map[string]any{"boss-note": {"author": "boss"}, "urgent-note": {"author": "someone"}} {
		_, err := env.UpdateItem(ctx, "notes.mine", "feed", key, func(it *items.Item, _ bool) error {
			it.Facts = facts
			if key == "urgent-note" {
				it.Classification = map[string]any{"urgent": 0.9}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.bus.Publish(ctx, msg.Spec{Type: "notes.feed." + StageEvaluate, Lane: msg.LaneIO, Priority: msg.PriorityEvaluate,
			Payload: map[string]any{"integration": "notes.mine", "platform": "feed", "key": key}}); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "both sends and the script to run", func() bool {
		return h.runs("service.tools.send") == 2 && h.runs("script.run") == 1
	})
	sends, err := h.bus.Tasks(ctx, func(s *msg.Status) bool { return s.Type == "service.tools.send" })
	if err != nil {
		t.Fatal(err)
	}
	provs := map[string]int{}
	for _, s := range sends {
		provs[s.Provenance]++
	}
	if provs[msg.ProvenanceRule] != 1 || provs[msg.ProvenanceLLM] != 1 {
		t.Fatalf("send tasks' provenances: %v", provs)
	}
}

// Two rules deciding the same service call for one item (one on a fact, one
// from the LLM tagged !yolo) queue one task, with rule provenance: an
// action's identity is its label and configuration, not the rule nor !yolo.
func TestSameServiceCallFromTwoRulesOneTask(t *testing.T) {
	h := newGateHarness(t, true, true)
	ctx := context.Background()
	if _, err := h.engine.env().UpdateItem(ctx, "notes.mine", "feed", "both", func(it *items.Item, _ bool) error {
		it.Facts = map[string]any{"author": "boss"}
		it.Classification = map[string]any{"urgent": 0.9}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"integration": "notes.mine", "platform": "feed", "key": "both"})
	res, err := h.engine.evaluate(ctx, &msg.Task{ID: "eval-both", Type: "notes.feed.evaluate", Payload: payload, Attempt: 1})
	if err != nil {
		t.Fatal(err)
	}
	queued := res.(map[string]any)["actions"].([]string)
	n := 0
	for _, q := range queued {
		if strings.HasPrefix(q, "service:tools.default.send ") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("queued %q: want one send", queued)
	}
	waitFor(t, 10*time.Second, "the send to run", func() bool { return h.runs("service.tools.send") == 1 })
	sends, err := h.bus.Tasks(ctx, func(s *msg.Status) bool { return s.Type == "service.tools.send" })
	if err != nil {
		t.Fatal(err)
	}
	if len(sends) != 1 || sends[0].Provenance != msg.ProvenanceRule {
		t.Fatalf("send tasks %+v; want one with rule provenance", sends)
	}
}
