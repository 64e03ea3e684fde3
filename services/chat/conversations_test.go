package chat

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// The store behaviours of the reference's test_conversation_store.py that still
// apply, on the stream.
func TestConversationStore(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()

	list, err := h.svc.List(ctx)
	if err != nil || list == nil || len(list) != 0 {
		t.Fatalf("empty store: %v %v", list, err)
	}
	ids := map[string]bool{}
	for i := 0; i < 50; i++ {
		id := h.create()
		if !msg.ValidConversationID(id) {
			t.Fatalf("id %q is not 16 hex", id)
		}
		ids[id] = true
	}
	if len(ids) != 50 {
		t.Fatalf("%d distinct ids of 50", len(ids))
	}
	for id := range ids {
		if got := h.history(id); got == nil || len(got) != 0 {
			t.Fatalf("history of a new conversation: %v", got)
		}
		break
	}
	for _, bad := range []string{"nonexistent", "0123456789abcdef", "", "../x", "ABCDEF0123456789"} {
		if _, err := h.svc.History(ctx, bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("history %q: %v", bad, err)
		}
		if _, err := h.svc.Send(ctx, bad, "hi"); !errors.Is(err, ErrNotFound) {
			t.Errorf("send %q: %v", bad, err)
		}
	}
	if list, _ := h.svc.List(ctx); len(list) != 0 {
		t.Fatalf("empty conversations listed: %v", list)
	}

	a, b := h.create(), h.create()
	if err := h.svc.appendRecord(ctx, a, h.svc.newRecord(roleUser, typeChat, "hello", nil)); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.appendRecord(ctx, a, h.svc.newRecord(roleAssistant, typeChat, "world", map[string]any{keyTaskID: "t1"})); err != nil {
		t.Fatal(err)
	}
	if err := h.svc.appendRecord(ctx, b, h.svc.newRecord(roleUser, typeChat, "later", nil)); err != nil {
		t.Fatal(err)
	}

	// The stored form is the reference's: key order, metadata only when given.
	raw, err := h.bus.ChatRecords(ctx, a)
	if err != nil || len(raw) != 3 {
		t.Fatalf("raw records %d %v", len(raw), err)
	}
	if s := string(raw[1].Data); !strings.HasPrefix(s, `{"role":"user","type":"chat","content":"hello","ts":"`) || strings.Contains(s, "metadata") {
		t.Fatalf("record %s", s)
	}
	if s := string(raw[2].Data); !strings.Contains(s, `"metadata":{"task_id":"t1"}`) {
		t.Fatalf("record %s", s)
	}

	hist := h.history(a)
	if len(hist) != 2 || hist[0].Content != "hello" || hist[1].Content != "world" || hist[0].Metadata != nil ||
		hist[1].Metadata["task_id"] != "t1" {
		t.Fatalf("history %+v", hist)
	}
	if ts := hist[0].Timestamp; len(ts) != len("2026-03-19T10:00:00.000001+00:00") || !strings.HasSuffix(ts, "+00:00") {
		t.Fatalf("timestamp %q", ts)
	}
	data, _ := json.Marshal(hist[0])
	if string(data) != `{"role":"user","content":"hello","type":"chat","timestamp":"`+hist[0].Timestamp+`","metadata":null}` {
		t.Fatalf("API message %s", data)
	}

	list, err = h.svc.List(ctx)
	if err != nil || len(list) != 2 {
		t.Fatalf("list %+v %v", list, err)
	}
	if list[0].ID != b || list[0].MessageCount != 1 || list[1].ID != a || list[1].MessageCount != 2 {
		t.Fatalf("order or counts: %+v", list)
	}
	if list[1].CreatedAt != hist[0].Timestamp || list[1].LastActivity != hist[1].Timestamp {
		t.Fatalf("times %+v vs %+v", list[1], hist)
	}
	if list[0].LastActivity <= list[1].LastActivity {
		t.Fatalf("not newest first: %+v", list)
	}

	// /clear: nothing left to show, the conversation still exists.
	res := h.send(a, "/clear")
	if res.Type != "command" || res.Message == nil || res.Message.Content != "Conversation cleared." ||
		res.Message.Type != "command" || res.Message.Role != "system" || res.TaskID != "" {
		t.Fatalf("clear: %+v", res)
	}
	if got := h.history(a); len(got) != 0 {
		t.Fatalf("after clear: %+v", got)
	}
	if raw, _ := h.bus.ChatRecords(ctx, a); len(raw) != 1 || decode(raw[0].Data).Type != typeCreated {
		t.Fatalf("after clear the stream holds %d records", len(raw))
	}
	if list, _ := h.svc.List(ctx); len(list) != 1 || list[0].ID != b {
		t.Fatalf("a cleared conversation is listed: %+v", list)
	}
	if _, err := h.svc.Send(ctx, a, "/foo"); err != nil {
		t.Fatalf("cleared conversation no longer exists: %v", err)
	}
}

func TestCommands(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	cases := []struct {
		content string
		reply   string // "" = an ordinary chat message
	}{
		{"/foo", "Unknown command: /foo. Available commands: /clear"},
		{"/CLEAR", "Unknown command: /CLEAR. Available commands: /clear"},
		{"/", "Unknown command: /. Available commands: /clear"},
		{"/clearly not", "Unknown command: /clearly. Available commands: /clear"},
		{" /clear", ""},
	}
	for _, c := range cases {
		t.Run(c.content, func(t *testing.T) {
			conv := h.create()
			res := h.send(conv, c.content)
			hist := h.history(conv)
			if c.reply == "" {
				if res.Type != "chat" || res.TaskID == "" || res.Message != nil {
					t.Fatalf("%+v", res)
				}
				h.wait(res.TaskID)
				if hist[0].Type != "chat" || hist[0].Content != c.content {
					t.Fatalf("history %+v", hist)
				}
				return
			}
			if res.Type != "command" || res.TaskID != "" || res.Message == nil || res.Message.Content != c.reply ||
				res.Message.Type != "command" || res.Message.Role != "system" || res.Message.Metadata != nil {
				t.Fatalf("%+v", res)
			}
			if len(hist) != 2 || hist[0].Role != "user" || hist[0].Type != "command" || hist[0].Content != c.content ||
				!equalJSON(hist[1], *res.Message) {
				t.Fatalf("history %+v", hist)
			}
		})
	}
	// "/clear now" clears.
	conv := h.create()
	h.send(conv, "/foo")
	if res := h.send(conv, "/clear now"); res.Message.Content != "Conversation cleared." || len(h.history(conv)) != 0 {
		t.Fatalf("%+v", res)
	}
}

func TestSendRefusesEmptyAndOversizedContent(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	conv := h.create()
	ctx := context.Background()
	_, err := h.svc.Send(ctx, conv, "")
	requestError(t, err, http.StatusUnprocessableEntity, "Message is empty")
	_, err = h.svc.Send(ctx, conv, " \n\t ")
	requestError(t, err, http.StatusUnprocessableEntity, "Message is empty")
	limit := h.svc.MaxContent()
	if limit != 32<<10 {
		t.Fatalf("default limit %d", limit)
	}
	_, err = h.svc.Send(ctx, conv, strings.Repeat("x", limit+1))
	requestError(t, err, http.StatusUnprocessableEntity, "Message is too long: 32769 bytes, the limit is 32768")
	if got := h.history(conv); len(got) != 0 {
		t.Fatalf("stored: %+v", got)
	}
	// Exactly the limit is fine.
	if res := h.send(conv, strings.Repeat("y", limit)); res.TaskID == "" {
		t.Fatal("no task")
	}
}

// A chat.message is published at priority 1 on the chat profile's lane, with
// the frozen message list (history since the last /clear, commands left out).
func TestSendPublishesPriorityOneOnChatLane(t *testing.T) {
	h := newHarness(t, harnessOptions{extra: "chat:\n  system_prompt: Be helpful.\n"})
	ctx := context.Background()
	conv := h.create()
	h.fake.FixedReply(llmfake.Text(`{"reply":"first answer"}`))
	first := h.send(conv, "old message")
	h.wait(first.TaskID)
	h.send(conv, "/clear")
	r1 := h.send(conv, "Hello")
	h.wait(r1.TaskID)
	h.send(conv, "/foo")
	res := h.send(conv, "World")
	if res.Type != "chat" || res.TaskID == "" {
		t.Fatalf("%+v", res)
	}
	st, err := h.bus.Status(ctx, res.TaskID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Type != "chat.message" || st.Priority != 1 || st.Lane != "llm_default" || st.Provenance != "" {
		t.Fatalf("task %s prio %d lane %s prov %q", st.Type, st.Priority, st.Lane, st.Provenance)
	}
	var p struct {
		Type           string           `json:"type"`
		ConversationID string           `json:"conversation_id"`
		LLMProfile     string           `json:"llm_profile"`
		Messages       []map[string]any `json:"messages"`
		OnResult       []map[string]any `json:"on_result"`
	}
	if err := json.Unmarshal(st.Payload, &p); err != nil {
		t.Fatal(err)
	}
	if p.Type != "chat.message" || p.ConversationID != conv || p.LLMProfile != "default" ||
		len(p.OnResult) != 1 || p.OnResult[0]["type"] != "chat_reply" || p.OnResult[0]["conversation_id"] != conv || len(p.OnResult[0]) != 2 {
		t.Fatalf("payload %+v", p)
	}
	var turns []string
	for _, m := range p.Messages[1:] {
		turns = append(turns, m["role"].(string)+":"+m["content"].(string))
	}
	if got := strings.Join(turns, "|"); got != "user:Hello|assistant:first answer|user:World" {
		t.Fatalf("turns %s", got)
	}
	system := p.Messages[0]
	content, _ := system["content"].(string)
	if system["role"] != "system" || !strings.HasPrefix(content, "Be helpful.\n\n") {
		t.Fatalf("system %q", content)
	}
	for _, want := range []string{"Available actions:", "service.notes.save_note", "service.tools.echo", "Echo the text back",
		"      - text: string (required) — What to echo", "service.tools.fail", `"proposal"`} {
		if !strings.Contains(content, want) {
			t.Errorf("system prompt lacks %q:\n%s", want, content)
		}
	}
	for _, not := range []string{"service.tools.silent", "service.vault.store", "service.tools.orphan"} {
		if strings.Contains(content, not) {
			t.Errorf("system prompt offers %s", not)
		}
	}
	h.wait(res.TaskID)
}

// With no chat action, the system message is only the configured prompt (or
// absent), and no structured output is asked for.
func TestNoActionsPlainChat(t *testing.T) {
	empty, err := manifest.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, extra string
		want        []string
	}{
		{"system prompt", "chat:\n  system_prompt: Be helpful.\n", []string{"system:Be helpful.", "user:Hello"}},
		{"none", "", []string{"user:Hello"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, harnessOptions{registry: empty, extra: c.extra})
			h.fake.FixedReply(llmfake.Text(`{"reply":"not parsed"}`))
			conv := h.create()
			res := h.send(conv, "Hello")
			got := h.wait(res.TaskID)
			req, ok := h.fake.LastRequest()
			if !ok {
				t.Fatal("no LLM request")
			}
			var msgs []string
			for _, m := range req.Messages {
				msgs = append(msgs, m.Role+":"+m.Content)
			}
			if strings.Join(msgs, "|") != strings.Join(c.want, "|") {
				t.Fatalf("messages %v", msgs)
			}
			if req.ResponseFormat != nil {
				t.Fatalf("structured output requested without actions: %+v", req.ResponseFormat)
			}
			if len(got.Messages) != 1 || got.Messages[0].Content != `{"reply":"not parsed"}` || got.Messages[0].Role != "assistant" {
				t.Fatalf("%+v", got)
			}
		})
	}
}

// Two conversations keep independent histories.
func TestIndependentConversations(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	h.fake.FixedReply(llmfake.Text(`{"reply":"ok"}`))
	a, b := h.create(), h.create()
	ra := h.send(a, "to a")
	rb := h.send(b, "to b")
	h.wait(ra.TaskID)
	h.wait(rb.TaskID)
	ha, hb := h.history(a), h.history(b)
	if len(ha) != 2 || ha[0].Content != "to a" || len(hb) != 2 || hb[0].Content != "to b" {
		t.Fatalf("%+v %+v", ha, hb)
	}
}
