package message

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// build assembles a message from header lines and a body.
func build(t *testing.T, body string, headers ...string) *Message {
	t.Helper()
	raw := strings.Join(headers, "\r\n") + "\r\n\r\n" + body
	m, err := Parse([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Behaviours of the reference's tests/test_mail_parsing.py (spec/email.md §10)
// and the §3 tables.

func TestAuthentication(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    Auth
	}{
		{"all pass", []string{"Authentication-Results: spf=pass; dkim=pass; dmarc=pass"}, Auth{DKIM: true, DMARC: true, SPF: true}},
		{"all fail", []string{"Authentication-Results: spf=fail; dkim=fail; dmarc=fail"}, Auth{}},
		{"mixed", []string{"Authentication-Results: spf=pass; dkim=fail; dmarc=pass"}, Auth{SPF: true, DMARC: true}},
		{"no header", nil, Auth{}},
		{"authserv-id and properties", []string{"Authentication-Results: mx.example.org 1; dkim=pass header.d=a.example; spf=pass smtp.mailfrom=a.example; dmarc=pass header.from=a.example"}, Auth{DKIM: true, DMARC: true, SPF: true}},
		{"case", []string{"Authentication-Results: MX.Example.ORG; DKIM=Pass; SPF=PASS; DMARC=pass"}, Auth{DKIM: true, DMARC: true, SPF: true}},
		{"one passing DKIM signature of several", []string{"Authentication-Results: mx.example.org; dkim=fail header.d=x.example; dkim=pass header.d=a.example"}, Auth{DKIM: true}},
		{"versioned method", []string{"Authentication-Results: mx.example.org; dkim/1=pass"}, Auth{DKIM: true}},
		{"folded", []string{"Authentication-Results: mx.example.org;\r\n\tdkim=pass;\r\n\tspf=pass"}, Auth{DKIM: true, SPF: true}},
		// Divergence from the reference's substring test:
		{"comment is not a result", []string{"Authentication-Results: mx.example.org; dkim=fail (dkim=pass was expected); spf=none (spf=pass)"}, Auth{}},
		{"passed is not pass", []string{"Authentication-Results: mx.example.org; dkim=passed"}, Auth{}},
		{"property value is not a result", []string{"Authentication-Results: mx.example.org; dkim=neutral header.b=dmarc=pass"}, Auth{}},
		{"several headers of the receiving server combine", []string{
			"Authentication-Results: mx.example.org; dmarc=pass header.from=a.example",
			"Authentication-Results: mx.example.org; dkim=pass header.d=a.example",
			"Received-SPF: pass",
			"Authentication-Results: mx.example.org; spf=pass smtp.mailfrom=a.example",
		}, Auth{DKIM: true, DMARC: true, SPF: true}},
		{"a lower header of another server is not believed", []string{
			"Authentication-Results: mx.example.org; dkim=fail; spf=fail; dmarc=fail",
			"Authentication-Results: evil.example; dkim=pass; spf=pass; dmarc=pass",
			"Authentication-Results: spf=pass; dkim=pass; dmarc=pass",
		}, Auth{}},
		{"ARC results are ignored", []string{
			"ARC-Authentication-Results: i=1; mx.example.org; dkim=pass; spf=pass; dmarc=pass",
		}, Auth{}},
		{"none", []string{"Authentication-Results: mx.example.org; none"}, Auth{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build(t, "x", append([]string{"From: a@b.example"}, tt.headers...)...)
			if got := m.Authentication(); got != tt.want {
				t.Errorf("Authentication() = %+v, want %+v", got, tt.want)
			}
			f := m.Facts(nil)["authentication"].(map[string]any)
			if f["dkim_pass"] != tt.want.DKIM || f["dmarc_pass"] != tt.want.DMARC || f["spf_pass"] != tt.want.SPF {
				t.Errorf("authentication fact = %v", f)
			}
		})
	}
	if !(Auth{true, true, true}).All() || (Auth{true, false, true}).All() {
		t.Error("Auth.All")
	}
}

// A header the sender wrote with the receiving server's own authserv-id is
// believed: RFC 8601 §5 has the receiving server remove such headers, and
// nothing in the message tells them apart.
func TestAuthenticationSameAuthservID(t *testing.T) {
	m := build(t, "x",
		"Authentication-Results: mx.example.org; dkim=fail",
		"Authentication-Results: mx.example.org; dkim=pass")
	if !m.Authentication().DKIM {
		t.Error("a second header with the trusted authserv-id is not combined")
	}
}

func TestUnsubscribeURL(t *testing.T) {
	tests := []struct {
		name     string
		headers  []string
		url      string
		oneClick bool
	}{
		{"https in brackets", []string{"List-Unsubscribe: <https://example.com/unsubscribe?id=123>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "https://example.com/unsubscribe?id=123", true},
		{"https after mailto", []string{"List-Unsubscribe: <mailto:u@example.com>, <https://example.com/u?id=1>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "https://example.com/u?id=1", true},
		{"missing header", nil, "", false},
		{"only mailto", []string{"List-Unsubscribe: <mailto:u@example.com?subject=unsubscribe>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "", false},
		{"url without post header", []string{"List-Unsubscribe: <https://example.com/u>"}, "https://example.com/u", false},
		{"several header instances", []string{"List-Unsubscribe: <mailto:u@example.com>", "List-Unsubscribe: <https://example.com/second>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "https://example.com/second", true},
		{"folded inside the brackets", []string{"List-Unsubscribe: <https://example.com/unsub?\r\n id=123>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "https://example.com/unsub?id=123", true},
		{"upper-case scheme", []string{"List-Unsubscribe: <HTTPS://example.com/u>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "HTTPS://example.com/u", true},
		{"post value case and space", []string{"List-Unsubscribe: <https://example.com/u>", "List-Unsubscribe-Post:  list-unsubscribe=one-click "}, "https://example.com/u", true},
		{"https preferred over an earlier http", []string{"List-Unsubscribe: <http://example.com/plain>, <https://example.com/tls>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "https://example.com/tls", true},
		// Divergences (RFC 8058 §3.1): plain http or another Post value is not one-click.
		{"http only", []string{"List-Unsubscribe: <http://example.com/u>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "http://example.com/u", false},
		{"empty post value", []string{"List-Unsubscribe: <https://example.com/u>", "List-Unsubscribe-Post:"}, "https://example.com/u", false},
		{"other post value", []string{"List-Unsubscribe: <https://example.com/u>", "List-Unsubscribe-Post: yes"}, "https://example.com/u", false},
		{"no host", []string{"List-Unsubscribe: <https:///path>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "", false},
		{"url without brackets", []string{"List-Unsubscribe: https://example.com/u", "List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build(t, "x", append([]string{"From: a@b.example"}, tt.headers...)...)
			u, oneClick := UnsubscribeURL(m)
			if u != tt.url || oneClick != tt.oneClick {
				t.Errorf("UnsubscribeURL = %q, %v; want %q, %v", u, oneClick, tt.url, tt.oneClick)
			}
			if got := m.Facts(nil)["is_unsubscribable"]; got != tt.oneClick {
				t.Errorf("is_unsubscribable = %v", got)
			}
		})
	}
	if u, ok := UnsubscribeURL(nil); u != "" || ok {
		t.Error("UnsubscribeURL(nil)")
	}
}

func TestReceivedDate(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    string
		source  string
	}{
		{"received", []string{"Received: from a by b; Tue, 15 Feb 2025 10:30:00 +0000"}, "2025-02-15T10:30:00+00:00", DateReceived},
		{"first received wins, own offset", []string{
			"Received: from a by b; Sat, 15 Feb 2025 11:30:00 +0100",
			"Received: from c by a; Sat, 15 Feb 2025 10:29:00 +0000",
		}, "2025-02-15T11:30:00+01:00", DateReceived},
		{"text after the last semicolon", []string{"Received: from a (x; y) by b; id 1; Tue, 15 Feb 2025 10:30:00 -0800 (PST)"}, "2025-02-15T10:30:00-08:00", DateReceived},
		{"folded", []string{"Received: from a by b with ESMTPS id 4Y1\r\n\tfor <me@example.org>;\r\n\tTue, 15 Feb 2025 10:30:00 +0000"}, "2025-02-15T10:30:00+00:00", DateReceived},
		{"no received: date header", []string{"Date: Tue, 15 Feb 2025 10:30:00 +0200"}, "2025-02-15T10:30:00+02:00", DateHeader},
		{"no received, no date", nil, "1900-01-01T00:00:00+00:00", DateNone},
		{"received without semicolon", []string{"Received: from a by b"}, "1900-01-01T00:00:00+00:00", DateNone},
		{"received without semicolon, date header", []string{"Received: from a by b", "Date: 15 Feb 2025 10:30 +0000"}, "2025-02-15T10:30:00+00:00", DateHeader},
		{"unparseable received falls back", []string{"Received: from a by b; yesterday", "Date: Tue, 15 Feb 2025 10:30:00 +0000"}, "2025-02-15T10:30:00+00:00", DateHeader},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := build(t, "x", append([]string{"From: a@b.example"}, tt.headers...)...)
			if got := formatISO(m.Date); got != tt.want || m.DateSource != tt.source {
				t.Errorf("date = %s (%s), want %s (%s)", got, m.DateSource, tt.want, tt.source)
			}
			if got := m.Facts(nil)["received_at"]; got != tt.want {
				t.Errorf("received_at = %v", got)
			}
		})
	}
	m := build(t, "x", "Received: from a by b; yesterday")
	if len(m.Defects) != 1 || m.Defects[0] != "Failed to parse Received header date: yesterday" {
		t.Errorf("Defects = %q", m.Defects)
	}
}

func TestParseDate(t *testing.T) {
	tests := []struct {
		in, want string // want "" = fails
	}{
		{"Tue, 15 Feb 2025 10:30:00 +0000", "2025-02-15T10:30:00+00:00"},
		{"15 Feb 2025 10:30:00 +0000", "2025-02-15T10:30:00+00:00"},
		{"Mon, 15 Feb 2025 10:30:00 +0000", "2025-02-15T10:30:00+00:00"}, // weekday not checked
		{"Tue, 15 Feb 2025 10:30:00 -0800 (PST)", "2025-02-15T10:30:00-08:00"},
		{"Tue, 15 Feb 2025 10:30:00 GMT", "2025-02-15T10:30:00+00:00"},
		{"Tue, 15 Feb 2025 10:30:00 UT", "2025-02-15T10:30:00+00:00"},
		{"Tue, 15 Feb 2025 10:30:00 EST", "2025-02-15T10:30:00-05:00"},
		{"Tue, 15 Feb 2025 10:30:00 PDT", "2025-02-15T10:30:00-07:00"},
		{"Tue, 15 Feb 2025 10:30:00 -0000", "2025-02-15T10:30:00+00:00"},
		{"Tue, 15 Feb 2025 10:30:00", "2025-02-15T10:30:00+00:00"},
		{"Tue, 15 Feb 2025 10:30:00 CEST", "2025-02-15T10:30:00+00:00"}, // unknown name: no zone
		{"Tue, 15 Feb 2025 10:30 +0530", "2025-02-15T10:30:00+05:30"},
		{"Tue, 15 Feb 2025 10:30:00 +05:30", "2025-02-15T10:30:00+05:30"},
		{"Tue,  15   Feb\r\n 2025 10:30:00 +0000", "2025-02-15T10:30:00+00:00"},
		{"15 February 2025 10:30:00 +0000", "2025-02-15T10:30:00+00:00"},
		{"15-Feb-2025 10:30:00 +0000", "2025-02-15T10:30:00+00:00"},
		{"Tue, 15 Feb 25 10:30:00 +0000", "2025-02-15T10:30:00+00:00"},
		{"Tue, 15 Feb 99 10:30:00 +0000", "1999-02-15T10:30:00+00:00"},
		{"Tue, 15 Feb 2025 10:30:60 +0000", "2025-02-15T10:30:59+00:00"},
		{"Tue, 15 Feb 2025 10:30:00.123 +0000", "2025-02-15T10:30:00+00:00"},
		{"Tue Feb 15 10:30:00 2025", "2025-02-15T10:30:00+00:00"},
		{"Tue, 30 Feb 2025 10:30:00 +0000", ""},
		{"Tue, 15 Foo 2025 10:30:00 +0000", ""},
		{"Tue, 15 Feb 2025 25:30:00 +0000", ""},
		{"Tue, 15 Feb 2025 10:30:00 +2400", ""},
		{"2025-02-15T10:30:00Z", ""},
		{"", ""},
		{"(only a comment)", ""},
	}
	for _, tt := range tests {
		got, ok := parseDate(tt.in)
		switch {
		case tt.want == "" && ok:
			t.Errorf("parseDate(%q) = %s, want failure", tt.in, formatISO(got))
		case tt.want != "" && (!ok || formatISO(got) != tt.want):
			t.Errorf("parseDate(%q) = %s, %v; want %s", tt.in, formatISO(got), ok, tt.want)
		}
	}
}

func TestCleanHeader(t *testing.T) {
	tests := map[string]string{
		"  a   b\t\tc\r\n d  ": "a b c d",
		"":                     "",
		"x\u00a0\u2003y":       "x y",
		"<id@x>":               "<id@x>",
	}
	for in, want := range tests {
		if got := cleanHeader(in); got != want {
			t.Errorf("cleanHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsReply(t *testing.T) {
	if m := build(t, "x", "In-Reply-To: <a@b>"); !m.IsReply() || m.Facts(nil)["is_reply"] != true {
		t.Error("non-empty In-Reply-To is a reply")
	}
	if m := build(t, "x", "In-Reply-To:   "); m.IsReply() {
		t.Error("empty In-Reply-To is not a reply")
	}
	if m := build(t, "x", "Subject: Re: hello"); m.IsReply() {
		t.Error("the subject is not consulted")
	}
}

func TestIsForward(t *testing.T) {
	tests := map[string]bool{
		"Fwd: x":                  true,
		"FW: x":                   true,
		"fw: x":                   true,
		"[Fwd: x]":                true,
		"  Fwd: x":                true,
		"FWD:x":                   true,
		"x":                       false,
		"Notes about fwd: policy": false,
		"Re: Fwd: x":              false,
		"Fwd : x":                 false,
		"Forward: x":              false,
	}
	for s, want := range tests {
		if got := IsForward(s); got != want {
			t.Errorf("IsForward(%q) = %v", s, got)
		}
	}
	m := build(t, "x", "Subject: =?utf-8?q?Fwd=3A_caf=C3=A9?=")
	if m.Facts(nil)["is_forward"] != true {
		t.Error("is_forward reads the decoded subject")
	}
}

func TestFlags(t *testing.T) {
	m := build(t, "x", "From: a@b.example")
	tests := []struct {
		flags                   []string
		read, starred, answered bool
	}{
		{nil, false, false, false},
		{[]string{`\Seen`}, true, false, false},
		{[]string{`\Flagged`}, false, true, false},
		{[]string{`\Answered`}, false, false, true},
		{[]string{`\Seen`, `\Flagged`, `\Answered`, `\Recent`, "$Junk"}, true, true, true},
		{[]string{`\SEEN`, `\flagged`}, true, true, false}, // system flags are case-insensitive
		{[]string{"Seen", `\Draft`}, false, false, false},
	}
	for _, tt := range tests {
		f := m.Facts(tt.flags)
		if f["is_read"] != tt.read || f["is_starred"] != tt.starred || f["is_answered"] != tt.answered {
			t.Errorf("flags %q: read=%v starred=%v answered=%v", tt.flags, f["is_read"], f["is_starred"], f["is_answered"])
		}
	}
}

// part returns a MIME part with a header line and a body.
func part(header, body string) string { return header + "\r\n\r\n" + body }

// multipart builds a multipart/mixed message of parts.
func multipart(t *testing.T, parts ...string) *Message {
	t.Helper()
	body := "preamble\r\n"
	for _, p := range parts {
		body += "--B\r\n" + p + "\r\n"
	}
	body += "--B--\r\nepilogue\r\n"
	return build(t, body, "From: a@b.example", "MIME-Version: 1.0", `Content-Type: multipart/mixed; boundary="B"`)
}

func TestHasAttachments(t *testing.T) {
	text := part("Content-Type: text/plain", "hello")
	tests := []struct {
		name  string
		parts []string
		want  bool
	}{
		{"pdf", []string{text, part("Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=a.pdf", "%PDF")}, true},
		{"png", []string{text, part("Content-Type: image/png; name=a.png", "png")}, true},
		{"none", []string{text}, false},
		{"only calendars", []string{
			text,
			part("Content-Type: text/calendar\r\nContent-Disposition: attachment; filename=a.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR"),
			part("Content-Type: application/ics; name=b.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR"),
		}, false},
		{"calendar and pdf", []string{
			part("Content-Type: text/calendar; name=a.ics", "BEGIN:VCALENDAR\r\nEND:VCALENDAR"),
			part("Content-Type: application/pdf; name=a.pdf", "%PDF"),
		}, true},
		{"inline image with content-id", []string{text, part("Content-Type: image/gif\r\nContent-ID: <logo>", "gif")}, true},
		{"attached message", []string{text, part("Content-Type: message/rfc822", "Subject: inner\r\n\r\nbody")}, true},
		{"text part with a file name", []string{text, part("Content-Type: text/plain; name=notes.txt", "notes")}, true},
		{"disposition attachment without a name", []string{text, part("Content-Type: text/plain\r\nContent-Disposition: attachment", "notes")}, true},
		{"body part with content-id", []string{part("Content-Type: text/html\r\nContent-ID: <b>", "<p>x</p>")}, false},
		{"signature", []string{text, part("Content-Type: application/pgp-signature; name=signature.asc", "sig")}, false},
		{"amp alternative", []string{text, part("Content-Type: text/x-amp-html", "<html amp4email>")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := multipart(t, tt.parts...)
			if got := m.HasAttachments(); got != tt.want {
				t.Errorf("HasAttachments() = %v, attachments %+v", got, m.Attachments)
			}
			if m.Facts(nil)["has_attachments"] != tt.want {
				t.Error("has_attachments fact")
			}
		})
	}
}

func TestRootDomain(t *testing.T) {
	tests := []struct{ in, want string }{
		{"user@example.com", "example.com"},
		{"no-reply@mail.company.com", "company.com"},
		{"x@mail.company.co.uk", "company.co.uk"},
		{"x@mail.company.com.au", "company.com.au"},
		{"User@Mail.EXAMPLE.COM", "example.com"},
		{"example.com", "example.com"},
		{"a.b.c.example.org", "example.org"},
		{"x@news.example.co.uk", "example.co.uk"},
		// ICANN section only: private suffixes are ordinary labels.
		{"x@pages.github.io", "github.io"},
		{"x@someone.blogspot.com", "blogspot.com"},
		{"x@a.b.blogspot.co.uk", "blogspot.co.uk"},
		{"x@foo.s3.amazonaws.com", "amazonaws.com"},
		// Wildcard and exception rules of the ICANN section.
		{"x@a.b.ck", "a.b.ck"},
		{"x@a.www.ck", "www.ck"},
		{"x@mail.kawasaki.jp", "mail.kawasaki.jp"},
		// Ports, paths, trailing dots, white space.
		{"x@mail.example.com.", "example.com"},
		{"x@mail.example.com:25", "example.com"},
		{"x@mail.example.com/path", "example.com"},
		{"  x@Example.COM  ", "example.com"},
		{"a@b@mail.example.com", "example.com"},
		// Internationalised names keep the form they were written in.
		{"x@mail.bücher.de", "bücher.de"},
		{"x@mail.xn--bcher-kva.de", "xn--bcher-kva.de"},
		{"x@www.食狮.公司.cn", "食狮.公司.cn"},
		// Degenerate hosts (divergence from the reference's odd strings).
		{"", ""},
		{"user@", ""},
		{"localhost", "localhost"},
		{"root@localhost", "localhost"},
		{"x@corp.internal", "corp.internal"},
		{"x@a.b.corp.internal", "corp.internal"},
		{"x@1.2.3.4", "1.2.3.4"},
		{"x@[1.2.3.4]", "1.2.3.4"},
		{"x@[IPv6:2001:db8::1]", "2001:db8::1"},
		{"x@co.uk", "co.uk"},
		{"x@com", "com"},
		{"x@a..b.com", "a..b.com"},
	}
	for _, tt := range tests {
		if got := RootDomain(tt.in); got != tt.want {
			t.Errorf("RootDomain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDomain(t *testing.T) {
	tests := map[string]string{
		"User@Mail.Example.COM": "mail.example.com",
		"":                      "",
		"no-at":                 "",
		`"a@b"@example.com`:     "example.com",
	}
	for in, want := range tests {
		if got := Domain(in); got != want {
			t.Errorf("Domain(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsNoreply(t *testing.T) {
	tests := map[string]bool{
		"noreply@service.com":         true,
		"NoReply@x.com":               true,
		"no-reply@x.com":              true,
		"donotreply@x.com":            true,
		"do-not-reply@x.com":          true,
		"donot-reply@x.com":           true,
		"do-notreply@x.com":           true,
		"MAILER-DAEMON@x.com":         true,
		"postmaster@x.com":            true,
		"alice@example.com":           false,
		"no_reply@x.com":              false,
		"noreply+x@x.com":             false,
		"notifications-noreply@x.com": false,
		"noreply":                     false,
		"":                            false,
	}
	for in, want := range tests {
		if got := IsNoreply(in); got != want {
			t.Errorf("IsNoreply(%q) = %v", in, got)
		}
	}
}

func TestAddresses(t *testing.T) {
	tests := []struct {
		header string
		want   Address
	}{
		{"From: Bob <bob@corp.com>", Address{"Bob", "bob@corp.com"}},
		{"From: bob@corp.com", Address{"", "bob@corp.com"}},
		{`From: "Miller, Bob" <Bob@Corp.com>, alice@x.com`, Address{"Miller, Bob", "Bob@Corp.com"}},
		{"From: =?utf-8?b?SsO2cmc=?= <j@x.de>", Address{"Jörg", "j@x.de"}},
		{"From: =?iso-8859-1?q?J=F6rg?= <j@x.de>", Address{"Jörg", "j@x.de"}},
		{"From: Jörg <j@x.de>", Address{"Jörg", "j@x.de"}},
		{"From: Group: a@x.com, b@x.com;", Address{"", "a@x.com"}},
		{"From: undisclosed-recipients:;", Address{}},
		{`From: "Bob" bob@x.com`, Address{"", "bob@x.com"}},
		{"From: Bob <<bob@x.com>", Address{"Bob", "bob@x.com"}},
		{"From: not an address", Address{}},
		{"From: ", Address{}},
		{"X-Other: 1", Address{}},
	}
	for _, tt := range tests {
		m := build(t, "x", tt.header)
		if m.From != tt.want {
			t.Errorf("%q: From = %+v, want %+v", tt.header, m.From, tt.want)
		}
	}
	m := build(t, "x", "To: undisclosed-recipients:;", "To: Me <me@x.com>, you@x.com")
	if m.To != "me@x.com" {
		t.Errorf("To = %q: the first mailbox across all To headers", m.To)
	}
}

func TestSubject(t *testing.T) {
	tests := map[string]string{
		"Subject: plain": "plain",
		"Subject: =?utf-8?q?caf=C3=A9?= =?utf-8?q?_cr=C3=A8me?=": "café crème",
		"Subject: =?UTF-8?B?w6TDtsO8?=\r\n =?UTF-8?B?w58=?=":     "äöüß",
		"Subject: a\r\n\tb   c":                                  "a b c",
		"Subject: tab\tand\x01control":                           "tab andcontrol",
		"Subject: =?shift_jis?b?gqCCoA==?=":                      "ああ",
		"Subject: =?unknown?q?abc?=":                             "abc",
		"X-No-Subject: 1":                                        "",
	}
	for h, want := range tests {
		if m := build(t, "x", h); m.Subject != want {
			t.Errorf("%q: Subject = %q, want %q", h, m.Subject, want)
		}
	}
}

func TestMessageIDAndReferences(t *testing.T) {
	m := build(t, "x",
		"Message-ID: \r\n <a@b>",
		"Message-ID: <second@b>",
		"References: <r1@x>\r\n\t<r2@x>",
		"References: <r3@x>",
		"In-Reply-To:  <r3@x>  ")
	if m.MessageID != "<a@b>" || m.References != "<r1@x> <r2@x> <r3@x>" || m.InReplyTo != "<r3@x>" {
		t.Errorf("MessageID=%q References=%q InReplyTo=%q", m.MessageID, m.References, m.InReplyTo)
	}
	if m := build(t, "x", "Subject: none"); m.MessageID != "" || m.Facts(nil)["message_id"] != "" {
		t.Error("missing Message-ID is empty")
	}
}

func TestBodyText(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		text string
		html string
	}{
		{"plain preferred over html", "Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nplain version\r\n--B\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--B--\r\n", "plain version", "<p>html version</p>"},
		{"html when plain is blank", "Content-Type: multipart/alternative; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n \r\n--B\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n--B--\r\n", "html version", "<p>html version</p>"},
		{"no content type is text/plain", "\r\nhello", "hello", ""},
		{"invalid content type is text/plain", "Content-Type: garbage\r\n\r\nhello", "hello", ""},
		{"quoted-printable", "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: Quoted-Printable\r\n\r\ncaf=C3=A9 =\r\nlong", "café long", ""},
		{"base64", "Content-Transfer-Encoding: base64\r\n\r\naGVs\r\nbG8=\r\n", "hello", ""},
		{"base64 with garbage keeps the good part", "Content-Transfer-Encoding: base64\r\n\r\naGVsbG8=\r\n!!!", "hello", ""},
		{"parts joined", "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nfirst\r\n--B\r\n\r\nsecond\r\n--B--", "first\nsecond", ""},
		{"LF line ends", "Content-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: text/plain\n\nlf body\n--B--\n", "lf body", ""},
		{"CRLF normalised", "\r\nline1\r\nline2\rline3", "line1\nline2\nline3", ""},
		{"missing close delimiter", "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nunterminated", "unterminated", ""},
		{"multipart without boundary is text", "Content-Type: multipart/mixed\r\n\r\nloose text", "loose text", ""},
		{"boundary not found is text", "Content-Type: multipart/mixed; boundary=NOPE\r\n\r\nloose text", "loose text", ""},
		{"longer boundary is not ours", "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\na\r\n--BB\r\nb\r\n--B--", "a\n--BB\nb", ""},
		{"digest default is message/rfc822", "Content-Type: multipart/digest; boundary=B\r\n\r\n--B\r\n\r\nSubject: one\r\n\r\ndigest body\r\n--B--", "digest body", ""},
		{"nested message text", "Content-Type: message/rfc822\r\n\r\nSubject: in\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nK=F6ln", "Köln", ""},
		{"attachment text is not body", "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\nbody\r\n--B\r\nContent-Type: text/plain; name=a.txt\r\n\r\nattached\r\n--B--", "body", ""},
		{"unknown transfer encoding passes through", "Content-Transfer-Encoding: x-uuencode\r\n\r\nraw", "raw", ""},
		{"charset with quotes and case", "Content-Type: text/plain; charset=\"ISO-8859-1\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\nK\xf6ln", "Köln", ""},
		{"windows-1252", "Content-Type: text/plain; charset=windows-1252\r\n\r\n\x93quoted\x94 \x80", "\u201cquoted\u201d €", ""},
		{"iso-2022-jp", "Content-Type: text/plain; charset=iso-2022-jp\r\n\r\n\x1b$B$\"$$\x1b(B", "あい", ""},
		{"unknown charset is utf-8", "Content-Type: text/plain; charset=x-nope\r\n\r\ncaf\xc3\xa9 \xff", "café", ""},
		{"malformed params", "Content-Type: text/plain; charset=utf-8; charset=latin1; format=flowed;;\r\n\r\ncaf\xc3\xa9", "café", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte("From: a@b.example\r\n" + tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if m.Text != tt.text || m.HTML != tt.html {
				t.Errorf("Text = %q, HTML = %q; want %q, %q", m.Text, m.HTML, tt.text, tt.html)
			}
		})
	}
}

func TestSplitHeader(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want Header
		body string
	}{
		{"basic", "A: 1\r\nB: 2\r\n\r\nbody", Header{{"A", "1"}, {"B", "2"}}, "body"},
		{"LF", "A: 1\nB: 2\n\nbody", Header{{"A", "1"}, {"B", "2"}}, "body"},
		{"continuation", "A: 1\r\n 2\r\n\t3\r\n\r\n", Header{{"A", "1 2\t3"}}, ""},
		{"space before colon", "Subject : x\r\n\r\n", Header{{"Subject", "x"}}, ""},
		{"empty value", "A:\r\n\r\n", Header{{"A", ""}}, ""},
		{"no blank line", "A: 1", Header{{"A", "1"}}, ""},
		{"non-header line starts the body", "A: 1\r\nnot a header\r\nmore", Header{{"A", "1"}}, "not a header\r\nmore"},
		{"leading continuation dropped", " x\r\nA: 1\r\n\r\n", Header{{"A", "1"}}, ""},
		{"mbox From line", "From someone Tue Mar 11\r\nA: 1\r\n\r\n", Header{{"A", "1"}}, ""},
		{"8-bit header", "A: caf\xe9\r\n\r\n", Header{{"A", "café"}}, ""},
		{"utf-8 header", "A: café\r\n\r\n", Header{{"A", "café"}}, ""},
		{"no header", "\r\nbody", nil, "body"},
		{"From with a space before the colon is a field", "From : a@b\r\n\r\n", Header{{"From", "a@b"}}, ""},
	}
	for _, tt := range tests {
		h, body := splitHeader([]byte(tt.raw), true)
		if !reflect.DeepEqual(h, tt.want) || string(body) != tt.body {
			t.Errorf("%s: got %+v %q, want %+v %q", tt.name, h, body, tt.want, tt.body)
		}
	}
	h := Header{{"Received", "1"}, {"received", "2"}, {"X", ""}}
	if h.Get("RECEIVED") != "1" || !reflect.DeepEqual(h.Values("Received"), []string{"1", "2"}) || !h.Has("x") || h.Has("y") || h.Get("y") != "" {
		t.Error("Header look-ups are case-insensitive and ordered")
	}
}

// Over-long values are cut at maxHeaderValue bytes, on a character boundary,
// and stay UTF-8 (not re-read as windows-1252 because of a cut character).
func TestSplitHeaderLongValues(t *testing.T) {
	for name, raw := range map[string]string{
		"one line": "A: " + strings.Repeat("é", maxHeaderValue) + "\r\n\r\n",
		"folded":   "A: x\r\n" + strings.Repeat(" é\r\n", maxHeaderValue) + "\r\n",
	} {
		h, _ := splitHeader([]byte(raw), true)
		v := h.Get("A")
		if len(h) != 1 || len(v) > maxHeaderValue || len(v) < maxHeaderValue-4 || !utf8.ValidString(v) || !strings.HasSuffix(v, "é") {
			t.Errorf("%s: %d fields, value of %d bytes ending %q", name, len(h), len(v), v[max(0, len(v)-8):])
		}
	}
}

func TestParseEmpty(t *testing.T) {
	for _, raw := range []string{"", " \r\n\t"} {
		if _, err := Parse([]byte(raw)); err != ErrEmpty {
			t.Errorf("Parse(%q) err = %v", raw, err)
		}
	}
	m, err := Parse([]byte("just text, no header"))
	if err != nil || m.Text != "just text, no header" || m.Date != FallbackDate() {
		t.Errorf("headerless message: %+v %v", m, err)
	}
}

func TestLimits(t *testing.T) {
	// Deep nesting stops at maxDepth with a defect, no panic or stack blow-up.
	var b strings.Builder
	b.WriteString("From: a@b.example\r\n")
	for i := 0; i < 100; i++ {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("\r\nbottom")
	m, err := Parse([]byte(b.String()))
	if err != nil || len(m.Defects) == 0 {
		t.Fatalf("deep nesting: %v %q", err, m.Defects)
	}
	// A huge body is cut at maxTextBytes.
	huge := strings.Repeat("a", maxTextBytes+100)
	m, _ = Parse([]byte("From: a@b.example\r\n\r\n" + huge))
	if len(m.Text) != maxTextBytes || len(m.Defects) != 1 {
		t.Errorf("len(Text) = %d, defects %q", len(m.Text), m.Defects)
	}
	// Many parts stop at maxParts.
	var p strings.Builder
	p.WriteString("Content-Type: multipart/mixed; boundary=B\r\n\r\n")
	for i := 0; i < maxParts+10; i++ {
		p.WriteString("--B\r\nContent-Type: image/png; name=a.png\r\n\r\nx\r\n")
	}
	m, _ = Parse([]byte(p.String()))
	if len(m.Attachments) != maxParts-1 || len(m.Defects) != 1 {
		t.Errorf("%d attachments, defects %q", len(m.Attachments), m.Defects)
	}
}

func TestFallbackDateIsStable(t *testing.T) {
	if !FallbackDate().Equal(time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error(FallbackDate())
	}
}
