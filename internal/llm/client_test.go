package llm_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

func TestEndpoint(t *testing.T) {
	tests := []struct{ base, want string }{
		{"", "http://localhost:11434/v1/chat/completions"},
		{"http://localhost:11434", "http://localhost:11434/v1/chat/completions"},
		{"http://localhost:11434/", "http://localhost:11434/v1/chat/completions"},
		{"  http://localhost:11434//  ", "http://localhost:11434/v1/chat/completions"},
		{"http://host:8080/v1", "http://host:8080/v1/chat/completions"},
		{"http://host:8080/v1/", "http://host:8080/v1/chat/completions"},
		{"http://host:8080/V1", "http://host:8080/V1/chat/completions"},
		{"https://api.example.com/openai/v1", "https://api.example.com/openai/v1/chat/completions"},
		{"https://x.example/v1beta/openai/", "https://x.example/v1beta/openai/chat/completions"},
		{"http://gpu.lan/proxy/ollama", "http://gpu.lan/proxy/ollama/v1/chat/completions"},
		{"http://host/v1/chat/completions", "http://host/v1/chat/completions"},
		{"http://host/v1?api-version=2", "http://host/v1/chat/completions?api-version=2"},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			got, err := llm.Endpoint(tt.base)
			if err != nil || got != tt.want {
				t.Errorf("Endpoint(%q) = %q, %v; want %q", tt.base, got, err, tt.want)
			}
		})
	}
	for _, bad := range []string{"gpu.lan:11434/secret", "ftp://host/secret", "http:///secret", "not a url secret"} {
		_, err := llm.Endpoint(bad)
		if !llm.IsPermanent(err) {
			t.Errorf("Endpoint(%q) error = %v, want permanent", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret") {
			t.Errorf("Endpoint(%q) error quotes the URL: %v", bad, err)
		}
	}
}

// Both base_url forms (Ollama root, OpenAI-style /v1) reach the same endpoint
// over real HTTP.
func TestBaseURLForms(t *testing.T) {
	srv := newFake(t, llmfake.WithFixedReply(llmfake.Text("pong")))
	for _, base := range []string{srv.URL(), srv.URL() + "/", srv.URL() + "/v1", srv.URL() + "/v1/"} {
		t.Run(base, func(t *testing.T) {
			c := newClient(t, profile(base))
			got, err := llm.NewConversation(c, "").Send(context.Background(), "ping")
			if err != nil || got != "pong" {
				t.Fatalf("Send = %q, %v", got, err)
			}
			req, _ := srv.LastRequest()
			if req.Method != http.MethodPost || req.Path != "/v1/chat/completions" {
				t.Errorf("request = %s %s, want POST /v1/chat/completions", req.Method, req.Path)
			}
		})
	}
}

func TestSendPlain(t *testing.T) {
	srv := newFake(t, llmfake.WithFixedReply(llmfake.Text("Hello there")))
	c := newClient(t, profile(srv.URL()))
	cv := llm.NewConversation(c, "You are helpful.")
	got, err := cv.Send(context.Background(), "Hi")
	if err != nil || got != "Hello there" {
		t.Fatalf("Send = %q, %v", got, err)
	}
	want := []llm.Message{{Role: llm.RoleSystem, Content: "You are helpful."}, {Role: llm.RoleUser, Content: "Hi"}, {Role: llm.RoleAssistant, Content: "Hello there"}}
	if got := cv.Messages(); !equalMessages(got, want) {
		t.Errorf("history = %v, want %v", got, want)
	}
	req, _ := srv.LastRequest()
	if req.Model != "test-model" || req.Stream || req.Body["stream"] != false || req.ResponseFormat != nil {
		t.Errorf("body = %s", req.Raw)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != "system" || req.Messages[1].Content != "Hi" {
		t.Errorf("messages sent = %v", req.Messages)
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}

	// A second turn sends the whole history.
	if _, err := cv.Send(context.Background(), "Again"); err != nil {
		t.Fatal(err)
	}
	req, _ = srv.LastRequest()
	if len(req.Messages) != 4 || req.Messages[2].Role != "assistant" || req.Messages[3].Content != "Again" {
		t.Errorf("second turn sent %v", req.Messages)
	}
	if cv.Len() != 5 {
		t.Errorf("history length = %d, want 5", cv.Len())
	}
}

func TestConversationList(t *testing.T) {
	cv := llm.NewConversation(nil, "")
	if _, ok := cv.Last(""); ok {
		t.Error("Last on empty conversation")
	}
	if _, ok := cv.Pop(); ok {
		t.Error("Pop on empty conversation")
	}
	cv = llm.NewConversation(nil, "sys", llm.Message{Role: llm.RoleUser, Content: "u1"}, llm.Message{Role: llm.RoleAssistant, Content: "a1"})
	cv.Append(llm.RoleUser, "u2")
	if m, _ := cv.Last(llm.RoleAssistant); m.Content != "a1" {
		t.Errorf("last assistant = %v", m)
	}
	if m, _ := cv.Last(llm.RoleUser); m.Content != "u2" {
		t.Errorf("last user = %v", m)
	}
	if m, ok := cv.Pop(); !ok || m.Content != "u2" || cv.Len() != 3 {
		t.Errorf("Pop = %v, %v; len %d", m, ok, cv.Len())
	}
	msgs := cv.Messages()
	msgs[0].Content = "changed"
	if m := cv.Messages()[0]; m.Content != "sys" || m.Role != llm.RoleSystem {
		t.Errorf("Messages is not a copy: %v", m)
	}
	data, _ := json.Marshal(cv.Messages())
	if string(data) != `[{"role":"system","content":"sys"},{"role":"user","content":"u1"},{"role":"assistant","content":"a1"}]` {
		t.Errorf("wire form = %s", data)
	}
}

func equalMessages(a, b []llm.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestResponseFormatShape(t *testing.T) {
	srv := newFake(t)
	c := newClient(t, profile(srv.URL()))
	if _, err := llm.NewConversation(c, "sys").SendStructured(context.Background(), "classify", mustSchema(t, classSchema)); err != nil {
		t.Fatal(err)
	}
	req, _ := srv.LastRequest()
	var body struct {
		ResponseFormat struct {
			Type       string `json:"type"`
			JSONSchema struct {
				Name   string         `json:"name"`
				Strict *bool          `json:"strict"`
				Schema map[string]any `json:"schema"`
			} `json:"json_schema"`
		} `json:"response_format"`
	}
	if err := json.Unmarshal(req.Raw, &body); err != nil {
		t.Fatal(err)
	}
	rf := body.ResponseFormat
	if rf.Type != "json_schema" || rf.JSONSchema.Name != "structured_output" || rf.JSONSchema.Strict == nil || !*rf.JSONSchema.Strict {
		t.Errorf("response_format = %+v", rf)
	}
	s := rf.JSONSchema.Schema
	if s["type"] != "object" || s["additionalProperties"] != false {
		t.Errorf("schema root = %v", s)
	}
	if props, _ := s["properties"].(map[string]any); len(props) != 3 {
		t.Errorf("properties = %v", s["properties"])
	}
	// Properties keep their configuration order on the wire.
	raw := string(req.Raw)
	if i, j, k := strings.Index(raw, `"human"`), strings.Index(raw, `"requires_response"`), strings.Index(raw, `"priority"`); !(i < j && j < k) {
		t.Errorf("property order lost: %s", raw)
	}
}

func TestParameterMerge(t *testing.T) {
	srv := newFake(t)
	p := profile(srv.URL())
	p.Parameters = map[string]any{
		"temperature":     0.2,
		"max_tokens":      100,
		"options":         map[string]any{"num_ctx": 8192},
		"model":           "evil-model",
		"messages":        "overwritten?",
		"stream":          true,
		"response_format": map[string]any{"type": "json_object"},
	}
	logger, logs := newLogger(slog.LevelInfo)
	c := newClient(t, p, llm.WithLogger(logger))
	for _, ignored := range []string{"model", "messages", "stream", "response_format"} {
		if !strings.Contains(logs.String(), "parameter="+ignored) {
			t.Errorf("no warning for ignored parameter %s: %s", ignored, logs)
		}
	}
	cv := llm.NewConversation(c, "")
	if _, err := cv.Send(context.Background(), "plain"); err != nil {
		t.Fatal(err)
	}
	req, _ := srv.LastRequest()
	b := req.Body
	if b["temperature"] != 0.2 || b["max_tokens"] != float64(100) {
		t.Errorf("parameters not merged: %s", req.Raw)
	}
	if o, _ := b["options"].(map[string]any); o["num_ctx"] != float64(8192) {
		t.Errorf("nested parameter lost: %s", req.Raw)
	}
	if b["model"] != "test-model" || b["stream"] != false || b["response_format"] != nil || len(req.Messages) != 1 {
		t.Errorf("reserved keys overridden: %s", req.Raw)
	}

	if _, err := cv.SendStructured(context.Background(), "structured", mustSchema(t, classSchema)); err != nil {
		t.Fatal(err)
	}
	req, _ = srv.LastRequest()
	if req.Schema() == nil || req.Body["temperature"] != 0.2 {
		t.Errorf("structured body = %s", req.Raw)
	}
	if p.Parameters["model"] != "evil-model" {
		t.Error("NewClient modified the profile's parameters")
	}
}

func TestTokenHeader(t *testing.T) {
	srv := newFake(t)
	for _, tc := range []struct {
		name  string
		token config.Secret
		want  string
	}{
		{"set", config.NewSecret(testToken, "llm_token"), "Bearer " + testToken},
		{"unset", config.Secret{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := profile(srv.URL())
			p.Token = tc.token
			logger, logs := newLogger(slog.LevelDebug)
			c := newClient(t, p, llm.WithLogger(logger))
			if _, err := llm.NewConversation(c, "").Send(context.Background(), "hi"); err != nil {
				t.Fatal(err)
			}
			req, _ := srv.LastRequest()
			if got := req.Header.Get("Authorization"); got != tc.want {
				t.Errorf("Authorization = %q, want %q", got, tc.want)
			}
			if _, present := req.Header["Authorization"]; tc.want == "" && present {
				t.Error("Authorization header sent without a token")
			}
			if strings.Contains(logs.String(), testToken) {
				t.Errorf("token in debug logs: %s", logs)
			}
		})
	}
}

// The fake rejects a wrong token like a real server; the error is permanent
// and quotes neither token even though the backend's message may.
func TestWrongTokenNeverQuoted(t *testing.T) {
	srv := newFake(t, llmfake.WithToken("the-right-one"))
	p := profile(srv.URL())
	p.Token = config.NewSecret(testToken, "llm_token")
	logger, logs := newLogger(slog.LevelDebug)
	c := newClient(t, p, llm.WithLogger(logger))
	_, err := llm.NewConversation(c, "").Send(context.Background(), "hi")
	if !llm.IsPermanent(err) || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("err = %v, want permanent 401", err)
	}
	// A backend that quotes the rejected key (OpenAI does, partly masked).
	srv.SetToken("")
	srv.Script(llmfake.HTTPError(http.StatusUnauthorized, "Incorrect API key provided: "+testToken))
	_, err = llm.NewConversation(c, "").Send(context.Background(), "hi")
	if !llm.IsPermanent(err) || strings.Contains(err.Error(), testToken) || strings.Contains(logs.String(), testToken) {
		t.Errorf("token leaked: err=%v logs=%s", err, logs)
	}
	// A 400 that quotes the token has it masked.
	srv.Script(llmfake.HTTPError(http.StatusBadRequest, "bad key "+testToken+" in request"))
	_, err = llm.NewConversation(c, "").Send(context.Background(), "hi")
	if !llm.IsPermanent(err) || strings.Contains(err.Error(), testToken) || !strings.Contains(err.Error(), "bad key ******** in request") {
		t.Errorf("err = %v", err)
	}
}

func TestPromptNotLoggedAtInfo(t *testing.T) {
	const prompt, reply = "PROMPT-TEXT-4711 from a private mail", "REPLY-TEXT-0815"
	srv := newFake(t, llmfake.WithFixedReply(llmfake.Text(reply)))
	logger, logs := newLogger(slog.LevelInfo)
	c := newClient(t, profile(srv.URL()), llm.WithLogger(logger))
	if _, err := llm.NewConversation(c, "SYSTEM-TEXT").Send(context.Background(), prompt); err != nil {
		t.Fatal(err)
	}
	srv.Script(llmfake.Text("not json "+reply), llmfake.Text("{}"), llmfake.Text("[]"))
	_, err := llm.NewConversation(c, "").SendStructured(context.Background(), prompt, mustSchema(t, classSchema))
	if err == nil {
		t.Fatal("want an error")
	}
	out := logs.String()
	for _, secret := range []string{"PROMPT-TEXT", "REPLY-TEXT", "SYSTEM-TEXT"} {
		if strings.Contains(out, secret) {
			t.Errorf("%s logged at info: %s", secret, out)
		}
	}
	if strings.Contains(err.Error(), "PROMPT-TEXT") {
		t.Errorf("prompt in error: %v", err)
	}
	if !strings.Contains(out, "llm call") || !strings.Contains(out, "completion_tokens=") {
		t.Errorf("no call stats at info: %s", out)
	}
}

func TestTimeoutDefault(t *testing.T) {
	p := profile("http://localhost:11434")
	p.Timeout = 0
	if got := newClient(t, p).Timeout(); got != 10*time.Minute {
		t.Errorf("default timeout = %s", got)
	}
}

func TestNewClientErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*config.LLMProfile)
		want string
	}{
		{"no model", func(p *config.LLMProfile) { p.Model = " " }, "llms.default.model is required"},
		{"bad base_url", func(p *config.LLMProfile) { p.BaseURL = "localhost:11434/secret-path" }, "base_url must be an http(s) URL"},
		{"unencodable parameter", func(p *config.LLMProfile) { p.Parameters = map[string]any{"f": func() {}} }, "parameters cannot be sent as JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := profile("http://localhost:11434")
			tt.edit(&p)
			_, err := llm.NewClient(p)
			if !llm.IsPermanent(err) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want permanent %q", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "secret-path") {
				t.Errorf("base_url quoted: %v", err)
			}
		})
	}
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func TestErrorTyping(t *testing.T) {
	srv := newFake(t)
	refused := closedPort(t)
	tests := []struct {
		name       string
		base       string
		reply      llmfake.Response
		timeout    time.Duration
		kind       llm.Kind
		status     int
		is         error
		retryAfter time.Duration
		msg        string
	}{
		{name: "connection refused", base: refused, kind: llm.Transient, is: syscall.ECONNREFUSED, msg: "cannot reach the backend"},
		{name: "429", reply: llmfake.RateLimited(7 * time.Second), kind: llm.Transient, status: 429, is: llm.ErrStatus, retryAfter: 7 * time.Second, msg: "HTTP 429 Too Many Requests: Rate limit reached"},
		{name: "500", reply: llmfake.HTTPError(500, "boom"), kind: llm.Transient, status: 500, is: llm.ErrStatus, msg: "HTTP 500 Internal Server Error: boom"},
		{name: "503", reply: llmfake.Response{Status: 503, RetryAfter: "2"}, kind: llm.Transient, status: 503, is: llm.ErrStatus, retryAfter: 2 * time.Second, msg: "HTTP 503"},
		{name: "400", reply: llmfake.HTTPError(400, "context length exceeded"), kind: llm.Permanent, status: 400, is: llm.ErrStatus, msg: "HTTP 400 Bad Request: context length exceeded"},
		{name: "401", reply: llmfake.HTTPError(401, "nope"), kind: llm.Permanent, status: 401, is: llm.ErrStatus, msg: "check llms.default.token"},
		{name: "404", reply: llmfake.HTTPError(404, `model "test-model" not found, try pulling it first`), kind: llm.Permanent, status: 404, is: llm.ErrStatus, msg: "not found, try pulling it first"},
		{name: "404 html", reply: llmfake.Response{Status: 404, Raw: []byte("<html><body>Not Found</body></html>")}, kind: llm.Permanent, status: 404, is: llm.ErrStatus, msg: "HTTP 404 Not Found"},
		{name: "garbage 200", reply: llmfake.Garbage("this is not json"), kind: llm.Transient, status: 200, is: llm.ErrMalformedResponse, msg: "not a chat completion: not JSON"},
		{name: "no choices", reply: llmfake.Response{Raw: []byte(`{"object":"chat.completion","choices":[]}`)}, kind: llm.Transient, status: 200, is: llm.ErrMalformedResponse, msg: "no choices"},
		{name: "timeout", reply: llmfake.Hang(), timeout: 150 * time.Millisecond, kind: llm.Transient, is: llm.ErrTimeout, msg: "no answer within 150ms (llms.default.timeout)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := srv.URL()
			if tt.base != "" {
				base = tt.base
			}
			p := profile(base)
			p.Token = config.NewSecret(testToken, "")
			if tt.timeout > 0 {
				p.Timeout = tt.timeout
			}
			c := newClient(t, p)
			srv.Reset()
			srv.Script(tt.reply)
			cv := llm.NewConversation(c, "sys")
			start := time.Now()
			_, err := cv.Send(context.Background(), "PROMPT-TEXT")
			checkError(t, err, tt.kind, tt.status, tt.is, tt.msg)
			var e *llm.Error
			if errors.As(err, &e) && e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", e.RetryAfter, tt.retryAfter)
			}
			if cv.Len() != 1 {
				t.Errorf("history after error = %v, want only the system message", cv.Messages())
			}
			if tt.timeout > 0 && time.Since(start) > tt.timeout+2*time.Second {
				t.Errorf("timeout took %s", time.Since(start))
			}

			// A backend error aborts a structured call at once: no retry,
			// history restored.
			srv.Reset()
			srv.Script(tt.reply)
			_, err = cv.SendStructured(context.Background(), "PROMPT-TEXT", mustSchema(t, classSchema))
			checkError(t, err, tt.kind, tt.status, tt.is, tt.msg)
			if n := len(srv.Requests()); tt.base == "" && n != 1 {
				t.Errorf("structured call made %d requests, want 1", n)
			}
			if cv.Len() != 1 {
				t.Errorf("history after structured error = %v", cv.Messages())
			}
		})
	}
}

func checkError(t *testing.T, err error, kind llm.Kind, status int, is error, msg string) {
	t.Helper()
	var e *llm.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v (%T), want *llm.Error", err, err)
	}
	if e.Kind != kind || llm.IsTransient(err) != (kind == llm.Transient) || llm.IsPermanent(err) != (kind == llm.Permanent) {
		t.Errorf("kind = %s, want %s (%v)", e.Kind, kind, err)
	}
	if e.Status != status {
		t.Errorf("status = %d, want %d", e.Status, status)
	}
	if !errors.Is(err, is) {
		t.Errorf("errors.Is(%v, %v) = false", err, is)
	}
	if !strings.Contains(err.Error(), msg) || !strings.HasPrefix(err.Error(), `llm profile "default": `) {
		t.Errorf("message %q, want it to contain %q", err, msg)
	}
	for _, leak := range []string{testToken, "PROMPT-TEXT", "/v1/chat/completions"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error quotes %q: %v", leak, err)
		}
	}
}

// A caller's cancelled context is transient (the task is retried later) and
// distinguishable from the profile timeout.
func TestCallerCancel(t *testing.T) {
	srv := newFake(t, llmfake.WithFixedReply(llmfake.Hang()))
	c := newClient(t, profile(srv.URL()))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		_ = srv.WaitRequests(ctx, 1)
		cancel()
	}()
	_, err := llm.NewConversation(c, "").Send(ctx, "hi")
	if !llm.IsTransient(err) || !errors.Is(err, context.Canceled) || errors.Is(err, llm.ErrTimeout) {
		t.Errorf("err = %v", err)
	}

	// A caller deadline shorter than the profile timeout wins.
	ctx, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_, err = llm.NewConversation(c, "").Send(ctx, "hi")
	if !llm.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v", err)
	}
}

func TestCompletionStats(t *testing.T) {
	srv := newFake(t, llmfake.WithFixedReply(llmfake.Response{Content: "x", PromptTokens: 12, CompletionTokens: 34, FinishReason: "length"}))
	c := newClient(t, profile(srv.URL()))
	comp, err := c.Complete(context.Background(), []llm.Message{{Role: llm.RoleUser, Content: "hi"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if comp.Content != "x" || comp.PromptTokens != 12 || comp.CompletionTokens != 34 || comp.FinishReason != "length" || comp.Model != "test-model" || comp.Duration <= 0 || comp.TokensPerSecond() <= 0 {
		t.Errorf("completion = %+v", comp)
	}
	if c.Profile() != "default" || c.Model() != "test-model" {
		t.Errorf("profile/model = %s/%s", c.Profile(), c.Model())
	}
}

func TestRegistry(t *testing.T) {
	a, b := profile("http://localhost:11434"), profile("http://gpu.lan:8080/v1")
	b.Name = "big"
	r, err := llm.NewRegistry([]config.LLMProfile{a, b}, llm.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	c1, err1 := r.Client("default")
	c2, err2 := r.Client("")
	if err1 != nil || err2 != nil || c1 != c2 {
		t.Errorf("default profile: %v %v, same instance %v", err1, err2, c1 == c2)
	}
	if c, _ := r.Client("big"); c == nil || c.Profile() != "big" {
		t.Errorf("big = %v", c)
	}
	_, err = r.Client("nope")
	if !llm.IsPermanent(err) || !errors.Is(err, llm.ErrUnknownProfile) || !strings.Contains(err.Error(), "available: default, big") {
		t.Errorf("unknown profile error = %v", err)
	}
	if got := r.Names(); len(got) != 2 || got[0] != "default" || got[1] != "big" {
		t.Errorf("Names = %v", got)
	}
	if _, err := llm.NewRegistry([]config.LLMProfile{a, a}); !llm.IsPermanent(err) {
		t.Errorf("duplicate profile: %v", err)
	}
	empty, _ := llm.NewRegistry(nil)
	if _, err := empty.Client("default"); !strings.Contains(fmtErr(err), "none configured") {
		t.Errorf("empty registry: %v", err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// One client serves many conversations at once (run with -race).
func TestConcurrentConversations(t *testing.T) {
	srv := newFake(t, llmfake.WithLatency(20*time.Millisecond))
	c := newClient(t, profile(srv.URL()))
	schema := mustSchema(t, classSchema)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			cv := llm.NewConversation(c, "sys")
			_, err := cv.SendStructured(context.Background(), "classify", schema)
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if got := len(srv.Requests()); got != n {
		t.Errorf("%d requests, want %d", got, n)
	}
	if srv.MaxConcurrent() < 2 {
		t.Errorf("max concurrent = %d: the client serialised requests", srv.MaxConcurrent())
	}
}
