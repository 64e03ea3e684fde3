package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/scriptrun"
	"github.com/stewardhq/steward/internal/testkit/natstest"
)

// scriptConfig has one script per behaviour under test; paths reach the
// scripts as inputs.
const scriptConfig = `llms:
  default:
    base_url: http://127.0.0.1:9
    model: m
scripts:
  echo_inputs:
    description: Echo
    shell: |
      echo "$ASSISTANT_INPUT_DOMAIN|$STEWARD_INPUT_DOMAIN|$ASSISTANT_INPUT_MY_KEY"
      RESULT="got $STEWARD_INPUT_DOMAIN"
    output: RESULT
    reversible: true
  plain:
    shell: echo plain out; echo plain err >&2
    reversible: true
  fails:
    shell: |
      echo "the reason it failed" >&2
      exit 3
    reversible: true
  slow:
    timeout: 0.3
    shell: |
      sleep 1000 &
      echo $! > "$ASSISTANT_INPUT_PID_FILE"
      sleep 1000
    reversible: true
  env:
    shell: env
    reversible: true
  loud:
    shell: head -c 100000 /dev/zero | tr '\0' a
    reversible: true
  logs:
    description: Logger
    shell: |
      log_human "to the daily log"
      log_info "to the process log"
      log_warn "a warning"
      OUT="the output"
    output: OUT
    on_output: human_log
    reversible: true
  append:
    shell: |
      echo "ran $ASSISTANT_INPUT_TAG" >> "$ASSISTANT_INPUT_FILE"
  append_reversible:
    shell: echo "ran" >> "$ASSISTANT_INPUT_FILE"
    reversible: true
  append_then_hang:
    shell: |
      echo "ran" >> "$ASSISTANT_INPUT_FILE"
      if [ -n "$ASSISTANT_INPUT_PID_FILE" ]; then echo $$ > "$ASSISTANT_INPUT_PID_FILE"; fi
      touch "$ASSISTANT_INPUT_STARTED"
      sleep 1000
  append_then_fail:
    shell: |
      echo "ran" >> "$ASSISTANT_INPUT_FILE"
      exit 1
`

// scriptHarness serves lane script with the engine's real script.run handler
// behind the engine's guard, on a real embedded NATS, and records the daily
// log events.
type scriptHarness struct {
	t      *testing.T
	bus    *msg.Bus
	engine *Engine
	router *msg.Router
	mu     sync.Mutex
	events []audit.Event
}

func newScriptHarness(t *testing.T) *scriptHarness {
	t.Helper()
	reg, err := manifest.NewRegistry(notesManifest())
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(scriptConfig), "config.yaml", nil, config.LoadOptions{Registry: reg, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	h := &scriptHarness{t: t}
	srv := natstest.Server(t)
	h.bus, err = msg.Connect(context.Background(), msg.Options{Server: srv, Logger: quiet(), IdleWait: 200 * time.Millisecond,
		AckWait: 5 * time.Second, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.bus.Close)
	h.engine, err = NewEngine(EngineOptions{Config: func() *config.Config { return cfg }, Registry: reg, Bus: h.bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	h.router = msg.NewRouter()
	h.engine.Register(h.router)
	serveRecordingAudit(t, h.bus, h.router, h.engine, []Lane{{Name: msg.LaneScript, Slots: 2}}, "script_test", func(ev audit.Event) {
		h.mu.Lock()
		h.events = append(h.events, ev)
		h.mu.Unlock()
	})
	return h
}

// run publishes a script.run task (provenance rule, as a deterministic rule
// or a person's approval gives it) and waits for it to end.
func (h *scriptHarness) run(name, item string, inputs map[string]any) *msg.Status {
	h.t.Helper()
	payload := map[string]any{"script_name": name, "inputs": inputs}
	if item != "" {
		payload["item"] = item
	}
	p, err := h.bus.Publish(context.Background(), msg.Spec{Type: "script.run", Lane: msg.LaneScript, Priority: msg.PriorityEvaluate,
		Provenance: msg.ProvenanceRule, Payload: payload})
	if err != nil {
		h.t.Fatal(err)
	}
	return waitTaskEnd(h.t, h.bus, p.ID, 30*time.Second)
}

// dispatch runs a script.run task through the router directly, as one
// delivery of it (the same id twice is a redelivery).
func (h *scriptHarness) dispatch(ctx context.Context, id, name, item string, inputs map[string]any) (any, error) {
	b, err := json.Marshal(map[string]any{"script_name": name, "inputs": inputs, "item": item})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.engine.GuardTasks(h.router.Dispatch)(ctx, &msg.Task{ID: id, Type: "script.run", Lane: msg.LaneScript,
		Priority: msg.PriorityEvaluate, Provenance: msg.ProvenanceRule, Payload: b})
}

// waitEvent waits for a daily-log event with exactly text.
func (h *scriptHarness) waitEvent(text string) audit.Event {
	h.t.Helper()
	var found audit.Event
	waitFor(h.t, 10*time.Second, "daily log event "+strconv.Quote(text), func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		for _, ev := range h.events {
			if ev.Text == text {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

func resultOf(t *testing.T, st *msg.Status) scriptResult {
	t.Helper()
	var r scriptResult
	if err := json.Unmarshal(st.Result, &r); err != nil {
		t.Fatalf("result %s: %v", st.Result, err)
	}
	return r
}

// TestScriptTasks runs script.run tasks end to end (publish → lane script →
// guard → handler → real bash → task record).
func TestScriptTasks(t *testing.T) {
	t.Setenv("STEWARD_GATEWAY_TOKEN", "gw-secret-123")
	t.Setenv("STEWARD_NATS_CREDENTIALS", "/secret/nats.creds")
	h := newScriptHarness(t)
	pidFile := filepath.Join(t.TempDir(), "pid")
	tests := []struct {
		name     string
		script   string
		inputs   map[string]any
		failed   string // substring of the error of a failed task; "" = done
		check    func(t *testing.T, r scriptResult)
		afterAll func(t *testing.T)
	}{
		{name: "inputs under both names, output captured", script: "echo_inputs",
			inputs: map[string]any{"domain": "example.com", "my_key": 42},
			check: func(t *testing.T, r scriptResult) {
				if r.Output != "got example.com" || r.Stdout != "example.com|example.com|42\n" || r.ExitCode != 0 {
					t.Errorf("result = %+v", r)
				}
			}},
		{name: "without output: stdout", script: "plain", check: func(t *testing.T, r scriptResult) {
			if r.Output != "plain out\n" || r.Stdout != "plain out\n" || r.Stderr != "plain err\n" {
				t.Errorf("result = %+v", r)
			}
		}},
		{name: "non-zero exit fails with stderr", script: "fails", failed: "script fails exited with code 3: stderr: the reason it failed"},
		{name: "timeout fails and kills the process group", script: "slow", inputs: map[string]any{"pid_file": pidFile},
			failed: "script timed out after 300ms (its process group was killed)",
			afterAll: func(t *testing.T) {
				b, err := os.ReadFile(pidFile)
				if err != nil {
					t.Fatal(err)
				}
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				if !processDead(pid, 10*time.Second) {
					t.Errorf("background child %d survived the timeout", pid)
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}},
		{name: "Steward's environment is not inherited", script: "env", check: func(t *testing.T, r scriptResult) {
			for _, bad := range []string{"gw-secret-123", "STEWARD_GATEWAY_TOKEN", "NATS"} {
				if strings.Contains(r.Stdout, bad) {
					t.Errorf("the script saw %q:\n%s", bad, r.Stdout)
				}
			}
			if !strings.Contains(r.Stdout, "PATH="+scriptrun.DefaultPath+"\n") {
				t.Errorf("env:\n%s", r.Stdout)
			}
		}},
		{name: "stdout capped", script: "loud", check: func(t *testing.T, r scriptResult) {
			if len(r.Stdout) != scriptrun.DefaultMaxOutput || !r.StdoutTruncated {
				t.Errorf("stdout %d bytes, truncated %v", len(r.Stdout), r.StdoutTruncated)
			}
		}},
		{name: "unknown script", script: "nope", failed: "Unknown script: nope"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := h.run(tc.script, "", tc.inputs)
			switch {
			case tc.failed != "":
				if st.Status != msg.StateFailed || !strings.Contains(st.Error, tc.failed) || st.Attempts != 1 {
					t.Errorf("status %s after %d attempts, error %q; want failed at once with %q", st.Status, st.Attempts, st.Error, tc.failed)
				}
			case st.Status != msg.StateDone:
				t.Fatalf("status %s: %s", st.Status, st.Error)
			default:
				tc.check(t, resultOf(t, st))
			}
			if tc.afterAll != nil {
				tc.afterAll(t)
			}
		})
	}
}

// TestScriptLogsReachTheDailyLog: log_human records and, with on_output:
// human_log, the captured output become daily-log events.
func TestScriptLogsReachTheDailyLog(t *testing.T) {
	h := newScriptHarness(t)
	st := h.run("logs", "", nil)
	if st.Status != msg.StateDone || resultOf(t, st).Output != "the output" {
		t.Fatalf("task %+v", st)
	}
	for _, text := range []string{"to the daily log", "the output"} {
		if ev := h.waitEvent(text); ev.Kind != audit.KindScript || ev.Source != "logs" {
			t.Errorf("event %+v", ev)
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ev := range h.events {
		if strings.Contains(ev.Text, "process log") || strings.Contains(ev.Text, "a warning") {
			t.Errorf("log_info/log_warn reached the daily log: %+v", ev)
		}
	}
}

func lines(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), "\n")
}

// TestIrreversibleScriptOncePerItemAndInputs: an irreversible script runs
// once per item and inputs, whichever tasks ask; other inputs or another item
// run it again; a reversible script runs every time; a failed irreversible
// run is not repeated either.
func TestIrreversibleScriptOncePerItemAndInputs(t *testing.T) {
	h := newScriptHarness(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "ran")
	const itemA, itemB = "notes_mine.feed.a=0011223344556677", "notes_mine.feed.b=0011223344556677"
	steps := []struct {
		script, item, tag string
		wantLines         int
		skipped           bool
	}{
		{"append", itemA, "x", 1, false},
		{"append", itemA, "x", 1, true}, // same item and inputs: once
		{"append", itemA, "y", 2, false},
		{"append", itemB, "x", 3, false},
		{"append", "", "x", 4, false}, // no item: once per task
		{"append", "", "x", 5, false},
		{"append_reversible", itemA, "", 6, false},
		{"append_reversible", itemA, "", 7, false},
	}
	for i, s := range steps {
		inputs := map[string]any{"file": file}
		if s.tag != "" {
			inputs["tag"] = s.tag
		}
		st := h.run(s.script, s.item, inputs)
		if st.Status != msg.StateDone {
			t.Fatalf("step %d: %s %s", i, st.Status, st.Error)
		}
		if got := lines(t, file); got != s.wantLines {
			t.Errorf("step %d: %d lines, want %d", i, got, s.wantLines)
		}
		if skipped := strings.Contains(string(st.Result), `"skipped"`); skipped != s.skipped {
			t.Errorf("step %d: result %s, skipped want %v", i, st.Result, s.skipped)
		}
	}

	failFile := filepath.Join(dir, "failed")
	for i := range 2 {
		st := h.run("append_then_fail", itemA, map[string]any{"file": failFile})
		if i == 0 && st.Status != msg.StateFailed || i == 1 && !strings.Contains(string(st.Result), "(task ") {
			t.Errorf("run %d: %s %s %s", i, st.Status, st.Error, st.Result)
		}
	}
	if got := lines(t, failFile); got != 1 {
		t.Errorf("a failed irreversible script ran %d times, want 1", got)
	}
}

// TestIrreversibleScriptNotRepeatedAfterCrash: a worker that dies while an
// irreversible script runs (here: its context ends, which kills the script
// after it appended its line, leaving the intent as a kill -9 would) does
// not run it again when the task is redelivered, nor when another task asks.
func TestIrreversibleScriptNotRepeatedAfterCrash(t *testing.T) {
	h := newScriptHarness(t)
	dir := t.TempDir()
	file, started := filepath.Join(dir, "ran"), filepath.Join(dir, "started")
	const item = "notes_mine.feed.c=0011223344556677"
	inputs := map[string]any{"file": file, "started": started}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		_, err := h.dispatch(ctx, "task-1", "append_then_hang", item, inputs)
		errc <- err
	}()
	waitFor(t, 30*time.Second, "the script to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	cancel() // the crash
	if err := <-errc; err == nil || msg.IsPermanent(err) {
		t.Fatalf("the interrupted attempt returned %v, want a transient error", err)
	}

	// The redelivery of the same task.
	_, err := h.dispatch(context.Background(), "task-1", "append_then_hang", item, inputs)
	if !msg.IsPermanent(err) || !strings.Contains(err.Error(), "interrupted") {
		t.Errorf("redelivery: %v, want a permanent 'interrupted' error", err)
	}
	// Another task deciding the same script on the same item.
	res, err := h.dispatch(context.Background(), "task-2", "append_then_hang", item, inputs)
	if err != nil || !strings.Contains(jsonText(t, res), "already ran") {
		t.Errorf("second task: %v %v", res, err)
	}
	if got := lines(t, file); got != 1 {
		t.Errorf("the script ran %d times, want 1", got)
	}
	key := scriptLedgerKey(item, "task-1", "script:append_then_hang", "append_then_hang", scriptInputs(inputs))
	var entry LedgerEntry
	if _, err := h.bus.Ledger().Get(context.Background(), key, &entry); err != nil || entry.State != LedgerFailed {
		t.Errorf("ledger %s: %+v %v", key, entry, err)
	}
	h.waitEvent("Interrupted script:append_then_hang (task task-1): Steward stopped while it ran; not repeated (it may have happened)")
}

func jsonText(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// processDead reports whether pid is gone or a zombie (killed, not reaped:
// PID 1 of a container may never reap it), waiting up to d for SIGKILL to
// take effect.
func processDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRuleDecidedScriptOncePerItem: a deterministic rule deciding an
// irreversible script, evaluated twice for one item, queues two script.run
// tasks; the script runs once, with one ledger entry under the item.
func TestRuleDecidedScriptOncePerItem(t *testing.T) {
	file := filepath.Join(t.TempDir(), "ran")
	h := newIdentityEngine(t, `llms:
  default:
    base_url: %s
    model: fake-model
integrations:
  - type: notes
    name: mine
    platforms:
      feed:
        automations:
          - when: {author: robot}
            then:
              - script: {name: append, inputs: {file: `+strconv.Quote(file)+`, tag: robot}}
scripts:
  append:
    shell: echo "ran $ASSISTANT_INPUT_TAG" >> "$ASSISTANT_INPUT_FILE"
`)
	h.start()
	h.putItem("n1", map[string]any{"author": "robot"}, nil)
	payload, err := json.Marshal(map[string]any{"integration": "notes.mine", "platform": "feed", "key": "n1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if _, err := h.engine.evaluate(context.Background(), &msg.Task{ID: "eval-" + strconv.Itoa(i), Type: "notes.feed.evaluate",
			Payload: payload, Attempt: 1, MaxAttempts: 3}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 30*time.Second, "script task "+strconv.Itoa(i+1), func() bool {
			n := 0
			for _, st := range h.tasksOf("script.run") {
				if st.Status == msg.StateDone {
					n++
				}
			}
			return n == i+1
		})
	}
	if got := lines(t, file); got != 1 {
		t.Errorf("the script ran %d times, want 1", got)
	}
	if got := h.ledgerEntries("n1"); got["script:append"] != 1 {
		t.Errorf("ledger entries %v, want one for script:append", got)
	}
}
