package msg

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Consumers get the ack wait of their priority, and consumers an earlier
// version made (30s everywhere) are brought to it in place, idempotently.
func TestAckWaitPerPriorityProvisioned(t *testing.T) {
	env := newEnv(t, "")
	lanes := func(o *Options) { o.Lanes = []string{LaneIO} }
	check := func(t *testing.T, b *Bus, urgent, background time.Duration) {
		t.Helper()
		for p := MinPriority; p <= MaxPriority; p++ {
			c, err := b.js.Consumer(context.Background(), StreamTasks, consumerName(LaneIO, p))
			if err != nil {
				t.Fatal(err)
			}
			info, err := c.Info(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := background
			if p <= PriorityChatAction {
				want = urgent
			}
			if info.Config.AckWait != want || b.ackWait(p) != want {
				t.Errorf("priority %d: consumer ack wait %s, worker's %s, want %s", p, info.Config.AckWait, b.ackWait(p), want)
			}
		}
	}
	// As an earlier version left them.
	check(t, env.bus(t, func(o *Options) { lanes(o); o.AckWait, o.UrgentAckWait = 30*time.Second, 30*time.Second }),
		30*time.Second, 30*time.Second)
	cases := []struct {
		name                     string
		ackWait, urgentAckWait   time.Duration
		wantUrgent, wantBackgrnd time.Duration
	}{
		{"defaults", 0, 0, DefaultUrgentAckWait, DefaultAckWait},
		{"defaults again (nothing to change)", 0, 0, DefaultUrgentAckWait, DefaultAckWait},
		{"both set", 20 * time.Second, 3 * time.Second, 3 * time.Second, 20 * time.Second},
		{"ack wait below the urgent one bounds both", 2 * time.Second, 0, 2 * time.Second, 2 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := env.bus(t, func(o *Options) { lanes(o); o.AckWait, o.UrgentAckWait = c.ackWait, c.urgentAckWait })
			check(t, b, c.wantUrgent, c.wantBackgrnd)
		})
	}
}

// An active record whose heartbeat is older than StaleAfter ack waits of its
// priority is reported stale by Status and Tasks; its status stays "active".
func TestStaleActiveRecordReported(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.AckWait, o.UrgentAckWait = 2*time.Second, 500*time.Millisecond })
	now := time.Now().UTC()
	ago := func(d time.Duration) *time.Time { at := now.Add(-d); return &at }
	cases := []struct {
		name  string
		st    Status
		stale bool
	}{
		{"active with a fresh heartbeat", Status{Status: StateActive, Priority: PriorityClassify, StartedAt: ago(time.Hour), HeartbeatAt: ago(time.Second)}, false},
		{"active, heartbeat older than three ack waits", Status{Status: StateActive, Priority: PriorityClassify, StartedAt: ago(time.Hour), HeartbeatAt: ago(7 * time.Second)}, true},
		{"urgent, heartbeat older than three urgent ack waits", Status{Status: StateActive, Priority: PriorityChat, StartedAt: ago(time.Hour), HeartbeatAt: ago(2 * time.Second)}, true},
		{"background, same age, within its ack waits", Status{Status: StateActive, Priority: PriorityClassify, StartedAt: ago(time.Hour), HeartbeatAt: ago(2 * time.Second)}, false},
		{"no heartbeat (earlier version), started long ago", Status{Status: StateActive, Priority: PriorityDefault, StartedAt: ago(time.Hour)}, true},
		{"no heartbeat, just started", Status{Status: StateActive, Priority: PriorityDefault, StartedAt: ago(0)}, false},
		{"done long ago", Status{Status: StateDone, Priority: PriorityDefault, StartedAt: ago(time.Hour), HeartbeatAt: ago(time.Hour)}, false},
		{"pending long ago", Status{Status: StatePending, Priority: PriorityDefault}, false},
	}
	want := map[string]bool{}
	for _, c := range cases {
		st := c.st
		st.ID, st.Type, st.Lane = NewTaskID("test.stale", st.Priority), "test.stale", LaneIO
		st.CreatedAt, st.UpdatedAt = now.Add(-2*time.Hour), now.Add(-time.Hour)
		if _, err := b.status.Put(context.Background(), st.ID, mustJSON(st)); err != nil {
			t.Fatal(err)
		}
		want[st.ID] = c.stale
		t.Run(c.name, func(t *testing.T) {
			got, err := b.Status(context.Background(), st.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Stale != c.stale || got.Status != c.st.Status {
				t.Fatalf("status %s stale %v, want %s stale %v", got.Status, got.Stale, c.st.Status, c.stale)
			}
			// Clients that poll see the same status value, and a new field.
			raw := string(mustJSON(got))
			if !strings.Contains(raw, `"status":"`+c.st.Status+`"`) || strings.Contains(raw, `"stale":true`) != c.stale {
				t.Fatalf("JSON %s", raw)
			}
		})
	}
	list, err := b.Tasks(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != len(want) {
		t.Fatalf("listed %d tasks, want %d", len(list), len(want))
	}
	for _, st := range list {
		if st.Stale != want[st.ID] {
			t.Errorf("Tasks: %s (%s, priority %d) stale %v", st.ID, st.Status, st.Priority, st.Stale)
		}
	}
	stale, err := b.Tasks(context.Background(), func(s *Status) bool { return s.Stale })
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) != 3 {
		t.Fatalf("a filter on Stale kept %d tasks, want 3", len(stale))
	}
}

// A handler that runs for many ack waits is not redelivered, whatever it waits
// in: a sleep, a read(2) blocked in the kernel, a lease another task holds.
// Meanwhile its record's heartbeat moves on and it is never reported stale.
func TestHeartbeatsKeepLongTasks(t *testing.T) {
	const hold = 3500 * time.Millisecond // seven urgent ack waits
	cases := []struct {
		name string
		// wait blocks until release is closed (or the task's context ends).
		wait   func(t *testing.T, ctx context.Context, release <-chan struct{}) error
		leases bool
	}{
		{"sleeps", func(t *testing.T, ctx context.Context, release <-chan struct{}) error {
			<-release
			return nil
		}, false},
		{"blocked in read(2)", func(t *testing.T, ctx context.Context, release <-chan struct{}) error {
			var fds [2]int
			if err := syscall.Pipe(fds[:]); err != nil {
				return err
			}
			defer syscall.Close(fds[0])
			defer syscall.Close(fds[1])
			go func() { <-release; _, _ = syscall.Write(fds[1], []byte{1}) }()
			_, err := syscall.Read(fds[0], make([]byte, 1)) // a blocking fd: the thread sleeps in the kernel
			return err
		}, false},
		{"waits for a lease", func(t *testing.T, ctx context.Context, release <-chan struct{}) error {
			free, err := AcquireLease(ctx)
			if err != nil {
				return err
			}
			free()
			return nil
		}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, "")
			b := env.bus(t, func(o *Options) { o.AckWait, o.UrgentAckWait = 2*time.Second, 500*time.Millisecond })
			release := make(chan struct{})
			holding := make(chan struct{})
			var mu sync.Mutex
			runs := map[string]int{}
			h := func(ctx context.Context, task *Task) (any, error) {
				mu.Lock()
				runs[task.ID]++
				mu.Unlock()
				if task.Type == "test.holder" { // holds the lane's only lease
					free, err := AcquireLease(ctx)
					if err != nil {
						return nil, err
					}
					defer free()
					close(holding)
					<-release
					return nil, nil
				}
				return nil, c.wait(t, ctx, release)
			}
			ctx, cancel := context.WithCancel(context.Background())
			served := make(chan error, 1)
			limit := 0
			if c.leases {
				limit = 1
			}
			go func() { served <- b.ServeBounded(ctx, LaneIO, 2, limit, h) }()
			defer func() { cancel(); <-served }()
			var once sync.Once
			defer once.Do(func() { close(release) }) // on failure too: a read(2) ignores its context
			var ids []string
			if c.leases {
				ids = append(ids, mustPublish(t, b, Spec{Type: "test.holder", Priority: PriorityChat}).ID)
				<-holding
			}
			p := mustPublish(t, b, Spec{Type: "test.long", Priority: PriorityChat})
			ids = append(ids, p.ID)
			st := waitStatus(t, b, p.ID, StateActive)
			deadline := time.Now().Add(hold)
			var beats int
			for time.Now().Before(deadline) {
				got, err := b.Status(context.Background(), p.ID)
				if err != nil {
					t.Fatal(err)
				}
				if got.Status != StateActive || got.Stale {
					t.Fatalf("while it runs: %s stale %v", got.Status, got.Stale)
				}
				if got.HeartbeatAt != nil && got.HeartbeatAt.After(*st.StartedAt) {
					beats++
				}
				time.Sleep(50 * time.Millisecond)
			}
			if beats == 0 {
				t.Fatal("the record's heartbeat never moved")
			}
			once.Do(func() { close(release) })
			for _, id := range ids {
				if st := waitStatus(t, b, id, StateDone, StateFailed); st.Status != StateDone || st.Attempts != 1 {
					t.Fatalf("%s: %s after %d attempts (%s)", id, st.Status, st.Attempts, st.Error)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for _, id := range ids {
				if runs[id] != 1 {
					t.Fatalf("%s ran %d times", id, runs[id])
				}
			}
		})
	}
}

// A graceful shutdown that cuts a task short (the grace ran out, or it still
// waited for a lease) gives it back to the queue: the record says pending with
// no error and its attempts unchanged, and the next start runs it with the same
// attempt number, even when MaxAttempts would otherwise be spent.
func TestGracefulShutdownIsNotAnAttempt(t *testing.T) {
	cases := []struct {
		name        string
		maxAttempts int
		failFirst   bool // attempt 1 fails transiently before the shutdowns
		shutdowns   int
		leases      bool // the task waits for a lease another task holds
	}{
		{"grace runs out after a transient failure", 2, true, 1, false},
		{"grace runs out three times", 1, false, 3, false},
		{"waiting for a lease when the lane stops", 1, false, 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			env := newEnv(t, "")
			b := env.bus(t, func(o *Options) { o.MaxAttempts, o.ShutdownGrace = c.maxAttempts, 200*time.Millisecond })
			limit := 0
			if c.leases {
				limit = 1
			}
			run := func(h Handler) (stop func()) {
				ctx, cancel := context.WithCancel(context.Background())
				served := make(chan error, 1)
				go func() { served <- b.ServeBounded(ctx, LaneIO, 2, limit, h) }()
				return func() {
					cancel()
					if err := <-served; err != nil {
						t.Error(err)
					}
				}
			}
			var holder string
			if c.leases {
				holder = mustPublish(t, b, Spec{Type: "test.holder"}).ID
			}
			p := mustPublish(t, b, Spec{Type: "test.cut"})
			var failed atomic.Bool
			for round := 1; round <= c.shutdowns; round++ {
				started := make(chan struct{}, 1)
				holding := make(chan struct{})
				stop := run(func(ctx context.Context, task *Task) (any, error) {
					if task.Type == "test.holder" {
						free, err := AcquireLease(ctx)
						if err != nil {
							return nil, err
						}
						defer free()
						close(holding)
						<-ctx.Done() // until the grace runs out
						return nil, ctx.Err()
					}
					if c.failFirst && !failed.Swap(true) {
						return nil, errors.New("connection refused")
					}
					if c.leases {
						select {
						case <-holding:
						case <-ctx.Done():
							return nil, ctx.Err()
						}
						started <- struct{}{}
						free, err := AcquireLease(ctx) // waits until the lane stops
						if err != nil {
							return nil, err
						}
						free()
						return nil, nil
					}
					started <- struct{}{}
					<-ctx.Done()
					return nil, ctx.Err()
				})
				select {
				case <-started:
				case <-time.After(15 * time.Second):
					t.Fatal("the task never started")
				}
				stop()
				st, err := b.Status(context.Background(), p.ID)
				if err != nil {
					t.Fatal(err)
				}
				wantAttempts := 0
				if c.failFirst {
					wantAttempts = 1
				}
				if st.Status != StatePending || st.Error != "" || st.Attempts != wantAttempts || st.Returned != round ||
					st.Note == "" || st.StartedAt != nil || st.Stale {
					t.Fatalf("after shutdown %d: %+v", round, st)
				}
			}
			var mu sync.Mutex
			seen := map[string]int{}
			stop := run(func(ctx context.Context, task *Task) (any, error) {
				mu.Lock()
				seen[task.ID] = task.Attempt
				mu.Unlock()
				if c.leases {
					free, err := AcquireLease(ctx)
					if err != nil {
						return nil, err
					}
					defer free()
				}
				return nil, nil
			})
			defer stop()
			wantAttempt := 1
			if c.failFirst {
				wantAttempt = 2
			}
			st := waitStatus(t, b, p.ID, StateDone, StateFailed)
			if st.Status != StateDone || st.Attempts != wantAttempt || st.Returned != c.shutdowns || st.Error != "" || st.Note != "" {
				t.Fatalf("final record %+v", st)
			}
			if holder != "" {
				if st := waitStatus(t, b, holder, StateDone, StateFailed); st.Status != StateDone || st.Attempts != 1 {
					t.Fatalf("holder %+v", st)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if seen[p.ID] != wantAttempt {
				t.Fatalf("the handler saw attempt %d, want %d", seen[p.ID], wantAttempt)
			}
		})
	}
}

// A task that kills its worker process every time (SIGKILL, no outcome ever
// recorded) ends failed after MaxAttempts deliveries instead of looping: a
// crash counts as an attempt.
func TestPoisonTaskThatKillsItsWorkerEndsFailed(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	env := newEnv(t, "127.0.0.1:0")
	b := env.bus(t, func(o *Options) { o.AckWait, o.MaxAttempts = time.Second, 3 })
	p := mustPublish(t, b, Spec{Type: "test.poison", Priority: PriorityChat})
	starts := 0
	for spawn := 1; ; spawn++ {
		if spawn > 8 {
			st, _ := b.Status(context.Background(), p.ID)
			t.Fatalf("still looping after %d worker starts, %d runs: %+v", spawn-1, starts, st)
		}
		w := startCrashWorker(t, env, "STEWARD_MSG_CRASH_MODE=poison", "STEWARD_MSG_CRASH_ACKWAIT=1s", "STEWARD_MSG_CRASH_MAX_ATTEMPTS=3")
		ended := false
		for deadline := time.Now().Add(20 * time.Second); !ended && time.Now().Before(deadline); {
			select {
			case l, ok := <-w.lines:
				if !ok { // the worker killed itself
					ended = true
					continue
				}
				if l != "started "+p.ID {
					t.Fatalf("worker said %q", l)
				}
				starts++
			case <-time.After(20 * time.Millisecond):
				if st, err := b.Status(context.Background(), p.ID); err == nil && st.Status == StateFailed {
					w.kill()
					if starts != 3 || st.Attempts != 3 || !strings.Contains(st.Error, "without an outcome") {
						t.Fatalf("ran %d times; record %+v", starts, st)
					}
					return
				}
			}
		}
		w.kill()
	}
}

// A priority-1 task (a chat message) whose worker is killed with SIGKILL: while
// nothing runs it, its record still says active and is reported stale; then
// another worker takes it up and it completes exactly once, as attempt 2.
func TestUrgentTaskOfKilledWorkerPassesThroughStale(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	env := newEnv(t, "127.0.0.1:0")
	b := env.bus(t, func(o *Options) { o.AckWait = time.Second })
	p := mustPublish(t, b, Spec{Type: "test.chat", Priority: PriorityChat})
	w := startCrashWorker(t, env, "STEWARD_MSG_CRASH_ACKWAIT=1s")
	w.expect(t, "started "+p.ID)
	if st := waitStatus(t, b, p.ID, StateActive); st.Stale || st.Attempts != 1 {
		t.Fatalf("running: %+v", st)
	}
	w.kill()
	var st *Status
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		if st, err = b.Status(context.Background(), p.ID); err == nil && st.Stale {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never reported stale: %+v", st)
		}
	}
	var raw map[string]any
	if err := json.Unmarshal(mustJSON(st), &raw); err != nil || raw["status"] != StateActive || raw["stale"] != true {
		t.Fatalf("stale record as JSON: %v %v", raw, err)
	}

	var runs atomic.Int64
	serve(t, b, LaneIO, 2, func(ctx context.Context, task *Task) (any, error) {
		runs.Add(1)
		return map[string]any{"attempt": task.Attempt}, nil
	})
	st = waitStatus(t, b, p.ID, StateDone)
	if st.Attempts != 2 || st.Stale || string(st.Result) != `{"attempt":2}` {
		t.Fatalf("%+v", st)
	}
	time.Sleep(1500 * time.Millisecond) // longer than the ack wait: a stray redelivery would show
	if runs.Load() != 1 {
		t.Fatalf("ran %d times", runs.Load())
	}
}

// A task redelivered to the process that still runs it (its heartbeats came
// later than the consumer's ack wait: here the consumer was given a shorter
// one than the worker heartbeats for) is not run a second time there.
func TestRedeliveryWhileRunningHereIsNotRunTwice(t *testing.T) {
	env := newEnv(t, "")
	var logs logBuffer
	b := env.bus(t, func(o *Options) { o.AckWait, o.Logger = 3*time.Second, logs.logger() })
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	var runs atomic.Int64
	serve(t, b, LaneIO, 2, func(ctx context.Context, task *Task) (any, error) {
		runs.Add(1)
		select {
		case <-release:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	})
	p := mustPublish(t, b, Spec{Type: "test.slowbeat"})
	waitStatus(t, b, p.ID, StateActive)
	// Another process shortens the consumers' ack wait below the heartbeat
	// interval of b's workers (1s): the server redelivers the running task.
	env.bus(t, func(o *Options) { o.AckWait, o.Lanes = 300*time.Millisecond, []string{LaneIO} })
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(logs.String(), "not running it twice"); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no redelivery seen; runs %d", runs.Load())
		}
	}
	once.Do(func() { close(release) })
	if st := waitStatus(t, b, p.ID, StateDone, StateFailed); st.Status != StateDone || st.Attempts != 1 {
		t.Fatalf("%+v", st)
	}
	if n := runs.Load(); n != 1 {
		t.Fatalf("ran %d times", n)
	}
}
