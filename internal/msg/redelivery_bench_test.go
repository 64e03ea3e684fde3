package msg

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"
)

// BenchmarkRedeliveryAfterKill measures how long a priority-1 task (a chat
// message) whose worker process is killed with SIGKILL mid-task waits until
// another worker starts it, with the default ack waits and idle wait. It
// reports the mean delay from the kill to the new start as s/redelivery.
//
//   - peer: the other worker was already serving the lane, idle (a second
//     Steward process, or another one on the same machine).
//   - restart: the other worker starts right after the kill (a service
//     manager restarting Steward at once).
//
// Run it with a small -benchtime, e.g. -benchtime=3x: each round waits out an
// ack wait.
func BenchmarkRedeliveryAfterKill(b *testing.B) {
	for _, scenario := range []string{"peer", "restart"} {
		b.Run(scenario, func(b *testing.B) {
			env := newEnv(b, "127.0.0.1:0")
			pub := defaultBus(b, env)
			var total time.Duration
			for i := 0; i < b.N; i++ {
				total += redeliveryAfterKill(b, env, pub, scenario == "peer")
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/redelivery")
		})
	}
}

// defaultBus connects to env's server with the default options.
func defaultBus(b *testing.B, env *testEnv) *Bus {
	b.Helper()
	bus, err := Connect(context.Background(), Options{Server: env.srv, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(bus.Close)
	return bus
}

// killMidTask waits a random time before a round's kill, up to the default
// idle wait, so the kill falls anywhere between the crash worker's heartbeats
// and the idle peer's looks.
func killMidTask() { time.Sleep(rand.N(5 * time.Second)) }

// redeliveryAfterKill runs one round: a crash worker takes a priority-1 task
// and is killed; it returns how long after the kill a worker of this process
// started the task.
func redeliveryAfterKill(b *testing.B, env *testEnv, pub *Bus, peer bool) time.Duration {
	b.Helper()
	rescuer := defaultBus(b, env)
	rescued := make(chan time.Time, 1)
	unblock := make(chan struct{})
	h := func(ctx context.Context, t *Task) (any, error) {
		if t.Type == "bench.block" {
			<-unblock
			return nil, nil
		}
		rescued <- time.Now()
		return nil, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	defer func() { cancel(); <-served }()
	serveRescuer := func() { go func() { served <- rescuer.Serve(ctx, LaneIO, 1, h) }() }

	if peer {
		// The peer serves before the task exists; its only slot is busy while
		// the crash worker takes the task, then idle.
		serveRescuer()
		blocker := mustPublish(b, pub, Spec{Type: "bench.block"})
		waitStatus(b, pub, blocker.ID, StateActive)
		w := startCrashWorker(b, env)
		p := mustPublish(b, pub, Spec{Type: "bench.chat", Priority: PriorityChat})
		w.expect(b, "started "+p.ID)
		close(unblock)
		waitStatus(b, pub, blocker.ID, StateDone)
		killMidTask()
		killed := time.Now()
		w.kill()
		return waitRescued(b, rescued, killed)
	}
	close(unblock)
	w := startCrashWorker(b, env)
	p := mustPublish(b, pub, Spec{Type: "bench.chat", Priority: PriorityChat})
	w.expect(b, "started "+p.ID)
	killMidTask()
	killed := time.Now()
	w.kill()
	serveRescuer()
	return waitRescued(b, rescued, killed)
}

func waitRescued(b *testing.B, rescued <-chan time.Time, killed time.Time) time.Duration {
	b.Helper()
	select {
	case at := <-rescued:
		return at.Sub(killed)
	case <-time.After(2 * time.Minute):
		b.Fatal("the task of the killed worker was never started again")
		return 0
	}
}
