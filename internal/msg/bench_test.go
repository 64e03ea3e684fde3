package msg

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// publishN publishes n no-op tasks from 4 goroutines.
func publishN(b tb, bus *Bus, n int, prio int, typ string) {
	var wg sync.WaitGroup
	per := n / 4
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				if _, err := bus.Publish(context.Background(), Spec{Type: typ, Priority: prio, Payload: map[string]any{"g": g, "i": i}}); err != nil {
					b.Errorf("publish: %v", err)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func waitDrained(b tb, bus *Bus, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for {
		info, err := bus.stream.Info(context.Background())
		if err == nil && info.State.Msgs == 0 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("not drained: %d left", info.State.Msgs)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// BenchmarkDispatch measures end-to-end no-op dispatch (publish → handler → status
// → ack) at backlogs of 1,000 and 10,000 tasks, 4 slots. It reports the drain rate
// of an existing backlog and the rate including publishing it.
func BenchmarkDispatch(b *testing.B) {
	for _, backlog := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			env := newEnv(b, "")
			bus := env.bus(b, nil)
			var handled atomic.Int64
			h := func(ctx context.Context, t *Task) (any, error) { handled.Add(1); return nil, nil }
			var pubDur, drainDur time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				start := time.Now()
				publishN(b, bus, backlog, 6, "bench.noop")
				pubDur += time.Since(start)
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				drainStart := time.Now()
				go func() { _ = bus.Serve(ctx, LaneIO, 4, h); close(done) }()
				waitDrained(b, bus, 5*time.Minute)
				drainDur += time.Since(drainStart)
				cancel()
				<-done
			}
			b.StopTimer()
			total := float64(backlog * b.N)
			b.ReportMetric(total/drainDur.Seconds(), "drain_tasks/s")
			b.ReportMetric(total/pubDur.Seconds(), "publish_tasks/s")
			b.ReportMetric(total/(pubDur+drainDur).Seconds(), "e2e_tasks/s")
			if handled.Load() != int64(total) {
				b.Fatalf("handled %d of %v", handled.Load(), total)
			}
		})
	}
}

// BenchmarkPriorityLatency measures how long a priority-1 task waits to start when
// 10,000 priority-6 tasks are pending and the lane's slots are busy with them.
func BenchmarkPriorityLatency(b *testing.B) {
	env := newEnv(b, "")
	bus := env.bus(b, nil)
	publishN(b, bus, 10000, 6, "bench.bulk")
	var mu sync.Mutex
	started := map[string]time.Time{}
	signal := make(chan string, 16)
	h := func(ctx context.Context, t *Task) (any, error) {
		if t.Type == "bench.urgent" {
			mu.Lock()
			started[t.ID] = time.Now()
			mu.Unlock()
			signal <- t.ID
			return nil, nil
		}
		time.Sleep(time.Millisecond) // busy slots: a slot frees up every ~0.5 ms
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = bus.Serve(ctx, LaneIO, 2, h) }()
	time.Sleep(50 * time.Millisecond)
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		at := time.Now()
		p, err := bus.Publish(context.Background(), Spec{Type: "bench.urgent", Priority: 1, Payload: map[string]any{"i": i}})
		if err != nil {
			b.Fatal(err)
		}
		published := time.Now()
		id := <-signal
		mu.Lock()
		st := started[id]
		mu.Unlock()
		if id != p.ID {
			b.Fatalf("started %s, want %s", id, p.ID)
		}
		_ = at
		lat = append(lat, st.Sub(published))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "median_ms")
	b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95_ms")
	depth, _ := bus.Depth(context.Background())
	for _, d := range depth {
		if d.Lane == LaneIO && d.Priority == 6 {
			b.ReportMetric(float64(d.Pending), "backlog_left")
		}
	}
}
