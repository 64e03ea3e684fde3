package llm

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
	"slices"
	"strings"
	"time"

	"github.com/stewardhq/steward/internal/config"
)

// DefaultTimeout bounds one request when a profile sets no timeout
// (llms.<name>.timeout).
const DefaultTimeout = config.DefaultLLMTimeout

// maxResponseBytes bounds how much of an answer is read: a chat completion is
// a few kilobytes; anything near this is not one.
const maxResponseBytes = 8 << 20

// reservedParameters are body keys Steward sets itself. A profile parameter
// with one of these names is ignored (with a warning at NewClient): the
// reference let parameters override model and messages, which no user wants;
// stream must stay false because replies are read whole; response_format is
// chosen per call (a schema, or free text for chat).
var reservedParameters = []string{"messages", "model", "response_format", "stream"}

// Client talks to the backend of one LLM profile. It is safe for concurrent
// use; build one per profile and share it (see [Registry]). It does not bound
// how many requests are in flight itself: each request passes the [Gate] of its
// context, which the profile's lane provides.
type Client struct {
	profile  string
	model    string
	endpoint string
	token    config.Secret
	params   map[string]any
	timeout  time.Duration
	http     *http.Client
	log      *slog.Logger
	// requireGate refuses requests without a Gate (see RequireGate).
	requireGate bool
}

// Option configures a [Client].
type Option func(*options)

type options struct {
	http        *http.Client
	log         *slog.Logger
	requireGate bool
}

// WithHTTPClient sets the HTTP client (default: one with its own connection
// pool and no client-wide timeout; the profile timeout is applied per request).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.http = c } }

// WithLogger sets the logger (default slog.Default()). Prompt and reply text
// is only ever logged at debug level.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// NewClient builds the client of one profile. base_url may be the server root
// (Ollama's http://localhost:11434), end in /v1 (http://host:8080/v1), or be
// the full .../chat/completions endpoint; see [Endpoint]. An empty base_url
// is the default Ollama address, a zero Timeout is [DefaultTimeout]. Errors
// are Permanent.
func NewClient(p config.LLMProfile, opts ...Option) (*Client, error) {
	o := options{}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if o.http == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// Keep a connection per allowed concurrent request (the default
		// keeps 2 and would reconnect for the rest).
		tr.MaxIdleConnsPerHost = max(p.Concurrency, 2)
		o.http = &http.Client{Transport: tr}
	}
	name := p.Name
	if name == "" {
		name = "default"
	}
	if strings.TrimSpace(p.Model) == "" {
		return nil, &Error{Kind: Permanent, Profile: name, msg: fmt.Sprintf("llms.%s.model is required", name)}
	}
	endpoint, err := Endpoint(p.BaseURL)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			e.Profile = name
		}
		return nil, err
	}
	params := make(map[string]any, len(p.Parameters))
	for k, v := range p.Parameters {
		if slices.Contains(reservedParameters, k) {
			o.log.Warn("llm profile parameter ignored: Steward sets it", "profile", name, "parameter", k)
			continue
		}
		params[k] = v
	}
	if _, err := json.Marshal(params); err != nil {
		return nil, &Error{Kind: Permanent, Profile: name, msg: fmt.Sprintf("llms.%s.parameters cannot be sent as JSON: %v", name, err)}
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	return &Client{
		profile:     name,
		model:       p.Model,
		endpoint:    endpoint,
		token:       p.Token,
		params:      params,
		timeout:     timeout,
		http:        o.http,
		requireGate: o.requireGate,
		log:         o.log.With("profile", name),
	}, nil
}

// versionSegment is a path segment naming an API version: v1, v1beta, v2.
var versionSegment = regexp.MustCompile(`(?i)^v[0-9]+[a-z0-9]*$`)

// Endpoint returns the chat-completions URL for a base_url:
//
//	http://localhost:11434          → http://localhost:11434/v1/chat/completions
//	http://localhost:11434/         → http://localhost:11434/v1/chat/completions
//	http://host:8080/v1             → http://host:8080/v1/chat/completions
//	https://api.example/openai/v1/  → https://api.example/openai/v1/chat/completions
//	http://host/proxy/ollama        → http://host/proxy/ollama/v1/chat/completions
//	https://x/v1beta/openai         → https://x/v1beta/openai/chat/completions
//	http://host/v1/chat/completions → unchanged
//
// The reference always appended /v1/chat/completions, so the documented
// base_url http://localhost:11434/v1 became /v1/v1/...; here a path that
// already names an API version (a segment like v1 or v1beta) only gets
// /chat/completions, which is what both Ollama users and users of other
// OpenAI-compatible servers expect. The query string is kept. An empty
// base_url is Ollama's default address.
func Endpoint(baseURL string) (string, error) {
	s := strings.TrimSpace(baseURL)
	if s == "" {
		s = config.DefaultLLMBaseURL
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL itself may come from secrets.yaml: do not quote it.
		return "", &Error{Kind: Permanent, msg: "base_url must be an http(s) URL such as " + config.DefaultLLMBaseURL}
	}
	path := strings.TrimRight(u.Path, "/")
	lower := strings.ToLower(path)
	switch {
	case strings.HasSuffix(lower, "/chat/completions"):
	case slices.ContainsFunc(strings.Split(path, "/"), versionSegment.MatchString):
		path += "/chat/completions"
	default:
		path += "/v1/chat/completions"
	}
	u.Path = path
	u.RawPath = ""
	u.Fragment = ""
	return u.String(), nil
}

// Profile is the llms.<name> this client serves.
func (c *Client) Profile() string { return c.profile }

// Model is the model name sent in every request.
func (c *Client) Model() string { return c.model }

// Timeout bounds each request (llms.<name>.timeout), unless the caller's
// context ends sooner. Each attempt of a structured turn is a request of its
// own and gets the whole timeout.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Role is who said a message.
type Role string

// Roles of the chat-completions format.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
)

// Message is one turn of a conversation, in the wire form {"role","content"}.
type Message struct {
	Role    Role   `json:"role"`    // who said it
	Content string `json:"content"` // what was said
}

// Completion is one answer of the backend.
type Completion struct {
	// Content is choices[0].message.content.
	Content string
	// Refusal is choices[0].message.refusal (OpenAI structured outputs), "" if none.
	Refusal string
	// FinishReason is choices[0].finish_reason ("stop", "length", ...).
	FinishReason string
	// Model is the model requested (the profile's), as the reference reports it.
	Model string
	// PromptTokens and CompletionTokens are the usage counts, 0 when absent.
	PromptTokens     int
	CompletionTokens int
	// Duration is the wall-clock time of the HTTP exchange.
	Duration time.Duration
}

// TokensPerSecond is CompletionTokens / Duration, 0 when Duration is 0.
func (c *Completion) TokensPerSecond() float64 {
	if c.Duration <= 0 {
		return 0
	}
	return float64(c.CompletionTokens) / c.Duration.Seconds()
}

// responseFormat is the OpenAI structured-output request field.
type responseFormat struct {
	Type       string         `json:"type"`
	JSONSchema jsonSchemaSpec `json:"json_schema"`
}

type jsonSchemaSpec struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict"`
}

// chatResponse is the part of a chat completion Steward reads.
type chatResponse struct {
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

// body builds the request body: the profile's parameters, then model,
// messages and stream (which parameters cannot override), then
// response_format when a schema is given.
func (c *Client) body(msgs []Message, schema *Schema) ([]byte, error) {
	m := make(map[string]any, len(c.params)+4)
	for k, v := range c.params {
		m[k] = v
	}
	m["model"] = c.model
	if msgs == nil {
		msgs = []Message{}
	}
	m["messages"] = msgs
	m["stream"] = false
	if schema != nil {
		m["response_format"] = responseFormat{
			Type:       "json_schema",
			JSONSchema: jsonSchemaSpec{Name: schema.name, Schema: schema.wire, Strict: true},
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// Complete sends one chat-completions request with these messages and returns
// the answer. With a schema it asks for structured output (response_format
// json_schema, strict) but does not validate the reply: [Conversation]
// does, with retries. No retry happens here. Every error is an [*Error].
func (c *Client) Complete(ctx context.Context, msgs []Message, schema *Schema) (*Completion, error) {
	return c.complete(ctx, msgs, schema, 0)
}

// complete is Complete with the structured attempt number for the logs (0 =
// plain).
func (c *Client) complete(ctx context.Context, msgs []Message, schema *Schema, attempt int) (*Completion, error) {
	body, err := c.body(msgs, schema)
	if err != nil {
		return nil, &Error{Kind: Permanent, Profile: c.profile, Err: err, msg: "cannot encode the request: " + err.Error()}
	}
	schemaName := ""
	if schema != nil {
		schemaName = schema.name
	}
	c.log.Debug("llm request", "model", c.model, "messages", len(msgs), "schema", schemaName,
		"attempt", attempt, "params", len(c.params))
	if c.log.Enabled(ctx, slog.LevelDebug) && len(msgs) > 0 {
		// Prompt text may hold mail and GitHub content: debug level only.
		c.log.Debug("llm prompt", "role", msgs[len(msgs)-1].Role, "content", msgs[len(msgs)-1].Content)
	}

	// The profile's bound counts from here: wait for a slot, then send at once.
	release, gerr := c.enter(ctx)
	if gerr != nil {
		return nil, gerr
	}
	defer release()
	rctx, cancel := context.WithTimeoutCause(ctx, c.timeout, ErrTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: Permanent, Profile: c.profile, Err: err, msg: "cannot build the request"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if !c.token.IsZero() {
		req.Header.Set("Authorization", "Bearer "+c.token.Reveal())
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.abandoned(c.transportError(ctx, rctx, err), rctx)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	elapsed := time.Since(start)
	if err != nil {
		return nil, c.abandoned(c.transportError(ctx, rctx, err), rctx)
	}
	release() // the answer is in: the next request may go out while this one is parsed
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := statusError(c.profile, resp, data, c.token.Reveal(), time.Now())
		c.log.Warn("llm backend error", "model", c.model, "status", resp.StatusCode, "kind", e.Kind.String(),
			"error", e.Error(), "duration", elapsed)
		return nil, e
	}
	if len(data) > maxResponseBytes {
		return nil, &Error{Kind: Transient, Profile: c.profile, Status: resp.StatusCode, Err: ErrMalformedResponse,
			msg: fmt.Sprintf("the answer is larger than %d bytes: not a chat completion", maxResponseBytes)}
	}
	var cr chatResponse
	if err := json.Unmarshal(data, &cr); err != nil || len(cr.Choices) == 0 {
		why := "no choices"
		if err != nil {
			why = "not JSON"
		}
		c.log.Warn("llm backend answer is not a chat completion", "model", c.model, "status", resp.StatusCode,
			"bytes", len(data), "why", why)
		return nil, &Error{Kind: Transient, Profile: c.profile, Status: resp.StatusCode, Err: ErrMalformedResponse,
			msg: fmt.Sprintf("the answer (HTTP %d, %d bytes) is not a chat completion: %s", resp.StatusCode, len(data), why)}
	}
	ch := cr.Choices[0]
	comp := &Completion{FinishReason: ch.FinishReason, Model: c.model, Duration: elapsed}
	if ch.Message.Content != nil {
		comp.Content = *ch.Message.Content
	}
	if ch.Message.Refusal != nil {
		comp.Refusal = *ch.Message.Refusal
	}
	if cr.Usage != nil {
		comp.PromptTokens, comp.CompletionTokens = cr.Usage.PromptTokens, cr.Usage.CompletionTokens
	}
	attrs := []any{"model", c.model, "messages", len(msgs), "duration", elapsed.Round(time.Millisecond),
		"prompt_tokens", comp.PromptTokens, "completion_tokens", comp.CompletionTokens,
		"tokens_per_sec", fmt.Sprintf("%.1f", comp.TokensPerSecond()), "finish_reason", comp.FinishReason}
	if schema != nil {
		attrs = append(attrs, "schema", schema.name)
	}
	if attempt > 0 {
		attrs = append(attrs, "attempt", fmt.Sprintf("%d/%d", attempt, MaxAttempts))
	}
	c.log.Info("llm call", attrs...)
	c.log.Debug("llm reply", "content", comp.Content)
	return comp, nil
}

// abandonGrace is how long the client waits after giving up on a request that
// the backend may still be working on (a timeout, a cancelled call) before it
// returns. Closing the connection tells the backend to stop, but it notices a
// moment later; returning at once would let the lane start the next request
// while the backend still runs this one, and the backend would briefly see more
// requests than llms.<p>.concurrency.
const abandonGrace = 250 * time.Millisecond

// abandoned waits abandonGrace when the request was given up by this side (its
// context ended) and returns e.
func (c *Client) abandoned(e *Error, rctx context.Context) *Error {
	if rctx.Err() != nil {
		time.Sleep(abandonGrace)
	}
	return e
}

// transportError types a failure to get an answer. ctx is the caller's
// context, rctx the per-request one carrying the profile timeout.
func (c *Client) transportError(ctx, rctx context.Context, err error) *Error {
	e := &Error{Kind: Transient, Profile: c.profile}
	switch {
	case ctx.Err() != nil:
		// The caller gave up (shutdown, task deadline): try again later.
		e.Err = ctx.Err()
		e.msg = "request abandoned: " + ctx.Err().Error()
	case errors.Is(context.Cause(rctx), ErrTimeout):
		e.Err = ErrTimeout
		e.msg = fmt.Sprintf("no answer within %s (llms.%s.timeout)", c.timeout, c.profile)
	default:
		// *url.Error would quote the whole URL; keep only its cause, which
		// names at most host:port.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		e.Err = err
		e.msg = "cannot reach the backend: " + oneLine(err.Error(), maxQuoted)
		var certErr *tls.CertificateVerificationError
		var authErr x509.UnknownAuthorityError
		var hostErr x509.HostnameError
		if errors.As(err, &certErr) || errors.As(err, &authErr) || errors.As(err, &hostErr) {
			// Retrying will not make the certificate valid.
			e.Kind = Permanent
		}
	}
	level := slog.LevelWarn
	if ctx.Err() != nil {
		level = slog.LevelDebug // the caller's decision (shutdown), not a backend problem
	}
	c.log.Log(ctx, level, "llm request failed", "model", c.model, "kind", e.Kind.String(), "error", e.Error())
	return e
}
