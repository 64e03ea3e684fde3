// Package gemini is the Google Gemini integration: no platforms, one service,
// web_research (task type service.gemini.web_research), which asks Gemini a
// question with the Google Search tool and returns the grounded answer, its
// sources and, when the inputs carry an output_schema, a JSON value shaped by
// it (see [Integration.WebResearch] for the result).
//
// Instance config: api_key (required; !secret), api_url (default Google's
// https://generativelanguage.googleapis.com; plain http only for a loopback
// stand-in) and model (default gemini-3-pro-preview). The wire client lives in
// the client sub-package.
//
// The API key is read from the config in force on the machine that runs the
// task; it never enters a task payload, a result, an error or a log line.
// The package never writes notes itself: the services machinery routes the
// result (by default into a note under services/gemini/web_research/).
package gemini

import (
	"github.com/stewardhq/steward/integrations/gemini/client"
	"github.com/stewardhq/steward/internal/manifest"
)

// Names of the integration type, its service and its config fields.
const (
	Type               = "gemini"
	ServiceWebResearch = "web_research"
	// TaskWebResearch is the task type of web_research.
	TaskWebResearch = "service." + Type + "." + ServiceWebResearch

	FieldAPIKey = "api_key"
	FieldAPIURL = "api_url"
	FieldModel  = "model"
)

// Manifest returns the Gemini integration's manifest.
func Manifest() *manifest.Manifest {
	return &manifest.Manifest{
		Type:        Type,
		DisplayName: "Google Gemini",
		Version:     "0.1.0",
		Fields: []manifest.Field{
			{Name: FieldAPIKey, Type: manifest.TypeString, Required: true, Secret: true, Description: "Gemini API key (use !secret)"},
			{Name: FieldAPIURL, Type: manifest.TypeString, Check: client.CheckBaseURL,
				Description: "Gemini API base URL (default " + client.DefaultBaseURL + ")"},
			{Name: FieldModel, Type: manifest.TypeString, Check: client.CheckModel,
				Description: "model name (default " + client.DefaultModel + ")"},
		},
		Services: []manifest.Service{{
			Name:        ServiceWebResearch,
			Description: "Grounded web research using Gemini with Google Search",
			Reversible:  false,
			HumanLog:    "Web research: {{ prompt | truncate(80) }}",
			InputSchema: map[string]any{
				"type": "object",
				"properties": map[string]any{
					"prompt": map[string]any{"type": "string", "description": "The question to research on the web"},
					"output_schema": map[string]any{"type": "object",
						"description": "Optional JSON schema: a second pass turns the answer into a JSON value of this shape (result key structured)"},
				},
				"required": []any{"prompt"},
			},
		}},
	}
}
