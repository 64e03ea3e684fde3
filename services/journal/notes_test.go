package journal

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
	"github.com/stewardhq/steward/internal/testkit/notegolden"
)

const notePath = "emails/personal/2025_02_15_10_30_00__abc_example.com.md"

func emailItem() items.Item {
	return items.Item{
		Integration: "email.personal", Platform: "inbox", Key: "<abc@example.com>",
		Title: "Quarterly report", Facts: notegolden.EmailFacts(), Status: items.StatusActive, Note: notePath,
		Content:   []items.Field{{Name: "body", Text: "untrusted text, not in the note"}},
		CreatedAt: time.Date(2025, 2, 15, 10, 31, 0, 0, time.UTC),
	}
}

// putItem writes it and waits until the journal has processed that change.
func putItem(t *testing.T, bus *msg.Bus, r *running, it items.Item) error {
	t.Helper()
	key := it.StoreKey()
	before := r.done.count("item", key)
	if _, err := bus.Items().Put(context.Background(), key, it); err != nil {
		t.Fatal(err)
	}
	eventually(t, "item "+key+" processed", func() bool { return r.done.count("item", key) > before })
	e, _ := r.done.last("item", key)
	return e.err
}

func modTime(t *testing.T, path string) time.Time {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.ModTime()
}

func TestItemNotes(t *testing.T) {
	srv := testServer(t)
	bus := testBus(t, srv, nil)
	notes := t.TempDir()
	r := startJournal(t, Options{Bus: bus, LogsDir: t.TempDir(), NotesDir: notes})
	active := filepath.Join(notes, filepath.FromSlash(notePath))
	synced := filepath.Join(notes, "emails", "personal", "synced", filepath.Base(notePath))
	it := emailItem()

	t.Run("created in the reference format", func(t *testing.T) {
		if err := putItem(t, bus, r, it); err != nil {
			t.Fatal(err)
		}
		fileHas(t, active, notegolden.EmailNote)
	})

	classified := strings.Replace(notegolden.EmailNote, "domain: mail", notegolden.ClassifiedBlock+"domain: mail", 1)
	t.Run("classification updates the same file", func(t *testing.T) {
		// JSON numbers keep their text: a classifier that stored 1.0 gets 1.0.
		it.Classification = map[string]any{"human": 0.92, "urgency": "high", "is_invoice": false, "score": json.Number("1.0")}
		it.ClassifiedBy = &items.ClassifiedBy{Model: "qwen2.5:14b", Profile: "default",
			Timestamp: time.Date(2025, 2, 15, 11, 31, 5, 123456789, time.FixedZone("", 3600))}
		if err := putItem(t, bus, r, it); err != nil {
			t.Fatal(err)
		}
		fileHas(t, active, classified)
	})

	t.Run("unchanged content is not rewritten", func(t *testing.T) {
		old := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
		if err := os.Chtimes(active, old, old); err != nil {
			t.Fatal(err)
		}
		it.UpdatedAt = time.Now() // not part of the note
		it.Content = append(it.Content, items.Field{Name: "x", Text: "y"})
		if err := putItem(t, bus, r, it); err != nil {
			t.Fatal(err)
		}
		if got := modTime(t, active); !got.Equal(old) {
			t.Fatalf("note rewritten: mtime %v", got)
		}
	})

	t.Run("a body the user wrote is kept", func(t *testing.T) {
		if err := os.WriteFile(active, []byte(classified+"\n\nCall Alice back.\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		it.Facts["is_read"] = true
		if err := putItem(t, bus, r, it); err != nil {
			t.Fatal(err)
		}
		want := strings.Replace(classified, "is_read: false", "is_read: true", 1) + "\n\nCall Alice back."
		fileHas(t, active, want)
	})
	current := readFile(t, active)

	t.Run("synced moves the note to synced/", func(t *testing.T) {
		it.Status = items.StatusSynced
		if err := putItem(t, bus, r, it); err != nil {
			t.Fatal(err)
		}
		fileHas(t, synced, current)
		if pathExists(t, active) {
			t.Fatal("the active copy is still there")
		}
	})

	t.Run("active again moves it back", func(t *testing.T) {
		it.Status = items.StatusActive
		if err := putItem(t, bus, r, it); err != nil {
			t.Fatal(err)
		}
		fileHas(t, active, current)
		if pathExists(t, synced) {
			t.Fatal("the synced copy is still there")
		}
	})

	t.Run("both copies: the one for the status stays", func(t *testing.T) {
		if err := os.MkdirAll(filepath.Dir(synced), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(synced, []byte("stale copy"), 0o644); err != nil {
			t.Fatal(err)
		}
		it.Facts["is_starred"] = true
		if err := putItem(t, bus, r, it); err != nil {
			t.Fatal(err)
		}
		fileHas(t, active, strings.Replace(current, "is_starred: false", "is_starred: true", 1))
		if pathExists(t, synced) {
			t.Fatal("the synced copy is still there")
		}
	})

	t.Run("a deleted item keeps its note", func(t *testing.T) {
		key := it.StoreKey()
		before := r.done.count("item", key)
		if err := bus.Items().Delete(context.Background(), key); err != nil {
			t.Fatal(err)
		}
		eventually(t, "delete processed", func() bool { return r.done.count("item", key) > before })
		if !pathExists(t, active) {
			t.Fatal("the note was removed")
		}
	})

	t.Run("an item without a note writes nothing", func(t *testing.T) {
		other := emailItem()
		other.Key, other.Note = "<nonote@example.com>", ""
		if err := putItem(t, bus, r, other); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a note path outside the notes directory is refused", func(t *testing.T) {
		for _, p := range []string{"../escape.md", "/tmp/escape.md", "emails/../../escape.md", ".git/x.md"} {
			bad := emailItem()
			bad.Key, bad.Note = "<bad@example.com>"+p, p
			err := putItem(t, bus, r, bad)
			if !msg.IsPermanent(err) || !errors.Is(err, notefile.ErrBadPath) {
				t.Errorf("%s: want a permanent notefile.ErrBadPath, got %v", p, err)
			}
		}
		if pathExists(t, filepath.Join(filepath.Dir(notes), "escape.md")) {
			t.Fatal("a note was written outside the notes directory")
		}
	})
}

// TestItemNotesRetried: a note that cannot be written yet (a file where its
// directory should be) is written once the obstacle is gone.
func TestItemNotesRetried(t *testing.T) {
	srv := testServer(t)
	bus := testBus(t, srv, nil)
	notes := t.TempDir()
	if err := os.WriteFile(filepath.Join(notes, "emails"), []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := startJournal(t, Options{Bus: bus, LogsDir: t.TempDir(), NotesDir: notes})
	if err := putItem(t, bus, r, emailItem()); err == nil || msg.IsPermanent(err) {
		t.Fatalf("want a transient error, got %v", err)
	}
	if err := os.Remove(filepath.Join(notes, "emails")); err != nil {
		t.Fatal(err)
	}
	fileHas(t, filepath.Join(notes, filepath.FromSlash(notePath)), notegolden.EmailNote)
}

// goldenResearchNote is what the reference writes for the note event below.
const goldenResearchNote = "---\ncompleted_at: '2026-03-03T14:25:32.123456+00:00'\n" +
	"inputs:\n  prompt: Summarise the new terms of service of example.com\n" +
	"integration: gemini.default\nscore: 1.0\nservice: service.gemini.web_research\n" +
	"sources:\n- title: Terms\n  url: https://example.com/tos\n---\n\n# Research\n\nThe terms changed on 1 March."

func TestNoteEvents(t *testing.T) {
	srv := testServer(t)
	bus := testBus(t, srv, nil)
	base := t.TempDir()
	notes := filepath.Join(base, "notes")
	outside := filepath.Join(base, "outside")
	for _, d := range []string{filepath.Join(notes, "real"), outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(outside, filepath.Join(notes, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("real", filepath.Join(notes, "alias")); err != nil {
		t.Fatal(err)
	}
	r := startJournal(t, Options{Bus: bus, LogsDir: t.TempDir(), NotesDir: notes})
	ctx := context.Background()

	research := notefile.NoteEvent{
		Path: "services/gemini/web_research/2026_03_03__14_25_32__a1b2c3d4.md",
		FrontMatter: map[string]any{
			"service":      "service.gemini.web_research",
			"integration":  "gemini.default",
			"inputs":       map[string]any{"prompt": "Summarise the new terms of service of example.com"},
			"completed_at": time.Date(2026, 3, 3, 14, 25, 32, 123456000, time.UTC),
			"sources":      []any{map[string]any{"title": "Terms", "url": "https://example.com/tos"}},
			"score":        1.0,
		},
		Body: "# Research\n\nThe terms changed on 1 March.",
		ID:   "task-1",
	}
	if err := notefile.EmitNote(ctx, bus, research); err != nil {
		t.Fatal(err)
	}
	fileHas(t, filepath.Join(notes, filepath.FromSlash(research.Path)), goldenResearchNote)

	// notefile.EmitNote refuses a bad path before publishing.
	if err := notefile.EmitNote(ctx, bus, notefile.NoteEvent{Path: "../x.md"}); !errors.Is(err, notefile.ErrBadPath) {
		t.Fatalf("notefile.EmitNote(../x.md) = %v, want notefile.ErrBadPath", err)
	}

	// The journal refuses them too, whoever published them.
	tests := []struct {
		path      string
		permanent bool
	}{
		{"../escape.md", true},
		{"/etc/escape.md", true},
		{"a/../../escape.md", true},
		{"out/escape.md", true}, // a symlink out of the notes directory
		{"alias/inside.md", false},
	}
	for _, tt := range tests {
		if err := bus.Emit(ctx, msg.NotesRoot+".test", notefile.NoteEvent{Path: tt.path, Body: "x"}, ""); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "the last event", func() bool { return r.done.count("note", "alias/inside.md") > 0 })
	for _, tt := range tests {
		e, ok := r.done.last("note", tt.path)
		if !ok {
			t.Errorf("%s: not processed", tt.path)
			continue
		}
		if msg.IsPermanent(e.err) != tt.permanent || !tt.permanent && e.err != nil {
			t.Errorf("%s: err %v, want permanent=%v", tt.path, e.err, tt.permanent)
		}
	}
	if got := readFile(t, filepath.Join(notes, "real", "inside.md")); got != "---\n{}\n---\n\nx" {
		t.Errorf("note through an inner symlink: %q", got)
	}
	for _, p := range []string{filepath.Join(base, "escape.md"), filepath.Join(outside, "escape.md"), "/etc/escape.md"} {
		if pathExists(t, p) {
			t.Errorf("%s written outside the notes directory", p)
		}
	}
}

func TestNoNotesDirectory(t *testing.T) {
	srv := testServer(t)
	bus := testBus(t, srv, nil)
	r := startJournal(t, Options{Bus: bus, LogsDir: t.TempDir()})
	it := emailItem()
	if _, err := bus.Items().Put(context.Background(), it.StoreKey(), it); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := r.done.count("item", it.StoreKey()); n != 0 {
		t.Fatalf("item processed %d times without a notes directory", n)
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{LogsDir: "logs"}); err == nil {
		t.Error("no bus: want an error")
	}
	if _, err := New(Options{Bus: &msg.Bus{}}); err == nil {
		t.Error("no logs dir: want an error")
	}
}

func TestNoteBody(t *testing.T) {
	tests := []struct{ in, want string }{
		{"---\na: 1\n---", ""},
		{"---\na: 1\n---\n\nMy notes\n\nmore\n", "My notes\n\nmore"},
		{"no front matter\n", "no front matter"},
		{"---\nunclosed: yes\n", "---\nunclosed: yes"},
		{"----\na: 1\n---  \n\nbody", "body"},
	}
	for _, tt := range tests {
		if got := noteBody(tt.in); got != tt.want {
			t.Errorf("noteBody(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
