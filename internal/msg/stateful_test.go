package msg

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// ledger counts, per task id, the handler runs that ended the task (success or
// permanent failure) across every worker and restart.
type ledger struct {
	mu    sync.Mutex
	final map[string]int
	runs  map[string]int
}

func (l *ledger) handler(ctx context.Context, t *Task) (any, error) {
	var p struct {
		Outcome string `json:"outcome"`
		Flaky   int    `json:"flaky"`
		SleepMS int    `json:"sleep_ms"`
	}
	if err := json.Unmarshal(t.Payload, &p); err != nil {
		return nil, Permanent(err)
	}
	time.Sleep(time.Duration(p.SleepMS) * time.Millisecond)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.runs[t.ID]++
	if t.Attempt <= p.Flaky {
		return nil, fmt.Errorf("transient failure %d", t.Attempt)
	}
	l.final[t.ID]++
	if p.Outcome == "fail" {
		return nil, Permanent(fmt.Errorf("permanent failure"))
	}
	return map[string]any{"ok": true}, nil
}

// A stateful property: interleaving publish, handling (success, transient and
// permanent failure) and restarts of the worker and of the server, every task
// ends exactly once in done or failed, with the handler ending it exactly once.
func TestStatefulEveryTaskEndsOnce(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		scope := &runScope{T: t}
		defer scope.close()
		t := scope
		env := newEnv(t, "")
		l := &ledger{final: map[string]int{}, runs: map[string]int{}}
		opts := func(o *Options) {
			o.MaxAttempts = 4
			o.Backoff = []time.Duration{5 * time.Millisecond}
			o.AckWait = 500 * time.Millisecond
			o.IdleWait = 50 * time.Millisecond
		}
		b := env.bus(t, opts)
		stop := serve(t, b, LaneIO, 2, l.handler)
		want := map[string]string{} // id → final state
		steps := rapid.IntRange(1, 12).Draw(rt, "steps")
		for i := 0; i < steps; i++ {
			switch rapid.SampledFrom([]string{"publish", "publish", "publish", "restart_worker", "restart_server"}).Draw(rt, "op") {
			case "publish":
				outcome := rapid.SampledFrom([]string{"ok", "fail"}).Draw(rt, "outcome")
				flaky := rapid.IntRange(0, 3).Draw(rt, "flaky")
				prio := rapid.IntRange(1, 9).Draw(rt, "prio")
				p, err := b.Publish(context.Background(), Spec{Type: "prop.task", Priority: prio,
					Payload: map[string]any{"outcome": outcome, "flaky": flaky, "sleep_ms": rapid.IntRange(0, 5).Draw(rt, "sleep"), "n": i}})
				if err != nil {
					rt.Fatal(err)
				}
				if outcome == "ok" {
					want[p.ID] = StateDone
				} else {
					want[p.ID] = StateFailed
				}
			case "restart_worker":
				stop()
				b.Close()
				b = env.bus(t, opts)
				stop = serve(t, b, LaneIO, rapid.IntRange(1, 3).Draw(rt, "slots"), l.handler)
			case "restart_server":
				stop()
				b.Close()
				env.restart(t)
				b = env.bus(t, opts)
				stop = serve(t, b, LaneIO, 2, l.handler)
			}
		}
		for id, state := range want {
			st := waitStatus(t, b, id, StateDone, StateFailed)
			if st.Status != state {
				rt.Fatalf("task %s ended %s, want %s (%+v)", id, st.Status, state, st)
			}
		}
		stop()
		l.mu.Lock()
		defer l.mu.Unlock()
		for id := range want {
			if l.final[id] != 1 {
				rt.Fatalf("task %s ended by the handler %d times", id, l.final[id])
			}
		}
		if len(l.final) != len(want) {
			rt.Fatalf("handler ended %d tasks, %d published", len(l.final), len(want))
		}
	})
}
