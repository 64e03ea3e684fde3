package gateway

import (
	"context"
	"sync"
	"testing"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/services/chat"
)

// knownConversation is the one conversation stubChat has.
const knownConversation = "0123456789abcdef"

// stubChat is a ChatService that knows one conversation, fails the test when
// it receives an id outside the gateway's grammar, and counts its calls.
type stubChat struct {
	tb    testing.TB
	mu    sync.Mutex
	calls int
}

var _ ChatService = (*stubChat)(nil)

func (s *stubChat) called() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

func (s *stubChat) enter(conversationID string) error {
	s.mu.Lock()
	s.calls++
	s.mu.Unlock()
	if conversationID != "" && !msg.ValidConversationID(conversationID) {
		s.tb.Errorf("chat service got conversation id %s", msg.Quote(conversationID))
	}
	if conversationID != "" && conversationID != knownConversation {
		return chat.ErrNotFound
	}
	return nil
}

func (s *stubChat) Create(context.Context) (string, error) {
	return knownConversation, s.enter("")
}

func (s *stubChat) List(context.Context) ([]chat.Conversation, error) { return nil, s.enter("") }

func (s *stubChat) History(_ context.Context, id string) ([]chat.Message, error) {
	return nil, s.enter(id)
}

func (s *stubChat) Send(_ context.Context, id, _ string) (chat.SendResult, error) {
	return chat.SendResult{Type: "chat", TaskID: "1_x"}, s.enter(id)
}

func (s *stubChat) Respond(_ context.Context, id, proposalID, option string) (chat.RespondResult, error) {
	if !validProposalID(proposalID) || !msg.ValidLane(proposalID) {
		s.tb.Errorf("chat service got proposal id %s", msg.Quote(proposalID))
	}
	if !validOptionID(option) || !msg.ValidLane(option) {
		s.tb.Errorf("chat service got option %s", msg.Quote(option))
	}
	return chat.RespondResult{}, s.enter(id)
}

func (s *stubChat) Poll(_ context.Context, taskID string) (chat.PollResult, error) {
	if !msg.ValidTaskID(taskID) {
		s.tb.Errorf("chat service got task id %s", msg.Quote(taskID))
	}
	return chat.PollResult{Status: "pending"}, s.enter("")
}

func (s *stubChat) MaxContent() int { return 1000 }
