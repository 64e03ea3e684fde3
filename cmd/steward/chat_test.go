package main

import (
	"bytes"
	"context"
	"errors"
	"github.com/stewardhq/steward/internal/testkit/natstest"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/integrations/notes"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
	"github.com/stewardhq/steward/services/chat"
	"github.com/stewardhq/steward/services/gateway"
	"github.com/stewardhq/steward/services/pipeline"
)

// chatGateway is a real gateway (httptest server around gateway.New) with the
// real chat service on an embedded NATS, the notes service, and llmfake as
// the LLM: it echoes, and proposes a note when asked to save one.
type chatGateway struct {
	url string
	svc *chat.Service
}

func startChatGateway(t *testing.T, token string) *chatGateway {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := natstest.Server(t)
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	bus, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: logger,
		Lanes: []string{msg.LaneIO, msg.LLMLane("default")}, IdleWait: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("connect bus: %v", err)
	}
	t.Cleanup(bus.Close)

	llm := llmfake.New(llmfake.WithReply(func(r llmfake.Request) llmfake.Response {
		last := r.LastUser()
		if strings.HasPrefix(last, "save ") {
			return llmfake.JSON(map[string]any{"reply": "Shall I save it?", "proposal": map[string]any{
				"action":      notes.TaskSaveNote,
				"parameters":  map[string]any{"title": "Groceries", "body": strings.TrimPrefix(last, "save ")},
				"description": "Save the note \"Groceries\"",
			}})
		}
		res := llmfake.JSON(map[string]any{"reply": "You said: " + last})
		if strings.HasPrefix(last, "slow ") {
			res.Delay = 1500 * time.Millisecond
		}
		return res
	}))
	t.Cleanup(llm.Close)
	cfg := &config.Config{
		LLMs:        []config.LLMProfile{{Name: "default", BaseURL: llm.URL(), Model: "fake", Concurrency: 1, Timeout: 20 * time.Second}},
		Chat:        config.Chat{LLM: "default"},
		Directories: config.Directories{Notes: t.TempDir()},
	}
	current := func() *config.Config { return cfg }
	svc, err := chat.New(chat.Options{Bus: bus, Config: current, Registry: builtin.Registry(), Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	router := msg.NewRouter()
	notes.New(notes.Options{Emitter: bus, Config: current, Logger: logger}).Register(router)
	svc.Register(router)
	work, stop := context.WithCancel(context.Background())
	done := make(chan struct{}, 1)
	lanes, err := pipeline.New(pipeline.Options{Bus: bus, Router: router, Logger: logger,
		Lanes: []pipeline.Lane{{Name: msg.LLMLane("default"), Slots: 1, GlobalLimit: 1}, {Name: msg.LaneIO, Slots: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer func() { done <- struct{}{} }()
		_ = lanes.Run(work)
	}()

	h := gateway.New(gateway.Options{Config: current, Registry: builtin.Registry(), Bus: bus, Logger: logger, Chat: svc})
	if token != "" {
		h = gateway.RequireToken(config.NewSecret(token, ""), nil)(h)
	}
	ts := httptest.NewServer(h)
	t.Cleanup(func() {
		ts.Close()
		stop()
		<-done
	})
	return &chatGateway{url: ts.URL, svc: svc}
}

// chatRun runs `steward chat` with these lines as stdin and returns stdout.
func chatRun(t *testing.T, o chatOptions, input string) (string, error) {
	t.Helper()
	o.PollInterval = 20 * time.Millisecond
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := runChat(ctx, o, strings.NewReader(input), &out)
	if ctx.Err() != nil {
		t.Fatalf("steward chat did not finish:\n%s", out.String())
	}
	return out.String(), err
}

// wantInOrder checks that the parts appear in out in this order.
func wantInOrder(t *testing.T, out string, parts ...string) {
	t.Helper()
	rest := out
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			t.Fatalf("output lacks %q (in order); output:\n%s", p, out)
		}
		rest = rest[i+len(p):]
	}
}

func TestChatCommand(t *testing.T) {
	g := startChatGateway(t, "")
	out, err := chatRun(t, chatOptions{Gateway: g.url + "/"}, "hello\n\nsave milk and eggs\n9\n1\n/clear\n")
	if err != nil {
		t.Fatalf("runChat: %v\n%s", err, out)
	}
	t.Logf("output:\n%s", out)
	wantInOrder(t, out,
		"Ctrl-D quits",
		"you> assistant> You said: hello\n",
		"you> you> assistant> Shall I save it?\n",
		"proposal> Save the note \"Groceries\"\n",
		"  action: service.notes.save_note\n",
		"  body: milk and eggs\n", "  title: Groceries\n",
		"  [1] Save note  [2] Cancel\n",
		"choose 1-2 (Enter to decide later)> Type a number from 1 to 2.\n",
		"choose 1-2 (Enter to decide later)> system> Processing...\n",
		"system> Saved note chat/", "Groceries.md\n",
		"you> system> Conversation cleared.\n",
		"you> \n",
	)
	list, err := g.svc.List(context.Background())
	if err != nil || len(list) != 0 {
		t.Errorf("after /clear the conversation should be empty: %v %v", list, err)
	}
}

func TestChatCommandResume(t *testing.T) {
	g := startChatGateway(t, "secret-token")

	// Without the token: a clear error, and nothing created.
	out, _ := chatRun(t, chatOptions{Gateway: g.url}, "hello\n")
	if !strings.Contains(out, "error: the gateway needs its token") {
		t.Errorf("without token:\n%s", out)
	}

	// A proposal left open, then resumed and rejected in a second session.
	out, err := chatRun(t, chatOptions{Gateway: g.url, Token: "secret-token"}, "save bread\n\n")
	if err != nil || !strings.Contains(out, "system> Left open.") {
		t.Fatalf("first session: %v\n%s", err, out)
	}
	list, err := g.svc.List(context.Background())
	if err != nil || len(list) != 1 {
		t.Fatalf("conversations: %v %v", list, err)
	}
	id := list[0].ID

	t.Setenv("STEWARD_GATEWAY_TOKEN", "secret-token")
	cmd := newChatCmd()
	var buf bytes.Buffer
	cmd.SetArgs([]string{"--gateway", g.url, "--conversation", id})
	cmd.SetIn(strings.NewReader("cancel\nthanks\n"))
	cmd.SetOut(&buf)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("resume: %v\n%s", err, buf.String())
	}
	wantInOrder(t, buf.String(),
		"conversation "+id+" (3 messages)",
		"you> save bread\n",
		"assistant> Shall I save it?\n",
		"proposal> Save the note \"Groceries\"\n",
		"choose 1-2 (Enter to decide later)> system> Action cancelled.\n",
		"you> assistant> You said: thanks\n",
	)

	// Resuming again shows the card decided, and asks nothing.
	out, err = chatRun(t, chatOptions{Gateway: g.url, Token: "secret-token", Conversation: id}, "")
	if err != nil || !strings.Contains(out, "  (cancelled)") || strings.Contains(out, "choose") {
		t.Errorf("second resume: %v\n%s", err, out)
	}

	// Unknown and malformed conversations are errors.
	if _, err := chatRun(t, chatOptions{Gateway: g.url, Token: "secret-token", Conversation: "0123456789abcdef"}, ""); err == nil ||
		!strings.Contains(err.Error(), "not found") {
		t.Errorf("unknown conversation: %v", err)
	}
	if _, err := chatRun(t, chatOptions{Gateway: g.url, Conversation: "../x"}, ""); err == nil {
		t.Error("malformed conversation accepted")
	}
	if _, err := chatRun(t, chatOptions{Gateway: "ftp://x"}, ""); err == nil {
		t.Error("bad gateway URL accepted")
	}
}

// A conversation resumed while its last message's reply is still pending
// waits for that reply and prints it.
func TestChatCommandResumeWaitsForPendingReply(t *testing.T) {
	g := startChatGateway(t, "")
	ctx := context.Background()
	id, err := g.svc.Create(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.svc.Send(ctx, id, "slow question"); err != nil {
		t.Fatal(err)
	}
	out, err := chatRun(t, chatOptions{Gateway: g.url, Conversation: id}, "")
	if !errors.Is(err, errInputEnded) && err != nil {
		t.Fatalf("resume: %v\n%s", err, out)
	}
	wantInOrder(t, out, "conversation "+id+" (1 messages)", "you> slow question\n", "assistant> You said: slow question\n")
}

func TestChatCommandGatewayErrors(t *testing.T) {
	// Request problems are printed and the session goes on.
	g := startChatGateway(t, "")
	long := strings.Repeat("x", 40<<10)
	out, err := chatRun(t, chatOptions{Gateway: g.url}, long+"\nhi\n")
	if err != nil {
		t.Fatal(err)
	}
	wantInOrder(t, out, "error: Message is too long", "assistant> You said: hi\n")

	// A gateway that is down is an error per line, not a crash.
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	out, err = chatRun(t, chatOptions{Gateway: dead.URL}, "hi\n")
	if err != nil || !regexp.MustCompile(`error: cannot reach the gateway at http://127\.0\.0\.1:\d+`).MatchString(out) {
		t.Errorf("dead gateway: %v\n%s", err, out)
	}
}
