package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/stewardhq/steward/internal/msg"
)

// Roles and types of records (spec §2.1), plus the hidden marker type.
const (
	roleUser      = "user"
	roleAssistant = "assistant"
	roleSystem    = "system"

	typeChat         = "chat"
	typeCommand      = "command"
	typeConfirmation = "confirmation"
	typeResponse     = "response"
	typeSystem       = "system"
	// typeCreated marks the start of a conversation (Create, /clear). It is
	// never shown or counted.
	typeCreated = "created"
)

// Proposal states.
const (
	statusPending  = "pending"
	statusApproved = "approved"
	statusRejected = "rejected"
	statusDone     = "done"
	statusFailed   = "failed"
)

// Metadata keys.
const (
	keyTaskID = "task_id"
	// keyReplyTask marks a record that awaits a task's output: the user's
	// message (its chat.message task) and "Processing..." (the approved
	// action's task). The page polls it after a reload until the output is
	// stored. It is not keyTaskID, which marks what a task produced.
	keyReplyTask  = "reply_task_id"
	keyProposalID = "proposal_id"
	keyOption     = "option"
	keyStatus     = "status"
)

// optionReject is the option id that cancels a proposal.
const optionReject = "reject"

// tsLayout is the reference timestamp: Python's isoformat of an aware UTC time.
const tsLayout = "2006-01-02T15:04:05.000000-07:00"

// record is one stored chat record, in the reference key order.
type record struct {
	Role     string         `json:"role"`
	Type     string         `json:"type"`
	Content  string         `json:"content"`
	TS       string         `json:"ts"`
	Metadata map[string]any `json:"metadata,omitempty"`
}

// entry is a record with its stream sequence.
type entry struct {
	seq uint64
	rec record
}

// meta returns a string metadata value ("" when absent).
func (r record) meta(key string) string {
	s, _ := r.Metadata[key].(string)
	return s
}

// message is the API form of a record.
func (r record) message() Message {
	return Message{Role: r.Role, Content: r.Content, Type: r.Type, Timestamp: r.TS, Metadata: r.Metadata}
}

// newRecord builds a record stamped now.
func (s *Service) newRecord(role, typ, content string, metadata map[string]any) record {
	return record{Role: role, Type: typ, Content: content, TS: s.o.Now().UTC().Format(tsLayout), Metadata: metadata}
}

// load reads a conversation; ErrNotFound when it does not exist (no record at
// all, not even the marker). last is the stream sequence of its newest record.
func (s *Service) load(ctx context.Context, conv string) (recs []entry, last uint64, err error) {
	if !msg.ValidConversationID(conv) {
		return nil, 0, ErrNotFound
	}
	raw, err := s.o.Bus.ChatRecords(ctx, conv)
	if err != nil {
		if errors.Is(err, msg.ErrNotFound) {
			return nil, 0, ErrNotFound
		}
		return nil, 0, err
	}
	if len(raw) == 0 {
		return nil, 0, ErrNotFound
	}
	recs = make([]entry, 0, len(raw))
	for _, e := range raw {
		var r record
		if err := json.Unmarshal(e.Data, &r); err != nil {
			s.o.Logger.Warn("chat record is not JSON; skipped", "conversation", conv, "seq", e.Seq, "err", err)
			continue
		}
		recs = append(recs, entry{seq: e.Seq, rec: r})
	}
	return recs, raw[len(raw)-1].Seq, nil
}

// exists reports whether a conversation exists, without reading it.
func (s *Service) exists(ctx context.Context, conv string) (bool, error) {
	if _, err := s.o.Bus.ChatLast(ctx, conv); err != nil {
		if errors.Is(err, msg.ErrNotFound) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// jsonRecord encodes a record for the stream.
func jsonRecord(r record) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("chat record: %w", err)
	}
	return data, nil
}

// appendRecord stores a record at the end of a conversation.
func (s *Service) appendRecord(ctx context.Context, conv string, r record) error {
	data, err := jsonRecord(r)
	if err != nil {
		return err
	}
	if _, err := s.o.Bus.ChatAppend(ctx, conv, data); err != nil {
		return err
	}
	return nil
}

// byTask returns the records a task produced (metadata.task_id), in order.
func byTask(recs []entry, taskID string) []entry {
	var out []entry
	for _, e := range recs {
		if e.rec.meta(keyTaskID) == taskID {
			out = append(out, e)
		}
	}
	return out
}

// proposalStates derives the status of every proposal from the records after
// its card: a response makes it approved or rejected, a recorded outcome done
// or failed.
func proposalStates(recs []entry) map[string]string {
	st := map[string]string{}
	for _, e := range recs {
		pid := e.rec.meta(keyProposalID)
		if pid == "" {
			continue
		}
		switch e.rec.Type {
		case typeResponse:
			if e.rec.meta(keyOption) == optionReject {
				st[pid] = statusRejected
			} else {
				st[pid] = statusApproved
			}
		case typeSystem:
			if v := e.rec.meta(keyStatus); v == statusDone || v == statusFailed {
				st[pid] = v
			}
		}
	}
	return st
}

// messages turns records into API messages: the marker left out, cards with
// their derived status. all is the whole conversation (for the statuses);
// show is the part to return.
func messages(all, show []entry) []Message {
	states := proposalStates(all)
	out := make([]Message, 0, len(show))
	for _, e := range show {
		if e.rec.Type == typeCreated {
			continue
		}
		m := e.rec.message()
		if e.rec.Type == typeConfirmation && m.Metadata != nil {
			md := make(map[string]any, len(m.Metadata))
			for k, v := range m.Metadata {
				md[k] = v
			}
			st := states[e.rec.meta(keyProposalID)]
			if st == "" {
				st = statusPending
			}
			md[keyStatus] = st
			m.Metadata = md
		}
		out = append(out, m)
	}
	return out
}
