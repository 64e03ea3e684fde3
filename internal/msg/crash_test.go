package msg

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMain lets the test binary double as a worker process that the crash test
// kills with SIGKILL in the middle of a task.
func TestMain(m *testing.M) {
	if url := os.Getenv("STEWARD_MSG_CRASH_WORKER"); url != "" {
		crashWorker(url)
		return
	}
	os.Exit(m.Run())
}

// crashWorker serves lane io and announces each task it starts, then hangs in the
// handler until it is killed.
func crashWorker(url string) {
	b, err := Connect(context.Background(), Options{URL: url, Credentials: os.Getenv("STEWARD_MSG_CRASH_CREDS"),
		Logger: quietLogger(), AckWait: time.Second})
	if err != nil {
		fmt.Println("connect:", err)
		os.Exit(2)
	}
	_ = b.Serve(context.Background(), LaneIO, 1, func(ctx context.Context, t *Task) (any, error) {
		fmt.Println("started", t.ID)
		select {} // "mid-task" forever
	})
}

// A worker process killed mid-task: the task is redelivered to another worker and
// completes exactly once.
func TestWorkerKilledMidTask(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	env := newEnv(t, "127.0.0.1:0")
	b := env.bus(t, func(o *Options) { o.AckWait = time.Second })
	p := mustPublish(t, b, Spec{Type: "test.crash"})

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STEWARD_MSG_CRASH_WORKER="+env.srv.ClientURL(), "STEWARD_MSG_CRASH_CREDS="+env.srv.NkeyFile())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			line <- s.Text()
		}
		close(line)
	}()
	select {
	case l := <-line:
		if l != "started "+p.ID {
			t.Fatalf("worker said %q", l)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("worker never started the task")
	}
	if st := waitStatus(t, b, p.ID, StateActive); st.Attempts != 1 {
		t.Fatalf("%+v", st)
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()

	var mu sync.Mutex
	completions := map[string]int{}
	serve(t, b, LaneIO, 2, func(ctx context.Context, task *Task) (any, error) {
		mu.Lock()
		completions[task.ID]++
		mu.Unlock()
		return map[string]any{"attempt": task.Attempt}, nil
	})
	st := waitStatus(t, b, p.ID, StateDone)
	if st.Attempts != 2 || string(st.Result) != `{"attempt":2}` {
		t.Fatalf("%+v", st)
	}
	time.Sleep(1500 * time.Millisecond) // longer than AckWait: any stray redelivery would show
	mu.Lock()
	defer mu.Unlock()
	if completions[p.ID] != 1 {
		t.Fatalf("completed %d times", completions[p.ID])
	}
}

// A redelivered task whose outcome was already recorded (ack lost in a crash) is
// acknowledged without running the handler again.
func TestRedeliveryAfterRecordedOutcomeIsNotRerun(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.AckWait = time.Second })
	p := mustPublish(t, b, Spec{Type: "test.once"})
	// Simulate: the outcome is recorded, the process dies before the ack.
	cs, err := b.laneConsumers(context.Background(), LaneIO)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cs[PriorityDefault].FetchNoWait(1)
	if err != nil {
		t.Fatal(err)
	}
	var got bool
	for range batch.Messages() {
		got = true // delivered, never acked
	}
	if !got {
		t.Fatal("no message")
	}
	now := time.Now().UTC()
	st, _ := b.Status(context.Background(), p.ID)
	st.Status, st.CompletedAt = StateDone, &now
	if _, err := b.status.Put(context.Background(), p.ID, mustJSON(st)); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	serve(t, b, LaneIO, 1, func(ctx context.Context, task *Task) (any, error) { calls.Add(1); return nil, nil })
	deadline := time.Now().Add(10 * time.Second)
	for {
		info, _ := b.stream.Info(context.Background())
		if info.State.Msgs == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("message never acknowledged")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if calls.Load() != 0 {
		t.Fatalf("handler ran %d times", calls.Load())
	}
	if !strings.HasPrefix(p.ID, "5_") {
		t.Fatalf("id %s", p.ID)
	}
}
