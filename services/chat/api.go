package chat

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
)

// ErrNotFound: the conversation or task does not exist.
var ErrNotFound = errors.New("not found")

// RequestError is a problem with a request that the user can fix: the gateway
// answers Status with {"detail": Detail}.
type RequestError struct {
	Status int
	Detail string
}

func (e *RequestError) Error() string { return e.Detail }

// Message is a chat message as the API shows it: exactly these five keys.
type Message struct {
	Role      string         `json:"role"`      // user, assistant, system
	Content   string         `json:"content"`   // text
	Type      string         `json:"type"`      // chat, command, confirmation, response, system
	Timestamp string         `json:"timestamp"` // ISO-8601 UTC with +00:00
	Metadata  map[string]any `json:"metadata"`  // null or per spec/chat_ui_cli.md §2.1
}

// Conversation is one entry of the conversation list.
type Conversation struct {
	ID           string `json:"id"`
	MessageCount int    `json:"message_count"`
	CreatedAt    string `json:"created_at"`
	LastActivity string `json:"last_activity"`
}

// SendResult is the answer to a posted message: a command answered at once
// (Type "command", Message set) or a chat message queued for the LLM (Type
// "chat", TaskID set).
type SendResult struct {
	Type    string   `json:"type"`
	Message *Message `json:"message,omitempty"`
	TaskID  string   `json:"task_id,omitempty"`
}

// RespondResult is the answer to a click on a proposal: the message recorded,
// and the task of the approved action, if one was queued.
type RespondResult struct {
	Message Message `json:"message"`
	TaskID  string  `json:"task_id,omitempty"`
}

// PollResult is the state of a chat task: pending (still queued or running),
// done or failed, with the messages it produced.
type PollResult struct {
	Status   string    `json:"status"`
	Messages []Message `json:"messages,omitempty"`
}

// Options configure the service.
type Options struct {
	Bus *msg.Bus
	// Config returns the config in force (chat.llm, chat.system_prompt, llms).
	Config func() *config.Config
	// Registry holds the manifests; services with a Chat block are proposable.
	Registry *manifest.Registry
	// MaxContent bounds a message's size in bytes (0 = 32 KiB).
	MaxContent int
	Logger     *slog.Logger
	Now        func() time.Time
}

// Service is the chat service.
type Service struct {
	o Options

	mu         sync.Mutex
	derived    *derived             // what is computed from the config in force
	wrapped    map[*msg.Router]bool // routers Register already wrapped
	handled    map[string]bool      // chat actions that had a handler at Register
	schemaOnce sync.Once            // builds schemas
	schemas    *schemas
}

// New returns the chat service.
func New(o Options) (*Service, error) {
	if o.Bus == nil || o.Config == nil {
		return nil, errors.New("chat: bus and config are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxContent <= 0 {
		o.MaxContent = 32 << 10
	}
	return &Service{o: o}, nil
}

// The methods below are the contract; their bodies live in the other files of
// this package.
var (
	_ func(*Service, context.Context) (string, error)                                = (*Service).Create
	_ func(*Service, context.Context) ([]Conversation, error)                        = (*Service).List
	_ func(*Service, context.Context, string) ([]Message, error)                     = (*Service).History
	_ func(*Service, context.Context, string, string) (SendResult, error)            = (*Service).Send
	_ func(*Service, context.Context, string, string, string) (RespondResult, error) = (*Service).Respond
	_ func(*Service, context.Context, string) (PollResult, error)                    = (*Service).Poll
	_ func(*Service, *msg.Router)                                                    = (*Service).Register
	_ func(*Service) int                                                             = (*Service).MaxContent
)

// MaxContent is the largest message accepted, in bytes.
func (s *Service) MaxContent() int { return s.o.MaxContent }

// Awaited lists, in order, the tasks a conversation's history still waits for:
// a message names the task answering it (metadata reply_task_id: a user's
// message, or "Processing..." after an approval) while no message is that
// task's output (metadata task_id) yet. A client that shows a history polls
// these, so a reply still pending when it (re)loaded appears.
func Awaited(msgs []Message) []string {
	produced := map[string]bool{}
	for _, m := range msgs {
		if id, _ := m.Metadata[keyTaskID].(string); id != "" {
			produced[id] = true
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range msgs {
		if id, _ := m.Metadata[keyReplyTask].(string); id != "" && !produced[id] && !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}
