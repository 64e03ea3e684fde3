package msg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Serve runs lane's worker pool with the given number of slots until ctx is
// cancelled. Each free slot fetches exactly one task, trying priority 1 first, then
// 2, …, so a priority-1 task waits only for a free slot, never behind a backlog.
// Nothing is pre-buffered. An idle slot sleeps on a doorbell (core NATS subject
// steward.doorbell.<lane>.<priority>, rung by every Publish once the task is
// stored) instead of polling.
//
// When ctx is cancelled Serve stops fetching, waits up to Options.ShutdownGrace for
// running handlers, then cancels their contexts. A task whose handler is cut
// short goes back to the queue at once, for another process or the next start,
// and that delivery does not count as an attempt (see Status.Returned).
func (b *Bus) Serve(ctx context.Context, lane string, slots int, h Handler) error {
	return b.ServeBounded(ctx, lane, slots, 0, h)
}

// ServeBounded is Serve with a global limit: at most limit leases of this lane
// are held at once across every process serving it (0 = no global limit), and
// handlers take one with [AcquireLease] around each bounded call. See the
// "Global lane bound" comment in lease.go.
//
// A bounded lane also gets one express slot on top of slots: it takes only
// tasks a person waits for (priority PriorityChatAction or better), so such a
// task is fetched and prepared at once even when every other slot holds
// background work, and it then gets the next lease given back in this process
// (leases go to waiters in priority order).
func (b *Bus) ServeBounded(ctx context.Context, lane string, slots, limit int, h Handler) error {
	if limit < 0 {
		return fmt.Errorf("serve lane %s: limit must not be negative", lane)
	}
	if slots < 1 {
		return fmt.Errorf("serve lane %s: slots must be at least 1", lane)
	}
	consumers, err := b.serveConsumers(ctx, lane)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while provisioning
		}
		return err
	}
	bell := newDoorbell()
	hints := &priorityHints{}
	hints.forgetAll()
	// The doorbell is rung by publishers after JetStream acknowledged the task,
	// so a woken slot always finds the task stored (a subscription to the task
	// subjects themselves could see a publish before the stream has stored it).
	wake := func(priority int) {
		hints.published(priority) // ignores a priority out of range
		bell.ring()
	}
	prefix := len(DoorbellRoot) + len(lane) + 2 // "steward.doorbell.<lane>."
	sub, err := b.nc.Subscribe(DoorbellRoot+"."+lane+".*", func(m *nats.Msg) {
		if string(m.Data) == b.instance {
			return // this process's own publish: addLocal below has seen it
		}
		priority := 0
		if len(m.Subject) == prefix+1 {
			priority = int(m.Subject[prefix] - '0')
		}
		wake(priority)
	})
	if err != nil {
		return fmt.Errorf("serve lane %s: doorbell: %w", lane, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Publishes of this process need not wait for the doorbell's round trip.
	defer b.addLocal(lane, wake)()

	// Handlers run under their own context so that stopping the fetch loop does not
	// abort work in flight; it is cancelled only when the grace period runs out.
	handlerCtx, cancelHandlers := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelHandlers()

	w := &laneWorker{bus: b, lane: lane, consumers: consumers, handler: h, bell: bell, hints: hints, handlerCtx: handlerCtx, serveCtx: ctx}
	if limit > 0 {
		w.leases = b.newLeaseSet(ctx, lane, limit)
	}
	// Tasks can become ready without a publish this process sees: a retry delay set
	// by another process, a redelivery after another worker crashed. Forget the
	// "known empty" hints regularly so every priority is looked at again.
	go func() {
		t := time.NewTicker(b.o.IdleWait)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				hints.forgetAll()
			}
		}
	}()
	// Tasks that a killed worker held (this process before a restart, or
	// another one) come back one ack wait after its last heartbeat, and no
	// publish rings for them. Those held already at start are due within one
	// ack wait from now: look for them then rather than at the next idle look.
	for p := MinPriority; p <= MaxPriority; p++ {
		if info, err := consumers[p].Info(ctx); err == nil && info.NumAckPending > 0 {
			look := time.AfterFunc(b.ackWait(p)+redeliverySlack, func() { wake(p) })
			defer look.Stop()
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < slots; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.slot(ctx, MaxPriority)
		}()
	}
	if limit > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.slot(ctx, PriorityChatAction)
		}()
	}
	<-ctx.Done()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(b.o.ShutdownGrace):
		b.log.Warn("shutdown grace expired; cancelling running handlers (their tasks will be redelivered)", "lane", lane)
		cancelHandlers()
		<-done
	}
	return nil
}

// redeliverySlack is how long after a redelivery is due a slot looks for it;
// the fetch that follows a wake waits up to hintSettle more on the server.
const redeliverySlack = 10 * time.Millisecond

// serveConsumers provisions lane's consumers for Serve, retrying while the
// connection is down (a lane started during a NATS restart waits for it rather
// than ending the process), until ctx is done or the Bus gives up.
func (b *Bus) serveConsumers(ctx context.Context, lane string) ([MaxPriority + 1]jetstream.Consumer, error) {
	for attempt := 1; ; attempt++ {
		cs, err := b.laneConsumers(ctx, lane)
		if err == nil || !ValidLane(lane) || ctx.Err() != nil {
			return cs, err
		}
		delay := min(time.Duration(attempt)*time.Second, 5*time.Second)
		b.log.Warn("cannot provision the lane's consumers yet; retrying", "lane", lane, "err", err, "retry_in", delay.String())
		select {
		case <-ctx.Done():
			return cs, ctx.Err()
		case <-b.Done():
			if lost := b.Err(); lost != nil {
				return cs, fmt.Errorf("serve lane %s: %w (last error: %w)", lane, lost, err)
			}
			return cs, fmt.Errorf("serve lane %s: the bus is closed: %w", lane, err)
		case <-time.After(delay):
		}
	}
}

// doorbell wakes idle slots when something is published to their lane.
type doorbell struct {
	mu sync.Mutex
	ch chan struct{}
}

func newDoorbell() *doorbell { return &doorbell{} }

// channel returns a channel closed by the next ring. Take it before looking for
// work, so a publish between the look and the wait is not missed.
func (d *doorbell) channel() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ch == nil {
		d.ch = make(chan struct{})
	}
	return d.ch
}

func (d *doorbell) ring() {
	d.mu.Lock()
	if d.ch != nil {
		close(d.ch)
		d.ch = nil
	}
	d.mu.Unlock()
}

// priorityHints remember which priorities a lane's slots found empty, so a fetch
// skips them until something is published there. For each priority, epoch counts
// the publishes seen by the doorbell; emptyAt is the epoch at which a fetch last
// found the priority empty (-1 = unknown). A priority is worth a fetch when the two
// differ. A publish racing with an empty fetch bumps the epoch, so it is never lost.
//
// A publish is acknowledged once the stream has stored the task, but the stream
// tells its consumers about it on another goroutine, so a fetch right after the
// ack may still answer "no messages". hintAt is when the last publish of each
// priority was seen: within hintSettle of it, an empty no-wait fetch is followed
// by one short fetch that waits on the server for the task to show up.
type priorityHints struct {
	epoch   [MaxPriority + 1]atomic.Int64
	emptyAt [MaxPriority + 1]atomic.Int64
	hintAt  [MaxPriority + 1]atomic.Int64 // unix nanoseconds
}

// hintSettle bounds how long a fetch waits for a just-published task the
// consumer has not been told about yet.
const hintSettle = 50 * time.Millisecond

func (h *priorityHints) published(p int) {
	if p >= MinPriority && p <= MaxPriority {
		h.hintAt[p].Store(time.Now().UnixNano())
		h.epoch[p].Add(1)
	}
}

// unsettled returns how much longer a publish of priority p may still be on its
// way to the consumer (0 = none).
func (h *priorityHints) unsettled(p int) time.Duration {
	left := hintSettle - time.Duration(time.Now().UnixNano()-h.hintAt[p].Load())
	return max(left, 0)
}

func (h *priorityHints) forgetAll() {
	for p := MinPriority; p <= MaxPriority; p++ {
		h.emptyAt[p].Store(-1)
	}
}

type laneWorker struct {
	hints      *priorityHints
	leases     *leaseSet // nil = no global bound
	bus        *Bus
	lane       string
	consumers  [MaxPriority + 1]jetstream.Consumer
	handler    Handler
	bell       *doorbell
	handlerCtx context.Context
	serveCtx   context.Context // done when the lane stops fetching
}

// slot fetches and runs one task at a time, of priority maxPrio or better.
func (w *laneWorker) slot(ctx context.Context, maxPrio int) {
	idle := time.NewTimer(w.bus.o.IdleWait)
	defer idle.Stop()
	for ctx.Err() == nil {
		wake := w.bell.channel()
		m, err := w.next(ctx, maxPrio)
		if err != nil && ctx.Err() == nil {
			if w.bus.Healthy() != nil {
				// The connection watch logs the outage once; the slot retries.
				w.bus.log.Debug("fetch failed while disconnected", "lane", w.lane, "err", err)
			} else {
				w.bus.log.Warn("fetch failed", "lane", w.lane, "err", err)
			}
		}
		if m != nil {
			w.run(m)
			continue
		}
		if !idle.Stop() {
			select {
			case <-idle.C:
			default:
			}
		}
		idle.Reset(w.bus.o.IdleWait)
		if err != nil {
			// Back off a little on errors (e.g. a reconnecting connection).
			idle.Reset(time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-idle.C:
		}
	}
}

// next fetches one message of priority maxPrio or better, highest priority
// first; nil when every such priority is empty.
func (w *laneWorker) next(ctx context.Context, maxPrio int) (jetstream.Msg, error) {
	var firstErr error
	for p := MinPriority; p <= maxPrio; p++ {
		if ctx.Err() != nil {
			return nil, nil
		}
		epoch := w.hints.epoch[p].Load()
		if w.hints.emptyAt[p].Load() == epoch {
			continue // found empty, and nothing published there since
		}
		batch, err := w.consumers[p].FetchNoWait(1)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for m := range batch.Messages() {
			return m, nil
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if wait := w.hints.unsettled(p); wait >= time.Millisecond {
			// Just published: the consumer may not know yet. Wait for it on the
			// server (it answers as soon as the task is there), briefly.
			if batch, err := w.consumers[p].Fetch(1, jetstream.FetchMaxWait(wait)); err == nil {
				for m := range batch.Messages() {
					return m, nil
				}
			}
		}
		w.hints.emptyAt[p].Store(epoch)
	}
	return nil, firstErr
}

// run handles one delivered message end to end: status, heartbeat, handler,
// outcome (done, retry, deferred, failed, or given back at shutdown) and ack.
//
// Attempts are the deliveries that were neither given back by a graceful
// shutdown nor deferred by the handler (RetryAfter): the server's delivery
// count less Status.Returned and Status.Deferred. A delivery cut short by a
// crash or kill -9 counts, so a task that kills its worker every time ends
// failed after MaxAttempts instead of looping.
func (w *laneWorker) run(m jetstream.Msg) {
	b := w.bus
	ctx := w.handlerCtx
	meta, err := m.Metadata()
	delivered := 1
	if err == nil {
		delivered = int(meta.NumDelivered)
	}
	var rec record
	if err := json.Unmarshal(m.Data(), &rec); err != nil || rec.ID == "" || rec.Type == "" {
		w.malformed(ctx, m, meta, err)
		return
	}
	release, ok := b.claimRun(rec.ID)
	if !ok {
		// Redelivered while it still runs here: its heartbeats came late (a busy
		// machine, a connection blip) and the server gave up on them. The running
		// attempt's heartbeats, ack or nak settle the message (they name it by its
		// stream sequence), so this copy is left alone rather than run twice.
		b.log.Warn("task redelivered while it still runs in this process; not running it twice", "task", rec.ID, "deliveries", delivered)
		return
	}
	defer release()
	attempt, returned, deferred := delivered, 0, 0
	if delivered > 1 {
		// A redelivery: if the previous attempt recorded an outcome but its ack was
		// lost (crash between the two), do not run the task again. Without a
		// readable record, every delivery counts as an attempt (the safe side).
		if prev, err := b.Status(ctx, rec.ID); err == nil {
			if prev.Status == StateDone || prev.Status == StateFailed {
				_ = m.Ack()
				return
			}
			returned = min(prev.Returned, delivered-1)
			deferred = min(prev.Deferred, delivered-1-returned)
			attempt = delivered - returned - deferred
		}
	}
	now := time.Now().UTC()
	st := Status{ID: rec.ID, Type: rec.Type, Status: StateActive, Priority: rec.Priority, Lane: rec.Lane,
		Provenance: rec.Provenance, Payload: mustJSON(rec.Payload), Attempts: attempt, Returned: returned,
		Deferred:  deferred,
		CreatedAt: rec.CreatedAt, UpdatedAt: now, StartedAt: &now, HeartbeatAt: &now}
	if attempt > b.o.MaxAttempts {
		w.abandon(m, st)
		return
	}
	// The "active" record is informational: publish it without waiting for the
	// server's ack. The outcome record below goes over the same connection, so it
	// is stored after this one and is awaited before the task is acknowledged.
	if _, err := b.js.PublishAsync("$KV."+BucketTasks+"."+rec.ID, mustJSON(st)); err != nil {
		b.log.Debug("could not record task start", "task", rec.ID, "err", err)
	}

	var tl *taskLease
	if w.leases != nil {
		tl = &taskLease{set: w.leases, priority: rec.Priority, stop: w.serveCtx}
		ctx = context.WithValue(ctx, leaseKey{}, tl)
	}
	task := &Task{ID: rec.ID, Type: rec.Type, Priority: rec.Priority, Lane: rec.Lane, CreatedAt: rec.CreatedAt,
		Provenance: rec.Provenance, Payload: mustJSON(rec.Payload), Attempt: attempt, MaxAttempts: b.o.MaxAttempts}

	stopBeat := w.heartbeat(m, st)
	b.o.Metrics.onStart(w.lane)
	start := time.Now()
	result, herr := w.call(ctx, task)
	if tl != nil {
		tl.releaseHeld() // a lease the handler did not give back
	}
	stopBeat()
	elapsed := time.Since(start)

	// Record with a context of its own: the handlers' one is cancelled when the
	// shutdown grace runs out, and an outcome must still be stored then.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	end := time.Now().UTC()
	st.UpdatedAt = end
	st.HeartbeatAt = nil
	outcome := StateDone
	switch {
	case herr == nil:
		st.Status = StateDone
		st.CompletedAt = &end
		if result != nil {
			if raw, err := json.Marshal(result); err == nil {
				st.Result = raw
			} else {
				st.Status, outcome = StateFailed, StateFailed
				st.CompletedAt = nil
				st.FailedAt = &end
				st.Error = fmt.Sprintf("handler result is not JSON: %v", err)
			}
		}
	case ctx.Err() != nil:
		// The shutdown grace ran out and cut the handler short.
		w.giveBack(rctx, m, st, "returned to the queue unfinished: the shutdown grace ran out")
		b.o.Metrics.onEnd(w.lane, rec.Type, "retry", elapsed)
		return
	case errors.Is(herr, ErrShuttingDown):
		// It waited for a lease when the lane stopped and sent nothing.
		w.giveBack(rctx, m, st, "returned to the queue: the lane stopped while the task waited for a lease")
		b.o.Metrics.onEnd(w.lane, rec.Type, "retry", elapsed)
		return
	case isDeferral(herr):
		if st.Deferred >= b.o.MaxDeferrals {
			st.Status, outcome = StateFailed, StateFailed
			st.FailedAt = &end
			st.Error = fmt.Sprintf("%s (gave up after %d deferrals: the task was told to retry later every time)", herr.Error(), st.Deferred)
			break
		}
		d, _ := RetryAfterDelay(herr)
		w.deferTask(rctx, m, st, herr, min(max(d, b.o.MinRetryAfter), MaxRetryAfter))
		b.o.Metrics.onEnd(w.lane, rec.Type, outcomeDeferred, elapsed)
		return
	case IsPermanent(herr) || attempt >= b.o.MaxAttempts:
		st.Status, outcome = StateFailed, StateFailed
		st.FailedAt = &end
		st.Error = herr.Error()
		if !IsPermanent(herr) {
			st.Error = fmt.Sprintf("%s (gave up after %d attempts)", herr.Error(), attempt)
		}
	default:
		outcome = "retry"
		delay := b.o.Backoff[min(attempt-1, len(b.o.Backoff)-1)]
		next := end.Add(delay)
		st.Status = StatePending
		st.Error = herr.Error()
		st.NextAttempt = &next
		if _, err := b.status.Put(rctx, rec.ID, mustJSON(st)); err != nil {
			b.log.Warn("could not record retry", "task", rec.ID, "err", err)
		}
		b.log.Info("task failed, will retry", "task", rec.ID, "type", rec.Type, "attempt", attempt, "delay", delay, "err", herr)
		_ = m.NakWithDelay(delay)
		time.AfterFunc(delay, func() {
			w.hints.published(rec.Priority)
			w.bell.ring()
		})
		b.o.Metrics.onEnd(w.lane, rec.Type, outcome, elapsed)
		return
	}
	// Record the outcome before the ack: a crash in between redelivers the task,
	// and the redelivery sees the outcome and only acks.
	if _, err := b.status.Put(rctx, rec.ID, mustJSON(st)); err != nil {
		b.log.Warn("could not record task outcome; will be redelivered", "task", rec.ID, "err", err)
		b.o.Metrics.onEnd(w.lane, rec.Type, "retry", elapsed)
		return
	}
	if outcome == StateFailed {
		b.log.Warn("task failed", "task", rec.ID, "type", rec.Type, "attempts", attempt, "err", st.Error)
	}
	_ = m.Ack()
	b.o.Metrics.onEnd(w.lane, rec.Type, outcome, elapsed)
}

// recordTimeout bounds the wait for a status record the worker must store.
const recordTimeout = 10 * time.Second

// heartbeat keeps m from being redelivered while its handler runs, in a
// goroutine of its own (a handler blocked in a call or a lease wait still
// heartbeats): InProgress every ack wait/3 of the task's priority, and the
// active record st rewritten with a fresh HeartbeatAt every ack wait, so
// readers can tell a task still running from one whose worker is gone. The
// returned stop waits for the goroutine, so no heartbeat record can overtake
// the outcome record written after it.
func (w *laneWorker) heartbeat(m jetstream.Msg, st Status) (stop func()) {
	b := w.bus
	every := b.ackWait(st.Priority) / 3
	stopBeat, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for n := 1; ; n++ {
			select {
			case <-stopBeat:
				return
			case <-t.C:
				_ = m.InProgress()
				if n%3 != 0 {
					continue
				}
				now := time.Now().UTC()
				st.HeartbeatAt = &now
				if _, err := b.js.PublishAsync("$KV."+BucketTasks+"."+st.ID, mustJSON(st)); err != nil {
					b.log.Debug("could not record task heartbeat", "task", st.ID, "err", err)
				}
			}
		}
	}()
	return func() {
		close(stopBeat)
		<-done
	}
}

// giveBack returns a task that a shutdown interrupted to the queue at once, for
// another process or the next start, without counting the delivery as an
// attempt and without recording an error: the record says pending again, with
// Returned one more and a note. The record is stored before the Nak, so the
// next delivery finds it. When it cannot be stored, the delivery counts as an
// attempt after all (the safe side for crash-loop protection).
func (w *laneWorker) giveBack(ctx context.Context, m jetstream.Msg, st Status, note string) {
	b := w.bus
	st.Status = StatePending
	st.Attempts--
	st.Returned++
	st.StartedAt, st.HeartbeatAt = nil, nil
	st.Error, st.Note = "", note
	if _, err := b.status.Put(ctx, st.ID, mustJSON(st)); err != nil {
		b.log.Warn("could not record a task given back at shutdown; its next delivery counts as an attempt", "task", st.ID, "err", err)
	} else {
		b.log.Info("task given back to the queue at shutdown", "task", st.ID, "type", st.Type)
	}
	_ = m.Nak()
}

// outcomeDeferred is the metrics outcome of a task deferred with RetryAfter.
const outcomeDeferred = "deferred"

// isDeferral reports whether herr defers the task (RetryAfter) rather than
// fails it: Permanent takes precedence.
func isDeferral(herr error) bool {
	_, ok := RetryAfterDelay(herr)
	return ok && !IsPermanent(herr)
}

// deferTask puts a task whose handler asked to be retried after delay (a rate
// limit until its reset) back in the queue for that long, without counting the
// delivery as an attempt: the record says pending, with Deferred one more,
// NextAttempt and a note, and no error. Like giveBack it stores the record
// before the Nak; when it cannot, the delivery counts as an attempt after all.
func (w *laneWorker) deferTask(ctx context.Context, m jetstream.Msg, st Status, herr error, delay time.Duration) {
	b := w.bus
	next := st.UpdatedAt.Add(delay)
	st.Status = StatePending
	st.Attempts--
	st.Deferred++
	st.StartedAt, st.HeartbeatAt = nil, nil
	st.NextAttempt = &next
	st.Error = ""
	st.Note = fmt.Sprintf("deferred: retry after %s: %s", delay, herr.Error())
	if _, err := b.status.Put(ctx, st.ID, mustJSON(st)); err != nil {
		b.log.Warn("could not record a deferred task; its next delivery counts as an attempt", "task", st.ID, "err", err)
	} else {
		b.log.Info("task deferred, will retry", "task", st.ID, "type", st.Type, "deferrals", st.Deferred, "delay", delay, "err", herr)
	}
	_ = m.NakWithDelay(delay)
	time.AfterFunc(delay, func() {
		w.hints.published(st.Priority)
		w.bell.ring()
	})
}

// abandon fails a task delivered more than MaxAttempts times without an outcome:
// its last attempt ended with no record of how (the worker crashed, was killed
// or lost its connection), perhaps because of the task itself, so it is not run
// again.
func (w *laneWorker) abandon(m jetstream.Msg, st Status) {
	b := w.bus
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.handlerCtx), recordTimeout)
	defer cancel()
	now := time.Now().UTC()
	st.Status = StateFailed
	st.Attempts--
	st.StartedAt, st.HeartbeatAt = nil, nil
	st.UpdatedAt, st.FailedAt = now, &now
	st.Error = fmt.Sprintf("gave up after %d attempts: the last one ended without an outcome (its worker crashed, was killed or lost its connection)", st.Attempts)
	if _, err := b.status.Put(ctx, st.ID, mustJSON(st)); err != nil {
		b.log.Warn("could not record task outcome; will be redelivered", "task", st.ID, "err", err)
		return
	}
	b.log.Warn("task failed", "task", st.ID, "type", st.Type, "attempts", st.Attempts, "err", st.Error)
	_ = m.Ack()
	b.o.Metrics.onEnd(w.lane, st.Type, StateFailed, 0)
}

// call runs the handler, turning a panic into a permanent error.
func (w *laneWorker) call(ctx context.Context, t *Task) (result any, err error) {
	defer func() {
		if r := recover(); r != nil {
			w.bus.log.Error("handler panicked", "task", t.ID, "type", t.Type, "panic", r, "stack", string(debug.Stack()))
			result, err = nil, Permanent(fmt.Errorf("handler panicked: %v", r))
		}
	}()
	return w.handler(ctx, t)
}

// malformed records a message that is not a task record as failed (keeping its raw
// body for inspection) and removes it from the queue: never dropped silently,
// never redelivered forever.
func (w *laneWorker) malformed(ctx context.Context, m jetstream.Msg, meta *jetstream.MsgMetadata, decodeErr error) {
	b := w.bus
	id := m.Headers().Get(jetstream.MsgIDHeader)
	if !ValidTaskID(id) {
		seq := uint64(0)
		if meta != nil {
			seq = meta.Sequence.Stream
		}
		id = "malformed-" + strconv.FormatUint(seq, 10)
	}
	reason := "malformed task message: want a JSON task record with id and type"
	if decodeErr != nil {
		reason += ": " + decodeErr.Error()
	}
	raw := m.Data()
	if len(raw) > 64<<10 {
		raw = raw[:64<<10]
	}
	now := time.Now().UTC()
	st := Status{ID: id, Type: "", Status: StateFailed, Lane: w.lane, Payload: mustJSON(string(raw)),
		Attempts: 1, CreatedAt: now, UpdatedAt: now, FailedAt: &now, Error: reason + " (subject " + m.Subject() + ")"}
	if _, err := b.status.Put(ctx, id, mustJSON(st)); err != nil {
		b.log.Warn("could not record malformed task; will retry", "subject", m.Subject(), "err", err)
		_ = m.NakWithDelay(5 * time.Second)
		return
	}
	b.log.Warn("malformed task recorded as failed", "id", id, "subject", m.Subject())
	_ = m.TermWithReason("malformed")
	b.o.Metrics.onMalformed()
}
