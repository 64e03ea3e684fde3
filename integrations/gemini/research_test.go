package gemini_test

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/gemini"
	"github.com/stewardhq/steward/integrations/gemini/client"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/platform"
	"github.com/stewardhq/steward/internal/testkit/geminifake"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
	"github.com/stewardhq/steward/internal/testkit/natstest"
)

// testKey is the API key of every test; no log, payload, result or error may
// hold it.
const testKey = "AIzaSyTEST-handler-key-9876543210"

// configFor is a config with gemini.research pointing at fake, and
// gemini.nokey without a resolved key.
func configFor(fake *geminifake.Server, model string) *config.Config {
	fields := map[string]any{gemini.FieldAPIKey: config.NewSecret(testKey, "gemini_api_key"), gemini.FieldAPIURL: fake.URL()}
	if model != "" {
		fields[gemini.FieldModel] = model
	}
	return &config.Config{Integrations: []config.Integration{
		{Type: gemini.Type, Name: "research", Fields: fields},
		{Type: gemini.Type, Name: "nokey", Fields: map[string]any{gemini.FieldAPIURL: fake.URL()}},
		{Type: "email", Name: "personal", Fields: map[string]any{}},
	}}
}

// newIntegration returns the integration over cfg, logging into logs.
func newIntegration(cfg *config.Config, logs *logbuf.Buffer) *gemini.Integration {
	return gemini.New(gemini.Options{
		Config:  func() *config.Config { return cfg },
		Timeout: 2 * time.Second,
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
}

// task builds a web_research task as the pipeline publishes it.
func task(t *testing.T, integration string, inputs map[string]any) *msg.Task {
	t.Helper()
	payload, err := json.Marshal(map[string]any{"type": gemini.TaskWebResearch, "integration": integration, "inputs": inputs})
	if err != nil {
		t.Fatal(err)
	}
	return &msg.Task{ID: "7_20260303T142532Z_a1b2c3d4--deadbeef--service.gemini.web_research", Type: gemini.TaskWebResearch,
		Priority: msg.PriorityEvaluate, Lane: msg.LaneIO, Provenance: msg.ProvenanceRule, Payload: payload, Attempt: 1, MaxAttempts: 5}
}

// resultJSON is the result as the worker stores it.
func resultJSON(t *testing.T, v any) map[string]any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestManifest(t *testing.T) {
	m := gemini.Manifest()
	svc, ok := m.Service(gemini.ServiceWebResearch)
	if m.Type != "gemini" || len(m.Platforms) != 0 || !ok || svc.Reversible || svc.Chat != nil ||
		svc.HumanLog != "Web research: {{ prompt | truncate(80) }}" {
		t.Fatalf("manifest %+v service %+v", m, svc)
	}
	props := svc.InputSchema["properties"].(map[string]any)
	if _, ok := props["prompt"]; !ok {
		t.Error("no prompt input")
	}
	if _, ok := props["output_schema"]; !ok {
		t.Error("no output_schema input")
	}
	if gemini.TaskWebResearch != "service.gemini.web_research" {
		t.Error(gemini.TaskWebResearch)
	}
	names := map[string]bool{}
	for _, f := range m.Fields {
		names[f.Name] = true
		if f.Name == gemini.FieldAPIKey && (!f.Secret || !f.Required) {
			t.Error("api_key must be a required secret")
		}
	}
	if !names["api_url"] || !names["model"] {
		t.Errorf("fields %v", names)
	}
}

// The handler called directly: what it sends, what it returns, which inputs
// it refuses and how.
func TestWebResearch(t *testing.T) {
	src := geminifake.Source{Title: "questrade.com", URI: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/q"}
	schema := map[string]any{"type": "object", "properties": map[string]any{"summary": map[string]any{"type": "string"},
		"changed": map[string]any{"type": "boolean"}}}
	tests := []struct {
		name        string
		integration string
		model       string
		inputs      map[string]any
		replies     []geminifake.Response
		want        map[string]any // the result as stored; nil = an error
		wantErr     string
		permanent   bool
		// retryAfter is the delay the error defers the task by (0 = none).
		retryAfter time.Duration
		// notPerformed: the failure certainly did no research (bad inputs,
		// config, a refused key), so the item's ledger lets a later run try.
		notPerformed bool
		requests     int
		check        func(t *testing.T, reqs []geminifake.Request)
	}{
		{name: "grounded answer", integration: "gemini.research", model: "gemini-2.5-pro",
			inputs:   map[string]any{"prompt": "research test.com"},
			replies:  []geminifake.Response{geminifake.Grounded("Test.com is a test site.", src)},
			want:     map[string]any{"text": "Test.com is a test site.", "sources": []any{map[string]any{"title": "questrade.com", "url": src.URI}}, "model": "gemini-2.5-pro"},
			requests: 1,
			check: func(t *testing.T, reqs []geminifake.Request) {
				if r := reqs[0]; !r.GoogleSearch() || r.Prompt() != "research test.com" || r.Model != "gemini-2.5-pro" || r.Key() != testKey {
					t.Errorf("request %+v", r)
				}
			}},
		{name: "default model", integration: "gemini.research", inputs: map[string]any{"prompt": "q"},
			replies: []geminifake.Response{geminifake.Text("a")}, requests: 1,
			want: map[string]any{"text": "a", "sources": []any{}, "model": client.DefaultModel},
			check: func(t *testing.T, reqs []geminifake.Request) {
				if reqs[0].Model != "gemini-3-pro-preview" {
					t.Errorf("model %q", reqs[0].Model)
				}
			}},
		{name: "empty prompt", integration: "gemini.research", inputs: map[string]any{"prompt": "  "},
			want: map[string]any{"text": "", "sources": []any{}}},
		{name: "missing prompt, no config lookup", integration: "gemini.unknown", inputs: map[string]any{},
			want: map[string]any{"text": "", "sources": []any{}}},
		{name: "structured second pass", integration: "gemini.research", inputs: map[string]any{"prompt": "q", "output_schema": schema},
			replies: []geminifake.Response{geminifake.Grounded("It changed.", src), geminifake.Text(`{"summary": "changed", "changed": true}`)},
			want: map[string]any{"text": "It changed.", "sources": []any{map[string]any{"title": "questrade.com", "url": src.URI}},
				"model": client.DefaultModel, "structured": map[string]any{"summary": "changed", "changed": true}},
			requests: 2,
			check: func(t *testing.T, reqs []geminifake.Request) {
				second := reqs[1]
				wantPrompt := "Based on the following research, produce a JSON response matching the provided schema.\n\nResearch:\nIt changed.\n\nSources:\n- questrade.com: " + src.URI + "\n"
				if second.GoogleSearch() || second.ResponseMIMEType != "application/json" || second.Prompt() != wantPrompt {
					t.Errorf("second pass: search %v mime %q prompt %q", second.GoogleSearch(), second.ResponseMIMEType, second.Prompt())
				}
				if second.ResponseSchema["type"] != "OBJECT" {
					t.Errorf("schema %v", second.ResponseSchema)
				}
			}},
		{name: "schema as JSON text", integration: "gemini.research", inputs: map[string]any{"prompt": "q", "output_schema": `{"type": "object", "properties": {"n": {"type": "integer"}}}`},
			replies:  []geminifake.Response{geminifake.Text("x"), geminifake.Auto()},
			want:     map[string]any{"text": "x", "sources": []any{}, "model": client.DefaultModel, "structured": map[string]any{"n": float64(1)}},
			requests: 2},
		{name: "second pass fails: the answer is kept", integration: "gemini.research", inputs: map[string]any{"prompt": "q", "output_schema": schema},
			replies: []geminifake.Response{geminifake.Text("kept"), geminifake.Error(500, "", "", "boom")},
			want: map[string]any{"text": "kept", "sources": []any{}, "model": client.DefaultModel,
				"structured_error": "gemini.research: HTTP 500 Internal Server Error: boom"},
			requests: 2},
		{name: "no second pass for an empty answer", integration: "gemini.research", inputs: map[string]any{"prompt": "q", "output_schema": schema},
			replies: []geminifake.Response{geminifake.Text("")}, requests: 1,
			want: map[string]any{"text": "", "sources": []any{}, "model": client.DefaultModel}},
		{name: "no schema, no second pass", integration: "gemini.research", inputs: map[string]any{"prompt": "q", "output_schema": ""},
			replies: []geminifake.Response{geminifake.Text("a")}, requests: 1,
			want: map[string]any{"text": "a", "sources": []any{}, "model": client.DefaultModel}},

		{name: "key refused", integration: "gemini.research", inputs: map[string]any{"prompt": "q"},
			replies: []geminifake.Response{geminifake.Error(403, "PERMISSION_DENIED", "", "denied")}, requests: 1,
			wantErr: "gemini.research: the API key was refused (HTTP 403): PERMISSION_DENIED", permanent: true, notPerformed: true},
		{name: "rate limited", integration: "gemini.research", inputs: map[string]any{"prompt": "q"},
			replies: []geminifake.Response{geminifake.RateLimited(0)}, requests: 1,
			wantErr: "gemini.research: rate limited (HTTP 429)", permanent: false},
		{name: "rate limited with Retry-After: deferred, not failed", integration: "gemini.research", inputs: map[string]any{"prompt": "q"},
			replies: []geminifake.Response{geminifake.RateLimited(14 * time.Minute)}, requests: 1,
			wantErr: "gemini.research: rate limited (HTTP 429)", permanent: false, retryAfter: 14 * time.Minute},
		{name: "overloaded", integration: "gemini.research", inputs: map[string]any{"prompt": "q"},
			replies: []geminifake.Response{geminifake.Error(503, "", "", "overloaded")}, requests: 1,
			wantErr: "HTTP 503", permanent: false},
		{name: "blocked", integration: "gemini.research", inputs: map[string]any{"prompt": "q"},
			replies: []geminifake.Response{geminifake.BlockedPrompt("SAFETY")}, requests: 1,
			wantErr: "gemini.research: Gemini blocked the prompt (blockReason SAFETY", permanent: true},
		{name: "prompt not text", integration: "gemini.research", inputs: map[string]any{"prompt": 5},
			wantErr: `web_research: input "prompt" must be text, got a number`, permanent: true, notPerformed: true},
		{name: "schema not an object", integration: "gemini.research", inputs: map[string]any{"prompt": "q", "output_schema": "{'type': 'object'}"},
			wantErr: `web_research: input "output_schema" is text that is not a JSON schema object`, permanent: true, notPerformed: true},
		{name: "schema of unknown type", integration: "gemini.research", inputs: map[string]any{"prompt": "q", "output_schema": map[string]any{"type": "date"}},
			wantErr: `web_research: input "output_schema": output_schema.type: unknown type "date"`, permanent: true, notPerformed: true},
		{name: "no integration", inputs: map[string]any{"prompt": "q"},
			wantErr: "the payload names no integration", permanent: true, notPerformed: true},
		{name: "unknown instance", integration: "gemini.other", inputs: map[string]any{"prompt": "q"},
			wantErr: "gemini.other: no such integration is configured", permanent: true, notPerformed: true},
		{name: "other type", integration: "email.personal", inputs: map[string]any{"prompt": "q"},
			wantErr: `integration "email.personal" is not a gemini integration`, permanent: true, notPerformed: true},
		{name: "no key here", integration: "gemini.nokey", inputs: map[string]any{"prompt": "q"},
			wantErr: "gemini.nokey: no API key on this machine", permanent: true, notPerformed: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := geminifake.New(geminifake.WithKey(testKey), geminifake.WithScript(tc.replies...))
			defer fake.Close()
			var logs logbuf.Buffer
			g := newIntegration(configFor(fake, tc.model), &logs)
			out, err := g.WebResearch(context.Background(), task(t, tc.integration, tc.inputs))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v (result %v), want %q", err, out, tc.wantErr)
				}
				if platform.IsNotPerformed(err) != tc.notPerformed {
					t.Errorf("not performed = %v, want %v", platform.IsNotPerformed(err), tc.notPerformed)
				}
				if msg.IsPermanent(err) != tc.permanent {
					t.Errorf("permanent = %v, want %v", msg.IsPermanent(err), tc.permanent)
				}
				if d, ok := msg.RetryAfterDelay(err); d != tc.retryAfter || ok != (tc.retryAfter > 0) {
					t.Errorf("retry after = %s, %v; want %s", d, ok, tc.retryAfter)
				}
				if strings.Contains(err.Error(), testKey) {
					t.Errorf("the key is in the error: %v", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				got := resultJSON(t, out)
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("result\n got %#v\nwant %#v", got, tc.want)
				}
				if b, _ := json.Marshal(out); strings.Contains(string(b), testKey) {
					t.Errorf("the key is in the result: %s", b)
				}
			}
			reqs := fake.Requests()
			if len(reqs) != tc.requests {
				t.Fatalf("%d requests, want %d", len(reqs), tc.requests)
			}
			for _, r := range reqs {
				if r.KeyInQuery() || strings.Contains(string(r.Raw), testKey) {
					t.Errorf("the key left the header: %s?%s", r.Path, r.RawQuery)
				}
			}
			if tc.check != nil {
				tc.check(t, reqs)
			}
			if strings.Contains(logs.String(), testKey) {
				t.Errorf("the key is in the logs:\n%s", logs.String())
			}
		})
	}
}

// Through the real bus: tasks published as the pipeline publishes them run on
// the io lane; transient failures are retried with backoff, permanent ones
// fail at once, and no status record (payload, result, error) or log line
// holds the key.
func TestWebResearchThroughTheBus(t *testing.T) {
	ctx := context.Background()
	var logs logbuf.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := natstest.Server(t)
	bus, err := msg.Connect(ctx, msg.Options{Server: srv, Logger: log, Backoff: []time.Duration{50 * time.Millisecond}, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	fake := geminifake.New(geminifake.WithKey(testKey))
	defer fake.Close()

	r := msg.NewRouter()
	newIntegration(configFor(fake, "gemini-2.5-pro"), &logs).Register(r)
	if _, ok := r.Lookup(gemini.TaskWebResearch); !ok {
		t.Fatal("not registered")
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { _ = bus.Serve(runCtx, msg.LaneIO, 2, r.Dispatch); close(done) }()
	t.Cleanup(func() { cancel(); <-done })

	tests := []struct {
		name       string
		replies    []geminifake.Response
		state      string
		attempts   int
		wantError  string
		wantResult string
	}{
		{"answer", []geminifake.Response{geminifake.Grounded("Answer.", geminifake.Source{Title: "a.example", URI: "https://a.example/"})},
			msg.StateDone, 1, "", `{"text":"Answer.","sources":[{"title":"a.example","url":"https://a.example/"}],"model":"gemini-2.5-pro"}`},
		{"503 then an answer", []geminifake.Response{geminifake.Error(503, "", "", "overloaded"), geminifake.Text("Later.")},
			msg.StateDone, 2, "", `{"text":"Later.","sources":[],"model":"gemini-2.5-pro"}`},
		{"429 every time", []geminifake.Response{geminifake.RateLimited(0), geminifake.RateLimited(0), geminifake.RateLimited(0)},
			msg.StateFailed, 3, "gemini.research: rate limited (HTTP 429): Resource has been exhausted (e.g. check quota). (gave up after 3 attempts)", ""},
		{"key refused", []geminifake.Response{geminifake.Error(403, "PERMISSION_DENIED", "", "The caller does not have permission")},
			msg.StateFailed, 1, "gemini.research: the API key was refused (HTTP 403): PERMISSION_DENIED", ""},
		{"wrong key", []geminifake.Response{geminifake.KeyInvalid()},
			msg.StateFailed, 1, "gemini.research: the API key was refused (HTTP 400): API_KEY_INVALID", ""},
		{"blocked answer", []geminifake.Response{geminifake.BlockedAnswer("SAFETY")},
			msg.StateFailed, 1, "gemini.research: Gemini blocked the answer (finishReason SAFETY, HARM_CATEGORY_HARASSMENT)", ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake.Script(tc.replies...)
			before := len(fake.Requests())
			p, err := bus.Publish(ctx, msg.Spec{Type: gemini.TaskWebResearch, Lane: msg.LaneIO, Priority: msg.PriorityEvaluate,
				Provenance: msg.ProvenanceRule, ApplyPolicy: true, Payload: map[string]any{
					"integration": "gemini.research", "inputs": map[string]any{"prompt": "research case " + string(rune('a'+i))},
					"item": "github.pull_requests.x", "human_log": "Researched case"}})
			if err != nil || p.Skipped != "" {
				t.Fatalf("publish: %v %+v", err, p)
			}
			st := waitFinal(t, bus, p.ID)
			if st.Status != tc.state || st.Attempts != tc.attempts || st.Error != tc.wantError {
				t.Errorf("status %s attempts %d error %q\nwant %s %d %q", st.Status, st.Attempts, st.Error, tc.state, tc.attempts, tc.wantError)
			}
			if tc.wantResult != "" && string(st.Result) != tc.wantResult {
				t.Errorf("result %s\nwant %s", st.Result, tc.wantResult)
			}
			if n := len(fake.Requests()) - before; n != tc.attempts {
				t.Errorf("%d API calls for %d attempts", n, tc.attempts)
			}
			record, _ := json.Marshal(st)
			if strings.Contains(string(record), testKey) {
				t.Errorf("the key is in the task record: %s", record)
			}
		})
	}
	for _, r := range fake.Requests() {
		if r.Key() != testKey || r.KeyInQuery() || !r.GoogleSearch() {
			t.Errorf("request %d: key header %v, in query %v, search %v", r.Seq, r.Key() == testKey, r.KeyInQuery(), r.GoogleSearch())
		}
	}
	if strings.Contains(logs.String(), testKey) {
		t.Errorf("the key is in the logs")
	}
}

// waitFinal polls the status of id until it is done or failed.
func waitFinal(t *testing.T, bus *msg.Bus, id string) *msg.Status {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		st, err := bus.Status(context.Background(), id)
		if err != nil && !errors.Is(err, msg.ErrNotFound) {
			t.Fatal(err)
		}
		if err == nil && (st.Status == msg.StateDone || st.Status == msg.StateFailed) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("task %s did not finish", id)
	return nil
}
