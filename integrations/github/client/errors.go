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
	// ErrStatus: GitHub answered with an unexpected HTTP status.
	ErrStatus = errors.New("error status")
	// ErrNotFound: 404 (or 410): no such repository, pull request or issue,
	// or the App cannot see it.
	ErrNotFound = errors.New("not found")
	// ErrAuth: the App could not authenticate: an unusable private key, an
	// app id GitHub refuses, an unknown or revoked installation.
	ErrAuth = errors.New("authentication failed")
	// ErrRateLimited: a primary or secondary rate limit; see [RetryAfter].
	ErrRateLimited = errors.New("rate limited")
	// ErrTimeout: no answer within the client's timeout.
	ErrTimeout = errors.New("timed out")
	// ErrMalformedResponse: a 2xx answer that is not what the endpoint sends.
	ErrMalformedResponse = errors.New("malformed response")
	// ErrTooLarge: the answer is larger than the client reads.
	ErrTooLarge = errors.New("response too large")
	// ErrConfig: the client was given a config it cannot use.
	ErrConfig = errors.New("invalid client config")
)

// Error is the only error type a call returns. Its message names the
// integration and never holds the private key, the JWT or a token.
type Error struct {
	// Integration is the id the call was made for, e.g. "github.work".
	Integration string
	// Transient is true when the same call may succeed on a later attempt
	// (5xx, 408, timeouts, connection failures, a token GitHub stopped
	// accepting).
	Transient bool
	// RateLimited is true for a primary or secondary rate limit: the call
	// should be made again after RetryAfter, without counting as a failed
	// attempt. Transient is false then.
	RateLimited bool
	// Status is the HTTP status code, 0 when no response was received.
	Status int
	// RetryAfter is how long to wait before the next call (rate limits; 0
	// otherwise).
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
		return "github: " + msg
	}
	return e.Integration + ": " + msg
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Permanent reports whether retrying can never help: neither transient nor
// rate limited.
func (e *Error) Permanent() bool { return !e.Transient && !e.RateLimited }

// IsTransient reports whether err is (or wraps) an [*Error] worth retrying
// as a failed attempt.
func IsTransient(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Transient
}

// IsPermanent reports whether err is (or wraps) an [*Error] that retrying
// cannot fix. A handler wraps such errors with msg.Permanent.
func IsPermanent(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Permanent()
}

// RetryAfter reports whether err is (or wraps) a rate-limit [*Error], and how
// long to wait before calling again.
func RetryAfter(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RateLimited {
		return e.RetryAfter, true
	}
	return 0, false
}

// SecondaryLimitWait is the wait after a secondary rate limit that names no
// Retry-After: GitHub's documentation says to wait at least a minute.
const SecondaryLimitWait = time.Minute

// apiError is GitHub's error body {"message", "documentation_url", "errors"}.
type apiError struct {
	Message string `json:"message"`
	Errors  []struct {
		Resource string `json:"resource"`
		Field    string `json:"field"`
		Code     string `json:"code"`
		Message  string `json:"message"`
	} `json:"errors"`
}

// githubMessage reads GitHub's message from an error body ("" for a body
// that is not GitHub's JSON).
func githubMessage(body []byte) string {
	var ae apiError
	if json.Unmarshal(body, &ae) != nil {
		return ""
	}
	msg := ae.Message
	for _, d := range ae.Errors {
		part := d.Message
		if part == "" && d.Code != "" {
			part = strings.TrimSpace(d.Resource + " " + d.Field + " " + d.Code)
		}
		if part != "" {
			msg += "; " + part
		}
	}
	return msg
}

// rateLimitError recognises a rate-limit answer (403 or 429): it returns nil
// for a 403 that is a permission problem.
func rateLimitError(integration string, resp *http.Response, message string, now time.Time) *Error {
	code := resp.StatusCode
	if code != http.StatusForbidden && code != http.StatusTooManyRequests {
		return nil
	}
	rate := parseRate(resp.Header)
	retry := parseRetryAfter(resp.Header.Get("Retry-After"), now)
	lower := strings.ToLower(message)
	secondary := strings.Contains(lower, "secondary rate limit") || strings.Contains(lower, "abuse")
	primary := rate.Known && rate.Remaining == 0
	if retry == 0 && !primary && !secondary && code != http.StatusTooManyRequests {
		return nil
	}
	e := &Error{Integration: integration, RateLimited: true, Status: code, Err: ErrRateLimited}
	kind := "rate limited"
	switch {
	case retry > 0:
		e.RetryAfter = retry
		if secondary {
			kind = "secondary rate limit"
		}
	case primary && !rate.Reset.IsZero():
		kind = "primary rate limit exhausted"
		e.RetryAfter = max(rate.Reset.Sub(now).Round(time.Second)+time.Second, time.Second)
	default:
		if secondary {
			kind = "secondary rate limit"
		}
		e.RetryAfter = SecondaryLimitWait
	}
	e.msg = fmt.Sprintf("%s (HTTP %d); retry after %s", kind, code, e.RetryAfter)
	return e
}

// statusError builds the error for a non-2xx answer of an API call. secrets
// are masked in whatever of GitHub's text is quoted.
func statusError(integration string, resp *http.Response, body []byte, now time.Time, secrets ...string) *Error {
	code := resp.StatusCode
	message := quoteSafe(githubMessage(body), secrets...)
	if e := rateLimitError(integration, resp, message, now); e != nil {
		return e
	}
	e := &Error{Integration: integration, Transient: transientStatus(code), Status: code, Err: ErrStatus}
	switch {
	case code == http.StatusNotFound || code == http.StatusGone:
		e.Err = fmt.Errorf("%w: %w", ErrNotFound, ErrStatus)
		e.msg = fmt.Sprintf("not found (HTTP %d)", code)
	case code == http.StatusUnauthorized:
		// The installation token expired early or was revoked: a new one may
		// work, so the attempt is transient (the token source drops it).
		e.Transient = true
		e.Err = fmt.Errorf("%w: %w", ErrAuth, ErrStatus)
		e.msg = "GitHub refused the installation token (HTTP 401)"
	case code >= 300 && code < 400:
		e.msg = fmt.Sprintf("unexpected redirect (HTTP %d); api_url must name the API itself", code)
	default:
		text := http.StatusText(code)
		if text == "" {
			text = "status"
		}
		e.msg = fmt.Sprintf("HTTP %d %s", code, text)
	}
	if message != "" {
		e.msg += ": " + message
	}
	return e
}

// transientStatus reports whether an HTTP status may go away by itself: 408
// and every 5xx.
func transientStatus(code int) bool {
	return code == http.StatusRequestTimeout || code >= 500
}

// maxQuoted is how much of GitHub's own error text an Error quotes.
const maxQuoted = 200

// quoteSafe makes text from GitHub fit an error message: secrets masked, the
// first line only, no control characters, at most maxQuoted runes.
func quoteSafe(s string, secrets ...string) string {
	for _, k := range secrets {
		if k != "" {
			s = strings.ReplaceAll(s, k, "********")
		}
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

// Rate is the rate-limit state GitHub reported with an answer.
type Rate struct {
	// Known is false when the answer carried no X-RateLimit headers.
	Known bool
	// Limit is X-RateLimit-Limit; Remaining X-RateLimit-Remaining.
	Limit, Remaining int
	// Reset is X-RateLimit-Reset: when the window restarts.
	Reset time.Time
	// Resource is X-RateLimit-Resource ("core", "search", ...).
	Resource string
}

// parseRate reads the X-RateLimit-* headers.
func parseRate(h http.Header) Rate {
	var r Rate
	rem, err := strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Remaining")))
	if err != nil {
		return r
	}
	r.Known, r.Remaining = true, rem
	r.Limit, _ = strconv.Atoi(strings.TrimSpace(h.Get("X-RateLimit-Limit")))
	if reset, err := strconv.ParseInt(strings.TrimSpace(h.Get("X-RateLimit-Reset")), 10, 64); err == nil && reset > 0 {
		r.Reset = time.Unix(reset, 0)
	}
	r.Resource = quoteSafe(h.Get("X-RateLimit-Resource"))
	return r
}
