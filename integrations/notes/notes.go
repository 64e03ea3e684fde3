// Package notes is the built-in "notes" integration: one service, save_note,
// that saves a Markdown note under directories.notes through the journal
// (stream NOTES). It has no platforms and no instance fields, so it works
// without any entry under integrations: — which also makes it the first
// chat-proposable service that works out of the box ("save this as a note").
//
// A configured instance (`- type: notes` with `name: default`) is allowed and
// changes nothing; when exactly one is configured, approved chat actions carry
// its id in the payload's "integration", which the handler ignores.
//
// Where a note goes: <notes>/chat/[<folder>/]<YYYY-MM-DD> <title>.md, the date
// in local time. Title and folder elements are made safe as file names:
// path separators, characters Windows, Obsidian or a shell trip over ( \ / : * ?
// " < > | # ^ [ ] ) and control characters become spaces, runs of spaces
// collapse, leading and trailing dots and spaces go (no hidden files, no ".."),
// and each element is cut to a length every file system takes. A note saved
// again with the same title on the same day replaces the earlier one, which
// keeps the service reversible (it only ever creates or rewrites files under
// <notes>/chat/, and deleting the file undoes it) and makes a redelivered task
// harmless.
package notes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
	"github.com/stewardhq/steward/internal/platform"
)

// Names of the integration type and its service.
const (
	Type            = "notes"
	ServiceSaveNote = "save_note"
	// TaskSaveNote is the task type of save_note.
	TaskSaveNote = "service." + Type + "." + ServiceSaveNote
	// Folder is the folder under directories.notes every saved note goes into.
	Folder = "chat"
	// MaxBody bounds a note's body in bytes.
	MaxBody = 1 << 20
)

// Manifest returns the notes integration's manifest.
func Manifest() *manifest.Manifest {
	return &manifest.Manifest{
		Type:        Type,
		DisplayName: "Notes",
		Version:     "1.0.0",
		Services: []manifest.Service{{
			Name:        ServiceSaveNote,
			Description: "Save a Markdown note in the notes directory",
			Reversible:  true,
			InputSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"title":  map[string]any{"type": "string", "description": "Short title of the note (becomes its file name)"},
					"body":   map[string]any{"type": "string", "description": "The note itself, in Markdown"},
					"folder": map[string]any{"type": "string", "description": "Optional sub-folder, e.g. recipes or work/ideas"},
				},
				"required": []any{"title", "body"},
			},
			Chat: &manifest.ChatSpec{
				Description: "Save a Markdown note (use when the user asks to save, write down or remember something as a note)",
				Options:     []manifest.Option{{ID: "approve", Label: "Save note"}, {ID: "reject", Label: "Cancel"}},
			},
		}},
	}
}

// Options configure the integration.
type Options struct {
	// Emitter publishes the note for the journal (a *msg.Bus). Required to run
	// the service; Manifest and Platform work without it.
	Emitter notefile.Emitter
	// Config returns the config in force; a note needs directories.notes. nil =
	// not checked (the journal keeps notes in its stream until a directory is set).
	Config func() *config.Config
	// Now is the clock (nil = time.Now); the note's date is its local date.
	Now    func() time.Time
	Logger *slog.Logger
}

// Integration is the notes integration. It implements platform.Integration.
type Integration struct {
	o Options
}

var _ platform.Integration = (*Integration)(nil)

// New returns the notes integration.
func New(o Options) *Integration {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Integration{o: o}
}

// Manifest returns the notes manifest.
func (n *Integration) Manifest() *manifest.Manifest { return Manifest() }

// Platform returns nil: notes has no platforms.
func (n *Integration) Platform(string) platform.Platform { return nil }

// Register adds the handler of service.notes.save_note to r. Register it
// before the chat service's Register, which wraps it to report results into
// the conversation.
func (n *Integration) Register(r *msg.Router) { r.Handle(TaskSaveNote, n.SaveNote) }

// Inputs are the inputs of save_note.
type Inputs struct {
	Title  string `json:"title"`
	Body   string `json:"body"`
	Folder string `json:"folder,omitempty"`
}

// SaveNote is the handler of service.notes.save_note: payload {"inputs":
// {"title", "body", "folder"?}}. It returns {"text": "Saved note <path>",
// "path": <path relative to directories.notes>}. Title and body usually come
// from an LLM, so neither is trusted: the title becomes a safe file name and a
// quoted front matter value, and the journal writes the body through
// journal.SanitizeNoteBody (no raw HTML, remote images or plugin scripts).
func (n *Integration) SaveNote(ctx context.Context, t *msg.Task) (any, error) {
	if n.o.Emitter == nil {
		return nil, msg.Permanent(errors.New("the notes service is not connected to the journal"))
	}
	var p struct {
		Inputs json.RawMessage `json:"inputs"`
	}
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	in, err := decodeInputs(p.Inputs)
	if err != nil {
		return nil, msg.Permanent(err)
	}
	if n.o.Config != nil {
		if cfg := n.o.Config(); cfg != nil && cfg.Directories.Notes == "" {
			return nil, msg.Permanent(errors.New("no notes directory is configured (set directories.notes in config.yaml)"))
		}
	}
	now := n.o.Now()
	path, err := NotePath(now, in.Title, in.Folder)
	if err != nil {
		return nil, msg.Permanent(err)
	}
	ev := notefile.NoteEvent{
		Path: path,
		FrontMatter: map[string]any{
			"title":   strings.TrimSpace(in.Title),
			"created": now,
			"source":  "steward chat",
			"task_id": t.ID,
		},
		Body: in.Body,
		ID:   t.ID,
	}
	if err := notefile.EmitNote(ctx, n.o.Emitter, ev); err != nil {
		if errors.Is(err, notefile.ErrBadPath) {
			return nil, msg.Permanent(err)
		}
		return nil, err // NATS trouble: retried
	}
	n.o.Logger.Info("note saved", "path", path, "task", t.ID)
	return map[string]any{"text": "Saved note " + path, "path": path}, nil
}

// decodeInputs checks the inputs: title and body are required strings, folder
// an optional string.
func decodeInputs(raw json.RawMessage) (Inputs, error) {
	var in Inputs
	if len(raw) == 0 || string(raw) == "null" {
		return in, errors.New("save_note needs inputs title and body")
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return in, fmt.Errorf("save_note inputs: want an object: %w", err)
	}
	str := func(key string, required bool) (string, error) {
		v, ok := m[key]
		if !ok || v == nil {
			if required {
				return "", fmt.Errorf("save_note: input %q is required", key)
			}
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("save_note: input %q must be text", key)
		}
		return s, nil
	}
	var err error
	if in.Title, err = str("title", true); err != nil {
		return in, err
	}
	if strings.TrimSpace(in.Title) == "" {
		return in, errors.New("save_note: the title is empty")
	}
	if in.Body, err = str("body", true); err != nil {
		return in, err
	}
	if len(in.Body) > MaxBody {
		return in, fmt.Errorf("save_note: the body is %d bytes; the most is %d", len(in.Body), MaxBody)
	}
	if in.Folder, err = str("folder", false); err != nil {
		return in, err
	}
	return in, nil
}

// Lengths of file-name elements, in runes.
const (
	maxTitle  = 100
	maxFolder = 60
	maxDepth  = 5
)

// NotePath is where save_note writes a note, relative to directories.notes:
// chat/[<folder>/]<YYYY-MM-DD> <title>.md, with the title and each folder
// element made safe (see the package doc).
func NotePath(now time.Time, title, folder string) (string, error) {
	name := SafeName(title, maxTitle)
	if name == "" {
		name = "Untitled"
	}
	parts := []string{Folder}
	for _, el := range strings.FieldsFunc(folder, func(r rune) bool { return r == '/' || r == '\\' }) {
		if el = SafeName(el, maxFolder); el != "" {
			parts = append(parts, el)
		}
	}
	if len(parts) > maxDepth+1 {
		return "", fmt.Errorf("save_note: folder %q is nested more than %d deep", folder, maxDepth)
	}
	parts = append(parts, now.Local().Format("2006-01-02")+" "+name+".md")
	p := strings.Join(parts, "/")
	if err := notefile.ValidNotePath(p); err != nil {
		return "", err
	}
	return p, nil
}

// SafeName turns text into one file-name element of at most max runes (see the
// package doc); "" when nothing usable is left.
func SafeName(s string, max int) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || strings.ContainsRune(`/\:*?"<>|#^[]`, r) || unicode.IsSpace(r) {
			b.WriteRune(' ')
			continue
		}
		b.WriteRune(r)
	}
	out := strings.Join(strings.Fields(b.String()), " ")
	if r := []rune(out); len(r) > max {
		out = string(r[:max])
	}
	return strings.Trim(out, ". ")
}
