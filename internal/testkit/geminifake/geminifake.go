// Package geminifake is a stand-in for the Gemini API's generateContent
// method (POST /v1beta/models/{model}:generateContent), for tests and load
// runs of the gemini integration.
//
// A [Server] listens on a real TCP port on 127.0.0.1 and speaks the real wire
// format: it parses the request (contents, tools with google_search,
// generationConfig with responseMimeType and responseSchema, in camelCase or
// snake_case as the real API accepts), refuses what the real API refuses with
// Google error bodies ({"error": {code, message, status, details}}), checks
// the x-goog-api-key header, and answers with candidates, groundingMetadata
// (groundingChunks[].web.{uri,title}, webSearchQueries), promptFeedback and
// usageMetadata. What it answers is scriptable: a fixed reply, a function of
// the request, a queue of one-off replies, latency, HTTP errors, blocked
// prompts and answers, garbage bodies, or hanging until the client gives up.
// Every request is recorded.
//
// It does not depend on package testing. It is not a model: [Auto] answers a
// search with a fixed text and source, and a schema request with an object
// that satisfies the schema.
package geminifake

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

// Server is a fake Gemini API. All methods are safe for concurrent use.
type Server struct {
	srv *httptest.Server

	replies *script.Queue[Request, Response]

	mu       sync.Mutex
	latency  time.Duration
	key      string
	requests []Request
	arrived  chan struct{}

	closing   chan struct{}
	closeOnce sync.Once
}

// Option configures a Server at New.
type Option func(*Server)

// WithKey makes the server require "x-goog-api-key: <key>" (see [Server.SetKey]).
func WithKey(key string) Option { return func(s *Server) { s.key = key } }

// WithReply sets the reply function (see [Server.Reply]).
func WithReply(f func(Request) Response) Option { return func(s *Server) { s.replies.SetReply(f) } }

// WithScript queues one-off replies (see [Server.Script]).
func WithScript(rs ...Response) Option {
	return func(s *Server) { s.replies.Push(rs...) }
}

// WithLatency delays every answer by d.
func WithLatency(d time.Duration) Option { return func(s *Server) { s.latency = d } }

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

// URL is the server root, the api_url to configure (the endpoint is
// URL()+"/v1beta/models/<model>:generateContent").
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server; requests that hang or wait are released first.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.closing) })
	s.srv.CloseClientConnections()
	s.srv.Close()
}

// SetKey makes the server answer 400 API_KEY_INVALID (as the real API does)
// unless a request carries "x-goog-api-key: <key>"; "" accepts any request.
func (s *Server) SetKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

// Reply sets the function that answers once the script is empty (nil = Auto).
func (s *Server) Reply(f func(Request) Response) { s.replies.SetReply(f) }

// FixedReply answers every request with r once the script is empty.
func (s *Server) FixedReply(r Response) { s.Reply(func(Request) Response { return r }) }

// Script queues replies used one per request, in order, before the reply
// function.
func (s *Server) Script(rs ...Response) { s.replies.Push(rs...) }

// SetLatency delays every answer by d (the wait ends early when the client
// goes away).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// Requests returns every request received so far, oldest first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// WaitRequests blocks until at least n requests have arrived, or ctx ends.
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
			return fmt.Errorf("geminifake: %d of %d requests arrived: %w", got, n, ctx.Err())
		}
	}
}

// maxRequestBytes bounds a request body.
const maxRequestBytes = 20 << 20

// routePrefix and routeSuffix frame the model in the endpoint path.
const (
	routePrefix = "/v1beta/models/"
	routeSuffix = ":generateContent"
)

// serve handles every request: record, check, pick a reply, wait, answer.
func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	arrival := time.Now()
	raw, _ := io.ReadAll(io.LimitReader(r.Body, maxRequestBytes))
	req := decodeRequest(r, raw)

	s.mu.Lock()
	req.Seq = len(s.requests) + 1
	s.requests = append(s.requests, req)
	close(s.arrived)
	s.arrived = make(chan struct{})
	key, latency := s.key, s.latency
	s.mu.Unlock()

	path := r.URL.Path
	switch {
	case !strings.HasPrefix(path, routePrefix) || !strings.HasSuffix(path, routeSuffix) || req.Model == "":
		writeError(w, Error(http.StatusNotFound, "NOT_FOUND", "", fmt.Sprintf("no route for %s %s", r.Method, path)))
		return
	case r.Method != http.MethodPost:
		writeError(w, Error(http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "", "use POST"))
		return
	case key != "" && req.Key() != key:
		writeError(w, KeyInvalid())
		return
	}
	if msg := req.invalid(); msg != "" {
		writeError(w, Error(http.StatusBadRequest, "INVALID_ARGUMENT", "", msg))
		return
	}

	resp := s.replies.Next(req)
	// Spin 0: the answer leaves once a timer fires, up to ~1 ms late.
	if !script.WaitUntil(r.Context(), arrival.Add(latency+resp.Delay), s.closing, 0) {
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
		writeJSON(w, http.StatusOK, answer(req, resp))
	}
}

// answer builds a GenerateContentResponse.
func answer(req Request, resp Response) map[string]any {
	out := map[string]any{"modelVersion": req.Model, "responseId": fmt.Sprintf("geminifake-%d", req.Seq)}
	if resp.BlockReason != "" {
		out["promptFeedback"] = map[string]any{"blockReason": resp.BlockReason, "safetyRatings": []any{
			map[string]any{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": true},
		}}
		out["usageMetadata"] = map[string]any{"promptTokenCount": len(req.Prompt())/4 + 1, "totalTokenCount": len(req.Prompt())/4 + 1}
		return out
	}
	if resp.NoCandidates {
		return out
	}
	text, sources, queries := resp.Text, resp.Sources, resp.Queries
	if resp.Auto {
		text, sources, queries = autoAnswer(req)
	}
	finish := resp.FinishReason
	if finish == "" {
		finish = "STOP"
	}
	cand := map[string]any{"index": 0, "finishReason": finish}
	if blockedFinish(finish) {
		cand["safetyRatings"] = []any{map[string]any{"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": true}}
	} else {
		parts := []any{}
		if resp.Thought != "" {
			parts = append(parts, map[string]any{"text": resp.Thought, "thought": true})
		}
		parts = append(parts, map[string]any{"text": text})
		cand["content"] = map[string]any{"role": "model", "parts": parts}
	}
	if req.GoogleSearch() && !resp.NoGrounding {
		chunks := make([]any, len(sources))
		supports := []any{}
		for i, src := range sources {
			chunks[i] = map[string]any{"web": map[string]any{"uri": src.URI, "title": src.Title}}
			supports = append(supports, map[string]any{
				"segment":               map[string]any{"startIndex": 0, "endIndex": len(text), "text": text},
				"groundingChunkIndices": []any{i},
			})
		}
		cand["groundingMetadata"] = map[string]any{
			"webSearchQueries":  queries,
			"searchEntryPoint":  map[string]any{"renderedContent": "<div>geminifake</div>"},
			"groundingChunks":   chunks,
			"groundingSupports": supports,
		}
	}
	out["candidates"] = []any{cand}
	pt, ct := len(req.Prompt())/4+1, len(text)/4+1
	out["usageMetadata"] = map[string]any{"promptTokenCount": pt, "candidatesTokenCount": ct, "totalTokenCount": pt + ct}
	return out
}

// AutoText is the text of the Auto answer to a request without a schema.
const AutoText = "OK"

// AutoSource is the source of the Auto answer to a search request.
var AutoSource = Source{Title: "example.com", URI: "https://example.com/"}

// autoAnswer is the Auto reply: a schema-conforming object for a schema
// request, AutoText (with AutoSource for a search) otherwise.
func autoAnswer(req Request) (string, []Source, []string) {
	if req.ResponseSchema != nil {
		b, err := json.Marshal(Generate(req.ResponseSchema))
		if err == nil {
			return string(b), nil, nil
		}
	}
	if req.GoogleSearch() {
		return AutoText, []Source{AutoSource}, []string{req.Prompt()}
	}
	return AutoText, nil, nil
}

// Generate returns a value satisfying a Gemini responseSchema (the first enum
// value, "text", 1, 0.5, true, one array item, every property).
func Generate(schema map[string]any) any {
	if e, ok := schema["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	switch schema["type"] {
	case "OBJECT":
		out := map[string]any{}
		props, _ := schema["properties"].(map[string]any)
		for k, p := range props {
			if pm, ok := p.(map[string]any); ok {
				out[k] = Generate(pm)
			}
		}
		return out
	case "ARRAY":
		if it, ok := schema["items"].(map[string]any); ok {
			return []any{Generate(it)}
		}
		return []any{}
	case "INTEGER":
		return 1
	case "NUMBER":
		return 0.5
	case "BOOLEAN":
		return true
	}
	return "text"
}

// writeError writes a Google error body, or resp.Raw when set.
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
	msg := resp.ErrorMessage
	if msg == "" {
		msg = http.StatusText(status)
	}
	st := resp.ErrorStatus
	if st == "" {
		st = grpcStatus(status)
	}
	body := map[string]any{"code": status, "message": msg, "status": st}
	if resp.ErrorReason != "" {
		body["details"] = []any{map[string]any{
			"@type":  "type.googleapis.com/google.rpc.ErrorInfo",
			"reason": resp.ErrorReason,
			"domain": "googleapis.com",
		}}
	}
	writeJSON(w, status, map[string]any{"error": body})
}

// grpcStatus is the status string Google sends with an HTTP status.
func grpcStatus(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "UNKNOWN"
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
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}
