package gemini

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/stewardhq/steward/integrations/gemini/client"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/manifest"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
)

// MaxPrompt bounds the prompt input in bytes.
const MaxPrompt = 64 << 10

// Options configure the integration.
type Options struct {
	// Config returns the config in force: the handler reads the instance's
	// api_key, api_url and model from it at each task. Required to run the
	// service; Manifest and Platform work without it.
	Config func() *config.Config
	// HTTPClient sends the API requests (nil = a client of its own, shared by
	// every task).
	HTTPClient *http.Client
	// Timeout bounds each API call (0 = client.DefaultTimeout).
	Timeout time.Duration
	Logger  *slog.Logger
}

// Integration is the Gemini integration. It implements platform.Integration.
type Integration struct {
	o Options
}

var _ platform.Integration = (*Integration)(nil)

// New returns the Gemini integration.
func New(o Options) *Integration {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{}
	}
	return &Integration{o: o}
}

// Manifest returns the Gemini manifest.
func (g *Integration) Manifest() *manifest.Manifest { return Manifest() }

// Platform returns nil: Gemini has no platforms.
func (g *Integration) Platform(string) platform.Platform { return nil }

// Register adds the handler of service.gemini.web_research to r.
func (g *Integration) Register(r *msg.Router) { r.Handle(TaskWebResearch, g.WebResearch) }

// Result is what web_research returns; the services machinery stores it with
// the task and routes it (by default into a note whose body is Text and whose
// front matter holds the other keys).
type Result struct {
	// Text is the grounded answer ("" for an empty prompt).
	Text string `json:"text"`
	// Sources are the web pages Gemini grounded the answer on, in order
	// ({title, url}); never null.
	Sources []client.Source `json:"sources"`
	// Model is the model that answered (absent for an empty prompt).
	Model string `json:"model,omitempty"`
	// Structured is the JSON value of the second pass, present only when the
	// inputs carried an output_schema and that pass succeeded.
	Structured any `json:"structured,omitempty"`
	// StructuredError says why the second pass failed (the answer is kept).
	StructuredError string `json:"structured_error,omitempty"`
}

// inputs are the decoded inputs of web_research.
type inputs struct {
	Prompt string
	// Schema is output_schema converted to Gemini's dialect; nil = none.
	Schema map[string]any
}

// WebResearch is the handler of service.gemini.web_research: payload
// {"integration": "gemini.<name>", "inputs": {"prompt", "output_schema"?}}.
//
//  1. An empty prompt returns {"text": "", "sources": []} without calling
//     the API (as the reference does: routing still writes a note).
//  2. Pass 1 asks the prompt with the Google Search tool: Text, Sources, Model.
//  3. With an output_schema and a non-empty answer, pass 2 asks (without
//     tools) for JSON matching the schema, built from the answer and its
//     sources: Structured on success; on failure StructuredError and the
//     answer is still returned.
//
// Bad inputs, an unknown instance, a missing key, a refused key (400/401/403),
// an unknown model (404) and a blocked prompt or answer fail the task at once;
// 429, 5xx, timeouts and connection failures are retried by the lane with
// backoff.
func (g *Integration) WebResearch(ctx context.Context, t *msg.Task) (any, error) {
	var p struct {
		Integration string          `json:"integration"`
		Inputs      json.RawMessage `json:"inputs"`
	}
	if err := t.Decode(&p); err != nil {
		return nil, err
	}
	in, err := decodeInputs(p.Inputs)
	if err != nil {
		return nil, platform.NotPerformed(msg.Permanent(err))
	}
	if strings.TrimSpace(in.Prompt) == "" {
		g.o.Logger.Warn("web_research called with an empty prompt; nothing to research", "task", t.ID, "integration", p.Integration)
		return Result{Sources: []client.Source{}}, nil
	}
	c, err := g.client(p.Integration)
	if err != nil {
		return nil, platform.NotPerformed(msg.Permanent(err))
	}
	g.o.Logger.Info("web research", "task", t.ID, "integration", p.Integration, "model", c.Model(),
		"prompt", truncate(in.Prompt, 100), "structured", in.Schema != nil)

	resp, err := c.Research(ctx, in.Prompt)
	if err != nil {
		return nil, classify(err)
	}
	res := Result{Text: resp.Text, Sources: resp.Sources, Model: c.Model()}
	if resp.ModelVersion != "" {
		res.Model = resp.ModelVersion
	}
	if in.Schema != nil && resp.Text != "" {
		v, err := c.Structured(ctx, structuredPrompt(resp.Text, resp.Sources), in.Schema)
		if err != nil {
			// The answer is paid for and kept; the note says why the JSON is missing.
			g.o.Logger.Warn("structured output pass failed, returning the answer without it", "task", t.ID,
				"integration", p.Integration, "err", err.Error())
			res.StructuredError = err.Error()
		} else {
			res.Structured = v
		}
	}
	titles := make([]string, 0, 3)
	for _, s := range res.Sources[:min(3, len(res.Sources))] {
		titles = append(titles, truncate(s.Title, 40))
	}
	g.o.Logger.Info("web research done", "task", t.ID, "integration", p.Integration, "chars", len(res.Text),
		"sources", len(res.Sources), "first_sources", titles, "structured", res.Structured != nil)
	return res, nil
}

// classify makes a client error a task error: transient ones are retried by
// the lane, every other one fails the task. A transient error that carries the
// API's Retry-After hint (a 429 RESOURCE_EXHAUSTED) is not a failure: the
// task is deferred until then with msg.RetryAfter, without spending an
// attempt. A refused key, an unusable config or an unknown model (404) means
// no research happened: such a failure is marked platform.NotPerformed, so
// the at-most-once ledger of the item lets a later evaluation (once the config
// is fixed) run it.
func classify(err error) error {
	var ce *client.Error
	if client.IsTransient(err) {
		if errors.As(err, &ce) && ce.RetryAfter > 0 {
			return msg.RetryAfter(err, ce.RetryAfter)
		}
		return err
	}
	if errors.Is(err, client.ErrKeyRefused) || errors.Is(err, client.ErrConfig) ||
		(errors.As(err, &ce) && ce.Status == http.StatusNotFound) {
		return platform.NotPerformed(msg.Permanent(err))
	}
	return msg.Permanent(err)
}

// client builds the API client of the instance id from the config in force.
// Its errors are permanent and never quote the key.
func (g *Integration) client(id string) (*client.Client, error) {
	if id == "" {
		return nil, errors.New("web_research: the payload names no integration (want integration: gemini.<name>)")
	}
	typ, _, _ := strings.Cut(id, ".")
	if typ != Type {
		return nil, fmt.Errorf("web_research: integration %q is not a %s integration", id, Type)
	}
	if g.o.Config == nil {
		return nil, fmt.Errorf("%s: the Gemini service has no config here", id)
	}
	cfg := g.o.Config()
	if cfg == nil {
		return nil, fmt.Errorf("%s: no config is loaded", id)
	}
	inst, ok := cfg.Integration(id)
	if !ok || inst.Type != Type {
		return nil, fmt.Errorf("%s: no such integration is configured (add - type: gemini with name: %s under integrations)", id, strings.TrimPrefix(id, Type+"."))
	}
	key, _ := inst.Fields[FieldAPIKey].(config.Secret)
	if key.IsZero() {
		return nil, fmt.Errorf("%s: no API key on this machine: set api_key: !secret <name> and the value in secrets.yaml", id)
	}
	apiURL, _ := inst.Fields[FieldAPIURL].(string)
	model, _ := inst.Fields[FieldModel].(string)
	return client.New(client.Options{
		Integration: id,
		BaseURL:     apiURL,
		APIKey:      key.Reveal(),
		Model:       model,
		Timeout:     g.o.Timeout,
		HTTPClient:  g.o.HTTPClient,
		Logger:      g.o.Logger,
	})
}

// decodeInputs checks the inputs: prompt an optional string (absent = empty),
// output_schema an optional JSON schema object, or text holding one (inputs
// rendered from templates are text).
func decodeInputs(raw json.RawMessage) (inputs, error) {
	var in inputs
	if len(raw) == 0 || string(raw) == "null" {
		return in, nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return in, fmt.Errorf("web_research inputs: want an object: %w", err)
	}
	switch v := m["prompt"].(type) {
	case nil:
	case string:
		in.Prompt = v
	default:
		return in, fmt.Errorf("web_research: input \"prompt\" must be text, got %s", jsonKind(v))
	}
	if len(in.Prompt) > MaxPrompt {
		return in, fmt.Errorf("web_research: the prompt is %d bytes; the most is %d", len(in.Prompt), MaxPrompt)
	}
	schema := m["output_schema"]
	if s, ok := schema.(string); ok {
		if strings.TrimSpace(s) == "" {
			return in, nil
		}
		if err := json.Unmarshal([]byte(s), &schema); err != nil {
			return in, fmt.Errorf("web_research: input \"output_schema\" is text that is not a JSON schema object: %v", err)
		}
	}
	if schema == nil {
		return in, nil
	}
	if sm, ok := schema.(map[string]any); ok && len(sm) == 0 {
		return in, nil
	}
	conv, err := client.ConvertSchema(schema)
	if err != nil {
		return in, fmt.Errorf("web_research: input \"output_schema\": %w", err)
	}
	in.Schema = conv
	return in, nil
}

// jsonKind names the JSON type of a decoded value.
func jsonKind(v any) string {
	switch v.(type) {
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// structuredPrompt is the second pass's prompt (the reference's wording).
func structuredPrompt(text string, sources []client.Source) string {
	var b strings.Builder
	b.WriteString("Based on the following research, produce a JSON response matching the provided schema.\n\nResearch:\n")
	b.WriteString(text)
	b.WriteString("\n\nSources:\n")
	for _, s := range sources {
		fmt.Fprintf(&b, "- %s: %s\n", s.Title, s.URL)
	}
	return b.String()
}

// truncate cuts s to n runes.
func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n])
	}
	return s
}
