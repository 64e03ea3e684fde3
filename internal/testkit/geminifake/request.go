package geminifake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Request is one recorded request.
type Request struct {
	// Seq numbers requests from 1 in arrival order.
	Seq      int
	Received time.Time
	Method   string
	// Path is the URL path; RawQuery the query string (a key sent as ?key=
	// shows here).
	Path     string
	RawQuery string
	Header   http.Header
	// Model is the {model} of the path.
	Model string
	// Raw is the body as received; Body is it decoded (nil when it is not a
	// JSON object).
	Raw  []byte
	Body map[string]any

	// Contents are the request's contents.
	Contents []Content
	// Tools are the request's tools, each a mapping such as
	// {"google_search": {}}.
	Tools []map[string]any
	// ResponseMIMEType and ResponseSchema are from generationConfig
	// (camelCase or snake_case).
	ResponseMIMEType string
	ResponseSchema   map[string]any
}

// Content is one element of contents.
type Content struct {
	Role  string `json:"role"`
	Parts []Part `json:"parts"`
}

// Part is one part of a content.
type Part struct {
	Text string `json:"text"`
}

// decodeRequest records an HTTP request.
func decodeRequest(r *http.Request, raw []byte) Request {
	req := Request{
		Received: time.Now(),
		Method:   r.Method,
		Path:     r.URL.Path,
		RawQuery: r.URL.RawQuery,
		Header:   r.Header.Clone(),
		Raw:      raw,
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, routePrefix); ok {
		req.Model, _ = strings.CutSuffix(rest, routeSuffix)
		if strings.Contains(req.Model, "/") {
			req.Model = ""
		}
	}
	if json.Unmarshal(raw, &req.Body) != nil {
		req.Body = nil
		return req
	}
	var f struct {
		Contents []Content        `json:"contents"`
		Tools    []map[string]any `json:"tools"`
	}
	if json.Unmarshal(raw, &f) == nil {
		req.Contents, req.Tools = f.Contents, f.Tools
	}
	gc, _ := pick(req.Body, "generationConfig", "generation_config").(map[string]any)
	if gc != nil {
		req.ResponseMIMEType, _ = pick(gc, "responseMimeType", "response_mime_type").(string)
		req.ResponseSchema, _ = pick(gc, "responseSchema", "response_schema").(map[string]any)
	}
	return req
}

// pick returns the first present key's value: the API takes proto field
// names in camelCase and snake_case.
func pick(m map[string]any, keys ...string) any {
	for _, k := range keys {
		if v, ok := m[k]; ok {
			return v
		}
	}
	return nil
}

// Key is the x-goog-api-key header, "" when absent.
func (r Request) Key() string { return r.Header.Get("x-goog-api-key") }

// KeyInQuery reports whether the request carried the key as a ?key= query
// parameter (which the real API also accepts).
func (r Request) KeyInQuery() bool {
	return strings.Contains("&"+r.RawQuery, "&key=")
}

// GoogleSearch reports whether the Google Search tool was sent
// (google_search or googleSearch).
func (r Request) GoogleSearch() bool {
	for _, t := range r.Tools {
		if pick(t, "google_search", "googleSearch") != nil {
			return true
		}
	}
	return false
}

// Prompt is the text of every part of every content, joined.
func (r Request) Prompt() string {
	var b strings.Builder
	for _, c := range r.Contents {
		for _, p := range c.Parts {
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// schemaTypes are the type names of Gemini's schema dialect.
var schemaTypes = map[string]bool{
	"STRING": true, "NUMBER": true, "INTEGER": true, "BOOLEAN": true, "ARRAY": true, "OBJECT": true, "NULL": true,
}

// invalid says why the real API would refuse the body with 400, "" when it
// is acceptable.
func (r Request) invalid() string {
	if r.Body == nil {
		return "Invalid JSON payload received."
	}
	if len(r.Contents) == 0 {
		return "* GenerateContentRequest.contents: contents is not specified"
	}
	for i, c := range r.Contents {
		if len(c.Parts) == 0 {
			return fmt.Sprintf("* GenerateContentRequest.contents[%d].parts: contents.parts must not be empty.", i)
		}
		switch c.Role {
		case "", "user", "model":
		default:
			return fmt.Sprintf("Please use a valid role: user, model. (got %q)", c.Role)
		}
	}
	for _, t := range r.Tools {
		if len(t) != 1 {
			return "* GenerateContentRequest.tools: each tool names one kind"
		}
		for k := range t {
			switch k {
			case "google_search", "googleSearch", "google_search_retrieval", "googleSearchRetrieval",
				"url_context", "urlContext", "code_execution", "codeExecution", "function_declarations", "functionDeclarations":
			default:
				return fmt.Sprintf("Invalid JSON payload received. Unknown name %q at 'tools[0]': Cannot find field.", k)
			}
		}
	}
	if r.ResponseSchema != nil {
		if r.ResponseMIMEType != "application/json" && r.ResponseMIMEType != "text/x.enum" {
			return "* GenerateContentRequest.generation_config.response_mime_type: response_schema requires response_mime_type application/json"
		}
		if msg := invalidSchema(r.ResponseSchema, "response_schema", 0); msg != "" {
			return msg
		}
	}
	return ""
}

// invalidSchema checks a responseSchema as the API does: known upper-case
// type names, properties only on OBJECT, items on ARRAY.
func invalidSchema(s map[string]any, at string, depth int) string {
	if depth > 64 {
		return "* " + at + ": schema nested too deep"
	}
	t, _ := s["type"].(string)
	if _, hasAnyOf := s["anyOf"]; t == "" && !hasAnyOf {
		return "* GenerateContentRequest.generation_config." + at + ".type: must be specified"
	}
	if t != "" && !schemaTypes[t] {
		return fmt.Sprintf("Invalid JSON payload received. Invalid value at 'generation_config.%s.type' (type.googleapis.com/google.ai.generativelanguage.v1beta.Type), %q", at, t)
	}
	if props, ok := s["properties"].(map[string]any); ok {
		if t != "OBJECT" {
			return "* " + at + ".properties: only allowed for OBJECT type"
		}
		for k, p := range props {
			pm, ok := p.(map[string]any)
			if !ok {
				return "* " + at + ".properties[" + k + "]: not a schema"
			}
			if msg := invalidSchema(pm, at+".properties["+k+"].value", depth+1); msg != "" {
				return msg
			}
		}
	}
	if t == "ARRAY" {
		it, ok := s["items"].(map[string]any)
		if !ok {
			return "* " + at + ".items: missing field."
		}
		if msg := invalidSchema(it, at+".items", depth+1); msg != "" {
			return msg
		}
	}
	for k := range s {
		switch k {
		case "$schema", "additionalProperties", "$ref", "$defs", "definitions":
			return fmt.Sprintf("Invalid JSON payload received. Unknown name %q at 'generation_config.%s': Cannot find field.", k, at)
		}
	}
	return ""
}
