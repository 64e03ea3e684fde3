package chat

import (
	"context"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

// A result.chat_reply route task (what the pipeline queues for a service
// task's chat_reply route) appends the result to its conversation once: a
// second route task for the same service task, or one after the chat wrapper
// delivered it, adds nothing.
func TestRouteReplyDeliversOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	conv := h.create()
	ctx := context.Background()
	tests := []struct {
		name, source string
		result       map[string]any
		want         string
	}{
		{"text", "7_20260303T142532Z_a1b2c3d4--deadbeef--service.tools.echo", map[string]any{"text": "Found 3 things"}, "Found 3 things"},
		{"content first", "7_20260303T142532Z_b1b2c3d4--deadbeef--service.tools.echo",
			map[string]any{"content": "from content", "structured": map[string]any{"reply": "from structured"}, "text": "from text"}, "from content"},
		{"structured reply", "7_20260303T142532Z_c1b2c3d4--deadbeef--service.tools.echo",
			map[string]any{"structured": map[string]any{"reply": "from structured"}, "text": "from text"}, "from structured"},
		{"nothing", "7_20260303T142532Z_d1b2c3d4--deadbeef--service.tools.echo", map[string]any{}, textCompleted},
	}
	for _, tt := range tests {
		for i := range 2 { // the second route task of the same source adds nothing
			p, err := h.bus.Publish(ctx, msg.Spec{Type: TaskRouteReply, Priority: msg.PriorityChatAction, Payload: map[string]any{
				"source": tt.source, "route": map[string]any{"type": RouteChatReply, "conversation_id": conv},
				"result": tt.result, "attempt": i}})
			if err != nil {
				t.Fatal(err)
			}
			waitTask(t, h.bus, p.ID)
		}
	}
	var got []string
	for _, m := range h.history(conv) {
		if m.Role == roleSystem && m.Type == typeSystem {
			got = append(got, m.Content)
		}
	}
	if len(got) != len(tests) {
		t.Fatalf("system messages = %q, want one per source task", got)
	}
	for i, tt := range tests {
		if got[i] != tt.want {
			t.Errorf("%s: message %q, want %q", tt.name, got[i], tt.want)
		}
	}
}

// A route to a conversation id that is not one fails permanently.
func TestRouteReplyBadConversation(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	p, err := h.bus.Publish(context.Background(), msg.Spec{Type: TaskRouteReply, Payload: map[string]any{
		"source": "x", "route": map[string]any{"type": RouteChatReply, "conversation_id": "../../etc"}, "result": map[string]any{}}})
	if err != nil {
		t.Fatal(err)
	}
	if st := waitTask(t, h.bus, p.ID); st.Status != msg.StateFailed || st.Attempts != 1 {
		t.Errorf("status %s after %d attempts, want failed at once", st.Status, st.Attempts)
	}
}

// waitTask waits for a task to end.
func waitTask(t *testing.T, bus *msg.Bus, id string) *msg.Status {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, err := bus.Status(context.Background(), id)
		if err == nil && (st.Status == msg.StateDone || st.Status == msg.StateFailed) {
			return st
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("task %s did not end", id)
	return nil
}

// An approved chat action served through the engine's guard: the chat wrapper
// delivers the result, the pipeline's result routing queues a
// result.chat_reply route task for the same conversation, and that route adds
// nothing: the result is in the conversation once, the service ran once.
func TestApprovedActionRoutedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{routed: true})
	ctx := context.Background()
	conv, pid := h.propose("service.tools.echo", map[string]any{"text": "hi there"})
	res, err := h.svc.Respond(ctx, conv, pid, "approve")
	if err != nil {
		t.Fatal(err)
	}
	if got := h.wait(res.TaskID); got.Status != "done" {
		t.Fatalf("%+v", got)
	}
	var route *msg.Status
	deadline := time.Now().Add(10 * time.Second)
	for route == nil && time.Now().Before(deadline) {
		list, err := h.bus.Tasks(ctx, func(s *msg.Status) bool { return s.Type == TaskRouteReply && s.Status == msg.StateDone })
		if err != nil {
			t.Fatal(err)
		}
		if len(list) == 1 {
			route = &list[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	if route == nil {
		t.Fatal("no result.chat_reply route task ended")
	}
	if string(route.Result) != `{"delivered":false,"reason":"already in the conversation"}` {
		t.Errorf("route result %s, want already delivered", route.Result)
	}
	count := 0
	for _, m := range h.history(conv) {
		if m.Content == "echo: hi there" {
			count++
		}
	}
	if count != 1 || h.echoCount() != 1 {
		t.Errorf("result stored %d times, service ran %d times; want 1 and 1", count, h.echoCount())
	}
}
