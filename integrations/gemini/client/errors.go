package client

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

// Sentinel causes, for errors.Is.
var (
	// ErrStatus: the API answered with a non-2xx HTTP status.
	ErrStatus = errors.New("error status")
	// ErrKeyRefused: the API refused the API key (401, 403, or 400
	// API_KEY_INVALID).
	ErrKeyRefused = errors.New("API key refused")
	// ErrBlocked: Gemini's safety filters blocked the prompt
	// (promptFeedback.blockReason) or the answer (finishReason SAFETY, ...).
	ErrBlocked = errors.New("blocked by safety filters")
	// ErrTimeout: no answer within the client's timeout.
	ErrTimeout = errors.New("timed out")
	// ErrMalformedResponse: a 2xx answer that is not a generateContent
	// response, or structured output that is not JSON.
	ErrMalformedResponse = errors.New("malformed response")
	// ErrTooLarge: the answer is larger than the client reads.
	ErrTooLarge = errors.New("response too large")
	// ErrConfig: the client was given a config it cannot use (no key, a bad
	// api_url or model).
	ErrConfig = errors.New("invalid client config")
)

// Error is the only error type a call returns. Its message names the
// integration and never holds the API key or the prompt.
type Error struct {
	// Integration is the id the call was made for, e.g. "gemini.research".
	Integration string
	// Transient is true when the same call may succeed later (rate limits,
	// server errors, timeouts, connection failures).
	Transient bool
	// Status is the HTTP status code, 0 when no response was received.
	Status int
	// Reason is the API's machine-readable reason when it gave one
	// (API_KEY_INVALID, RESOURCE_EXHAUSTED, a block reason such as SAFETY).
	Reason string
	// RetryAfter is the API's Retry-After hint, 0 when absent.
	RetryAfter time.Duration
	// Err is the cause.
	Err error

	msg string // written from safe parts only
}

// Error describes the failure: "<integration>: <what happened>".
func (e *Error) Error() string {
	msg := e.msg
	if msg == "" && e.Err != nil {
		msg = e.Err.Error()
	}
	if e.Integration == "" {
		return "gemini: " + msg
	}
	return e.Integration + ": " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether err is (or wraps) an [*Error] worth retrying
// later.
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Transient
}

// transientStatus reports whether an HTTP status may go away by itself: 408,
// 429 and every 5xx.
func transientStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests || code >= 500
}

// apiError is the Google error body {"error": {code, message, status, details}}.
type apiError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type   string `json:"@type"`
			Reason string `json:"reason"`
		} `json:"details"`
	} `json:"error"`
}

// statusError builds the error for a non-2xx answer. body is the response
// body; key is masked in whatever of it is quoted.
func statusError(integration, model string, resp *http.Response, body []byte, key string, now time.Time) *Error {
	code := resp.StatusCode
	e := &Error{
		Integration: integration,
		Transient:   transientStatus(code),
		Status:      code,
		RetryAfter:  parseRetryAfter(resp.Header.Get("Retry-After"), now),
		Err:         ErrStatus,
	}
	var ae apiError
	message, status := "", ""
	if json.Unmarshal(body, &ae) == nil {
		message, status = ae.Error.Message, ae.Error.Status
		for _, d := range ae.Error.Details {
			if d.Reason != "" {
				e.Reason = d.Reason
				break
			}
		}
	} else if !strings.HasPrefix(strings.TrimSpace(string(body)), "<") {
		message = string(body) // plain text; an HTML page from a proxy says nothing useful
	}
	if e.Reason == "" {
		e.Reason = safeToken(status)
	}
	message = quoteSafe(message, key)
	keyProblem := code == http.StatusUnauthorized || code == http.StatusForbidden ||
		(code == http.StatusBadRequest && (e.Reason == "API_KEY_INVALID" || strings.Contains(strings.ToLower(message), "api key")))
	switch {
	case keyProblem:
		e.Err = fmt.Errorf("%w: %w", ErrKeyRefused, ErrStatus)
		// The API's text may quote part of the key: only its reason is shown.
		e.msg = fmt.Sprintf("the API key was refused (HTTP %d)", code)
		if e.Reason != "" {
			e.msg += ": " + e.Reason
		}
	case code == http.StatusNotFound:
		e.msg = fmt.Sprintf("the model %q was not found (HTTP 404); check the integration's model", model)
	case code == http.StatusTooManyRequests:
		e.msg = "rate limited (HTTP 429)"
		if message != "" {
			e.msg += ": " + message
		}
	case code >= 300 && code < 400:
		e.msg = fmt.Sprintf("unexpected redirect (HTTP %d); api_url must name the API itself", code)
	default:
		text := http.StatusText(code)
		if text == "" {
			text = "status"
		}
		e.msg = fmt.Sprintf("HTTP %d %s", code, text)
		if message != "" {
			e.msg += ": " + message
		}
	}
	if e.RetryAfter > 0 {
		e.msg += fmt.Sprintf(" (retry after %s)", e.RetryAfter)
	}
	return e
}

// maxQuoted is how much of the API's own error text an Error quotes.
const maxQuoted = 200

// quoteSafe makes text from the API fit an error message: the key masked, the
// first line only, no control characters, at most maxQuoted runes.
func quoteSafe(s, key string) string {
	if key != "" {
		s = strings.ReplaceAll(s, key, "********")
	}
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	if r := []rune(s); len(r) > maxQuoted {
		s = string(r[:maxQuoted]) + "…"
	}
	return s
}

// safeToken keeps s when it is an enum-like token (A-Z, 0-9, _), "" otherwise.
func safeToken(s string) string {
	if s == "" || len(s) > 64 {
		return ""
	}
	for _, r := range s {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_') {
			return ""
		}
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
