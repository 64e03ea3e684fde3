package message

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"
)

// DraftOptions are the inputs of a reply draft beyond the original message.
type DraftOptions struct {
	// Text is the body, verbatim (the action's configured text).
	Text string
	// From is the account's own address; "" or a value without "@" falls back
	// to the original's first To address.
	From string
	// Date of the draft; zero means now.
	Date time.Time
	// MessageID of the draft, with angle brackets; "" generates a random one.
	// A caller that must know later whether an APPEND happened (after a
	// crash) can choose it and search the Drafts folder for it.
	MessageID string
}

// BuildDraft is BuildDraftWith with the date now and a random Message-ID.
func BuildDraft(orig *Message, text, from string) []byte {
	return BuildDraftWith(orig, DraftOptions{Text: text, From: from})
}

// BuildDraftWith builds the reply draft of spec/email.md §6.4 as a complete
// RFC 5322 message with CRLF line ends, ready to APPEND with the \Draft flag:
//
//	To: <original Reply-To, else From address>
//	From: <account address>
//	Subject: Re: <original subject>      ("Re: " unless it already starts with "re:", any case)
//	Date: <now>
//	Message-ID: <random@from-domain>
//	In-Reply-To: <original Message-ID>   (only when it had one)
//	References: <original References> <original Message-ID>
//	MIME-Version: 1.0
//	Content-Type: text/plain; charset="utf-8"
//	Content-Transfer-Encoding: 7bit | 8bit | quoted-printable
//
// followed by the text, line ends made CRLF, ending with a line break. The
// body is 7bit when ASCII, 8bit when not, and quoted-printable when a line
// would exceed RFC 5322's 998 octets. Header values from the original are
// cleaned (no line breaks can be injected); non-ASCII header text is RFC 2047
// encoded and long headers are folded.
//
// Divergences, each what a mail client does:
//   - From is the account's own address (the reference used the original's
//     first To, which is a mailing list's address, or someone else's when the
//     user was in Cc, and nothing when there was no To); the original To is
//     the fallback when no account address is given;
//   - To is the original Reply-To when there is one (lists and support
//     systems set it), else the From address;
//   - Date and Message-ID are set (clients sort and thread drafts without
//     them oddly);
//   - References falls back to the original In-Reply-To when it had no
//     References (RFC 5322 §3.6.4);
//   - non-ASCII headers are encoded words, not raw UTF-8; an empty To or From
//     is left out rather than written empty.
func BuildDraftWith(orig *Message, o DraftOptions) []byte {
	if orig == nil {
		orig = &Message{}
	}
	from := cleanHeader(o.From)
	if !strings.Contains(from, "@") {
		from = cleanHeader(orig.To)
	}
	to := orig.ReplyTo.Address
	if to == "" {
		to = orig.From.Address
	}
	to = cleanHeader(to)
	date := o.Date
	if date.IsZero() {
		date = time.Now()
	}
	msgID := cleanHeader(o.MessageID)
	if msgID == "" {
		msgID = newMessageID(from)
	}

	var b bytes.Buffer
	header := func(name, value string) {
		b.WriteString(foldHeader(name + ": " + value))
		b.WriteString("\r\n")
	}
	if to != "" {
		header("To", to)
	}
	if from != "" {
		header("From", from)
	}
	header("Subject", encodeHeaderText(ReplySubject(orig.Subject)))
	header("Date", date.Format(time.RFC1123Z))
	header("Message-ID", msgID)
	if id := cleanHeader(orig.MessageID); id != "" {
		header("In-Reply-To", id)
		refs := cleanHeader(orig.References)
		if refs == "" && !strings.Contains(orig.InReplyTo, " ") {
			refs = cleanHeader(orig.InReplyTo)
		}
		if refs != "" {
			refs += " "
		}
		header("References", refs+id)
	}
	header("MIME-Version", "1.0")
	header("Content-Type", `text/plain; charset="utf-8"`)

	body := strings.ReplaceAll(normalizeNewlines(o.Text), "\n", "\r\n")
	if !strings.HasSuffix(body, "\r\n") {
		body += "\r\n"
	}
	longLine := false
	for line := range strings.SplitSeq(body, "\r\n") {
		if len(line) > 998 {
			longLine = true
			break
		}
	}
	switch {
	case longLine:
		header("Content-Transfer-Encoding", "quoted-printable")
		b.WriteString("\r\n")
		qp := quotedprintable.NewWriter(&b)
		_, _ = qp.Write([]byte(body))
		_ = qp.Close()
		if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
			b.WriteString("\r\n")
		}
		return b.Bytes()
	case isASCII(body):
		header("Content-Transfer-Encoding", "7bit")
	default:
		header("Content-Transfer-Encoding", "8bit")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return b.Bytes()
}

// ReplySubject is the subject of a reply: the cleaned subject with "Re: "
// in front unless it already starts with "re:" in any case ("RE: x" stays,
// "Fwd: x" becomes "Re: Fwd: x").
func ReplySubject(subject string) string {
	s := cleanHeader(subject)
	if len(s) >= 3 && strings.EqualFold(s[:3], "re:") {
		return s
	}
	return "Re: " + s
}

// encodeHeaderText RFC 2047-encodes text that is not ASCII.
func encodeHeaderText(s string) string {
	if isASCII(s) {
		return s
	}
	return mime.QEncoding.Encode("utf-8", s)
}

// foldHeader folds a header line longer than 78 characters at spaces (RFC
// 5322 §2.2.3); a word longer than the line stays whole, and the first word of
// the value stays on the field name's line.
func foldHeader(line string) string {
	if len(line) <= 78 {
		return line
	}
	words := strings.Split(line, " ")
	var b strings.Builder
	n := 0
	for i, w := range words {
		switch {
		case i == 0:
		case i > 1 && n+1+len(w) > 78: // never between the field name and its value
			b.WriteString("\r\n ")
			n = 1
		default:
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}

// newMessageID returns "<32 hex digits@domain>" with the domain of from
// ("steward.invalid" without one).
func newMessageID(from string) string {
	var r [16]byte
	_, _ = rand.Read(r[:]) // crypto/rand.Read never fails (Go 1.24+)
	domain := Domain(from)
	if domain == "" || strings.ContainsAny(domain, "<>[] ") {
		domain = "steward.invalid"
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + domain + ">"
}
