package client

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Request is one generateContent call.
type Request struct {
	// Prompt is the single user turn.
	Prompt string
	// GoogleSearch enables the Google Search tool (grounded answers with
	// sources).
	GoogleSearch bool
	// ResponseSchema, when set, asks for JSON output matching it
	// (generationConfig responseMimeType application/json + responseSchema).
	// It is in Gemini's schema dialect: see [ConvertSchema].
	ResponseSchema map[string]any
}

// Source is one grounding source of an answer. Its JSON keys are those the
// reference system wrote into research notes ({title, url}).
type Source struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Response is what a call returns.
type Response struct {
	// Text is the first candidate's text (its parts joined, thoughts left
	// out), "" when there is none.
	Text string
	// Sources are the web grounding chunks of every candidate, in order, not
	// de-duplicated; never nil.
	Sources []Source
	// Queries are the web searches Gemini ran (groundingMetadata.webSearchQueries).
	Queries []string
	// FinishReason of the first candidate (STOP, MAX_TOKENS, ...).
	FinishReason string
	// ModelVersion is the model that answered, as the API reports it.
	ModelVersion string
	// PromptTokens and AnswerTokens are from usageMetadata (0 when absent).
	PromptTokens int
	AnswerTokens int
}

// wireRequest is the generateContent body.
type wireRequest struct {
	Contents         []wireContent     `json:"contents"`
	Tools            []map[string]any  `json:"tools,omitempty"`
	GenerationConfig *wireGenerationCf `json:"generationConfig,omitempty"`
}

type wireContent struct {
	Role  string     `json:"role,omitempty"`
	Parts []wirePart `json:"parts"`
}

type wirePart struct {
	Text    string `json:"text"`
	Thought bool   `json:"thought,omitempty"`
}

type wireGenerationCf struct {
	ResponseMIMEType string         `json:"responseMimeType,omitempty"`
	ResponseSchema   map[string]any `json:"responseSchema,omitempty"`
}

// body encodes r as a generateContent request.
func (r Request) body() ([]byte, error) {
	w := wireRequest{Contents: []wireContent{{Role: "user", Parts: []wirePart{{Text: r.Prompt}}}}}
	if r.GoogleSearch {
		w.Tools = []map[string]any{{"google_search": map[string]any{}}}
	}
	if r.ResponseSchema != nil {
		w.GenerationConfig = &wireGenerationCf{ResponseMIMEType: "application/json", ResponseSchema: r.ResponseSchema}
	}
	return json.Marshal(w)
}

// wireResponse is the part of a GenerateContentResponse the client reads.
type wireResponse struct {
	Candidates []struct {
		Content *struct {
			Parts []wirePart `json:"parts"`
		} `json:"content"`
		FinishReason  string             `json:"finishReason"`
		SafetyRatings []wireSafetyRating `json:"safetyRatings"`
		// GroundingMetadata is a pointer: a candidate without it adds no sources.
		GroundingMetadata *struct {
			GroundingChunks []struct {
				Web *struct {
					URI   string `json:"uri"`
					Title string `json:"title"`
				} `json:"web"`
			} `json:"groundingChunks"`
			WebSearchQueries []string `json:"webSearchQueries"`
		} `json:"groundingMetadata"`
	} `json:"candidates"`
	PromptFeedback *struct {
		BlockReason   string             `json:"blockReason"`
		SafetyRatings []wireSafetyRating `json:"safetyRatings"`
	} `json:"promptFeedback"`
	UsageMetadata *struct {
		PromptTokenCount     int `json:"promptTokenCount"`
		CandidatesTokenCount int `json:"candidatesTokenCount"`
	} `json:"usageMetadata"`
	ModelVersion string `json:"modelVersion"`
}

type wireSafetyRating struct {
	Category    string `json:"category"`
	Probability string `json:"probability"`
	Blocked     bool   `json:"blocked"`
}

// blockedFinish are the finish reasons that mean Gemini withheld the answer.
var blockedFinish = map[string]bool{
	"SAFETY": true, "PROHIBITED_CONTENT": true, "BLOCKLIST": true, "SPII": true,
	"RECITATION": true, "IMAGE_SAFETY": true,
}

// ParseResponse reads a generateContent response body. A prompt blocked by
// safety filters (promptFeedback.blockReason) or a first candidate that
// finished for a safety reason (finishReason SAFETY, PROHIBITED_CONTENT,
// BLOCKLIST, SPII, RECITATION) is an [*Error] wrapping ErrBlocked, which is
// permanent; a body that is not a JSON object is one wrapping
// ErrMalformedResponse, which is transient. No candidates at all is an empty
// answer, not an error. The Integration of a returned error is empty.
func ParseResponse(data []byte) (*Response, error) {
	var w wireResponse
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, &Error{Transient: true, Err: ErrMalformedResponse,
			msg: fmt.Sprintf("the answer (%d bytes) is not a generateContent response: not a JSON object", len(data))}
	}
	if pf := w.PromptFeedback; pf != nil && pf.BlockReason != "" {
		reason := safeToken(pf.BlockReason)
		return nil, &Error{Err: ErrBlocked, Reason: reason,
			msg: "Gemini blocked the prompt (blockReason " + orUnknown(reason) + blockedCategories(pf.SafetyRatings) + ")"}
	}
	out := &Response{Sources: []Source{}, ModelVersion: w.ModelVersion}
	if u := w.UsageMetadata; u != nil {
		out.PromptTokens, out.AnswerTokens = u.PromptTokenCount, u.CandidatesTokenCount
	}
	for i, c := range w.Candidates {
		if i == 0 {
			out.FinishReason = c.FinishReason
			if blockedFinish[c.FinishReason] {
				return nil, &Error{Err: ErrBlocked, Reason: c.FinishReason,
					msg: "Gemini blocked the answer (finishReason " + c.FinishReason + blockedCategories(c.SafetyRatings) + ")"}
			}
			if c.Content != nil {
				var b strings.Builder
				for _, p := range c.Content.Parts {
					if !p.Thought {
						b.WriteString(p.Text)
					}
				}
				out.Text = b.String()
			}
		}
		if g := c.GroundingMetadata; g != nil {
			for _, ch := range g.GroundingChunks {
				if ch.Web != nil {
					out.Sources = append(out.Sources, Source{Title: ch.Web.Title, URL: ch.Web.URI})
				}
			}
			out.Queries = append(out.Queries, g.WebSearchQueries...)
		}
	}
	return out, nil
}

// blockedCategories lists the categories of the ratings marked blocked, as
// ", HARM_CATEGORY_X"; "" when none is.
func blockedCategories(rs []wireSafetyRating) string {
	var cats []string
	for _, r := range rs {
		if c := safeToken(r.Category); r.Blocked && c != "" {
			cats = append(cats, c)
		}
	}
	if len(cats) == 0 {
		return ""
	}
	return ", " + strings.Join(cats, ", ")
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// schemaTypes maps JSON Schema type names to Gemini's.
var schemaTypes = map[string]string{
	"string": "STRING", "number": "NUMBER", "integer": "INTEGER", "boolean": "BOOLEAN",
	"array": "ARRAY", "object": "OBJECT", "null": "NULL",
}

// schemaKeys are the keywords Gemini's responseSchema accepts besides type,
// properties, items and anyOf (which are converted recursively).
var schemaKeys = map[string]bool{
	"format": true, "title": true, "description": true, "nullable": true, "enum": true,
	"maxItems": true, "minItems": true, "required": true, "minProperties": true, "maxProperties": true,
	"minLength": true, "maxLength": true, "pattern": true, "example": true, "propertyOrdering": true,
	"default": true, "minimum": true, "maximum": true,
}

// maxSchemaDepth bounds the nesting of an output schema.
const maxSchemaDepth = 32

// ConvertSchema turns a JSON Schema as people write it (type: object,
// properties: {...}) into Gemini's responseSchema dialect: type names in
// upper case (OBJECT, STRING, ...), a type list with "null" as nullable,
// keywords Gemini does not know ($schema, additionalProperties, ...) left
// out. It refuses anything that is not an object schema of known types.
func ConvertSchema(schema any) (map[string]any, error) {
	m, ok := schema.(map[string]any)
	if !ok || len(m) == 0 {
		return nil, fmt.Errorf("want a JSON schema object (e.g. {type: object, properties: {...}})")
	}
	return convertSchema(m, "output_schema", 0)
}

func convertSchema(m map[string]any, at string, depth int) (map[string]any, error) {
	if depth > maxSchemaDepth {
		return nil, fmt.Errorf("%s: nested more than %d deep", at, maxSchemaDepth)
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch k {
		case "type":
			t, nullable, err := schemaType(v)
			if err != nil {
				return nil, fmt.Errorf("%s.type: %w", at, err)
			}
			out["type"] = t
			if nullable {
				out["nullable"] = true
			}
		case "properties":
			props, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s.properties: want a mapping of property schemas", at)
			}
			conv := make(map[string]any, len(props))
			for name, p := range props {
				pm, ok := p.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s.properties.%s: want a schema object", at, name)
				}
				c, err := convertSchema(pm, at+".properties."+name, depth+1)
				if err != nil {
					return nil, err
				}
				conv[name] = c
			}
			out["properties"] = conv
		case "items":
			im, ok := v.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("%s.items: want a schema object", at)
			}
			c, err := convertSchema(im, at+".items", depth+1)
			if err != nil {
				return nil, err
			}
			out["items"] = c
		case "anyOf":
			list, ok := v.([]any)
			if !ok {
				return nil, fmt.Errorf("%s.anyOf: want a list of schemas", at)
			}
			conv := make([]any, 0, len(list))
			for i, s := range list {
				sm, ok := s.(map[string]any)
				if !ok {
					return nil, fmt.Errorf("%s.anyOf[%d]: want a schema object", at, i)
				}
				c, err := convertSchema(sm, fmt.Sprintf("%s.anyOf[%d]", at, i), depth+1)
				if err != nil {
					return nil, err
				}
				conv = append(conv, c)
			}
			out["anyOf"] = conv
		default:
			if schemaKeys[k] {
				out[k] = v
			}
		}
	}
	return out, nil
}

// schemaType converts a type keyword: a name, or a list of one name plus
// "null".
func schemaType(v any) (typ string, nullable bool, err error) {
	name := func(x any) (string, error) {
		s, ok := x.(string)
		if !ok {
			return "", fmt.Errorf("want a type name, got %T", x)
		}
		if t, ok := schemaTypes[strings.ToLower(s)]; ok {
			return t, nil
		}
		return "", fmt.Errorf("unknown type %q (string, number, integer, boolean, array, object)", s)
	}
	switch x := v.(type) {
	case string:
		t, err := name(x)
		return t, false, err
	case []any:
		for _, e := range x {
			t, err := name(e)
			if err != nil {
				return "", false, err
			}
			if t == "NULL" {
				nullable = true
				continue
			}
			if typ != "" {
				return "", false, fmt.Errorf("Gemini takes one type (plus null), got %v", x)
			}
			typ = t
		}
		if typ == "" {
			return "", false, fmt.Errorf("no type besides null in %v", x)
		}
		return typ, nullable, nil
	}
	return "", false, fmt.Errorf("want a type name, got %T", v)
}
