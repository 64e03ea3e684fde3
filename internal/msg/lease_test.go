package msg

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// peakCounter tracks concurrent handler runs.
type peakCounter struct {
	cur, peak atomic.Int64
}

func (p *peakCounter) enter() {
	n := p.cur.Add(1)
	for {
		old := p.peak.Load()
		if n <= old || p.peak.CompareAndSwap(old, n) {
			return
		}
	}
}

func (p *peakCounter) leave() { p.cur.Add(-1) }

// Two processes (two connections, each with more slots than the limit) serving
// one bounded lane never run more than the limit at once.
func TestGlobalLimitAcrossProcesses(t *testing.T) {
	env := newEnv(t, "")
	b1 := env.bus(t, func(o *Options) { o.LeaseTTL = 3 * time.Second })
	b2 := env.bus(t, func(o *Options) { o.LeaseTTL = 3 * time.Second })
	const limit, tasks = 2, 40
	var pc peakCounter
	var done atomic.Int64
	var byBus [2]atomic.Int64
	all := make(chan struct{})
	handler := func(i int) Handler {
		return func(ctx context.Context, t *Task) (any, error) {
			release, err := AcquireLease(ctx)
			if err != nil {
				return nil, err
			}
			pc.enter()
			byBus[i].Add(1)
			time.Sleep(5 * time.Millisecond)
			pc.leave()
			release()
			if done.Add(1) == tasks {
				close(all)
			}
			return nil, nil
		}
	}
	for i, b := range []*Bus{b1, b2} {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() { _ = b.ServeBounded(ctx, "llm_default", 3, limit, handler(i)) }()
	}
	for i := 0; i < tasks; i++ {
		mustPublish(t, b1, Spec{Type: "x.classify", Lane: "llm_default", Priority: 6, Payload: map[string]any{"i": i}})
	}
	select {
	case <-all:
	case <-time.After(30 * time.Second):
		t.Fatalf("%d of %d done", done.Load(), tasks)
	}
	if pc.peak.Load() > limit {
		t.Fatalf("peak %d > limit %d", pc.peak.Load(), limit)
	}
	if pc.peak.Load() < limit {
		t.Fatalf("peak %d: the limit was never used", pc.peak.Load())
	}
	if byBus[0].Load()+byBus[1].Load() != tasks {
		t.Fatalf("ran %d+%d tasks", byBus[0].Load(), byBus[1].Load())
	}
}

// A holder that dies without releasing frees its slot after the lease TTL.
func TestLeaseOfCrashedHolderExpires(t *testing.T) {
	env := newEnv(t, "")
	ttl := 600 * time.Millisecond
	dead := env.bus(t, func(o *Options) { o.LeaseTTL = ttl })
	set := dead.newLeaseSet(t.Context(), "llm_x", 1)
	l, err := set.acquire(context.Background(), PriorityClassify)
	if err != nil {
		t.Fatal(err)
	}
	close(l.stop) // stop renewing, never release: a crash
	<-l.done

	live := env.bus(t, func(o *Options) { o.LeaseTTL = ttl })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	l2, err := live.newLeaseSet(t.Context(), "llm_x", 1).acquire(ctx, PriorityClassify)
	if err != nil {
		t.Fatalf("never acquired: %v", err)
	}
	if waited := time.Since(start); waited < ttl/2 {
		t.Fatalf("acquired after %v: the dead holder's lease was ignored", waited)
	}
	l2.release()
}

// A lease released by another process wakes a waiter at once (watch, not
// poll).
func TestLeaseReleaseWakesWaiter(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.LeaseTTL = time.Minute })
	other := env.bus(t, func(o *Options) { o.LeaseTTL = time.Minute })
	l, err := b.newLeaseSet(t.Context(), "llm_y", 1).acquire(context.Background(), PriorityClassify)
	if err != nil {
		t.Fatal(err)
	}
	set := other.newLeaseSet(t.Context(), "llm_y", 1)
	var wg sync.WaitGroup
	wg.Add(1)
	var got time.Duration
	go func() {
		defer wg.Done()
		start := time.Now()
		l2, err := set.acquire(context.Background(), PriorityClassify)
		if err != nil {
			t.Error(err)
			return
		}
		got = time.Since(start)
		l2.release()
	}()
	time.Sleep(100 * time.Millisecond)
	l.release()
	wg.Wait()
	// The waiter's fallback re-check is TTL/3 = 20 s away; it must have been woken
	// by the release itself.
	if got > 5*time.Second {
		t.Fatalf("waiter woke after %v", got)
	}
}

// Renewal keeps a long task's lease alive past the TTL.
func TestLeaseRenewedDuringLongTask(t *testing.T) {
	env := newEnv(t, "")
	ttl := 600 * time.Millisecond
	b := env.bus(t, func(o *Options) { o.LeaseTTL = ttl })
	var pc peakCounter
	var n atomic.Int64
	all := make(chan struct{})
	serveBounded := func() {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		go func() {
			_ = b.ServeBounded(ctx, "llm_z", 2, 1, func(ctx context.Context, t *Task) (any, error) {
				release, err := AcquireLease(ctx)
				if err != nil {
					return nil, err
				}
				defer release()
				pc.enter()
				time.Sleep(3 * ttl) // longer than the lease lives without renewal
				pc.leave()
				if n.Add(1) == 2 {
					close(all)
				}
				return nil, nil
			})
		}()
	}
	serveBounded()
	mustPublish(t, b, Spec{Type: "long", Lane: "llm_z", Payload: map[string]any{"i": 1}})
	mustPublish(t, b, Spec{Type: "long", Lane: "llm_z", Payload: map[string]any{"i": 2}})
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatal("tasks did not finish")
	}
	if pc.peak.Load() != 1 {
		t.Fatalf("peak %d with limit 1", pc.peak.Load())
	}
}

// Only the part of a handler between AcquireLease and its release is bounded:
// other tasks of the lane prepare and finish meanwhile.
func TestLeaseAroundBoundedCall(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	var leased, total peakCounter
	var n atomic.Int64
	errs := make(chan error, 100)
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = b.ServeBounded(ctx, "llm_r", 3, 1, func(ctx context.Context, t *Task) (any, error) {
			total.enter()
			time.Sleep(10 * time.Millisecond) // preparing, without a lease
			release, err := AcquireLease(ctx)
			if err != nil {
				errs <- err
				return nil, err
			}
			if _, err := AcquireLease(ctx); err == nil {
				errs <- errors.New("a second lease while holding one")
			}
			leased.enter()
			time.Sleep(10 * time.Millisecond) // the "LLM call"
			leased.leave()
			release()
			release()                         // twice is harmless
			time.Sleep(20 * time.Millisecond) // bookkeeping without the lease
			total.leave()
			if n.Add(1) == 12 {
				close(all)
			}
			return nil, nil
		})
	}()
	for i := 0; i < 12; i++ {
		mustPublish(t, b, Spec{Type: "r", Lane: "llm_r", Payload: map[string]any{"i": i}})
	}
	select {
	case <-all:
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(20 * time.Second):
		t.Fatal("not done")
	}
	if leased.peak.Load() != 1 {
		t.Fatalf("leased part ran %d at once, bound 1", leased.peak.Load())
	}
	if total.peak.Load() < 3 {
		t.Fatalf("tasks did not prepare and finish around the bounded part (peak %d of 3 slots)", total.peak.Load())
	}
	if _, err := AcquireLease(context.Background()); !errors.Is(err, ErrNotBounded) {
		t.Fatalf("outside a handler: %v, want ErrNotBounded", err)
	}
}

// A handler that forgets to give its lease back frees it when it returns.
func TestLeaseHeldAtReturnIsReleased(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	var n atomic.Int64
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = b.ServeBounded(ctx, "llm_f", 1, 1, func(ctx context.Context, t *Task) (any, error) {
			if _, err := AcquireLease(ctx); err != nil {
				return nil, err
			}
			if n.Add(1) == 3 {
				close(all)
			}
			return nil, nil
		})
	}()
	for i := 0; i < 3; i++ {
		mustPublish(t, b, Spec{Type: "f", Lane: "llm_f", Payload: map[string]any{"i": i}})
	}
	select {
	case <-all:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of 3 ran: a lease was not given back", n.Load())
	}
}

// Waiting tasks get a lease given back in priority order, first come first
// served within a priority.
func TestLeaseHandOverInPriorityOrder(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.LeaseTTL = time.Minute })
	set := b.newLeaseSet(t.Context(), "llm_o", 1)
	first, err := set.acquire(t.Context(), PriorityClassify)
	if err != nil {
		t.Fatal(err)
	}
	prios := []int{PriorityUnauthClassify, PriorityClassify, PriorityClassify, PriorityChat, PriorityChatAction}
	order := make(chan int, len(prios))
	for i, p := range prios {
		go func() {
			l, err := set.acquire(t.Context(), p)
			if err != nil {
				t.Error(err)
				return
			}
			order <- i
			time.Sleep(time.Millisecond)
			l.release()
		}()
		// Queue them one by one, so arrival order is known.
		waitFor(t, func() bool {
			set.mu.Lock()
			defer set.mu.Unlock()
			return len(set.waiters) == i+1
		})
	}
	first.release()
	want := []int{3, 4, 1, 2, 0} // chat, chat action, classify ×2 in arrival order, unauthenticated
	for k, w := range want {
		select {
		case got := <-order:
			if got != w {
				t.Fatalf("hand-over %d went to waiter %d (priority %d), want %d (priority %d)", k, got, prios[got], w, prios[w])
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("hand-over %d never came", k)
		}
	}
}

// With every regular slot busy with background work, a priority-1 task is
// fetched by the express slot and gets the next lease, ahead of the background
// task already waiting for it.
func TestExpressSlotTakesUrgentTask(t *testing.T) {
	env := newEnv(t, "")
	metrics := NewMetrics(prometheus.NewRegistry())
	b := env.bus(t, func(o *Options) { o.Metrics = metrics })
	waiting := metrics.waiting.WithLabelValues("llm_e")
	var mu sync.Mutex
	var order []string
	started := make(chan struct{}, 10)
	done := make(chan struct{}, 10)
	proceed := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = b.ServeBounded(ctx, "llm_e", 2, 1, func(ctx context.Context, t *Task) (any, error) {
			started <- struct{}{}
			release, err := AcquireLease(ctx)
			if err != nil {
				return nil, err
			}
			mu.Lock()
			order = append(order, t.Type)
			first := len(order) == 1
			mu.Unlock()
			if first {
				<-proceed // the first holder keeps the only lease until the urgent task waits for it
			}
			release()
			done <- struct{}{}
			return nil, nil
		})
	}()
	mustPublish(t, b, Spec{Type: "bg1", Lane: "llm_e", Priority: PriorityClassify})
	mustPublish(t, b, Spec{Type: "bg2", Lane: "llm_e", Priority: PriorityClassify})
	mustPublish(t, b, Spec{Type: "bg3", Lane: "llm_e", Priority: PriorityClassify})
	<-started
	<-started // both regular slots hold background tasks: one holds the lease, one waits
	mustPublish(t, b, Spec{Type: "urgent", Lane: "llm_e", Priority: PriorityChat})
	select {
	case <-started: // only the express slot can have fetched it
	case <-time.After(5 * time.Second):
		t.Fatal("the urgent task was not fetched while the regular slots were busy")
	}
	// The other background task and the urgent one wait for the lease.
	waitFor(t, func() bool { return testutil.ToFloat64(waiting) == 2 }, func() string {
		mu.Lock()
		defer mu.Unlock()
		return fmt.Sprintf("waiting %v, lease order %v", testutil.ToFloat64(waiting), order)
	})
	close(proceed)
	for i := 0; i < 4; i++ {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of 4 tasks done", i)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(order) != 4 || order[1] != "urgent" {
		t.Fatalf("lease order %v: the urgent task should have had the second lease", order)
	}
}

// waitFor polls cond (a test-side condition on internal state) until it holds.
func waitFor(t *testing.T, cond func() bool, state ...func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range state {
				t.Log(f())
			}
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}

// backlog keeps n goroutines taking and returning set's single lease at
// priority 6 (hold each for hold) until ctx ends, counting the acquisitions.
func backlog(ctx context.Context, set *leaseSet, n int, hold time.Duration, count *atomic.Int64) {
	for i := 0; i < n; i++ {
		go func() {
			for ctx.Err() == nil {
				l, err := set.acquire(ctx, PriorityClassify)
				if err != nil {
					return
				}
				count.Add(1)
				time.Sleep(hold)
				l.release()
			}
		}()
	}
}

// A process with a background backlog always has a local waiter, yet an
// urgent task of another process serving the same lane gets the next lease.
func TestUrgentWaiterOfAnotherProcess(t *testing.T) {
	env := newEnv(t, "")
	a := env.bus(t, nil).newLeaseSet(t.Context(), "llm_c", 1)
	b := env.bus(t, nil).newLeaseSet(t.Context(), "llm_c", 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var byA atomic.Int64
	backlog(ctx, a, 3, 20*time.Millisecond, &byA)
	waitFor(t, func() bool { return byA.Load() >= 5 })

	wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
	defer wcancel()
	before := byA.Load()
	l, err := b.acquire(wctx, PriorityChat)
	if err != nil {
		t.Fatalf("the urgent task of process B never got a lease (process A took %d meanwhile): %v", byA.Load()-before, err)
	}
	// A's holder at the time, and at most one hand-over that raced with the
	// announcement reaching A.
	if n := byA.Load() - before; n > 2 {
		t.Fatalf("process A took %d leases while B's urgent task waited", n)
	}
	l.release()
	// B's announcement is withdrawn: A's backlog goes on.
	after := byA.Load()
	waitFor(t, func() bool { return byA.Load() >= after+5 })
}

// An announcement whose process died (no renewal) stops holding the lane back
// after the lease TTL.
func TestStaleAnnouncementExpires(t *testing.T) {
	env := newEnv(t, "")
	ttl := 600 * time.Millisecond
	bus := env.bus(t, func(o *Options) { o.LeaseTTL = ttl })
	a := bus.newLeaseSet(t.Context(), "llm_s", 1)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var byA atomic.Int64
	backlog(ctx, a, 2, 5*time.Millisecond, &byA)
	waitFor(t, func() bool { return byA.Load() >= 5 })
	// A "crashed" process's urgent announcement, never renewed or withdrawn.
	if _, err := bus.leases.Put(ctx, "llm_s.want.deadbeefdeadbeef", []byte("1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return len(a.remote) == 1
	})
	after := byA.Load()
	waitFor(t, func() bool { return byA.Load() >= after+20 })
}

// A task waiting for a lease when its lane stops goes back to the queue at
// once, without waiting for the holder and without counting as a failure; the
// holder finishes its call.
func TestShutdownReleasesLeaseWaiters(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	proceed := make(chan struct{})
	waiterErr := make(chan error, 1)
	var holderDone atomic.Bool
	holding := make(chan struct{})
	handler := func(ctx context.Context, task *Task) (any, error) {
		release, err := AcquireLease(ctx)
		if err != nil {
			waiterErr <- err
			return nil, fmt.Errorf("classify: %w", err)
		}
		defer release()
		if task.Type == "holder" {
			close(holding)
			<-proceed
			holderDone.Store(true)
		}
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = b.ServeBounded(ctx, "llm_d", 2, 1, handler)
	}()
	holder := mustPublish(t, b, Spec{Type: "holder", Lane: "llm_d", Priority: PriorityClassify}).ID
	<-holding // "active" is recorded before the handler asks for the lease: wait until it has it
	waiter := mustPublish(t, b, Spec{Type: "waiter", Lane: "llm_d", Priority: PriorityClassify}).ID
	waitFor(t, func() bool { st, err := b.Status(ctx, waiter); return err == nil && st.Status == StateActive })
	cancel()
	select {
	case err := <-waiterErr:
		if !errors.Is(err, ErrShuttingDown) {
			t.Fatalf("waiter: %v, want ErrShuttingDown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiting task kept waiting after its lane stopped")
	}
	if holderDone.Load() {
		t.Fatal("the waiter was let go only after the holder finished")
	}
	close(proceed)
	<-served
	if st, _ := b.Status(context.Background(), holder); st.Status != StateDone {
		t.Fatalf("holder %s: %s", st.Status, st.Error)
	}
	// The waiter is back in the queue, not failed: the next start runs it.
	if st, _ := b.Status(context.Background(), waiter); st.Status == StateFailed || st.Status == StateDone {
		t.Fatalf("waiter ended %s (%s), want it queued again", st.Status, st.Error)
	}
	ran := make(chan struct{})
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	go func() {
		_ = b.ServeBounded(ctx2, "llm_d", 2, 1, func(ctx context.Context, task *Task) (any, error) {
			if task.ID == waiter {
				close(ran)
			}
			return nil, nil
		})
	}()
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not run again after the restart")
	}
}
