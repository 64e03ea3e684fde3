package chat

import (
	"context"
	"errors"
	"testing"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

func TestPollStates(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	if _, err := h.svc.Poll(ctx, "1_20260319T100000Z_abc12345--d3adb33f--chat.message"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown task: %v", err)
	}
	if _, err := h.svc.Poll(ctx, "../x"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad id: %v", err)
	}
	// A task nobody serves stays pending: exactly {"status":"pending"}.
	p, err := h.bus.Publish(ctx, msg.Spec{Type: "chat.message", Lane: "llm_nobody", Priority: 1,
		Payload: map[string]any{"conversation_id": h.create()}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := h.svc.Poll(ctx, p.ID)
	if err != nil || got.Status != "pending" || got.Messages != nil {
		t.Fatalf("%+v %v", got, err)
	}
	// A service task without a conversation: its text, from the task record.
	p, err = h.bus.Publish(ctx, msg.Spec{Type: "service.tools.echo", Lane: "io", Priority: 2, Provenance: msg.ProvenanceRule,
		Payload: map[string]any{"inputs": map[string]any{"text": "plain"}}})
	if err != nil {
		t.Fatal(err)
	}
	got = h.wait(p.ID)
	if got.Status != "done" || len(got.Messages) != 1 || got.Messages[0].Content != "echo: plain" || got.Messages[0].Role != "system" {
		t.Fatalf("%+v", got)
	}
	again, _ := h.svc.Poll(ctx, p.ID)
	if !equalJSON(got, again) {
		t.Fatal("differs")
	}
}

// Polling answers from persisted state: the same answers and Histories after
// the server and the service restart, and nothing is recorded twice.
func TestPollSameAfterRestart(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()

	var tasks []string
	// A plain reply.
	h.fake.FixedReply(llmfake.Text("plain answer"))
	plain := h.create()
	res := h.send(plain, "hi")
	h.wait(res.TaskID)
	tasks = append(tasks, res.TaskID)
	// A failed LLM call.
	h.fake.FixedReply(llmfake.Response{Status: 400, ErrorMessage: "no such model"})
	failed := h.create()
	res = h.send(failed, "hi")
	h.wait(res.TaskID)
	tasks = append(tasks, res.TaskID)
	// A proposal approved and done, another rejected.
	conv, pid := h.propose("service.tools.echo", map[string]any{"text": "x"})
	tasks = append(tasks, lastTask(t, h, conv))
	r, err := h.svc.Respond(ctx, conv, pid, "approve")
	if err != nil {
		t.Fatal(err)
	}
	h.wait(r.TaskID)
	tasks = append(tasks, r.TaskID)
	conv2, pid2 := h.propose("service.tools.echo", map[string]any{"text": "y"})
	if _, err := h.svc.Respond(ctx, conv2, pid2, "reject"); err != nil {
		t.Fatal(err)
	}
	// A reply whose conversation was cleared afterwards.
	h.fake.FixedReply(llmfake.Text("gone soon"))
	cleared := h.create()
	res = h.send(cleared, "hi")
	h.wait(res.TaskID)
	tasks = append(tasks, res.TaskID)
	h.send(cleared, "/clear")

	convs := []string{plain, failed, conv, conv2, cleared}
	before := snapshot(t, h, tasks, convs)
	// Poll twice before the restart too.
	if second := snapshot(t, h, tasks, convs); !equalJSON(before, second) {
		t.Fatal("a second poll changed something")
	}
	h.restart(false)
	after := snapshot(t, h, tasks, convs)
	if !equalJSON(before, after) {
		t.Fatalf("differs after restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if before.Polls[1].Status != "failed" || len(before.Histories[1]) != 2 {
		t.Fatalf("failed chat: %+v %+v", before.Polls[1], before.Histories[1])
	}
	if s := before.Polls[4]; s.Status != "done" || len(s.Messages) != 1 || s.Messages[0].Content != "gone soon" {
		t.Fatalf("cleared conversation's task: %+v", s)
	}
	if len(before.Histories[4]) != 0 {
		t.Fatal("cleared conversation has messages")
	}
}

type state struct {
	Polls     []PollResult
	Histories [][]Message
	List      []Conversation
}

func snapshot(t *testing.T, h *harness, tasks, convs []string) state {
	t.Helper()
	var s state
	for _, id := range tasks {
		p, err := h.svc.Poll(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		s.Polls = append(s.Polls, p)
	}
	for _, c := range convs {
		s.Histories = append(s.Histories, h.history(c))
	}
	var err error
	if s.List, err = h.svc.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// lastTask is the task id of the newest assistant reply of a conversation.
func lastTask(t *testing.T, h *harness, conv string) string {
	t.Helper()
	hist := h.history(conv)
	for i := len(hist) - 1; i >= 0; i-- {
		if hist[i].Role == "assistant" {
			return hist[i].Metadata["task_id"].(string)
		}
	}
	t.Fatal("no reply")
	return ""
}
