package msg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errCodeMaxMsgsPerSubject is JetStream's "maximum messages per subject exceeded":
// an identical task is already pending.
const errCodeMaxMsgsPerSubject = 10077

// record is the JSON body of a task message.
type record struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Priority   int            `json:"priority"`
	Lane       string         `json:"lane"`
	CreatedAt  time.Time      `json:"created_at"`
	Provenance string         `json:"provenance,omitempty"`
	Payload    map[string]any `json:"payload"`
}

// Publish puts a task on the queue. With ApplyPolicy the type's queue policy may
// refuse it (Published.Skipped says why; that is not an error). The status record
// is written before the message, so a worker never overtakes it.
func (b *Bus) Publish(ctx context.Context, s Spec) (Published, error) {
	payload := make(map[string]any, len(s.Payload)+1)
	for k, v := range s.Payload {
		payload[k] = v
	}
	typ := s.Type
	if typ == "" {
		t, _ := payload["type"].(string)
		typ = t
	}
	if !ValidTaskType(typ) {
		return Published{}, fmt.Errorf("publish: task type %q: want dot-separated tokens of letters, digits, '_' or '-'", typ)
	}
	payload["type"] = typ
	prio := s.Priority
	if prio == 0 {
		prio = PriorityDefault
	}
	if prio < MinPriority || prio > MaxPriority {
		return Published{}, fmt.Errorf("publish %s: priority %d: want %d..%d", typ, prio, MinPriority, MaxPriority)
	}
	lane := s.Lane
	if lane == "" {
		lane = LaneIO
	}
	if !ValidLane(lane) {
		return Published{}, fmt.Errorf("publish %s: lane %q: want letters, digits, '_' or '-'", typ, lane)
	}
	switch s.Provenance {
	case "", ProvenanceRule, ProvenanceLLM, ProvenanceHybrid:
	default:
		return Published{}, fmt.Errorf("publish %s: provenance %q: want rule, llm or hybrid", typ, s.Provenance)
	}
	fp, err := Fingerprint(payload)
	if err != nil {
		return Published{}, fmt.Errorf("publish %s: %w", typ, err)
	}
	now := time.Now().UTC()
	random := randomHex(8)
	id := s.ID
	if id == "" {
		id = taskID(prio, now, random, fp[:8], typ)
	} else if err := CheckTaskID(id); err != nil {
		return Published{}, fmt.Errorf("publish %s: %w", typ, err)
	}

	policy := Policy{DeduplicatePending: true}
	if b.o.Policies != nil {
		policy = b.o.Policies(typ)
	}
	key := random
	if s.ApplyPolicy && policy.DeduplicatePending {
		key = fp
	}
	subject := fmt.Sprintf("%s.%s.%d.%s.%s", SubjectRoot, lane, prio, typ, key)

	var reservation *rateReservation
	if s.ApplyPolicy && policy.RateLimit != nil {
		reservation, err = b.reserveRate(ctx, typ, *policy.RateLimit, now)
		if err != nil {
			return Published{}, fmt.Errorf("publish %s: rate limit: %w", typ, err)
		}
		if reservation == nil {
			b.log.Info("Rate limit: skipping task", "type", typ, "max", policy.RateLimit.Max, "per", policy.RateLimit.PerText)
			b.o.Metrics.onSkipped(typ, SkipRateLimited)
			return Published{Skipped: SkipRateLimited}, nil
		}
	}

	rec := record{ID: id, Type: typ, Priority: prio, Lane: lane, CreatedAt: now, Provenance: s.Provenance, Payload: payload}
	body, err := json.Marshal(rec)
	if err != nil {
		return Published{}, fmt.Errorf("publish %s: encode: %w", typ, err)
	}
	st := Status{ID: id, Type: typ, Status: StatePending, Priority: prio, Lane: lane, Provenance: s.Provenance,
		Payload: json.RawMessage(mustJSON(payload)), CreatedAt: now, UpdatedAt: now}
	// Create, not Put: a second publisher of the same fixed id must not reset a
	// record the first one's worker already moved on.
	ownRecord := true
	if _, err := b.status.Create(ctx, id, mustJSON(st)); err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			b.releaseRate(ctx, reservation)
			return Published{}, fmt.Errorf("publish %s: write status: %w", typ, err)
		}
		ownRecord = false
	}
	ack, err := b.js.Publish(ctx, subject, body, jetstream.WithMsgID(id))
	for try := 0; try < 3 && isSubjectFull(err) && b.clearFinishedTwin(ctx, subject); try++ {
		ack, err = b.js.Publish(ctx, subject, body, jetstream.WithMsgID(id))
	}
	if err != nil {
		if isSubjectFull(err) {
			if ownRecord {
				_ = b.status.Delete(ctx, id)
			}
			b.releaseRate(ctx, reservation)
			b.log.Info("Dedup: skipping task (identical task already pending)", "type", typ, "fingerprint", fp)
			b.o.Metrics.onSkipped(typ, SkipDuplicate)
			return Published{Skipped: SkipDuplicate}, nil
		}
		if ownRecord {
			_ = b.status.Delete(ctx, id)
		}
		b.releaseRate(ctx, reservation)
		return Published{}, fmt.Errorf("publish %s: %w", typ, err)
	}
	if ack.Duplicate {
		// Same task id published within the duplicate window (e.g. two schedulers).
		b.releaseRate(ctx, reservation)
		b.o.Metrics.onSkipped(typ, SkipDuplicate)
		return Published{Skipped: SkipDuplicate}, nil
	}
	b.o.Metrics.onPublished(typ)
	// Wake idle workers of the lane: this process's at once, others' by the
	// doorbell. Best effort: a lost ring only delays the task until the
	// workers' periodic look (Options.IdleWait).
	b.wakeLocal(lane, prio)
	_ = b.nc.Publish(fmt.Sprintf("%s.%s.%d", DoorbellRoot, lane, prio), []byte(b.instance))
	return Published{ID: id, Subject: subject}, nil
}

// taskID is the id of a task: priority, time and randomness first, so ids sort
// in the order tasks were queued, and the type last, so `nats kv ls tasks` reads.
func taskID(prio int, at time.Time, random, tag, typ string) string {
	return fmt.Sprintf("%d_%s_%s--%s--%s", prio, at.Format("20060102T150405Z"), random, tag, typ)
}

// NewTaskID returns a fresh id for Spec.ID, for a caller that must name a task
// before it is published: a chat message records the task that will answer it,
// so a page reloaded meanwhile still waits for the reply. It has the shape of
// the ids Publish makes, with a random tag in place of the payload fingerprint.
func NewTaskID(typ string, priority int) string {
	return taskID(priority, time.Now().UTC(), randomHex(8), randomHex(4), typ)
}

// isSubjectFull reports JetStream's refusal of a second message on a subject:
// an identical task is pending.
func isSubjectFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeMaxMsgsPerSubject
}

// clearFinishedTwin removes the message holding subject when its task has already
// recorded its outcome (done or failed) and only its ack is still on the way, or
// was lost with a crashed worker. Such a twin is not pending work, so it must not
// absorb a new task: a config change that re-queues an item just as the old
// classify finishes would otherwise be dropped. Removing the message is what the
// ack does; the worker's late ack is then a no-op. It reports whether the subject
// may now be free (the twin is gone or was just removed).
func (b *Bus) clearFinishedTwin(ctx context.Context, subject string) bool {
	m, err := b.stream.GetLastMsgForSubject(ctx, subject)
	if err != nil {
		return errors.Is(err, jetstream.ErrMsgNotFound) // acked meanwhile
	}
	var twin record
	if err := json.Unmarshal(m.Data, &twin); err != nil {
		return false
	}
	st, err := b.Status(ctx, twin.ID)
	if err != nil || (st.Status != StateDone && st.Status != StateFailed) {
		return false
	}
	if err := b.stream.DeleteMsg(ctx, m.Sequence); err != nil {
		// Most likely its ack removed it in the meantime.
		if _, gerr := b.stream.GetMsg(ctx, m.Sequence); errors.Is(gerr, jetstream.ErrMsgNotFound) {
			return true
		}
		b.log.Warn("could not remove a finished task's message", "task", twin.ID, "err", err)
		return false
	}
	return true
}

// Status returns the status record of a task, with Stale set when it says
// active but its worker stopped recording heartbeats.
func (b *Bus) Status(ctx context.Context, id string) (*Status, error) {
	if !ValidTaskID(id) {
		return nil, ErrNotFound
	}
	e, err := b.status.Get(ctx, id)
	if err != nil {
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
			return nil, ErrNotFound
		}
		return nil, fmt.Errorf("task status %s: %w", id, err)
	}
	var st Status
	if err := json.Unmarshal(e.Value(), &st); err != nil {
		return nil, fmt.Errorf("task status %s: %w", id, err)
	}
	b.markStale(&st, time.Now())
	return &st, nil
}

// rateReservation is one accepted slot in a type's rate-limit window.
type rateReservation struct {
	key string
	at  int64
}

// reserveRate takes a slot in the type's sliding window, or returns nil when the
// window is full. The window lives in the policy bucket and is updated with
// compare-and-set, so the limit holds across processes and restarts.
func (b *Bus) reserveRate(ctx context.Context, typ string, rl RateLimit, now time.Time) (*rateReservation, error) {
	key := "rate." + typ
	cutoff := now.Add(-rl.Per).UnixNano()
	for attempt := 0; attempt < 50; attempt++ {
		var stamps []int64
		var rev uint64
		e, err := b.policy.Get(ctx, key)
		switch {
		case err == nil:
			rev = e.Revision()
			if err := json.Unmarshal(e.Value(), &stamps); err != nil {
				stamps = nil // a corrupt window is rebuilt rather than blocking the type forever
			}
		case errors.Is(err, jetstream.ErrKeyNotFound):
		default:
			return nil, err
		}
		kept := stamps[:0]
		for _, s := range stamps {
			if s >= cutoff {
				kept = append(kept, s)
			}
		}
		if len(kept) >= rl.Max {
			return nil, nil
		}
		at := now.UnixNano()
		kept = append(kept, at)
		data := mustJSON(kept)
		if rev == 0 {
			_, err = b.policy.Create(ctx, key, data)
		} else {
			_, err = b.policy.Update(ctx, key, data, rev)
		}
		if err == nil {
			return &rateReservation{key: key, at: at}, nil
		}
		if !isCASConflict(err) {
			return nil, err
		}
		time.Sleep(time.Duration(attempt+1) * time.Millisecond)
	}
	return nil, errors.New("rate-limit window too contended")
}

// releaseRate gives back a reserved slot when the task was not published after all.
func (b *Bus) releaseRate(ctx context.Context, r *rateReservation) {
	if r == nil {
		return
	}
	for attempt := 0; attempt < 50; attempt++ {
		e, err := b.policy.Get(ctx, r.key)
		if err != nil {
			return
		}
		var stamps []int64
		if json.Unmarshal(e.Value(), &stamps) != nil {
			return
		}
		kept := stamps[:0]
		removed := false
		for _, s := range stamps {
			if !removed && s == r.at {
				removed = true
				continue
			}
			kept = append(kept, s)
		}
		if !removed {
			return
		}
		if _, err := b.policy.Update(ctx, r.key, mustJSON(kept), e.Revision()); err == nil || !isCASConflict(err) {
			return
		}
	}
}

func isCASConflict(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyExists)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		// crypto/rand never fails on supported platforms; fall back to time.
		return strconv.FormatInt(time.Now().UnixNano(), 16)
	}
	return hex.EncodeToString(b)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		// Only called on values built from JSON-safe types.
		panic(fmt.Sprintf("msg: encode %T: %v", v, err))
	}
	return b
}
