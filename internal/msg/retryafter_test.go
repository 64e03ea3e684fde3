package msg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// RetryAfter marks an error the way Permanent does: errors.As finds it through
// wrapping, and the message and the wrapped error stay the handler's.
func TestRetryAfterDelay(t *testing.T) {
	limited := errors.New("429 Too Many Requests")
	cases := []struct {
		name      string
		err       error
		wantDelay time.Duration
		wantOK    bool
		deferral  bool // the worker defers rather than fails it
	}{
		{"nil", nil, 0, false, false},
		{"plain error", limited, 0, false, false},
		{"marked", RetryAfter(limited, 14*time.Minute), 14 * time.Minute, true, true},
		{"wrapped with %w", fmt.Errorf("search issues: %w", RetryAfter(limited, 3*time.Second)), 3 * time.Second, true, true},
		{"wrapped twice", fmt.Errorf("a: %w", fmt.Errorf("b: %w", RetryAfter(limited, time.Second))), time.Second, true, true},
		{"negative delay counts as 0", RetryAfter(limited, -time.Second), 0, true, true},
		{"permanent takes precedence", Permanent(RetryAfter(limited, time.Second)), time.Second, true, false},
		{"wrapped with %v loses the mark", fmt.Errorf("x: %v", RetryAfter(limited, time.Second)), 0, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d, ok := RetryAfterDelay(c.err)
			if d != c.wantDelay || ok != c.wantOK {
				t.Fatalf("RetryAfterDelay = %s, %v; want %s, %v", d, ok, c.wantDelay, c.wantOK)
			}
			if got := c.err != nil && isDeferral(c.err); got != c.deferral {
				t.Fatalf("isDeferral = %v, want %v", got, c.deferral)
			}
		})
	}
	if RetryAfter(nil, time.Second) != nil {
		t.Fatal("RetryAfter(nil) is not nil")
	}
	err := RetryAfter(limited, time.Second)
	if !errors.Is(err, limited) || err.Error() != limited.Error() {
		t.Fatalf("RetryAfter hides the error: %q, Is %v", err, errors.Is(err, limited))
	}
}

// step is what a scripted handler returns on one call.
type step int

const (
	stepOK    step = iota
	stepFail       // a transient failure
	stepDefer      // RetryAfter
)

// A handler that returns RetryAfter defers its task by that delay without
// consuming an attempt: MaxAttempts counts only real failures, the record says
// pending with next_attempt_at and a note between deferrals, and the deferrals
// are bounded by MaxDeferrals.
func TestRetryAfterDefersWithoutAttempts(t *testing.T) {
	const maxAttempts = 3
	rateLimited := errors.New("rate limited by the API")
	cases := []struct {
		name         string
		script       []step // the last step repeats
		hint         time.Duration
		maxDeferrals int
		wantDelay    time.Duration // the delay recorded (after the clamp)
		wantState    string
		wantAttempts []int // Task.Attempt of each call
		wantDeferred int
		wantRetried  int
		wantError    string // in the final record
	}{
		{
			name:         "ten deferrals then done",
			script:       []step{stepDefer, stepDefer, stepDefer, stepDefer, stepDefer, stepDefer, stepDefer, stepDefer, stepDefer, stepDefer, stepOK},
			hint:         300 * time.Millisecond,
			wantDelay:    300 * time.Millisecond,
			wantState:    StateDone,
			wantAttempts: []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
			wantDeferred: 10,
		},
		{
			name:         "two failures and five deferrals with three attempts",
			script:       []step{stepFail, stepDefer, stepDefer, stepFail, stepDefer, stepDefer, stepDefer, stepOK},
			hint:         300 * time.Millisecond,
			wantDelay:    300 * time.Millisecond,
			wantState:    StateDone,
			wantAttempts: []int{1, 2, 2, 2, 3, 3, 3, 3},
			wantDeferred: 5,
			wantRetried:  2,
		},
		{
			name:         "a hint of 0 waits the minimum",
			script:       []step{stepDefer, stepOK},
			hint:         0,
			wantDelay:    50 * time.Millisecond,
			wantState:    StateDone,
			wantAttempts: []int{1, 1},
			wantDeferred: 1,
		},
		{
			name:         "deferred past the bound fails",
			script:       []step{stepDefer},
			hint:         0,
			maxDeferrals: 4,
			wantDelay:    50 * time.Millisecond,
			wantState:    StateFailed,
			wantAttempts: []int{1, 1, 1, 1, 1},
			wantDeferred: 4,
			wantError:    "gave up after 4 deferrals",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := newEnv(t, "")
			metrics := NewMetrics(prometheus.NewRegistry())
			b := env.bus(t, func(o *Options) {
				o.MaxAttempts = maxAttempts
				o.MinRetryAfter = 50 * time.Millisecond
				o.MaxDeferrals = c.maxDeferrals
				o.Metrics = metrics
			})
			const typ = "test.ratelimited"
			id := NewTaskID(typ, PriorityDefault)
			records := watchRecords(t, b, id)

			var mu sync.Mutex
			var attempts []int
			serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) {
				mu.Lock()
				n := len(attempts)
				attempts = append(attempts, task.Attempt)
				mu.Unlock()
				switch c.script[min(n, len(c.script)-1)] {
				case stepFail:
					return nil, errors.New("boom")
				case stepDefer:
					return nil, fmt.Errorf("list issues: %w", RetryAfter(rateLimited, c.hint))
				}
				return "ok", nil
			})
			mustPublish(t, b, Spec{Type: typ, ID: id, Payload: map[string]any{}})
			final := waitStatus(t, b, id, StateDone, StateFailed)

			mu.Lock()
			gotAttempts := append([]int(nil), attempts...)
			mu.Unlock()
			if final.Status != c.wantState || final.Deferred != c.wantDeferred || !strings.Contains(final.Error, c.wantError) {
				t.Fatalf("final record %s, deferred %d, error %q; want %s, deferred %d, error with %q",
					final.Status, final.Deferred, final.Error, c.wantState, c.wantDeferred, c.wantError)
			}
			if c.wantState == StateFailed && !strings.Contains(final.Error, rateLimited.Error()) {
				t.Errorf("final error %q does not say what deferred the task", final.Error)
			}
			if want := c.wantAttempts[len(c.wantAttempts)-1]; final.Attempts != want {
				t.Errorf("final record: %d attempts, want %d", final.Attempts, want)
			}
			if fmt.Sprint(gotAttempts) != fmt.Sprint(c.wantAttempts) {
				t.Errorf("handler saw attempts %v, want %v", gotAttempts, c.wantAttempts)
			}

			// Every deferral left a pending record saying when and why, with no
			// error and no attempt spent; and none recorded more attempts than
			// the real failures allow.
			want := c.wantAttempts[len(c.wantAttempts)-1]
			var pending int
			for _, r := range records() {
				if r.Attempts > want {
					t.Errorf("a record counts %d attempts, want at most %d: %+v", r.Attempts, want, r)
				}
				if r.Status != StatePending || r.Deferred == 0 || r.Error != "" {
					continue
				}
				pending++
				if r.NextAttempt == nil || r.NextAttempt.Sub(r.UpdatedAt) != c.wantDelay {
					t.Errorf("deferral %d: next attempt %v, updated %v; want %s later", r.Deferred, r.NextAttempt, r.UpdatedAt, c.wantDelay)
				}
				if wantNote := "deferred: retry after " + c.wantDelay.String() + ": list issues: " + rateLimited.Error(); r.Note != wantNote {
					t.Errorf("deferral %d: note %q, want %q", r.Deferred, r.Note, wantNote)
				}
			}
			if pending != c.wantDeferred {
				t.Errorf("saw %d pending records of a deferral, want %d", pending, c.wantDeferred)
			}

			if got := testutil.ToFloat64(metrics.deferred.WithLabelValues(typ)); got != float64(c.wantDeferred) {
				t.Errorf("steward_tasks_deferred_total %v, want %d", got, c.wantDeferred)
			}
			if got := testutil.ToFloat64(metrics.retried.WithLabelValues(typ)); got != float64(c.wantRetried) {
				t.Errorf("steward_tasks_retried_total %v, want %d", got, c.wantRetried)
			}
		})
	}
}

// A hint longer than MaxRetryAfter defers the task by MaxRetryAfter.
func TestRetryAfterClampedToMax(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	id := NewTaskID("test.ratelimited", PriorityDefault)
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) {
		return nil, RetryAfter(errors.New("secondary rate limit"), 6*time.Hour)
	})
	mustPublish(t, b, Spec{Type: "test.ratelimited", ID: id, Payload: map[string]any{}})
	var st *Status
	waitFor(t, func() bool {
		s, err := b.Status(context.Background(), id)
		st = s
		return err == nil && s.Status == StatePending && s.Deferred == 1
	}, func() string { return fmt.Sprintf("last %+v", st) })
	if st.NextAttempt == nil || st.NextAttempt.Sub(st.UpdatedAt) != MaxRetryAfter || st.Attempts != 0 {
		t.Fatalf("next attempt %v after %v, attempts %d; want %s later, 0 attempts", st.NextAttempt, st.UpdatedAt, st.Attempts, MaxRetryAfter)
	}
}

// watchRecords records every revision of id's status record from now on; the
// returned function gives those seen so far.
func watchRecords(t *testing.T, b *Bus, id string) func() []Status {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := b.status.Watch(ctx, id, jetstream.UpdatesOnly())
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []Status
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			var st Status
			if json.Unmarshal(e.Value(), &st) == nil {
				mu.Lock()
				seen = append(seen, st)
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = w.Stop()
		<-done
	})
	return func() []Status {
		// The final record is read by the test before it asks; give the
		// watcher a bounded moment to deliver it too.
		deadline := time.Now().Add(2 * time.Second)
		for {
			mu.Lock()
			n := len(seen)
			last := Status{}
			if n > 0 {
				last = seen[n-1]
			}
			mu.Unlock()
			if last.Status == StateDone || last.Status == StateFailed || time.Now().After(deadline) {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]Status(nil), seen...)
	}
}
