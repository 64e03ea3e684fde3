package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/stewardhq/steward/internal/msg"
)

// textCompleted is the result message of a service that returned no text.
const textCompleted = "Action completed."

// Register adds the chat.message worker and the result.chat_reply route
// (TaskRouteReply) to r, and wraps the handlers of the
// chat-proposable services (service.<type>.<service> of every manifest service
// with a chat block) so that the outcome of an approved action comes back into
// its conversation. Call it after the services' own handlers are registered:
// a handler registered later replaces the wrapper. Calling it again for the
// same router does nothing.
//
// Once Register has run, chat offers only the actions that had a handler then
// (a service whose implementation has not arrived yet, like GitHub's
// create_issue today, is not proposed); a chat-proposable service with no
// handler still gets a wrapper that fails permanently, so a task queued for it
// anyway (an old card) reports its failure into the conversation.
func (s *Service) Register(r *msg.Router) {
	s.mu.Lock()
	if s.wrapped == nil {
		s.wrapped = map[*msg.Router]bool{}
	}
	done := s.wrapped[r]
	s.wrapped[r] = true
	s.mu.Unlock()
	if done {
		return
	}
	r.Handle(TaskMessage, s.handleMessage)
	r.Handle(TaskRouteReply, s.handleRouteReply)
	handled := map[string]bool{}
	for _, a := range s.allChatServices() {
		inner, ok := r.Lookup(a.Key)
		if !ok {
			key := a.Key
			s.o.Logger.Info("chat-proposable service has no handler yet: not offered in chat", "action", key)
			inner = func(context.Context, *msg.Task) (any, error) {
				return nil, msg.Permanent(fmt.Errorf("Unknown task type: %s", key))
			}
		} else {
			handled[a.Key] = true
		}
		r.Handle(a.Key, s.wrapAction(inner))
	}
	s.mu.Lock()
	if s.handled == nil {
		s.handled = map[string]bool{}
	}
	for k := range handled {
		s.handled[k] = true
	}
	s.derived = nil // offer what is handled now
	s.mu.Unlock()
}

// route is the chat_reply destination of a task.
type route struct {
	conv       string
	proposalID string
}

// chatRoute returns the task's chat_reply route (the first on_result entry of
// that type), nil when it has none.
func chatRoute(t *msg.Task) *route {
	var p struct {
		OnResult []struct {
			Type           string `json:"type"`
			ConversationID string `json:"conversation_id"`
			ProposalID     string `json:"proposal_id"`
		} `json:"on_result"`
	}
	if json.Unmarshal(t.Payload, &p) != nil {
		return nil
	}
	for _, r := range p.OnResult {
		if r.Type == RouteChatReply && msg.ValidConversationID(r.ConversationID) {
			return &route{conv: r.ConversationID, proposalID: r.ProposalID}
		}
	}
	return nil
}

// wrapAction runs a service handler and, when a task with a chat_reply route
// ends, appends its outcome to the conversation once.
func (s *Service) wrapAction(inner msg.Handler) msg.Handler {
	return func(ctx context.Context, t *msg.Task) (any, error) {
		rt := chatRoute(t)
		if rt == nil {
			return inner(ctx, t)
		}
		if t.Attempt > 1 {
			// The earlier attempt may have finished and stored its outcome, then
			// died before its status was written: do not run the service again.
			recs, _, err := s.load(ctx, rt.conv)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			for _, e := range byTask(recs, t.ID) {
				if e.rec.meta(keyStatus) == statusFailed {
					return nil, msg.Permanent(errors.New(e.rec.Content))
				}
				return map[string]any{"text": e.rec.Content}, nil
			}
		}
		res, err := inner(ctx, t)
		if !final(ctx, t, err) {
			return res, err
		}
		md := map[string]any{keyTaskID: t.ID}
		if rt.proposalID != "" {
			md[keyProposalID] = rt.proposalID
		}
		var text string
		if err == nil {
			text = resultText(res)
			md[keyStatus] = statusDone
		} else {
			text = failureText(t, err)
			md[keyStatus] = statusFailed
		}
		// A failure to store the message is only logged: failing the task would
		// run the service again. Poll still answers from the task record.
		if ok, xerr := s.exists(ctx, rt.conv); xerr != nil {
			s.o.Logger.Error("could not store a chat action result", "task", t.ID, "err", xerr)
		} else if ok {
			if aerr := s.appendRecord(ctx, rt.conv, s.newRecord(roleSystem, typeSystem, text, md)); aerr != nil {
				s.o.Logger.Error("could not store a chat action result", "task", t.ID, "err", aerr)
			}
		}
		s.audit(ctx, t.ID+":reply", fmt.Sprintf("Chat reply [%s]: %s", rt.conv[:8], clip(text, 100)))
		return res, err
	}
}

// resultText is the "text" of a service result ("Action completed." when it
// has none or an empty one).
func resultText(res any) string {
	var m map[string]any
	switch v := res.(type) {
	case map[string]any:
		m = v
	case nil:
	default:
		if data, err := json.Marshal(v); err == nil {
			_ = json.Unmarshal(data, &m)
		}
	}
	if text, ok := m["text"].(string); ok && strings.TrimSpace(text) != "" {
		return text
	}
	return textCompleted
}

// TaskRouteReply is the route task the pipeline queues for a chat_reply entry
// of a finished service task's on_result (pipeline.TaskResultChatReply): it
// carries the service's result to the conversation.
const TaskRouteReply = "result.chat_reply"

// routePayload are the fields of a result.chat_reply task chat reads.
type routePayload struct {
	Source string `json:"source"`
	Route  struct {
		ConversationID string `json:"conversation_id"`
		ProposalID     string `json:"proposal_id"`
	} `json:"route"`
	Result map[string]any `json:"result"`
}

// handleRouteReply appends a routed service result to its conversation, once:
// a service the chat service wraps (an approved chat action) has delivered it
// already, and a redelivered route task finds its own record. A conversation
// that no longer exists gets nothing.
func (s *Service) handleRouteReply(ctx context.Context, t *msg.Task) (any, error) {
	var p routePayload
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	conv := p.Route.ConversationID
	if !msg.ValidConversationID(conv) {
		return nil, msg.Permanent(fmt.Errorf("chat_reply route: conversation id %s is not a conversation id", msg.Quote(conv)))
	}
	if p.Source == "" {
		return nil, msg.Permanent(errors.New("chat_reply route: no source task"))
	}
	ok, err := s.exists(ctx, conv)
	if err != nil {
		return nil, err
	}
	if !ok {
		return map[string]any{"delivered": false, "reason": "conversation not found"}, nil
	}
	recs, _, err := s.load(ctx, conv)
	if err != nil {
		return nil, err
	}
	if len(byTask(recs, p.Source)) > 0 {
		return map[string]any{"delivered": false, "reason": "already in the conversation"}, nil
	}
	text := routedText(p.Result)
	md := map[string]any{keyTaskID: p.Source, keyStatus: statusDone}
	if p.Route.ProposalID != "" {
		md[keyProposalID] = p.Route.ProposalID
	}
	if err := s.appendRecord(ctx, conv, s.newRecord(roleSystem, typeSystem, text, md)); err != nil {
		return nil, err
	}
	s.audit(ctx, p.Source+":reply", fmt.Sprintf("Chat reply [%s]: %s", conv[:8], clip(text, 100)))
	return map[string]any{"delivered": true}, nil
}

// routedText is what a chat_reply route says (spec §4.7): the first non-empty
// of result.content, result.structured.reply and result.text, else "Action
// completed.".
func routedText(res map[string]any) string {
	if c, ok := res["content"].(string); ok && strings.TrimSpace(c) != "" {
		return c
	}
	if st, ok := res["structured"].(map[string]any); ok {
		if r, ok := st["reply"].(string); ok && strings.TrimSpace(r) != "" {
			return r
		}
	}
	return resultText(res)
}
