package journal

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
)

// TestDailyLogTopic: an event with a Topic is written only when its text
// differs from the topic's last written line (the start-up warnings, sent at
// every start), also by a restarted journal; a Resolved event is written only
// after a line of its topic; a line whose write failed does not count.
func TestDailyLogTopic(t *testing.T) {
	logs := t.TempDir()
	newJournal := func() *Journal {
		j, err := New(Options{Bus: &msg.Bus{}, LogsDir: logs, Location: time.UTC, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	at := time.Date(2026, 2, 23, 9, 0, 0, 0, time.UTC)
	file := filepath.Join(logs, "2026-02-23 Monday.md")
	ctx := context.Background()
	n := 0
	send := func(text string, resolved bool) error {
		n++
		data, err := json.Marshal(audit.Event{At: at.Add(time.Duration(n) * time.Minute), Source: "steward", Kind: audit.KindWarning,
			Text: text, Topic: audit.TopicStartupWarnings, Resolved: resolved})
		if err != nil {
			t.Fatal(err)
		}
		return newJournal().handleAudit(ctx, "audit.steward", data)
	}
	steps := []struct {
		text     string
		resolved bool
		want     string // appended to the log
	}{
		{"none", true, ""},             // nothing was ever reported: nothing to resolve
		{"W1", false, " - 09:02 W1\n"}, // first start with warnings
		{"W1", false, ""},              // restart, same config
		{"other", false, ""},           // another topic's line in between does not matter (sent below)
		{"W2", false, " - 09:05 W2\n"}, // config changed
		{"W1", false, " - 09:06 W1\n"}, // changed back: written again
		{"none", true, " - 09:07 none\n"},
		{"none", true, ""},
	}
	want := ""
	for i, s := range steps {
		if s.text == "other" {
			n++
			data, _ := json.Marshal(audit.Event{At: at.Add(time.Duration(n) * time.Minute), Source: "s", Kind: audit.KindAction, Text: "X"})
			if err := newJournal().handleAudit(ctx, "audit.s", data); err != nil {
				t.Fatal(err)
			}
			want += " - 09:04 X\n"
			continue
		}
		if err := send(s.text, s.resolved); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		want += s.want
		if got := readFile(t, file); got != want {
			t.Fatalf("after step %d (%s):\n%s\nwant:\n%s", i, s.text, got, want)
		}
	}

	// A topic line whose write failed is not taken as written: the next start
	// with the same text writes it.
	if err := os.Rename(file, file+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(file, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := send("W3", false); err == nil {
		t.Fatal("write into a directory succeeded")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".moved", file); err != nil {
		t.Fatal(err)
	}
	if err := send("W3", false); err != nil {
		t.Fatal(err)
	}
	want += " - 09:10 W3\n" // the second W3 event (the first failed)
	if got := readFile(t, file); got != want {
		t.Fatalf("after a failed write:\n%s\nwant:\n%s", got, want)
	}
}
