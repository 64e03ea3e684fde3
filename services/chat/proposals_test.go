package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// propose makes the LLM propose action with params in a new conversation and
// returns the conversation and the card's proposal id.
func (h *harness) propose(action string, params map[string]any) (conv, pid string) {
	h.t.Helper()
	p, _ := json.Marshal(params)
	h.fake.FixedReply(llmfake.Text(fmt.Sprintf(`{"reply":"Shall I?","proposal":{"action":%q,"parameters":%s,"description":"Do %s"}}`, action, p, action)))
	conv = h.create()
	res := h.send(conv, "please do it")
	got := h.wait(res.TaskID)
	if len(got.Messages) != 2 {
		h.t.Fatalf("no card: %+v", got.Messages)
	}
	return conv, got.Messages[1].Metadata["proposal_id"].(string)
}

// cardStatus is the status History shows for a proposal.
func (h *harness) cardStatus(conv, pid string) string {
	h.t.Helper()
	for _, m := range h.history(conv) {
		if m.Type == "confirmation" && m.Metadata["proposal_id"] == pid {
			return m.Metadata["status"].(string)
		}
	}
	h.t.Fatalf("card %s not in history", pid)
	return ""
}

func TestApproveRunsServiceOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	conv, pid := h.propose("service.tools.echo", map[string]any{"text": "hi there"})
	res, err := h.svc.Respond(ctx, conv, pid, "approve")
	if err != nil {
		t.Fatal(err)
	}
	if res.TaskID == "" || res.Message.Content != "Processing..." || res.Message.Role != "system" || res.Message.Type != "system" ||
		res.Message.Metadata["reply_task_id"] != res.TaskID {
		t.Fatalf("%+v", res)
	}
	st, err := h.bus.Status(ctx, res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != "service.tools.echo" || st.Priority != msg.PriorityChatAction || st.Lane != msg.LaneIO || st.Provenance != msg.ProvenanceRule {
		t.Fatalf("task %s prio %d lane %s prov %s", st.Type, st.Priority, st.Lane, st.Provenance)
	}
	var payload map[string]any
	_ = json.Unmarshal(st.Payload, &payload)
	routes, _ := payload["on_result"].([]any)
	route, _ := routes[0].(map[string]any)
	if inputs, _ := payload["inputs"].(map[string]any); inputs["text"] != "hi there" || payload["option"] != "approve" ||
		route["type"] != "chat_reply" || route["conversation_id"] != conv || route["proposal_id"] != pid {
		t.Fatalf("payload %v", payload)
	}
	if _, has := payload["integration"]; has {
		t.Fatalf("integration set with no instance configured: %v", payload)
	}
	got := h.wait(res.TaskID)
	if got.Status != "done" || len(got.Messages) != 1 {
		t.Fatalf("%+v", got)
	}
	m := got.Messages[0]
	if m.Role != "system" || m.Type != "system" || m.Content != "echo: hi there" || m.Metadata["task_id"] != res.TaskID ||
		m.Metadata["proposal_id"] != pid || m.Metadata["status"] != "done" {
		t.Fatalf("result %+v", m)
	}
	again, _ := h.svc.Poll(ctx, res.TaskID)
	if !equalJSON(again, got) {
		t.Fatal("second poll differs")
	}
	count := 0
	for _, x := range h.history(conv) {
		if x.Content == "echo: hi there" {
			count++
		}
	}
	if count != 1 || h.echoCount() != 1 {
		t.Fatalf("result stored %d times, service ran %d times", count, h.echoCount())
	}
	if s := h.cardStatus(conv, pid); s != "done" {
		t.Fatalf("card status %s", s)
	}
	// Redelivery after the result was stored: the service does not run again.
	out, err := h.svc.wrapAction(func(context.Context, *msg.Task) (any, error) {
		t.Fatal("service ran again")
		return nil, nil
	})(ctx, &msg.Task{ID: res.TaskID, Type: st.Type, Payload: st.Payload, Attempt: 2, MaxAttempts: 3})
	if err != nil || out.(map[string]any)["text"] != "echo: hi there" {
		t.Fatalf("redelivery: %v %v", out, err)
	}
	_, err = h.svc.Respond(ctx, conv, pid, "approve")
	requestError(t, err, http.StatusBadRequest, "Proposal "+pid+" already responded to")
	_, err = h.svc.Respond(ctx, conv, pid, "reject")
	requestError(t, err, http.StatusBadRequest, "Proposal "+pid+" already responded to")
}

func TestRejectCancels(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	conv, pid := h.propose("service.tools.echo", map[string]any{"text": "no"})
	res, err := h.svc.Respond(ctx, conv, pid, "reject")
	if err != nil {
		t.Fatal(err)
	}
	if res.TaskID != "" || res.Message.Content != "Action cancelled." || res.Message.Type != "system" || res.Message.Role != "system" {
		t.Fatalf("%+v", res)
	}
	hist := h.history(conv)
	last := hist[len(hist)-1]
	resp := hist[len(hist)-2]
	if last.Content != "Action cancelled." || resp.Role != "user" || resp.Type != "response" || resp.Content != "reject" ||
		resp.Metadata["proposal_id"] != pid || resp.Metadata["option"] != "reject" {
		t.Fatalf("history %+v", hist)
	}
	if s := h.cardStatus(conv, pid); s != "rejected" {
		t.Fatalf("status %s", s)
	}
	h.restart(false)
	if s := h.cardStatus(conv, pid); s != "rejected" {
		t.Fatalf("status after restart %s", s)
	}
	_, err = h.svc.Respond(ctx, conv, pid, "approve")
	requestError(t, err, http.StatusBadRequest, "Proposal "+pid+" already responded to")
	if h.echoCount() != 0 {
		t.Fatal("service ran")
	}
}

func TestRespondErrors(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	conv, pid := h.propose("service.tools.echo", map[string]any{"text": "x"})
	_, err := h.svc.Respond(ctx, conv, pid, "maybe")
	requestError(t, err, http.StatusBadRequest, "Invalid option 'maybe'. Valid: {'approve', 'reject'}")
	_, err = h.svc.Respond(ctx, conv, pid, "")
	requestError(t, err, http.StatusBadRequest, "Invalid option ''. Valid: {'approve', 'reject'}")
	_, err = h.svc.Respond(ctx, conv, "deadbeef", "approve")
	requestError(t, err, http.StatusBadRequest, "Proposal deadbeef not found")
	if _, err := h.svc.Respond(ctx, "0123456789abcdef", pid, "approve"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown conversation: %v", err)
	}
	if _, err := h.svc.Respond(ctx, "nope", pid, "approve"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("bad conversation id: %v", err)
	}
	if s := h.cardStatus(conv, pid); s != "pending" {
		t.Fatalf("refused responses changed the status: %s", s)
	}

	// Only the options the service declares approve: tools.fail declares go,
	// later and reject.
	conv2, pid2 := h.propose("service.tools.fail", map[string]any{})
	_, err = h.svc.Respond(ctx, conv2, pid2, "approve")
	requestError(t, err, http.StatusBadRequest, "Invalid option 'approve'. Valid: {'go', 'later', 'reject'}")
	res, err := h.svc.Respond(ctx, conv2, pid2, "later")
	if err != nil || res.TaskID == "" {
		t.Fatalf("%+v %v", res, err)
	}
	// tools.fail fails: the failure reaches the conversation.
	got := h.wait(res.TaskID)
	if got.Status != "failed" || len(got.Messages) != 1 ||
		got.Messages[0].Content != "service.tools.fail failed: boom" ||
		got.Messages[0].Metadata["status"] != "failed" {
		t.Fatalf("%+v", got)
	}
	if s := h.cardStatus(conv2, pid2); s != "failed" {
		t.Fatalf("status %s", s)
	}
	st, _ := h.bus.Status(ctx, res.TaskID)
	var payload map[string]any
	_ = json.Unmarshal(st.Payload, &payload)
	if payload["option"] != "later" {
		t.Fatalf("option not passed on: %v", payload)
	}
}

// A service that keeps failing transiently reports one failure, after its
// attempts run out.
func TestServiceFailureReportedOnce(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	h.mu.Lock()
	h.echoErr = errors.New("flaky backend")
	h.mu.Unlock()
	conv, pid := h.propose("service.tools.echo", map[string]any{"text": "x"})
	res, err := h.svc.Respond(ctx, conv, pid, "approve")
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(res.TaskID)
	if got.Status != "failed" || len(got.Messages) != 1 ||
		got.Messages[0].Content != "service.tools.echo failed: flaky backend (gave up after 3 attempts)" {
		t.Fatalf("%+v", got)
	}
	if h.echoCount() != 3 {
		t.Fatalf("ran %d times", h.echoCount())
	}
	n := 0
	for _, m := range h.history(conv) {
		if strings.Contains(m.Content, "flaky backend") {
			n++
		}
	}
	if n != 1 || h.cardStatus(conv, pid) != "failed" {
		t.Fatalf("%d error records, status %s", n, h.cardStatus(conv, pid))
	}
}

// Two concurrent clicks record one response and start one task.
func TestConcurrentResponses(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	conv, pid := h.propose("service.tools.echo", map[string]any{"text": "once"})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tasks []string
	var refused int
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := h.svc.Respond(ctx, conv, pid, "approve")
			mu.Lock()
			defer mu.Unlock()
			var re *RequestError
			switch {
			case err == nil:
				tasks = append(tasks, res.TaskID)
			case errors.As(err, &re) && re.Status == 400:
				refused++
			default:
				t.Errorf("respond: %v", err)
			}
		}()
	}
	wg.Wait()
	if len(tasks) != 1 || refused != 7 {
		t.Fatalf("%d accepted, %d refused", len(tasks), refused)
	}
	h.wait(tasks[0])
	if h.echoCount() != 1 {
		t.Fatalf("ran %d times", h.echoCount())
	}
}

// The integration id goes into the payload when exactly one instance is
// configured; a type with required fields is offered once configured.
func TestIntegrationResolution(t *testing.T) {
	for _, c := range []struct {
		name, extra, want string
	}{
		{"one instance", "integrations:\n  - type: tools\n    name: main\n  - type: vault\n    name: v\n    path: /x\n", "tools.main"},
		{"two instances", "integrations:\n  - type: tools\n    name: a\n  - type: tools\n    name: b\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{extra: c.extra})
			ctx := context.Background()
			conv, pid := h.propose("service.tools.echo", map[string]any{"text": "x"})
			res, err := h.svc.Respond(ctx, conv, pid, "approve")
			if err != nil {
				t.Fatal(err)
			}
			st, _ := h.bus.Status(ctx, res.TaskID)
			var payload map[string]any
			_ = json.Unmarshal(st.Payload, &payload)
			got, _ := payload["integration"].(string)
			if got != c.want {
				t.Fatalf("integration %q, want %q", got, c.want)
			}
			h.wait(res.TaskID)
			req, _ := h.fake.LastRequest()
			offered := strings.Contains(req.Messages[0].Content, "service.vault.store")
			if offered != strings.Contains(c.extra, "vault") {
				t.Fatalf("vault offered: %v", offered)
			}
		})
	}
}

// "Save this as a note": the built-in notes.save_note, approved from chat,
// writes the note through the journal and reports it.
func TestSaveNoteFromChat(t *testing.T) {
	h := newHarness(t, harnessOptions{journal: true})
	ctx := context.Background()
	conv, pid := h.propose("service.notes.save_note", map[string]any{"title": "Shopping: list", "body": "- milk\n- bread", "folder": "home"})
	res, err := h.svc.Respond(ctx, conv, pid, "approve")
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(res.TaskID)
	date := time.Now().Format("2006-01-02")
	rel := "chat/home/" + date + " Shopping list.md"
	if got.Status != "done" || got.Messages[0].Content != "Saved note "+rel {
		t.Fatalf("%+v", got)
	}
	path := filepath.Join(h.notesDir, filepath.FromSlash(rel))
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, err := os.ReadFile(path)
		if err == nil {
			if !strings.Contains(string(data), "- milk\n- bread") || !strings.Contains(string(data), "title: 'Shopping: list'") {
				t.Fatalf("note:\n%s", data)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("note %s not written: %v", path, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h.cardStatus(conv, pid) != "done" {
		t.Fatal("status")
	}
}

// A task for a chat-proposable service with no handler (an old card, a
// hand-made task) still reports its failure into the conversation.
func TestActionWithoutHandlerReports(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	conv := h.create()
	// Provenance rule, as chat publishes approved actions: the pipeline's
	// safety gate refuses an irreversible service from any other.
	p, err := h.bus.Publish(ctx, msg.Spec{Type: "service.tools.orphan", Lane: msg.LaneIO, Priority: msg.PriorityChatAction,
		Provenance: msg.ProvenanceRule, Payload: map[string]any{"inputs": map[string]any{}, "on_result": []any{map[string]any{"type": "chat_reply", "conversation_id": conv}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(p.ID)
	want := "service.tools.orphan failed: Unknown task type: service.tools.orphan"
	if got.Status != "failed" || len(got.Messages) != 1 || got.Messages[0].Content != want {
		t.Fatalf("%+v", got)
	}
	if hist := h.history(conv); len(hist) != 1 || hist[0].Content != want || hist[0].Metadata["task_id"] != p.ID {
		t.Fatalf("%+v", hist)
	}
}
