package message

import (
	"strings"
	"testing"
	"time"
)

// TestLargeInputs: hostile messages of a few megabytes, shaped to hit every
// loop of the parser, are read in linear time (well under a second each;
// the bound is loose for slow CI machines).
func TestLargeInputs(t *testing.T) {
	if testing.Short() {
		t.Skip("large inputs")
	}
	n := 4 << 20
	cases := map[string]string{
		"continuations":   "Subject: a\r\n" + strings.Repeat(" b\r\n", n/4) + "\r\nbody",
		"many fields":     strings.Repeat("X-A: b\r\n", n/8) + "\r\nbody",
		"long subject":    "Subject: " + strings.Repeat("=?utf-8?q?a?= ", n/14) + "\r\n\r\nx",
		"long from":       "From: " + strings.Repeat("a <b, ", n/6) + "\r\n\r\nx",
		"long from2":      "From: " + strings.Repeat("\"a\" (c) x@", n/10) + "\r\n\r\nx",
		"boundary junk":   "Content-Type: multipart/mixed; boundary=B\r\n\r\n" + strings.Repeat("x--B", n/4),
		"boundary lines":  "Content-Type: multipart/mixed; boundary=B\r\n\r\n" + strings.Repeat("--B\r\n", n/5),
		"boundary prefix": "Content-Type: multipart/mixed; boundary=B\r\n\r\n" + strings.Repeat("--BX\n", n/5),
		"html":            "Content-Type: text/html\r\n\r\n" + strings.Repeat("<b>a</b><i>", n/11),
		"html deep":       "Content-Type: text/html\r\n\r\n" + strings.Repeat("<div>", n/5),
		"html table":      "Content-Type: text/html\r\n\r\n" + strings.Repeat("<table><tr><td>", n/15),
		"calendar":        "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n" + strings.Repeat("ATTENDEE;A=\"b\",c;D=e:x\r\n", n/24),
		"calendar fold":   "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDESCRIPTION:" + strings.Repeat("\r\n x", n/4),
		"calendar params": "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nATTENDEE" + strings.Repeat(";A=b", maxCalendarBytes/5) + ":x",
		"calendar lines":  "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART;TZID=Z:20260101T000000\r\n" + strings.Repeat("ATTENDEE;A=\"b\":x\r\n", maxCalendarBytes/20),
		"calendar zone":   "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\nBEGIN:VTIMEZONE\r\nTZID:Z\r\n" + strings.Repeat("BEGIN:STANDARD\r\nDTSTART:16010101T030000\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r\nEND:STANDARD\r\n", maxCalendarBytes/120) + "END:VTIMEZONE\r\nBEGIN:VEVENT\r\nDTSTART;TZID=Z:20260101T000000\r\nDURATION:PT1H\r\nEND:VEVENT\r\nEND:VCALENDAR",
		"calendar begins": "Content-Type: text/calendar\r\n\r\nBEGIN:VCALENDAR\r\n" + strings.Repeat("END:X\r\n", n/7),
		"auth":            "Authentication-Results: " + strings.Repeat("(((", n/3) + "\r\n\r\nx",
		"auth2":           "Authentication-Results: " + strings.Repeat("a=b;", n/4) + "\r\n\r\nx",
		"unsub":           "List-Unsubscribe: " + strings.Repeat("<http://", n/8) + "\r\n\r\nx",
		"unsub2":          "List-Unsubscribe: " + strings.Repeat("<http://a> ", n/11) + "\r\n\r\nx",
		"date":            "Date: " + strings.Repeat("1 ", n/2) + "\r\n\r\nx",
		"received":        "Received: " + strings.Repeat(";", n) + "\r\n\r\nx",
		"content-type":    "Content-Type: text/plain" + strings.Repeat("; a=\"b", n/7) + "\r\n\r\nx",
		"ct params":       "Content-Type: text/plain" + strings.Repeat("; a=b", n/5) + "\r\n\r\nx",
		"nested rfc822":   strings.Repeat("Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\n", 40000),
		"base64":          "Content-Transfer-Encoding: base64\r\n\r\n" + strings.Repeat("QUFB", n/4),
		"qp":              "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + strings.Repeat("=4", n/2),
		"lines":           "\r\n" + strings.Repeat("\r\n", n/2),
		"to":              "To: " + strings.Repeat(",", n) + "\r\n\r\nx",
		"message-id":      "Message-ID: " + strings.Repeat("<", n) + "\r\n\r\nx",
	}
	for name, raw := range cases {
		start := time.Now()
		m, _ := Parse([]byte(raw))
		if m != nil {
			m.Facts(nil)
			RootDomain(m.From.Address)
			BuildDraft(m, "x", "me@x.org")
			PromptFields(m)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: %v", name, d)
		}
	}
}
