package msg

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestPublishRunDone(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	p := mustPublish(t, b, Spec{Type: "test.echo", Payload: map[string]any{"n": 3}, Provenance: ProvenanceRule})
	if p.ID == "" || p.Skipped != "" {
		t.Fatalf("published %+v", p)
	}
	if !strings.HasPrefix(p.Subject, "tasks.io.5.test.echo.") {
		t.Fatalf("subject %s", p.Subject)
	}
	st, err := b.Status(context.Background(), p.ID)
	if err != nil || st.Status != StatePending {
		t.Fatalf("status before serve: %+v %v", st, err)
	}
	r := NewRouter()
	r.Handle("test.echo", func(ctx context.Context, task *Task) (any, error) {
		var in struct {
			N    int    `json:"n"`
			Type string `json:"type"`
		}
		if err := task.Decode(&in); err != nil {
			return nil, err
		}
		if task.Provenance != ProvenanceRule || in.Type != "test.echo" {
			return nil, Permanent(fmt.Errorf("bad task %+v", task))
		}
		return map[string]any{"double": in.N * 2}, nil
	})
	serve(t, b, LaneIO, 2, r.Dispatch)
	st = waitStatus(t, b, p.ID, StateDone, StateFailed)
	if st.Status != StateDone || string(st.Result) != `{"double":6}` || st.Attempts != 1 || st.CompletedAt == nil || st.StartedAt == nil {
		t.Fatalf("final status %+v", st)
	}
}

func TestUnknownTypeFailsPermanently(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	serve(t, b, LaneIO, 1, NewRouter().Dispatch)
	p := mustPublish(t, b, Spec{Type: "nonexistent.task.type"})
	st := waitStatus(t, b, p.ID, StateFailed, StateDone)
	if st.Status != StateFailed || st.Error != "Unknown task type: nonexistent.task.type" || st.Attempts != 1 {
		t.Fatalf("%+v", st)
	}
}

func TestPublishValidation(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	bad := []Spec{
		{Type: ""},
		{Type: "a..b"},
		{Type: "a.b c"},
		{Type: "a.*"},
		{Type: "ok", Priority: 10},
		{Type: "ok", Priority: -1},
		{Type: "ok", Lane: "bad.lane"},
		{Type: "ok", Provenance: "maybe"},
		{Type: "ok", ID: "has space"},
		{Type: "ok", Payload: map[string]any{"c": make(chan int)}},
	}
	for _, s := range bad {
		if _, err := b.Publish(context.Background(), s); err == nil {
			t.Errorf("Publish(%+v) accepted", s)
		}
	}
}

// A priority-1 task published after 1,000 priority-6 tasks is the next one started.
func TestStrictPriority(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	for i := 0; i < 1000; i++ {
		mustPublish(t, b, Spec{Type: "test.bulk", Priority: 6, Payload: map[string]any{"i": i}})
	}
	var mu sync.Mutex
	var order []string
	started := make(chan struct{})
	var once sync.Once
	release := make(chan struct{})
	h := func(ctx context.Context, task *Task) (any, error) {
		mu.Lock()
		order = append(order, task.Type)
		n := len(order)
		mu.Unlock()
		if n == 1 {
			once.Do(func() { close(started) })
			<-release
		}
		return nil, nil
	}
	serve(t, b, LaneIO, 1, h)
	<-started // the single slot is busy with a priority-6 task
	urgent := mustPublish(t, b, Spec{Type: "test.urgent", Priority: 1})
	close(release)
	waitStatus(t, b, urgent.ID, StateDone)
	mu.Lock()
	defer mu.Unlock()
	if len(order) < 2 || order[1] != "test.urgent" {
		t.Fatalf("second task started was %v, want test.urgent", order[:min(len(order), 3)])
	}
}

// A lane of N slots never runs more than N handlers.
func TestSlotBound(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	const slots, tasks = 3, 60
	var cur, peak, done atomic.Int64
	all := make(chan struct{})
	h := func(ctx context.Context, task *Task) (any, error) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		cur.Add(-1)
		if done.Add(1) == tasks {
			close(all)
		}
		return nil, nil
	}
	// Two Serve calls of the same lane in one process share nothing: each is its
	// own pool. The bound is per pool.
	serve(t, b, "bounded", slots, h)
	for i := 0; i < tasks; i++ {
		mustPublish(t, b, Spec{Type: "test.slot", Lane: "bounded", Payload: map[string]any{"i": i}})
	}
	select {
	case <-all:
	case <-time.After(20 * time.Second):
		t.Fatalf("only %d of %d done", done.Load(), tasks)
	}
	if peak.Load() > slots {
		t.Fatalf("peak concurrency %d > %d slots", peak.Load(), slots)
	}
	if peak.Load() < 2 {
		t.Fatalf("peak concurrency %d: slots never ran in parallel", peak.Load())
	}
}

func TestDedupPending(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	spec := Spec{Type: "email.inbox.check", Payload: map[string]any{"integration": "email.personal", "platform": "inbox"}, ApplyPolicy: true}
	first := mustPublish(t, b, spec)
	second := mustPublish(t, b, spec)
	if first.ID == "" || second.Skipped != SkipDuplicate || second.ID != "" {
		t.Fatalf("first %+v second %+v", first, second)
	}
	other := mustPublish(t, b, Spec{Type: "email.inbox.check", Payload: map[string]any{"integration": "email.work", "platform": "inbox"}, ApplyPolicy: true})
	if other.ID == "" {
		t.Fatalf("different payload refused: %+v", other)
	}
	// Manual triggers bypass policies: duplicates are accepted.
	m1 := mustPublish(t, b, Spec{Type: spec.Type, Payload: spec.Payload})
	m2 := mustPublish(t, b, Spec{Type: spec.Type, Payload: spec.Payload})
	if m1.ID == "" || m2.ID == "" || m1.ID == m2.ID {
		t.Fatalf("manual publishes %+v %+v", m1, m2)
	}
	// Once the pending one is done, the same payload is accepted again.
	serve(t, b, LaneIO, 1, func(context.Context, *Task) (any, error) { return nil, nil })
	waitStatus(t, b, first.ID, StateDone)
	again := mustPublish(t, b, spec)
	if again.ID == "" {
		t.Fatalf("after done: %+v", again)
	}
	// The refused duplicate left no status record behind.
	if _, err := b.Status(context.Background(), second.ID); !errors.Is(err, ErrNotFound) && second.ID != "" {
		t.Fatalf("status of skipped: %v", err)
	}
}

// A twin that has recorded its outcome but whose ack has not reached the stream
// yet (or never will: its worker crashed in between) is not pending work: it must
// not absorb a new identical task. A twin waiting to be retried still does.
func TestDedupIgnoresFinishedTwin(t *testing.T) {
	ctx := context.Background()
	env := newEnv(t, "")
	b := env.bus(t, nil)
	for _, outcome := range []string{StateDone, StateFailed, StatePending} {
		t.Run(outcome, func(t *testing.T) {
			spec := Spec{Type: "notes.feed.classify", Payload: map[string]any{"key": outcome}, ApplyPolicy: true}
			first := mustPublish(t, b, spec)
			st, err := b.Status(ctx, first.ID)
			if err != nil {
				t.Fatal(err)
			}
			st.Status = outcome // what the worker records just before its ack
			if _, err := b.status.Put(ctx, first.ID, mustJSON(st)); err != nil {
				t.Fatal(err)
			}
			again := mustPublish(t, b, spec)
			if outcome == StatePending {
				if again.Skipped != SkipDuplicate {
					t.Fatalf("pending twin did not absorb the duplicate: %+v", again)
				}
				return
			}
			if again.ID == "" || again.ID == first.ID {
				t.Fatalf("finished twin absorbed the new task: %+v", again)
			}
			m, err := b.stream.GetLastMsgForSubject(ctx, again.Subject)
			if err != nil {
				t.Fatal(err)
			}
			var rec record
			if err := json.Unmarshal(m.Data, &rec); err != nil || rec.ID != again.ID {
				t.Fatalf("subject holds %q (%v), want the new task %q", rec.ID, err, again.ID)
			}
			if st, err := b.Status(ctx, first.ID); err != nil || st.Status != outcome {
				t.Fatalf("the finished twin's record changed: %+v %v", st, err)
			}
		})
	}
}

func TestDedupDisabledByPolicy(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) {
		o.Policies = func(string) Policy { return Policy{DeduplicatePending: false} }
	})
	spec := Spec{Type: "t", Payload: map[string]any{"a": 1}, ApplyPolicy: true}
	if a, c := mustPublish(t, b, spec), mustPublish(t, b, spec); a.ID == "" || c.ID == "" {
		t.Fatalf("%+v %+v", a, c)
	}
}

func TestSameIDPublishedOnce(t *testing.T) {
	env := newEnv(t, "")
	b1 := env.bus(t, nil)
	b2 := env.bus(t, nil)
	spec := Spec{Type: "email.inbox.check", ID: "5_20260101T000000Z_00aa00aa00aa00aa", ApplyPolicy: true,
		Payload: map[string]any{"integration": "email.personal", "platform": "inbox"}}
	p1 := mustPublish(t, b1, spec)
	spec.Payload = map[string]any{"integration": "email.personal", "platform": "inbox"}
	p2 := mustPublish(t, b2, spec)
	if p1.ID != spec.ID || p2.Skipped != SkipDuplicate {
		t.Fatalf("%+v %+v", p1, p2)
	}
	info, err := b1.stream.Info(context.Background())
	if err != nil || info.State.Msgs != 1 {
		t.Fatalf("stream has %d msgs (%v)", info.State.Msgs, err)
	}
}

func rateLimited(max int, per time.Duration) func(string) Policy {
	return func(typ string) Policy {
		p := Policy{DeduplicatePending: false}
		if typ == "service.gemini.web_research" {
			p.RateLimit = &RateLimit{Max: max, Per: per, PerText: per.String()}
		}
		return p
	}
}

// The rate limit holds across two publishers and across a server restart.
func TestRateLimitGlobalAndDurable(t *testing.T) {
	env := newEnv(t, "")
	pol := rateLimited(3, time.Hour)
	b1 := env.bus(t, func(o *Options) { o.Policies = pol })
	b2 := env.bus(t, func(o *Options) { o.Policies = pol })
	var accepted, limited atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := b1
			if i%2 == 1 {
				b = b2
			}
			p, err := b.Publish(context.Background(), Spec{Type: "service.gemini.web_research", Payload: map[string]any{"i": i}, ApplyPolicy: true})
			if err != nil {
				t.Error(err)
				return
			}
			if p.Skipped == SkipRateLimited {
				limited.Add(1)
			} else if p.ID != "" {
				accepted.Add(1)
			}
		}(i)
	}
	wg.Wait()
	if accepted.Load() != 3 || limited.Load() != 5 {
		t.Fatalf("accepted %d limited %d, want 3/5", accepted.Load(), limited.Load())
	}
	// Other types are not limited; manual publishes bypass the limit.
	if p := mustPublish(t, b1, Spec{Type: "other", ApplyPolicy: true}); p.ID == "" {
		t.Fatal("other type limited")
	}
	if p := mustPublish(t, b1, Spec{Type: "service.gemini.web_research", Payload: map[string]any{"manual": true}}); p.ID == "" {
		t.Fatal("manual publish limited")
	}
	b1.Close()
	b2.Close()
	env.restart(t)
	b3 := env.bus(t, func(o *Options) { o.Policies = pol })
	if p := mustPublish(t, b3, Spec{Type: "service.gemini.web_research", Payload: map[string]any{"i": 99}, ApplyPolicy: true}); p.Skipped != SkipRateLimited {
		t.Fatalf("after restart: %+v", p)
	}
}

func TestRateLimitWindowSlides(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.Policies = rateLimited(1, 300*time.Millisecond) })
	spec := func(i int) Spec {
		return Spec{Type: "service.gemini.web_research", Payload: map[string]any{"i": i}, ApplyPolicy: true}
	}
	if p := mustPublish(t, b, spec(1)); p.ID == "" {
		t.Fatal("first refused")
	}
	if p := mustPublish(t, b, spec(2)); p.Skipped != SkipRateLimited {
		t.Fatalf("second %+v", p)
	}
	time.Sleep(350 * time.Millisecond)
	if p := mustPublish(t, b, spec(3)); p.ID == "" {
		t.Fatalf("after window %+v", p)
	}
}

func TestTransientRetryThenSuccess(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	var calls atomic.Int64
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) {
		if calls.Add(1) < 3 {
			return nil, errors.New("connection refused")
		}
		return map[string]any{"attempt": task.Attempt}, nil
	})
	p := mustPublish(t, b, Spec{Type: "test.flaky"})
	st := waitStatus(t, b, p.ID, StateDone, StateFailed)
	if st.Status != StateDone || st.Attempts != 3 || string(st.Result) != `{"attempt":3}` {
		t.Fatalf("%+v", st)
	}
}

func TestTransientGivesUpAfterMaxAttempts(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.MaxAttempts = 3 })
	var calls atomic.Int64
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) {
		calls.Add(1)
		return nil, errors.New("503 service unavailable")
	})
	p := mustPublish(t, b, Spec{Type: "test.down"})
	st := waitStatus(t, b, p.ID, StateFailed)
	if st.Attempts != 3 || calls.Load() != 3 || !strings.Contains(st.Error, "503 service unavailable") || !strings.Contains(st.Error, "3 attempts") {
		t.Fatalf("%+v calls=%d", st, calls.Load())
	}
}

func TestPermanentFailureRecordedAtOnce(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	var calls atomic.Int64
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) {
		calls.Add(1)
		return nil, Permanent(errors.New("bad payload: missing uid"))
	})
	p := mustPublish(t, b, Spec{Type: "test.bad"})
	st := waitStatus(t, b, p.ID, StateFailed)
	if st.Error != "bad payload: missing uid" || st.Attempts != 1 || st.FailedAt == nil || calls.Load() != 1 {
		t.Fatalf("%+v", st)
	}
	// The failed task keeps its full record.
	var payload map[string]any
	if err := json.Unmarshal(st.Payload, &payload); err != nil || payload["type"] != "test.bad" {
		t.Fatalf("payload %s", st.Payload)
	}
}

func TestHandlerPanicIsRecorded(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) { panic("boom") })
	p := mustPublish(t, b, Spec{Type: "test.panic"})
	st := waitStatus(t, b, p.ID, StateFailed)
	if !strings.Contains(st.Error, "boom") {
		t.Fatalf("%+v", st)
	}
}

// A message that is not a task record is recorded as failed with the reason and
// removed from the queue.
func TestMalformedMessageRecorded(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	var calls atomic.Int64
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) { calls.Add(1); return nil, nil })
	if _, err := b.js.Publish(context.Background(), "tasks.io.5.junk.x1", []byte("not json{"), jetstream.WithMsgID("junk-1")); err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, b, "junk-1", StateFailed)
	if !strings.Contains(st.Error, "malformed task message") || !strings.Contains(string(st.Payload), "not json{") || calls.Load() != 0 {
		t.Fatalf("%+v", st)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, _ := b.stream.Info(context.Background())
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("malformed message still in stream")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProvisionIdempotentAndIncompatible(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.Lanes = []string{LaneIO, "llm_default"} })
	b2 := env.bus(t, func(o *Options) { o.Lanes = []string{LaneIO} })
	depth, err := b2.Depth(context.Background())
	if err != nil || len(depth) != 18 {
		t.Fatalf("depth %v %v", depth, err)
	}
	_ = b
	// A TASKS stream with another retention policy is reported clearly.
	env2 := newEnv(t, "")
	nc, err := nats.Connect("", nats.InProcessServer(env2.srv.ns))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: StreamTasks, Subjects: []string{"tasks.>"}}); err != nil {
		t.Fatal(err)
	}
	_, err = Connect(context.Background(), Options{Server: env2.srv, Logger: quietLogger()})
	if err == nil || !strings.Contains(err.Error(), "incompatible") || !strings.Contains(err.Error(), "retention") {
		t.Fatalf("err = %v", err)
	}
}

func TestDepthCountsPending(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.Lanes = []string{LaneIO} })
	for i := 0; i < 4; i++ {
		mustPublish(t, b, Spec{Type: "x", Priority: 6, Payload: map[string]any{"i": i}})
	}
	mustPublish(t, b, Spec{Type: "x", Priority: 1})
	// A consumer's pending count is updated asynchronously after a publish.
	var got map[int]uint64
	deadline := time.Now().Add(5 * time.Second)
	for {
		depth, err := b.Depth(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = map[int]uint64{}
		for _, d := range depth {
			if d.Lane == LaneIO {
				got[d.Priority] = d.Pending
			}
		}
		if got[6] == 4 && got[1] == 1 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got[6] != 4 || got[1] != 1 || got[5] != 0 {
		t.Fatalf("%v", got)
	}
}

func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	started := make(chan struct{})
	var finished atomic.Bool
	stop := serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		finished.Store(true)
		return nil, nil
	})
	p := mustPublish(t, b, Spec{Type: "slow"})
	<-started
	stop()
	if !finished.Load() {
		t.Fatal("Serve returned before the in-flight handler finished")
	}
	if st := waitStatus(t, b, p.ID, StateDone); st.Status != StateDone {
		t.Fatal(st)
	}
}

func TestRedactURL(t *testing.T) {
	cases := map[string]string{
		"nats://pi:hunter2@127.0.0.1:4222":          "nats://pi:xxxxx@127.0.0.1:4222",
		"nats://s3cr3ttoken@host:4222":              "nats://xxxxx@host:4222",
		"nats://host:4222":                          "nats://host:4222",
		"nats://a:pw1@h1:4222,nats://b:pw2@h2:4222": "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222",
	}
	for in, want := range cases {
		if got := RedactURL(in); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
	_, err := Connect(context.Background(), Options{URL: "nats://pi:hunter2@127.0.0.1:1", Logger: quietLogger()})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("err = %v", err)
	}
}

func TestTasksListAndRetry(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	var fail atomic.Bool
	fail.Store(true)
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) {
		if task.Type == "t.flaky" && fail.Load() {
			return nil, Permanent(errors.New("remote said no"))
		}
		return map[string]any{"ok": true}, nil
	})
	okID := mustPublish(t, b, Spec{Type: "t.ok"}).ID
	bad := mustPublish(t, b, Spec{Type: "t.flaky", Priority: 7, Provenance: ProvenanceRule, Payload: map[string]any{"uid": 42}})
	waitStatus(t, b, okID, StateDone)
	waitStatus(t, b, bad.ID, StateFailed)

	all, err := b.Tasks(context.Background(), nil)
	if err != nil || len(all) != 2 || all[0].ID != okID {
		t.Fatalf("%v %v", all, err)
	}
	failed, _ := b.Tasks(context.Background(), func(s *Status) bool { return s.Status == StateFailed })
	if len(failed) != 1 || failed[0].ID != bad.ID {
		t.Fatalf("%v", failed)
	}
	if _, err := b.Retry(context.Background(), okID); err == nil {
		t.Fatal("retried a done task")
	}
	if _, err := b.Retry(context.Background(), "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	fail.Store(false)
	again, err := b.Retry(context.Background(), bad.ID)
	if err != nil {
		t.Fatal(err)
	}
	st := waitStatus(t, b, again.ID, StateDone)
	if st.Priority != 7 || st.Provenance != ProvenanceRule || !strings.Contains(string(st.Payload), `"uid":42`) {
		t.Fatalf("%+v", st)
	}
	old, _ := b.Status(context.Background(), bad.ID)
	if old.Status != StateFailed || old.RetriedAs != again.ID {
		t.Fatalf("%+v", old)
	}
	if _, err := b.Retry(context.Background(), bad.ID); err == nil {
		t.Fatal("retried twice")
	}
}
