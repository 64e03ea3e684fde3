package msg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Event streams. Their subjects are public: audit.<source>, notes.<kind>.
const (
	StreamAudit = "AUDIT"
	StreamNotes = "NOTES"
	// AuditRoot and NotesRoot prefix the streams' subjects.
	AuditRoot = "audit"
	NotesRoot = "notes"
)

// Emit publishes one JSON event on subject (which must belong to AUDIT or NOTES).
// id, when set, is the Nats-Msg-Id: the same event emitted twice within two
// minutes (a redelivered task repeating its last step) is stored once.
func (b *Bus) Emit(ctx context.Context, subject string, v any, id string) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("emit %s: %w", subject, err)
	}
	var opts []jetstream.PublishOpt
	if id != "" {
		opts = append(opts, jetstream.WithMsgID(id))
	}
	if _, err := b.js.Publish(ctx, subject, data, opts...); err != nil {
		return fmt.Errorf("emit %s: %w", subject, err)
	}
	return nil
}

// EventHandler handles one event. A nil error acknowledges it; an error retries
// it after a delay (events are never dropped); an error wrapped with Permanent
// records it in the log and drops it.
type EventHandler func(ctx context.Context, subject string, data []byte) error

// ConsumeEvents runs a durable consumer of stream (AUDIT or NOTES) named durable,
// handing events to fn one at a time in stream order, until ctx ends.
func (b *Bus) ConsumeEvents(ctx context.Context, stream, durable string, fn EventHandler) error {
	cons, err := b.js.CreateOrUpdateConsumer(ctx, stream, jetstream.ConsumerConfig{
		Durable:     durable,
		Description: "Steward " + durable,
		AckPolicy:   jetstream.AckExplicitPolicy,
		// Events are handled in milliseconds; a short ack wait keeps a consumer
		// whose previous process died holding an event from stalling for long.
		AckWait:       5 * time.Second,
		MaxAckPending: 1, // strictly in order
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("consumer %s on %s: %w", durable, stream, err)
	}
	for ctx.Err() == nil {
		// Wait for the next event at most IdleWait, and not past shutdown.
		fctx, cancel := context.WithTimeout(ctx, b.o.IdleWait)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			b.log.Warn("event fetch", "stream", stream, "err", err)
			sleepCtx(ctx, time.Second)
			continue
		}
		for m := range batch.Messages() {
			err := fn(ctx, m.Subject(), m.Data())
			switch {
			case err == nil:
				_ = m.Ack()
			case IsPermanent(err):
				b.log.Error("event dropped", "stream", stream, "subject", m.Subject(), "err", err)
				_ = m.TermWithReason(err.Error())
			default:
				b.log.Warn("event failed, will retry", "stream", stream, "subject", m.Subject(), "err", err)
				_ = m.NakWithDelay(2 * time.Second)
			}
		}
		cancel()
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && ctx.Err() == nil &&
			!errors.Is(err, context.DeadlineExceeded) {
			b.log.Debug("event batch", "stream", stream, "err", err)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
