// Package journal is the service that writes the files people read: the daily
// log and the notes. It is the only writer of directories.logs and
// directories.notes; every other service tells it what to write through NATS.
//
// It runs three loops:
//
//   - AUDIT → daily log. A durable consumer ("journal") appends each audit event
//     as the line " - HH:MM <text>" to <logs>/<YYYY-MM-DD> <Weekday>.md (the
//     event's time in the journal's location, English weekday), in stream order.
//     A line is never lost: a failed write is retried until it succeeds. A line is
//     never written twice: an idempotency record in the logs directory
//     (.journal-state.json) lets a redelivered or re-emitted event find that its
//     line is already there.
//   - KV items → item notes. Every item with a Note path gets its note rendered
//     from its facts and classification (notefile.RenderNote, the reference front-matter
//     format), under the note's directory while active and under its synced/
//     subdirectory once synced.
//   - NOTES → notes. A durable consumer ("journal_notes") writes the note files
//     services publish with notefile.EmitNote (service results).
//
// What it must never do: write outside its two directories, follow a symbolic
// link out of them, delete a note (a deleted item leaves its note: notes are the
// user's record), rewrite a file whose content is unchanged, write a stranger's
// text as markup (every audit line goes through SanitizeLogText and every
// NOTES body through SanitizeNoteBody, see escape.go), or create a file or
// directory others can read (new ones are 0600 and 0700; existing ones keep
// their modes). It reads nothing
// but those directories and NATS, and keeps its only state (the daily log's
// idempotency record) in the logs directory.
package journal

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

// Durable consumer names (public: `nats consumer ls AUDIT` shows them).
const (
	// DurableAudit consumes the AUDIT stream into the daily log.
	DurableAudit = "journal"
	// DurableNotes consumes the NOTES stream into note files.
	DurableNotes = "journal_notes"
)

// Options configure a Journal.
type Options struct {
	// Bus connects to NATS (required).
	Bus *msg.Bus
	// LogsDir is directories.logs (required): where the daily logs go. It is
	// created on demand.
	LogsDir string
	// NotesDir is directories.notes; "" = no notes at all (neither item notes
	// nor NOTES events are processed; NOTES events stay in their stream, which
	// keeps them 30 days, and are written once a notes directory is set).
	NotesDir string
	// Location is the time zone of the daily log's dates and times (nil = time.Local).
	Location *time.Location
	// Logger receives operational logs (nil = slog.Default()).
	Logger *slog.Logger
}

// Journal is the journal service.
type Journal struct {
	bus      *msg.Bus
	logsDir  string
	notesDir string
	loc      *time.Location
	log      *slog.Logger

	// notesMu serialises note writes of the items watcher and the NOTES consumer.
	notesMu sync.Mutex
	// processed, when set (by tests), is told about every item or NOTES event
	// the journal finished with: kind "item" or "note", its key or path, and the
	// error it ended with (nil = written or nothing to do).
	processed func(kind, key string, err error)
	// retryMin and retryMax bound the delay before an item note is retried.
	retryMin, retryMax time.Duration
}

// New returns the journal service.
func New(o Options) (*Journal, error) {
	if o.Bus == nil {
		return nil, errors.New("journal: a bus is required")
	}
	if o.LogsDir == "" {
		return nil, errors.New("journal: the logs directory is required (directories.logs)")
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Journal{
		bus:      o.Bus,
		logsDir:  filepath.Clean(o.LogsDir),
		notesDir: cleanOrEmpty(o.NotesDir),
		loc:      o.Location,
		log:      o.Logger,
		retryMin: time.Second,
		retryMax: time.Minute,
	}, nil
}

func cleanOrEmpty(dir string) string {
	if dir == "" {
		return ""
	}
	return filepath.Clean(dir)
}

// Run writes the daily log and the notes until ctx ends. A loop that fails (NATS
// unreachable, a consumer that cannot be created) is logged and restarted with
// backoff rather than ending the service; Run returns nil once ctx is done.
func (j *Journal) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Go(func() {
		j.keep(ctx, "daily log", func(ctx context.Context) error {
			return j.bus.ConsumeEvents(ctx, msg.StreamAudit, DurableAudit, j.handleAudit)
		})
	})
	if j.notesDir != "" {
		q := newNoteQueue()
		wg.Go(func() { j.runItemNotes(ctx, q) })
		wg.Go(func() {
			j.keep(ctx, "item watcher", func(ctx context.Context) error {
				return j.bus.Items().Watch(ctx, "", q.add, nil)
			})
		})
		wg.Go(func() {
			j.keep(ctx, "notes", func(ctx context.Context) error {
				return j.bus.ConsumeEvents(ctx, msg.StreamNotes, DurableNotes, j.handleNoteEvent)
			})
		})
	} else {
		j.log.Info("no notes directory configured: item notes and service result notes are not written")
	}
	wg.Wait()
	return nil
}

// keep runs f until ctx ends, restarting it with backoff when it returns early.
func (j *Journal) keep(ctx context.Context, name string, f func(context.Context) error) {
	delay := time.Second
	for {
		err := f(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			j.log.Error(fmt.Sprintf("journal %s stopped, restarting in %s", name, delay), "err", err)
		} else {
			j.log.Warn(fmt.Sprintf("journal %s stopped, restarting in %s", name, delay))
		}
		if !sleep(ctx, delay) {
			return
		}
		delay = min(2*delay, 30*time.Second)
	}
}

// sleep waits d or until ctx ends; it reports whether ctx is still alive.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// done reports the end of one item or NOTES event to the test hook.
func (j *Journal) done(kind, key string, err error) {
	if j.processed != nil {
		j.processed(kind, key, err)
	}
}

// Modes of what the journal creates. Logs and notes are private: mail
// subjects, senders and summaries are nobody else's business on a shared
// machine. Only new files and directories get them; an existing file or
// directory keeps the mode its owner gave it (never widened, never narrowed).
const (
	// filePerm is the mode of a new daily log, note or state file.
	filePerm = 0o600
	// dirPerm is the mode of a new directory (the logs and notes directories
	// themselves when missing, and every folder below them).
	dirPerm = 0o700
)

// ensureRoot creates dir (the configured directory itself, which may be a
// symbolic link) with dirPerm when missing, and opens it as a root: every path below it is resolved
// without leaving it. It is opened per operation, so a directory that is moved
// or recreated while the journal runs is picked up, never written behind.
func ensureRoot(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, err
	}
	return os.OpenRoot(dir)
}
