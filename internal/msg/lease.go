package msg

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// BucketLeases holds the global slot leases of bounded lanes.
const BucketLeases = "leases"

// Global lane bound
//
// A lane served with a global limit (the LLM lanes: llms.<p>.concurrency) must
// never have more than limit bounded calls (LLM requests) in flight at once,
// counted across every process that serves it: one GPU behind two Steward
// processes still sees at most N requests. The bound is a counting semaphore in
// the KV bucket "leases": slot i of lane L is the key "L.i" (0 <= i < limit). A
// lease is taken by creating one of those keys (Create fails when the key
// exists), renewed (compare-and-set on its revision) every TTL/3 while held, and
// deleted when given back. The bucket's TTL (Options.LeaseTTL) is the lease
// lifetime: a crashed holder stops renewing and its slot frees itself after at
// most one TTL.
//
// A handler takes the lease itself, with [AcquireLease], right before the
// bounded call, and gives it back right after it. Everything else a task does
// — loading its item, rendering the prompt, storing the result, queueing the
// next stage — runs without one, while other tasks use the LLM. So the LLM
// lane runs more tasks than leases (see ServeBounded): while some are in their
// LLM call, others are prepared and wait for a lease, and a lease given back
// goes at once to a waiting task that has nothing left to do but send its
// request.
//
// Waiting is ordered: a lease given back in this process goes straight to the
// local waiter with the best (lowest) task priority, first come first served
// within a priority, with no KV round trips (the lease stays held and renewed).
// Only when nobody here waits is it deleted from the bucket. Waiting is not a
// poll loop: one KV watch per lease set wakes the waiters when a lease of the
// lane is deleted, and expired leases (no delete event) are found by a re-check
// every TTL/3. Across processes the bucket decides: whoever creates the freed
// key first gets it.
//
// Local hand-over alone would starve another process: under a backlog this
// process always has a waiter, so its leases would never reach the bucket. A
// process whose best waiter is urgent (priority PriorityChatAction or better:
// a person waits) therefore announces it in the key "L.want.<holder>" (renewed
// every TTL/3, deleted when it stops waiting). A holder whose best local
// waiter is less urgent than a fresh announcement gives its lease to the bucket
// instead, and its own waiters leave the freed key alone, so the urgent task of
// the other process gets the next lease. Background priorities are never
// announced, so a backlog costs no KV writes.

// leaseSet is the lease state of one bounded lane in this process.
type leaseSet struct {
	bus    *Bus
	lane   string
	limit  int
	holder string

	mu      sync.Mutex
	waiters []*leaseWaiter
	seq     uint64
	held    int           // leases of the bucket held by this process
	freed   chan struct{} // closed and replaced when a lease of the lane is deleted
	remote  map[string]remoteWant

	annMu     sync.Mutex // serialises announcements; guards announced
	announced int        // the urgent priority announced in the bucket (0 = none)
}

// remoteWant is another process's announced urgent waiter.
type remoteWant struct {
	priority int
	at       time.Time
}

// leaseWaiter is a task waiting for a lease.
type leaseWaiter struct {
	priority int
	seq      uint64
	ch       chan *lease // buffered: a hand-over never blocks
}

type lease struct {
	set  *leaseSet
	key  string
	rev  uint64
	stop chan struct{}
	done chan struct{}

	mu sync.Mutex // guards rev between keepAlive and a final delete
}

// newLeaseSet makes the lease set of lane and starts its watcher, which runs
// until ctx ends.
func (b *Bus) newLeaseSet(ctx context.Context, lane string, limit int) *leaseSet {
	s := &leaseSet{bus: b, lane: lane, limit: limit, holder: randomHex(8), freed: make(chan struct{}),
		remote: map[string]remoteWant{}}
	go s.watch(ctx)
	return s
}

// watch closes s.freed whenever a lease of the lane is deleted or purged, and
// when the watch itself breaks (so waiters look again), and keeps the other
// processes' announcements, until ctx ends.
func (s *leaseSet) watch(ctx context.Context) {
	wantPrefix := s.lane + ".want."
	for ctx.Err() == nil {
		w, err := s.bus.leases.Watch(ctx, s.lane+".>")
		if err == nil {
			for e := range w.Updates() {
				if e == nil {
					continue // the end of the initial values
				}
				gone := e.Operation() == jetstream.KeyValueDelete || e.Operation() == jetstream.KeyValuePurge
				if holder, ok := strings.CutPrefix(e.Key(), wantPrefix); ok {
					if holder != s.holder {
						p, perr := strconv.Atoi(string(e.Value()))
						s.mu.Lock()
						_, had := s.remote[holder]
						if gone || perr != nil {
							delete(s.remote, holder)
						} else {
							s.remote[holder] = remoteWant{priority: p, at: time.Now()}
						}
						s.mu.Unlock()
						if had && gone {
							s.ringFreed() // waiters that yielded to it look again
						}
					}
					continue
				}
				if gone {
					s.ringFreed()
				}
			}
			_ = w.Stop()
		}
		s.ringFreed()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

func (s *leaseSet) ringFreed() {
	s.mu.Lock()
	close(s.freed)
	s.freed = make(chan struct{})
	s.mu.Unlock()
}

// bestRemoteLocked is the most urgent fresh announcement of another process
// (MaxPriority+1 when there is none). s.mu is held.
func (s *leaseSet) bestRemoteLocked() int {
	best := MaxPriority + 1
	now := time.Now()
	for holder, w := range s.remote {
		if now.Sub(w.at) > s.bus.o.LeaseTTL {
			delete(s.remote, holder) // its process stopped renewing it
			continue
		}
		best = min(best, w.priority)
	}
	return best
}

// bestLocalLocked is the index of the most urgent local waiter, first come
// first served within a priority; -1 when nobody waits. s.mu is held.
func (s *leaseSet) bestLocalLocked() int {
	if len(s.waiters) == 0 {
		return -1
	}
	best := 0
	for i, w := range s.waiters[1:] {
		if w.priority < s.waiters[best].priority {
			best = i + 1
		}
	}
	return best
}

// announce puts, renews (refresh) or deletes this process's announcement so
// that it names the most urgent local waiter when that one is urgent.
func (s *leaseSet) announce(refresh bool) {
	s.annMu.Lock()
	defer s.annMu.Unlock()
	s.mu.Lock()
	want := 0
	if i := s.bestLocalLocked(); i >= 0 && s.waiters[i].priority <= PriorityChatAction {
		want = s.waiters[i].priority
	}
	s.mu.Unlock()
	if want == s.announced && !(refresh && want != 0) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	key := s.lane + ".want." + s.holder
	var err error
	if want == 0 {
		err = s.bus.leases.Delete(ctx, key)
	} else {
		_, err = s.bus.leases.Put(ctx, key, []byte(strconv.Itoa(want)))
	}
	if err != nil {
		s.bus.log.Debug("lease announcement", "key", key, "err", err)
		return
	}
	s.announced = want
}

// tryCreate takes a free slot in the bucket, if there is one.
func (s *leaseSet) tryCreate(ctx context.Context) (*lease, error) {
	for i := 0; i < s.limit; i++ {
		key := s.lane + "." + strconv.Itoa(i)
		rev, err := s.bus.leases.Create(ctx, key, []byte(s.holder))
		if err == nil {
			s.mu.Lock()
			s.held++
			s.mu.Unlock()
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

// acquire blocks until it holds one of the lane's slots or ctx ends. priority
// orders the local waiters (lower first).
func (s *leaseSet) acquire(ctx context.Context, priority int) (*lease, error) {
	// Take the "freed" channel, then try: a delete between the two still wakes us.
	freed, try := s.worthCreating(priority)
	if try {
		if l, err := s.tryCreate(ctx); l != nil || err != nil {
			return l, err
		}
	}
	// Wait for a local hand-over or a slot freed in the bucket.
	s.mu.Lock()
	s.seq++
	me := &leaseWaiter{priority: priority, seq: s.seq, ch: make(chan *lease, 1)}
	s.waiters = append(s.waiters, me)
	s.mu.Unlock()
	s.bus.o.Metrics.onLeaseWait(s.lane, 1)
	if priority <= PriorityChatAction {
		s.announce(false)
		// Withdrawn (or lowered) once this one stops waiting; off the path of the
		// request it is about to send.
		defer func() { go s.announce(false) }()
	}
	// leave stops waiting; it returns a lease handed over meanwhile, if any.
	leave := func() *lease {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, w := range s.waiters {
			if w == me {
				s.waiters = append(s.waiters[:i], s.waiters[i+1:]...)
				s.bus.o.Metrics.onLeaseWait(s.lane, -1)
				break
			}
		}
		select {
		case l := <-me.ch:
			return l
		default:
			return nil
		}
	}
	recheck := time.NewTimer(s.bus.o.LeaseTTL / 3)
	defer recheck.Stop()
	for {
		select {
		case got := <-me.ch:
			// release removed us from the waiters when it handed this over.
			return got, nil
		case <-ctx.Done():
			if l := leave(); l != nil {
				l.release()
			}
			return nil, ctx.Err()
		case <-recheck.C:
			recheck.Reset(s.bus.o.LeaseTTL / 3)
			if priority <= PriorityChatAction {
				s.announce(true)
			}
		case <-freed:
		}
		freed, try = s.worthCreating(priority)
		if try {
			l, err := s.tryCreate(ctx)
			if l != nil || err != nil {
				if other := leave(); other != nil {
					other.release() // handed over meanwhile: pass it on
				}
				return l, err
			}
		}
	}
}

// worthCreating returns the current "freed" channel and whether a waiter of
// this priority should try to create a lease in the bucket: not when this
// process holds them all, nor when a more urgent task of another process waits
// for the next freed one.
func (s *leaseSet) worthCreating(priority int) (freed <-chan struct{}, try bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.freed, s.held < s.limit && s.bestRemoteLocked() >= priority
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
				// someone else's now; the call in flight keeps running, so the bound
				// can be exceeded by one until it finishes. Say so.
				l.set.bus.log.Warn("lost an LLM lane lease while a task was running", "lease", l.key, "err", err)
				continue
			}
		}
	}
}

// release gives the slot back: to the best local waiter (the lease stays held)
// unless another process announced a more urgent one, else to the bucket (only
// if it is still ours).
func (l *lease) release() {
	s := l.set
	s.mu.Lock()
	// A more urgent task of another process gets the lease through the bucket.
	if best := s.bestLocalLocked(); best >= 0 && s.waiters[best].priority <= s.bestRemoteLocked() {
		w := s.waiters[best]
		s.waiters = append(s.waiters[:best], s.waiters[best+1:]...)
		w.ch <- l // buffered; the waiter owns it now
		s.mu.Unlock()
		s.bus.o.Metrics.onLeaseWait(s.lane, -1)
		// The waiter has its request ready: let it run now rather than after this
		// goroutine's next blocking call.
		runtime.Gosched()
		return
	}
	s.held--
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

// taskLease is the lease state of one running task of a bounded lane.
type taskLease struct {
	set      *leaseSet
	priority int
	stop     context.Context // done when the lane stops serving

	mu   sync.Mutex
	held *lease
}

// acquire takes a lease for the task; see [AcquireLease].
func (t *taskLease) acquire(ctx context.Context) (func(), error) {
	t.mu.Lock()
	if t.held != nil {
		t.mu.Unlock()
		return nil, fmt.Errorf("lane %s: the task already holds a lease: give it back before taking another", t.set.lane)
	}
	t.mu.Unlock()
	// Stop waiting when the lane stops: the task has sent nothing yet, so it
	// can go back to the queue instead of holding up the shutdown.
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	unhook := context.AfterFunc(t.stop, cancel)
	defer unhook()
	l, err := t.set.acquire(actx, t.priority)
	if err != nil {
		if ctx.Err() == nil && t.stop.Err() != nil {
			return nil, ErrShuttingDown
		}
		return nil, fmt.Errorf("lane %s: waiting for a lease: %w", t.set.lane, err)
	}
	t.mu.Lock()
	t.held = l
	t.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { t.release(l) }) }, nil
}

// release gives l back if the task still holds it.
func (t *taskLease) release(l *lease) {
	t.mu.Lock()
	if t.held != l {
		t.mu.Unlock()
		return
	}
	t.held = nil
	t.mu.Unlock()
	l.release()
}

// releaseHeld gives back a lease the handler forgot to return.
func (t *taskLease) releaseHeld() {
	t.mu.Lock()
	l := t.held
	t.mu.Unlock()
	if l != nil {
		t.release(l)
	}
}

// leaseKey carries the running task's *taskLease in its context.
type leaseKey struct{}

// ErrNotBounded is returned by [AcquireLease] outside a handler of a bounded
// lane.
var ErrNotBounded = errors.New("not running on a bounded lane: no lease to take")

// ErrShuttingDown is returned by [AcquireLease] when the lane stops serving
// while the task waits for a lease. The task has not made its bounded call, so
// a handler returning this error (wrapped or not) gives its task back to the
// queue at once, for another process or the next start: it is not a failure
// and not retried with backoff.
var ErrShuttingDown = errors.New("the lane is shutting down: the task goes back to the queue")

// AcquireLease waits until the running task holds one of its lane's global
// slots (see ServeBounded and the "Global lane bound" comment in lease.go) and
// returns the function that gives it back. Take it right before the bounded
// call (an LLM request) and give it back right after, so other tasks use the
// resource while this one does everything else. Waiting tasks get a lease in
// priority order. Calling release more than once is harmless; a lease still
// held when the handler returns is given back then. Taking a second lease
// while holding one is an error, as is calling it outside a handler of a
// bounded lane ([ErrNotBounded]).
func AcquireLease(ctx context.Context) (release func(), err error) {
	t, ok := ctx.Value(leaseKey{}).(*taskLease)
	if !ok {
		return nil, ErrNotBounded
	}
	return t.acquire(ctx)
}
