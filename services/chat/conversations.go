package chat

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sort"

	"github.com/stewardhq/steward/internal/msg"
)

// Create starts an empty conversation and returns its id (16 lower-case hex
// characters). It stores the hidden marker only if no record has that id yet.
func (s *Service) Create(ctx context.Context) (string, error) {
	marker, err := json.Marshal(s.newRecord(roleSystem, typeCreated, "", nil))
	if err != nil {
		return "", err
	}
	for attempt := 0; attempt < 5; attempt++ {
		id := randomHex(8)
		if _, err := s.o.Bus.ChatAppendIf(ctx, id, marker, 0); err != nil {
			if errors.Is(err, msg.ErrConflict) {
				continue // taken (never in practice: 64 random bits)
			}
			return "", err
		}
		return id, nil
	}
	return "", errors.New("chat: could not find a free conversation id")
}

// List returns the conversations that have messages, most recent activity
// first (ties by id).
func (s *Service) List(ctx context.Context) ([]Conversation, error) {
	counts, err := s.o.Bus.ChatConversations(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Conversation, 0, len(counts))
	for id, n := range counts {
		c, ok, err := s.summary(ctx, id, n)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].LastActivity != out[j].LastActivity {
			return out[i].LastActivity > out[j].LastActivity
		}
		return out[i].ID < out[j].ID
	})
	return out, nil
}

// summary is the list entry of one conversation with n records (marker
// included); ok is false when it has no message to show.
func (s *Service) summary(ctx context.Context, id string, n uint64) (Conversation, bool, error) {
	if n == 0 || !msg.ValidConversationID(id) {
		return Conversation{}, false, nil
	}
	first, err := s.o.Bus.ChatFirst(ctx, id, 0)
	if errors.Is(err, msg.ErrNotFound) {
		return Conversation{}, false, nil // purged meanwhile
	}
	if err != nil {
		return Conversation{}, false, err
	}
	shown := first
	count := int(n)
	if decode(first.Data).Type == typeCreated {
		count--
		if count <= 0 {
			return Conversation{}, false, nil
		}
		shown, err = s.o.Bus.ChatFirst(ctx, id, first.Seq+1)
		if errors.Is(err, msg.ErrNotFound) {
			return Conversation{}, false, nil
		}
		if err != nil {
			return Conversation{}, false, err
		}
	}
	last, err := s.o.Bus.ChatLast(ctx, id)
	if err != nil {
		if errors.Is(err, msg.ErrNotFound) {
			return Conversation{}, false, nil
		}
		return Conversation{}, false, err
	}
	return Conversation{ID: id, MessageCount: count, CreatedAt: decode(shown.Data).TS, LastActivity: decode(last.Data).TS}, true, nil
}

// decode reads a record, leniently (a zero record when it is not JSON).
func decode(data []byte) record {
	var r record
	_ = json.Unmarshal(data, &r)
	return r
}

// History returns every message of a conversation in order (the hidden marker
// left out), with proposal cards showing their current status.
func (s *Service) History(ctx context.Context, id string) ([]Message, error) {
	recs, _, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	return messages(recs, recs), nil
}

// clear starts the conversation afresh: a new marker, then everything before it
// is purged.
func (s *Service) clear(ctx context.Context, conv string) error {
	data, err := json.Marshal(s.newRecord(roleSystem, typeCreated, "", nil))
	if err != nil {
		return err
	}
	seq, err := s.o.Bus.ChatAppend(ctx, conv, data)
	if err != nil {
		return err
	}
	if err := s.o.Bus.ChatPurgeBefore(ctx, conv, seq); err != nil {
		return fmt.Errorf("clear conversation: %w", err)
	}
	return nil
}

// randomHex returns n random bytes as lower-case hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}
