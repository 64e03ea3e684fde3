package message

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse: any bytes parse without panicking, and everything derived from
// the message (facts, prompt fields, note name, unsubscribe URL, draft) is
// computed without panicking, is valid UTF-8 and JSON-encodable.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, file := range files {
		raw, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte("From: a@b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\n--x--"))
	f.Add([]byte("Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=X:20260101T000000\r\nEND:VEVENT\r\nEND:VCALENDAR"))
	f.Add([]byte("Subject: =?utf-8?q?=FF?=\r\nContent-Transfer-Encoding: base64\r\n\r\n!!"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			if err != ErrEmpty || strings.TrimSpace(string(raw)) != "" {
				t.Fatalf("Parse error %v", err)
			}
			return
		}
		facts := m.Facts([]string{`\Seen`})
		if _, err := json.Marshal(facts); err != nil {
			t.Fatalf("facts not JSON: %v", err)
		}
		for k, v := range facts {
			if s, ok := v.(string); ok && !utf8.ValidString(s) {
				t.Fatalf("%s not UTF-8: %q", k, s)
			}
		}
		for _, s := range []string{m.Text, m.HTML, m.Subject, m.From.Name, m.From.Address, m.To} {
			if !utf8.ValidString(s) {
				t.Fatalf("not UTF-8: %q", s)
			}
		}
		_ = PromptFields(m)
		_ = NoteFileName(m, 1)
		_, _ = UnsubscribeURL(m)
		if d, err := Parse(BuildDraftWith(m, DraftOptions{Text: m.Subject, From: "me@example.org", MessageID: "<d@x>"})); err != nil || d.InReplyTo != m.MessageID {
			t.Fatalf("draft does not parse back: %v, %q vs %q", err, d.InReplyTo, m.MessageID)
		}
	})
}

// FuzzRootDomain: any address gives a lower-case result without panicking,
// and a result that is itself fed back is stable.
func FuzzRootDomain(f *testing.F) {
	for _, s := range []string{
		"user@example.com", "x@mail.company.co.uk", "x@pages.github.io", "localhost", "x@[1.2.3.4]",
		"x@co.uk", "", "@", "x@a..b", "x@bücher.de", "x@xn--", "x@.com.", "x@*.ck", "x@!www.ck", "x@[IPv6:::1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r := RootDomain(s)
		if r != strings.ToLower(r) {
			t.Fatalf("RootDomain(%q) = %q is not lower-case", s, r)
		}
		if r != "" && !strings.ContainsAny(r, "[]@/:?#") && r == strings.TrimSpace(r) && r == strings.Trim(r, ".") {
			if r2 := RootDomain(r); r2 != r {
				t.Fatalf("RootDomain(%q) = %q, but RootDomain(%q) = %q", s, r, r, r2)
			}
		}
	})
}

// FuzzParseCalendar: any calendar text parses or fails without panicking.
func FuzzParseCalendar(f *testing.F) {
	f.Add(request)
	f.Add("BEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Z\r\nBEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=-5SU;BYMONTH=2\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nDTSTART;TZID=Z:20260101T000000\r\nDURATION:-P1W\r\nEND:VEVENT\r\nEND:VCALENDAR")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCalendar(s)
		if err == nil {
			if _, err := json.Marshal(c.Map()); err != nil {
				t.Fatal(err)
			}
		}
	})
}
