package client_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/gemini/client"
	"github.com/stewardhq/steward/internal/testkit/geminifake"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// testKey is the API key of every test; no error, log or result may hold it.
const testKey = "AIzaSyTEST-not-a-real-key-0123456789"

// newClient returns a client of fake (api_url = its URL) logging into logs.
func newClient(t *testing.T, fake *geminifake.Server, logs *logbuf.Buffer, mod func(*client.Options)) *client.Client {
	t.Helper()
	o := client.Options{Integration: "gemini.research", BaseURL: fake.URL(), APIKey: testKey, Model: "gemini-2.5-pro",
		Timeout: 5 * time.Second, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug - 4}))}
	if mod != nil {
		mod(&o)
	}
	c, err := client.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// noKey fails the test when s holds the API key.
func noKey(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, testKey) {
		t.Errorf("%s holds the API key: %s", what, s)
	}
}

func TestResearch(t *testing.T) {
	src := func(n string) geminifake.Source {
		return geminifake.Source{Title: n + ".example", URI: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/" + n}
	}
	tests := []struct {
		name        string
		reply       geminifake.Response
		wantText    string
		wantSources []client.Source
	}{
		{"text and one source", geminifake.Grounded("Paris is the capital.", src("a")), "Paris is the capital.",
			[]client.Source{{Title: "a.example", URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a"}}},
		{"three chunks in order", geminifake.Grounded("x", src("c"), src("a"), src("b")), "x",
			[]client.Source{
				{Title: "c.example", URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/c"},
				{Title: "a.example", URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a"},
				{Title: "b.example", URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/b"},
			}},
		{"duplicates kept", geminifake.Grounded("x", src("a"), src("a")), "x",
			[]client.Source{
				{Title: "a.example", URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a"},
				{Title: "a.example", URL: "https://vertexaisearch.cloud.google.com/grounding-api-redirect/a"},
			}},
		{"no candidates", geminifake.Response{NoCandidates: true}, "", []client.Source{}},
		{"candidate without grounding metadata", geminifake.Response{Text: "kept", NoGrounding: true}, "kept", []client.Source{}},
		{"thoughts left out", geminifake.Response{Text: "answer", Thought: "thinking..."}, "answer", []client.Source{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := geminifake.New(geminifake.WithKey(testKey), geminifake.WithReply(func(geminifake.Request) geminifake.Response { return tc.reply }))
			defer fake.Close()
			var logs logbuf.Buffer
			c := newClient(t, fake, &logs, nil)
			resp, err := c.Research(context.Background(), "What is the capital of France?")
			if err != nil {
				t.Fatal(err)
			}
			if resp.Text != tc.wantText || !reflect.DeepEqual(resp.Sources, tc.wantSources) {
				t.Errorf("got %q %#v, want %q %#v", resp.Text, resp.Sources, tc.wantText, tc.wantSources)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			if !r.GoogleSearch() || r.Prompt() != "What is the capital of France?" || r.Model != "gemini-2.5-pro" {
				t.Errorf("request: search %v prompt %q model %q", r.GoogleSearch(), r.Prompt(), r.Model)
			}
			if r.Key() != testKey || r.KeyInQuery() || strings.Contains(r.RawQuery, testKey) {
				t.Errorf("the key must come in x-goog-api-key only: header %q query %q", r.Key(), r.RawQuery)
			}
			if r.ResponseSchema != nil || r.ResponseMIMEType != "" {
				t.Errorf("a research request asks for no schema: %s", r.Raw)
			}
			noKey(t, "logs", logs.String())
		})
	}
}

func TestDefaultModelAndPrefix(t *testing.T) {
	fake := geminifake.New()
	defer fake.Close()
	for model, want := range map[string]string{"": client.DefaultModel, "models/gemini-2.5-flash": "gemini-2.5-flash"} {
		var logs logbuf.Buffer
		c := newClient(t, fake, &logs, func(o *client.Options) { o.Model = model })
		if _, err := c.Research(context.Background(), "q"); err != nil {
			t.Fatal(err)
		}
		reqs := fake.Requests()
		if got := reqs[len(reqs)-1]; got.Model != want || c.Model() != want {
			t.Errorf("model %q: sent %q (client %q), want %q", model, got.Model, c.Model(), want)
		}
	}
}

func TestStructured(t *testing.T) {
	fake := geminifake.New(geminifake.WithScript(geminifake.Text(`{"company": "Questrade", "score": 0.75}`)))
	defer fake.Close()
	var logs logbuf.Buffer
	c := newClient(t, fake, &logs, nil)
	schema, err := client.ConvertSchema(map[string]any{"type": "object", "properties": map[string]any{
		"company": map[string]any{"type": "string"}, "score": map[string]any{"type": "number"}}})
	if err != nil {
		t.Fatal(err)
	}
	v, err := c.Structured(context.Background(), "Based on the following research...", schema)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"company": "Questrade", "score": 0.75}; !reflect.DeepEqual(v, want) {
		t.Errorf("got %#v, want %#v", v, want)
	}
	r := fake.Requests()[0]
	if r.ResponseMIMEType != "application/json" || !reflect.DeepEqual(r.ResponseSchema, schema) || r.GoogleSearch() {
		t.Errorf("request: mime %q schema %v search %v", r.ResponseMIMEType, r.ResponseSchema, r.GoogleSearch())
	}

	// An answer that is not JSON is a transient malformed-response error.
	fake.Script(geminifake.Text("Sure! Here is the JSON: {"))
	_, err = c.Structured(context.Background(), "p", schema)
	if !errors.Is(err, client.ErrMalformedResponse) || !client.IsTransient(err) {
		t.Errorf("not JSON: %v", err)
	}
}

// Every failure mode: transient or permanent, its sentinel, its message; never
// the key.
func TestErrors(t *testing.T) {
	tests := []struct {
		name      string
		reply     geminifake.Response
		transient bool
		is        error
		msg       string // the whole message when exact, else a part
		exact     bool
	}{
		{"403", geminifake.Error(403, "PERMISSION_DENIED", "", "Permission denied: key "+testKey+" is blocked"), false, client.ErrKeyRefused,
			"gemini.research: the API key was refused (HTTP 403): PERMISSION_DENIED", true},
		{"403 without body", geminifake.Response{Status: 403, Raw: []byte{}}, false, client.ErrKeyRefused,
			"gemini.research: the API key was refused (HTTP 403)", true},
		{"401", geminifake.Error(401, "UNAUTHENTICATED", "", "Request had invalid authentication credentials."), false, client.ErrKeyRefused,
			"the API key was refused (HTTP 401)", false},
		{"400 key invalid", geminifake.KeyInvalid(), false, client.ErrKeyRefused,
			"gemini.research: the API key was refused (HTTP 400): API_KEY_INVALID", true},
		{"400 other", geminifake.Error(400, "FAILED_PRECONDITION", "", "User location is not supported for the API use."), false, client.ErrStatus,
			"gemini.research: HTTP 400 Bad Request: User location is not supported for the API use.", true},
		{"404 model", geminifake.Error(404, "NOT_FOUND", "", "models/gemini-2.5-pro is not found"), false, client.ErrStatus,
			`gemini.research: the model "gemini-2.5-pro" was not found (HTTP 404)`, false},
		{"429", geminifake.RateLimited(7 * time.Second), true, client.ErrStatus,
			"gemini.research: rate limited (HTTP 429): Resource has been exhausted (e.g. check quota). (retry after 7s)", true},
		{"500", geminifake.Error(500, "", "", "An internal error has occurred."), true, client.ErrStatus, "HTTP 500 Internal Server Error", false},
		{"503", geminifake.Error(503, "", "", "The model is overloaded."), true, client.ErrStatus, "HTTP 503 Service Unavailable: The model is overloaded.", false},
		{"key echoed in a message", geminifake.Error(502, "", "", "upstream refused key="+testKey), true, client.ErrStatus,
			"gemini.research: HTTP 502 Bad Gateway: upstream refused key=********", true},
		{"blocked prompt", geminifake.BlockedPrompt("SAFETY"), false, client.ErrBlocked,
			"gemini.research: Gemini blocked the prompt (blockReason SAFETY, HARM_CATEGORY_DANGEROUS_CONTENT)", true},
		{"blocked answer", geminifake.BlockedAnswer("SAFETY"), false, client.ErrBlocked,
			"gemini.research: Gemini blocked the answer (finishReason SAFETY, HARM_CATEGORY_HARASSMENT)", true},
		{"prohibited answer", geminifake.BlockedAnswer("PROHIBITED_CONTENT"), false, client.ErrBlocked, "finishReason PROHIBITED_CONTENT", false},
		{"garbage", geminifake.Garbage("<html>proxy</html>"), true, client.ErrMalformedResponse, "not a generateContent response", false},
		{"too large", geminifake.Text(strings.Repeat("x", 70<<10)), false, client.ErrTooLarge, "larger than 65536 bytes", false},
		{"timeout", geminifake.Hang(), true, client.ErrTimeout, "gemini.research: no answer within 300ms", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := geminifake.New(geminifake.WithScript(tc.reply))
			defer fake.Close()
			var logs logbuf.Buffer
			c := newClient(t, fake, &logs, func(o *client.Options) {
				o.Timeout = 300 * time.Millisecond
				o.MaxResponseBytes = 64 << 10
			})
			_, err := c.Research(context.Background(), "q")
			if err == nil {
				t.Fatal("no error")
			}
			var e *client.Error
			if !errors.As(err, &e) {
				t.Fatalf("%T %v is not a *client.Error", err, err)
			}
			if client.IsTransient(err) != tc.transient {
				t.Errorf("transient = %v, want %v: %v", client.IsTransient(err), tc.transient, err)
			}
			if !errors.Is(err, tc.is) {
				t.Errorf("%v is not %v", err, tc.is)
			}
			if tc.exact && err.Error() != tc.msg || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message:\n got %s\nwant %s", err, tc.msg)
			}
			noKey(t, "error", err.Error())
			noKey(t, "logs", logs.String())
		})
	}
}

func TestTransportErrors(t *testing.T) {
	// Nothing listens: connection refused is transient and names no URL path.
	ln := httptest.NewServer(http.NotFoundHandler())
	url := ln.URL
	ln.Close()
	c, err := client.New(client.Options{Integration: "gemini.research", BaseURL: url, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Research(context.Background(), "q")
	if !client.IsTransient(err) || !strings.HasPrefix(err.Error(), "gemini.research: cannot reach the Gemini API: ") ||
		strings.Contains(err.Error(), "generateContent") {
		t.Errorf("refused: %v", err)
	}

	// A redirect is never followed: the key header would go with it.
	var leaked bytes.Buffer
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		leaked.WriteString(r.Header.Get("x-goog-api-key"))
	}))
	defer other.Close()
	redirect := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer redirect.Close()
	c, err = client.New(client.Options{Integration: "gemini.research", BaseURL: redirect.URL, APIKey: testKey})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Research(context.Background(), "q")
	if err == nil || client.IsTransient(err) || !strings.Contains(err.Error(), "unexpected redirect (HTTP 307)") {
		t.Errorf("redirect: %v", err)
	}
	if leaked.Len() > 0 {
		t.Error("the key followed the redirect")
	}

	// The caller giving up is transient (the task is retried later).
	fake := geminifake.New(geminifake.WithScript(geminifake.Hang()))
	defer fake.Close()
	var logs logbuf.Buffer
	c = newClient(t, fake, &logs, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := c.Research(ctx, "q"); !client.IsTransient(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("abandoned: %v", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name string
		o    client.Options
		want string
	}{
		{"no key", client.Options{}, "no API key"},
		{"key with newline", client.Options{APIKey: "a\nb"}, "line break"},
		{"http beyond loopback", client.Options{APIKey: "k", BaseURL: "http://gemini.example.com"}, "plain http would send the API key unencrypted"},
		{"not a URL", client.Options{APIKey: "k", BaseURL: "generativelanguage.googleapis.com"}, "want an https URL"},
		{"user in URL", client.Options{APIKey: "k", BaseURL: "https://me:pw@proxy.example"}, "must not hold a user"},
		{"query in URL", client.Options{APIKey: "k", BaseURL: "https://proxy.example/?key=abc"}, "must not hold a query"},
		{"model with slash", client.Options{APIKey: "k", Model: "../../x"}, "is not a model name"},
		{"model with space", client.Options{APIKey: "k", Model: "gemini pro"}, "is not a model name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Integration = "gemini.x"
			_, err := client.New(tc.o)
			if err == nil || !errors.Is(err, client.ErrConfig) || client.IsTransient(err) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "pw") {
				t.Errorf("password quoted: %v", err)
			}
		})
	}
	for _, ok := range []string{client.DefaultBaseURL, "https://proxy.example/gemini/", "http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9"} {
		if err := client.CheckBaseURL(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
}

func TestConvertSchema(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want map[string]any
		err  string
	}{
		{"object", map[string]any{"$schema": "x", "type": "object", "additionalProperties": false, "required": []any{"a"},
			"properties": map[string]any{
				"a": map[string]any{"type": "string", "description": "d", "enum": []any{"x", "y"}},
				"b": map[string]any{"type": []any{"integer", "null"}},
				"c": map[string]any{"type": "array", "items": map[string]any{"type": "BOOLEAN"}},
			}},
			map[string]any{"type": "OBJECT", "required": []any{"a"}, "properties": map[string]any{
				"a": map[string]any{"type": "STRING", "description": "d", "enum": []any{"x", "y"}},
				"b": map[string]any{"type": "INTEGER", "nullable": true},
				"c": map[string]any{"type": "ARRAY", "items": map[string]any{"type": "BOOLEAN"}},
			}}, ""},
		{"anyOf", map[string]any{"anyOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}},
			map[string]any{"anyOf": []any{map[string]any{"type": "STRING"}, map[string]any{"type": "NUMBER"}}}, ""},
		{"not an object", "summary", nil, "want a JSON schema object"},
		{"empty", map[string]any{}, nil, "want a JSON schema object"},
		{"unknown type", map[string]any{"type": "date"}, nil, `output_schema.type: unknown type "date"`},
		{"two types", map[string]any{"type": []any{"string", "number"}}, nil, "one type"},
		{"bad property", map[string]any{"type": "object", "properties": map[string]any{"a": "string"}}, nil, "output_schema.properties.a: want a schema object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := client.ConvertSchema(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Errorf("got %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v %v\nwant %#v", got, err, tc.want)
			}
		})
	}
}
