package msg

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

// tb is the part of testing.TB the helpers need, so a rapid check can give
// each run its own cleanups.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Errorf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// runScope collects cleanups of one rapid run and runs them at its end.
type runScope struct {
	*testing.T
	fns []func()
}

func (s *runScope) Cleanup(f func()) { s.fns = append(s.fns, f) }

func (s *runScope) close() {
	for i := len(s.fns) - 1; i >= 0; i-- {
		s.fns[i]()
	}
}

// testEnv is an embedded NATS server with a store in a temp dir.
type testEnv struct {
	t      *testing.T
	dir    string
	listen string
	srv    *Server
}

func newEnv(t tb, listen string) *testEnv {
	t.Helper()
	e := &testEnv{dir: t.TempDir(), listen: listen}
	e.start(t)
	t.Cleanup(func() {
		if e.srv != nil {
			e.srv.Shutdown()
		}
	})
	return e
}

func (e *testEnv) start(t tb) {
	t.Helper()
	srv, err := StartServer(context.Background(), ServerOptions{StoreDir: e.dir, Listen: e.listen})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
}

// restart stops the server and starts a new one on the same store.
func (e *testEnv) restart(t tb) {
	t.Helper()
	e.srv.Shutdown()
	e.srv = nil
	e.start(t)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func (e *testEnv) bus(t tb, mod func(*Options)) *Bus {
	t.Helper()
	o := Options{Server: e.srv, Logger: quietLogger(), AckWait: 2 * time.Second,
		Backoff:       []time.Duration{10 * time.Millisecond, 20 * time.Millisecond, 40 * time.Millisecond},
		ShutdownGrace: 5 * time.Second, IdleWait: time.Second}
	if mod != nil {
		mod(&o)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := Connect(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

// serve runs b.Serve in the background until the test ends (or stop is called).
func serve(t tb, b *Bus, lane string, slots int, h Handler) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Serve(ctx, lane, slots, h) }()
	var stopped bool
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}
	t.Cleanup(stop)
	return stop
}

// waitStatus polls the status of id until it has one of the states or times out.
func waitStatus(t tb, b *Bus, id string, states ...string) *Status {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last *Status
	for time.Now().Before(deadline) {
		st, err := b.Status(context.Background(), id)
		if err == nil {
			last = st
			for _, s := range states {
				if st.Status == s {
					return st
				}
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("task %s never reached %v; last %+v", id, states, last)
	return nil
}

func mustPublish(t tb, b *Bus, s Spec) Published {
	t.Helper()
	p, err := b.Publish(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}
