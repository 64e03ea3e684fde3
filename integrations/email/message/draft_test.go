package message

import (
	"bytes"
	"io"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"
	"testing"
	"time"
)

var draftDate = time.Date(2025, 3, 4, 12, 30, 0, 0, time.UTC)

func TestDraftExample(t *testing.T) {
	orig := &Message{
		From:       Address{Name: "Alice", Address: "alice@example.com"},
		To:         "me@example.com",
		Subject:    "Hello there",
		MessageID:  "<abc@example.com>",
		References: "<r1@x> <r2@x>",
	}
	got := string(BuildDraftWith(orig, DraftOptions{Text: "Thanks, I'll review.", From: "me@example.com", Date: draftDate, MessageID: "<d1@example.com>"}))
	want := "To: alice@example.com\r\n" +
		"From: me@example.com\r\n" +
		"Subject: Re: Hello there\r\n" +
		"Date: Tue, 04 Mar 2025 12:30:00 +0000\r\n" +
		"Message-ID: <d1@example.com>\r\n" +
		"In-Reply-To: <abc@example.com>\r\n" +
		"References: <r1@x> <r2@x> <abc@example.com>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=\"utf-8\"\r\n" +
		"Content-Transfer-Encoding: 7bit\r\n" +
		"\r\n" +
		"Thanks, I'll review.\r\n"
	if got != want {
		t.Errorf("draft:\n%s\nwant:\n%s", got, want)
	}
}

func TestReplySubject(t *testing.T) {
	tests := map[string]string{
		"Hello":         "Re: Hello",
		"Re: Hello":     "Re: Hello",
		"RE: x":         "RE: x",
		"re:x":          "re:x",
		"Fwd: x":        "Re: Fwd: x",
		"":              "Re: ",
		"  Hello\r\n x": "Re: Hello x",
		"Reply needed":  "Re: Reply needed",
	}
	for in, want := range tests {
		if got := ReplySubject(in); got != want {
			t.Errorf("ReplySubject(%q) = %q, want %q", in, got, want)
		}
	}
}

// readDraft parses a draft with the standard library (a strict reader) and
// returns its header and decoded-as-sent body.
func readDraft(t *testing.T, b []byte) (*mail.Message, string) {
	t.Helper()
	if bytes.Contains(bytes.ReplaceAll(b, []byte("\r\n"), nil), []byte("\n")) {
		t.Error("bare LF in draft")
	}
	msg, err := mail.ReadMessage(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("draft is not a valid message: %v\n%s", err, b)
	}
	body, _ := io.ReadAll(msg.Body)
	return msg, string(body)
}

func TestDraftHeaders(t *testing.T) {
	m := load(t, "reply.eml")
	msg, body := readDraft(t, BuildDraft(m, "Works for me.\nSee you.", "me@example.org"))
	h := msg.Header
	checks := map[string]string{
		// Reply-To wins over From.
		"To":                        "bob.work@corp.com",
		"From":                      "me@example.org",
		"Subject":                   "RE: Lunch on Thursday?",
		"In-Reply-To":               "<reply-2@corp.com>",
		"References":                "<CABcd.123-xyz@mail.gmail.com> <me-1@example.org> <reply-2@corp.com>",
		"MIME-Version":              "1.0",
		"Content-Type":              `text/plain; charset="utf-8"`,
		"Content-Transfer-Encoding": "7bit",
	}
	for k, v := range checks {
		if got := h.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if body != "Works for me.\r\nSee you.\r\n" {
		t.Errorf("body = %q", body)
	}
	if d, err := h.Date(); err != nil || time.Since(d) > time.Minute {
		t.Errorf("Date = %v, %v", d, err)
	}
	if !regexp.MustCompile(`^<[0-9a-f]{32}@example\.org>$`).MatchString(h.Get("Message-ID")) {
		t.Errorf("Message-ID = %q", h.Get("Message-ID"))
	}
	msg2, _ := readDraft(t, BuildDraft(m, "Works for me.", "me@example.org"))
	if msg2.Header.Get("Message-ID") == h.Get("Message-ID") {
		t.Error("Message-IDs repeat")
	}
}

func TestDraftCases(t *testing.T) {
	tests := []struct {
		name    string
		orig    *Message
		opts    DraftOptions
		headers map[string]string // "" = must be absent
		body    string
	}{
		{"no message-id: no threading headers",
			&Message{From: Address{Address: "a@x.com"}, Subject: "Hi"},
			DraftOptions{Text: "ok", From: "me@x.com"},
			map[string]string{"In-Reply-To": "", "References": "", "Subject": "Re: Hi"}, "ok\r\n"},
		{"references fall back to in-reply-to",
			&Message{From: Address{Address: "a@x.com"}, MessageID: "<m@x>", InReplyTo: "<p@x>"},
			DraftOptions{Text: "ok", From: "me@x.com"},
			map[string]string{"References": "<p@x> <m@x>"}, "ok\r\n"},
		{"only the message-id",
			&Message{From: Address{Address: "a@x.com"}, MessageID: "<m@x>"},
			DraftOptions{Text: "ok", From: "me@x.com"},
			map[string]string{"In-Reply-To": "<m@x>", "References": "<m@x>"}, "ok\r\n"},
		{"from falls back to the original To",
			&Message{From: Address{Address: "a@x.com"}, To: "alias@me.example"},
			DraftOptions{Text: "ok", From: "not-an-address"},
			map[string]string{"From": "alias@me.example", "To": "a@x.com"}, "ok\r\n"},
		{"no sender, no recipient: both left out",
			&Message{},
			DraftOptions{Text: "ok"},
			map[string]string{"From": "", "To": "", "Subject": "Re:"}, "ok\r\n"},
		{"non-ASCII text is 8bit, subject encoded",
			&Message{From: Address{Address: "j@x.de"}, Subject: "Grüße aus Köln"},
			DraftOptions{Text: "Danke schön!", From: "me@x.de"},
			map[string]string{"Content-Transfer-Encoding": "8bit", "Subject": "=?utf-8?q?Re:_Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?="}, "Danke schön!\r\n"},
		{"a line over 998 octets is quoted-printable",
			&Message{From: Address{Address: "a@x.com"}},
			DraftOptions{Text: strings.Repeat("a", 1200), From: "me@x.com"},
			map[string]string{"Content-Transfer-Encoding": "quoted-printable"}, ""},
		{"CR LF and CR normalised, trailing newline kept single",
			&Message{From: Address{Address: "a@x.com"}},
			DraftOptions{Text: "a\r\nb\rc\n", From: "me@x.com"},
			map[string]string{}, "a\r\nb\r\nc\r\n"},
		{"header injection through the original is impossible",
			&Message{From: Address{Address: "a@x.com"}, Subject: "hi\r\nBcc: victim@x.com", MessageID: "<m@x>\r\nBcc: v@x"},
			DraftOptions{Text: "ok", From: "me@x.com\r\nBcc: v@x"},
			map[string]string{"Bcc": "", "Subject": "Re: hi Bcc: victim@x.com"}, "ok\r\n"},
		{"nil original",
			nil,
			DraftOptions{Text: "ok", From: "me@x.com"},
			map[string]string{"From": "me@x.com", "Subject": "Re:"}, "ok\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := BuildDraftWith(tt.orig, tt.opts)
			msg, body := readDraft(t, raw)
			for k, v := range tt.headers {
				vs := msg.Header[textproto.CanonicalMIMEHeaderKey(k)]
				switch {
				case v == "" && k != "Subject" && len(vs) != 0:
					t.Errorf("%s present: %q", k, vs)
				case (v != "" || k == "Subject") && (len(vs) != 1 || vs[0] != v):
					t.Errorf("%s = %q, want %q", k, vs, v)
				}
			}
			if tt.body != "" && body != tt.body {
				t.Errorf("body = %q, want %q", body, tt.body)
			}
		})
	}
}

// A draft parses back into what was meant: the reply's subject and threading.
func TestDraftRoundTrip(t *testing.T) {
	orig := load(t, "latin1.eml")
	long := strings.Repeat("word ", 300)
	orig.References = strings.TrimSpace(strings.Repeat("<a-long-reference-id@example.com> ", 30))
	raw := BuildDraftWith(orig, DraftOptions{Text: "Merci — " + long, From: "me@example.org"})
	for line := range strings.SplitSeq(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("line of %d octets", len(line))
		}
	}
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if m.Subject != "Re: Grüße aus Köln – und €uro" || m.InReplyTo != "<latin-9@example.de>" || m.To != "joerg@example.de" ||
		m.From.Address != "me@example.org" || !strings.HasSuffix(m.References, "<latin-9@example.de>") ||
		m.Text != strings.TrimSpace("Merci — "+long) {
		t.Errorf("round trip: %+v", m)
	}
	// The long References header was folded, and unfolds to the same ids.
	if strings.Count(m.References, "<") != 31 {
		t.Errorf("References = %q", m.References)
	}
}

func TestFoldHeader(t *testing.T) {
	short := "Subject: short"
	if foldHeader(short) != short {
		t.Error("short line folded")
	}
	long := "References: " + strings.Repeat("<id@example.com> ", 10)
	f := foldHeader(strings.TrimSpace(long))
	for line := range strings.SplitSeq(f, "\r\n") {
		if len(line) > 78 {
			t.Errorf("folded line of %d: %q", len(line), line)
		}
	}
	if cleanHeader(strings.ReplaceAll(f, "\r\n", "")) != strings.TrimSpace(long) {
		t.Errorf("unfolded %q", f)
	}
	word := "X: " + strings.Repeat("a", 100)
	if foldHeader(word) != word {
		t.Error("a long word is split")
	}
}
