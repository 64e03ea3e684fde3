// Package llmfake is a stand-in for an OpenAI-compatible chat-completions
// backend (what Ollama, llama.cpp, vLLM and OpenAI serve at
// POST /v1/chat/completions), for tests, benchmarks and load runs.
//
// A [Server] listens on a real TCP port on 127.0.0.1 and speaks the real wire
// format: chat.completion answers, response_format json_schema, OpenAI error
// bodies, Retry-After. What it answers is scriptable at run time: a fixed
// reply, a function of the request, a queue of one-off replies (invalid JSON
// first, then valid), latency, HTTP errors, garbage bodies, or hanging until
// the client gives up. A reply marked Auto answers a json_schema request with
// an object that satisfies the schema. Every request is recorded (decoded body
// and headers), with the most requests it ever had in flight at once.
//
// It does not depend on package testing, so benchmarks and commands can use
// it too. It is not a model: it never reads the prompt unless a reply
// function does.
package llmfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/stewardhq/steward/internal/testkit/script"
)

// Server is a fake chat-completions backend. All methods are safe for
// concurrent use, also while requests are being served.
type Server struct {
	srv *httptest.Server

	replies *script.Queue[Request, Response]

	mu          sync.Mutex
	latency     time.Duration
	token       string
	requests    []Request
	inFlight    int
	maxInFlight int
	busy        time.Duration // summed time from arrival to answer, over all requests
	seq         int
	arrived     chan struct{} // closed and replaced on every arrival

	closing   chan struct{}
	closeOnce sync.Once
}

// Option configures a Server at New.
type Option func(*Server)

// WithReply sets the reply function (see [Server.Reply]).
func WithReply(f func(Request) Response) Option { return func(s *Server) { s.replies.SetReply(f) } }

// WithFixedReply answers every request with r (see [Server.FixedReply]).
func WithFixedReply(r Response) Option {
	return func(s *Server) { s.replies.SetReply(func(Request) Response { return r }) }
}

// WithScript queues one-off replies (see [Server.Script]).
func WithScript(rs ...Response) Option {
	return func(s *Server) { s.replies.Push(rs...) }
}

// WithLatency delays every answer (see [Server.SetLatency]).
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

// WithToken makes the server require "Authorization: Bearer <token>" (see
// [Server.SetToken]).
func WithToken(token string) Option { return func(s *Server) { s.token = token } }

// New starts a server on 127.0.0.1 with a random port. Without a reply
// function or script every request gets [Auto]. Close it when done.
func New(opts ...Option) *Server {
	s := &Server{replies: script.NewQueue[Request](Auto), arrived: make(chan struct{}), closing: make(chan struct{})}
	for _, o := range opts {
		o(s)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// URL is the server root, like Ollama's http://localhost:11434: the endpoint
// is URL()+"/v1/chat/completions", and URL()+"/v1" is the base URL in the
// form OpenAI clients use.
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server. Requests that hang or wait out a latency are
// released first, so Close does not wait for them.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// Reply sets the function that answers requests once the script is empty.
// nil restores the default, [Auto].
func (s *Server) Reply(f func(Request) Response) { s.replies.SetReply(f) }

// FixedReply answers every request with r once the script is empty.
func (s *Server) FixedReply(r Response) { s.Reply(func(Request) Response { return r }) }

// Script queues replies used one per request, in order, before the reply
// function: Script(Text("not json"), Auto()) makes the next request fail
// validation and the one after it succeed.
func (s *Server) Script(rs ...Response) { s.replies.Push(rs...) }

// Pending is the number of scripted replies not used yet.
func (s *Server) Pending() int { return s.replies.Pending() }

// SetLatency makes every answer leave d after its request arrived (plus a
// reply's own Delay), to within microseconds; the wait ends early when the
// client goes away.
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// SetToken makes the server answer 401 unless a request carries
// "Authorization: Bearer <token>"; "" accepts any request.
func (s *Server) SetToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.token = token
}

// Requests returns every request received so far, oldest first (including
// those still being served and those answered with an error).
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	copy(out, s.requests)
	return out
}

// LastRequest returns the most recent request; ok is false when none came.
func (s *Server) LastRequest() (r Request, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.requests) == 0 {
		return Request{}, false
	}
	return s.requests[len(s.requests)-1], true
}

// InFlight is the number of requests being served now.
func (s *Server) InFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inFlight
}

// MaxConcurrent is the most requests that were in flight at the same moment.
func (s *Server) MaxConcurrent() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight
}

// Busy is the summed time requests spent in the server, from arrival to
// answer: with concurrency c over a wall time w, Busy/(c·w) is how busy the
// backend was.
func (s *Server) Busy() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy
}

// Reset forgets recorded requests, the concurrency high-water mark (down to
// what is in flight now) and any scripted replies left. The reply function,
// latency and token stay.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
	s.replies.Clear()
	s.maxInFlight = s.inFlight
	s.busy = 0
}

// WaitRequests blocks until at least n requests have arrived in total, or ctx
// ends.
func (s *Server) WaitRequests(ctx context.Context, n int) error {
	for {
		s.mu.Lock()
		got, ch := len(s.requests), s.arrived
		s.mu.Unlock()
		if got >= n {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("llmfake: %d of %d requests arrived: %w", got, n, ctx.Err())
		}
	}
}

// maxRequestBytes bounds a request body.
const maxRequestBytes = 32 << 20

// serve handles every request: record, check, pick a reply, wait, answer.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	arrival := time.Now()
	raw, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	req := decodeRequest(r, raw)

	s.mu.Lock()
	s.seq++
	req.Seq = s.seq
	s.requests = append(s.requests, req)
	s.inFlight++
	s.maxInFlight = max(s.maxInFlight, s.inFlight)
	close(s.arrived)
	s.arrived = make(chan struct{})
	token, latency := s.token, s.latency
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inFlight--
		s.busy += time.Since(arrival)
		s.mu.Unlock()
	}()

	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		if token != "" && req.Bearer() != token {
			writeError(w, HTTPError(http.StatusUnauthorized, "Incorrect API key provided."))
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": []any{
			map[string]any{"id": "llmfake", "object": "model", "created": 0, "owned_by": "llmfake"},
		}})
		return
	case r.URL.Path != "/v1/chat/completions":
		writeError(w, HTTPError(http.StatusNotFound, fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path)))
		return
	case r.Method != http.MethodPost:
		writeError(w, HTTPError(http.StatusMethodNotAllowed, "use POST"))
		return
	case token != "" && req.Bearer() != token:
		writeError(w, HTTPError(http.StatusUnauthorized, "Incorrect API key provided."))
		return
	}
	if msg := req.invalid(); msg != "" {
		writeError(w, HTTPError(http.StatusBadRequest, msg))
		return
	}

	resp := s.replies.Next(req)
	if !script.WaitUntil(r.Context(), arrival.Add(latency+resp.Delay), s.closing, script.Precision) {
		return
	}
	if resp.Hang {
		script.Hang(r.Context(), s.closing)
		return
	}
	switch {
	case resp.Status != 0 && resp.Status != http.StatusOK:
		writeError(w, resp)
	case resp.Raw != nil:
		script.WriteRaw(w, http.StatusOK, resp.Raw, resp.ContentType, "application/json")
	default:
		writeJSON(w, http.StatusOK, completion(req, resp))
	}
}

// completion builds the chat.completion answer.
func completion(req Request, resp Response) map[string]any {
	content := resp.Content
	if resp.Auto {
		content = autoContent(req)
	}
	msg := map[string]any{"role": "assistant", "content": content}
	if resp.Refusal != "" {
		msg["content"] = nil
		msg["refusal"] = resp.Refusal
	}
	finish := resp.FinishReason
	if finish == "" {
		finish = "stop"
	}
	prompt := resp.PromptTokens
	if prompt == 0 {
		n := 0
		for _, m := range req.Messages {
			n += len(m.Content)
		}
		prompt = n/4 + 1
	}
	compl := resp.CompletionTokens
	if compl == 0 {
		compl = len(content)/4 + 1
	}
	return map[string]any{
		"id":                 fmt.Sprintf("chatcmpl-llmfake-%d", req.Seq),
		"object":             "chat.completion",
		"created":            req.Received.Unix(),
		"model":              req.Model,
		"system_fingerprint": "llmfake",
		"choices": []any{map[string]any{
			"index":         0,
			"message":       msg,
			"logprobs":      nil,
			"finish_reason": finish,
		}},
		"usage": map[string]any{
			"prompt_tokens":     prompt,
			"completion_tokens": compl,
			"total_tokens":      prompt + compl,
		},
	}
}

// autoContent is the Auto reply: a schema-conforming object for a
// json_schema request, AutoText otherwise.
func autoContent(req Request) string {
	schema := req.Schema()
	if schema == nil {
		return AutoText
	}
	var doc any
	if err := json.Unmarshal(schema, &doc); err != nil {
		return AutoText
	}
	b, err := json.Marshal(Generate(doc))
	if err != nil {
		return AutoText
	}
	return string(b)
}

// writeError writes an OpenAI-style error body {"error":{message,type,code}},
// or resp.Raw when set.
func writeError(w http.ResponseWriter, resp Response) {
	status := resp.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	if resp.RetryAfter != "" {
		w.Header().Set("Retry-After", resp.RetryAfter)
	}
	if resp.Raw != nil {
		script.WriteRaw(w, status, resp.Raw, resp.ContentType, "text/plain; charset=utf-8")
		return
	}
	typ, code := errorType(status)
	if resp.ErrorType != "" {
		typ = resp.ErrorType
	}
	if resp.ErrorCode != "" {
		code = resp.ErrorCode
	}
	msg := resp.ErrorMessage
	if msg == "" {
		msg = http.StatusText(status)
	}
	var c any
	if code != "" {
		c = code
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": c}})
}

// errorType is the OpenAI error type and code for a status.
func errorType(status int) (typ, code string) {
	switch {
	case status == http.StatusUnauthorized:
		return "invalid_request_error", "invalid_api_key"
	case status == http.StatusNotFound:
		return "invalid_request_error", "model_not_found"
	case status == http.StatusTooManyRequests:
		return "requests", "rate_limit_exceeded"
	case status >= 500:
		return "server_error", ""
	}
	return "invalid_request_error", ""
}

// writeJSON writes v as the JSON body.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// AutoText is the Auto reply to a request without a json_schema.
const AutoText = "OK"

// bearer extracts the token of an Authorization header.
func bearer(h string) string {
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}
