// Package notegolden holds the reference note of an email item: the facts it
// is made from and the exact text PyYAML and python-frontmatter write for them.
// The note renderer's tests and the journal's tests both compare against it.
package notegolden

// EmailFacts are the front-matter keys email.md §5.3 writes on creation.
func EmailFacts() map[string]any {
	return map[string]any{
		"uid":          "12345",
		"message_id":   "<abc@example.com>",
		"from_address": "alice@example.com",
		"to_address":   "me@example.org",
		"subject":      "Café ☕ — Quarterly report: numbers & next steps for the board meeting on Thursday",
		"received_at":  "2025-02-15T10:30:00+00:00",
		"authentication": map[string]any{
			"dkim_pass": true, "dmarc_pass": true, "spf_pass": false,
		},
		"domain":            "mail.example.com",
		"root_domain":       "example.com",
		"is_noreply":        false,
		"is_calendar_event": true,
		"is_reply":          false,
		"is_forward":        false,
		"is_unsubscribable": false,
		"has_attachments":   true,
		"is_read":           false,
		"is_starred":        false,
		"is_answered":       false,
		"calendar": map[string]any{
			"start": "2025-02-20T09:00:00+00:00", "end": "2025-02-20T10:00:00+00:00",
			"guest_count": 3, "method": "REQUEST", "is_update": false, "partstat": "NEEDS-ACTION",
		},
	}
}

// EmailNote is what PyYAML 6 / python-frontmatter write for EmailFacts.
const EmailNote = "---\n" +
	"authentication:\n  dkim_pass: true\n  dmarc_pass: true\n  spf_pass: false\n" +
	"calendar:\n  end: '2025-02-20T10:00:00+00:00'\n  guest_count: 3\n  is_update: false\n  method: REQUEST\n" +
	"  partstat: NEEDS-ACTION\n  start: '2025-02-20T09:00:00+00:00'\n" +
	"domain: mail.example.com\nfrom_address: alice@example.com\nhas_attachments: true\nis_answered: false\n" +
	"is_calendar_event: true\nis_forward: false\nis_noreply: false\nis_read: false\nis_reply: false\n" +
	"is_starred: false\nis_unsubscribable: false\nmessage_id: <abc@example.com>\n" +
	"received_at: '2025-02-15T10:30:00+00:00'\nroot_domain: example.com\n" +
	"subject: 'Café ☕ — Quarterly report: numbers & next steps for the board meeting on\n  Thursday'\n" +
	"to_address: me@example.org\nuid: '12345'\n---"

// ClassifiedBlock is the classification part PyYAML writes once classified.
const ClassifiedBlock = "classification:\n  human: 0.92\n  is_invoice: false\n  score: 1.0\n  urgency: high\n" +
	"classified_by:\n  model: qwen2.5:14b\n  profile: default\n  timestamp: '2025-02-15T10:31:05.123456+00:00'\n"
