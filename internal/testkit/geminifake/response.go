package geminifake

import (
	"net/http"
	"strconv"
	"time"
)

// Source is one grounding source of an answer (groundingChunks[].web).
type Source struct {
	Title string
	URI   string
}

// Response is what the server answers to one request. The zero value is a
// 200 with empty text; use the constructors below.
type Response struct {
	// Text is the answer text (which may be invalid JSON on purpose).
	Text string
	// Thought is a thought part sent before the text (the client must leave
	// it out of the answer).
	Thought string
	// Sources become groundingMetadata.groundingChunks when the request sent
	// the Google Search tool; Queries its webSearchQueries.
	Sources []Source
	Queries []string
	// NoGrounding leaves groundingMetadata out even for a search request.
	NoGrounding bool
	// NoCandidates answers with no candidates at all.
	NoCandidates bool
	// Auto answers a schema request with a conforming object (see
	// [Generate]) and a search with AutoText and AutoSource.
	Auto bool
	// FinishReason defaults to STOP; SAFETY (and kin) send no content.
	FinishReason string
	// BlockReason answers with promptFeedback.blockReason and no candidates.
	BlockReason string

	// Status other than 0 or 200 answers with a Google error body.
	Status int
	// ErrorMessage, ErrorStatus (e.g. RESOURCE_EXHAUSTED; default from the
	// HTTP status) and ErrorReason (an ErrorInfo detail, e.g.
	// API_KEY_INVALID) fill the error body.
	ErrorMessage string
	ErrorStatus  string
	ErrorReason  string
	// RetryAfter is sent as the Retry-After header when set.
	RetryAfter string

	// Raw is sent as the body verbatim (with Status, default 200).
	Raw         []byte
	ContentType string

	// Delay is added to the server's latency before answering.
	Delay time.Duration
	// Hang never answers: the handler waits until the client gives up.
	Hang bool
}

// Text answers with this text and no sources.
func Text(text string) Response { return Response{Text: text} }

// Grounded answers with text and these sources (groundingChunks, in order).
func Grounded(text string, sources ...Source) Response {
	return Response{Text: text, Sources: sources}
}

// Auto answers a schema request with a conforming object and a search with
// AutoText and AutoSource.
func Auto() Response { return Response{Auto: true} }

// Error answers with an HTTP error and a Google error body.
func Error(status int, grpcStatus, reason, message string) Response {
	return Response{Status: status, ErrorStatus: grpcStatus, ErrorReason: reason, ErrorMessage: message}
}

// KeyInvalid is the real API's answer to a wrong key: 400 INVALID_ARGUMENT,
// reason API_KEY_INVALID.
func KeyInvalid() Response {
	return Error(http.StatusBadRequest, "INVALID_ARGUMENT", "API_KEY_INVALID", "API key not valid. Please pass a valid API key.")
}

// RateLimited answers 429 RESOURCE_EXHAUSTED with a Retry-After of after
// (whole seconds; 0 sends none).
func RateLimited(after time.Duration) Response {
	r := Error(http.StatusTooManyRequests, "RESOURCE_EXHAUSTED", "", "Resource has been exhausted (e.g. check quota).")
	if after > 0 {
		r.RetryAfter = strconv.Itoa(int((after + time.Second - 1) / time.Second))
	}
	return r
}

// BlockedPrompt answers as the API does when its safety filters refuse the
// prompt: promptFeedback.blockReason (SAFETY, OTHER, ...) and no candidates.
func BlockedPrompt(reason string) Response { return Response{BlockReason: reason} }

// BlockedAnswer answers with a candidate that finished for reason (SAFETY,
// PROHIBITED_CONTENT, ...) and has no content.
func BlockedAnswer(reason string) Response { return Response{FinishReason: reason} }

// Garbage answers 200 with a body that is not a generateContent response.
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

// blockedFinish reports whether a finish reason withholds the content.
func blockedFinish(reason string) bool {
	switch reason {
	case "SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY":
		return true
	}
	return false
}
