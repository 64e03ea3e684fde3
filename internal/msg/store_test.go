package msg

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStoreCRUDAndConflicts(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	ctx := context.Background()
	s := b.Items()
	type rec struct {
		N    int    `json:"n"`
		Name string `json:"name"`
	}
	var r rec
	if _, err := s.Get(ctx, "a.b", &r); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	rev, err := s.Create(ctx, "a.b", rec{N: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "a.b", rec{N: 2}); !errors.Is(err, ErrExists) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.Update(ctx, "a.b", rec{N: 3}, rev+100); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: %v", err)
	}
	if _, err := s.Update(ctx, "a.b", rec{N: 3}, rev); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "a.b", &r); err != nil || r.N != 3 {
		t.Fatalf("%v %+v", err, r)
	}
	if _, err := s.Put(ctx, "a.c", rec{Name: "x"}); err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys(ctx, "a.>")
	if err != nil || len(keys) != 2 {
		t.Fatalf("%v %v", keys, err)
	}
	if err := s.Delete(ctx, "a.c"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "a.never"); err != nil {
		t.Fatal(err)
	}
	// A deleted key can be created again (the ledger relies on Create semantics).
	if _, err := s.Create(ctx, "a.c", rec{}); err != nil {
		t.Fatal(err)
	}
}

// Concurrent Mutate calls never lose an increment.
func TestStoreMutateConcurrent(t *testing.T) {
	env := newEnv(t, "")
	b1 := env.bus(t, nil)
	b2 := env.bus(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			b := b1
			if i%2 == 0 {
				b = b2
			}
			var c struct{ N int }
			if err := b.Items().Mutate(ctx, "counter", &c, func(bool) error { c.N++; return nil }); err != nil {
				t.Error(err)
			}
		}(i)
	}
	wg.Wait()
	var c struct{ N int }
	if _, err := b1.Items().Get(ctx, "counter", &c); err != nil || c.N != 20 {
		t.Fatalf("%v %d", err, c.N)
	}
	stop := errors.New("stop")
	if err := b1.Items().Mutate(ctx, "counter", &c, func(bool) error { return stop }); !errors.Is(err, stop) {
		t.Fatal(err)
	}
}

func TestStoreWatch(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := b.Ledger()
	if _, err := s.Put(ctx, "x.1", map[string]any{"v": 1}); err != nil {
		t.Fatal(err)
	}
	changes := make(chan Change, 10)
	ready := make(chan struct{})
	go func() {
		_ = s.Watch(ctx, "x.>", func(c Change) { changes <- c }, func() { close(ready) })
	}()
	first := <-changes
	<-ready
	if first.Key != "x.1" || first.Deleted {
		t.Fatalf("%+v", first)
	}
	_ = s.Delete(ctx, "x.1")
	select {
	case c := <-changes:
		if !c.Deleted {
			t.Fatalf("%+v", c)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no delete seen")
	}
}

func TestEventsInOrderWithRetry(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, func(o *Options) { o.IdleWait = 200 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for i := 0; i < 5; i++ {
		if err := b.Emit(ctx, "audit.test", map[string]any{"i": i}, ""); err != nil {
			t.Fatal(err)
		}
	}
	// The same id twice is stored once.
	_ = b.Emit(ctx, "audit.test", map[string]any{"i": 5}, "ev-5")
	_ = b.Emit(ctx, "audit.test", map[string]any{"i": 5}, "ev-5")
	var mu sync.Mutex
	var got []string
	failedOnce := false
	done := make(chan struct{})
	go func() {
		_ = b.ConsumeEvents(ctx, StreamAudit, "test_journal", func(ctx context.Context, subject string, data []byte) error {
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(string(data), `"i":2`) && !failedOnce {
				failedOnce = true
				return errors.New("disk full")
			}
			got = append(got, string(data))
			if len(got) == 6 {
				close(done)
			}
			return nil
		})
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("got %v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, g := range got {
		if !strings.Contains(g, `"i":`+string(rune('0'+i))) {
			t.Fatalf("out of order: %v", got)
		}
	}
}
