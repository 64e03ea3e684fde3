package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/rules"
	"github.com/stewardhq/steward/internal/scriptrun"
)

// The script.run handler (lane script): runs a `scripts:` entry of the config
// in force with internal/scriptrun, after the run-time safety gate (Guard)
// let the task through.
//
// A script not declared `reversible: true` runs at most once per item and
// identity (the script's label and its inputs as rendered into the task, not
// the rule nor !yolo), through the same ledger as the act stage's
// irreversible actions: the intent is written right before bash starts, and
// settled done (exit 0) or failed (non-zero exit, timeout) after. An intent
// found by a redelivery of the same task (Steward was killed or stopped while
// the script ran) is marked failed and the script is not run again: it may
// have done part of its work. A task with no item (one a person approved in
// chat) is keyed by its task id instead, so a redelivery never repeats it but
// a new task (`steward tasks retry`) may.

// scriptStderrExcerpt bounds the stderr quoted in a failed task's error.
const scriptStderrExcerpt = 512

// scriptPayload is the payload of a script.run task.
type scriptPayload struct {
	ScriptName string         `json:"script_name"`
	Inputs     map[string]any `json:"inputs"`
	// Item is the items-bucket key of the item whose rules decided the run
	// ("" when no item did).
	Item string `json:"item,omitempty"`
}

// scriptResult is the result of a done script.run task.
type scriptResult struct {
	ExitCode int `json:"exit_code"`
	// Output is the captured output variable when the script declares one,
	// else its stdout.
	Output          string `json:"output"`
	Stdout          string `json:"stdout"`
	Stderr          string `json:"stderr"`
	StdoutTruncated bool   `json:"stdout_truncated,omitempty"`
	StderrTruncated bool   `json:"stderr_truncated,omitempty"`
}

// storeKeyRE is what an item key in a script payload must look like: dotted
// KV key tokens.
var storeKeyRE = regexp.MustCompile(`^[A-Za-z0-9_=-]+(\.[A-Za-z0-9_=-]+)*$`)

// runScript is the script.run handler.
func (e *Engine) runScript(ctx context.Context, t *msg.Task) (any, error) {
	var p scriptPayload
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	if p.ScriptName == "" {
		return nil, msg.Permanent(errors.New("script.run: payload needs script_name"))
	}
	if p.Item != "" && (len(p.Item) > 512 || !storeKeyRE.MatchString(p.Item)) {
		return nil, msg.Permanent(fmt.Errorf("script.run: malformed item key %.40q", p.Item))
	}
	cfg := e.o.Config()
	var s *config.Script
	if cfg != nil {
		s, _ = cfg.Script(p.ScriptName)
	}
	if s == nil {
		return nil, msg.Permanent(fmt.Errorf("Unknown script: %s", p.ScriptName))
	}
	inputs := scriptInputs(p.Inputs)
	home, _ := os.UserHomeDir()
	spec := scriptrun.Spec{Name: s.Name, Shell: s.Shell, Inputs: inputs, Output: s.Output, Timeout: s.Timeout, Home: home}
	if err := scriptrun.Validate(spec); err != nil {
		return nil, msg.Permanent(err)
	}
	label := rules.TaskRun{Type: t.Type, Script: s.Name}.Label()

	once := !s.Reversible
	var key string
	entry := LedgerEntry{Item: p.Item, Action: label, Provenance: t.Provenance, State: LedgerIntent, Task: t.ID, At: e.o.Now().UTC()}
	if once {
		key = scriptLedgerKey(p.Item, t.ID, label, p.ScriptName, inputs)
		if skipped, err := e.scriptLedgerGate(ctx, key, t, label); err != nil || skipped != nil {
			return skipped, err
		}
		created, err := e.writeIntent(ctx, key, entry)
		if err != nil {
			return nil, err
		}
		if !created {
			return map[string]any{"skipped": label + " already ran for this item (another task got there first)"}, nil
		}
	}

	res, runErr := scriptrun.Run(ctx, spec)
	if res != nil {
		e.scriptRecords(ctx, t, s, res)
	}
	switch {
	case errors.Is(runErr, scriptrun.ErrNotStarted) || errors.Is(runErr, scriptrun.ErrInvalid):
		// Nothing ran: a retry may run it.
		if once {
			if err := e.o.Bus.Ledger().Delete(context.WithoutCancel(ctx), key); err != nil {
				e.o.Logger.Warn("could not remove the intent of a script that did not start", "ledger", key, "err", err)
			}
		}
		if errors.Is(runErr, scriptrun.ErrInvalid) {
			return nil, msg.Permanent(runErr)
		}
		return nil, runErr
	case runErr != nil && ctx.Err() != nil:
		// Steward is stopping (or lost the task): the script was killed. The
		// intent stays, so the redelivery records it as interrupted and does
		// not run it again.
		return nil, runErr
	case runErr != nil:
		return nil, e.scriptFailed(ctx, t, s, p, key, entry, runErr)
	case res.ExitCode != 0:
		err := fmt.Errorf("script %s exited with code %d: stderr: %s", s.Name, res.ExitCode, stderrExcerpt(res.Stderr))
		return nil, e.scriptFailed(ctx, t, s, p, key, entry, err)
	}
	if once {
		e.recordDone(ctx, key, entry)
	}
	out := scriptResult{ExitCode: res.ExitCode, Output: res.Stdout, Stdout: res.Stdout, Stderr: res.Stderr,
		StdoutTruncated: res.StdoutTruncated, StderrTruncated: res.StderrTruncated}
	if s.Output != "" {
		out.Output = res.Output
	}
	return out, nil
}

// scriptLedgerGate looks for the ledger entry of an irreversible script run.
// None: (nil, nil), the script may run. One of another task, or settled:
// a skipped result (the task is done, nothing runs). An intent of this very
// task (an earlier attempt was interrupted while the script ran): it is marked
// failed and the task fails permanently — the script is not run again.
func (e *Engine) scriptLedgerGate(ctx context.Context, key string, t *msg.Task, label string) (skipped any, err error) {
	existing, err := e.findLedger(ctx, key)
	if err != nil || existing == "" {
		return nil, err
	}
	entry, rev, claimed, err := e.claimIntent(ctx, key, t.ID)
	if err != nil {
		return nil, err
	}
	if !claimed {
		return map[string]any{"skipped": fmt.Sprintf("%s already ran for this item (task %s, %s)", label, entry.Task, entry.State)}, nil
	}
	marked, err := e.markInterrupted(ctx, key, entry, rev)
	if err != nil {
		return nil, err
	}
	if !marked {
		return map[string]any{"skipped": label + " already handled by another delivery of this task"}, nil
	}
	e.audit(ctx, audit.Event{Source: "steward", Kind: audit.KindScript, ID: key + ":interrupted",
		Text: fmt.Sprintf("Interrupted %s (task %s): Steward stopped while it ran; not repeated (it may have happened)", label, t.ID)})
	return nil, msg.Permanent(fmt.Errorf("%s was interrupted (Steward stopped while it ran) and is not run again: it is not reversible and may have done part of its work", label))
}

// scriptFailed settles a script that ran and failed (non-zero exit, timeout):
// an irreversible one is recorded failed in the ledger (never repeated), and
// the daily log says so. The task fails permanently with cause.
func (e *Engine) scriptFailed(ctx context.Context, t *msg.Task, s *config.Script, p scriptPayload, key string, entry LedgerEntry, cause error) error {
	text := fmt.Sprintf("Script %s failed (task %s): %v", s.Name, t.ID, cause)
	if key != "" {
		e.recordFailed(context.WithoutCancel(ctx), key, entry, cause)
		text = fmt.Sprintf("Script %s failed (task %s; not retried: it may have done part of its work): %v", s.Name, t.ID, cause)
	}
	e.audit(ctx, audit.Event{Source: s.Name, Kind: audit.KindScript, ID: t.ID + ":failed", Text: text})
	return msg.Permanent(cause)
}

// scriptRecords delivers what a script logged through the helper functions
// and its output, as the reference does: log_human records become daily-log
// lines, log_info and log_warn records process-log lines (logger
// script.<description or "unnamed">); the captured output goes to the daily
// log when on_output is human_log, else to the process log at INFO.
func (e *Engine) scriptRecords(ctx context.Context, t *msg.Task, s *config.Script, res *scriptrun.Result) {
	logger := "script.unnamed"
	if s.Description != "" {
		logger = "script." + s.Description
	}
	log := e.o.Logger.With("logger", logger, "script", s.Name, "task", t.ID)
	// What the script logged before it was stopped is still delivered.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for i, r := range res.Records {
		switch r.Level {
		case scriptrun.LevelHuman:
			e.audit(ctx, audit.Event{Source: s.Name, Kind: audit.KindScript, ID: t.ID + ":log:" + strconv.Itoa(i), Text: r.Message})
		case scriptrun.LevelInfo:
			log.Info(r.Message)
		case scriptrun.LevelWarn:
			log.Warn(r.Message)
		default:
			log.Warn(fmt.Sprintf("Unknown script log level %q in script %s", r.Level, s.Name), "message", r.Message)
		}
	}
	for _, m := range res.Malformed {
		log.Warn("Malformed script log record: " + m)
	}
	if s.Output == "" || !res.HasOutput {
		return
	}
	if s.OnOutput == "human_log" {
		e.audit(ctx, audit.Event{Source: s.Name, Kind: audit.KindScript, ID: t.ID + ":output", Text: res.Output})
		return
	}
	log.Info(fmt.Sprintf("Script %s output: %s", s.Name, res.Output))
}

// scriptInputs turns the task's inputs into the strings the script sees:
// strings as they are, null as "", anything else as JSON.
func scriptInputs(in map[string]any) map[string]string {
	out := make(map[string]string, len(in))
	for k, v := range in {
		switch x := v.(type) {
		case string:
			out[k] = x
		case nil:
			out[k] = ""
		default:
			b, err := json.Marshal(x)
			if err != nil {
				b = []byte(fmt.Sprint(x))
			}
			out[k] = string(b)
		}
	}
	return out
}

// scriptLedgerKey is the ledger key of an irreversible script run: under the
// item's store key when an item decided it, else under "task.<task id token>"
// (at most once per task). The identity is the script's label with its
// inputs, like a rule's {script: {name, inputs}} action.
func scriptLedgerKey(item, taskID, label, name string, inputs map[string]string) string {
	in := make(map[string]any, len(inputs))
	for k, v := range inputs {
		in[k] = v
	}
	storeKey := item
	if storeKey == "" {
		storeKey = "task." + items.KeyToken(taskID)
	}
	return ledgerKey(storeKey, label, config.Action{Kind: config.ActionScript, Name: "script",
		Script: &config.ScriptRef{Name: name, Inputs: in}})
}

// stderrExcerpt is the end of a script's stderr, trimmed, for an error.
func stderrExcerpt(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(empty)"
	}
	if len(s) <= scriptStderrExcerpt {
		return s
	}
	s = s[len(s)-scriptStderrExcerpt:]
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return "…" + s
}
