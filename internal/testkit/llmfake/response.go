package llmfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Response is what the server answers to one request. The zero value is a
// 200 with empty content; use the constructors below.
type Response struct {
	// Content is the assistant message text.
	Content string
	// Auto replaces Content with a schema-conforming object when the request
	// has a json_schema (see [Generate]), and with AutoText otherwise.
	Auto bool
	// Refusal answers with content null and this refusal text.
	Refusal string
	// FinishReason defaults to "stop".
	FinishReason string
	// PromptTokens and CompletionTokens override the usage estimate.
	PromptTokens     int
	CompletionTokens int

	// Status other than 0 or 200 answers with an OpenAI error body.
	Status int
	// ErrorMessage, ErrorType and ErrorCode fill the error body (defaults
	// follow the status: e.g. 429 → type "requests", code
	// "rate_limit_exceeded").
	ErrorMessage string
	ErrorType    string
	ErrorCode    string
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string

	// Raw is sent as the body verbatim (with Status, default 200), for
	// garbage and truncated answers; ContentType defaults to JSON for 200.
	Raw         []byte
	ContentType string

	// Delay is added to the server's latency before answering.
	Delay time.Duration
	// Hang never answers: the handler waits until the client gives up (or
	// the server closes).
	Hang bool
}

// Text answers with this assistant text (which may be invalid JSON on
// purpose).
func Text(content string) Response { return Response{Content: content} }

// JSON answers with v encoded as the assistant text.
func JSON(v any) Response {
	b, err := json.Marshal(v)
	if err != nil {
		return Text("llmfake: cannot encode reply: " + err.Error())
	}
	return Text(string(b))
}

// Auto answers a json_schema request with a conforming object and any other
// request with AutoText.
func Auto() Response { return Response{Auto: true} }

// HTTPError answers with status and an OpenAI error body carrying message.
func HTTPError(status int, message string) Response {
	return Response{Status: status, ErrorMessage: message}
}

// RateLimited answers 429 with a Retry-After of after (rounded up to whole
// seconds; 0 sends no header).
func RateLimited(after time.Duration) Response {
	r := HTTPError(http.StatusTooManyRequests, "Rate limit reached. Please try again later.")
	if after > 0 {
		r.RetryAfter = strconv.Itoa(int((after + time.Second - 1) / time.Second))
	}
	return r
}

// Garbage answers 200 with a body that is not a chat completion.
func Garbage(body string) Response {
	return Response{Raw: []byte(body), ContentType: "text/plain; charset=utf-8"}
}

// Hang never answers (until the client gives up).
func Hang() Response { return Response{Hang: true} }

// After returns r delayed by d.
func (r Response) After(d time.Duration) Response {
	r.Delay += d
	return r
}
