package msg

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// Point reads and conditional writes of the stream CHAT, for the chat service:
// cheap listing (first and last record of a conversation without reading the
// rest), an append that only succeeds when nothing was appended since the
// caller read the conversation (so two clicks on one proposal record one
// response), and a purge that keeps the records from a sequence on (so /clear
// can add the new start of a conversation before removing the old records, and
// the conversation never stops existing).

// ChatFirst returns the oldest record of a conversation whose sequence is at
// least from (0 and 1 = the oldest of all); ErrNotFound when there is none.
func (b *Bus) ChatFirst(ctx context.Context, conv string, from uint64) (*ChatEntry, error) {
	if !ValidConversationID(conv) {
		return nil, ErrNotFound
	}
	s, err := b.chatStream(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.GetMsg(ctx, max(from, 1), jetstream.WithGetMsgSubject(ChatRoot+"."+conv))
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("chat first: %w", err)
	}
	return &ChatEntry{Seq: m.Sequence, Time: m.Time, Data: m.Data}, nil
}

// ChatLast returns the newest record of a conversation; ErrNotFound when it has
// none.
func (b *Bus) ChatLast(ctx context.Context, conv string) (*ChatEntry, error) {
	if !ValidConversationID(conv) {
		return nil, ErrNotFound
	}
	s, err := b.chatStream(ctx)
	if err != nil {
		return nil, err
	}
	m, err := s.GetLastMsgForSubject(ctx, ChatRoot+"."+conv)
	if err != nil {
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("chat last: %w", err)
	}
	return &ChatEntry{Seq: m.Sequence, Time: m.Time, Data: m.Data}, nil
}

// ChatAppendIf appends a record only if the newest record of the conversation
// is still the one with sequence lastSeq (0 = only if the conversation has no
// record at all). It returns ErrConflict when something else was appended (or
// purged) since.
func (b *Bus) ChatAppendIf(ctx context.Context, conv string, data []byte, lastSeq uint64) (uint64, error) {
	if !ValidConversationID(conv) {
		return 0, fmt.Errorf("conversation id %q: want 16 lower-case hex characters", conv)
	}
	if _, err := b.chatStream(ctx); err != nil {
		return 0, err
	}
	ack, err := b.js.Publish(ctx, ChatRoot+"."+conv, data, jetstream.WithExpectLastSequencePerSubject(lastSeq))
	if err != nil {
		if isCASConflict(err) {
			return 0, ErrConflict
		}
		return 0, fmt.Errorf("chat append: %w", err)
	}
	return ack.Sequence, nil
}

// ChatPurgeBefore removes the records of a conversation whose sequence is below
// seq; the record at seq and later ones stay.
func (b *Bus) ChatPurgeBefore(ctx context.Context, conv string, seq uint64) error {
	if !ValidConversationID(conv) {
		return ErrNotFound
	}
	s, err := b.chatStream(ctx)
	if err != nil {
		return err
	}
	if err := s.Purge(ctx, jetstream.WithPurgeSubject(ChatRoot+"."+conv), jetstream.WithPurgeSequence(seq)); err != nil {
		return fmt.Errorf("chat purge: %w", err)
	}
	return nil
}
