package journal

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
)

// cet is a fixed UTC+1 zone (no tzdata needed).
func cet() *time.Location { return time.FixedZone("CET", 3600) }

func TestLogPath(t *testing.T) {
	late := time.Date(2026, 2, 23, 23, 10, 0, 0, time.UTC)
	tests := []struct {
		name string
		at   time.Time
		loc  *time.Location
		want string
	}{
		{"same day", time.Date(2026, 2, 23, 8, 5, 0, 0, time.UTC), cet(), "2026-02-23 Monday.md"},
		{"next day in the location", late, cet(), "2026-02-24 Tuesday.md"},
		{"still that day in UTC", late, time.UTC, "2026-02-23 Monday.md"},
		{"west of UTC", time.Date(2026, 3, 1, 2, 0, 0, 0, time.UTC), time.FixedZone("", -5*3600), "2026-02-28 Saturday.md"},
		{"nil is local", late, nil, late.In(time.Local).Format("2006-01-02 ") + late.In(time.Local).Weekday().String() + ".md"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := LogPath("logs", tt.at, tt.loc); got != filepath.Join("logs", tt.want) {
				t.Errorf("LogPath = %q, want %q", got, filepath.Join("logs", tt.want))
			}
		})
	}
}

func TestRenderLine(t *testing.T) {
	at := time.Date(2026, 2, 23, 9, 5, 59, 0, time.UTC)
	tests := []struct{ text, want string }{
		{"Archived email from **a@example.com** — `Hi` (uid 101)", " - 09:05 Archived email from **a@example.com** — `Hi` (uid 101)\n"},
		{"one\ntwo", " - 09:05 one\n   two\n"},
		{"one\r\ntwo\r\n", " - 09:05 one\n   two\n"},
		{"one\rtwo", " - 09:05 one\n   two\n"},
		{"head\n\n- not an item\n# not a heading\n  \n", " - 09:05 head\n\n   \\- not an item\n   \\# not a heading\n"},
		{"\nleading break", " - 09:05 leading break\n"},
	}
	for _, tt := range tests {
		if got := renderLine(at, tt.text); got != tt.want {
			t.Errorf("renderLine(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestDailyLog(t *testing.T) {
	srv := testServer(t)
	bus := testBus(t, srv, nil)
	logs := filepath.Join(t.TempDir(), "logs") // created on demand
	startJournal(t, Options{Bus: bus, LogsDir: logs, Location: cet()})
	ctx := context.Background()
	day := func(h, m, s int) time.Time { return time.Date(2026, 2, 23, h, m, s, 0, time.UTC) }
	events := []audit.Event{
		{At: day(8, 5, 0), Source: "email.personal", Kind: audit.KindDiscovered, Text: "Discovered email from **a@example.com** — `Hello`"},
		{At: day(8, 6, 30), Source: "email.personal", Kind: audit.KindClassified, Text: "Classified email `Hello`", ID: "classify-1"},
		// The same event again (a redelivered task repeating its last step): one line.
		{At: day(8, 6, 31), Source: "email.personal", Kind: audit.KindClassified, Text: "Classified email `Hello`", ID: "classify-1"},
		{At: day(8, 7, 0), Source: "research_tos", Kind: audit.KindScript, Text: "Script research_tos:\nline one\n\nline two\n"},
		{At: day(8, 8, 0), Source: "email.personal", Kind: audit.KindAction, Text: "Archived email from **a@example.com** — `Hello` (uid 101)"},
		{At: day(23, 10, 0), Source: "email.personal", Kind: audit.KindLeft, Text: "Email `Hello` left the inbox — moved to synced/"},
	}
	for _, ev := range events {
		if err := audit.Emit(ctx, bus, ev); err != nil {
			t.Fatal(err)
		}
	}
	tuesday := filepath.Join(logs, "2026-02-24 Tuesday.md")
	fileHas(t, tuesday, " - 00:10 Email `Hello` left the inbox — moved to synced/\n")
	want := " - 09:05 Discovered email from **a@example.com** — `Hello`\n" +
		" - 09:06 Classified email `Hello`\n" +
		" - 09:07 Script research_tos:\n   line one\n\n   line two\n" +
		" - 09:08 Archived email from **a@example.com** — `Hello` (uid 101)\n"
	if got := readFile(t, filepath.Join(logs, "2026-02-23 Monday.md")); got != want {
		t.Errorf("Monday log:\n%s\nwant:\n%s", got, want)
	}
}

// TestDailyLogIdempotent drives the handler as a redelivery would: after a
// crash (a new journal), after a lost ack, and with an ID re-emitted beyond
// JetStream's two-minute duplicate window.
func TestDailyLogIdempotent(t *testing.T) {
	logs := t.TempDir()
	newJournal := func() *Journal {
		j, err := New(Options{Bus: &msg.Bus{}, LogsDir: logs, Location: time.UTC, Logger: quietLogger()})
		if err != nil {
			t.Fatal(err)
		}
		return j
	}
	event := func(at time.Time, text, id string) []byte {
		data, err := json.Marshal(audit.Event{At: at, Source: "s", Kind: audit.KindAction, Text: text, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	at := time.Date(2026, 2, 23, 9, 0, 0, 123, time.UTC)
	file := filepath.Join(logs, "2026-02-23 Monday.md")
	ctx := context.Background()

	a := event(at, "A", "")
	for i := range 3 { // first delivery, a redelivery to a restarted journal, a lost ack
		if err := newJournal().handleAudit(ctx, "audit.s", a); err != nil {
			t.Fatalf("delivery %d: %v", i, err)
		}
	}
	b := event(at.Add(time.Minute), "B", "task-7")
	bAgain := event(at.Add(10*time.Minute), "B", "task-7") // re-emitted after the dedup window
	c := event(at.Add(2*time.Minute), "C", "")
	j := newJournal()
	for _, data := range [][]byte{b, c, bAgain, a} {
		if err := j.handleAudit(ctx, "audit.s", data); err != nil {
			t.Fatal(err)
		}
	}
	// An identical text at another instant is another event.
	if err := j.handleAudit(ctx, "audit.s", event(at.Add(time.Second), "A", "")); err != nil {
		t.Fatal(err)
	}
	want := " - 09:00 A\n - 09:01 B\n - 09:02 C\n - 09:00 A\n"
	if got := readFile(t, file); got != want {
		t.Fatalf("log:\n%s\nwant:\n%s", got, want)
	}

	// A write that fails after its intent was recorded is written by the retry.
	d := event(at.Add(3*time.Minute), "D", "")
	if err := os.Rename(file, file+".moved"); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(file, 0o755); err != nil { // the log file name is a directory: the append fails
		t.Fatal(err)
	}
	if err := j.handleAudit(ctx, "audit.s", d); err == nil || msg.IsPermanent(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(file+".moved", file); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := newJournal().handleAudit(ctx, "audit.s", d); err != nil {
			t.Fatal(err)
		}
	}
	want += " - 09:03 D\n"
	if got := readFile(t, file); got != want {
		t.Fatalf("log after a failed write:\n%s\nwant:\n%s", got, want)
	}

	// A corrupt record costs the idempotency of that one moment, not the log.
	if err := os.WriteFile(filepath.Join(logs, logStateFile), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := j.handleAudit(ctx, "audit.s", event(at.Add(4*time.Minute), "E", "")); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, file); got != want+" - 09:04 E\n" {
		t.Fatalf("log after a corrupt record:\n%s", got)
	}
}

func TestDailyLogDropsOnlyUnwritableEvents(t *testing.T) {
	j, err := New(Options{Bus: &msg.Bus{}, LogsDir: t.TempDir(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, data := range []string{`{not json`, `{"text":""}`, `{"text":"  \n"}`} {
		if err := j.handleAudit(context.Background(), "audit.x", []byte(data)); !msg.IsPermanent(err) {
			t.Errorf("%s: want a permanent error, got %v", data, err)
		}
	}
}

func TestDailyLogSymlinkOut(t *testing.T) {
	logs, outside := t.TempDir(), t.TempDir()
	at := time.Date(2026, 2, 23, 9, 0, 0, 0, time.UTC)
	target := filepath.Join(outside, "stolen.md")
	if err := os.Symlink(target, filepath.Join(logs, logFileName(at))); err != nil {
		t.Fatal(err)
	}
	j, err := New(Options{Bus: &msg.Bus{}, LogsDir: logs, Location: time.UTC, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(audit.Event{At: at, Text: "secret"})
	if err := j.handleAudit(context.Background(), "audit.x", data); !msg.IsPermanent(err) {
		t.Fatalf("want a permanent error, got %v", err)
	}
	if pathExists(t, target) {
		t.Fatal("the journal wrote through a symlink out of the logs directory")
	}
}

// TestDailyLogWriteFailureRetried: while the logs directory cannot be written
// (it is a regular file), events are retried in order; once it is fixed every
// line is written exactly once.
func TestDailyLogWriteFailureRetried(t *testing.T) {
	srv := testServer(t)
	sink := &syncBuffer{}
	bus := testBus(t, srv, sink)
	logs := filepath.Join(t.TempDir(), "logs")
	if err := os.WriteFile(logs, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	startJournal(t, Options{Bus: bus, LogsDir: logs, Location: time.UTC})
	at := time.Date(2026, 2, 23, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	for i, text := range []string{"first", "second"} {
		if err := audit.Emit(ctx, bus, audit.Event{At: at.Add(time.Duration(i) * time.Minute), Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "a failed write", func() bool { return strings.Contains(sink.String(), "event failed, will retry") })
	if err := os.Remove(logs); err != nil { // fix the problem
		t.Fatal(err)
	}
	fileHas(t, filepath.Join(logs, "2026-02-23 Monday.md"), " - 09:00 first\n - 09:01 second\n")
}

// TestDailyLogRestart: a new journal on a new connection resumes the durable
// consumer where the old one stopped.
func TestDailyLogRestart(t *testing.T) {
	srv := testServer(t)
	logs := t.TempDir()
	file := filepath.Join(logs, "2026-02-23 Monday.md")
	at := time.Date(2026, 2, 23, 9, 0, 0, 0, time.UTC)
	ctx := context.Background()
	emit := func(bus *msg.Bus, i int) {
		t.Helper()
		if err := audit.Emit(ctx, bus, audit.Event{At: at.Add(time.Duration(i) * time.Minute), Text: "line"}); err != nil {
			t.Fatal(err)
		}
	}

	bus1 := testBus(t, srv, nil)
	first := startJournal(t, Options{Bus: bus1, LogsDir: logs, Location: time.UTC})
	for i := range 3 {
		emit(bus1, i)
	}
	eventually(t, "3 lines", func() bool { return lines(readFile(t, file)) == 3 })
	first.stop()
	bus1.Close()

	bus2 := testBus(t, srv, nil)
	startJournal(t, Options{Bus: bus2, LogsDir: logs, Location: time.UTC})
	emit(bus2, 3)
	eventually(t, "4 lines", func() bool { return lines(readFile(t, file)) == 4 })
	time.Sleep(300 * time.Millisecond)
	want := " - 09:00 line\n - 09:01 line\n - 09:02 line\n - 09:03 line\n"
	if got := readFile(t, file); got != want {
		t.Fatalf("log after restart:\n%s\nwant:\n%s", got, want)
	}
}
