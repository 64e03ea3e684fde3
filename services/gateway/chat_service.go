package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/stewardhq/steward/services/chat"
)

// ChatService is what the /api/chat endpoints need from the chat service
// (*chat.Service implements it). Every method must be safe for concurrent use.
// Unknown conversations and tasks are chat.ErrNotFound; problems the user can
// fix are *chat.RequestError, answered with its status and detail.
type ChatService interface {
	// Create starts an empty conversation and returns its id.
	Create(ctx context.Context) (string, error)
	// List returns the conversations that have messages, most recent first.
	List(ctx context.Context) ([]chat.Conversation, error)
	// History returns every message of a conversation in order.
	History(ctx context.Context, conversationID string) ([]chat.Message, error)
	// Send posts a user message or a /command.
	Send(ctx context.Context, conversationID, content string) (chat.SendResult, error)
	// Respond records a click on a proposal option.
	Respond(ctx context.Context, conversationID, proposalID, option string) (chat.RespondResult, error)
	// Poll returns the state of a chat task and the messages it produced.
	Poll(ctx context.Context, taskID string) (chat.PollResult, error)
	// MaxContent is the largest message accepted, in bytes.
	MaxContent() int
}

// Details of the chat endpoints' error replies.
const (
	detailChatUnavailable      = "Chat is not available"
	detailConversationNotFound = "Conversation not found"
	detailTaskNotFound         = "Task not found"
)

// requireChat answers 503 on every chat endpoint when no chat service is
// configured.
func (h *handler) requireChat(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.chat == nil {
			h.writeError(w, http.StatusServiceUnavailable, detailChatUnavailable)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeChatError answers an error of the chat service: notFound (the detail of
// a chat.ErrNotFound), the status and detail of a *chat.RequestError, or a
// logged 503 for anything else (the bus is down, the request was cancelled).
func (h *handler) writeChatError(w http.ResponseWriter, r *http.Request, err error, notFound string) {
	var re *chat.RequestError
	switch {
	case errors.Is(err, chat.ErrNotFound):
		h.writeError(w, http.StatusNotFound, notFound)
	case errors.As(err, &re) && re.Status >= 400 && re.Status < 600:
		h.writeError(w, re.Status, re.Detail)
	default:
		if r.Context().Err() == nil {
			h.log.Error("Chat request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		}
		h.writeError(w, http.StatusServiceUnavailable, detailChatUnavailable)
	}
}
