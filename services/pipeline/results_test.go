package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
	"github.com/stewardhq/steward/internal/testkit/natstest"
	"github.com/stewardhq/steward/services/journal"
)

// labManifest declares two reversible services: lookup, whose manifest has a
// human_log template, and plain, which has none.
func labManifest() *manifest.Manifest {
	return &manifest.Manifest{Type: "lab", Services: []manifest.Service{
		{Name: "lookup", Reversible: true, HumanLog: "Looked up: {{ query | truncate(20) }}"},
		{Name: "plain", Reversible: true},
	}}
}

// labConfig calls lab services from rules on the notes.mine feed.
const labConfig = `llms:
  default:
    base_url: http://127.0.0.1:9
    model: m
directories:
  notes: %s
  logs: %s
integrations:
  - type: notes
    name: mine
    platforms:
      feed:
        automations:
          - when: {author: ann}
            then:
              - service:
                  call: lab.default.lookup
                  inputs:
                    query: "{{ author | upper }} {{ title | truncate(80) }}{{ missing.deeper }}"
                    n: 3
          - when: {author: bob}
            then:
              - service:
                  call: lab.default.plain
                  inputs: {q: "{{ words | default('none') }}"}
                  on_result: [{type: note}, {type: note, path: research/bob}]
                  human_log: "Plain for {{ author }}: {{ q }}"
          - when: {author: eve}
            then:
              - service:
                  call: lab.default.plain
                  inputs: {q: "line one\n{{ author | nosuch }}"}
          - when: {author: cy}
            then:
              - service:
                  call: lab.default.plain
                  human_log: "{{ author }} found {{ result.sources | length }} source(s): {{ result.sources[0].title }}"
          - when: {author: quiet}
            then:
              - service:
                  call: lab.default.plain
                  on_result: []
  - type: lab
    name: default
queue_policies:
  overrides:
    service.lab.lookup:
      rate_limit: {max: 10, per: 1h}
`

// flakyNotes fails the first fail note writes, then passes them on.
type flakyNotes struct {
	next  notefile.Emitter
	mu    sync.Mutex
	fail  int
	calls int
}

func (f *flakyNotes) Emit(ctx context.Context, subject string, v any, id string) error {
	f.mu.Lock()
	f.calls++
	failing := f.calls <= f.fail
	f.mu.Unlock()
	if failing {
		return errors.New("notes stream unavailable")
	}
	return f.next.Emit(ctx, subject, v, id)
}

// serviceHarness runs the engine, a lab service handler that counts its
// calls, and the real journal writing into a temp dir.
type serviceHarness struct {
	t        *testing.T
	bus      *msg.Bus
	engine   *Engine
	notesDir string
	logsDir  string
	logs     *logbuf.Buffer
	notes    *flakyNotes
	mu       sync.Mutex
	calls    map[string]int
	inputs   []map[string]any
}

func newServiceHarness(t *testing.T, failNotes int) *serviceHarness {
	t.Helper()
	h := &serviceHarness{t: t, calls: map[string]int{}, logs: &logbuf.Buffer{}}
	dir := t.TempDir()
	h.notesDir, h.logsDir = filepath.Join(dir, "notes"), filepath.Join(dir, "logs")
	reg, err := manifest.NewRegistry(notesManifest(), labManifest())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(labConfig, h.notesDir, h.logsDir)), "config.yaml", nil,
		config.LoadOptions{Registry: reg, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(h.logs, nil))
	srv := natstest.Server(t)
	h.bus, err = msg.Connect(context.Background(), msg.Options{Server: srv, Logger: log, IdleWait: 200 * time.Millisecond,
		Backoff: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond}, AckWait: 5 * time.Second, MaxAttempts: 5,
		Policies: func(typ string) msg.Policy {
			p := cfg.QueuePolicies.Policy(typ)
			out := msg.Policy{DeduplicatePending: p.DeduplicatePending}
			if p.RateLimit != nil {
				out.RateLimit = &msg.RateLimit{Max: p.RateLimit.Max, Per: p.RateLimit.Per, PerText: p.RateLimit.PerText}
			}
			return out
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.bus.Close)
	h.notes = &flakyNotes{next: h.bus, fail: failNotes}
	h.engine, err = NewEngine(EngineOptions{Config: func() *config.Config { return cfg }, Registry: reg, Bus: h.bus, Logger: log, Notes: h.notes})
	if err != nil {
		t.Fatal(err)
	}
	r := msg.NewRouter()
	h.engine.Register(r)
	for _, typ := range []string{"service.lab.lookup", "service.lab.plain"} {
		r.Handle(typ, h.handle)
	}
	svc, err := New(Options{Bus: h.bus, Router: r, Logger: log, Guard: h.engine.GuardTasks,
		Lanes: []Lane{{Name: msg.LaneIO, Slots: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	j, err := journal.New(journal.Options{Bus: h.bus, LogsDir: h.logsDir, NotesDir: h.notesDir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = svc.Run(ctx); done <- struct{}{} }()
	go func() { _ = j.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return h
}

// handle is the lab services' handler: it records its inputs and returns a
// result with text, sources, and a key that tries to override the note's
// audit metadata.
func (h *serviceHarness) handle(_ context.Context, t *msg.Task) (any, error) {
	var p struct {
		Inputs map[string]any `json:"inputs"`
	}
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	h.mu.Lock()
	h.calls[t.Type]++
	h.inputs = append(h.inputs, p.Inputs)
	h.mu.Unlock()
	return map[string]any{"text": fmt.Sprintf("Result for %v", p.Inputs["query"]),
		"sources": []any{map[string]any{"title": "Example", "url": "https://example.com"}},
		"service": "spoofed"}, nil
}

func (h *serviceHarness) callCount(typ string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[typ]
}

// evaluate stores an item and queues its evaluate stage (the rules here need
// no classification).
func (h *serviceHarness) evaluate(key string, facts map[string]any) {
	h.t.Helper()
	ctx := context.Background()
	env := h.engine.env()
	it, err := env.UpdateItem(ctx, "notes.mine", "feed", key, func(it *items.Item, exists bool) error {
		it.Title = "note " + key
		it.Facts = facts
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	if _, err := h.engine.queueStage(ctx, it, StageEvaluate, msg.LaneIO, msg.PriorityEvaluate, "", nil); err != nil {
		h.t.Fatal(err)
	}
}

// notesIn lists the note files under dir (relative to the notes directory).
func (h *serviceHarness) notesIn(dir string) []string {
	entries, _ := os.ReadDir(filepath.Join(h.notesDir, dir))
	var out []string
	for _, e := range entries {
		// Skip the journal's temporary file of an atomic write in progress.
		if !e.IsDir() && !strings.HasPrefix(e.Name(), ".") {
			out = append(out, dir+"/"+e.Name())
		}
	}
	sort.Strings(out)
	return out
}

func (h *serviceHarness) dailyLog() string {
	entries, _ := os.ReadDir(h.logsDir)
	var b strings.Builder
	for _, e := range entries {
		data, _ := os.ReadFile(filepath.Join(h.logsDir, e.Name()))
		b.Write(data)
	}
	return b.String()
}

func (h *serviceHarness) read(rel string) string {
	data, err := os.ReadFile(filepath.Join(h.notesDir, filepath.FromSlash(rel)))
	if err != nil {
		h.t.Fatal(err)
	}
	return string(data)
}

// A rule's service call renders its inputs (Jinja) from the item, runs the
// service once, and the default route writes its result as a note through
// the journal, with the manifest's human_log and the breadcrumb in the daily
// log.
func TestServiceResultToNote(t *testing.T) {
	h := newServiceHarness(t, 0)
	h.evaluate("a", map[string]any{"author": "ann"})
	var notes []string
	waitFor(t, 15*time.Second, "the routed note", func() bool {
		notes = h.notesIn("services/lab/lookup")
		return len(notes) == 1
	})
	if n := h.callCount("service.lab.lookup"); n != 1 {
		t.Errorf("service ran %d times, want 1", n)
	}
	h.mu.Lock()
	in := h.inputs[0]
	h.mu.Unlock()
	if in["query"] != "ANN note a" || in["n"] != float64(3) {
		t.Errorf("inputs = %v, want query \"ANN note a\" (undefined renders empty) and n 3", in)
	}
	note := h.read(notes[0])
	for _, want := range []string{"---\n", "service: service.lab.lookup\n", "integration: lab.default\n", "query: ANN note a\n",
		"completed_at: '", "sources:\n", "url: https://example.com", "\n---\n\nResult for ANN note a"} {
		if !strings.Contains(note, want) {
			t.Errorf("note lacks %q:\n%s", want, note)
		}
	}
	if strings.Contains(note, "spoofed") {
		t.Errorf("a result key overrode the note's service metadata:\n%s", note)
	}
	name := filepath.Base(notes[0])
	if !strings.HasSuffix(name, ".md") || len(name) != len("2006_01_02__15_04_05__")+16+3 {
		t.Errorf("note name %q: want <UTC time>__<uuid>.md", name)
	}
	waitFor(t, 10*time.Second, "the human-log line", func() bool {
		return strings.Contains(h.dailyLog(), "Looked up: ANN note a → services/lab/lookup/")
	})
}

// Several routes each write their note; the action's own human_log wins over
// the manifest (here there is none) and sees the rendered inputs.
func TestServiceSeveralRoutes(t *testing.T) {
	h := newServiceHarness(t, 0)
	h.evaluate("b", map[string]any{"author": "bob", "words": 12})
	waitFor(t, 15*time.Second, "both routed notes", func() bool {
		return len(h.notesIn("services/lab/plain")) == 1 && len(h.notesIn("research/bob")) == 1
	})
	if n := h.callCount("service.lab.plain"); n != 1 {
		t.Errorf("service ran %d times for two routes, want 1", n)
	}
	waitFor(t, 10*time.Second, "two human-log lines", func() bool {
		log := h.dailyLog()
		return strings.Count(log, "Plain for bob: 12 → ") == 2 && strings.Contains(log, "→ research/bob/")
	})
}

// A route that fails is retried on its own: the service is not run again.
func TestFailedRouteRetriedWithoutRerun(t *testing.T) {
	h := newServiceHarness(t, 2)
	h.evaluate("a", map[string]any{"author": "ann"})
	waitFor(t, 15*time.Second, "the note after two failed writes", func() bool {
		return len(h.notesIn("services/lab/lookup")) == 1
	})
	if n := h.callCount("service.lab.lookup"); n != 1 {
		t.Errorf("service ran %d times, want 1 (only the route is retried)", n)
	}
	// The note is written before the route task is recorded done.
	var routes []msg.Status
	waitFor(t, 10*time.Second, "the route task to end", func() bool {
		routes, _ = h.bus.Tasks(context.Background(), func(s *msg.Status) bool { return s.Type == TaskResultNote })
		return len(routes) == 1 && (routes[0].Status == msg.StateDone || routes[0].Status == msg.StateFailed)
	})
	if len(routes) != 1 || routes[0].Attempts != 3 || routes[0].Status != msg.StateDone {
		t.Errorf("route tasks = %+v, want one done after 3 attempts", routes)
	}
}

// An explicit empty on_result routes nowhere; the service still runs once.
func TestEmptyOnResultRoutesNowhere(t *testing.T) {
	h := newServiceHarness(t, 0)
	h.evaluate("q", map[string]any{"author": "quiet"})
	// Route tasks are queued before the service task is recorded done.
	waitFor(t, 10*time.Second, "the service task done", func() bool {
		list, _ := h.bus.Tasks(context.Background(), func(s *msg.Status) bool {
			return s.Type == "service.lab.plain" && s.Status == msg.StateDone
		})
		return len(list) == 1
	})
	if n := h.callCount("service.lab.plain"); n != 1 {
		t.Errorf("service ran %d times, want 1", n)
	}
	routes, _ := h.bus.Tasks(context.Background(), func(s *msg.Status) bool { return strings.HasPrefix(s.Type, "result.") })
	if len(routes) != 0 {
		t.Errorf("route tasks = %+v, want none", routes)
	}
}

// A template that does not render fails the evaluation permanently, naming
// the template and its line, and queues nothing.
func TestTemplateErrorFailsEvaluate(t *testing.T) {
	h := newServiceHarness(t, 0)
	h.evaluate("e", map[string]any{"author": "eve"})
	var st msg.Status
	waitFor(t, 10*time.Second, "the failed evaluation", func() bool {
		list, _ := h.bus.Tasks(context.Background(), func(s *msg.Status) bool { return s.Type == "notes.feed.evaluate" })
		if len(list) == 1 && list[0].Status == msg.StateFailed {
			st = list[0]
			return true
		}
		return false
	})
	for _, want := range []string{"notes.mine/feed rule #3", "input q", "nosuch", "line 2", "template "} {
		if !strings.Contains(st.Error, want) {
			t.Errorf("error %q lacks %q", st.Error, want)
		}
	}
	if st.Attempts != 1 {
		t.Errorf("attempts = %d, want 1 (permanent)", st.Attempts)
	}
	if n := h.callCount("service.lab.plain"); n != 0 {
		t.Errorf("service ran %d times", n)
	}
	waitFor(t, 10*time.Second, "the warning in the daily log", func() bool {
		return strings.Contains(h.dailyLog(), "Template error, nothing queued: notes.mine/feed rule") // # is escaped
	})
}

// queue_policies rate limits apply to service calls from rules: with 10 per
// hour, the 11th call in the hour is skipped, and a log line says so.
func TestServiceRateLimit(t *testing.T) {
	h := newServiceHarness(t, 0)
	for i := range 11 {
		h.evaluate(fmt.Sprintf("r%d", i), map[string]any{"author": "ann"})
	}
	waitFor(t, 20*time.Second, "11 evaluations", func() bool {
		list, _ := h.bus.Tasks(context.Background(), func(s *msg.Status) bool {
			return s.Type == "notes.feed.evaluate" && s.Status == msg.StateDone
		})
		return len(list) == 11
	})
	waitFor(t, 10*time.Second, "10 service runs", func() bool { return h.callCount("service.lab.lookup") == 10 })
	time.Sleep(300 * time.Millisecond)
	if n := h.callCount("service.lab.lookup"); n != 10 {
		t.Errorf("service ran %d times, want 10", n)
	}
	logs := h.logs.String()
	for _, want := range []string{"Rate limit: skipping task", "service call skipped: its rate limit"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
}

func TestNoteDirAndShortID(t *testing.T) {
	for _, tt := range []struct {
		service string
		route   map[string]any
		want    string
		bad     bool
	}{
		{"service.gemini.web_research", map[string]any{"type": "note"}, "services/gemini/web_research", false},
		{"service.x", map[string]any{}, "services", false},
		{"service.gemini.web_research", map[string]any{"path": "research/company_x/"}, "research/company_x", false},
		{"service.gemini.web_research", map[string]any{"path": "../outside"}, "", true},
		{"service.gemini.web_research", map[string]any{"path": "/etc"}, "", true},
	} {
		got, err := noteDir(tt.service, tt.route)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("noteDir(%s, %v) = %q, %v; want %q (error %v)", tt.service, tt.route, got, err, tt.want, tt.bad)
		}
	}
	if got := shortID("7_20260303T142532Z_beef1234--deadbeef--service.gemini.web_research"); got != "beef1234" {
		t.Errorf("shortID = %q, want the uuid segment", got)
	}
	for n, want := range map[int]string{0: "0", 999: "999", 2431: "2,431", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}

// A template with a syntax error fails the config load with the file, line
// and key, not when a rule first fires.
func TestTemplateSyntaxErrorAtLoad(t *testing.T) {
	reg, err := manifest.NewRegistry(notesManifest(), labManifest())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, field, line string }{
		{"input", "inputs", "inputs: {q: \"{{ author \"}"},
		{"human_log", "human_log", "human_log: \"{% for x in y %}{{ x }}{% endfor %}\""},
	} {
		text := `llms: {default: {base_url: "http://127.0.0.1:9", model: m}}
integrations:
  - type: notes
    name: mine
    platforms:
      feed:
        automations:
          - when: {author: ann}
            then:
              - service:
                  call: lab.default.lookup
                  ` + tt.line + `
  - type: lab
    name: default
`
		_, err := config.Parse([]byte(text), "config.yaml", nil, config.LoadOptions{Registry: reg, Environ: []string{}})
		if err == nil {
			t.Fatalf("%s: a broken template loaded", tt.name)
		}
		if msg := err.Error(); !strings.Contains(msg, "config.yaml:12") || !strings.Contains(msg, tt.field) || !strings.Contains(msg, "template") {
			t.Errorf("%s: error %q does not name config.yaml:12, %s and the template", tt.name, msg, tt.field)
		}
	}
}

// A human_log that uses the result is rendered when the service has
// finished, with the item's variables it names and the result.
func TestHumanLogWithResult(t *testing.T) {
	h := newServiceHarness(t, 0)
	h.evaluate("c", map[string]any{"author": "cy"})
	waitFor(t, 15*time.Second, "the human-log line with the result", func() bool {
		return strings.Contains(h.dailyLog(), "cy found 1 source(s): Example → services/lab/plain/")
	})
	list, err := h.bus.Tasks(context.Background(), func(s *msg.Status) bool { return s.Type == "service.lab.plain" })
	if err != nil || len(list) != 1 {
		t.Fatalf("service tasks %v, %v", list, err)
	}
	payload := string(list[0].Payload)
	// The template names author, and title as an attribute: those item
	// variables travel with it, the rest of the item does not.
	if !strings.Contains(payload, `"human_log_vars":{"author":"cy","title":"note c"}`) || strings.Contains(payload, `"human_log":`) {
		t.Errorf("payload %s: want the deferred template with only the variables it names", payload)
	}
}
