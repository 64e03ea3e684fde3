package journal

import (
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
)

// withUmask0 clears the process umask for the test, so the modes the journal
// asks for are the modes the files get (a umask of 022 or 077 would hide a
// 0644 or 0755 the code asked for). The package's tests do not run in parallel.
func withUmask0(t *testing.T) {
	t.Helper()
	old := syscall.Umask(0)
	t.Cleanup(func() { syscall.Umask(old) })
}

func permOf(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

// TestNewFilesArePrivate: every file the journal creates is 0600 and every
// directory 0700, whatever the umask (finding 8 of issue 10).
func TestNewFilesArePrivate(t *testing.T) {
	withUmask0(t)
	base := t.TempDir()
	logs := filepath.Join(base, "logs")   // created by the journal
	notes := filepath.Join(base, "notes") // created by the journal
	j, err := New(Options{Bus: &msg.Bus{}, LogsDir: logs, NotesDir: notes, Location: time.UTC, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	data, _ := json.Marshal(audit.Event{At: time.Date(2026, 2, 23, 9, 0, 0, 0, time.UTC), Source: "s", Kind: audit.KindAction, Text: "A"})
	if err := j.handleAudit(ctx, "audit.s", data); err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(notefile.NoteEvent{Path: "services/gemini/web_research/r.md", FrontMatter: map[string]any{"a": "b"}, Body: "text"})
	if err := j.handleNoteEvent(ctx, "notes.services", ev); err != nil {
		t.Fatal(err)
	}
	it := emailItem()
	value, _ := json.Marshal(it)
	if err := j.writeItemNote(msg.Change{Key: it.StoreKey(), Value: value}); err != nil {
		t.Fatal(err)
	}
	it.Status = "synced" // moved into a new synced/ folder
	value, _ = json.Marshal(it)
	if err := j.writeItemNote(msg.Change{Key: it.StoreKey(), Value: value}); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{logs, 0o700},
		{filepath.Join(logs, "2026-02-23 Monday.md"), 0o600},
		{filepath.Join(logs, logStateFile), 0o600},
		{notes, 0o700},
		{filepath.Join(notes, "services"), 0o700},
		{filepath.Join(notes, "services", "gemini", "web_research"), 0o700},
		{filepath.Join(notes, "services", "gemini", "web_research", "r.md"), 0o600},
		{filepath.Join(notes, "emails", "personal"), 0o700},
		{filepath.Join(notes, "emails", "personal", "synced"), 0o700},
		{filepath.Join(notes, "emails", "personal", "synced", filepath.Base(notePath)), 0o600},
	} {
		if got := permOf(t, c.path); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.path, got, c.want)
		}
	}
}

// TestExistingModesKept: directories and files the user set up keep their
// modes: the journal neither widens nor narrows them when it appends to a log
// or rewrites a note.
func TestExistingModesKept(t *testing.T) {
	withUmask0(t)
	base := t.TempDir()
	logs := filepath.Join(base, "logs")
	notes := filepath.Join(base, "notes")
	for _, d := range []string{logs, filepath.Join(notes, "services")} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(notes, 0o755); err != nil {
		t.Fatal(err)
	}
	logFile := filepath.Join(logs, "2026-02-23 Monday.md")
	note := filepath.Join(notes, "services", "shared.md")
	for _, f := range []string{logFile, note} {
		if err := os.WriteFile(f, []byte("mine\n"), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	j, err := New(Options{Bus: &msg.Bus{}, LogsDir: logs, NotesDir: notes, Location: time.UTC, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	data, _ := json.Marshal(audit.Event{At: time.Date(2026, 2, 23, 9, 0, 0, 0, time.UTC), Source: "s", Kind: audit.KindAction, Text: "A"})
	if err := j.handleAudit(ctx, "audit.s", data); err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(notefile.NoteEvent{Path: "services/shared.md", Body: "rewritten"})
	if err := j.handleNoteEvent(ctx, "notes.services", ev); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, note); got != "---\n{}\n---\n\nrewritten" {
		t.Fatalf("note not rewritten: %q", got)
	}
	for _, c := range []struct {
		path string
		want fs.FileMode
	}{
		{logs, 0o750},
		{logFile, 0o640},
		{notes, 0o755},
		{filepath.Join(notes, "services"), 0o750},
		{note, 0o640},
	} {
		if got := permOf(t, c.path); got != c.want {
			t.Errorf("%s: mode %v, want %v (kept)", c.path, got, c.want)
		}
	}
}
