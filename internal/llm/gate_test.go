package llm_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// gateLog records what a Gate saw: entries, releases, and whether a request
// reached the backend while no admission was held.
type gateLog struct {
	mu       sync.Mutex
	profiles []string
	held     int
	released []time.Time
}

func (g *gateLog) gate(err error) llm.Gate {
	return func(ctx context.Context, profile string) (func(), error) {
		if err != nil {
			return nil, err
		}
		g.mu.Lock()
		g.profiles = append(g.profiles, profile)
		g.held++
		g.mu.Unlock()
		return func() {
			g.mu.Lock()
			g.held--
			g.released = append(g.released, time.Now())
			g.mu.Unlock()
		}, nil
	}
}

func (g *gateLog) heldNow() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.held
}

// Each attempt of a structured turn enters the gate once, holds it while the
// request is in flight, and leaves it when the answer is in.
func TestGateAroundEveryRequest(t *testing.T) {
	var g gateLog
	var seenHeld []int
	var mu sync.Mutex
	srv := newFake(t, llmfake.WithReply(func(llmfake.Request) llmfake.Response {
		mu.Lock()
		seenHeld = append(seenHeld, g.heldNow())
		mu.Unlock()
		return llmfake.Auto()
	}))
	srv.Script(llmfake.Text("not json"), llmfake.Text(`{"human": 2}`))
	c := newClient(t, profile(srv.URL()), llm.RequireGate())
	ctx := llm.WithGate(context.Background(), g.gate(nil))
	if _, err := llm.NewConversation(c, "sys").SendStructured(ctx, "classify", mustSchema(t, classSchema)); err != nil {
		t.Fatal(err)
	}
	if len(g.profiles) != 3 || g.profiles[0] != "default" {
		t.Fatalf("gate entered for %v, want 3 × default (one per attempt)", g.profiles)
	}
	if len(g.released) != 3 || g.heldNow() != 0 {
		t.Fatalf("released %d times, %d still held", len(g.released), g.heldNow())
	}
	// The scripted replies bypass the reply function; the last request saw its
	// own admission held, and only its own.
	if len(seenHeld) != 1 || seenHeld[0] != 1 {
		t.Fatalf("admissions held while the backend answered: %v, want [1]", seenHeld)
	}
}

// A client that requires a gate refuses an ungated request before anything
// is sent; a client that does not require one sends it.
func TestRequireGate(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, profile(srv.URL()), llm.RequireGate())
	_, err := c.Complete(context.Background(), []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, nil)
	if !llm.IsPermanent(err) || !errors.Is(err, llm.ErrUngated) {
		t.Fatalf("err = %v, want a permanent ErrUngated", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests reached the backend", n)
	}
	free := newClient(t, profile(srv.URL()))
	if _, err := free.Complete(context.Background(), []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, nil); err != nil {
		t.Fatalf("ungated client: %v", err)
	}
}

// A gate that refuses for good (ErrUngated) is a permanent error; one that
// cannot admit the request now, or a caller that gives up while waiting at the
// gate, a transient one. None sends anything.
func TestGateErrors(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, profile(srv.URL()))
	var g gateLog
	refused := fmt.Errorf("%w: wrong lane", llm.ErrUngated)
	_, err := c.Complete(llm.WithGate(context.Background(), g.gate(refused)),
		[]llm.Message{{Role: llm.RoleUser, Content: "hi"}}, nil)
	if !llm.IsPermanent(err) || !errors.Is(err, llm.ErrUngated) {
		t.Fatalf("refused: err = %v", err)
	}
	notNow := errors.New("the lane is stopping")
	_, err = c.Complete(llm.WithGate(context.Background(), g.gate(notNow)),
		[]llm.Message{{Role: llm.RoleUser, Content: "hi"}}, nil)
	if !llm.IsTransient(err) || !errors.Is(err, notNow) {
		t.Fatalf("not admitted now: err = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	waiting := func(ctx context.Context, profile string) (func(), error) {
		cancel()
		<-ctx.Done()
		return nil, ctx.Err()
	}
	_, err = c.Complete(llm.WithGate(ctx, waiting), []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, nil)
	if !llm.IsTransient(err) || !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled at the gate: err = %v", err)
	}
	if n := len(srv.Requests()); n != 0 {
		t.Fatalf("%d requests reached the backend", n)
	}
}

// An abandoned request keeps its admission until the backend had time to
// notice, so the next request of the lane does not overlap with it.
func TestGateHeldThroughAbandonGrace(t *testing.T) {
	srv := newFake(t, llmfake.WithFixedReply(llmfake.Hang()))
	p := profile(srv.URL())
	p.Timeout = 100 * time.Millisecond
	c := newClient(t, p)
	var g gateLog
	start := time.Now()
	_, err := c.Complete(llm.WithGate(context.Background(), g.gate(nil)), []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, nil)
	if !errors.Is(err, llm.ErrTimeout) {
		t.Fatalf("err = %v", err)
	}
	if len(g.released) != 1 {
		t.Fatalf("released %d times", len(g.released))
	}
	// timeout (100 ms) + grace (250 ms): a lower bound, not a timing race.
	if held := g.released[0].Sub(start); held < 350*time.Millisecond {
		t.Fatalf("admission given back after %v, before the backend could notice the abandoned request", held)
	}
}
