// Package pipeline is the service that runs tasks: it serves the worker lanes (io,
// script and one llm_<profile> lane per LLM profile) and dispatches each task to
// the stage handler registered for its type — check → collect → classify →
// evaluate → act for platforms, plus service and script tasks.
//
// Stage handlers are registered by integrations through Register; a task whose type
// has no handler fails permanently with "Unknown task type: <type>". Script and
// service tasks pass the run-time safety gate first (Options.Guard, see
// service_gate.go), whoever published them. The pipeline
// owns no files: it talks to the rest of Steward only through internal/msg.
package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/msg"
)

// Default slot counts of the lanes that are not LLM lanes.
const (
	DefaultIOSlots     = 4
	DefaultScriptSlots = 2
)

// Lane is one worker pool the pipeline serves.
type Lane struct {
	Name  string
	Slots int
	// GlobalLimit bounds the LLM requests in flight from this lane across every
	// process (0 = none). LLM lanes set it to the profile's concurrency, so the
	// backend never sees more requests than configured however many machines
	// serve it. Handlers on such a lane get an llm.Gate in their context: each
	// request takes one of the lane's leases (msg.AcquireLease) while in flight.
	GlobalLimit int
}

// Options configure the pipeline service.
type Options struct {
	Bus    *msg.Bus
	Router *msg.Router
	// Lanes to serve; see Lanes for the usual set.
	Lanes  []Lane
	Logger *slog.Logger
	// Guard wraps the router's dispatch with the run-time safety gate of script
	// and service tasks: pass the engine's GuardTasks. nil = FailClosedGuard
	// (only rule-provenance scripts and services run), with a warning.
	Guard Guard
}

// Service runs the worker lanes.
type Service struct {
	o Options
}

// New returns the pipeline service.
func New(o Options) (*Service, error) {
	if o.Bus == nil || o.Router == nil {
		return nil, fmt.Errorf("pipeline: bus and router are required")
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	for _, l := range o.Lanes {
		if !msg.ValidLane(l.Name) || l.Slots < 1 {
			return nil, fmt.Errorf("pipeline: lane %q with %d slots: want a valid name and at least 1 slot", l.Name, l.Slots)
		}
	}
	if o.Guard == nil {
		o.Logger.Warn("pipeline: no run-time safety gate with the config: scripts and services run only from rule provenance " +
			"(set Options.Guard to the engine's GuardTasks)")
		o.Guard = FailClosedGuard(o.Bus, o.Logger)
	}
	return &Service{o: o}, nil
}

// Lanes returns the usual lane set: io, script, and llm_<profile> bounded by the
// profile's concurrency across every process (the most requests in flight to
// that LLM). An LLM lane has twice as many local slots as its bound (plus the
// express slot msg.ServeBounded adds for urgent tasks): a request holds its
// lease only while in flight, so while N tasks talk to the LLM, N more have
// loaded their item and rendered their prompt and wait for a lease, and the
// LLM never idles between calls.
func Lanes(llmConcurrency map[string]int) []Lane {
	lanes := []Lane{{Name: msg.LaneIO, Slots: DefaultIOSlots}, {Name: msg.LaneScript, Slots: DefaultScriptSlots}}
	names := make([]string, 0, len(llmConcurrency))
	for p := range llmConcurrency {
		names = append(names, p)
	}
	sort.Strings(names)
	for _, p := range names {
		slots := llmConcurrency[p]
		if slots < 1 {
			slots = 1
		}
		lanes = append(lanes, Lane{Name: msg.LLMLane(p), Slots: 2 * slots, GlobalLimit: slots})
	}
	return lanes
}

// Run serves every lane until ctx is cancelled, then lets in-flight tasks finish
// (bounded by the bus's shutdown grace) and returns.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errs := make(chan error, len(s.o.Lanes))
	for _, l := range s.o.Lanes {
		wg.Add(1)
		go func(l Lane) {
			defer wg.Done()
			s.o.Logger.Info("serving lane", "lane", l.Name, "slots", l.Slots, "global_limit", l.GlobalLimit)
			h := s.o.Guard(s.o.Router.Dispatch)
			if l.GlobalLimit > 0 {
				h = Gated(l.Name, h)
			}
			if err := s.o.Bus.ServeBounded(ctx, l.Name, l.Slots, l.GlobalLimit, h); err != nil {
				errs <- fmt.Errorf("lane %s: %w", l.Name, err)
			}
		}(l)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return err
	}
	return nil
}

// Gated wraps the handler of bounded lane lane (an llm_<profile> lane served
// with a global limit) so that every LLM request its tasks make passes the
// lane's lease: the request waits for one of the lane's global slots (in task
// priority order), holds it while in flight, and gives it back when the answer
// is in. A request for another profile than the lane's is refused: that
// profile's bound would not count it.
func Gated(lane string, h msg.Handler) msg.Handler {
	gate := func(ctx context.Context, profile string) (func(), error) {
		if want := msg.LLMLane(profile); want != lane {
			return nil, fmt.Errorf("%w: LLM profile %q is served by lane %s, not %s: its concurrency bound would not count this request",
				llm.ErrUngated, profile, want, lane)
		}
		return msg.AcquireLease(ctx)
	}
	return func(ctx context.Context, t *msg.Task) (any, error) {
		return h(llm.WithGate(ctx, gate), t)
	}
}
