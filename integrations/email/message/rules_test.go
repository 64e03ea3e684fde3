package message

import (
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/rules"
)

// deterministicKeys are the email manifest's DeterministicKeys (spec/email.md
// §1.7, plus subject, to_address and received_at), repeated here so this
// package's tests do not import its parent.
var deterministicKeys = []string{
	"authentication", "calendar", "domain", "from_address", "has_attachments",
	"is_answered", "is_calendar_event", "is_forward", "is_noreply", "is_read",
	"is_reply", "is_starred", "is_unsubscribable", "root_domain",
	"subject", "to_address", "received_at",
}

// Facts, stored as JSON and read back, work with the rules engine the way the
// reference's test_classify.py / test_evaluate.py conditions expect.
func TestFactsWithRules(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		file  string
		flags []string
		key   string
		value any
		want  bool
	}{
		{"invite_past.eml", nil, "calendar.end", "<now()", true},
		{"invite_past.eml", nil, "calendar.end", ">now()", false},
		{"invite_future.eml", nil, "calendar.end", "<now()", false},
		{"invite_future.eml", nil, "calendar.start", ">now()", true},
		{"invite_past.eml", nil, "calendar.guest_count", 3, true},
		{"invite_past.eml", nil, "calendar.guest_count", 5, false},
		{"invite_future.eml", nil, "calendar.is_update", true, true},
		{"invite_cancel.eml", nil, "calendar.method", "cancel", true},
		{"invite_cancel.eml", nil, "calendar.partstat", "accepted", false},
		{"personal.eml", nil, "calendar.end", "<now()", false},
		{"personal.eml", nil, "calendar.guest_count", 0, false},
		{"personal.eml", nil, "is_calendar_event", false, true},
		{"invite_past.eml", nil, "is_calendar_event", true, true},
		{"noreply_auth.eml", nil, "is_noreply", true, true},
		{"personal.eml", nil, "is_noreply", true, false},
		{"noreply_auth.eml", nil, "authentication.dkim_pass", true, true},
		{"personal.eml", nil, "authentication.spf_pass", true, false},
		{"noreply_auth.eml", nil, "authentication.arc_pass", true, false},
		{"noreply_auth.eml", nil, "root_domain", "example.co.uk", true},
		{"noreply_auth.eml", nil, "domain", []any{"other.com", "news.example.co.uk"}, true},
		{"personal.eml", nil, "domain", "corp.com", true},
		{"personal.eml", nil, "domain", "other.com", false},
		{"personal.eml", nil, "from_address", "bob.miller@corp.com", false}, // case preserved
		{"newsletter.eml", nil, "is_unsubscribable", true, true},
		{"attachments.eml", nil, "has_attachments", true, true},
		{"forward.eml", nil, "is_forward", true, true},
		{"reply.eml", nil, "is_reply", true, true},
		{"personal.eml", []string{`\Seen`, `\Flagged`}, "is_read", true, true},
		{"personal.eml", []string{`\Seen`, `\Flagged`}, "is_starred", true, true},
		{"personal.eml", []string{`\Seen`, `\Flagged`}, "is_answered", true, false},
		// subject (decoded), to_address and received_at (an ISO time from
		// the top Received header, compared with now() like calendar.end).
		{"newsletter.eml", nil, "subject", "Our spring sale starts now — up to 50% off", true},
		{"shiftjis.eml", nil, "subject", []any{"x", "会議のお知らせ"}, true},
		{"personal.eml", nil, "subject", "Our spring sale starts now — up to 50% off", false},
		{"newsletter.eml", nil, "to_address", "me@example.org", true},
		{"newsletter.eml", nil, "to_address", "you@example.org", false},
		{"personal.eml", nil, "received_at", "<now()", true},
		{"personal.eml", nil, "received_at", ">now()", false},
		{"personal.eml", nil, "received_at", "2025-03-03T09:15:02-08:00", true},
	}
	for _, tt := range tests {
		c, _, err := rules.ParseCondition(tt.key, tt.value, nil, deterministicKeys)
		if err != nil {
			t.Fatalf("%s: %v", tt.key, err)
		}
		facts := jsonFacts(t, load(t, tt.file), tt.flags...)
		if got := c.Match(rules.Facts(facts), nil, now); got != tt.want {
			t.Errorf("%s: %s: %v = %v, want %v (facts %v)", tt.file, tt.key, tt.value, got, tt.want, facts[tt.key])
		}
		// The facts straight from Facts (before JSON) behave the same.
		if got := c.Match(rules.Facts(load(t, tt.file).Facts(tt.flags)), nil, now); got != tt.want {
			t.Errorf("%s: %s (no JSON) = %v", tt.file, tt.key, got)
		}
	}
}

// Every deterministic source resolves on every message.
func TestFactsComplete(t *testing.T) {
	for _, file := range []string{"personal.eml", "invite_past.eml", "malformed.eml"} {
		f := load(t, file).Facts(nil)
		for _, k := range deterministicKeys {
			if _, ok := f[k]; !ok && !(k == "calendar" && f["is_calendar_event"] == false) {
				t.Errorf("%s: %s missing", file, k)
			}
		}
		for _, k := range []string{"message_id", "to_address", "subject", "received_at"} {
			if _, ok := f[k].(string); !ok {
				t.Errorf("%s: %s is not a string", file, k)
			}
		}
	}
}
