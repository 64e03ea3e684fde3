package notes

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
	"github.com/stewardhq/steward/internal/rules"
	"github.com/stewardhq/steward/internal/testkit/natstest"
	"github.com/stewardhq/steward/services/journal"
)

func TestNotePath(t *testing.T) {
	day := time.Date(2026, 3, 19, 12, 0, 0, 0, time.Local)
	cases := []struct {
		title, folder, want string
	}{
		{"Shopping list", "", "chat/2026-03-19 Shopping list.md"},
		{"Meeting: Q1/Q2 plans?", "work/ideas", "chat/work/ideas/2026-03-19 Meeting Q1 Q2 plans.md"},
		{"  ..hidden.  ", "../../etc", "chat/etc/2026-03-19 hidden.md"},
		{"a\x00b\nc\td", `win\dows`, "chat/win/dows/2026-03-19 a b c d.md"},
		{"[[link]] #tag ^block | pipe", ".git", "chat/git/2026-03-19 link tag block pipe.md"},
		{"***", "", "chat/2026-03-19 Untitled.md"},
		{strings.Repeat("é", 150), "", "chat/2026-03-19 " + strings.Repeat("é", 100) + ".md"},
		{"Ünïcödé 日本語", "Réunions", "chat/Réunions/2026-03-19 Ünïcödé 日本語.md"},
		{"x", "/./a//./b/", "chat/a/b/2026-03-19 x.md"},
	}
	for _, c := range cases {
		got, err := NotePath(day, c.title, c.folder)
		if err != nil || got != c.want {
			t.Errorf("NotePath(%q, %q) = %q, %v; want %q", c.title, c.folder, got, err, c.want)
			continue
		}
		if err := notefile.ValidNotePath(got); err != nil {
			t.Errorf("%q: %v", got, err)
		}
	}
	if _, err := NotePath(day, "x", "a/b/c/d/e/f"); err == nil {
		t.Error("folder nested six deep accepted")
	}
}

func TestManifest(t *testing.T) {
	m := Manifest()
	if _, err := manifest.NewRegistry(m); err != nil {
		t.Fatal(err)
	}
	s, ok := m.Service(ServiceSaveNote)
	if !ok || !s.Reversible || s.Chat == nil || len(s.Chat.Options) != 2 || s.Chat.Options[1].ID != "reject" || len(m.Fields) != 0 || len(m.Platforms) != 0 {
		t.Fatalf("%+v", m)
	}
	req, _ := s.InputSchema["required"].([]any)
	if len(req) != 2 || req[0] != "title" || req[1] != "body" {
		t.Fatalf("required %v", req)
	}
	n := New(Options{})
	if n.Manifest().Type != Type || n.Platform("anything") != nil {
		t.Fatal("integration")
	}
}

// recorder is an Emitter that keeps what is emitted.
type recorder struct {
	mu     sync.Mutex
	events []notefile.NoteEvent
	fail   error
}

func (r *recorder) Emit(_ context.Context, subject string, v any, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail != nil {
		return r.fail
	}
	data, _ := json.Marshal(v)
	var ev notefile.NoteEvent
	_ = json.Unmarshal(data, &ev)
	if !strings.HasPrefix(subject, "notes.") || id != ev.ID {
		return errors.New("bad subject or id")
	}
	r.events = append(r.events, ev)
	return nil
}

func task(t *testing.T, inputs any) *msg.Task {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"type": TaskSaveNote, "inputs": inputs})
	if err != nil {
		t.Fatal(err)
	}
	return &msg.Task{ID: "2_20260319T100000Z_abc--def--service.notes.save_note", Type: TaskSaveNote, Payload: payload, Attempt: 1, MaxAttempts: 3}
}

func TestSaveNoteHandler(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	now := time.Date(2026, 3, 19, 10, 30, 0, 0, time.Local)
	cfg := &config.Config{Directories: config.Directories{Notes: "/notes"}}
	rec := &recorder{}
	n := New(Options{Emitter: rec, Config: func() *config.Config { return cfg }, Now: func() time.Time { return now }, Logger: quiet})
	ctx := context.Background()

	out, err := n.SaveNote(ctx, task(t, map[string]any{"title": "Ideas", "body": "# Ideas\n\n- one", "folder": "work"}))
	if err != nil {
		t.Fatal(err)
	}
	res := out.(map[string]any)
	if res["text"] != "Saved note chat/work/2026-03-19 Ideas.md" || res["path"] != "chat/work/2026-03-19 Ideas.md" {
		t.Fatalf("%v", res)
	}
	if len(rec.events) != 1 {
		t.Fatal("no event")
	}
	ev := rec.events[0]
	if ev.Path != "chat/work/2026-03-19 Ideas.md" || ev.Body != "# Ideas\n\n- one" || ev.FrontMatter["title"] != "Ideas" ||
		ev.FrontMatter["source"] != "steward chat" || ev.ID == "" {
		t.Fatalf("%+v", ev)
	}

	for _, c := range []struct {
		name   string
		inputs any
		want   string
	}{
		{"no inputs", nil, "needs inputs"},
		{"inputs not an object", "x", "want an object"},
		{"missing title", map[string]any{"body": "b"}, `"title" is required`},
		{"blank title", map[string]any{"title": "  ", "body": "b"}, "title is empty"},
		{"title not text", map[string]any{"title": 3, "body": "b"}, `"title" must be text`},
		{"missing body", map[string]any{"title": "t"}, `"body" is required`},
		{"folder not text", map[string]any{"title": "t", "body": "b", "folder": []any{}}, `"folder" must be text`},
		{"body too big", map[string]any{"title": "t", "body": strings.Repeat("x", MaxBody+1)}, "the most is"},
		{"too deep", map[string]any{"title": "t", "body": "b", "folder": "1/2/3/4/5/6"}, "nested more than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := n.SaveNote(ctx, task(t, c.inputs))
			if err == nil || !msg.IsPermanent(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v", err)
			}
		})
	}

	// No notes directory, no journal connection: permanent, explained.
	noDir := New(Options{Emitter: rec, Config: func() *config.Config { return &config.Config{} }})
	if _, err := noDir.SaveNote(ctx, task(t, map[string]any{"title": "t", "body": "b"})); err == nil || !msg.IsPermanent(err) ||
		!strings.Contains(err.Error(), "directories.notes") {
		t.Fatalf("%v", err)
	}
	if _, err := New(Options{}).SaveNote(ctx, task(t, map[string]any{"title": "t", "body": "b"})); err == nil || !msg.IsPermanent(err) {
		t.Fatalf("%v", err)
	}
	// A NATS failure is transient.
	rec.fail = errors.New("nats down")
	if _, err := n.SaveNote(ctx, task(t, map[string]any{"title": "t", "body": "b"})); err == nil || msg.IsPermanent(err) {
		t.Fatalf("%v", err)
	}
}

// Through a real bus and the journal, the note lands in the notes directory.
func TestSaveNoteWritesFile(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	srv := natstest.Server(t)
	bus, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	notesDir := t.TempDir()
	j, err := journal.New(journal.Options{Bus: bus, LogsDir: t.TempDir(), NotesDir: notesDir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = j.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	r := msg.NewRouter()
	n := New(Options{Emitter: bus, Logger: quiet})
	n.Register(r)
	if _, ok := r.Lookup(TaskSaveNote); !ok {
		t.Fatal("not registered")
	}
	out, err := r.Dispatch(ctx, task(t, map[string]any{"title": "Recipe: soup", "body": "Boil water."}))
	if err != nil {
		t.Fatal(err)
	}
	rel := out.(map[string]any)["path"].(string)
	path := filepath.Join(notesDir, filepath.FromSlash(rel))
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			if !strings.HasSuffix(string(data), "Boil water.") || !strings.Contains(string(data), "title: 'Recipe: soup'") {
				t.Fatalf("note:\n%s", data)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestSaveNoteHostileContent: a note whose title and body came from a
// stranger (an LLM summarising a mail) is written through the journal with the
// title safely quoted and no HTML, remote image or plugin script left in the
// body; its Markdown stays (issue 10, finding 7).
func TestSaveNoteHostileContent(t *testing.T) {
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	srv := natstest.Server(t)
	bus, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	notesDir := t.TempDir()
	j, err := journal.New(journal.Options{Bus: bus, LogsDir: t.TempDir(), NotesDir: notesDir, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = j.Run(runCtx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	r := msg.NewRouter()
	New(Options{Emitter: bus, Logger: quiet}).Register(r)
	title := "Offer\n---\nsource: forged\n<img src=http://evil.test/t>"
	body := "## Summary\n\n- **Pay** by Friday\n<img src=\"http://evil.test/p.gif\">\n![pixel](http://evil.test/t.gif)\n\n```dataviewjs\ndv.el('img', '')\n```"
	out, err := r.Dispatch(ctx, task(t, map[string]any{"title": title, "body": body}))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(notesDir, filepath.FromSlash(out.(map[string]any)["path"].(string)))
	var data []byte
	deadline := time.Now().Add(10 * time.Second)
	for {
		if data, err = os.ReadFile(path); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	text := string(data)
	wantBody := "## Summary\n\n- **Pay** by Friday\n&lt;img src=\"http://evil.test/p.gif\">\n\\![pixel](http://evil.test/t.gif)\n\n```text dataviewjs\ndv.el('img', '')\n```"
	if !strings.HasSuffix(text, "\n---\n\n"+wantBody) {
		t.Errorf("body:\n%s\nwant it to end with:\n%s", text, wantBody)
	}
	if n := strings.Count("\n"+text+"\n", "\n---\n"); n != 2 {
		t.Errorf("%d fence lines: the title broke the front matter:\n%s", n, text)
	}
	// The title stays text in a quoted YAML string (Obsidian shows properties
	// as text); the body is where Markdown renders.
	if strings.Contains(text, "\nsource: forged") || strings.Contains(text[strings.LastIndex(text, "\n---\n"):], "<img") {
		t.Errorf("hostile title or HTML in the note:\n%s", text)
	}
}

// TestSaveNotePassesTheRunTimeGate: save_note is declared reversible, so the
// pipeline's run-time gate runs it from any provenance (an llm rule may save
// notes without !yolo), while an undeclared service of this type would be
// refused (issue 10, finding 11).
func TestSaveNotePassesTheRunTimeGate(t *testing.T) {
	reg, err := manifest.NewRegistry(Manifest())
	if err != nil {
		t.Fatal(err)
	}
	for _, prov := range []string{"", "llm", "hybrid", "rule"} {
		run := rules.TaskRun{Type: TaskSaveNote, Provenance: prov}
		if err := rules.AllowTaskAtRun(run, nil, reg, nil); err != nil {
			t.Errorf("save_note from %q: %v", prov, err)
		}
		run.Type = "service.notes.delete_all"
		if err := rules.AllowTaskAtRun(run, nil, reg, nil); (err == nil) != (prov == "rule") {
			t.Errorf("undeclared notes service from %q: %v", prov, err)
		}
	}
}
