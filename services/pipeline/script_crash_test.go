package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
)

// TestMain lets the test binary double as a script worker process that
// TestIrreversibleScriptKilledWorker kills with SIGKILL while a script runs.
func TestMain(m *testing.M) {
	if url := os.Getenv("STEWARD_SCRIPT_CRASH_WORKER"); url != "" {
		scriptCrashWorker(url, os.Getenv("STEWARD_SCRIPT_CRASH_CREDS"))
		return
	}
	os.Exit(m.Run())
}

// scriptCrashAckWait is the ack wait of the crash test's consumers: a task
// whose worker died is redelivered this long after its last heartbeat.
const scriptCrashAckWait = time.Second

// scriptCrashWorker serves lane script with the engine's script.run handler
// (scriptConfig) on the server at url, says "ready" once connected, and runs
// until it is killed.
func scriptCrashWorker(url, creds string) {
	fail := func(err error) {
		fmt.Println("error:", err)
		os.Exit(2)
	}
	reg, err := manifest.NewRegistry(notesManifest())
	if err != nil {
		fail(err)
	}
	cfg, err := config.Parse([]byte(scriptConfig), "config.yaml", nil, config.LoadOptions{Registry: reg, Environ: []string{}})
	if err != nil {
		fail(err)
	}
	bus, err := msg.Connect(context.Background(), msg.Options{URL: url, Credentials: creds, Logger: quiet(),
		AckWait: scriptCrashAckWait, Lanes: []string{msg.LaneScript}})
	if err != nil {
		fail(err)
	}
	engine, err := NewEngine(EngineOptions{Config: func() *config.Config { return cfg }, Registry: reg, Bus: bus, Logger: quiet()})
	if err != nil {
		fail(err)
	}
	r := msg.NewRouter()
	engine.Register(r)
	svc, err := New(Options{Bus: bus, Router: r, Logger: quiet(), Guard: engine.GuardTasks, Lanes: []Lane{{Name: msg.LaneScript, Slots: 1}}})
	if err != nil {
		fail(err)
	}
	fmt.Println("ready")
	fail(svc.Run(context.Background()))
}

// TestIrreversibleScriptKilledWorker: the worker process running an
// irreversible script is killed with SIGKILL after the script did its work;
// the task is redelivered to a new worker, which does not run the script
// again: the task fails as interrupted and the file has one line.
func TestIrreversibleScriptKilledWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a process")
	}
	srv, err := msg.StartServer(context.Background(), msg.ServerOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	bus, err := msg.Connect(context.Background(), msg.Options{Server: srv, Logger: quiet(), IdleWait: 200 * time.Millisecond,
		AckWait: scriptCrashAckWait, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "STEWARD_SCRIPT_CRASH_WORKER="+srv.ClientURL(), "STEWARD_SCRIPT_CRASH_CREDS="+srv.NkeyFile())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	kill := func() {
		if !killed {
			killed = true
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}
	t.Cleanup(kill)
	ready := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case ready <- s.Text():
			default:
			}
		}
	}()
	select {
	case l := <-ready:
		if l != "ready" {
			t.Fatalf("worker said %q", l)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the worker never connected")
	}

	dir := t.TempDir()
	file, started, pidFile := filepath.Join(dir, "ran"), filepath.Join(dir, "started"), filepath.Join(dir, "pid")
	p, err := bus.Publish(context.Background(), msg.Spec{Type: "script.run", Lane: msg.LaneScript, Priority: msg.PriorityEvaluate,
		Provenance: msg.ProvenanceRule, Payload: map[string]any{"script_name": "append_then_hang",
			"item": "notes_mine.feed.d=0011223344556677", "inputs": map[string]any{"file": file, "started": started, "pid_file": pidFile}}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the script to start", func() bool {
		_, err := os.Stat(started)
		return err == nil
	})
	kill()
	// The script's process group outlives a SIGKILLed Steward (nothing is
	// left to enforce its timeout); end it here so the test leaves nothing.
	if b, err := os.ReadFile(pidFile); err == nil {
		if pgid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pgid > 1 {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}

	// A new worker takes the redelivered task up.
	reg := mustRegistry(t)
	cfg, err := config.Parse([]byte(scriptConfig), "config.yaml", nil, config.LoadOptions{Registry: reg, Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := NewEngine(EngineOptions{Config: func() *config.Config { return cfg }, Registry: reg, Bus: bus, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r := msg.NewRouter()
	engine.Register(r)
	svc, err := New(Options{Bus: bus, Router: r, Logger: quiet(), Guard: engine.GuardTasks, Lanes: []Lane{{Name: msg.LaneScript, Slots: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	var st *msg.Status
	waitFor(t, 60*time.Second, "the redelivered task to end", func() bool {
		s, err := bus.Status(context.Background(), p.ID)
		if err == nil && (s.Status == msg.StateDone || s.Status == msg.StateFailed) {
			st = s
			return true
		}
		return false
	})
	if st.Status != msg.StateFailed || !strings.Contains(st.Error, "interrupted") || st.Attempts != 2 {
		t.Errorf("task %s after %d attempts: %s", st.Status, st.Attempts, st.Error)
	}
	if got := lines(t, file); got != 1 {
		t.Errorf("the script ran %d times, want 1", got)
	}
}

func mustRegistry(t *testing.T) *manifest.Registry {
	t.Helper()
	reg, err := manifest.NewRegistry(notesManifest())
	if err != nil {
		t.Fatal(err)
	}
	return reg
}
