package msg

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
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
			pc.enter()
			byBus[i].Add(1)
			time.Sleep(5 * time.Millisecond)
			pc.leave()
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
	set := dead.newLeaseSet("llm_x", 1)
	l, err := set.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	close(l.stop) // stop renewing, never release: a crash
	<-l.done

	live := env.bus(t, func(o *Options) { o.LeaseTTL = ttl })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	l2, err := live.newLeaseSet("llm_x", 1).acquire(ctx)
	if err != nil {
		t.Fatalf("never acquired: %v", err)
	}
	if waited := time.Since(start); waited < ttl/2 {
		t.Fatalf("acquired after %v: the dead holder's lease was ignored", waited)
	}
	l2.release()
}

// A released lease wakes a waiter at once (watch, not poll).
func TestLeaseReleaseWakesWaiter(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.LeaseTTL = time.Minute })
	set := b.newLeaseSet("llm_y", 1)
	l, err := set.acquire(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var got time.Duration
	go func() {
		defer wg.Done()
		start := time.Now()
		l2, err := set.acquire(context.Background())
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

// A handler that gives its lease back early lets another task of the lane start
// while it finishes; the bound on the leased part still holds.
func TestReleaseLeaseEarly(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	var leased, total peakCounter
	var n atomic.Int64
	all := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = b.ServeBounded(ctx, "llm_r", 3, 1, func(ctx context.Context, t *Task) (any, error) {
			total.enter()
			leased.enter()
			time.Sleep(10 * time.Millisecond) // the "LLM call"
			leased.leave()
			ReleaseLease(ctx)
			ReleaseLease(ctx)                 // twice is harmless
			time.Sleep(30 * time.Millisecond) // bookkeeping without the lease
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
	case <-time.After(20 * time.Second):
		t.Fatal("not done")
	}
	if leased.peak.Load() != 1 {
		t.Fatalf("leased part ran %d at once, bound 1", leased.peak.Load())
	}
	if total.peak.Load() < 2 {
		t.Fatalf("early release did not let another task start (peak %d)", total.peak.Load())
	}
	ReleaseLease(context.Background()) // outside a handler: nothing
}
