package llmfake

import (
	"encoding/json"
	"net/http"
	"time"
)

// Request is one recorded request.
type Request struct {
	// Seq numbers requests from 1 in arrival order.
	Seq      int
	Received time.Time
	Method   string
	Path     string
	Header   http.Header
	// Raw is the body as received; Body is it decoded (nil when it is not a
	// JSON object).
	Raw  []byte
	Body map[string]any

	// Fields of a chat-completions body, decoded for convenience.
	Model          string
	Messages       []Message
	Stream         bool
	ResponseFormat *ResponseFormat
}

// Message is one element of a request's messages.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ResponseFormat is a request's response_format.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema.
type JSONSchema struct {
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	// Strict is nil when the request leaves it out.
	Strict *bool `json:"strict,omitempty"`
}

// decodeRequest records an HTTP request.
func decodeRequest(r *http.Request, raw []byte) Request {
	req := Request{
		Received: time.Now(),
		Method:   r.Method,
		Path:     r.URL.Path,
		Header:   r.Header.Clone(),
		Raw:      raw,
	}
	if json.Unmarshal(raw, &req.Body) != nil {
		req.Body = nil
		return req
	}
	var fields struct {
		Model          string          `json:"model"`
		Messages       []Message       `json:"messages"`
		Stream         bool            `json:"stream"`
		ResponseFormat *ResponseFormat `json:"response_format"`
	}
	if json.Unmarshal(raw, &fields) == nil {
		req.Model, req.Messages, req.Stream, req.ResponseFormat = fields.Model, fields.Messages, fields.Stream, fields.ResponseFormat
	}
	return req
}

// invalid says why a chat-completions body would be rejected with 400, ""
// when it is acceptable.
func (r Request) invalid() string {
	if r.Body == nil {
		return "We could not parse the JSON body of your request."
	}
	if r.Model == "" {
		return "you must provide a model parameter"
	}
	msgs, ok := r.Body["messages"].([]any)
	if !ok || len(msgs) == 0 {
		return "'messages' must be a non-empty array"
	}
	for _, m := range msgs {
		mm, ok := m.(map[string]any)
		if !ok {
			return "each message must be an object"
		}
		switch mm["role"] {
		case "system", "user", "assistant", "developer", "tool":
		default:
			return "each message needs a role: system, user or assistant"
		}
		if _, ok := mm["content"].(string); !ok {
			return "llmfake only accepts string message content"
		}
	}
	if r.Stream {
		return "llmfake does not stream: send stream false"
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "json_object":
		case "json_schema":
			if rf.JSONSchema == nil || rf.JSONSchema.Name == "" || len(rf.JSONSchema.Schema) == 0 {
				return "response_format json_schema needs json_schema.name and json_schema.schema"
			}
		default:
			return "response_format.type must be text, json_object or json_schema"
		}
	}
	return ""
}

// Schema is response_format.json_schema.schema, nil when the request asks
// for no schema.
func (r Request) Schema() json.RawMessage {
	if r.ResponseFormat == nil || r.ResponseFormat.Type != "json_schema" || r.ResponseFormat.JSONSchema == nil {
		return nil
	}
	return r.ResponseFormat.JSONSchema.Schema
}

// Bearer is the token of the Authorization header, "" when there is none.
func (r Request) Bearer() string { return bearer(r.Header.Get("Authorization")) }

// LastUser is the content of the last user message, "" when there is none.
func (r Request) LastUser() string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "user" {
			return r.Messages[i].Content
		}
	}
	return ""
}
