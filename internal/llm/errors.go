package llm

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Kind says whether a failed call is worth retrying later.
type Kind uint8

// Error kinds.
const (
	// Transient failures may succeed later: the backend is down or busy, it
	// timed out, or the model produced no valid output this time.
	Transient Kind = iota + 1
	// Permanent failures will fail the same way until the config or the
	// request changes: bad credentials, unknown model or profile, a request
	// the backend rejects.
	Permanent
)

// String returns "transient" or "permanent".
func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Permanent:
		return "permanent"
	}
	return "unknown"
}

// Sentinel causes, for errors.Is.
var (
	// ErrUnknownProfile: no llms.<name> profile with that name.
	ErrUnknownProfile = errors.New("unknown LLM profile")
	// ErrInvalidOutput: the model's reply was still not JSON matching the
	// schema after MaxAttempts attempts.
	ErrInvalidOutput = errors.New("invalid structured output")
	// ErrTimeout: the profile's timeout (llms.<name>.timeout) elapsed before
	// the backend answered.
	ErrTimeout = errors.New("timed out")
	// ErrStatus: the backend answered with a non-2xx HTTP status.
	ErrStatus = errors.New("backend returned an error status")
	// ErrMalformedResponse: a 2xx answer that is not a chat completion.
	ErrMalformedResponse = errors.New("malformed chat completion")
	// ErrInvalidSchema: NewSchema was given something that is not a usable
	// object schema, or SendStructured was given none.
	ErrInvalidSchema = errors.New("invalid schema")
)

// Error is the only error type the package returns from a backend call. Use
// errors.As to read it, [IsTransient]/[IsPermanent] to route it, and errors.Is
// with the sentinels above (or context.Canceled, syscall.ECONNREFUSED, ...) to
// tell causes apart.
//
// Its message names the profile and never holds the token, prompt or reply
// text, or the base URL beyond the host:port a connection error names.
type Error struct {
	// Kind says whether retrying later may help.
	Kind Kind
	// Profile is the llms.<name> the call was made with.
	Profile string
	// Status is the HTTP status code, 0 when no response was received.
	Status int
	// RetryAfter is the backend's Retry-After hint (429/503), 0 when absent.
	RetryAfter time.Duration
	// Attempts made, for ErrInvalidOutput.
	Attempts int
	// Problems are what was wrong with the last reply, for ErrInvalidOutput.
	Problems []string
	// LastReply is the model's last raw reply, for ErrInvalidOutput. It is
	// model output derived from the prompt, so it is never part of Error().
	LastReply string
	// Err is the cause.
	Err error

	// msg is the whole description after the profile; constructors write it
	// from safe parts only.
	msg string
}

// Error describes the failure without secrets or prompt text.
func (e *Error) Error() string {
	msg := e.msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Profile == "" {
		return "llm: " + msg
	}
	return fmt.Sprintf("llm profile %q: %s", e.Profile, msg)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether err is (or wraps) an [Error] of kind Transient:
// the task that made the call should be retried later.
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Transient
}

// IsPermanent reports whether err is (or wraps) an [Error] of kind Permanent:
// retrying without a config or code change would fail the same way.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == Permanent
}

// kindForStatus maps an HTTP status to a Kind: 408, 425, 429 and every 5xx are
// transient; any other status (400, 401, 403, 404, 413, 422, ...) is permanent.
func kindForStatus(code int) Kind {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return Transient
	case code >= 500:
		return Transient
	}
	return Permanent
}

// statusError builds the error for a non-2xx answer. body is the response body;
// token is redacted from whatever of it is quoted.
func statusError(profile string, resp *http.Response, body []byte, token string, now time.Time) *Error {
	code := resp.StatusCode
	e := &Error{
		Kind:       kindForStatus(code),
		Profile:    profile,
		Status:     code,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now),
		Err:        ErrStatus,
	}
	text := http.StatusText(code)
	if text == "" {
		text = "status"
	}
	e.msg = fmt.Sprintf("HTTP %d %s", code, text)
	switch code {
	case http.StatusUnauthorized, http.StatusForbidden:
		// Backends quote (part of) the rejected key in this message: leave it out.
		e.msg += fmt.Sprintf(" (check llms.%s.token)", profile)
	default:
		if m := backendMessage(body, token); m != "" {
			e.msg += ": " + m
		}
	}
	if e.RetryAfter > 0 {
		e.msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return e
}

// maxQuoted is how much of a backend's error message an Error quotes.
const maxQuoted = 200

// backendMessage extracts a short, single-line error message from an error
// body in the OpenAI shape {"error":{"message":...}}, the Ollama/llama.cpp
// shapes {"error":"..."} and {"message":...}, or plain text. The token, if the
// body quotes it, is masked.
func backendMessage(body []byte, token string) string {
	var env struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &env) == nil {
		var inner struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(env.Error, &inner) == nil && inner.Message != "":
			msg = inner.Message
		case json.Unmarshal(env.Error, &s) == nil && s != "":
			msg = s
		default:
			msg = env.Message
		}
	} else if !json.Valid(body) {
		msg = string(body)
		if strings.HasPrefix(strings.TrimSpace(msg), "<") {
			msg = "" // an HTML error page from a proxy says nothing useful
		}
	}
	if token != "" {
		msg = strings.ReplaceAll(msg, token, "********")
	}
	return oneLine(msg, maxQuoted)
}

// oneLine keeps the first line of s, without control characters, cut to max
// runes.
func oneLine(s string, max int) string {
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > max {
		s = string(r[:max]) + "…"
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now).Round(time.Second)
	}
	return 0
}
