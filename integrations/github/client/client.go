package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/apiurl"
)

// Wire constants and defaults of [Options].
const (
	// DefaultBaseURL is GitHub.com's REST API (the api_url default).
	DefaultBaseURL = "https://api.github.com"
	// APIVersion is sent as X-GitHub-Api-Version.
	APIVersion = "2022-11-28"
	// MediaJSON is the Accept of JSON calls.
	MediaJSON = "application/vnd.github+json"
	// MediaDiff is the Accept of a pull request's diff.
	MediaDiff = "application/vnd.github.diff"
	// UserAgent is sent with every request (GitHub requires one).
	UserAgent = "Steward (github.com/stewardhq/steward)"
	// DefaultTimeout bounds one request.
	DefaultTimeout = 30 * time.Second
	// DefaultMaxResponseBytes bounds the JSON body read from one answer.
	DefaultMaxResponseBytes = 8 << 20
	// DefaultDiffBytes is how much of a diff GetPullDiff keeps by default:
	// room for the 10,000 characters a classification prompt quotes, in any
	// UTF-8.
	DefaultDiffBytes = 40_000
	// DefaultMaxSearchPages bounds the pages one Search reads (GitHub's
	// search serves at most 1,000 results, 10 pages of 100).
	DefaultMaxSearchPages = 10
)

// Options configure a [Client].
type Options struct {
	// Integration is the instance id, e.g. "github.work"; every error starts
	// with it.
	Integration string
	// BaseURL is api_url ("" = DefaultBaseURL). See [CheckBaseURL].
	BaseURL string
	// Tokens supplies installation tokens. Required; share one per
	// integration instance so that every client reuses its cached token.
	Tokens *TokenSource
	// Timeout bounds each request (0 = DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes bounds the body read from a JSON answer (0 =
	// DefaultMaxResponseBytes).
	MaxResponseBytes int
	// HTTPClient sends the requests (nil = a client of its own). Its
	// CheckRedirect is replaced: only redirects to api_url's host are
	// followed.
	HTTPClient *http.Client
	// Now is the clock for rate-limit waits (nil = time.Now).
	Now func() time.Time
	// Logger receives one debug line per request (nil = slog.Default()).
	Logger *slog.Logger
}

// Client calls GitHub's REST API for one integration instance. It is safe
// for concurrent use.
type Client struct {
	integration string
	base        *url.URL
	tokens      *TokenSource
	timeout     time.Duration
	max         int
	http        *http.Client
	now         func() time.Time
	log         *slog.Logger
}

// New returns a client, or a permanent [*Error] wrapping ErrConfig.
func New(o Options) (*Client, error) {
	cfgErr := func(msg string) error { return &Error{Integration: o.Integration, Err: ErrConfig, msg: msg} }
	if o.Tokens == nil {
		return nil, cfgErr("no token source")
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if err := CheckBaseURL(o.BaseURL); err != nil {
		return nil, cfgErr("api_url: " + err.Error())
	}
	base, _ := url.Parse(strings.TrimRight(o.BaseURL, "/"))
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Client{
		integration: o.Integration,
		base:        base,
		tokens:      o.Tokens,
		timeout:     o.Timeout,
		max:         o.MaxResponseBytes,
		http:        noForeignRedirects(o.HTTPClient, o.BaseURL),
		now:         o.Now,
		log:         o.Logger,
	}, nil
}

// CheckBaseURL validates an api_url: an https URL with a host and no user,
// query or fragment (https://api.github.com, or https://{host}/api/v3 for
// GitHub Enterprise Server). Plain http is accepted only for a loopback host
// (a stand-in), since the token would otherwise cross the network
// unencrypted.
func CheckBaseURL(s string) error {
	return apiurl.Check(s, apiurl.Wording{
		Example: DefaultBaseURL + " (GitHub Enterprise: https://HOST/api/v3)",
		Secret:  "the token",
		Quote:   func(host string) string { return quoteSafe(host) },
	})
}

// clip cuts text quoted in an error to a readable length, made safe first.
func clip(s string) string { return apiurl.Clip(quoteSafe(s)) }

// noForeignRedirects copies hc (or makes a client) that follows at most five
// redirects, and only to base's scheme and host: GitHub redirects renamed
// repositories, but the token must never follow a redirect elsewhere.
func noForeignRedirects(hc *http.Client, base string) *http.Client {
	out := &http.Client{}
	if hc != nil {
		c := *hc
		out = &c
	}
	b, _ := url.Parse(base)
	out.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if len(via) >= 5 || b == nil || req.URL.Scheme != b.Scheme || !strings.EqualFold(req.URL.Host, b.Host) {
			return http.ErrUseLastResponse
		}
		return nil
	}
	return out
}

// Meta describes the answer to a GET.
type Meta struct {
	// Status is the HTTP status.
	Status int
	// NotModified is true for a 304 to If-None-Match: the stored copy is
	// current and no body came.
	NotModified bool
	// ETag is the validator to store with the item and send next time (the
	// one sent, for a 304 without one).
	ETag string
	// Rate is the rate-limit state GitHub reported.
	Rate Rate
}

// request is one API call.
type request struct {
	method string
	// target is a path under the base URL ("/repos/o/r/pulls/1") with an
	// optional query, or an absolute URL on the base's host (a Link).
	target string
	body   any
	accept string
	etag   string
	// max bounds the body read; a longer body is ErrTooLarge unless
	// truncate is set, when it is cut to max.
	max      int
	truncate bool
}

// response is a call's outcome.
type response struct {
	meta      Meta
	header    http.Header
	body      []byte
	truncated bool
}

// resolve turns a request target into a URL on the base's host.
func (c *Client) resolve(target string) (*url.URL, error) {
	if strings.HasPrefix(target, "https://") || strings.HasPrefix(target, "http://") {
		u, err := url.Parse(target)
		if err != nil || u.Scheme != c.base.Scheme || !strings.EqualFold(u.Host, c.base.Host) {
			return nil, &Error{Integration: c.integration, Transient: false, Err: ErrMalformedResponse,
				msg: "GitHub linked to a page on another host; not following it with the token"}
		}
		return u, nil
	}
	return url.Parse(c.base.String() + target)
}

// do sends one request with the installation token. It never retries.
func (c *Client) do(ctx context.Context, r request) (*response, error) {
	u, err := c.resolve(r.target)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		return nil, &Error{Integration: c.integration, Err: ErrConfig, msg: "cannot build the request URL"}
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	defer cancel()
	var body io.Reader = http.NoBody
	if r.body != nil {
		b, err := jsonBody(r.body)
		if err != nil {
			return nil, &Error{Integration: c.integration, Err: ErrConfig, msg: "cannot encode the request body"}
		}
		body = b
	}
	req, err := http.NewRequestWithContext(rctx, r.method, u.String(), body)
	if err != nil {
		return nil, &Error{Integration: c.integration, Err: ErrConfig, msg: "cannot build the request"}
	}
	setHeaders(req, tok.Value)
	if r.accept != "" {
		req.Header.Set("Accept", r.accept)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.etag != "" {
		req.Header.Set("If-None-Match", r.etag)
	}
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, transportError(c.integration, ctx, rctx, c.timeout, err, tok.Value)
	}
	defer resp.Body.Close()
	limit := r.max
	if limit <= 0 {
		limit = c.max
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, transportError(c.integration, ctx, rctx, c.timeout, err, tok.Value)
	}
	out := &response{header: resp.Header, meta: Meta{Status: resp.StatusCode, ETag: resp.Header.Get("ETag"), Rate: parseRate(resp.Header)}}
	c.log.Debug("github api", "integration", c.integration, "method", r.method, "path", u.Path,
		"status", resp.StatusCode, "rate_remaining", out.meta.Rate.Remaining, "duration", time.Since(start).Round(time.Millisecond))
	switch {
	case resp.StatusCode == http.StatusNotModified && r.etag != "":
		out.meta.NotModified = true
		if out.meta.ETag == "" {
			out.meta.ETag = r.etag
		}
		return out, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		e := statusError(c.integration, resp, data, c.now(), tok.Value)
		if resp.StatusCode == http.StatusUnauthorized {
			c.tokens.Invalidate(tok.Value)
		}
		c.log.Warn("github api error", "integration", c.integration, "method", r.method, "path", u.Path,
			"status", resp.StatusCode, "transient", e.Transient, "rate_limited", e.RateLimited, "error", e.Error())
		return nil, e
	}
	if len(data) > limit {
		if !r.truncate {
			return nil, &Error{Integration: c.integration, Status: resp.StatusCode, Err: ErrTooLarge,
				msg: fmt.Sprintf("%s %s: the answer is larger than %d bytes", r.method, u.Path, limit)}
		}
		data, out.truncated = data[:limit], true
	}
	out.body = data
	return out, nil
}

// transportError types a failure to get an answer. ctx is the caller's
// context, rctx the per-call one carrying the timeout; secret is masked.
func transportError(integration string, ctx, rctx context.Context, timeout time.Duration, err error, secret string) *Error {
	e := &Error{Integration: integration, Transient: true}
	switch {
	case ctx.Err() != nil:
		e.Err = ctx.Err()
		e.msg = "request abandoned: " + ctx.Err().Error()
	case errors.Is(context.Cause(rctx), ErrTimeout):
		e.Err = ErrTimeout
		e.msg = fmt.Sprintf("no answer within %s", timeout)
	default:
		// *url.Error quotes the whole URL; keep only its cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e.Err = err
		e.msg = "cannot reach the GitHub API: " + quoteSafe(err.Error(), secret)
		var certErr *tls.CertificateVerificationError
		var authErr x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		if errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) {
			e.Transient = false // retrying will not make the certificate valid
		}
	}
	return e
}
