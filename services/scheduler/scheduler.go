// Package scheduler turns the integrations' schedules into entry tasks.
//
// Each integration with a schedule gets one cron job per enabled platform, named
// "<integration id>_<platform>" (e.g. "email.personal_inbox"). When a job fires it
// publishes the platform's entry task through the queue policies, so an
// identical entry task still pending is not queued twice. Cron expressions are
// read in the scheduler's local time; an exact interval ("@every 45m", what
// `every: 45m` becomes) fires at multiples of the interval counted from midnight
// UTC (see config.ParseSchedule). Nothing runs at start and missed firings are
// not caught up.
//
// Several schedulers may run against one NATS: each firing has a task id derived
// from the job name and the scheduled minute, and JetStream drops the second
// publish of the same id, so one tick yields one task.
//
// The scheduler only publishes tasks; it never runs them and keeps no state of
// its own. A config change takes a new Scheduler.
package scheduler

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
)

// ErrUnknownJob is returned by Fire for a job name the scheduler does not have.
var ErrUnknownJob = errors.New("unknown job")

// fireTimeout bounds one firing's publish. It outlives Run's context so that a
// firing in progress at shutdown still completes.
const fireTimeout = 30 * time.Second

// Options are what a Scheduler needs.
type Options struct {
	// Config holds the integrations and their schedules.
	Config *config.Config
	// Registry holds the manifests, which name each platform's entry task.
	Registry *manifest.Registry
	// Bus publishes the entry tasks. It may be nil for a scheduler that only
	// lists its jobs; Fire then fails.
	Bus *msg.Bus
	// Logger receives firings and errors; nil discards them.
	Logger *slog.Logger
	// Location the cron expressions are read in; nil = time.Local.
	Location *time.Location
}

// Job describes one scheduled entry task.
type Job struct {
	// Name is "<integration id>_<platform>".
	Name        string
	Integration string
	Platform    string
	// TaskType is the entry task, e.g. "email.inbox.check".
	TaskType string
	// Expr is the 5-field cron expression, or "@every <interval>" for an exact
	// interval (see config.ParseSchedule).
	Expr string
	// Next is the next firing after now, in the scheduler's location.
	Next time.Time
}

// job is a Job with its parsed schedule.
type job struct {
	Job
	schedule cron.Schedule
}

// Scheduler runs the cron jobs of one config.
type Scheduler struct {
	bus    *msg.Bus
	log    *slog.Logger
	loc    *time.Location
	jobs   []job
	byName map[string]int
}

// New builds the jobs of every scheduled integration: one per enabled platform,
// in manifest order. A platform without an entry task is skipped with a warning;
// an expression that does not parse is an error naming the integration.
func New(o Options) (*Scheduler, error) {
	s := &Scheduler{
		bus:    o.Bus,
		log:    o.Logger,
		loc:    o.Location,
		byName: map[string]int{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.loc == nil {
		s.loc = time.Local
	}
	if o.Config == nil {
		return s, nil
	}
	for _, in := range o.Config.Integrations {
		if in.Schedule == nil || in.Schedule.Expr == "" || !in.HasPlatforms {
			continue
		}
		sched, err := parseExpr(in.Schedule.Expr)
		if err != nil {
			return nil, fmt.Errorf("scheduler: integration %s: schedule %q: %w", in.ID(), in.Schedule.Expr, err)
		}
		for _, p := range in.Platforms {
			taskType, ok := entryTask(o.Registry, in.Type, p.Name)
			if !ok {
				s.log.Warn(fmt.Sprintf("No entry task for %s.%s", in.Type, p.Name), "integration", in.ID())
				continue
			}
			name := in.ID() + "_" + p.Name
			if _, dup := s.byName[name]; dup {
				return nil, fmt.Errorf("scheduler: job %s declared twice", name)
			}
			s.byName[name] = len(s.jobs)
			s.jobs = append(s.jobs, job{
				Job: Job{
					Name:        name,
					Integration: in.ID(),
					Platform:    p.Name,
					TaskType:    taskType,
					Expr:        in.Schedule.Expr,
				},
				schedule: sched,
			})
		}
	}
	return s, nil
}

// Jobs lists the jobs in config order, each with its next firing from now.
func (s *Scheduler) Jobs() []Job {
	now := time.Now().In(s.loc)
	out := make([]Job, len(s.jobs))
	for i, j := range s.jobs {
		out[i] = j.Job
		out[i].Next = j.schedule.Next(now)
	}
	return out
}

// Run fires the jobs on their schedules until ctx is cancelled, then stops the
// cron and waits for firings in progress. It returns nil. Call it once.
func (s *Scheduler) Run(ctx context.Context) error {
	c := cron.New(cron.WithLocation(s.loc), cron.WithLogger(cronLogger{s.log}))
	for _, j := range s.jobs {
		c.Schedule(j.schedule, cron.FuncJob(func() { s.runJob(ctx, j.Job) }))
	}
	c.Start()
	s.log.Info("Scheduler started", "jobs", len(s.jobs), "location", s.loc.String())
	<-ctx.Done()
	<-c.Stop().Done()
	s.log.Info("Scheduler stopped")
	return nil
}

// Fire publishes the entry task of the named job as the firing scheduled at
// `at` would. Two calls for the same job and minute publish one task (the second
// returns Published.Skipped == msg.SkipDuplicate), as does a call while an
// identical entry task is still pending. Run calls it on every tick; tests and
// tools may call it directly.
func (s *Scheduler) Fire(ctx context.Context, name string, at time.Time) (msg.Published, error) {
	i, ok := s.byName[name]
	if !ok {
		return msg.Published{}, fmt.Errorf("scheduler: %w: %s", ErrUnknownJob, name)
	}
	if s.bus == nil {
		return msg.Published{}, errors.New("scheduler: no bus to publish on")
	}
	j := s.jobs[i]
	pub, err := s.bus.Publish(ctx, msg.Spec{
		ID:   TaskID(j.Name, at),
		Type: j.TaskType,
		Payload: map[string]any{
			"type":        j.TaskType,
			"integration": j.Integration,
			"platform":    j.Platform,
		},
		Priority:    msg.PriorityDefault,
		Lane:        msg.LaneIO,
		ApplyPolicy: true,
	})
	if err != nil {
		return msg.Published{}, fmt.Errorf("scheduler: publish %s: %w", j.TaskType, err)
	}
	return pub, nil
}

// TaskID is the id of the entry task a job publishes for the firing at `at`:
// "5_<YYYYMMDDTHHMMSSZ>_<16 hex>", where the time is the firing minute in UTC
// and the hex is the start of sha256("<job>|<minute RFC 3339>"). Every
// scheduler computes the same id for the same tick.
func TaskID(jobName string, at time.Time) string {
	minute := at.UTC().Truncate(time.Minute)
	sum := sha256.Sum256([]byte(jobName + "|" + minute.Format(time.RFC3339)))
	return fmt.Sprintf("%d_%s_%s", msg.PriorityDefault, minute.Format("20060102T150405Z"), hex.EncodeToString(sum[:])[:16])
}

// runJob is one cron firing. Errors and panics are logged and the schedule
// goes on.
func (s *Scheduler) runJob(ctx context.Context, j Job) {
	at := time.Now().In(s.loc)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error(fmt.Sprintf("Job '%s' failed: panic: %v", j.Name, r), "job", j.Name)
		}
	}()
	fireCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fireTimeout)
	defer cancel()

	s.log.Info("Running scheduled job", "job", j.Name, "type", j.TaskType)
	pub, err := s.Fire(fireCtx, j.Name, at)
	switch {
	case err != nil:
		s.log.Error(fmt.Sprintf("Job '%s' failed: %v", j.Name, err), "job", j.Name)
	case pub.Skipped != "":
		s.log.Info("Scheduled task not queued", "job", j.Name, "type", j.TaskType, "reason", pub.Skipped)
	default:
		s.log.Info("Scheduled task queued", "job", j.Name, "type", j.TaskType, "task_id", pub.ID)
	}
}

// entryTask returns the entry task type the manifest declares for a platform.
func entryTask(reg *manifest.Registry, integrationType, platform string) (string, bool) {
	m, ok := reg.Get(integrationType)
	if !ok {
		return "", false
	}
	p, ok := m.Platform(platform)
	if !ok {
		return "", false
	}
	return p.EntryTaskType(m.Type), true
}

// parseExpr parses a schedule expression with config.ParseSchedule: a standard
// 5-field cron expression (descriptors such as @daily are accepted too), or
// "@every <interval>", which fires at exactly that interval at instants that do
// not depend on when the scheduler started (so several schedulers agree).
func parseExpr(expr string) (cron.Schedule, error) {
	sched, err := config.ParseSchedule(expr)
	if err != nil {
		return nil, fmt.Errorf("invalid cron expression: %w", err)
	}
	return sched, nil
}

// cronLogger sends the cron library's logs to slog.
type cronLogger struct{ log *slog.Logger }

// Info logs the library's routine messages at debug level.
func (l cronLogger) Info(msg string, keysAndValues ...any) {
	l.log.Debug("cron: "+msg, keysAndValues...)
}

// Error logs the library's errors.
func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error("cron: "+msg, append(keysAndValues, "err", err)...)
}
