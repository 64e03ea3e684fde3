package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/apiurl"
)

// Defaults of [Options].
const (
	// DefaultBaseURL is Google's Gemini API (the api_url default).
	DefaultBaseURL = "https://generativelanguage.googleapis.com"
	// DefaultModel is the model used when the integration names none.
	DefaultModel = "gemini-3-pro-preview"
	// DefaultTimeout bounds one call: a grounded answer of a large model takes
	// tens of seconds.
	DefaultTimeout = 3 * time.Minute
	// DefaultMaxResponseBytes bounds the body read from one answer.
	DefaultMaxResponseBytes = 8 << 20
	// APIVersion is the version segment of the endpoint path.
	APIVersion = "v1beta"
)

// Options configure a [Client].
type Options struct {
	// Integration is the instance id, e.g. "gemini.research"; every error
	// starts with it.
	Integration string
	// BaseURL is api_url ("" = DefaultBaseURL). See [CheckBaseURL].
	BaseURL string
	// APIKey is the Gemini API key. Required.
	APIKey string
	// Model is the model name ("" = DefaultModel). See [CheckModel].
	Model string
	// Timeout bounds each call (0 = DefaultTimeout).
	Timeout time.Duration
	// MaxResponseBytes bounds the body read from an answer (0 =
	// DefaultMaxResponseBytes).
	MaxResponseBytes int
	// HTTPClient sends the requests (nil = a client of its own). Its
	// CheckRedirect is replaced: redirects are always refused.
	HTTPClient *http.Client
	// Logger receives one line per call (nil = slog.Default()). It never sees
	// the key; prompts only at debug level.
	Logger *slog.Logger
}

// Client calls generateContent for one integration instance. It is safe for
// concurrent use.
type Client struct {
	integration string
	endpoint    string
	key         string
	model       string
	timeout     time.Duration
	max         int
	http        *http.Client
	log         *slog.Logger
}

// New returns a client, or an [*Error] wrapping ErrConfig (permanent) when
// the options cannot work.
func New(o Options) (*Client, error) {
	cfgErr := func(msg string) error {
		return &Error{Integration: o.Integration, Err: ErrConfig, msg: msg}
	}
	if o.APIKey == "" {
		return nil, cfgErr("no API key: set api_key (api_key: !secret <name>, the value in secrets.yaml)")
	}
	if strings.ContainsAny(o.APIKey, "\r\n") {
		return nil, cfgErr("the API key holds a line break; check its value in secrets.yaml")
	}
	if o.BaseURL == "" {
		o.BaseURL = DefaultBaseURL
	}
	if err := CheckBaseURL(o.BaseURL); err != nil {
		return nil, cfgErr("api_url: " + err.Error())
	}
	model := strings.TrimPrefix(o.Model, "models/")
	if model == "" {
		model = DefaultModel
	}
	if err := CheckModel(model); err != nil {
		return nil, cfgErr("model: " + err.Error())
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	hc := &http.Client{}
	if o.HTTPClient != nil {
		c := *o.HTTPClient
		hc = &c
	}
	// The key is a custom header, which net/http would carry across a
	// redirect to any host: never follow one.
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Client{
		integration: o.Integration,
		endpoint:    strings.TrimRight(o.BaseURL, "/") + "/" + APIVersion + "/models/" + model + ":generateContent",
		key:         o.APIKey,
		model:       model,
		timeout:     o.Timeout,
		max:         o.MaxResponseBytes,
		http:        hc,
		log:         o.Logger,
	}, nil
}

// Model is the model the client calls.
func (c *Client) Model() string { return c.model }

// modelPattern is a model name: a path-safe token (gemini-2.5-pro,
// gemini-3-pro-preview, a tuned model id).
var modelPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// CheckModel validates a model name (without or with a "models/" prefix).
func CheckModel(s string) error {
	if !modelPattern.MatchString(strings.TrimPrefix(s, "models/")) {
		return fmt.Errorf("%q is not a model name (letters, digits, '.', '_' and '-', e.g. %s)", clip(s), DefaultModel)
	}
	return nil
}

// CheckBaseURL validates an api_url: an https URL with a host and no user,
// query or fragment. Plain http is accepted only for a loopback host (a
// stand-in), since the API key would otherwise cross the network unencrypted.
// Its message never quotes the URL's userinfo.
func CheckBaseURL(s string) error {
	return apiurl.Check(s, apiurl.Wording{Example: DefaultBaseURL, Secret: "the API key", Hint: "the API key goes in api_key"})
}

// clip cuts text quoted in an error to a readable length.
func clip(s string) string { return apiurl.Clip(s) }

// Research asks prompt with the Google Search tool: a grounded answer and its
// sources.
func (c *Client) Research(ctx context.Context, prompt string) (*Response, error) {
	return c.Generate(ctx, Request{Prompt: prompt, GoogleSearch: true})
}

// Structured asks prompt for JSON matching schema (Gemini's dialect: see
// [ConvertSchema]) and returns the decoded value. An answer that is not JSON
// is an [*Error] wrapping ErrMalformedResponse.
func (c *Client) Structured(ctx context.Context, prompt string, schema map[string]any) (any, error) {
	resp, err := c.Generate(ctx, Request{Prompt: prompt, ResponseSchema: schema})
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal([]byte(strings.TrimSpace(resp.Text)), &v); err != nil || v == nil {
		return nil, &Error{Integration: c.integration, Transient: true, Err: ErrMalformedResponse,
			msg: fmt.Sprintf("the structured answer (%d characters) is not JSON", len(resp.Text))}
	}
	return v, nil
}

// Generate sends one generateContent request. It never retries; every error
// is an [*Error].
func (c *Client) Generate(ctx context.Context, r Request) (*Response, error) {
	body, err := r.body()
	if err != nil {
		return nil, &Error{Integration: c.integration, Err: err, msg: "cannot encode the request: the output schema is not JSON"}
	}
	c.log.Debug("gemini request", "integration", c.integration, "model", c.model,
		"google_search", r.GoogleSearch, "schema", r.ResponseSchema != nil)
	c.log.Debug("gemini prompt", "integration", c.integration, "prompt", r.Prompt)

	rctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Integration: c.integration, Err: ErrConfig, msg: "cannot build the request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("x-goog-api-key", c.key)

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.transportError(ctx, rctx, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.max)+1))
	elapsed := time.Since(start)
	if err != nil {
		return nil, c.transportError(ctx, rctx, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := statusError(c.integration, c.model, resp, data, c.key, time.Now())
		c.log.Warn("gemini error", "integration", c.integration, "model", c.model, "status", resp.StatusCode,
			"transient", e.Transient, "error", e.Error(), "duration", elapsed.Round(time.Millisecond))
		return nil, e
	}
	if len(data) > c.max {
		return nil, &Error{Integration: c.integration, Status: resp.StatusCode, Err: ErrTooLarge,
			msg: fmt.Sprintf("the answer is larger than %d bytes", c.max)}
	}
	out, err := ParseResponse(data)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Integration, e.Status = c.integration, resp.StatusCode
		}
		c.log.Warn("gemini answer refused", "integration", c.integration, "model", c.model, "error", err.Error())
		return nil, err
	}
	c.log.Info("gemini call", "integration", c.integration, "model", c.model, "google_search", r.GoogleSearch,
		"schema", r.ResponseSchema != nil, "duration", elapsed.Round(time.Millisecond), "chars", len(out.Text),
		"sources", len(out.Sources), "finish_reason", out.FinishReason,
		"prompt_tokens", out.PromptTokens, "answer_tokens", out.AnswerTokens)
	return out, nil
}

// transportError types a failure to get an answer. ctx is the caller's
// context, rctx the per-call one carrying the timeout.
func (c *Client) transportError(ctx, rctx context.Context, err error) *Error {
	e := &Error{Integration: c.integration, Transient: true}
	switch {
	case ctx.Err() != nil:
		e.Err = ctx.Err()
		e.msg = "request abandoned: " + ctx.Err().Error()
	case errors.Is(context.Cause(rctx), ErrTimeout):
		e.Err = ErrTimeout
		e.msg = fmt.Sprintf("no answer within %s", c.timeout)
	default:
		// *url.Error quotes the whole URL; keep only its cause, which names at
		// most host:port.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e.Err = err
		e.msg = "cannot reach the Gemini API: " + quoteSafe(err.Error(), c.key)
		var certErr *tls.CertificateVerificationError
		var authErr x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		if errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) {
			e.Transient = false // retrying will not make the certificate valid
		}
	}
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug // the caller's decision (shutdown), not an API problem
	}
	c.log.Log(ctx, level, "gemini request failed", "integration", c.integration, "model", c.model,
		"transient", e.Transient, "error", e.Error())
	return e
}
