package llmfake_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

// post sends a chat-completions body and decodes the JSON answer; status 0
// means no answer. It is safe to call from any goroutine.
func post(ctx context.Context, url, body string, header ...string) (int, http.Header, map[string]any, []byte) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, nil
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, nil, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, resp.Header, m, raw
}

const chatBody = `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":false}`

func content(m map[string]any) any {
	ch, _ := m["choices"].([]any)
	if len(ch) == 0 {
		return nil
	}
	msg, _ := ch[0].(map[string]any)["message"].(map[string]any)
	return msg["content"]
}

func TestWireFormat(t *testing.T) {
	s := llmfake.New(llmfake.WithFixedReply(llmfake.Text("hello")))
	defer s.Close()
	status, h, m, raw := post(context.Background(), s.URL(), chatBody, "Authorization", "Bearer abc")
	if status != 200 || h.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d, %s", status, raw)
	}
	if m["object"] != "chat.completion" || m["model"] != "m" || !strings.HasPrefix(m["id"].(string), "chatcmpl-") || m["created"] == nil {
		t.Errorf("envelope = %s", raw)
	}
	ch := m["choices"].([]any)[0].(map[string]any)
	if ch["index"] != 0.0 || ch["finish_reason"] != "stop" || content(m) != "hello" || ch["message"].(map[string]any)["role"] != "assistant" {
		t.Errorf("choice = %v", ch)
	}
	u := m["usage"].(map[string]any)
	if u["prompt_tokens"].(float64) < 1 || u["total_tokens"] != u["prompt_tokens"].(float64)+u["completion_tokens"].(float64) {
		t.Errorf("usage = %v", u)
	}
	r, ok := s.LastRequest()
	if !ok || r.Seq != 1 || r.Model != "m" || r.LastUser() != "hi" || r.Bearer() != "abc" || r.Body["stream"] != false || string(r.Raw) != chatBody {
		t.Errorf("recorded %+v", r)
	}
}

func TestRequestValidationAndRoutes(t *testing.T) {
	s := llmfake.New(llmfake.WithToken("tok"))
	defer s.Close()
	ok := []string{"Authorization", "Bearer tok"}
	tests := []struct {
		name, body string
		header     []string
		status     int
		errType    string
	}{
		{"no token", chatBody, nil, 401, "invalid_request_error"},
		{"wrong token", chatBody, []string{"Authorization", "Bearer nope"}, 401, "invalid_request_error"},
		{"not json", `{`, ok, 400, "invalid_request_error"},
		{"no model", `{"messages":[{"role":"user","content":"x"}]}`, ok, 400, "invalid_request_error"},
		{"no messages", `{"model":"m","messages":[]}`, ok, 400, "invalid_request_error"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, ok, 400, "invalid_request_error"},
		{"stream", `{"model":"m","messages":[{"role":"user","content":"x"}],"stream":true}`, ok, 400, "invalid_request_error"},
		{"schema without name", `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{}}}}`, ok, 400, "invalid_request_error"},
		{"fine", chatBody, ok, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, m, raw := post(context.Background(), s.URL(), tt.body, tt.header...)
			if status != tt.status {
				t.Fatalf("status = %d, want %d (%s)", status, tt.status, raw)
			}
			if tt.errType != "" {
				e, _ := m["error"].(map[string]any)
				if e["type"] != tt.errType || e["message"] == "" {
					t.Errorf("error body = %s", raw)
				}
			}
		})
	}
	resp, err := http.Get(s.URL() + "/v1/other")
	if err != nil || resp.StatusCode != 404 {
		t.Errorf("unknown path: %v %v", resp, err)
	}
	if resp != nil {
		resp.Body.Close()
	}
	if n := len(s.Requests()); n != len(tests)+1 {
		t.Errorf("recorded %d requests, want %d", n, len(tests)+1)
	}
}

func TestScriptThenReplyFunction(t *testing.T) {
	s := llmfake.New()
	defer s.Close()
	s.Reply(func(r llmfake.Request) llmfake.Response { return llmfake.Text("echo: " + r.LastUser()) })
	s.Script(llmfake.Text("{not json"), llmfake.JSON(map[string]int{"a": 1}))
	var got []any
	for range 3 {
		_, _, m, _ := post(context.Background(), s.URL(), chatBody)
		got = append(got, content(m))
	}
	if got[0] != "{not json" || got[1] != `{"a":1}` || got[2] != "echo: hi" || s.Pending() != 0 {
		t.Errorf("replies = %q", got)
	}
	s.Reply(nil)
	if _, _, m, _ := post(context.Background(), s.URL(), chatBody); content(m) != llmfake.AutoText {
		t.Errorf("default reply = %v", content(m))
	}
}

func TestErrorsAndGarbage(t *testing.T) {
	s := llmfake.New()
	defer s.Close()
	s.Script(llmfake.RateLimited(1500*time.Millisecond), llmfake.HTTPError(503, "overloaded"), llmfake.Garbage("<<garbage>>"),
		llmfake.Response{Refusal: "no", FinishReason: "length"})

	status, h, m, _ := post(context.Background(), s.URL(), chatBody)
	if e, _ := m["error"].(map[string]any); status != 429 || h.Get("Retry-After") != "2" || e["code"] != "rate_limit_exceeded" {
		t.Errorf("429: %d %v %v", status, h, m)
	}
	status, _, m, _ = post(context.Background(), s.URL(), chatBody)
	if e, _ := m["error"].(map[string]any); status != 503 || e["message"] != "overloaded" || e["type"] != "server_error" {
		t.Errorf("503: %d %v", status, m)
	}
	status, _, _, raw := post(context.Background(), s.URL(), chatBody)
	if status != 200 || string(raw) != "<<garbage>>" {
		t.Errorf("garbage: %d %q", status, raw)
	}
	_, _, m, _ = post(context.Background(), s.URL(), chatBody)
	msg := m["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
	if msg["content"] != nil || msg["refusal"] != "no" || m["choices"].([]any)[0].(map[string]any)["finish_reason"] != "length" {
		t.Errorf("refusal: %v", m)
	}
}

func TestAutoFromSchema(t *testing.T) {
	s := llmfake.New()
	defer s.Close()
	body := `{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"n","strict":true,"schema":` +
		`{"type":"object","properties":{"c":{"type":"number","minimum":0,"maximum":1},"b":{"type":"boolean"},"e":{"type":"string","enum":["x","y"]},` +
		`"i":{"type":"integer","exclusiveMinimum":3},"s":{"type":"string","minLength":6},"o":{"type":"object","properties":{"n":{"type":["null","number"]}}},` +
		`"a":{"type":"array","items":{"const":7}}},"required":["c","b","e"]}}}}`
	_, _, m, raw := post(context.Background(), s.URL(), body)
	var got map[string]any
	if err := json.Unmarshal([]byte(content(m).(string)), &got); err != nil {
		t.Fatalf("auto content not JSON: %s", raw)
	}
	want := `{"a":[7],"b":true,"c":0.5,"e":"x","i":4,"o":{"n":0.5},"s":"fakexx"}`
	if b, _ := json.Marshal(got); string(b) != want {
		t.Errorf("auto = %s, want %s", b, want)
	}
	r, _ := s.LastRequest()
	if r.ResponseFormat.JSONSchema.Name != "n" || r.ResponseFormat.JSONSchema.Strict == nil || !*r.ResponseFormat.JSONSchema.Strict || r.Schema() == nil {
		t.Errorf("response_format = %+v", r.ResponseFormat)
	}
}

func TestGenerate(t *testing.T) {
	tests := []struct {
		schema string
		want   string
	}{
		{`{"type":"number"}`, `0.5`},
		{`{"type":"number","minimum":2}`, `2`},
		{`{"type":"number","maximum":-1}`, `-1`},
		{`{"type":"integer","minimum":0,"maximum":10}`, `5`},
		{`{"type":"integer","maximum":0.5}`, `0`},
		{`{"type":"string","maxLength":2}`, `"fa"`},
		{`{"enum":[3,"x"]}`, `3`},
		{`{"anyOf":[{"type":"boolean"},{"type":"string"}]}`, `true`},
		{`{"properties":{"x":{"type":"null"}}}`, `{"x":null}`},
		{`{"type":"array","minItems":2,"items":{"type":"boolean"}}`, `[true,true]`},
		{`true`, `null`},
	}
	for _, tt := range tests {
		var s any
		if err := json.Unmarshal([]byte(tt.schema), &s); err != nil {
			t.Fatal(err)
		}
		if b, _ := json.Marshal(llmfake.Generate(s)); string(b) != tt.want {
			t.Errorf("Generate(%s) = %s, want %s", tt.schema, b, tt.want)
		}
	}
}

func TestLatencyConcurrencyAndWait(t *testing.T) {
	s := llmfake.New(llmfake.WithLatency(150 * time.Millisecond))
	defer s.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { post(ctx, s.URL(), chatBody) })
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := s.WaitRequests(wctx, 4); err != nil {
		t.Fatal(err)
	}
	if n := s.InFlight(); n != 4 {
		t.Errorf("in flight = %d, want 4", n)
	}
	wg.Wait()
	if s.MaxConcurrent() != 4 || s.InFlight() != 0 {
		t.Errorf("max %d, in flight %d", s.MaxConcurrent(), s.InFlight())
	}
	// Each answer left no earlier than 150 ms after its request arrived (a lower
	// bound: the latency is exact, the machine may only add to it).
	if busy := s.Busy(); busy < 4*150*time.Millisecond {
		t.Errorf("busy %v for 4 requests of 150 ms", busy)
	}
	s.Reset()
	if s.MaxConcurrent() != 0 || len(s.Requests()) != 0 || s.Busy() != 0 {
		t.Error("Reset kept state")
	}
	short, cancel2 := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel2()
	if err := s.WaitRequests(short, 1); err == nil {
		t.Error("WaitRequests returned without requests")
	}
}

// A hanging reply holds the request until the client gives up, and Close
// does not wait for it.
func TestHang(t *testing.T) {
	s := llmfake.New(llmfake.WithFixedReply(llmfake.Hang()))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	if status, _, _, _ := post(ctx, s.URL(), chatBody); status != 0 {
		t.Errorf("hang answered %d", status)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("client waited %s", d)
	}

	go post(context.Background(), s.URL(), chatBody)
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer wcancel()
	if err := s.WaitRequests(wctx, 2); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close waited %s for a hanging request", d)
	}
}

func TestModelsEndpoint(t *testing.T) {
	s := llmfake.New()
	defer s.Close()
	resp, err := http.Get(s.URL() + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(b.String(), `"object":"list"`) {
		t.Errorf("models: %d %s", resp.StatusCode, b.String())
	}
}
