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
			{Name: "imap_security", Type: manifest.TypeString, Default: "", Description: "tls (implicit, port 993), starttls, plain (loopback or a tunnel only), or empty for automatic (port 993 is implicit TLS; on another port the server's mode is detected)"},
			{Name: "unsubscribe_private_networks", Type: manifest.TypeBoolean, Default: false, Description: "allow one-click unsubscribe URLs that resolve to private or loopback addresses (off: a stranger's mail cannot make Steward POST into your network)"},
		},
		Platforms: []manifest.Platform{{
			Name:      "inbox",
			EntryTask: "check",
			Stages:    []string{"check", "collect", "classify", "evaluate", "act"},
			Fields: []manifest.Field{
				{Name: "limit", Type: manifest.TypeInteger, Default: 50, Description: "most inbox messages considered per check"},
				{Name: "window", Type: manifest.TypeString, Description: "look-back window in days, e.g. 7d"},
			},
			// Only unsubscribe cannot be undone: every other action moves the message
			// to a folder it can be moved back from, or writes a draft.
			Actions: []manifest.Action{
				{Name: "archive", Tier: manifest.Reversible, Description: "move the message to the \\Archive folder"},
				{Name: "spam", Tier: manifest.Reversible, Description: "move the message to the \\Junk folder"},
				{Name: "trash", Tier: manifest.Reversible, Description: "move the message to the \\Trash folder"},
				{Name: "move_to", Tier: manifest.Reversible, Description: "move the message to the named folder ({move_to: Folder})"},
				{Name: "draft_reply", Tier: manifest.Reversible, Once: true, Description: "save a reply draft in the \\Drafts folder ({draft_reply: text}); at most once per message"},
				{Name: "unsubscribe", Tier: manifest.Irreversible, Description: "RFC 8058 one-click unsubscribe (an HTTP POST to the sender)"},
			},
			// Facts computed from the message itself; a rule on these alone has
			// provenance "rule". authentication and calendar are mappings, tested as
			// authentication.dkim_pass, calendar.end, ... The reference's 14 sources
			// plus subject, to_address and received_at (an ISO time, compared with
			// "<op> now()" like calendar.end), which it stored but could not test.
			DeterministicKeys: []string{
				"authentication", "calendar", "domain", "from_address", "has_attachments",
				"is_answered", "is_calendar_event", "is_forward", "is_noreply", "is_read",
				"is_reply", "is_starred", "is_unsubscribable", "root_domain",
				"subject", "to_address", "received_at",
			},
			DefaultClassifications: []manifest.Classification{
				{Name: "human", Type: "confidence", Prompt: "is this a personal email written by a human?"},
				{Name: "user_agreement_update", Type: "boolean", Prompt: "is this email about a user agreement update?"},
				{Name: "requires_response", Type: "boolean", Prompt: "does this email require a response?"},
				{Name: "priority", Type: "enum", Values: []string{"low", "medium", "high", "critical"}, Prompt: "what is the priority of this email?"},
			},
		}},
	}
}
