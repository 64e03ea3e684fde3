package msg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketLeases holds the global slot leases of bounded lanes.
const BucketLeases = "leases"

// Global lane bound
//
// A lane served with a global limit (the LLM lanes: llms.<p>.concurrency) must
// never run more handlers at once than the limit, counted across every process
// that serves it — one GPU behind two Steward processes still sees at most N
// requests. The bound is a counting semaphore in the KV bucket "leases": slot i
// of lane L is the key "L.i" (0 <= i < limit). A worker slot takes a lease by
// creating one of those keys (Create fails when the key exists), holds it while
// it fetches and runs tasks, renews it (compare-and-set on its revision) every
// TTL/3, and deletes it when the lane has no more work for it. The bucket's TTL
// (Options.LeaseTTL) is the lease lifetime: a crashed holder stops renewing and
// its slot frees itself after at most one TTL. A worker takes the lease BEFORE it
// fetches, so the task it then fetches is the highest-priority one at that
// moment, and a waiting priority-1 task is started by the next lease that frees.
//
// Waiting for a lease is not a poll loop: a KV watch on "L.*" wakes the waiters
// when a lease is deleted; expired leases (no delete event) are found by a
// re-check every TTL/3.

type leaseSet struct {
	bus    *Bus
	lane   string
	limit  int
	holder string

	// Local hand-over: a lease given back while another slot of this process
	// waits goes straight to that slot, with no KV round trips; it stays held and
	// renewed. Only when nobody here waits is it deleted from the bucket.
	mu      sync.Mutex
	waiters []chan *lease
}

type lease struct {
	set  *leaseSet
	key  string
	rev  uint64
	stop chan struct{}
	done chan struct{}

	mu sync.Mutex // guards rev between keepAlive and a final delete
}

func (b *Bus) newLeaseSet(lane string, limit int) *leaseSet {
	return &leaseSet{bus: b, lane: lane, limit: limit, holder: randomHex(8)}
}

// tryCreate takes a free slot in the bucket, if there is one.
func (s *leaseSet) tryCreate(ctx context.Context) (*lease, error) {
	for i := 0; i < s.limit; i++ {
		key := s.lane + "." + strconv.Itoa(i)
		rev, err := s.bus.leases.Create(ctx, key, []byte(s.holder))
		if err == nil {
			l := &lease{set: s, key: key, rev: rev, stop: make(chan struct{}), done: make(chan struct{})}
			go l.keepAlive()
			return l, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) && !isCASConflict(err) {
			return nil, fmt.Errorf("lease %s: %w", key, err)
		}
	}
	return nil, nil
}

// acquire blocks until it holds one of the lane's slots or ctx ends.
func (s *leaseSet) acquire(ctx context.Context) (*lease, error) {
	kv := s.bus.leases
	ttl := s.bus.o.LeaseTTL
	if l, err := s.tryCreate(ctx); l != nil || err != nil {
		return l, err
	}
	// Contended: wait for a local hand-over or a slot freed in the bucket.
	handoff := make(chan *lease, 1)
	s.mu.Lock()
	s.waiters = append(s.waiters, handoff)
	s.mu.Unlock()
	leave := func() *lease {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, w := range s.waiters {
			if w == handoff {
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				break
			}
		}
		select {
		case l := <-handoff:
			return l
		default:
			return nil
		}
	}
	for {
		// Watch, then try: a release between the two still wakes us.
		w, err := kv.Watch(ctx, s.lane+".*", jetstream.UpdatesOnly())
		if err != nil {
			if l := leave(); l != nil {
				return l, nil
			}
			return nil, fmt.Errorf("lease watch %s: %w", s.lane, err)
		}
		l, err := s.tryCreate(ctx)
		if l != nil || err != nil {
			_ = w.Stop()
			if other := leave(); other != nil {
				other.release() // handed over meanwhile: pass it on
			}
			return l, err
		}
		timer := time.NewTimer(ttl / 3)
	wait:
		for {
			select {
			case got := <-handoff:
				timer.Stop()
				_ = w.Stop()
				leave()
				return got, nil
			case <-ctx.Done():
				timer.Stop()
				_ = w.Stop()
				if l := leave(); l != nil {
					l.release()
				}
				return nil, ctx.Err()
			case <-timer.C:
				break wait
			case e, ok := <-w.Updates():
				if !ok {
					break wait
				}
				if e != nil && (e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge) {
					break wait
				}
			}
		}
		timer.Stop()
		_ = w.Stop()
	}
}

// keepAlive renews the lease every TTL/3 until released.
func (l *lease) keepAlive() {
	defer close(l.done)
	t := time.NewTicker(l.set.bus.o.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.set.bus.o.LeaseTTL/3)
			l.mu.Lock()
			rev, err := l.set.bus.leases.Update(ctx, l.key, []byte(l.set.holder), l.rev)
			if err == nil {
				l.rev = rev
			}
			l.mu.Unlock()
			cancel()
			if err != nil {
				// The lease expired (e.g. the connection was down for a TTL) and may be
				// someone else's now; the handler in flight keeps running, so the bound
				// can be exceeded by one until it finishes. Say so.
				l.set.bus.log.Warn("lost an LLM lane lease while a task was running", "lease", l.key, "err", err)
				continue
			}
		}
	}
}

// release gives the slot back: to a slot of this process that waits for one
// (the lease stays held), else to the bucket (only if it is still ours).
func (l *lease) release() {
	s := l.set
	s.mu.Lock()
	if len(s.waiters) > 0 {
		w := s.waiters[0]
		s.waiters = s.waiters[1:]
		w <- l // buffered; the waiter owns it now
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	if err := l.set.bus.leases.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil {
		l.set.bus.log.Debug("lease release", "lease", l.key, "err", err)
	}
}

// leaseKey carries the running task's lease release func in its context.
type leaseKey struct{}

// ReleaseLease tells a bounded lane (see ServeBounded) that the running handler
// is done with the bounded resource — for LLM lanes, that it will make no more
// LLM requests — so its slot's lease goes back at once and another task can start
// its LLM call while this one finishes its bookkeeping (storing the result,
// queueing the next stage). Calling it again, or on an unbounded lane, does
// nothing. A handler must not use the resource after calling it.
func ReleaseLease(ctx context.Context) {
	if f, ok := ctx.Value(leaseKey{}).(func()); ok {
		f()
	}
}
