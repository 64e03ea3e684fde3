package chat

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/msg"
)

// messagePayload is the payload of a chat.message task.
type messagePayload struct {
	ConversationID string        `json:"conversation_id"`
	LLMProfile     string        `json:"llm_profile"`
	Messages       []llm.Message `json:"messages"`
}

// handleMessage is the chat.message worker: one LLM call with the frozen
// messages, then the reply (and a proposal card) appended to the conversation.
// See the package doc for retries, errors and redelivery.
func (s *Service) handleMessage(ctx context.Context, t *msg.Task) (any, error) {
	var p messagePayload
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	conv := p.ConversationID
	if !msg.ValidConversationID(conv) {
		return nil, msg.Permanent(fmt.Errorf("chat.message: conversation id %q: want 16 lower-case hex characters", conv))
	}
	if len(p.Messages) == 0 {
		return nil, msg.Permanent(errors.New("chat.message: no messages to send"))
	}
	for _, m := range p.Messages {
		switch m.Role {
		case llm.RoleSystem, llm.RoleUser, llm.RoleAssistant:
		default:
			return nil, msg.Permanent(fmt.Errorf("chat.message: message role %q: want system, user or assistant", m.Role))
		}
	}
	if t.Attempt > 1 {
		// An earlier attempt may have stored its outcome and died before its
		// status was written: answer with that outcome, store nothing again.
		recs, _, err := s.load(ctx, conv)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if done := byTask(recs, t.ID); len(done) > 0 {
			return earlierOutcome(conv, done)
		}
	}
	ok, err := s.exists(ctx, conv)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, msg.Permanent(fmt.Errorf("chat.message: conversation %s not found", conv))
	}

	d := s.current()
	if d.llmErr != nil {
		return nil, s.failMessage(ctx, t, conv, msg.Permanent(fmt.Errorf("LLM profiles: %w", d.llmErr)))
	}
	client, err := d.llms.Client(p.LLMProfile)
	if err != nil {
		return nil, s.failMessage(ctx, t, conv, msg.Permanent(err))
	}
	var schema *llm.Schema
	sc := s.schemaSet()
	if len(d.actions) > 0 && sc.err == nil {
		schema = sc.wire
	}
	// The lane's lease is held only while the request is in flight (llm.Gate):
	// the next LLM task starts while this one stores its reply.
	comp, err := client.Complete(ctx, p.Messages, schema)
	if err != nil {
		if llm.IsPermanent(err) {
			err = msg.Permanent(err)
		}
		return nil, s.failMessage(ctx, t, conv, err)
	}
	text := comp.Content
	if text == "" && comp.Refusal != "" {
		text = comp.Refusal
	}

	result := map[string]any{"conversation_id": conv}
	reply := text
	var proposal any
	structured := false
	if schema != nil {
		if obj, perr := sc.parse.Parse(text); perr == nil {
			structured = true
			reply, _ = obj["reply"].(string)
			proposal = obj["proposal"]
			result["structured"] = obj
		} else {
			s.o.Logger.Warn("Chat response was not valid JSON, falling back to plain text", "task", t.ID, "err", perr)
		}
	}
	if !structured {
		result["content"] = text
	}

	if err := s.appendRecord(ctx, conv, s.newRecord(roleAssistant, typeChat, reply, map[string]any{keyTaskID: t.ID})); err != nil {
		return nil, err // retried: the LLM is asked again, nothing was stored
	}
	if proposal != nil {
		card, why := s.card(d, proposal, t.ID)
		if card == nil {
			s.o.Logger.Warn("LLM proposal dropped", "task", t.ID, "reason", why)
		} else if err := s.appendRecord(ctx, conv, *card); err != nil {
			// The reply is stored; a retry would find it and stop (see the package
			// doc): report the lost card instead of failing the reply.
			s.o.Logger.Error("could not store a proposal card", "task", t.ID, "err", err)
		} else {
			result[keyProposalID] = card.meta(keyProposalID)
		}
	}
	s.audit(ctx, t.ID+":reply", fmt.Sprintf("Chat reply [%s]: %s", conv[:8], clip(reply, 100)))
	return result, nil
}

// earlierOutcome rebuilds the result of a chat.message whose records an earlier
// attempt stored: its reply, or its error (failing again, permanently).
func earlierOutcome(conv string, recs []entry) (any, error) {
	for _, e := range recs {
		switch {
		case e.rec.Role == roleAssistant:
			out := map[string]any{"conversation_id": conv, "content": e.rec.Content}
			for _, c := range recs {
				if c.rec.Type == typeConfirmation {
					out[keyProposalID] = c.rec.meta(keyProposalID)
				}
			}
			return out, nil
		case e.rec.Role == roleSystem && e.rec.Type == typeSystem:
			return nil, msg.Permanent(errors.New(e.rec.Content))
		}
	}
	return map[string]any{"conversation_id": conv}, nil
}

// failMessage returns err for the task layer and, when this failure is final,
// first appends the one system message that tells the user.
func (s *Service) failMessage(ctx context.Context, t *msg.Task, conv string, err error) error {
	chatFinal := t.Type == TaskMessage && ctx.Err() == nil && !errors.Is(err, msg.ErrShuttingDown) &&
		!msg.IsPermanent(err) && t.Attempt >= chatMaxAttempts
	if !final(ctx, t, err) && !chatFinal {
		return err
	}
	if aerr := s.appendRecord(ctx, conv, s.newRecord(roleSystem, typeSystem, failureText(t, err), map[string]any{keyTaskID: t.ID})); aerr != nil {
		s.o.Logger.Error("could not store a chat error message", "task", t.ID, "err", aerr)
	}
	if chatFinal {
		// Someone is waiting for this answer: after a quick second try, say what
		// is wrong instead of retrying for minutes.
		return msg.Permanent(err)
	}
	return err
}

// chatMaxAttempts bounds the attempts of a chat message: the first retry comes
// after a second; a backend that still fails is reported in the conversation.
const chatMaxAttempts = 2

// final reports whether a handler error ends the task: permanent, or transient
// on the last attempt — but not when a shutdown cut the handler short or
// stopped it waiting for the LLM (the task is then redelivered).
func final(ctx context.Context, t *msg.Task, err error) bool {
	if err == nil {
		return true
	}
	if ctx.Err() != nil || errors.Is(err, msg.ErrShuttingDown) {
		return false
	}
	return msg.IsPermanent(err) || t.MaxAttempts <= 0 || t.Attempt >= t.MaxAttempts
}

// failureText is "<task type> failed: <error>", with the attempts when a
// transient error ran out of them (the wording of the task record).
func failureText(t *msg.Task, err error) string {
	text := err.Error()
	if !msg.IsPermanent(err) && t.Attempt > 1 {
		text = fmt.Sprintf("%s (gave up after %d attempts)", text, t.Attempt)
	}
	return t.Type + " failed: " + text
}

// card builds the proposal card for a proposal the LLM made, or says why there
// is none.
func (s *Service) card(d *derived, proposal any, taskID string) (*record, string) {
	p, ok := proposal.(map[string]any)
	if !ok {
		return nil, "the proposal is not an object"
	}
	name, _ := p["action"].(string)
	if name == "" {
		return nil, "the proposal names no action"
	}
	a := d.byKey[name]
	if a == nil {
		return nil, fmt.Sprintf("unknown action %q", name)
	}
	params := map[string]any{}
	switch v := p["parameters"].(type) {
	case nil:
	case map[string]any:
		params = v
	default:
		return nil, "the parameters are not an object"
	}
	if err := a.checkParameters(params); err != nil {
		return nil, fmt.Sprintf("parameters of %s: %v", name, err)
	}
	desc, _ := p["description"].(string)
	content := desc
	if strings.TrimSpace(content) == "" {
		content = "Proposed action: " + name
	}
	options := make([]any, len(a.Options))
	for i, o := range a.Options {
		options[i] = map[string]any{"id": o.ID, "label": o.Label}
	}
	r := s.newRecord(roleSystem, typeConfirmation, content, map[string]any{
		keyProposalID: randomHex(8), // 64 bits, like every other id
		"action":      name,
		"parameters":  params,
		"description": desc,
		"options":     options,
		keyStatus:     statusPending,
		keyTaskID:     taskID,
	})
	return &r, ""
}

// audit writes a daily-log line (best effort).
func (s *Service) audit(ctx context.Context, id, text string) {
	if err := audit.Emit(ctx, s.o.Bus, audit.Event{At: s.o.Now(), Source: "chat", Kind: audit.KindChat, Text: text, ID: id}); err != nil {
		s.o.Logger.Warn("could not write the daily log", "err", err)
	}
}

// clip cuts s to n runes.
func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
