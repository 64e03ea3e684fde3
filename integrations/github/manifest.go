// Package github is the GitHub integration: platforms "pull_requests" and "issues"
// and the service "create_issue". This file declares its manifest; the handlers
// arrive with the GitHub issue.
package github

import (
	"github.com/stewardhq/steward/integrations/github/client"
	"github.com/stewardhq/steward/internal/manifest"
)

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
			{Name: "app_id", Type: manifest.TypeString, Required: true, Check: client.CheckAppID, Description: "GitHub App id"},
			{Name: "installation_id", Type: manifest.TypeString, Required: true, Check: client.CheckInstallationID, Description: "GitHub App installation id"},
			{Name: "private_key", Type: manifest.TypeString, Required: true, Secret: true, Description: "GitHub App PEM private key (use !secret)"},
			{Name: "orgs", Type: manifest.TypeList, Items: manifest.TypeString, Description: "organisations to search"},
			{Name: "repos", Type: manifest.TypeList, Description: "repositories: \"org/repo\" or {repo, context}"},
			{Name: "api_url", Type: manifest.TypeString, Check: client.CheckBaseURL,
				Description: "GitHub REST API base URL (default " + client.DefaultBaseURL + "; GitHub Enterprise Server: https://HOST/api/v3)"},
		},
		// Neither platform declares actions yet (the act stage is a stub): rules on
		// GitHub items act through scripts and services only.
		Platforms: []manifest.Platform{
			{
				Name: "pull_requests", EntryTask: "check", Stages: stages, Fields: platformFields,
				DeterministicKeys: []string{"org", "repo", "number", "author", "title", "status", "additions", "deletions", "changed_files"},
				DefaultClassifications: []manifest.Classification{
					{Name: "complexity", Type: "confidence", Prompt: "How complex is this pull request to review? 0 = trivial typo fix, 1 = major architectural change."},
					{Name: "risk", Type: "confidence", Prompt: "How risky is this change to production systems? 0 = no risk, 1 = high risk of breaking things."},
					{Name: "documentation_only", Type: "boolean", Prompt: "Is this primarily a documentation or configuration change?"}, // boolean: no 0..1 scale (the reference prompt had one)
				},
			},
			{
				Name: "issues", EntryTask: "check", Stages: stages, Fields: platformFields,
				DeterministicKeys: []string{"org", "repo", "number", "author", "title", "state", "labels", "comment_count"},
				DefaultClassifications: []manifest.Classification{
					{Name: "urgency", Type: "confidence", Prompt: "How urgently does this issue need attention? 0 = no urgency, 1 = critical."},
					{Name: "actionable", Type: "boolean", Prompt: "Can you take a concrete next step on this issue right now?"},
				},
			},
		},
		Services: []manifest.Service{{
			Name:        "create_issue",
			Description: "Create a GitHub issue",
			Reversible:  false,
			Chat:        &manifest.ChatSpec{Description: "Create a GitHub issue in one of the configured repositories"},
		}},
	}
}
