package notefile

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
)

// NoteEvent asks the journal to write one note file (a service result, reference
// §6.4 / github_services §4.7): subject notes.<first path element>, stream NOTES.
// The journal overwrites the file like the reference NoteStore.save, and leaves
// it untouched when its content would not change (so a redelivered event is
// harmless).
type NoteEvent struct {
	// Path is the note's path relative to directories.notes, slash-separated,
	// e.g. "services/gemini/web_research/2026_03_03__14_25_32__a1b2c3d4.md".
	// It must pass ValidNotePath; the journal refuses (and drops) any other.
	Path string `json:"path"`
	// FrontMatter is rendered as the note's YAML front matter (see RenderNote).
	// Values travel as JSON: time.Time values are sent as Python isoformat
	// strings and whole floats keep their ".0", so the journal renders what
	// RenderNote would render here.
	FrontMatter map[string]any `json:"front_matter,omitempty"`
	// Body is the Markdown after the front matter ("" = none). The journal
	// writes it through SanitizeNoteBody: raw HTML and images are neutralised.
	Body string `json:"body,omitempty"`
	// ID, when set (a task id), makes the event idempotent for two minutes: a
	// redelivered task that emits it again is stored once.
	ID string `json:"id,omitempty"`
}

// Emitter publishes events; *msg.Bus is one.
type Emitter = audit.Emitter

// EmitNote publishes ev on the NOTES stream for the journal to write. It checks
// the path and that the front matter renders before publishing, so a bad note
// fails in the service that made it.
func EmitNote(ctx context.Context, e Emitter, ev NoteEvent) error {
	if err := ValidNotePath(ev.Path); err != nil {
		return err
	}
	front, err := portable(ev.FrontMatter)
	if err != nil {
		return fmt.Errorf("note %s: %w", ev.Path, err)
	}
	fm, _ := front.(map[string]any)
	if _, err := RenderNote(fm, ev.Body); err != nil {
		return fmt.Errorf("note %s: %w", ev.Path, err)
	}
	ev.FrontMatter = fm
	first, _, _ := strings.Cut(ev.Path, "/")
	return e.Emit(ctx, msg.NotesRoot+"."+subjectToken(first), ev, ev.ID)
}

// portable rewrites the values whose JSON form would render differently on the
// journal's side: time.Time becomes its isoformat string, a float becomes a
// JSON number that keeps its fraction (1.0 stays 1.0, not 1).
func portable(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return map[string]any(nil), nil
		}
		out := make(map[string]any, len(x))
		for k, val := range x {
			p, err := portable(val)
			if err != nil {
				return nil, err
			}
			out[k] = p
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			p, err := portable(val)
			if err != nil {
				return nil, err
			}
			out[i] = p
		}
		return out, nil
	case time.Time:
		return PyISOFormat(x), nil
	case *time.Time:
		if x == nil {
			return nil, nil
		}
		return PyISOFormat(*x), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("front matter float %v cannot travel as JSON", x)
		}
		return json.Number(pyFloat(x)), nil
	case float32:
		return portable(float64(x))
	}
	return v, nil
}

// subjectToken maps text to one subject token ([A-Za-z0-9_-], "note" if empty).
func subjectToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "note"
	}
	return string(b)
}
