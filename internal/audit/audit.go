// Package audit is the event model of the daily log: every service that does
// something a person should be able to read about later (an item discovered,
// classified, acted on, a config warning) emits an Event on the AUDIT stream
// (subject audit.<source>), and the journal service turns each into one line of
// <logs>/YYYY-MM-DD Weekday.md. Events carry their rendered text, so the journal
// needs no knowledge of integrations.
package audit

import (
	"context"
	"fmt"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

// Kinds of events.
const (
	KindDiscovered = "discovered" // a new item was found
	KindClassified = "classified" // the LLM classified an item
	KindAction     = "action"     // an action was taken on an item
	KindBlocked    = "blocked"    // an action was refused by the safety gate
	KindLeft       = "left"       // an item stopped needing attention (left the inbox, closed)
	KindWarning    = "warning"    // a config or runtime warning worth a person's eye
	KindScript     = "script"     // script output
	KindService    = "service"    // a service result
	KindChat       = "chat"       // a chat reply or approved action
)

// Event is one line of the daily log.
type Event struct {
	// At is when it happened; the journal files it under At's local date.
	At time.Time `json:"at"`
	// Source is who emitted it: an integration id (email.personal), "steward", a
	// script name.
	Source string `json:"source"`
	Kind   string `json:"kind"`
	// Text is the rendered line, Markdown allowed (the reference's wording).
	Text        string `json:"text"`
	Integration string `json:"integration,omitempty"`
	Platform    string `json:"platform,omitempty"`
	Item        string `json:"item,omitempty"`
	// ID, when set, makes the event idempotent: emitting the same ID twice within
	// two minutes (a task redelivered after a crash) logs one line.
	ID string `json:"id,omitempty"`
	// Topic, when set, makes the event a report of the current state of
	// something announced at every start (TopicStartupWarnings): the journal
	// writes it only when its text differs from the last written event of the
	// same topic, so an unchanged state is logged once, and again after it
	// changed.
	Topic string `json:"topic,omitempty"`
	// Resolved marks an event of a Topic saying that the state it reported is
	// gone (no warnings any more): it is written only after an event of the
	// topic with another text, never as the topic's first line.
	Resolved bool `json:"resolved,omitempty"`
}

// TopicStartupWarnings is the Topic of the config's start-up safety warnings
// (rules the gate disabled, !yolo rules, ...) that `steward run` reports.
const TopicStartupWarnings = "startup-warnings"

// Emitter publishes events.
type Emitter interface {
	Emit(ctx context.Context, subject string, v any, id string) error
}

// Emit publishes ev on audit.<source token>. A zero At is set to now.
func Emit(ctx context.Context, e Emitter, ev Event) error {
	if ev.At.IsZero() {
		ev.At = time.Now()
	}
	if ev.Source == "" {
		ev.Source = "steward"
	}
	if ev.Text == "" {
		return fmt.Errorf("audit event without text (kind %s)", ev.Kind)
	}
	return e.Emit(ctx, msg.AuditRoot+"."+sourceToken(ev.Source), ev, ev.ID)
}

// sourceToken maps a source to one subject token.
func sourceToken(s string) string {
	b := []byte(s)
	for i, c := range b {
		ok := c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !ok {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "steward"
	}
	return string(b)
}
