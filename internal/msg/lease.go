package msg

import (
	"context"
	"errors"
	"fmt"
	"strconv"
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
}

type lease struct {
	set  *leaseSet
	key  string
	rev  uint64
	stop chan struct{}
	done chan struct{}
}

func (b *Bus) newLeaseSet(lane string, limit int) *leaseSet {
	return &leaseSet{bus: b, lane: lane, limit: limit, holder: randomHex(8)}
}

// acquire blocks until it holds one of the lane's slots or ctx ends.
func (s *leaseSet) acquire(ctx context.Context) (*lease, error) {
	kv := s.bus.leases
	ttl := s.bus.o.LeaseTTL
	for {
		// Watch first, then try: a release between the two still wakes us.
		w, err := kv.Watch(ctx, s.lane+".*", jetstream.UpdatesOnly())
		if err != nil {
			return nil, fmt.Errorf("lease watch %s: %w", s.lane, err)
		}
		for i := 0; i < s.limit; i++ {
			key := s.lane + "." + strconv.Itoa(i)
			rev, err := kv.Create(ctx, key, []byte(s.holder))
			if err == nil {
				_ = w.Stop()
				l := &lease{set: s, key: key, rev: rev, stop: make(chan struct{}), done: make(chan struct{})}
				go l.keepAlive()
				return l, nil
			}
			if !errors.Is(err, jetstream.ErrKeyExists) && !isCASConflict(err) {
				_ = w.Stop()
				return nil, fmt.Errorf("lease %s: %w", key, err)
			}
		}
		timer := time.NewTimer(ttl / 3)
	wait:
		for {
			select {
			case <-ctx.Done():
				timer.Stop()
				_ = w.Stop()
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
			rev, err := l.set.bus.leases.Update(ctx, l.key, []byte(l.set.holder), l.rev)
			cancel()
			if err != nil {
				// The lease expired (e.g. the connection was down for a TTL) and may be
				// someone else's now; the handler in flight keeps running, so the bound
				// can be exceeded by one until it finishes. Say so.
				l.set.bus.log.Warn("lost an LLM lane lease while a task was running", "lease", l.key, "err", err)
				continue
			}
			l.rev = rev
		}
	}
}

// release gives the slot back (only if it is still ours).
func (l *lease) release() {
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.set.bus.leases.Delete(ctx, l.key, jetstream.LastRevision(l.rev)); err != nil {
		l.set.bus.log.Debug("lease release", "lease", l.key, "err", err)
	}
}
