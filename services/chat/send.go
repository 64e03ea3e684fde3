package chat

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/msg"
)

// TaskMessage is the task type of a chat message for the LLM.
const TaskMessage = "chat.message"

// RouteChatReply is the on_result route that sends a task's outcome back into
// a conversation.
const RouteChatReply = "chat_reply"

// Command texts (spec §2.4).
const (
	commandClear    = "/clear"
	textCleared     = "Conversation cleared."
	textUnknownCmd  = "Unknown command: %s. Available commands: /clear"
	detailEmpty     = "Message is empty"
	detailTooLong   = "Message is too long: %d bytes, the limit is %d"
	maxHistoryBytes = 1 << 20
	detailNoProfile = "Chat LLM profile '%s' not found in llms. Available: %s"
)

// Send posts a user message (or a /command). A chat message is stored and a
// chat.message task is queued for the LLM; a command is answered at once.
func (s *Service) Send(ctx context.Context, id, content string) (SendResult, error) {
	if strings.TrimSpace(content) == "" {
		return SendResult{}, &RequestError{Status: http.StatusUnprocessableEntity, Detail: detailEmpty}
	}
	if len(content) > s.o.MaxContent {
		return SendResult{}, &RequestError{Status: http.StatusUnprocessableEntity, Detail: fmt.Sprintf(detailTooLong, len(content), s.o.MaxContent)}
	}
	recs, _, err := s.load(ctx, id)
	if err != nil {
		return SendResult{}, err
	}
	if strings.HasPrefix(content, "/") {
		return s.command(ctx, id, content)
	}

	d := s.current()
	if d.cfg == nil {
		return SendResult{}, &RequestError{Status: http.StatusServiceUnavailable, Detail: "Chat is not configured"}
	}
	profile := d.cfg.Chat.LLM
	if profile == "" {
		profile = llm.DefaultProfile
	}
	if _, ok := d.cfg.LLM(profile); !ok {
		names := make([]string, len(d.cfg.LLMs))
		for i, p := range d.cfg.LLMs {
			names[i] = "'" + p.Name + "'"
		}
		return SendResult{}, &RequestError{Status: http.StatusServiceUnavailable,
			Detail: fmt.Sprintf(detailNoProfile, profile, "["+strings.Join(names, ", ")+"]")}
	}

	// The task is named before the message is stored, so the message can say
	// which task answers it.
	taskID := msg.NewTaskID(TaskMessage, msg.PriorityChat)
	user := s.newRecord(roleUser, typeChat, content, map[string]any{keyReplyTask: taskID})
	if err := s.appendRecord(ctx, id, user); err != nil {
		return SendResult{}, err
	}
	recs = append(recs, entry{rec: user})
	p, err := s.o.Bus.Publish(ctx, msg.Spec{
		ID:       taskID,
		Type:     TaskMessage,
		Priority: msg.PriorityChat,
		Lane:     msg.LLMLane(profile),
		Payload: map[string]any{
			"conversation_id": id,
			"llm_profile":     profile,
			"messages":        llmMessages(systemPrompt(d.cfg, d.actions), recs),
			"on_result":       []any{map[string]any{"type": RouteChatReply, "conversation_id": id}},
		},
	})
	if err != nil {
		return SendResult{}, fmt.Errorf("queue chat message: %w", err)
	}
	return SendResult{Type: typeChat, TaskID: p.ID}, nil
}

// command answers a slash command: /clear purges the conversation (nothing of
// it is stored); anything else is stored with the "Unknown command" answer.
func (s *Service) command(ctx context.Context, id, content string) (SendResult, error) {
	cmd := strings.Fields(content)[0] // content starts with "/", so there is a first field
	if cmd == commandClear {
		if err := s.clear(ctx, id); err != nil {
			return SendResult{}, err
		}
		m := s.newRecord(roleSystem, typeCommand, textCleared, nil).message()
		return SendResult{Type: typeCommand, Message: &m}, nil
	}
	if err := s.appendRecord(ctx, id, s.newRecord(roleUser, typeCommand, content, nil)); err != nil {
		return SendResult{}, err
	}
	answer := s.newRecord(roleSystem, typeCommand, fmt.Sprintf(textUnknownCmd, cmd), nil)
	if err := s.appendRecord(ctx, id, answer); err != nil {
		return SendResult{}, err
	}
	m := answer.message()
	return SendResult{Type: typeCommand, Message: &m}, nil
}

// llmMessages is the frozen message list of a chat.message task: the system
// prompt, then the chat records (user and assistant turns) since the last
// /clear, the oldest dropped when their texts exceed maxHistoryBytes (the
// newest is always kept).
func llmMessages(system string, recs []entry) []any {
	var turns []record
	for _, e := range recs {
		if e.rec.Type == typeChat && (e.rec.Role == roleUser || e.rec.Role == roleAssistant) {
			turns = append(turns, e.rec)
		}
	}
	start, size := len(turns), 0
	for start > 0 {
		size += len(turns[start-1].Content)
		if size > maxHistoryBytes && start < len(turns) {
			break
		}
		start--
	}
	out := make([]any, 0, len(turns)-start+1)
	if system != "" {
		out = append(out, map[string]any{"role": roleSystem, "content": system})
	}
	for _, r := range turns[start:] {
		out = append(out, map[string]any{"role": r.Role, "content": r.Content})
	}
	return out
}
