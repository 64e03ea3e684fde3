// Package email is the IMAP email integration: platform "inbox" (check → collect →
// classify → evaluate → act). This file declares its manifest; the stage handlers
// arrive with the email issue.
package email

import "github.com/stewardhq/steward/internal/manifest"

// Manifest returns the email integration's manifest.
func Manifest() *manifest.Manifest {
	return &manifest.Manifest{
		Type:        "email",
		DisplayName: "Email",
		Version:     "1.0.0",
		Fields: []manifest.Field{
			{Name: "imap_server", Type: manifest.TypeString, Required: true, Description: "IMAP host name"},
			{Name: "imap_port", Type: manifest.TypeInteger, Default: 993, Description: "IMAP port (993 implicit TLS; 143 plain/STARTTLS)"},
			{Name: "username", Type: manifest.TypeString, Required: true, Description: "IMAP login name"},
			{Name: "password", Type: manifest.TypeString, Required: true, Secret: true, Description: "IMAP password (use !secret)"},
			{Name: "tls_verify", Type: manifest.TypeBoolean, Default: true, Description: "verify the server's TLS certificate"},
		},
		Platforms: []manifest.Platform{{
			Name:      "inbox",
			EntryTask: "check",
			Stages:    []string{"check", "collect", "classify", "evaluate", "act"},
			Fields: []manifest.Field{
				{Name: "limit", Type: manifest.TypeInteger, Default: 50, Description: "most inbox messages considered per check"},
				{Name: "window", Type: manifest.TypeString, Description: "look-back window in days, e.g. 7d"},
			},
		}},
	}
}
