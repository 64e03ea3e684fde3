package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/stewardhq/steward/internal/testkit/natstest"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// every returns a schedule with the normalised expression.
func every(expr string) *config.Schedule { return &config.Schedule{Expr: expr} }

// platforms builds enabled platform blocks.
func platforms(names ...string) []config.Platform {
	out := make([]config.Platform, len(names))
	for i, n := range names {
		out[i] = config.Platform{Name: n}
	}
	return out
}

// testConfig has scheduled and unscheduled integrations of every shape.
func testConfig() *config.Config {
	return &config.Config{Integrations: []config.Integration{
		{Type: "email", Name: "personal", HasPlatforms: true, Platforms: platforms("inbox"),
			Schedule: &config.Schedule{Every: "30m", Expr: "*/30 * * * *"}},
		{Type: "github", Name: "my_repos", HasPlatforms: true, Platforms: platforms("pull_requests", "issues"),
			Schedule: &config.Schedule{Cron: "0 9 * * 1-5", Expr: "0 9 * * 1-5"}},
		// pull_requests: null.
		{Type: "github", Name: "issues_only", HasPlatforms: true, Platforms: platforms("issues"),
			Schedule: every("0 */2 * * *")},
		// No schedule.
		{Type: "email", Name: "manual", HasPlatforms: true, Platforms: platforms("inbox")},
		// Empty schedule.
		{Type: "email", Name: "empty", HasPlatforms: true, Platforms: platforms("inbox"), Schedule: every("")},
		// platforms: omitted.
		{Type: "email", Name: "bare", Schedule: every("* * * * *")},
		// A type without platforms.
		{Type: "gemini", Name: "research", Schedule: every("* * * * *")},
		// A platform without an entry task is skipped.
		{Type: "email", Name: "odd", HasPlatforms: true, Platforms: platforms("calendar", "inbox"),
			Schedule: every("15 6 * * *")},
	}}
}

// syncBuffer is a goroutine-safe buffer for captured output.
type syncBuffer = logbuf.Buffer

// connect opens a bus (its own NATS connection) on srv. policies nil = defaults.
func connect(t *testing.T, srv *msg.Server, policies func(string) msg.Policy) *msg.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := msg.Connect(ctx, msg.Options{
		Server:   srv,
		Logger:   slog.New(slog.DiscardHandler),
		Policies: policies,
		Lanes:    []string{msg.LaneIO},
	})
	if err != nil {
		t.Fatalf("connect bus: %v", err)
	}
	t.Cleanup(bus.Close)
	return bus
}

// noDedup turns the pending-duplicate policy off, leaving only the task-id dedup.
func noDedup(string) msg.Policy { return msg.Policy{DeduplicatePending: false} }

// newScheduler builds a scheduler for cfg on bus, in UTC.
func newScheduler(t *testing.T, cfg *config.Config, bus *msg.Bus, logs *syncBuffer) *Scheduler {
	t.Helper()
	var logger *slog.Logger
	if logs != nil {
		logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(Options{Config: cfg, Registry: builtin.Registry(), Bus: bus, Logger: logger, Location: time.UTC})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return s
}

// pendingIO counts the tasks waiting in lane io at priority 5.
// pendingIO counts the tasks waiting on lane io at priority 5. A consumer's
// pending count is updated asynchronously after a publish, so it reads until two
// readings 50 ms apart agree.
func pendingIO(t *testing.T, bus *msg.Bus) uint64 {
	t.Helper()
	read := func() uint64 {
		depth, err := bus.Depth(context.Background())
		if err != nil {
			t.Fatalf("Depth: %v", err)
		}
		var n uint64
		for _, d := range depth {
			if d.Lane == msg.LaneIO && d.Priority == msg.PriorityDefault {
				n += d.Pending
			}
		}
		return n
	}
	last := read()
	for i := 0; i < 40; i++ {
		time.Sleep(50 * time.Millisecond)
		n := read()
		if n == last {
			return n
		}
		last = n
	}
	return last
}

func TestJobs(t *testing.T) {
	tests := []struct {
		name string
		cfg  *config.Config
		want []Job // Next is checked separately
	}{
		{"nil config", nil, nil},
		{"no integrations", &config.Config{}, nil},
		{"every shape", testConfig(), []Job{
			{Name: "email.personal_inbox", Integration: "email.personal", Platform: "inbox",
				TaskType: "email.inbox.check", Expr: "*/30 * * * *"},
			{Name: "github.my_repos_pull_requests", Integration: "github.my_repos", Platform: "pull_requests",
				TaskType: "github.pull_requests.check", Expr: "0 9 * * 1-5"},
			{Name: "github.my_repos_issues", Integration: "github.my_repos", Platform: "issues",
				TaskType: "github.issues.check", Expr: "0 9 * * 1-5"},
			{Name: "github.issues_only_issues", Integration: "github.issues_only", Platform: "issues",
				TaskType: "github.issues.check", Expr: "0 */2 * * *"},
			{Name: "email.odd_inbox", Integration: "email.odd", Platform: "inbox",
				TaskType: "email.inbox.check", Expr: "15 6 * * *"},
		}},
		{"gemini only", &config.Config{Integrations: []config.Integration{
			{Type: "gemini", Name: "research", Schedule: every("*/5 * * * *")},
		}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &syncBuffer{}
			s := newScheduler(t, tt.cfg, nil, logs)
			before := time.Now()
			got := s.Jobs()
			if len(got) != len(tt.want) {
				t.Fatalf("got %d jobs, want %d: %+v", len(got), len(tt.want), got)
			}
			for i := range got {
				next := got[i].Next
				got[i].Next = time.Time{}
				if got[i] != tt.want[i] {
					t.Errorf("job %d = %+v, want %+v", i, got[i], tt.want[i])
				}
				if !next.After(before) || next.Location() != time.UTC || next.Second() != 0 {
					t.Errorf("job %s: Next = %v, want a whole minute in UTC after now", got[i].Name, next)
				}
			}
			if tt.name == "every shape" && !strings.Contains(logs.String(), "No entry task for email.calendar") {
				t.Errorf("no warning for the platform without entry task:\n%s", logs)
			}
		})
	}
}

func TestNextFollowsExpressionAndLocation(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skipf("no tz database: %v", err)
	}
	cfg := &config.Config{Integrations: []config.Integration{
		{Type: "email", Name: "personal", HasPlatforms: true, Platforms: platforms("inbox"), Schedule: every("15 6 * * *")},
	}}
	for _, loc := range []*time.Location{time.UTC, paris} {
		s, err := New(Options{Config: cfg, Registry: builtin.Registry(), Location: loc})
		if err != nil {
			t.Fatal(err)
		}
		next := s.Jobs()[0].Next
		if next.Location() != loc || next.Hour() != 6 || next.Minute() != 15 {
			t.Errorf("%s: Next = %v, want 06:15 local", loc, next)
		}
		if d := time.Until(next); d <= 0 || d > 24*time.Hour+time.Minute {
			t.Errorf("%s: Next = %v is not within the next day", loc, next)
		}
	}
}

func TestBadExpression(t *testing.T) {
	tests := []string{"61 * * * *", "* * *", "*/0 * * * *", "not cron", "TZ=UTC", "* * * * * * *"}
	for _, expr := range tests {
		t.Run(expr, func(t *testing.T) {
			cfg := &config.Config{Integrations: []config.Integration{
				{Type: "email", Name: "personal", HasPlatforms: true, Platforms: platforms("inbox"), Schedule: every(expr)},
			}}
			_, err := New(Options{Config: cfg, Registry: builtin.Registry()})
			if err == nil || !strings.Contains(err.Error(), "email.personal") {
				t.Errorf("New = %v, want an error naming email.personal", err)
			}
		})
	}
}

func TestGoodExpressions(t *testing.T) {
	// Expressions config's interval_to_cron produces, and typical cron: entries.
	for _, expr := range []string{"*/30 * * * *", "*/1 * * * *", "0 */2 * * *", "0 0 * * *", "5 4 * * sun", "0 9 * * 1-5", "0 0 1 jan *"} {
		if _, err := parseExpr(expr); err != nil {
			t.Errorf("parseExpr(%q) = %v", expr, err)
		}
	}
}

// TestExactIntervalFireTimes: `every: 45m` (expression "@every 45m") fires every
// 45 minutes, at instants that do not depend on when the scheduler started, so
// two schedulers (or a restarted one) fire at the same minute and their task ids
// agree. Clock-aligned expressions keep their times.
func TestExactIntervalFireTimes(t *testing.T) {
	start := time.Date(2026, 3, 10, 9, 7, 30, 0, time.UTC)
	tests := []struct {
		expr  string
		gaps  []time.Duration
		first time.Time
	}{
		{"@every 45m", []time.Duration{45 * time.Minute}, time.Date(2026, 3, 10, 9, 45, 0, 0, time.UTC)},
		{"@every 5h", []time.Duration{5 * time.Hour}, time.Time{}},
		{"*/15 * * * *", []time.Duration{15 * time.Minute}, time.Date(2026, 3, 10, 9, 15, 0, 0, time.UTC)},
		// What the reference made of every: 45m: two gaps, 45 and 15 minutes.
		{"*/45 * * * *", []time.Duration{15 * time.Minute, 45 * time.Minute}, time.Date(2026, 3, 10, 9, 45, 0, 0, time.UTC)},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			cfg := &config.Config{Integrations: []config.Integration{
				{Type: "email", Name: "personal", HasPlatforms: true, Platforms: platforms("inbox"), Schedule: every(tt.expr)},
			}}
			s, err := New(Options{Config: cfg, Registry: builtin.Registry(), Location: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			sched := s.jobs[0].schedule
			prev := sched.Next(start)
			if !tt.first.IsZero() && !prev.Equal(tt.first) {
				t.Errorf("first firing %v, want %v", prev, tt.first)
			}
			// A scheduler that started 17 minutes earlier fires at the same instants.
			other := sched.Next(start.Add(-17 * time.Minute))
			for !other.After(start) {
				other = sched.Next(other)
			}
			if !other.Equal(prev) {
				t.Errorf("a scheduler started 17 minutes earlier fires at %v, this one at %v", other, prev)
			}
			for i := 0; i < 100; i++ {
				next := sched.Next(prev)
				gap := next.Sub(prev)
				ok := false
				for _, g := range tt.gaps {
					ok = ok || gap == g
				}
				if !ok {
					t.Fatalf("fires at %v then %v: gap %v, want %v", prev, next, gap, tt.gaps)
				}
				prev = next
			}
			if j := s.Jobs()[0]; j.Expr != tt.expr || !j.Next.After(time.Now()) {
				t.Errorf("job = %+v", j)
			}
		})
	}
}

var taskIDShape = regexp.MustCompile(`^5_\d{8}T\d{6}Z_[0-9a-f]{16}$`)

func TestTaskID(t *testing.T) {
	noon := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	paris := time.FixedZone("CET", 3600)
	id := TaskID("email.personal_inbox", noon)
	if !taskIDShape.MatchString(id) || !strings.HasPrefix(id, "5_20260303T120000Z_") {
		t.Fatalf("TaskID = %q", id)
	}
	tests := []struct {
		name string
		job  string
		at   time.Time
		same bool
	}{
		{"same instant", "email.personal_inbox", noon, true},
		{"later in the minute", "email.personal_inbox", noon.Add(59*time.Second + 999*time.Millisecond), true},
		{"same instant elsewhere", "email.personal_inbox", noon.In(paris), true},
		{"next minute", "email.personal_inbox", noon.Add(time.Minute), false},
		{"previous minute", "email.personal_inbox", noon.Add(-time.Nanosecond), false},
		{"other job", "github.my_repos_issues", noon, false},
	}
	for _, tt := range tests {
		got := TaskID(tt.job, tt.at)
		if !taskIDShape.MatchString(got) {
			t.Errorf("%s: TaskID = %q has the wrong shape", tt.name, got)
		}
		if (got == id) != tt.same {
			t.Errorf("%s: TaskID = %q, reference %q, want same=%v", tt.name, got, id, tt.same)
		}
	}
}

func TestFirePublishesEntryTask(t *testing.T) {
	bus := connect(t, natstest.Server(t), nil)
	s := newScheduler(t, testConfig(), bus, nil)
	at := time.Date(2026, 3, 3, 12, 30, 0, 0, time.UTC)
	ctx := context.Background()

	tests := []struct {
		job      string
		taskType string
		payload  string
	}{
		{"email.personal_inbox", "email.inbox.check",
			`{"integration":"email.personal","platform":"inbox","type":"email.inbox.check"}`},
		{"github.my_repos_issues", "github.issues.check",
			`{"integration":"github.my_repos","platform":"issues","type":"github.issues.check"}`},
		{"github.my_repos_pull_requests", "github.pull_requests.check",
			`{"integration":"github.my_repos","platform":"pull_requests","type":"github.pull_requests.check"}`},
	}
	for _, tt := range tests {
		t.Run(tt.job, func(t *testing.T) {
			pub, err := s.Fire(ctx, tt.job, at)
			if err != nil {
				t.Fatalf("Fire: %v", err)
			}
			if pub.Skipped != "" || pub.ID != TaskID(tt.job, at) {
				t.Fatalf("Published = %+v, want id %s", pub, TaskID(tt.job, at))
			}
			st, err := bus.Status(ctx, pub.ID)
			if err != nil {
				t.Fatalf("Status: %v", err)
			}
			if st.Type != tt.taskType || st.Status != msg.StatePending || st.Priority != 5 || st.Lane != msg.LaneIO || st.Provenance != "" {
				t.Errorf("status = %+v", st)
			}
			var payload map[string]any
			if err := json.Unmarshal(st.Payload, &payload); err != nil {
				t.Fatal(err)
			}
			if b, _ := json.Marshal(payload); string(b) != tt.payload {
				t.Errorf("payload = %s, want %s", b, tt.payload)
			}
		})
	}
	if n := pendingIO(t, bus); n != uint64(len(tests)) {
		t.Errorf("%d tasks pending in io/5, want %d", n, len(tests))
	}
}

func TestFireAppliesDedupPolicy(t *testing.T) {
	// The default policy drops an identical entry task while one is pending:
	// the 12:30 firing is still waiting when the 13:00 one comes.
	bus := connect(t, natstest.Server(t), nil)
	s := newScheduler(t, testConfig(), bus, nil)
	ctx := context.Background()
	first, err := s.Fire(ctx, "email.personal_inbox", time.Date(2026, 3, 3, 12, 30, 0, 0, time.UTC))
	if err != nil || first.Skipped != "" {
		t.Fatalf("first Fire = %+v, %v", first, err)
	}
	second, err := s.Fire(ctx, "email.personal_inbox", time.Date(2026, 3, 3, 13, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	if second.Skipped != msg.SkipDuplicate {
		t.Errorf("second Fire = %+v, want skipped as duplicate", second)
	}
	if n := pendingIO(t, bus); n != 1 {
		t.Errorf("%d tasks pending, want 1", n)
	}
}

func TestTwoSchedulersOneTaskPerTick(t *testing.T) {
	// With the pending-duplicate policy off, only the per-tick task id keeps the
	// two schedulers from queueing a task each.
	srv := natstest.Server(t)
	busA, busB := connect(t, srv, noDedup), connect(t, srv, noDedup)
	a := newScheduler(t, testConfig(), busA, nil)
	b := newScheduler(t, testConfig(), busB, nil)
	ctx := context.Background()
	tick := time.Date(2026, 3, 3, 12, 30, 0, 0, time.UTC)

	pubA, err := a.Fire(ctx, "email.personal_inbox", tick.Add(120*time.Millisecond))
	if err != nil || pubA.Skipped != "" {
		t.Fatalf("scheduler A: %+v, %v", pubA, err)
	}
	pubB, err := b.Fire(ctx, "email.personal_inbox", tick.Add(850*time.Millisecond))
	if err != nil {
		t.Fatalf("scheduler B: %v", err)
	}
	if pubB.Skipped != msg.SkipDuplicate {
		t.Errorf("scheduler B = %+v, want skipped as duplicate", pubB)
	}
	if n := pendingIO(t, busA); n != 1 {
		t.Errorf("%d tasks pending after one tick, want 1", n)
	}

	// A different job on the same tick, and the next tick, are new tasks.
	if pub, err := b.Fire(ctx, "github.my_repos_issues", tick); err != nil || pub.Skipped != "" {
		t.Fatalf("other job: %+v, %v", pub, err)
	}
	if pub, err := b.Fire(ctx, "email.personal_inbox", tick.Add(30*time.Minute)); err != nil || pub.Skipped != "" {
		t.Fatalf("next tick: %+v, %v", pub, err)
	}
	if n := pendingIO(t, busA); n != 3 {
		t.Errorf("%d tasks pending, want 3", n)
	}
}

func TestFireErrors(t *testing.T) {
	s := newScheduler(t, testConfig(), nil, nil)
	if _, err := s.Fire(context.Background(), "email.nope_inbox", time.Now()); !errors.Is(err, ErrUnknownJob) {
		t.Errorf("unknown job: %v, want ErrUnknownJob", err)
	}
	if _, err := s.Fire(context.Background(), "email.personal_inbox", time.Now()); err == nil {
		t.Error("Fire without a bus succeeded")
	}
}

func TestJobFailureIsLogged(t *testing.T) {
	// A task type the bus refuses ("bad.in box.check") makes every firing fail.
	reg, err := manifest.NewRegistry(&manifest.Manifest{Type: "bad", Platforms: []manifest.Platform{{Name: "in box"}}})
	if err != nil {
		t.Fatal(err)
	}
	bus := connect(t, natstest.Server(t), nil)
	logs := &syncBuffer{}
	s, err := New(Options{
		Config: &config.Config{Integrations: []config.Integration{
			{Type: "bad", Name: "x", HasPlatforms: true, Platforms: platforms("in box"), Schedule: every("* * * * *")},
		}},
		Registry: reg,
		Bus:      bus,
		Logger:   slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the schedule goes on after a failure
		s.runJob(context.Background(), s.jobs[0].Job)
	}
	if got := strings.Count(logs.String(), "Job 'bad.x_in box' failed:"); got != 2 {
		t.Errorf("%d failures logged, want 2:\n%s", got, logs)
	}
}

func TestRunJobPublishes(t *testing.T) {
	bus := connect(t, natstest.Server(t), nil)
	logs := &syncBuffer{}
	s := newScheduler(t, testConfig(), bus, logs)
	s.runJob(context.Background(), s.jobs[0].Job)
	if n := pendingIO(t, bus); n != 1 {
		t.Errorf("%d tasks pending after a firing, want 1", n)
	}
	if !strings.Contains(logs.String(), "Scheduled task queued") {
		t.Errorf("firing not logged:\n%s", logs)
	}
}

func TestRunStopsOnCancel(t *testing.T) {
	bus := connect(t, natstest.Server(t), nil)
	s := newScheduler(t, testConfig(), bus, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	// Nothing runs at start.
	if n := pendingIO(t, bus); n != 0 {
		t.Errorf("%d tasks pending after start, want 0", n)
	}
}
