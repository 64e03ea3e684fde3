package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"github.com/stewardhq/steward/services/pipeline"
)

// chatEnv is a gateway with the real chat service over a real listener: an
// embedded NATS, the chat.message worker on lane llm_default, the notes
// service on lane io, and llmfake as the LLM.
type chatEnv struct {
	url     string
	handler http.Handler // the gateway's handler, without the token check
	token   string
	svc     *chat.Service
	llm     *llmfake.Server
	logs    *syncBuffer
}

// chatEnvOptions vary the chat environment.
type chatEnvOptions struct {
	token      string
	maxContent int
	// reply answers the LLM requests (nil = fakeAssistant).
	reply func(llmfake.Request) llmfake.Response
}

// Texts the fake assistant reacts to.
const (
	noteRequest  = "please save a note about milk"
	noteReply    = "I can save that as a note."
	noteTitle    = "Shopping"
	noteBody     = "Buy milk <b>now</b>"
	noteDescribe = "Save the note \"Shopping\""
	failRequest  = "please fail"
)

// fakeAssistant is the LLM of the tests: it echoes the last user message, and
// proposes a note when asked to save one. It answers structured output when
// the request asks for it.
func fakeAssistant(r llmfake.Request) llmfake.Response {
	last := r.LastUser()
	if last == failRequest {
		return llmfake.HTTPError(http.StatusBadRequest, "the fake model refuses")
	}
	if r.ResponseFormat == nil {
		return llmfake.Text("Echo: " + last)
	}
	if last == noteRequest {
		return llmfake.JSON(map[string]any{
			"reply": noteReply,
			"proposal": map[string]any{
				"action":      notes.TaskSaveNote,
				"parameters":  map[string]any{"title": noteTitle, "body": noteBody},
				"description": noteDescribe,
			},
		})
	}
	return llmfake.JSON(map[string]any{"reply": "Echo: " + last})
}

// startChatEnv starts everything and stops it when the test ends.
func startChatEnv(t *testing.T, o chatEnvOptions) *chatEnv {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv := natstest.Server(t)
	logs := &syncBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	bus, err := msg.Connect(ctx, msg.Options{
		Server:      srv,
		Logger:      logger,
		Lanes:       []string{msg.LaneIO, msg.LLMLane("default")},
		Backoff:     []time.Duration{20 * time.Millisecond},
		MaxAttempts: 2,
		IdleWait:    200 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("connect bus: %v", err)
	}
	t.Cleanup(bus.Close)

	reply := o.reply
	if reply == nil {
		reply = fakeAssistant
	}
	llm := llmfake.New(llmfake.WithReply(reply))
	t.Cleanup(llm.Close)
	cfg := &config.Config{
		LLMs: []config.LLMProfile{{Name: "default", BaseURL: llm.URL(), Model: "fake",
			Concurrency: 1, Timeout: 20 * time.Second}},
		Chat:        config.Chat{LLM: "default"},
		Directories: config.Directories{Notes: t.TempDir()},
	}
	current := staticConfig(cfg)
	svc, err := chat.New(chat.Options{Bus: bus, Config: current, Registry: builtin.Registry(),
		MaxContent: o.maxContent, Logger: logger})
	if err != nil {
		t.Fatalf("chat.New: %v", err)
	}
	router := msg.NewRouter()
	notes.New(notes.Options{Emitter: bus, Config: current, Logger: logger}).Register(router)
	svc.Register(router)

	workCtx, stopWork := context.WithCancel(context.Background())
	done := make(chan struct{}, 1)
	work, err := pipeline.New(pipeline.Options{Bus: bus, Router: router, Logger: logger,
		Lanes: []pipeline.Lane{{Name: msg.LLMLane("default"), Slots: 1, GlobalLimit: 1}, {Name: msg.LaneIO, Slots: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer func() { done <- struct{}{} }()
		if err := work.Run(workCtx); err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	h := New(Options{Config: current, Registry: builtin.Registry(), Bus: bus, Logger: logger, Chat: svc})
	url := serveForTest(t, h, config.NewSecret(o.token, ""), logger, func() {
		stopWork()
		<-done
	})
	return &chatEnv{url: url, handler: h, token: o.token, svc: svc, llm: llm, logs: logs}
}

// call sends a request to the chat environment (with its token) and returns
// the status and the body.
func (e *chatEnv) call(t *testing.T, method, path, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	hdr := map[string]string{}
	if body != "" {
		hdr["Content-Type"] = "application/json"
	}
	if e.token != "" {
		hdr["Authorization"] = "Bearer " + e.token
	}
	status, header, b := do(t, method, e.url+path, rd, hdr)
	if ct := header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type = %q", method, path, ct)
	}
	return status, b
}

// callJSON is call that expects status want and decodes the body into out.
func (e *chatEnv) callJSON(t *testing.T, method, path, body string, want int, out any) {
	t.Helper()
	status, b := e.call(t, method, path, body)
	if status != want {
		t.Fatalf("%s %s = %d %s, want %d", method, path, status, b, want)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// create makes a conversation and returns its id.
func (e *chatEnv) create(t *testing.T) string {
	t.Helper()
	var c struct {
		ConversationID string `json:"conversation_id"`
	}
	e.callJSON(t, "POST", "/api/chat/conversations", "", 200, &c)
	if !msg.ValidConversationID(c.ConversationID) {
		t.Fatalf("conversation id %q is not 16 lower-case hex characters", c.ConversationID)
	}
	return c.ConversationID
}

// pollReply is the decoded answer of GET /api/chat/tasks/{id}.
type pollReply struct {
	Status   string         `json:"status"`
	Messages []chat.Message `json:"messages"`
}

// waitTask polls a task until it is no longer pending and returns the raw
// final answer too.
func (e *chatEnv) waitTask(t *testing.T, taskID string) (pollReply, []byte) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, b := e.call(t, "GET", "/api/chat/tasks/"+taskID, "")
		if status != 200 {
			t.Fatalf("poll %s = %d %s", taskID, status, b)
		}
		var r pollReply
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		if r.Status != "pending" {
			return r, b
		}
		if !jsonEqual(t, b, `{"status":"pending"}`) {
			t.Fatalf("pending answer = %s", b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s still pending after 20s", taskID)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// send posts content and returns the decoded answer.
func (e *chatEnv) send(t *testing.T, conv, content string) chat.SendResult {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"content": content})
	var r chat.SendResult
	e.callJSON(t, "POST", "/api/chat/conversations/"+conv+"/messages", string(body), 200, &r)
	return r
}

// history returns a conversation's messages.
func (e *chatEnv) history(t *testing.T, conv string) []chat.Message {
	t.Helper()
	var h struct {
		ConversationID string         `json:"conversation_id"`
		Messages       []chat.Message `json:"messages"`
	}
	e.callJSON(t, "GET", "/api/chat/conversations/"+conv+"/history", "", 200, &h)
	if h.ConversationID != conv || h.Messages == nil {
		t.Fatalf("history of %s: conversation_id %q, messages %v", conv, h.ConversationID, h.Messages)
	}
	return h.Messages
}

// messageKeys checks that every message has exactly the five keys.
func messageKeys(t *testing.T, raw []byte) {
	t.Helper()
	var v struct {
		Messages []map[string]json.RawMessage `json:"messages"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	for _, m := range v.Messages {
		if len(m) != 5 {
			t.Errorf("message has keys %v, want role, content, type, timestamp, metadata", m)
		}
		for _, k := range []string{"role", "content", "type", "timestamp", "metadata"} {
			if _, ok := m[k]; !ok {
				t.Errorf("message lacks %q: %v", k, m)
			}
		}
	}
}

var hex16 = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestChatConversations(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{})

	status, b := e.call(t, "GET", "/api/chat/conversations", "")
	if status != 200 || !jsonEqual(t, b, `{"conversations":[]}`) {
		t.Fatalf("empty list = %d %s", status, b)
	}

	a := e.create(t)
	// Any body is ignored.
	status, b = e.call(t, "POST", "/api/chat/conversations", `{"ignored": true}`)
	var c struct {
		ConversationID string `json:"conversation_id"`
	}
	if status != 200 || json.Unmarshal(b, &c) != nil || !hex16.MatchString(c.ConversationID) || c.ConversationID == a {
		t.Fatalf("second create = %d %s", status, b)
	}

	status, b = e.call(t, "GET", "/api/chat/conversations/"+a+"/history", "")
	if status != 200 || !jsonEqual(t, b, `{"conversation_id":"`+a+`","messages":[]}`) {
		t.Fatalf("fresh history = %d %s", status, b)
	}
	// Empty conversations are not listed.
	status, b = e.call(t, "GET", "/api/chat/conversations", "")
	if status != 200 || !jsonEqual(t, b, `{"conversations":[]}`) {
		t.Fatalf("list with empty conversations = %d %s", status, b)
	}

	// A chat message: queued, answered by the LLM, then listed.
	res := e.send(t, a, "hello")
	if res.Type != "chat" || res.TaskID == "" || res.Message != nil {
		t.Fatalf("send = %+v", res)
	}
	done, raw := e.waitTask(t, res.TaskID)
	if done.Status != "done" || len(done.Messages) != 1 {
		t.Fatalf("poll = %s", raw)
	}
	messageKeys(t, raw)
	m := done.Messages[0]
	if m.Role != "assistant" || m.Type != "chat" || m.Content != "Echo: hello" || m.Metadata["task_id"] != res.TaskID {
		t.Errorf("reply = %+v", m)
	}
	// Polling again gives the same answer and stores nothing twice.
	_, again := e.waitTask(t, res.TaskID)
	if !jsonEqual(t, again, string(raw)) {
		t.Errorf("second poll = %s, first %s", again, raw)
	}
	hist := e.history(t, a)
	if len(hist) != 2 || hist[0].Role != "user" || hist[0].Type != "chat" || hist[0].Content != "hello" ||
		hist[1].Content != "Echo: hello" {
		t.Errorf("history = %+v", hist)
	}

	var list struct {
		Conversations []chat.Conversation `json:"conversations"`
	}
	e.callJSON(t, "GET", "/api/chat/conversations", "", 200, &list)
	if len(list.Conversations) != 1 || list.Conversations[0].ID != a || list.Conversations[0].MessageCount != 2 ||
		list.Conversations[0].CreatedAt == "" || list.Conversations[0].LastActivity == "" {
		t.Errorf("list = %+v", list)
	}

	// The LLM got the conversation so far.
	req, ok := e.llm.LastRequest()
	if !ok || req.LastUser() != "hello" {
		t.Errorf("LLM request = %+v", req)
	}
}

func TestChatCommands(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{})
	a := e.create(t)
	e.waitTask(t, e.send(t, a, "hello").TaskID)

	res := e.send(t, a, "/CLEAR")
	if res.Type != "command" || res.Message == nil || res.TaskID != "" ||
		!strings.Contains(res.Message.Content, "Unknown command") || !strings.Contains(res.Message.Content, "/clear") ||
		res.Message.Type != "command" || res.Message.Role != "system" {
		t.Fatalf("/CLEAR = %+v", res)
	}

	status, b := e.call(t, "POST", "/api/chat/conversations/"+a+"/messages", `{"content":"/clear"}`)
	var cleared struct {
		Type    string         `json:"type"`
		Message map[string]any `json:"message"`
	}
	if status != 200 || json.Unmarshal(b, &cleared) != nil || cleared.Type != "command" ||
		cleared.Message["content"] != "Conversation cleared." || cleared.Message["type"] != "command" ||
		len(cleared.Message) != 5 || strings.Contains(string(b), "task_id") {
		t.Fatalf("/clear = %d %s", status, b)
	}
	if h := e.history(t, a); len(h) != 0 {
		t.Errorf("history after /clear = %+v", h)
	}
}

func TestChatProposals(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{})
	a := e.create(t)

	// proposal asks for a note and returns the card.
	proposal := func() chat.Message {
		t.Helper()
		done, raw := e.waitTask(t, e.send(t, a, noteRequest).TaskID)
		if done.Status != "done" || len(done.Messages) != 2 {
			t.Fatalf("poll = %s", raw)
		}
		messageKeys(t, raw)
		if done.Messages[0].Role != "assistant" || done.Messages[0].Content != noteReply {
			t.Errorf("reply = %+v", done.Messages[0])
		}
		card := done.Messages[1]
		md := card.Metadata
		if card.Role != "system" || card.Type != "confirmation" || card.Content != noteDescribe ||
			md["action"] != notes.TaskSaveNote || md["status"] != "pending" {
			t.Fatalf("card = %+v", card)
		}
		if pid, _ := md["proposal_id"].(string); !validProposalID(pid) {
			t.Fatalf("proposal_id %v", md["proposal_id"])
		}
		params, _ := md["parameters"].(map[string]any)
		if params["title"] != noteTitle || params["body"] != noteBody {
			t.Errorf("parameters = %v", md["parameters"])
		}
		var ids []string
		opts, _ := md["options"].([]any)
		for _, o := range opts {
			ids = append(ids, fmt.Sprint(o.(map[string]any)["id"]))
		}
		if strings.Join(ids, ",") != "approve,reject" {
			t.Errorf("options = %v", md["options"])
		}
		return card
	}

	card := proposal()
	pid := card.Metadata["proposal_id"].(string)
	path := "/api/chat/conversations/" + a + "/proposals/" + pid

	for _, tt := range []struct {
		name, path, body string
		status           int
		detail           string
	}{
		{"invalid option", path, `{"option":"maybe"}`, 400, "Invalid option"},
		{"option missing", path, `{}`, 422, "Field 'option' is required"},
		{"option not a string", path, `{"option":1}`, 422, "Field 'option' must be a string"},
		{"body not JSON", path, `approve`, 422, "JSON object"},
		{"unknown proposal", "/api/chat/conversations/" + a + "/proposals/0badc0de", `{"option":"approve"}`, 400, "Proposal 0badc0de not found"},
		{"malformed proposal id", "/api/chat/conversations/" + a + "/proposals/a%20b", `{"option":"approve"}`, 400, "Proposal a b not found"},
		{"unknown conversation", "/api/chat/conversations/0000000000000000/proposals/" + pid, `{"option":"approve"}`, 404, "Conversation not found"},
		{"unknown conversation, malformed proposal id", "/api/chat/conversations/0000000000000000/proposals/a.b", `{"option":"approve"}`, 404, "Conversation not found"},
		{"malformed conversation", "/api/chat/conversations/XYZ/proposals/" + pid, `{"option":"approve"}`, 404, "Conversation not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, b := e.call(t, "POST", tt.path, tt.body)
			var d errorBody
			if status != tt.status || json.Unmarshal(b, &d) != nil || !strings.Contains(d.Detail, tt.detail) {
				t.Errorf("= %d %s, want %d with %q", status, b, tt.status, tt.detail)
			}
		})
	}

	// Approve: the note is saved by the notes service and its result arrives.
	var approved struct {
		Message chat.Message `json:"message"`
		TaskID  string       `json:"task_id"`
	}
	e.callJSON(t, "POST", path, `{"option":"approve"}`, 200, &approved)
	if approved.TaskID == "" || approved.Message.Role != "system" {
		t.Fatalf("approve = %+v", approved)
	}
	done, raw := e.waitTask(t, approved.TaskID)
	if done.Status != "done" || len(done.Messages) != 1 || done.Messages[0].Role != "system" ||
		!strings.Contains(done.Messages[0].Content, "Saved note") || !strings.Contains(done.Messages[0].Content, noteTitle) {
		t.Fatalf("approved task = %s", raw)
	}
	messageKeys(t, raw)

	status, b := e.call(t, "POST", path, `{"option":"approve"}`)
	if status != 400 || !strings.Contains(string(b), "already responded") {
		t.Errorf("second answer = %d %s", status, b)
	}
	// The card's outcome is kept.
	for _, m := range e.history(t, a) {
		if m.Type == "confirmation" && m.Metadata["proposal_id"] == pid && m.Metadata["status"] == "pending" {
			t.Errorf("card still pending after approval: %+v", m)
		}
	}

	// Reject: a message and no task.
	card = proposal()
	status, b = e.call(t, "POST", "/api/chat/conversations/"+a+"/proposals/"+card.Metadata["proposal_id"].(string), `{"option":"reject"}`)
	var rejected map[string]json.RawMessage
	if status != 200 || json.Unmarshal(b, &rejected) != nil || len(rejected) != 1 || rejected["message"] == nil ||
		!strings.Contains(strings.ToLower(string(rejected["message"])), "cancel") {
		t.Errorf("reject = %d %s", status, b)
	}
}

func TestChatFailedTask(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{})
	a := e.create(t)
	res := e.send(t, a, failRequest)
	done, raw := e.waitTask(t, res.TaskID)
	if done.Status != "failed" || len(done.Messages) != 1 || done.Messages[0].Role != "system" ||
		done.Messages[0].Type != "system" || !strings.Contains(done.Messages[0].Content, "failed") {
		t.Fatalf("failed poll = %s", raw)
	}
	messageKeys(t, raw)
	_, again := e.waitTask(t, res.TaskID)
	if !jsonEqual(t, again, string(raw)) {
		t.Errorf("second poll = %s, first %s", again, raw)
	}
	records := 0
	for _, m := range e.history(t, a) {
		if m.Type == "system" && strings.Contains(m.Content, "failed") {
			records++
		}
	}
	if records != 1 {
		t.Errorf("%d error records, want 1", records)
	}
}

func TestChatRequestErrors(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{maxContent: 64})
	a := e.create(t)
	send := "/api/chat/conversations/" + a + "/messages"
	tests := []struct {
		name, method, path, body string
		status                   int
		detail                   string // exact, or a part when partial
		partial                  bool
	}{
		{"history of unknown conversation", "GET", "/api/chat/conversations/0123456789abcdef/history", "", 404, "Conversation not found", false},
		{"history of malformed id", "GET", "/api/chat/conversations/nope/history", "", 404, "Conversation not found", false},
		{"history of upper-case id", "GET", "/api/chat/conversations/" + strings.ToUpper(a) + "/history", "", 404, "Conversation not found", false},
		{"history of a subject wildcard", "GET", "/api/chat/conversations/%3E/history", "", 404, "Conversation not found", false},
		{"history of an escaped path", "GET", "/api/chat/conversations/..%2F..%2Fetc/history", "", 404, "Conversation not found", false},
		{"send to unknown conversation", "POST", "/api/chat/conversations/0123456789abcdef/messages", `{"content":"hi"}`, 404, "Conversation not found", false},
		{"send to malformed id", "POST", "/api/chat/conversations/a.b/messages", `{"content":"hi"}`, 404, "Conversation not found", false},
		{"unknown task", "GET", "/api/chat/tasks/1_20260101T000000Z_0000000000000000--00000000--chat.message", "", 404, "Task not found", false},
		{"malformed task id", "GET", "/api/chat/tasks/a%20b", "", 404, "Task not found", false},
		{"task id with a wildcard", "GET", "/api/chat/tasks/a.%3E", "", 404, "Task not found", false},
		{"task id with double dots", "GET", "/api/chat/tasks/a..b", "", 404, "Task not found", false},
		{"task id too long", "GET", "/api/chat/tasks/" + strings.Repeat("a", 201), "", 404, "Task not found", false},

		{"body not JSON", "POST", send, `hello`, 422, "Body must be a JSON object", true},
		{"body a JSON array", "POST", send, `["hello"]`, 422, "Body must be a JSON object", true},
		{"body null", "POST", send, `null`, 422, "Body must be a JSON object", true},
		{"no body", "POST", send, "", 422, "Body must be a JSON object", true},
		{"content missing", "POST", send, `{"text":"hello"}`, 422, "Field 'content' is required", false},
		{"content not a string", "POST", send, `{"content":42}`, 422, "Field 'content' must be a string", false},
		{"content null", "POST", send, `{"content":null}`, 422, "Field 'content' must be a string", false},
		{"content empty", "POST", send, `{"content":""}`, 422, "Message is empty", false},
		{"content whitespace", "POST", send, `{"content":" \n\t "}`, 422, "Message is empty", false},
		{"content too long", "POST", send, `{"content":"` + strings.Repeat("x", 65) + `"}`, 422,
			"Message is too long: 65 bytes, the limit is 64", false},
		{"content too long in bytes", "POST", send, `{"content":"` + strings.Repeat("é", 33) + `"}`, 422,
			"Message is too long: 66 bytes, the limit is 64", false},

		{"unknown chat route", "GET", "/api/chat/nope", "", 404, "Not Found", false},
		{"wrong method", "DELETE", "/api/chat/conversations", "", 405, "Method Not Allowed", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, b := e.call(t, tt.method, tt.path, tt.body)
			var d errorBody
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("body %s: %v", b, err)
			}
			if status != tt.status || (tt.partial && !strings.Contains(d.Detail, tt.detail)) || (!tt.partial && d.Detail != tt.detail) {
				t.Errorf("= %d %s, want %d %q", status, b, tt.status, tt.detail)
			}
		})
	}
	// Nothing refused was stored.
	if h := e.history(t, a); len(h) != 0 {
		t.Errorf("history after refused messages = %+v", h)
	}
	// Exactly the limit is accepted.
	if res := e.send(t, a, strings.Repeat("x", 64)); res.Type != "chat" {
		t.Errorf("message at the limit = %+v", res)
	}
}

func TestChatBodyLimit(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{})
	a := e.create(t)
	status, b := e.call(t, "POST", "/api/chat/conversations/"+a+"/messages",
		`{"content":"`+strings.Repeat("x", DefaultMaxBodyBytes)+`"}`)
	if status != http.StatusRequestEntityTooLarge || !jsonEqual(t, b, `{"detail":"Request body too large"}`) {
		t.Errorf("huge body = %d %s", status, b)
	}
}

func TestChatToken(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{token: "chat-test-token"})
	status, _, b := do(t, "GET", e.url+"/api/chat/conversations", nil, nil)
	if status != 401 || !jsonEqual(t, b, `{"detail":"Not authenticated"}`) {
		t.Errorf("without token = %d %s", status, b)
	}
	status, _ = e.call(t, "GET", "/api/chat/conversations", "")
	if status != 200 {
		t.Errorf("with token = %d", status)
	}
	if strings.Contains(e.logs.String(), "chat-test-token") {
		t.Error("the token was logged")
	}
}

func TestChatUnavailable(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	for _, r := range []struct{ method, path, body string }{
		{"GET", "/api/chat/conversations", ""},
		{"POST", "/api/chat/conversations", ""},
		{"GET", "/api/chat/conversations/0123456789abcdef/history", ""},
		{"POST", "/api/chat/conversations/0123456789abcdef/messages", `{"content":"hi"}`},
		{"POST", "/api/chat/conversations/0123456789abcdef/proposals/0badc0de", `{"option":"approve"}`},
		{"GET", "/api/chat/tasks/x", ""},
	} {
		var body io.Reader
		var hdr map[string]string
		if r.body != "" {
			body = strings.NewReader(r.body)
			hdr = map[string]string{"Content-Type": "application/json"}
		}
		status, _, b := do(t, r.method, e.url+r.path, body, hdr)
		if status != 503 || !jsonEqual(t, b, `{"detail":"Chat is not available"}`) {
			t.Errorf("%s %s = %d %s", r.method, r.path, status, b)
		}
	}
	// A nil *chat.Service counts as no service.
	var none *chat.Service
	rec := httptest.NewRecorder()
	New(Options{Chat: none}).ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/api/chat/conversations", nil))
	if rec.Code != 503 {
		t.Errorf("nil *chat.Service: status %d", rec.Code)
	}
}

func TestWriteChatError(t *testing.T) {
	logs := &syncBuffer{}
	h := &handler{log: slog.New(slog.NewTextHandler(logs, nil))}
	for _, tt := range []struct {
		err    error
		status int
		body   string
	}{
		{chat.ErrNotFound, 404, `{"detail":"Thing not found"}`},
		{fmt.Errorf("history: %w", chat.ErrNotFound), 404, `{"detail":"Thing not found"}`},
		{&chat.RequestError{Status: 400, Detail: "Proposal x not found"}, 400, `{"detail":"Proposal x not found"}`},
		{fmt.Errorf("respond: %w", &chat.RequestError{Status: 409, Detail: "busy"}), 409, `{"detail":"busy"}`},
		{&chat.RequestError{Status: 0, Detail: "no status"}, 503, `{"detail":"Chat is not available"}`},
		{errors.New("nats: connection closed"), 503, `{"detail":"Chat is not available"}`},
	} {
		rec := httptest.NewRecorder()
		h.writeChatError(rec, httptest.NewRequest("GET", "/api/chat/x", nil), tt.err, "Thing not found")
		if rec.Code != tt.status || !jsonEqual(t, rec.Body.Bytes(), tt.body) {
			t.Errorf("%v: %d %s, want %d %s", tt.err, rec.Code, rec.Body, tt.status, tt.body)
		}
	}
	if !strings.Contains(logs.String(), "nats: connection closed") {
		t.Errorf("unexpected error not logged: %s", logs)
	}
}
