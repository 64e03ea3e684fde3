package llm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/llm"
	"github.com/stewardhq/steward/internal/testkit/llmfake"
)

const validReply = `{"human":0.9,"requires_response":true,"priority":"high"}`

func TestSendStructured(t *testing.T) {
	tests := []struct {
		name     string
		script   []llmfake.Response
		wantErr  bool
		want     map[string]any
		requests int
		// correction is what the first corrective message must mention.
		correction string
	}{
		{
			name:     "valid first try",
			script:   []llmfake.Response{llmfake.Text(validReply)},
			want:     map[string]any{"human": 0.9, "requires_response": true, "priority": "high"},
			requests: 1,
		},
		{
			name:     "auto reply from the schema",
			script:   []llmfake.Response{llmfake.Auto()},
			want:     map[string]any{"human": 0.5, "requires_response": true, "priority": "low"},
			requests: 1,
		},
		{
			name:     "fenced JSON is accepted",
			script:   []llmfake.Response{llmfake.Text("```json\n" + validReply + "\n```")},
			want:     map[string]any{"human": 0.9, "requires_response": true, "priority": "high"},
			requests: 1,
		},
		{
			name:     "extra keys and integers are accepted",
			script:   []llmfake.Response{llmfake.Text(`{"human":1,"requires_response":false,"priority":"low","why":"x"}`)},
			want:     map[string]any{"human": 1.0, "requires_response": false, "priority": "low", "why": "x"},
			requests: 1,
		},
		{
			name:       "invalid JSON then valid",
			script:     []llmfake.Response{llmfake.Text(`{"human": 0.9,`), llmfake.Text(validReply)},
			want:       map[string]any{"human": 0.9, "requires_response": true, "priority": "high"},
			requests:   2,
			correction: "the reply is not valid JSON",
		},
		{
			name:       "schema mismatch then valid",
			script:     []llmfake.Response{llmfake.Text(`{"human":"yes","requires_response":1,"priority":"high"}`), llmfake.Text(validReply)},
			want:       map[string]any{"human": 0.9, "requires_response": true, "priority": "high"},
			requests:   2,
			correction: "at '/human': got string, want number",
		},
		{
			name:       "missing field then enum violation then valid",
			script:     []llmfake.Response{llmfake.Text(`{"human":0.1,"priority":"low"}`), llmfake.Text(`{"human":0.1,"requires_response":true,"priority":"urgent"}`), llmfake.Text(validReply)},
			want:       map[string]any{"human": 0.9, "requires_response": true, "priority": "high"},
			requests:   3,
			correction: "requires_response",
		},
		{
			name:       "out of range then valid",
			script:     []llmfake.Response{llmfake.Text(`{"human":7,"requires_response":true,"priority":"high"}`), llmfake.Text(validReply)},
			want:       map[string]any{"human": 0.9, "requires_response": true, "priority": "high"},
			requests:   2,
			correction: "maximum",
		},
		{
			name:       "refusal then valid",
			script:     []llmfake.Response{{Refusal: "I cannot help with that"}, llmfake.Text(validReply)},
			want:       map[string]any{"human": 0.9, "requires_response": true, "priority": "high"},
			requests:   2,
			correction: "the model refused: I cannot help with that",
		},
		{
			name:       "three bad replies",
			script:     []llmfake.Response{llmfake.Text("nope"), llmfake.Text(`{"human":true}`), llmfake.Text(`[1,2]`)},
			wantErr:    true,
			requests:   3,
			correction: "not valid JSON",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newFake(t, llmfake.WithScript(tt.script...))
			c := newClient(t, profile(srv.URL()))
			cv := llm.NewConversation(c, "Respond with JSON.", llm.Message{Role: llm.RoleUser, Content: "earlier"}, llm.Message{Role: llm.RoleAssistant, Content: "{}"})
			before := cv.Messages()
			got, err := cv.SendStructured(context.Background(), "classify this", mustSchema(t, classSchema))

			reqs := srv.Requests()
			if len(reqs) != tt.requests {
				t.Errorf("%d requests, want %d", len(reqs), tt.requests)
			}
			// Every attempt sends the original history and user message first.
			for i, r := range reqs {
				if len(r.Messages) < 4 || r.Messages[3].Content != "classify this" || r.Schema() == nil {
					t.Errorf("attempt %d sent %v", i+1, r.Messages)
				}
			}
			// Each retry carries the failed reply and says what was wrong.
			for i := 1; i < len(reqs); i++ {
				m := reqs[i].Messages
				if len(m) != 6 {
					t.Errorf("attempt %d sent %d messages, want 6 (history, user, bad reply, correction)", i+1, len(m))
					continue
				}
				if m[4].Role != "assistant" || m[5].Role != "user" {
					t.Errorf("attempt %d roles = %s, %s", i+1, m[4].Role, m[5].Role)
				}
				if !strings.Contains(m[5].Content, "Your previous reply could not be used") || !strings.Contains(m[5].Content, `"requires_response"`) {
					t.Errorf("correction = %q", m[5].Content)
				}
			}
			if tt.correction != "" && len(reqs) > 1 && !strings.Contains(reqs[1].Messages[5].Content, tt.correction) {
				t.Errorf("first correction %q does not mention %q", reqs[1].Messages[5].Content, tt.correction)
			}

			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %v, want an error", got)
				}
				var e *llm.Error
				if !errors.As(err, &e) || !llm.IsTransient(err) || !errors.Is(err, llm.ErrInvalidOutput) {
					t.Fatalf("err = %v, want transient ErrInvalidOutput", err)
				}
				if !strings.Contains(err.Error(), "3 attempts") || e.Attempts != 3 || e.LastReply != "[1,2]" || len(e.Problems) == 0 {
					t.Errorf("err = %v, %+v", err, e)
				}
				if strings.Contains(err.Error(), "classify this") {
					t.Errorf("prompt in error: %v", err)
				}
				if after := cv.Messages(); !equalMessages(after, before) {
					t.Errorf("history after failure = %v, want %v", after, before)
				}
				if last, ok := cv.Last(""); ok && last.Role == llm.RoleUser {
					t.Error("dangling user message")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("got[%s] = %v (%T), want %v", k, got[k], got[k], v)
				}
			}
			// History: before + user + the valid reply only.
			after := cv.Messages()
			if len(after) != len(before)+2 || after[len(before)].Content != "classify this" || after[len(after)-1].Role != llm.RoleAssistant {
				t.Errorf("history = %v", after)
			}
		})
	}
}

func TestSendStructuredNilSchema(t *testing.T) {
	srv := newFake(t)
	cv := llm.NewConversation(newClient(t, profile(srv.URL())), "")
	if _, err := cv.SendStructured(context.Background(), "x", nil); !llm.IsPermanent(err) {
		t.Errorf("err = %v", err)
	}
	if cv.Len() != 0 || len(srv.Requests()) != 0 {
		t.Error("nil schema changed state")
	}
}
