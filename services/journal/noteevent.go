package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
)

// handleNoteEvent writes one NOTES event.
func (j *Journal) handleNoteEvent(_ context.Context, subject string, data []byte) error {
	var ev notefile.NoteEvent
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	err := dec.Decode(&ev)
	if err != nil {
		err = msg.Permanent(fmt.Errorf("note event on %s: %w", subject, err))
	} else {
		err = j.writeNoteEvent(&ev)
	}
	j.done("note", ev.Path, err)
	return err
}

func (j *Journal) writeNoteEvent(ev *notefile.NoteEvent) error {
	if err := notefile.ValidNotePath(ev.Path); err != nil {
		return msg.Permanent(err)
	}
	// A NOTES event is a service result: its body is untrusted Markdown.
	content, err := notefile.RenderNote(ev.FrontMatter, SanitizeNoteBody(ev.Body))
	if err != nil {
		return msg.Permanent(fmt.Errorf("note %s: %w", ev.Path, err))
	}
	j.notesMu.Lock()
	defer j.notesMu.Unlock()
	root, err := ensureRoot(j.notesDir)
	if err != nil {
		return fmt.Errorf("notes directory %s: %w", j.notesDir, err)
	}
	defer func() { _ = root.Close() }()
	if _, err := writeFileAtomic(root, ev.Path, content); err != nil {
		return classify(fmt.Errorf("note %s: %w", ev.Path, err))
	}
	return nil
}
