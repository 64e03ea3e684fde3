package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// BenchmarkClassifyBacklog: 1,000 classify tasks against an LLM with 50 ms
// latency and concurrency 2. The ideal is 1000 × 50 ms / 2 = 25 s; it reports the
// total time, the LLM busy fraction (ideal / actual, and as the backend measured
// it: time with a request in flight / (2 × total)), the most concurrent
// requests the LLM saw, and how long a priority-1 task published mid-backlog on
// the same lane waited until it could send its LLM request.
func BenchmarkClassifyBacklog(b *testing.B) {
	const n = 1000
	const latency = 50 * time.Millisecond
	for i := 0; i < b.N; i++ {
		h := newHarness(b, 2, llmfake.WithFixedReply(llmfake.Auto()), llmfake.WithLatency(latency))
		var urgentPublished atomic.Int64
		urgentStarted := make(chan time.Time, 1)
		var classified atomic.Int64
		reached200 := make(chan struct{})
		allDone := make(chan struct{})
		extra := func(r *msg.Router) {
			// The urgent task "starts" when it may send its LLM request: when it
			// holds one of the lane's leases.
			r.Handle("bench.chat", func(ctx context.Context, t *msg.Task) (any, error) {
				release, err := msg.AcquireLease(ctx)
				if err != nil {
					return nil, err
				}
				urgentStarted <- time.Now()
				release()
				return nil, nil
			})
			// Count finished classifications without polling anything.
			r.Handle("notes.feed.classify", func(ctx context.Context, t *msg.Task) (any, error) {
				res, err := h.engine.classify(ctx, t)
				if err == nil {
					switch classified.Add(1) {
					case 200:
						close(reached200)
					case n:
						close(allDone)
					}
				}
				return res, err
			})
		}
		// Items and their classify tasks exist before the workers start: a backlog.
		for k := 0; k < n; k++ {
			h.addItem(fmt.Sprintf("k%04d", k), map[string]any{"author": "x"}, "body")
		}
		b.ResetTimer()
		start := time.Now()
		h.start(extra)
		// Mid-backlog: after ~200 classifications, a priority-1 task on the lane.
		<-reached200
		urgentPublished.Store(time.Now().UnixNano())
		if _, err := h.bus.Publish(context.Background(), msg.Spec{Type: "bench.chat", Lane: "llm_default", Priority: msg.PriorityChat}); err != nil {
			b.Fatal(err)
		}
		wait := (<-urgentStarted).Sub(time.Unix(0, urgentPublished.Load()))
		select {
		case <-allDone:
		case <-time.After(5 * time.Minute):
			b.Fatalf("only %d of %d classified", classified.Load(), n)
		}
		total := time.Since(start)
		b.StopTimer()
		ideal := time.Duration(n) * latency / 2
		b.ReportMetric(total.Seconds(), "total_s")
		b.ReportMetric(100*ideal.Seconds()/total.Seconds(), "llm_busy_%")
		// The same, as the backend saw it: time with a request in flight per slot.
		b.ReportMetric(100*h.fake.Busy().Seconds()/(2*total.Seconds()), "backend_busy_%")
		b.ReportMetric(float64(h.fake.MaxConcurrent()), "max_concurrent")
		b.ReportMetric(float64(wait.Microseconds())/1000, "prio1_wait_ms")
		if calls := len(h.fake.Requests()); calls != n {
			b.Fatalf("%d LLM calls for %d items", calls, n)
		}
		h.stop()
	}
}
