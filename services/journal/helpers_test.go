package journal

import (
	"context"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// testServer is an embedded NATS server with its store in a temp dir.
func testServer(t *testing.T) *msg.Server {
	t.Helper()
	srv, err := msg.StartServer(context.Background(), msg.ServerOptions{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}

// syncBuffer is a goroutine-safe buffer for captured output.
type syncBuffer = logbuf.Buffer

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testBus connects to srv; logs go to sink when given.
func testBus(t *testing.T, srv *msg.Server, sink io.Writer) *msg.Bus {
	t.Helper()
	log := quietLogger()
	if sink != nil {
		log = slog.New(slog.NewTextHandler(sink, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: log, AckWait: 2 * time.Second,
		IdleWait: 200 * time.Millisecond, ShutdownGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// doneEntry is one report of the journal's test hook.
type doneEntry struct {
	kind, key string
	err       error
}

// doneLog records what the journal finished with.
type doneLog struct {
	mu      sync.Mutex
	entries []doneEntry
}

func (d *doneLog) add(kind, key string, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.entries = append(d.entries, doneEntry{kind, key, err})
}

func (d *doneLog) count(kind, key string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for _, e := range d.entries {
		if e.kind == kind && e.key == key {
			n++
		}
	}
	return n
}

func (d *doneLog) last(kind, key string) (doneEntry, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for i := len(d.entries) - 1; i >= 0; i-- {
		if e := d.entries[i]; e.kind == kind && e.key == key {
			return e, true
		}
	}
	return doneEntry{}, false
}

// running is a journal running in the background.
type running struct {
	j    *Journal
	done *doneLog
	stop func()
}

// startJournal runs a journal on bus until the test ends or stop is called.
func startJournal(t *testing.T, o Options) *running {
	t.Helper()
	if o.Logger == nil {
		o.Logger = quietLogger()
	}
	j, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r := &running{j: j, done: &doneLog{}}
	j.processed = r.done.add
	j.retryMin, j.retryMax = 20*time.Millisecond, 200*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	finished := make(chan error, 1)
	go func() { finished <- j.Run(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-finished:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Run did not return after cancel")
			}
		})
	}
	t.Cleanup(r.stop)
	return r
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readFile returns the file's content, "" when missing.
func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return string(data)
}

// fileHas waits until path holds exactly want.
func fileHas(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := readFile(t, path)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s:\n%s\nwant:\n%s", path, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pathExists(t *testing.T, path string) bool {
	t.Helper()
	_, err := os.Lstat(path)
	return err == nil
}

func lines(s string) int { return strings.Count(s, "\n") }
