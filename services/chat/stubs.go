package chat

import (
	"context"
	"errors"

	"github.com/stewardhq/steward/internal/msg"
)

// Temporary bodies so clients compile while the service is written; the chat
// service engineer replaces this file.

var errNotYet = errors.New("chat: not implemented yet")

// Create starts an empty conversation and returns its id.
func (s *Service) Create(ctx context.Context) (string, error) { return "", errNotYet }

// List returns the conversations that have messages, most recent activity first.
func (s *Service) List(ctx context.Context) ([]Conversation, error) { return nil, errNotYet }

// History returns every message of a conversation in order.
func (s *Service) History(ctx context.Context, id string) ([]Message, error) { return nil, errNotYet }

// Send posts a user message (or a /command).
func (s *Service) Send(ctx context.Context, id, content string) (SendResult, error) {
	return SendResult{}, errNotYet
}

// Respond records a click on a proposal option and queues the approved action.
func (s *Service) Respond(ctx context.Context, id, proposalID, option string) (RespondResult, error) {
	return RespondResult{}, errNotYet
}

// Poll returns the state of a chat task and the messages it produced.
func (s *Service) Poll(ctx context.Context, taskID string) (PollResult, error) {
	return PollResult{}, errNotYet
}

// Register adds the chat.message worker and the chat-approved service handlers.
func (s *Service) Register(r *msg.Router) {}
