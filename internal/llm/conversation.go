package llm

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// Conversation is a multi-turn exchange with one profile's model: the whole
// history (system, user and assistant messages) is sent on every turn. It is
// used for classification (one structured turn) and chat (many turns). A
// Conversation is not safe for concurrent use; the Client it holds is.
type Conversation struct {
	client *Client
	msgs   []Message
}

// NewConversation starts a conversation with client. A non-empty system
// prompt becomes the first message; history (for example a stored chat)
// follows it.
func NewConversation(client *Client, system string, history ...Message) *Conversation {
	cv := &Conversation{client: client}
	if system != "" {
		cv.msgs = append(cv.msgs, Message{Role: RoleSystem, Content: system})
	}
	cv.msgs = append(cv.msgs, history...)
	return cv
}

// Client is the backend this conversation talks to.
func (cv *Conversation) Client() *Client { return cv.client }

// Messages returns a copy of the history, oldest first.
func (cv *Conversation) Messages() []Message { return slices.Clone(cv.msgs) }

// Len is the number of messages.
func (cv *Conversation) Len() int { return len(cv.msgs) }

// Append adds a message at the end.
func (cv *Conversation) Append(role Role, content string) {
	cv.msgs = append(cv.msgs, Message{Role: role, Content: content})
}

// Pop removes and returns the last message; ok is false when there is none.
func (cv *Conversation) Pop() (m Message, ok bool) {
	if len(cv.msgs) == 0 {
		return Message{}, false
	}
	m = cv.msgs[len(cv.msgs)-1]
	cv.msgs = cv.msgs[:len(cv.msgs)-1]
	return m, true
}

// Last returns the most recent message with that role ("" = any role); ok is
// false when there is none.
func (cv *Conversation) Last(role Role) (m Message, ok bool) {
	for i := len(cv.msgs) - 1; i >= 0; i-- {
		if role == "" || cv.msgs[i].Role == role {
			return cv.msgs[i], true
		}
	}
	return Message{}, false
}

// Send adds a user message, asks for a free-text reply, adds the reply and
// returns it. On error the user message is taken back out, so the history is
// as before and the turn can be retried as is (the reference left it in, and a
// retry then sent it twice). Every error is an [*Error].
func (cv *Conversation) Send(ctx context.Context, text string) (string, error) {
	base := len(cv.msgs)
	cv.Append(RoleUser, text)
	comp, err := cv.client.complete(ctx, cv.msgs, nil, 0)
	if err != nil {
		cv.msgs = cv.msgs[:base]
		return "", err
	}
	reply := comp.Content
	if reply == "" && comp.Refusal != "" {
		reply = comp.Refusal
	}
	cv.Append(RoleAssistant, reply)
	return reply, nil
}

// SendStructured adds a user message and asks for a reply matching schema,
// up to [MaxAttempts] times. When a reply is not JSON or does not match, the
// next attempt carries that reply and a user message saying what was wrong
// (the reference re-sent the same history with no feedback, so a model tended
// to repeat its mistake). Only the latest failed reply and correction are
// sent, not every earlier one.
//
// On success the history holds the user message and the valid reply (the
// failed attempts and corrections are dropped) and the parsed object is
// returned. When every attempt fails the history is as before the call and
// the error is a Transient [*Error] wrapping [ErrInvalidOutput] whose message
// contains "after 3 attempts" and the last problems; its LastReply holds the
// last reply. Backend errors abort at once, also restoring the history.
func (cv *Conversation) SendStructured(ctx context.Context, text string, schema *Schema) (map[string]any, error) {
	if schema == nil {
		return nil, &Error{Kind: Permanent, Profile: cv.client.profile, Err: ErrInvalidSchema, msg: "SendStructured needs a schema"}
	}
	base := len(cv.msgs)
	cv.Append(RoleUser, text)
	var problems []string
	var last string
	for attempt := 1; attempt <= MaxAttempts; attempt++ {
		comp, err := cv.client.complete(ctx, cv.msgs, schema, attempt)
		if err != nil {
			cv.msgs = cv.msgs[:base]
			return nil, err
		}
		last = comp.Content
		obj, probs := schema.check(comp.Content)
		if len(probs) == 0 {
			cv.msgs = append(cv.msgs[:base+1], Message{Role: RoleAssistant, Content: comp.Content})
			return obj, nil
		}
		problems = explain(probs, comp)
		cv.client.log.Warn("llm reply does not match the schema",
			"model", cv.client.model, "schema", schema.name,
			"attempt", fmt.Sprintf("%d/%d", attempt, MaxAttempts), "problems", problems)
		if attempt < MaxAttempts {
			// Only the latest failed reply and its correction are kept, so
			// the context does not grow with every attempt.
			cv.msgs = append(cv.msgs[:base+1],
				Message{Role: RoleAssistant, Content: clip(comp.Content, maxEchoedReply)},
				Message{Role: RoleUser, Content: correction(problems, schema)})
		}
	}
	cv.msgs = cv.msgs[:base]
	return nil, &Error{
		Kind:      Transient,
		Profile:   cv.client.profile,
		Attempts:  MaxAttempts,
		Problems:  problems,
		LastReply: last,
		Err:       ErrInvalidOutput,
		msg: fmt.Sprintf("failed to get valid structured output after %d attempts: %s",
			MaxAttempts, strings.Join(problems, "; ")),
	}
}

// explain adds what the backend said about an invalid reply: a refusal, or
// that the reply was cut off.
func explain(problems []string, comp *Completion) []string {
	out := slices.Clone(problems)
	if comp.Refusal != "" {
		out = append([]string{"the model refused: " + oneLine(comp.Refusal, maxQuoted)}, out...)
	}
	if comp.FinishReason == "length" {
		out = append(out, "the reply was cut off at the token limit")
	}
	return out
}

// maxEchoedReply bounds how much of a failed reply is sent back to the model
// with the correction: enough to see the mistake, not a runaway ramble.
const maxEchoedReply = 4000

// clip cuts s to max runes.
func clip(s string, max int) string {
	if r := []rune(s); len(r) > max {
		return string(r[:max]) + "\n… (cut)"
	}
	return s
}

// correction is the user message that tells the model what was wrong with its
// reply.
func correction(problems []string, schema *Schema) string {
	var b strings.Builder
	b.WriteString("Your previous reply could not be used:\n")
	for _, p := range problems {
		b.WriteString("- ")
		b.WriteString(p)
		b.WriteByte('\n')
	}
	b.WriteString("Reply again with only a JSON object that matches this JSON Schema, with no other text:\n")
	b.Write(schema.doc)
	return b.String()
}
