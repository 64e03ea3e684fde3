package geminifake

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// post sends body to the fake's generateContent endpoint for model.
func post(t *testing.T, s *Server, model, key, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/v1beta/models/"+model+":generateContent", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("x-goog-api-key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.NewDecoder(bytes.NewReader(raw)).Decode(&out)
	return resp.StatusCode, out
}

func TestWireFormat(t *testing.T) {
	s := New(WithKey("k1"))
	defer s.Close()
	search := `{"contents":[{"role":"user","parts":[{"text":"who?"}]}],"tools":[{"google_search":{}}]}`
	tests := []struct {
		name, model, key, body string
		status                 int
		check                  func(map[string]any) bool
	}{
		{"search answers with grounding", "gemini-2.5-pro", "k1", search, 200, func(m map[string]any) bool {
			c := m["candidates"].([]any)[0].(map[string]any)
			chunk := c["groundingMetadata"].(map[string]any)["groundingChunks"].([]any)[0].(map[string]any)["web"].(map[string]any)
			return chunk["uri"] == AutoSource.URI && c["content"].(map[string]any)["parts"].([]any)[0].(map[string]any)["text"] == AutoText
		}},
		{"wrong key", "m", "nope", search, 400, func(m map[string]any) bool {
			return strings.Contains(toJSON(m), "API_KEY_INVALID")
		}},
		{"no key", "m", "", search, 400, nil},
		{"no contents", "m", "k1", `{"contents":[]}`, 400, nil},
		{"lower-case schema type", "m", "k1",
			`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"object"}}}`, 400, nil},
		{"schema without json mime", "m", "k1",
			`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseSchema":{"type":"OBJECT"}}}`, 400, nil},
		{"schema answered with conforming JSON", "m", "k1",
			`{"contents":[{"parts":[{"text":"x"}]}],"generation_config":{"response_mime_type":"application/json","response_schema":{"type":"OBJECT","properties":{"n":{"type":"INTEGER"}}}}}`,
			200, func(m map[string]any) bool {
				text := m["candidates"].([]any)[0].(map[string]any)["content"].(map[string]any)["parts"].([]any)[0].(map[string]any)["text"]
				return text == `{"n":1}`
			}},
		{"unknown tool", "m", "k1", `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"web_browse":{}}]}`, 400, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, s, tc.model, tc.key, tc.body)
			if status != tc.status || (tc.check != nil && !tc.check(body)) {
				t.Errorf("status %d body %s", status, toJSON(body))
			}
		})
	}
	if got := s.Requests(); len(got) != len(tests) || !got[0].GoogleSearch() || got[0].Model != "gemini-2.5-pro" || got[0].Prompt() != "who?" {
		t.Errorf("recorded %d requests: %+v", len(got), got[0])
	}
}

func TestScriptLatencyAndErrors(t *testing.T) {
	s := New(WithScript(RateLimited(2*time.Second), BlockedPrompt("SAFETY")), WithLatency(50*time.Millisecond))
	defer s.Close()
	body := `{"contents":[{"parts":[{"text":"x"}]}]}`
	start := time.Now()
	status, m := post(t, s, "m", "", body)
	if status != 429 || m["error"].(map[string]any)["status"] != "RESOURCE_EXHAUSTED" || time.Since(start) < 50*time.Millisecond {
		t.Errorf("429: %d %v after %s", status, m, time.Since(start))
	}
	if status, m := post(t, s, "m", "", body); status != 200 || m["promptFeedback"].(map[string]any)["blockReason"] != "SAFETY" || m["candidates"] != nil {
		t.Errorf("blocked: %d %v", status, m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := s.WaitRequests(ctx, 2); err != nil {
		t.Fatal(err)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
