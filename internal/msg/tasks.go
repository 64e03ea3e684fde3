package msg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Tasks returns the recorded tasks that keep(s) accepts (nil = all), oldest first,
// with Stale set as by Status (keep sees it). Records expire after the
// retention period.
func (b *Bus) Tasks(ctx context.Context, keep func(*Status) bool) ([]Status, error) {
	w, err := b.status.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", err)
	}
	defer func() { _ = w.Stop() }()
	now := time.Now()
	var out []Status
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case e, ok := <-w.Updates():
			if !ok {
				return nil, errors.New("list tasks: watcher closed")
			}
			if e == nil { // initial values delivered
				sort.Slice(out, func(i, j int) bool {
					if out[i].CreatedAt.Equal(out[j].CreatedAt) {
						return out[i].ID < out[j].ID
					}
					return out[i].CreatedAt.Before(out[j].CreatedAt)
				})
				return out, nil
			}
			var st Status
			if err := json.Unmarshal(e.Value(), &st); err != nil {
				continue
			}
			b.markStale(&st, now)
			if keep == nil || keep(&st) {
				out = append(out, st)
			}
		}
	}
}

// Retry publishes a failed task again as a new task with the same type, payload,
// priority, lane and provenance (policies do not apply: a person asked for it). The
// failed record stays, pointing at the new task.
func (b *Bus) Retry(ctx context.Context, id string) (Published, error) {
	e, err := b.status.Get(ctx, id)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return Published{}, ErrNotFound
		}
		return Published{}, fmt.Errorf("retry %s: %w", id, err)
	}
	var st Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return Published{}, fmt.Errorf("retry %s: %w", id, err)
	}
	if st.Status != StateFailed {
		return Published{}, fmt.Errorf("retry %s: only failed tasks can be retried (it is %s)", id, st.Status)
	}
	if st.RetriedAs != "" {
		return Published{}, fmt.Errorf("retry %s: already retried as %s", id, st.RetriedAs)
	}
	var payload map[string]any
	if err := json.Unmarshal(st.Payload, &payload); err != nil || st.Type == "" {
		return Published{}, fmt.Errorf("retry %s: the record has no task payload to publish (a malformed message)", id)
	}
	p, err := b.Publish(ctx, Spec{Type: st.Type, Payload: payload, Priority: st.Priority, Lane: st.Lane, Provenance: st.Provenance})
	if err != nil {
		return Published{}, err
	}
	st.RetriedAs = p.ID
	// Compare-and-set: two concurrent retries of the same task publish at most one
	// record link; the loser's task still runs, but is visible as its own record.
	if _, err := b.status.Update(ctx, id, mustJSON(st), e.Revision()); err != nil {
		b.log.Warn("could not link retried task", "task", id, "new", p.ID, "err", err)
	}
	return p, nil
}

// markStale sets st.Stale when st says active but its worker has recorded no
// heartbeat for StaleAfter ack waits of the task's priority (as this process
// configures them). A record without heartbeats (written by an earlier
// version) is judged by its start.
func (b *Bus) markStale(st *Status, now time.Time) {
	st.Stale = false
	if st.Status != StateActive {
		return
	}
	last := st.UpdatedAt
	switch {
	case st.HeartbeatAt != nil:
		last = *st.HeartbeatAt
	case st.StartedAt != nil:
		last = *st.StartedAt
	}
	st.Stale = now.Sub(last) > StaleAfter*b.ackWait(st.Priority)
}
