package app

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
)

// warningsConfig has an email rule the gate disables (unsubscribe from LLM
// provenance) and a !yolo one; extra adds rules.
const warningsConfig = `integrations:
  - type: email
    name: personal
    imap_server: 127.0.0.1
    username: alice
    password: not-a-real-password
    platforms:
      inbox:
        classifications:
          newsletter: is this a newsletter?
        automations:
          - when: {classification.newsletter: ">=0.9"}
            then: unsubscribe
          - when: {classification.newsletter: ">=0.95"}
            then: [!yolo unsubscribe]
`

// TestStartupWarningsInTheDailyLog: the start-up safety warnings reach the
// daily log once per config: a restart with the same config writes nothing
// new, a changed config writes them again, and a config without warnings says
// once that they are gone.
func TestStartupWarningsInTheDailyLog(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "logs")
	natsAddr := freeAddr(t)
	base := "nats:\n  listen: " + natsAddr + "\nllms:\n  default:\n    model: fake\n    base_url: http://127.0.0.1:1/v1\n"
	const header = "start-up safety warning"

	steps := []struct {
		name   string
		config string
		// want is how many times the header, the disabled rule's warning and
		// the "no warnings any more" line are in the daily log after the step.
		wantHeader, wantGone int
	}{
		{"first start", warningsConfig, 1, 0},
		{"restart, same config", warningsConfig, 1, 0},
		{"changed config", warningsConfig + "          - when: {classification.newsletter: \">=0.8\"}\n            then: unsubscribe\n", 2, 0},
		{"same again", warningsConfig + "          - when: {classification.newsletter: \">=0.8\"}\n            then: unsubscribe\n", 2, 0},
		{"no warnings", "", 2, 1},
		{"no warnings again", "", 2, 1},
	}
	for i, st := range steps {
		cfgPath := writeConfig(t, dir, base+st.config)
		marker := "marker of step " + st.name
		runOnce(t, Options{ConfigPath: cfgPath, Services: []string{ServiceJournal}}, func(ctx context.Context) {
			bus, err := ConnectClient(ctx, Options{ConfigPath: cfgPath, Logger: quietLog(), Environ: []string{}})
			if err != nil {
				t.Fatal(err)
			}
			defer bus.Close()
			// The journal writes in stream order: once the marker, sent after
			// Run reported its warnings, is in the log, so is their outcome.
			if err := audit.Emit(ctx, bus, audit.Event{Kind: audit.KindAction, Text: marker}); err != nil {
				t.Fatal(err)
			}
			for !strings.Contains(dailyLogs(t, logs), marker) {
				select {
				case <-ctx.Done():
					t.Fatalf("step %d: the marker never reached the daily log:\n%s", i, dailyLogs(t, logs))
				case <-time.After(20 * time.Millisecond):
				}
			}
		})
		text := strings.ToLower(dailyLogs(t, logs))
		// "1 start-up safety warning" and "N start-up safety warnings" count
		// once each; the "any more" line contains the words too.
		headers := strings.Count(text, header) - strings.Count(text, "no start-up safety warnings any more")
		if headers != st.wantHeader || strings.Count(text, "no start-up safety warnings any more") != st.wantGone {
			t.Fatalf("after step %d (%s): %d warning reports, %d \"any more\" lines, want %d and %d:\n%s",
				i, st.name, headers, strings.Count(text, "any more"), st.wantHeader, st.wantGone, text)
		}
		if i == 0 && (!strings.Contains(text, "disabled") || !strings.Contains(text, "yolo")) {
			t.Fatalf("the daily log lacks the disabled rule or the !yolo one:\n%s", text)
		}
	}
}

// runOnce runs Steward until fn returns, then stops it and waits.
func runOnce(t *testing.T, o Options, fn func(ctx context.Context)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	ready := make(chan struct{})
	o.Ready = func(Info) { close(ready) }
	if o.Logger == nil {
		o.Logger = quietLog()
	}
	o.Environ = []string{}
	done := make(chan error, 1)
	go func() { done <- Run(runCtx, o) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-ctx.Done():
		t.Fatal("Run not ready")
	}
	fn(ctx)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("Run did not stop")
	}
}

// dailyLogs is the text of every daily log in dir.
func dailyLogs(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
	}
	return b.String()
}
