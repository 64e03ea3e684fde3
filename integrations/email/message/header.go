package message

import (
	"bytes"
	"io"
	"mime"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	gomail "github.com/emersion/go-message/mail"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// Header is a message or MIME part header: its fields in the order they
// appear, values unfolded but otherwise raw (not RFC 2047 decoded).
type Header []HeaderField

// HeaderField is one header line.
type HeaderField struct {
	// Name as written (look-ups are case-insensitive).
	Name string
	// Value with folding line breaks removed; raw bytes that are not UTF-8
	// are read as windows-1252 (see rawText).
	Value string
}

// Get returns the first value of the named field, "" if there is none.
func (h Header) Get(name string) string {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// Has reports whether the named field is present (even with an empty value).
func (h Header) Has(name string) bool {
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			return true
		}
	}
	return false
}

// Values returns every value of the named field, top-most first.
func (h Header) Values(name string) []string {
	var vs []string
	for _, f := range h {
		if strings.EqualFold(f.Name, name) {
			vs = append(vs, f.Value)
		}
	}
	return vs
}

// maxHeaderFields bounds the fields kept per header block; a block with more is
// hostile or broken, and the first ones are the ones that matter (the receiving
// server's trace and authentication fields are prepended at the top).
const maxHeaderFields = 10000

// maxHeaderValue bounds one field's value (unfolded): far above any real
// field (a References list of hundreds of ids), far below what would make
// the stored item too large for the message bus.
const maxHeaderValue = 64 << 10

// splitHeader splits a header block from its body. It is lenient the way the
// reference parser (Python's email.feedparser) is: LF or CRLF line ends, an
// mbox "From " line first is skipped, continuation lines join the field above
// (one before any field is dropped), and the first line that is neither a field
// nor a continuation ends the header and starts the body. top is true for a
// whole message (where an mbox "From " line may come first).
func splitHeader(raw []byte, top bool) (Header, []byte) {
	var (
		h     Header
		value []byte // the value of the last field, continuation lines joined
	)
	flush := func() {
		if len(h) > 0 && value != nil {
			h[len(h)-1].Value = rawText(strings.TrimSpace(string(cutUTF8(value, maxHeaderValue))))
		}
		value = nil
	}
	rest := raw
	first := top
	for len(rest) > 0 {
		line, next := cutLine(rest)
		content := bytes.TrimRight(line, "\r\n")
		if len(content) == 0 { // blank line: end of header
			flush()
			return h, next
		}
		if first && bytes.HasPrefix(content, []byte("From ")) {
			if _, _, ok := fieldLine(content); !ok { // "From someone date", not "From : x"
				first = false
				rest = next
				continue
			}
		}
		first = false
		if content[0] == ' ' || content[0] == '\t' {
			if value != nil && len(value) < maxHeaderValue {
				value = append(value, content...) // the folding white space is kept, the line break dropped
			}
			rest = next
			continue
		}
		name, v, ok := fieldLine(content)
		if !ok { // not a header line: the body starts here (Python: MissingHeaderBodySeparatorDefect)
			flush()
			return h, rest
		}
		flush()
		if len(h) < maxHeaderFields {
			h = append(h, HeaderField{Name: name})
			value = append([]byte{}, cutUTF8(v, maxHeaderValue+1)...)
		}
		rest = next
	}
	flush()
	return h, nil
}

// cutUTF8 cuts b to at most n bytes without splitting a UTF-8 sequence.
func cutUTF8(b []byte, n int) []byte {
	if len(b) <= n {
		return b
	}
	b = b[:n]
	for i := 1; i <= utf8.UTFMax && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				b = b[:len(b)-i]
			}
			break
		}
	}
	return b
}

// cutLine returns the first line of b including its line end, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		return b[:i+1], b[i+1:]
	}
	return b, nil
}

// fieldLine parses "Name: value". The name is printable ASCII without ':'
// (RFC 5322 ftext); white space before the colon is tolerated.
func fieldLine(line []byte) (name string, value []byte, ok bool) {
	i := bytes.IndexByte(line, ':')
	if i <= 0 {
		return "", nil, false
	}
	n := bytes.TrimRight(line[:i], " \t")
	if len(n) == 0 {
		return "", nil, false
	}
	for _, c := range n {
		if c < 33 || c > 126 {
			return "", nil, false
		}
	}
	return string(n), line[i+1:], true
}

// rawText makes header bytes valid UTF-8. Valid UTF-8 is kept; anything else
// is legacy 8-bit mail (raw Latin-1 in a Subject is common in old clients and
// spam) and is read as windows-1252, a superset of the printable ISO-8859-1,
// which keeps accented letters instead of dropping them.
func rawText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out, err := charmap.Windows1252.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "")
	}
	return out
}

// cleanHeader is the reference's "clean header": every run of white space
// (ASCII or Unicode, line breaks included) becomes one space, and the ends are
// trimmed.
func cleanHeader(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// lenientCharsetReader converts from a named charset to UTF-8 with the
// go-message charset table, passing the bytes through unchanged when the
// charset is unknown.
func lenientCharsetReader(label string, input io.Reader) (io.Reader, error) {
	r, err := charset.Reader(label, input)
	if err != nil || r == nil {
		return input, nil
	}
	return r, nil
}

// decodeText decodes RFC 2047 encoded words in a header value and returns
// valid UTF-8. Malformed encoded words are kept as written, as the reference
// does; an unknown charset is read as UTF-8 (invalid bytes dropped) rather
// than failing the whole field, as the reference falls back to UTF-8 for
// unknown body charsets.
func decodeText(s string) string {
	dec := mime.WordDecoder{CharsetReader: lenientCharsetReader}
	out, err := dec.DecodeHeader(s)
	if err != nil {
		out = s
	}
	return strings.ToValidUTF8(out, "")
}

// cleanText is cleanHeader after dropping control and other non-printable
// characters (white space of any kind counts as a space).
func cleanText(s string) string {
	return cleanHeader(strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case !unicode.IsPrint(r):
			return -1
		}
		return r
	}, s))
}

// printable drops control and other non-printable characters (the reference
// drops them from addresses).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, s)
}

// Address is a mailbox: a display name and an address.
type Address struct {
	// Name is the decoded display name, trimmed ("" if none).
	Name string `json:"name,omitempty"`
	// Address is addr-spec, case preserved, with non-printable characters
	// dropped; "" when no address with an "@" could be read.
	Address string `json:"address"`
}

// angleAddr and bareAddr find an address in a field the RFC 5322 parser
// rejects ("bad <<x@y>", `"Bob" bob@x.com`).
var (
	angleAddr = regexp.MustCompile(`<\s*([^<>\s]+@[^<>\s]+?)\s*>`)
	bareAddr  = regexp.MustCompile(`[^\s<>(),;:"]+@[^\s<>(),;:"]+`)
)

// maxAddressPieces bounds the list entries tried one by one when the whole
// list does not parse.
const maxAddressPieces = 100

// maxAddressLen bounds an address: RFC 5321 allows 64 octets before the "@"
// and 255 after; anything much longer is not an address.
const maxAddressLen = 512

// firstAddress returns the first mailbox of an address-list field value (the
// values of all instances joined with ", "). It tries the RFC 5322 parser
// (go-message's, which decodes encoded words in any charset), then each
// comma-separated piece, then a plain search for something@something; the
// result's Address is "" when nothing with an "@" was found.
func firstAddress(v string) Address {
	if strings.TrimSpace(v) == "" {
		return Address{}
	}
	if l, err := gomail.ParseAddressList(v); err == nil {
		for _, a := range l {
			if a != nil {
				return mkAddress(a.Name, a.Address)
			}
		}
		// A valid list without a mailbox (an empty group such as
		// "undisclosed-recipients:;") has no address.
		return Address{}
	}
	for i, piece := range splitList(v) {
		if i == maxAddressPieces {
			break
		}
		if a, err := gomail.ParseAddress(piece); err == nil && a != nil {
			return mkAddress(a.Name, a.Address)
		}
	}
	if m := angleAddr.FindStringSubmatchIndex(v); m != nil {
		name := strings.Trim(strings.TrimSpace(v[:m[0]]), `"' ,;<>`)
		if i := strings.LastIndexAny(name, ",;"); i >= 0 {
			name = strings.TrimSpace(name[i+1:])
		}
		return mkAddress(decodeText(name), v[m[2]:m[3]])
	}
	if s := bareAddr.FindString(v); s != "" {
		return mkAddress("", s)
	}
	return Address{}
}

// mkAddress cleans a parsed mailbox: the name is trimmed; the address keeps
// its case, loses non-printable characters and is "" without an "@" or when
// longer than maxAddressLen.
func mkAddress(name, addr string) Address {
	addr = strings.TrimSpace(printable(strings.ToValidUTF8(addr, "")))
	if !strings.Contains(addr, "@") || len(addr) > maxAddressLen {
		addr = ""
	}
	name = cleanText(strings.ToValidUTF8(name, ""))
	return Address{Name: name, Address: addr}
}

// splitList splits an address list at commas outside quotes, angle brackets
// and comments.
func splitList(v string) []string {
	var parts []string
	depthAngle, depthParen, quoted, escaped := 0, 0, false, false
	start := 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\':
			escaped = true
		case quoted:
			quoted = c != '"'
		case c == '"':
			quoted = true
		case c == '<':
			depthAngle++
		case c == '>':
			depthAngle = max(0, depthAngle-1)
		case c == '(':
			depthParen++
		case c == ')':
			depthParen = max(0, depthParen-1)
		case c == ',' && depthAngle == 0 && depthParen == 0:
			parts = append(parts, v[start:i])
			start = i + 1
		}
	}
	return append(parts, v[start:])
}
