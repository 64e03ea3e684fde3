package msg

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary double as a worker process that the crash tests
// kill with SIGKILL in the middle of a task.
func TestMain(m *testing.M) {
	if url := os.Getenv("STEWARD_MSG_CRASH_WORKER"); url != "" {
		crashWorker(url)
		return
	}
	os.Exit(m.Run())
}

// crashWorker serves lane io with one slot, says "ready" once connected and
// "started <id>" as each task starts. In mode "hang" (the default) the handler
// then hangs until the process is killed; in mode "poison" it kills its own
// process with SIGKILL. STEWARD_MSG_CRASH_ACKWAIT sets Options.AckWait ("" =
// the defaults), STEWARD_MSG_CRASH_MAX_ATTEMPTS Options.MaxAttempts.
func crashWorker(url string) {
	o := Options{URL: url, Credentials: os.Getenv("STEWARD_MSG_CRASH_CREDS"), Logger: quietLogger(), Lanes: []string{LaneIO}}
	if d, err := time.ParseDuration(os.Getenv("STEWARD_MSG_CRASH_ACKWAIT")); err == nil {
		o.AckWait = d
	}
	if n, err := strconv.Atoi(os.Getenv("STEWARD_MSG_CRASH_MAX_ATTEMPTS")); err == nil {
		o.MaxAttempts = n
	}
	b, err := Connect(context.Background(), o)
	if err != nil {
		fmt.Println("connect:", err)
		os.Exit(2)
	}
	fmt.Println("ready")
	poison := os.Getenv("STEWARD_MSG_CRASH_MODE") == "poison"
	_ = b.Serve(context.Background(), LaneIO, 1, func(ctx context.Context, t *Task) (any, error) {
		fmt.Println("started", t.ID)
		if poison {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		select {} // "mid-task" forever
	})
}

// crashProc is a worker process started by startCrashWorker.
type crashProc struct {
	cmd   *exec.Cmd
	lines chan string
}

// startCrashWorker starts the test binary as a crashWorker on env's server
// (which must listen on TCP), with extra "KEY=value" settings, and waits until
// it is connected. It is killed when the test ends.
func startCrashWorker(t tb, env *testEnv, settings ...string) *crashProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STEWARD_MSG_CRASH_WORKER="+env.srv.ClientURL(), "STEWARD_MSG_CRASH_CREDS="+env.srv.NkeyFile())
	cmd.Env = append(cmd.Env, settings...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &crashProc{cmd: cmd, lines: make(chan string, 16)}
	t.Cleanup(p.kill)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			p.lines <- s.Text()
		}
		close(p.lines)
	}()
	p.expect(t, "ready")
	return p
}

// expect waits for the worker's next line and fails unless it is want.
func (p *crashProc) expect(t tb, want string) {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			t.Fatalf("worker exited; want %q", want)
		}
		if l != want {
			t.Fatalf("worker said %q, want %q", l, want)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("worker never said %q", want)
	}
}

// kill kills the worker with SIGKILL (if it still runs) and reaps it.
func (p *crashProc) kill() {
	if p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
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

	worker := startCrashWorker(t, env, "STEWARD_MSG_CRASH_ACKWAIT=1s")
	worker.expect(t, "started "+p.ID)
	if st := waitStatus(t, b, p.ID, StateActive); st.Attempts != 1 {
		t.Fatalf("%+v", st)
	}
	worker.kill()

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
