package msg

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The chat stream: one subject per conversation, chat.<conversation id>, one
// message per chat record.
const (
	StreamChat = "CHAT"
	ChatRoot   = "chat"
)

var conversationRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// ValidConversationID reports whether id is a conversation id (16 lower-case hex
// characters), the only form allowed into a subject.
func ValidConversationID(id string) bool { return conversationRE.MatchString(id) }

// ChatEntry is one stored chat record.
type ChatEntry struct {
	Seq  uint64
	Time time.Time
	Data []byte
}

func (b *Bus) chatStream(ctx context.Context) (jetstream.Stream, error) {
	b.mu.Lock()
	s := b.chat
	b.mu.Unlock()
	if s != nil {
		return s, nil
	}
	s, err := b.ensureStream(ctx, jetstream.StreamConfig{
		Name:        StreamChat,
		Description: "Steward chat: chat.<conversation id>, one message per chat record",
		Subjects:    []string{ChatRoot + ".*"},
		Storage:     jetstream.FileStorage,
		AllowDirect: true,
	})
	if err != nil {
		return nil, fmt.Errorf("provision stream %s: %w", StreamChat, err)
	}
	b.mu.Lock()
	b.chat = s
	b.mu.Unlock()
	return s, nil
}

// ChatAppend stores one record (JSON) at the end of a conversation.
func (b *Bus) ChatAppend(ctx context.Context, conv string, data []byte) (uint64, error) {
	if !ValidConversationID(conv) {
		return 0, fmt.Errorf("conversation id %q: want 16 lower-case hex characters", conv)
	}
	if _, err := b.chatStream(ctx); err != nil {
		return 0, err
	}
	ack, err := b.js.Publish(ctx, ChatRoot+"."+conv, data)
	if err != nil {
		return 0, fmt.Errorf("chat append: %w", err)
	}
	return ack.Sequence, nil
}

// ChatRecords returns every record of a conversation, oldest first (nil when it
// has none).
func (b *Bus) ChatRecords(ctx context.Context, conv string) ([]ChatEntry, error) {
	if !ValidConversationID(conv) {
		return nil, ErrNotFound
	}
	s, err := b.chatStream(ctx)
	if err != nil {
		return nil, err
	}
	subject := ChatRoot + "." + conv
	last, err := s.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, nil
		}
		return nil, fmt.Errorf("chat records: %w", err)
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject}})
	if err != nil {
		return nil, fmt.Errorf("chat records: %w", err)
	}
	var out []ChatEntry
	for {
		batch, err := cons.Fetch(256, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, fmt.Errorf("chat records: %w", err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			meta, err := m.Metadata()
			if err != nil {
				continue
			}
			out = append(out, ChatEntry{Seq: meta.Sequence.Stream, Time: meta.Timestamp, Data: m.Data()})
			if meta.Sequence.Stream >= last.Sequence {
				return out, nil
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("chat records: %w", err)
		}
		if n == 0 {
			return out, nil // purged meanwhile
		}
	}
}

// ChatPurge removes every record of a conversation.
func (b *Bus) ChatPurge(ctx context.Context, conv string) error {
	if !ValidConversationID(conv) {
		return ErrNotFound
	}
	s, err := b.chatStream(ctx)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(ChatRoot+"."+conv)); err != nil {
		return fmt.Errorf("chat purge: %w", err)
	}
	return nil
}

// ChatConversations returns the number of records of every conversation that
// has any.
func (b *Bus) ChatConversations(ctx context.Context) (map[string]uint64, error) {
	s, err := b.chatStream(ctx)
	if err != nil {
		return nil, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(ChatRoot+".*"))
	if err != nil {
		return nil, fmt.Errorf("chat conversations: %w", err)
	}
	out := make(map[string]uint64, len(info.State.Subjects))
	for subj, n := range info.State.Subjects {
		out[subj[len(ChatRoot)+1:]] = n
	}
	return out, nil
}
