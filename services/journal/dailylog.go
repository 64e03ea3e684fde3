package journal

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
)

// The daily log.
//
// Format (reference §8): <logs>/<YYYY-MM-DD> <Weekday>.md, one line per event,
// " - HH:MM <text>\n", date and time of the event's At in the journal's
// location, weekday in English. Each line is one O_APPEND write.
//
// Untrusted text: event texts carry subjects, senders and LLM output inside
// the producers' Markdown, so each is passed through SanitizeLogText (see
// escape.go): no HTML, links, images, embeds, tags or plugin queries, and no
// line that starts a block of its own.
//
// Multi-line text: the reference wrote it raw, so a second line fell out of the
// Markdown list (and a line starting with "#" or "-" became a heading or a new
// item). The journal indents every continuation line by three spaces — the
// column where the item's text starts — so the whole event stays one list item;
// CR and CRLF become LF, blank lines stay empty, and leading and trailing blank
// lines are dropped.
//
// Never lose a line: a write that fails (disk full, the directory unwritable or
// not a directory) returns an error, so the consumer redelivers the event after
// a delay, and later events wait behind it (the consumer delivers one at a time,
// in order). Only events that can never be written are dropped, with an error
// log carrying their text: undecodable JSON, empty text, a log file that is a
// symbolic link out of the logs directory.
//
// Never write a line twice: JetStream drops a second publish of the same event
// ID within two minutes. Beyond that, the journal keeps an idempotency record,
// logStateFile in the logs directory: before appending, it records the event's
// key (its ID, else a hash of its subject and bytes — At has nanoseconds, so two
// distinct events never share it), the file, the offset the line goes to and a
// hash of the line; it also keeps the keys of the last seenLimit lines written.
// A redelivered event (the journal crashed, or its ack was lost, after the
// write) finds its line at the recorded offset and is not written again; an
// event whose ID was already written (re-emitted after the two minutes) is
// skipped. Stream sequences would be an equivalent key, but the event API does
// not expose them and a content key also covers a re-publish. The record is
// read and written per event, so several journal processes on one logs
// directory stay exact (the durable consumer hands out one event at a time);
// journals on different machines would split the log between their
// directories, so run the journal where the logs live.
//
// Topics: an event with audit.Event.Topic reports a state that is announced at
// every start (the start-up safety warnings). The record keeps, per topic, a
// hash of the text of its last line found written; an event whose text has
// that hash is not written, so a restart with the same config adds nothing and
// a changed one is logged again. A Resolved event ("no warnings any more") is
// written only after another line of its topic. A topic's line counts once it
// is found in its file, like the record's other keys: a write that failed
// leaves the topic as it was.

// logStateFile is the journal's idempotency record (hidden, in the logs dir).
const logStateFile = ".journal-state.json"

// seenLimit bounds the remembered keys of written lines.
const seenLimit = 256

// LogPath is the daily log file of instant t: <dir>/<YYYY-MM-DD> <Weekday>.md,
// with the date of t in loc (nil = time.Local) and the English weekday name.
func LogPath(dir string, t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.Local
	}
	return filepath.Join(dir, logFileName(t.In(loc)))
}

func logFileName(t time.Time) string {
	return t.Format("2006-01-02") + " " + t.Weekday().String() + ".md"
}

// renderLine is the daily log line of text at t (already in the log's
// location). The text goes through SanitizeLogText first: it comes from
// producers that put mail subjects, senders and LLM output in it.
func renderLine(t time.Time, text string) string {
	text = SanitizeLogText(text)
	lines := strings.Split(text, "\n")
	for len(lines) > 1 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 1 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	for i := 1; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "" {
			lines[i] = ""
		} else {
			lines[i] = "   " + lines[i]
		}
	}
	return " - " + t.Format("15:04") + " " + strings.Join(lines, "\n") + "\n"
}

// logState is the content of logStateFile.
type logState struct {
	// Last is the line most recently about to be written; whether it was is
	// told by the file.
	Last *pendingLine `json:"last,omitempty"`
	// Seen are the keys of lines known to be written, oldest first.
	Seen []string `json:"seen,omitempty"`
	// Topics holds, per audit topic (audit.Event.Topic), the hash of the text
	// of its last line known to be written.
	Topics map[string]string `json:"topics,omitempty"`
}

// pendingLine records where a line is (about to be) written.
type pendingLine struct {
	Key    string `json:"key"`
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Length int    `json:"length"`
	Sum    string `json:"sum"`
	// Topic and TopicSum are the line's audit topic and the hash of its text
	// (see topicMark); they enter logState.Topics once the line is found written.
	Topic    string `json:"topic,omitempty"`
	TopicSum string `json:"topic_sum,omitempty"`
}

// topicMark is the topic of an audit event on its way to the daily log.
type topicMark struct {
	name, sum string
	resolved  bool
}

// skip reports whether a line of this topic would repeat the state last
// written (or announce a resolution of a state never written).
func (m topicMark) skip(st *logState) bool {
	if m.name == "" {
		return false
	}
	last := st.Topics[m.name]
	return last == m.sum || (m.resolved && last == "")
}

// markWritten records a line found in its file: its key as seen and its
// topic's text as the last written.
func (s *logState) markWritten(p *pendingLine) {
	s.markSeen(p.Key)
	if p.Topic != "" {
		if s.Topics == nil {
			s.Topics = map[string]string{}
		}
		s.Topics[p.Topic] = p.TopicSum
	}
}

func (s *logState) markSeen(key string) {
	if slices.Contains(s.Seen, key) {
		return
	}
	s.Seen = append(s.Seen, key)
	if len(s.Seen) > seenLimit {
		s.Seen = slices.Clone(s.Seen[len(s.Seen)-seenLimit:])
	}
}

func hash16(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// eventKey identifies an event across redeliveries and re-publishes.
func eventKey(id, subject string, data []byte) string {
	if id != "" {
		return hash16("id", id)
	}
	return hash16("data", subject, string(data))
}

// handleAudit writes one AUDIT event to the daily log.
func (j *Journal) handleAudit(_ context.Context, subject string, data []byte) error {
	var ev audit.Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return msg.Permanent(fmt.Errorf("audit event on %s: %w", subject, err))
	}
	if strings.TrimSpace(ev.Text) == "" {
		return msg.Permanent(fmt.Errorf("audit event on %s without text (kind %q)", subject, ev.Kind))
	}
	at := ev.At
	if at.IsZero() {
		at = time.Now()
	}
	at = at.In(j.loc)
	line := renderLine(at, ev.Text)
	var topic topicMark
	if ev.Topic != "" {
		topic = topicMark{name: ev.Topic, sum: hash16("topic", ev.Text), resolved: ev.Resolved}
	}
	err := j.appendLine(eventKey(ev.ID, subject, data), logFileName(at), line, topic)
	if err != nil && msg.IsPermanent(err) {
		j.log.Error("daily log line dropped", "line", strings.TrimSuffix(line, "\n"), "err", err)
	}
	return err
}

// appendLine appends line to the log file name unless the record says the event
// key was already written, or the line's topic already stands at this text.
// Errors are transient unless marked permanent.
func (j *Journal) appendLine(key, name, line string, topic topicMark) error {
	root, err := ensureRoot(j.logsDir)
	if err != nil {
		return fmt.Errorf("daily log directory %s: %w", j.logsDir, err)
	}
	defer func() { _ = root.Close() }()

	st := j.loadLogState(root)
	if st.Last != nil && lineWritten(root, st.Last) {
		if st.Last.Key == key {
			j.log.Debug("daily log line already written", "file", name)
			return nil
		}
		st.markWritten(st.Last)
	}
	if slices.Contains(st.Seen, key) {
		j.log.Debug("daily log event already written", "file", name)
		return nil
	}
	if topic.skip(st) {
		j.log.Debug("daily log topic unchanged", "topic", topic.name, "file", name)
		return nil
	}

	var offset int64
	switch fi, err := root.Stat(name); {
	case err == nil:
		offset = fi.Size()
	case errors.Is(err, fs.ErrNotExist):
	case isEscape(err):
		return msg.Permanent(fmt.Errorf("daily log %s: %w", name, err))
	default:
		return fmt.Errorf("daily log %s: %w", name, err)
	}
	st.Last = &pendingLine{Key: key, File: name, Offset: offset, Length: len(line), Sum: hash16(line),
		Topic: topic.name, TopicSum: topic.sum}
	if err := saveLogState(root, st); err != nil {
		return fmt.Errorf("daily log record %s: %w", filepath.Join(j.logsDir, logStateFile), err)
	}

	f, err := root.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, filePerm)
	if err != nil {
		if isEscape(err) {
			return msg.Permanent(fmt.Errorf("daily log %s: %w", name, err))
		}
		return fmt.Errorf("daily log %s: %w", name, err)
	}
	n, werr := f.Write([]byte(line))
	if werr != nil && n > 0 {
		// Do not leave half a line for the retry to append after.
		_ = f.Truncate(offset)
	}
	cerr := f.Close()
	if werr != nil {
		return fmt.Errorf("daily log %s: %w", name, werr)
	}
	if cerr != nil {
		// The retry finds the line if it is there.
		return fmt.Errorf("daily log %s: %w", name, cerr)
	}
	return nil
}

// lineWritten reports whether the recorded line is in its file at its offset.
func lineWritten(root *os.Root, p *pendingLine) bool {
	if p.Length <= 0 || p.Offset < 0 {
		return false
	}
	f, err := root.Open(p.File)
	if err != nil {
		return false
	}
	defer func() { _ = f.Close() }()
	buf := make([]byte, p.Length)
	if n, _ := f.ReadAt(buf, p.Offset); n != len(buf) {
		return false
	}
	return hash16(string(buf)) == p.Sum
}

func (j *Journal) loadLogState(root *os.Root) *logState {
	st := &logState{}
	data, err := root.ReadFile(logStateFile)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			j.log.Warn("daily log record unreadable; starting a new one", "file", logStateFile, "err", err)
		}
		return st
	}
	if err := json.Unmarshal(data, st); err != nil {
		j.log.Warn("daily log record corrupt; starting a new one", "file", logStateFile, "err", err)
		return &logState{}
	}
	return st
}

// saveLogState replaces the record atomically (write a temporary file, rename).
func saveLogState(root *os.Root, st *logState) error {
	data, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := logStateFile + ".tmp"
	if err := root.WriteFile(tmp, data, filePerm); err != nil {
		return err
	}
	if err := root.Rename(tmp, logStateFile); err != nil {
		_ = root.Remove(tmp)
		return err
	}
	return nil
}
