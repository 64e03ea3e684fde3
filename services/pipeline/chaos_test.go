package pipeline

import (
	"context"
	"fmt"
	"math/rand"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// Chaos: 30 % of LLM calls fail in mixed ways — HTTP 500, 429, a reply that is
// not JSON, a hang past the profile timeout — and every item is still classified
// and evaluated; no task is lost or failed.
func TestChaosLLMFailuresNothingLost(t *testing.T) {
	var mu sync.Mutex
	rng := rand.New(rand.NewSource(7))
	modes := map[string]int{}
	reply := func(r llmfake.Request) llmfake.Response {
		mu.Lock()
		defer mu.Unlock()
		if rng.Float64() < 0.30 {
			switch rng.Intn(4) {
			case 0:
				modes["500"]++
				return llmfake.HTTPError(500, "model crashed")
			case 1:
				modes["429"]++
				return llmfake.RateLimited(10 * time.Millisecond)
			case 2:
				modes["garbage"]++
				return llmfake.Text("sure! here is { not json")
			default:
				modes["hang"]++
				return llmfake.Hang()
			}
		}
		return llmfake.Auto()
	}
	h := newHarness(t, 2, llmfake.WithReply(reply))
	// A short per-request timeout so hangs cost little.
	h.setConfig(strings.Replace(fmt.Sprintf(baseConfig, h.fake.URL(), 2), "    concurrency: 2\n", "    concurrency: 2\n    timeout: 300ms\n", 1))
	h.start()
	const n = 40
	for i := 0; i < n; i++ {
		h.addItem(fmt.Sprintf("c%02d", i), map[string]any{"author": "someone"}, fmt.Sprintf("message %d", i))
	}
	waitFor(t, 90*time.Second, "all evaluations", func() bool {
		done := 0
		for _, s := range h.tasksOf("notes.feed.evaluate") {
			if s.Status == msg.StateDone {
				done++
			}
		}
		return done == n
	})
	for _, s := range h.tasksOf("notes.feed.classify") {
		if s.Status != msg.StateDone {
			t.Errorf("classify %s ended %s: %s", s.ID, s.Status, s.Error)
		}
	}
	for i := 0; i < n; i++ {
		if it := h.item(fmt.Sprintf("c%02d", i)); it.ClassificationHash == "" || len(it.Classification) != 2 {
			t.Errorf("item %d not classified: %+v", i, it.Classification)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, m := range []string{"500", "429", "garbage", "hang"} {
		if modes[m] == 0 {
			t.Errorf("failure mode %s never injected (%v)", m, modes)
		}
	}
	if got := h.fake.MaxConcurrent(); got > 2 {
		t.Fatalf("LLM saw %d concurrent requests, concurrency is 2", got)
	}
}

// Two worker processes (two connections, each serving the LLM lane with its own
// slots) against one LLM backend: the backend never sees more requests at once
// than llms.default.concurrency.
func TestLLMBoundAcrossTwoWorkers(t *testing.T) {
	h := newHarness(t, 2, llmfake.WithFixedReply(llmfake.Auto()), llmfake.WithLatency(30*time.Millisecond))
	h.start()
	// A second "process": its own connection, engine and lanes, same config.
	bus2 := h.connect()
	e2, err := NewEngine(EngineOptions{Config: h.config, Registry: h.reg, Integrations: nil, Bus: bus2, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	r2 := msg.NewRouter()
	e2.Register(r2)
	lanes := Lanes(map[string]int{"default": 2})
	for i := range lanes {
		if lanes[i].Name == "llm_default" {
			lanes[i].Slots = 4 // more local slots than the global bound
		}
	}
	svc2, err := New(Options{Bus: bus2, Router: r2, Lanes: lanes, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc2.Run(ctx) }()
	defer func() { cancel(); <-done }()

	const n = 30
	for i := 0; i < n; i++ {
		h.addItem(fmt.Sprintf("b%02d", i), map[string]any{"author": "x"}, "text")
	}
	waitFor(t, 60*time.Second, "all classified", func() bool {
		c := 0
		for _, s := range h.tasksOf("notes.feed.classify") {
			if s.Status == msg.StateDone {
				c++
			}
		}
		return c == n
	})
	if got := h.fake.MaxConcurrent(); got != 2 {
		t.Fatalf("max concurrent LLM requests %d, want exactly the bound 2", got)
	}
}
