package pipeline

import (
	"context"
	"github.com/stewardhq/steward/internal/testkit/natstest"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

func TestLanes(t *testing.T) {
	got := Lanes(map[string]int{"fast": 3, "default": 0})
	want := []Lane{{"io", DefaultIOSlots, 0}, {"script", DefaultScriptSlots, 0}, {"llm_default", 2, 1}, {"llm_fast", 6, 3}}
	if len(got) != len(want) {
		t.Fatalf("%v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("lane %d = %v, want %v", i, got[i], want[i])
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Fatal("no bus accepted")
	}
}

// The pipeline serves every lane: a task on each reaches its handler, and a type
// without a handler fails with the reference message.
func TestRunServesLanes(t *testing.T) {
	ctx := context.Background()
	srv := natstest.Server(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	r := msg.NewRouter()
	r.Handle("test.ok", func(ctx context.Context, t *msg.Task) (any, error) { return map[string]any{"lane": t.Lane}, nil })
	svc, err := New(Options{Bus: bus, Router: r, Lanes: Lanes(map[string]int{"default": 1}), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- svc.Run(runCtx) }()
	ids := map[string]string{}
	for _, lane := range []string{"io", "script", "llm_default"} {
		p, err := bus.Publish(ctx, msg.Spec{Type: "test.ok", Lane: lane})
		if err != nil {
			t.Fatal(err)
		}
		ids[lane] = p.ID
	}
	unknown, err := bus.Publish(ctx, msg.Spec{Type: "email.inbox.check"})
	if err != nil {
		t.Fatal(err)
	}
	wait := func(id string) *msg.Status {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			st, err := bus.Status(ctx, id)
			if err == nil && (st.Status == msg.StateDone || st.Status == msg.StateFailed) {
				return st
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("task %s not finished", id)
		return nil
	}
	for lane, id := range ids {
		st := wait(id)
		if st.Status != msg.StateDone || string(st.Result) != `{"lane":"`+lane+`"}` {
			t.Fatalf("%s: %+v", lane, st)
		}
	}
	if st := wait(unknown.ID); st.Status != msg.StateFailed || st.Error != "Unknown task type: email.inbox.check" {
		t.Fatalf("%+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
