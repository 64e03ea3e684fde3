package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

var proposalIDRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

// chat.message end to end: plain and structured replies, proposals, and the
// plain-text fallback.
func TestChatMessageReplies(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	echo := `{"reply":"Sure","proposal":{"action":"service.tools.echo","parameters":{"text":"x"},"description":"Echo x"}}`
	cases := []struct {
		name     string
		llm      string
		reply    string // the assistant message
		proposal string // the card's action ("" = no card)
	}{
		{"plain text", "Hello there", "Hello there", ""},
		{"structured, null proposal", `{"reply":"Hi","proposal":null}`, "Hi", ""},
		{"structured, no proposal", `{"reply":"Hi again"}`, "Hi again", ""},
		{"structured with proposal", echo, "Sure", "service.tools.echo"},
		{"fenced JSON", "```json\n{\"reply\":\"fenced\"}\n```", "fenced", ""},
		{"JSON without reply", `{"answer":"42"}`, `{"answer":"42"}`, ""},
		{"reply not a string", `{"reply":42}`, `{"reply":42}`, ""},
		{"JSON string mentioning reply", `"reply"`, `"reply"`, ""},
		{"list containing reply", `["reply"]`, `["reply"]`, ""},
		{"unknown action dropped", `{"reply":"R","proposal":{"action":"service.tools.nope","parameters":{},"description":"d"}}`, "R", ""},
		{"not offered action dropped", `{"reply":"R","proposal":{"action":"service.vault.store","parameters":{},"description":"d"}}`, "R", ""},
		{"action without handler dropped", `{"reply":"R","proposal":{"action":"service.tools.orphan","parameters":{},"description":"d"}}`, "R", ""},
		{"invalid parameters dropped", `{"reply":"R","proposal":{"action":"service.tools.echo","parameters":{"text":3},"description":"d"}}`, "R", ""},
		{"missing parameter dropped", `{"reply":"R","proposal":{"action":"service.tools.echo","parameters":{},"description":"d"}}`, "R", ""},
		{"parameters not an object", `{"reply":"R","proposal":{"action":"service.tools.echo","parameters":"x","description":"d"}}`, "R", ""},
		{"proposal without action", `{"reply":"R","proposal":{"parameters":{}}}`, "R", ""},
		{"no description", `{"reply":"R","proposal":{"action":"service.tools.fail","parameters":{}}}`, "R", "service.tools.fail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.fake.FixedReply(llmfake.Text(c.llm))
			conv := h.create()
			res := h.send(conv, "question")
			got := h.wait(res.TaskID)
			if got.Status != "done" {
				t.Fatalf("%+v", got)
			}
			want := 1
			if c.proposal != "" {
				want = 2
			}
			if len(got.Messages) != want {
				t.Fatalf("messages %+v", got.Messages)
			}
			m := got.Messages[0]
			if m.Role != "assistant" || m.Type != "chat" || m.Content != c.reply || m.Metadata["task_id"] != res.TaskID || len(m.Metadata) != 1 {
				t.Fatalf("reply %+v", m)
			}
			hist := h.history(conv)
			if len(hist) != 1+want || hist[1].Content != c.reply {
				t.Fatalf("history %+v", hist)
			}
			// The user's message names the task answering it (a reloaded page
			// polls it); the reply is the task's output.
			if hist[0].Role != "user" || hist[0].Metadata["reply_task_id"] != res.TaskID || len(hist[0].Metadata) != 1 {
				t.Fatalf("user message %+v", hist[0])
			}
			if c.proposal == "" {
				return
			}
			card := got.Messages[1]
			md := card.Metadata
			if card.Role != "system" || card.Type != "confirmation" || md["action"] != c.proposal || md["status"] != "pending" ||
				!proposalIDRE.MatchString(md["proposal_id"].(string)) || md["task_id"] != res.TaskID {
				t.Fatalf("card %+v", card)
			}
			opts, _ := md["options"].([]any)
			if len(opts) < 2 {
				t.Fatalf("options %v", md["options"])
			}
			if c.proposal == "service.tools.echo" {
				if card.Content != "Echo x" || md["description"] != "Echo x" {
					t.Fatalf("card %+v", card)
				}
				if p, _ := md["parameters"].(map[string]any); p["text"] != "x" {
					t.Fatalf("parameters %v", md["parameters"])
				}
				if o := opts[0].(map[string]any); o["id"] != "approve" || o["label"] != "Approve" {
					t.Fatalf("default options %v", opts)
				}
			} else if card.Content != "Proposed action: service.tools.fail" || md["description"] != "" || len(opts) != 3 {
				t.Fatalf("card %+v", card)
			}
			if hist[2].Type != "confirmation" || hist[2].Metadata["proposal_id"] != md["proposal_id"] {
				t.Fatalf("card not stored: %+v", hist)
			}
		})
	}
	// Structured output was asked for, with the reference's schema name.
	req, _ := h.fake.LastRequest()
	if req.ResponseFormat == nil || req.ResponseFormat.Type != "json_schema" || req.ResponseFormat.JSONSchema.Name != "structured_output" {
		t.Fatalf("response_format %+v", req.ResponseFormat)
	}
	var schema map[string]any
	if err := json.Unmarshal(req.ResponseFormat.JSONSchema.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	props := schema["properties"].(map[string]any)
	if _, ok := props["proposal"]; !ok || schema["required"].([]any)[0] != "reply" || len(schema["required"].([]any)) != 1 {
		t.Fatalf("schema %s", req.ResponseFormat.JSONSchema.Schema)
	}
}

// A failed LLM call becomes one system message, also when the task is
// redelivered after the failure was stored.
func TestLLMFailureOneErrorMessage(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	cases := []struct {
		name     string
		reply    llmfake.Response
		requests int
		contains string
	}{
		{"transient: one quick retry, then the user is told", llmfake.Response{Status: 503, ErrorMessage: "overloaded"}, 2, "gave up after 2 attempts"},
		{"permanent", llmfake.Response{Status: 400, ErrorMessage: "bad model"}, 1, "chat.message failed: "},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h.fake.Reset()
			h.fake.FixedReply(c.reply)
			conv := h.create()
			res := h.send(conv, "hello")
			got := h.wait(res.TaskID)
			if got.Status != "failed" || len(got.Messages) != 1 {
				t.Fatalf("%+v", got)
			}
			m := got.Messages[0]
			if m.Role != "system" || m.Type != "system" || !strings.HasPrefix(m.Content, "chat.message failed: ") ||
				!strings.Contains(m.Content, c.contains) || m.Metadata["task_id"] != res.TaskID {
				t.Fatalf("error message %+v", m)
			}
			if n := len(h.fake.Requests()); n != c.requests {
				t.Fatalf("%d LLM requests, want %d", n, c.requests)
			}
			again, _ := h.svc.Poll(ctx, res.TaskID)
			if !equalJSON(again, got) {
				t.Fatalf("second poll differs: %+v vs %+v", again, got)
			}
			// A redelivery of the final attempt (its status write lost) stores
			// nothing more and asks the LLM nothing.
			st, _ := h.bus.Status(ctx, res.TaskID)
			task := &msg.Task{ID: res.TaskID, Type: "chat.message", Payload: st.Payload, Attempt: 3, MaxAttempts: 3}
			if _, err := h.svc.handleMessage(ctx, task); err == nil || !msg.IsPermanent(err) {
				t.Fatalf("redelivery: %v", err)
			}
			hist := h.history(conv)
			if len(hist) != 2 || !equalJSON(hist[1], m) {
				t.Fatalf("history %+v", hist)
			}
			if n := len(h.fake.Requests()); n != c.requests {
				t.Fatalf("redelivery asked the LLM again")
			}
		})
	}
}

// A redelivered chat.message whose reply is already stored returns it without
// asking the LLM again or storing anything.
func TestRedeliveredReplyNotRepeated(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	h.fake.FixedReply(llmfake.Text(`{"reply":"once","proposal":{"action":"service.tools.echo","parameters":{"text":"a"},"description":"d"}}`))
	conv := h.create()
	res := h.send(conv, "hi")
	first := h.wait(res.TaskID)
	n := len(h.fake.Requests())
	st, _ := h.bus.Status(ctx, res.TaskID)
	out, err := h.svc.handleMessage(ctx, &msg.Task{ID: res.TaskID, Type: "chat.message", Payload: st.Payload, Attempt: 2, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := out.(map[string]any); m["content"] != "once" || m["proposal_id"] != first.Messages[1].Metadata["proposal_id"] {
		t.Fatalf("result %v", out)
	}
	if len(h.fake.Requests()) != n || len(h.history(conv)) != 3 {
		t.Fatal("repeated")
	}
}

// An unknown LLM profile in the payload fails permanently with one message;
// a chat.llm that names no profile is refused before anything is stored.
func TestUnknownProfile(t *testing.T) {
	h := newHarness(t, harnessOptions{})
	ctx := context.Background()
	conv := h.create()
	p, err := h.bus.Publish(ctx, msg.Spec{Type: "chat.message", Priority: 1, Lane: "llm_default", Payload: map[string]any{
		"conversation_id": conv, "llm_profile": "nope", "messages": []any{map[string]any{"role": "user", "content": "x"}}}})
	if err != nil {
		t.Fatal(err)
	}
	got := h.wait(p.ID)
	if got.Status != "failed" || len(got.Messages) != 1 || !strings.Contains(got.Messages[0].Content, "unknown LLM profile") {
		t.Fatalf("%+v", got)
	}

	h.setConfig(strings.Replace(h.configText(), "llms:\n  default:", "llms:\n  other:", 1))
	_, err = h.svc.Send(ctx, conv, "hello")
	requestError(t, err, 503, "Chat LLM profile 'default' not found in llms. Available: ['other']")
}

// backlogHarness queues n classify-like LLM tasks (priority 6) on the chat
// profile's lane, each one LLM call of the given latency at concurrency 1.
func backlogHarness(t testing.TB, call time.Duration, n int) *harness {
	var h *harness
	h = newHarness(t, harnessOptions{latency: call, router: func(r *msg.Router) {
		r.Handle("bench.item.classify", func(ctx context.Context, task *msg.Task) (any, error) {
			reg, err := llm.NewRegistry(h.config().LLMs, llm.WithLogger(quiet()))
			if err != nil {
				return nil, msg.Permanent(err)
			}
			c, _ := reg.Client("default")
			_, err = c.Complete(ctx, []llm.Message{{Role: llm.RoleUser, Content: "classify"}}, nil)
			return nil, err
		})
	}})
	h.fake.FixedReply(llmfake.Text(`{"reply":"fast"}`))
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if _, err := h.bus.Publish(ctx, msg.Spec{Type: "bench.item.classify", Priority: msg.PriorityClassify, Lane: "llm_default",
			Payload: map[string]any{"n": i}}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := h.fake.WaitRequests(wctx, 2); err != nil {
		t.Fatal(err)
	}
	return h
}

// The chat task does not wait behind a backlog of LLM work on the same profile:
// it is served by the next free LLM slot — at most the call in flight goes
// first — and the LLM never sees two requests at once. (Timing is measured by
// BenchmarkChatReplyBehindBacklog, not asserted here.)
func TestChatOvertakesBacklog(t *testing.T) {
	const backlog = 40
	h := backlogHarness(t, 50*time.Millisecond, backlog)
	conv := h.create()
	before := len(h.fake.Requests())
	res := h.send(conv, "are you there?")
	got := h.wait(res.TaskID)
	if got.Messages[0].Content != "fast" {
		t.Fatalf("%+v", got)
	}
	// Requests the LLM received from sending until the reply: the one in flight
	// (perhaps one more racing the publish), then the chat itself.
	if served := len(h.fake.Requests()) - before; served > 3 {
		t.Fatalf("%d LLM calls between the chat message and its reply: it waited behind the backlog", served)
	}
	if h.fake.MaxConcurrent() != 1 {
		t.Fatalf("LLM saw %d concurrent requests", h.fake.MaxConcurrent())
	}
}

// BenchmarkChatReplyBehindBacklog: 500 classify tasks queued on the chat
// profile's lane at concurrency 1 and 200 ms per call; the time from sending a
// chat message to its reply (goal: within two call durations, 400 ms).
func BenchmarkChatReplyBehindBacklog(b *testing.B) {
	const call = 200 * time.Millisecond
	h := backlogHarness(b, call, 500)
	var total, worst time.Duration
	for i := 0; i < b.N; i++ {
		// Arrive at a varying point of the call in flight (a reply sent right
		// after the previous one would always land at the start of a call).
		time.Sleep(time.Duration(i%5) * call / 5)
		conv := h.create()
		start := time.Now()
		res := h.send(conv, "are you there?")
		h.wait(res.TaskID)
		took := time.Since(start)
		total += took
		worst = max(worst, took)
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "reply_ms")
	b.ReportMetric(float64(worst.Milliseconds()), "worst_reply_ms")
	b.ReportMetric(float64(worst)/float64(call), "worst_in_calls")
	b.ReportMetric(float64(h.fake.MaxConcurrent()), "max_concurrent")
}

func equalJSON(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// Which handler errors end a chat task (and put an error message in the
// conversation): a shutdown that stopped the task waiting for the LLM never
// does, even on the last attempt.
func TestFinalErrors(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	transient := errors.New("backend busy")
	stopping := fmt.Errorf("llm: %w", msg.ErrShuttingDown)
	cases := []struct {
		name    string
		ctx     context.Context
		attempt int
		err     error
		want    bool
	}{
		{"success", context.Background(), 1, nil, true},
		{"permanent", context.Background(), 1, msg.Permanent(transient), true},
		{"transient, attempts left", context.Background(), 1, transient, false},
		{"transient, last attempt", context.Background(), 5, transient, true},
		{"cut short by shutdown", cancelled, 5, transient, false},
		{"stopped waiting for the LLM", context.Background(), 5, stopping, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			task := &msg.Task{Type: TaskMessage, Attempt: c.attempt, MaxAttempts: 5}
			if got := final(c.ctx, task, c.err); got != c.want {
				t.Fatalf("final = %v, want %v", got, c.want)
			}
		})
	}
}
