package message

import (
	"errors"
	"strings"
	"time"
)

// Message is a parsed email (spec/email.md §3.1). Every string is valid UTF-8.
type Message struct {
	// Header holds the top-level header fields in order, values unfolded and
	// not RFC 2047 decoded (List-Unsubscribe, Authentication-Results, ... are
	// read from here).
	Header Header
	// MessageID is the first Message-ID, white space runs collapsed, angle
	// brackets kept; "" if absent.
	MessageID string
	// From is the first mailbox of From.
	From Address
	// ReplyTo is the first mailbox of Reply-To (a draft answers there).
	ReplyTo Address
	// To is the address of the first mailbox across all To headers; "" if
	// none.
	To string
	// Subject is decoded (RFC 2047, any charset) and cleaned (white space
	// runs collapsed, control characters dropped, ends trimmed); "" if
	// absent. It is cut at 1000 characters (real subjects stay within one
	// 998-octet line; the bound keeps a hostile one out of the stored item).
	Subject string
	// Date is when the user's server received the message, in the offset
	// written there (spec/email.md §3.2); DateSource says where it came from.
	Date       time.Time
	DateSource string
	// References is all References values joined, cleaned; InReplyTo is the
	// first In-Reply-To, cleaned.
	References string
	InReplyTo  string
	// Text is the body a person reads: the text/plain parts, or when there
	// are none (or only white space) the text of the HTML parts.
	//
	// Divergence: the reference preferred the HTML's text whenever there was
	// HTML; a sender's own plain-text alternative reads better than text
	// recovered from layout markup.
	Text string
	// HTML is the concatenated text/html parts, as sent (decoded to UTF-8).
	HTML string
	// Attachments in MIME order (depth-first, including parts of attached
	// messages). A part is an attachment when it has a file name
	// (Content-Disposition filename, else Content-Type name), a Content-ID,
	// is message/rfc822, or — divergences — is marked
	// "Content-Disposition: attachment" or is a file type (application/*,
	// image/*, audio/*, video/*, font/*, model/*). Body text parts
	// (text/plain, text/html without a name) are never attachments.
	Attachments []Attachment
	// Calendar is the invitation carried by the message, nil if none
	// (spec/email.md §3.6).
	Calendar *Calendar
	// Defects are problems met while parsing that deserve a warning (an
	// unreadable Received date, a calendar part that did not parse, limits
	// hit); parsing went on.
	Defects []string
}

// maxSubject bounds Subject, in characters.
const maxSubject = 1000

// ErrEmpty is returned by Parse for an empty input.
var ErrEmpty = errors.New("message: empty input")

// Parse parses a raw message (headers and body, as fetched with
// BODY.PEEK[]). It never panics and accepts any bytes: the only error is
// ErrEmpty for an input with nothing but white space. Anything malformed is
// read as well as the reference parser would read it, and noted in Defects
// when it matters.
func Parse(raw []byte) (*Message, error) {
	if len(strings.TrimSpace(string(raw))) == 0 {
		return nil, ErrEmpty
	}
	h, body := splitHeader(raw, true)
	m := &Message{Header: h}
	w := &walker{}

	m.MessageID = cleanHeader(h.Get("Message-ID"))
	m.References = cleanHeader(strings.Join(h.Values("References"), " "))
	m.InReplyTo = cleanHeader(h.Get("In-Reply-To"))
	m.From = firstAddress(strings.Join(h.Values("From"), ", "))
	m.ReplyTo = firstAddress(strings.Join(h.Values("Reply-To"), ", "))
	m.To = firstAddress(strings.Join(h.Values("To"), ", ")).Address
	m.Subject = cleanText(decodeText(h.Get("Subject")))
	if cut, ok := cutRunes(m.Subject, maxSubject); ok {
		m.Subject = cut
		w.defect("subject longer than 1000 characters; cut")
	}
	m.Date, m.DateSource = receivedDate(h, w.defect)

	w.entity(h, body, 0, "text/plain")
	m.Attachments = w.attachments
	m.HTML = joinParts(w.html)
	m.Text = strings.TrimSpace(joinParts(w.text))
	if m.Text == "" && strings.TrimSpace(m.HTML) != "" {
		m.Text = HTMLToText(m.HTML)
	}
	if w.truncated {
		w.defect("body text longer than 1 MiB; the rest was dropped")
	}

	// Divergence: every calendar part is tried in order until one parses (the
	// reference tried only the first; Google sends the same invitation both
	// inline and as invite.ics).
	for _, data := range w.calendars {
		c, err := ParseCalendar(string(data))
		if err == nil {
			m.Calendar = c
			break
		}
		w.defect("Failed to parse calendar attachment: " + err.Error())
	}
	if m.Calendar != nil { // a later part parsed: earlier failures are moot
		kept := w.defects[:0]
		for _, d := range w.defects {
			if !strings.HasPrefix(d, "Failed to parse calendar attachment") {
				kept = append(kept, d)
			}
		}
		w.defects = kept
	}
	m.Defects = w.defects
	return m, nil
}
