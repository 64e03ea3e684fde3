// Package github is the GitHub integration: platforms "pull_requests" and "issues"
// and the service "create_issue". This file declares its manifest; the handlers
// arrive with the GitHub issue.
package github

import "github.com/stewardhq/steward/internal/manifest"

// Manifest returns the GitHub integration's manifest.
func Manifest() *manifest.Manifest {
	platformFields := []manifest.Field{
		{Name: "include_mentions", Type: manifest.TypeBoolean, Default: false, Description: "also track items that mention the user"},
	}
	stages := []string{"check", "collect", "classify", "evaluate", "act"}
	return &manifest.Manifest{
		Type:        "github",
		DisplayName: "GitHub",
		Version:     "1.0.0",
		Fields: []manifest.Field{
			{Name: "github_user", Type: manifest.TypeString, Required: true, Description: "user name put into every search query"},
			{Name: "app_id", Type: manifest.TypeString, Required: true, Description: "GitHub App id"},
			{Name: "installation_id", Type: manifest.TypeString, Required: true, Description: "GitHub App installation id"},
			{Name: "private_key", Type: manifest.TypeString, Required: true, Secret: true, Description: "GitHub App PEM private key (use !secret)"},
			{Name: "orgs", Type: manifest.TypeList, Items: manifest.TypeString, Description: "organisations to search"},
			{Name: "repos", Type: manifest.TypeList, Description: "repositories: \"org/repo\" or {repo, context}"},
		},
		Platforms: []manifest.Platform{
			{Name: "pull_requests", EntryTask: "check", Stages: stages, Fields: platformFields},
			{Name: "issues", EntryTask: "check", Stages: stages, Fields: platformFields},
		},
		Services: []manifest.Service{{
			Name:        "create_issue",
			Description: "Create a GitHub issue",
			Reversible:  false,
			Chat:        &manifest.ChatSpec{Description: "Create a GitHub issue in one of the configured repositories"},
		}},
	}
}
