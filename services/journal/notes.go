package journal

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/items"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
)

// Item notes.
//
// Every item in KV items whose Note is set has a note: front matter = its Facts,
// plus classification (when it was classified) and classified_by {model,
// profile, timestamp as UTC ISO-8601 "+00:00"}, which win over facts of the same
// name; no body of its own. The note lives at Note while the item is active and
// at <dir of Note>/synced/<file> while it is synced. A status change moves the
// file with one rename (never two copies; if both exist the one matching the
// status is kept and the other removed), and an item that becomes active again
// moves back: the folder always tells what needs attention now (the reference
// never restored email notes; its GitHub store did).
//
// What the journal keeps of an existing note: the body. A person may write
// below the front matter and it stays; the front matter itself is Steward's and
// is regenerated from the item. A note whose rendered content is unchanged is
// not touched (its mtime stays). Writes are atomic (temporary file in the same
// directory, then rename).
//
// What it never does: delete a note because its item was deleted (notes are the
// user's record), or follow a symbolic link out of the notes directory (links
// inside it are followed; a path that escapes is refused and logged). A note
// that cannot be written for a reason that may pass (disk full, a directory in
// the way) is retried with backoff, the newest version of the item winning.

// noteQueue holds the item changes waiting to be written: the newest change
// per key, oldest key first.
type noteQueue struct {
	mu      sync.Mutex
	pending map[string]*queuedChange
	order   []string
	wake    chan struct{}
}

type queuedChange struct {
	change   msg.Change
	attempts int       // failed attempts so far
	due      time.Time // not before
}

func newNoteQueue() *noteQueue {
	return &noteQueue{pending: map[string]*queuedChange{}, wake: make(chan struct{}, 1)}
}

// add queues c, replacing an older change of the same key.
func (q *noteQueue) add(c msg.Change) {
	q.mu.Lock()
	if e, ok := q.pending[c.Key]; ok {
		*e = queuedChange{change: c}
	} else {
		q.pending[c.Key] = &queuedChange{change: c}
		q.order = append(q.order, c.Key)
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// take removes and returns the oldest due change; when none is due it returns
// how long until one is (0 = the queue is empty).
func (q *noteQueue) take(now time.Time) (queuedChange, bool, time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	var wait time.Duration
	for i, key := range q.order {
		e := q.pending[key]
		if !e.due.After(now) {
			q.order = append(q.order[:i:i], q.order[i+1:]...)
			delete(q.pending, key)
			return *e, true, 0
		}
		if d := e.due.Sub(now); wait == 0 || d < wait {
			wait = d
		}
	}
	return queuedChange{}, false, wait
}

// retry queues a failed change again unless a newer one arrived meanwhile.
func (q *noteQueue) retry(e queuedChange) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, newer := q.pending[e.change.Key]; newer {
		return
	}
	q.pending[e.change.Key] = &e
	q.order = append(q.order, e.change.Key)
}

// runItemNotes writes the queued item notes until ctx ends.
func (j *Journal) runItemNotes(ctx context.Context, q *noteQueue) {
	for ctx.Err() == nil {
		e, ok, wait := q.take(time.Now())
		if ok {
			err := j.writeItemNote(e.change)
			if err != nil && !msg.IsPermanent(err) {
				e.attempts++
				delay := min(j.retryMin<<min(e.attempts-1, 16), j.retryMax)
				e.due = time.Now().Add(delay)
				j.log.Warn("item note not written, will retry", "item", e.change.Key, "in", delay, "err", err)
				q.retry(e)
			} else if err != nil {
				j.log.Error("item note refused", "item", e.change.Key, "err", err)
			}
			j.done("item", e.change.Key, err)
			continue
		}
		var timer *time.Timer
		var due <-chan time.Time
		if wait > 0 {
			timer = time.NewTimer(wait)
			due = timer.C
		}
		select {
		case <-ctx.Done():
		case <-q.wake:
		case <-due:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// writeItemNote brings the note of one item change up to date.
func (j *Journal) writeItemNote(c msg.Change) error {
	if c.Deleted {
		return nil // the note stays: it is the user's record
	}
	var it items.Item
	dec := json.NewDecoder(bytes.NewReader(c.Value))
	dec.UseNumber() // keep 3 and 3.0 apart in facts
	if err := dec.Decode(&it); err != nil {
		return msg.Permanent(fmt.Errorf("item %s: %w", c.Key, err))
	}
	if it.Note == "" {
		return nil
	}
	if err := notefile.ValidNotePath(it.Note); err != nil {
		return msg.Permanent(fmt.Errorf("item %s: %w", c.Key, err))
	}
	front := itemFrontMatter(&it)
	want, other := it.Note, syncedPath(it.Note)
	if it.Status == items.StatusSynced {
		want, other = other, want
	}
	j.notesMu.Lock()
	defer j.notesMu.Unlock()
	root, err := ensureRoot(j.notesDir)
	if err != nil {
		return fmt.Errorf("notes directory %s: %w", j.notesDir, err)
	}
	defer func() { _ = root.Close() }()
	return classify(placeNote(root, want, other, front))
}

// itemFrontMatter is an item's note front matter.
func itemFrontMatter(it *items.Item) map[string]any {
	front := make(map[string]any, len(it.Facts)+2)
	for k, v := range it.Facts {
		front[k] = v
	}
	if it.ClassifiedBy != nil || len(it.Classification) > 0 {
		cl := it.Classification
		if cl == nil {
			cl = map[string]any{}
		}
		front["classification"] = cl
	}
	if by := it.ClassifiedBy; by != nil {
		front["classified_by"] = map[string]any{
			"model":     by.Model,
			"profile":   by.Profile,
			"timestamp": notefile.PyISOFormat(by.Timestamp.UTC()),
		}
	}
	return front
}

// placeNote makes want the one copy of the note, moving other there if only it
// exists, and writes the rendered front matter over the note's existing body.
func placeNote(root *os.Root, want, other string, front map[string]any) error {
	wantExists, err := exists(root, want)
	if err != nil {
		return err
	}
	otherExists, err := exists(root, other)
	if err != nil {
		return err
	}
	if otherExists && !wantExists {
		if err := root.MkdirAll(path.Dir(want), dirPerm); err != nil {
			return err
		}
		if err := root.Rename(other, want); err != nil {
			return err
		}
		wantExists, otherExists = true, false
	}
	body := ""
	if wantExists {
		data, err := root.ReadFile(want)
		if err != nil {
			return err
		}
		body = noteBody(string(data))
	}
	content, err := notefile.RenderNote(front, body)
	if err != nil {
		return msg.Permanent(err)
	}
	if _, err := writeFileAtomic(root, want, content); err != nil {
		return err
	}
	if otherExists {
		if err := root.Remove(other); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// classify marks errors that retrying cannot fix as permanent.
func classify(err error) error {
	if err != nil && isEscape(err) {
		return msg.Permanent(err)
	}
	return err
}

func exists(root *os.Root, p string) (bool, error) {
	_, err := root.Lstat(p)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, err
}

// fenceRE is a front-matter fence line (python-frontmatter's FM_BOUNDARY).
var fenceRE = regexp.MustCompile(`^-{3,}\s*$`)

// noteBody is the body of a note as the reference reads it: the text after the
// front matter, trimmed. A text without front matter is all body.
func noteBody(text string) string {
	text = notefile.PyStrip(text)
	lines := strings.Split(text, "\n")
	if !fenceRE.MatchString(lines[0]) {
		return text
	}
	for i := 1; i < len(lines); i++ {
		if fenceRE.MatchString(lines[i]) {
			return notefile.PyStrip(strings.Join(lines[i+1:], "\n"))
		}
	}
	return text // an unclosed fence: keep everything rather than lose it
}

// writeFileAtomic writes content to p (creating its directory) unless p already
// holds exactly that; it reports whether it wrote. The new content goes to a
// hidden temporary file beside p, is synced, then renamed over p. A new note is
// filePerm (its directories dirPerm); a rewritten one keeps the permission bits
// its owner gave it.
func writeFileAtomic(root *os.Root, p string, content []byte) (bool, error) {
	if old, err := root.ReadFile(p); err == nil && bytes.Equal(old, content) {
		return false, nil
	}
	var keepMode fs.FileMode
	if fi, err := root.Stat(p); err == nil && fi.Mode().IsRegular() {
		keepMode = fi.Mode().Perm()
	}
	dir := path.Dir(p)
	if err := root.MkdirAll(dir, dirPerm); err != nil {
		return false, err
	}
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(dir, "."+path.Base(p)+"."+hex.EncodeToString(rnd[:])+".tmp")
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, filePerm)
	if err != nil {
		return false, err
	}
	if keepMode != 0 && keepMode != filePerm {
		if err := f.Chmod(keepMode); err != nil {
			_ = f.Close()
			_ = root.Remove(tmp)
			return false, err
		}
	}
	_, werr := f.Write(content)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = root.Remove(tmp)
		return false, err
	}
	if err := root.Rename(tmp, p); err != nil {
		_ = root.Remove(tmp)
		return false, err
	}
	return true, nil
}
