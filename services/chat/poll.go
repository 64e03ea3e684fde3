package chat

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

// Poll returns the state of a task and the messages it produced, from
// persisted state only (the task record and the conversation): the same answer
// on every poll, before and after a restart. It never writes.
func (s *Service) Poll(ctx context.Context, taskID string) (PollResult, error) {
	st, err := s.o.Bus.Status(ctx, taskID)
	if err != nil {
		if errors.Is(err, msg.ErrNotFound) {
			return PollResult{}, ErrNotFound
		}
		return PollResult{}, err
	}
	if st.Status != msg.StateDone && st.Status != msg.StateFailed {
		return PollResult{Status: msg.StatePending}, nil
	}
	var out []Message
	if conv := taskConversation(st); conv != "" {
		recs, _, err := s.load(ctx, conv)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return PollResult{}, err
		}
		if mine := byTask(recs, taskID); len(mine) > 0 {
			out = messages(recs, mine)
		}
	}
	if len(out) == 0 {
		out = []Message{fromStatus(st)}
	}
	return PollResult{Status: st.Status, Messages: out}, nil
}

// taskConversation is the conversation a task reports to: the result's
// conversation_id, else its chat_reply route's, else the payload's ("" = none).
func taskConversation(st *msg.Status) string {
	var res struct {
		ConversationID string `json:"conversation_id"`
	}
	if st.Status == msg.StateDone && json.Unmarshal(st.Result, &res) == nil && msg.ValidConversationID(res.ConversationID) {
		return res.ConversationID
	}
	if rt := chatRoute(&msg.Task{Payload: st.Payload}); rt != nil {
		return rt.conv
	}
	var p struct {
		ConversationID string `json:"conversation_id"`
	}
	if json.Unmarshal(st.Payload, &p) == nil && msg.ValidConversationID(p.ConversationID) {
		return p.ConversationID
	}
	return ""
}

// fromStatus is the message of a finished task whose conversation holds none
// (cleared since, or no conversation at all), made from its record alone and
// stamped with its end time, so it is the same on every poll.
func fromStatus(st *msg.Status) Message {
	md := map[string]any{keyTaskID: st.ID}
	if st.Status == msg.StateFailed {
		typ := st.Type
		if typ == "" {
			typ = "Task"
		}
		text := st.Error
		if text == "" {
			text = "Unknown error"
		}
		return Message{Role: roleSystem, Type: typeSystem, Content: typ + " failed: " + text, Timestamp: stamp(st.FailedAt, st.UpdatedAt), Metadata: md}
	}
	ts := stamp(st.CompletedAt, st.UpdatedAt)
	var res map[string]any
	_ = json.Unmarshal(st.Result, &res)
	if sr, ok := res["structured"].(map[string]any); ok {
		if reply, ok := sr["reply"].(string); ok {
			return Message{Role: roleAssistant, Type: typeChat, Content: reply, Timestamp: ts, Metadata: md}
		}
	}
	if content, ok := res["content"].(string); ok {
		return Message{Role: roleAssistant, Type: typeChat, Content: content, Timestamp: ts, Metadata: md}
	}
	return Message{Role: roleSystem, Type: typeSystem, Content: resultText(res), Timestamp: ts, Metadata: md}
}

// stamp formats the first non-nil time, else fallback, as a record timestamp.
func stamp(t *time.Time, fallback time.Time) string {
	if t != nil {
		return t.UTC().Format(tsLayout)
	}
	return fallback.UTC().Format(tsLayout)
}
