// Package gemini is the Google Gemini integration: the service "web_research" (no
// platforms). This file declares its manifest; the handler arrives later.
package gemini

import "github.com/stewardhq/steward/internal/manifest"

// Manifest returns the Gemini integration's manifest.
func Manifest() *manifest.Manifest {
	return &manifest.Manifest{
		Type:        "gemini",
		DisplayName: "Google Gemini",
		Version:     "0.1.0",
		Fields: []manifest.Field{
			{Name: "api_key", Type: manifest.TypeString, Required: true, Secret: true, Description: "Gemini API key (use !secret)"},
			{Name: "model", Type: manifest.TypeString, Description: "model name (default gemini-3-pro-preview)"},
		},
		Services: []manifest.Service{{
			Name:        "web_research",
			Description: "Grounded web research using Gemini with Google Search",
			Reversible:  false,
			HumanLog:    "Web research: {{ prompt | truncate(80) }}",
			InputSchema: map[string]any{
				"type":       "object",
				"properties": map[string]any{"prompt": map[string]any{"type": "string"}, "output_schema": map[string]any{"type": "object"}},
				"required":   []any{"prompt"},
			},
		}},
	}
}
