package message

import (
	"bytes"
	"io"
	"mime"
	"net/url"
	"strings"

	gomessage "github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
)

// Attachment is a MIME part that counts as an attachment (spec/email.md §3.4,
// with the divergences listed at [Message.Attachments]).
type Attachment struct {
	// Filename from Content-Disposition's filename parameter, else
	// Content-Type's name parameter (decoded); "" if neither.
	Filename string `json:"filename,omitempty"`
	// ContentType is the lower-cased type/subtype.
	ContentType string `json:"content_type"`
	// Size is the decoded size in bytes.
	Size int64 `json:"size"`
}

// Limits on what one message may cost to read. A message beyond them is still
// parsed; the excess is skipped and noted in Defects.
const (
	// maxDepth bounds multipart and message/rfc822 nesting.
	maxDepth = 32
	// maxParts bounds the MIME entities walked.
	maxParts = 2000
	// maxTextBytes bounds the plain text and the HTML kept (each). The LLM sees
	// 5 000 characters; a megabyte leaves room for HTML markup.
	maxTextBytes = 1 << 20
	// maxCalendarBytes bounds a calendar part read for parsing.
	maxCalendarBytes = 1 << 20
)

// walker collects the body text, attachments and calendar parts of a message
// in one depth-first walk over its MIME tree.
type walker struct {
	text, html  []string
	textN, htmN int
	attachments []Attachment
	calendars   [][]byte
	parts       int
	defects     []string
	truncated   bool
}

// defect notes a problem worth a warning, once per distinct text.
func (w *walker) defect(s string) {
	for _, d := range w.defects {
		if d == s {
			return
		}
	}
	w.defects = append(w.defects, s)
}

// entity walks one MIME entity: a header and its undecoded body. defaultType
// is the type of a part without Content-Type (message/rfc822 in a
// multipart/digest, text/plain elsewhere).
func (w *walker) entity(h Header, body []byte, depth int, defaultType string) {
	if w.parts >= maxParts {
		w.defect("too many MIME parts; the rest were skipped")
		return
	}
	w.parts++
	mt, params := mediaType(h.Get("Content-Type"), defaultType)
	cte := transferEncoding(h.Get("Content-Transfer-Encoding"))

	if strings.HasPrefix(mt, "multipart/") {
		if depth >= maxDepth {
			w.defect("MIME nesting too deep; inner parts were skipped")
			return
		}
		boundary := params["boundary"]
		parts, ok := splitMultipart(body, boundary)
		if !ok {
			// A multipart without a usable boundary: readers show its body as
			// text, so the LLM gets it as text too.
			w.defect("multipart without a matching boundary; read as text")
			w.bodyText("text/plain", "", transferDecode(cte, body, maxTextBytes))
			return
		}
		child := "text/plain"
		if mt == "multipart/digest" {
			child = "message/rfc822"
		}
		for _, p := range parts {
			if w.parts >= maxParts {
				w.defect("too many MIME parts; the rest were skipped")
				break
			}
			ph, pb := splitHeader(p, false)
			w.entity(ph, pb, depth+1, child)
		}
		return
	}

	disp, dparams := mediaType(h.Get("Content-Disposition"), "")
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	filename = cleanHeader(decodeText(filename))
	hasCID := strings.TrimSpace(h.Get("Content-ID")) != ""
	isBodyText := (mt == "text/plain" || mt == "text/html") && filename == "" && disp != "attachment"

	if isBodyText {
		// Divergence: the reference counts a body text part that carries a
		// Content-ID as an attachment too; a user would not.
		w.bodyText(mt, params["charset"], transferDecode(cte, body, maxTextBytes))
		return
	}

	if mt == "message/rfc822" || mt == "message/global" {
		decoded := transferDecode(cte, body, -1)
		w.attachments = append(w.attachments, Attachment{Filename: filename, ContentType: mt, Size: int64(len(decoded))})
		if depth >= maxDepth {
			w.defect("MIME nesting too deep; inner parts were skipped")
			return
		}
		ih, ib := splitHeader(decoded, true)
		w.entity(ih, ib, depth+1, "text/plain")
		return
	}

	isCalendar := mt == "text/calendar" || mt == "application/ics"
	major, _, _ := strings.Cut(mt, "/")
	isFile := major == "application" || major == "image" || major == "audio" || major == "video" || major == "font" || major == "model"
	// Divergence: a part is also an attachment when it is marked as one
	// without a name, or is a file type (a PDF, an image) without a name or
	// Content-ID; the reference missed those.
	isAttachment := filename != "" || hasCID || disp == "attachment" || isFile

	switch {
	case isCalendar:
		// Divergence: calendar parts count whether or not they look like an
		// attachment (Outlook sends its invite as an inline text/calendar
		// alternative, which the reference never saw).
		decoded := transferDecode(cte, body, -1)
		if isAttachment {
			w.attachments = append(w.attachments, Attachment{Filename: filename, ContentType: mt, Size: int64(len(decoded))})
		}
		if len(decoded) > maxCalendarBytes {
			w.defect("calendar part too large; skipped")
			return
		}
		w.calendars = append(w.calendars, []byte(decodeCharset(params["charset"], decoded)))
	case isAttachment:
		w.attachments = append(w.attachments, Attachment{Filename: filename, ContentType: mt, Size: transferSize(cte, body)})
	}
}

// bodyText appends a decoded text part to the plain text or the HTML.
func (w *walker) bodyText(mt, cs string, decoded []byte) {
	s := normalizeNewlines(decodeCharset(cs, decoded))
	dst, n := &w.text, &w.textN
	if mt == "text/html" {
		dst, n = &w.html, &w.htmN
	}
	if *n >= maxTextBytes {
		w.truncated = true
		return
	}
	if *n+len(s) > maxTextBytes {
		s = strings.ToValidUTF8(s[:maxTextBytes-*n], "")
		w.truncated = true
	}
	*dst = append(*dst, s)
	*n += len(s)
}

// joinParts concatenates text parts, with a line break between two parts
// when the first does not end with one (so words of two parts never glue).
func joinParts(parts []string) string {
	var b strings.Builder
	for _, p := range parts {
		if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") && p != "" {
			b.WriteByte('\n')
		}
		b.WriteString(p)
	}
	return b.String()
}

// normalizeNewlines turns CRLF and lone CR into LF.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ReplaceAll(s, "\r", "\n")
}

// mediaType parses a Content-Type or Content-Disposition value: the
// lower-cased type and its parameters (names lower-cased, values unquoted and
// RFC 2231 decoded). It never fails: Go's strict parser is tried first, then a
// lenient split that keeps the first of duplicate parameters and reads
// unterminated quotes to the end. A Content-Type that is not type/subtype is
// def, as in the reference (Python's get_content_type); an empty value is def.
func mediaType(v, def string) (string, map[string]string) {
	v = strings.TrimSpace(v)
	if v == "" {
		return def, map[string]string{}
	}
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, params = lenientMediaType(v)
	}
	if params == nil {
		params = map[string]string{}
	}
	mt = strings.ToLower(strings.TrimSpace(mt))
	if def != "" && !validMediaType(mt) {
		return def, params
	}
	return mt, params
}

// validMediaType reports whether mt is token/token.
func validMediaType(mt string) bool {
	a, b, ok := strings.Cut(mt, "/")
	return ok && isToken(a) && isToken(b)
}

// isToken reports whether s is a non-empty RFC 2045 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`()<>@,;:\"/[]?=`, c) >= 0 {
			return false
		}
	}
	return true
}

// lenientMediaType splits "type; a=b; c="d"" by hand.
func lenientMediaType(v string) (string, map[string]string) {
	pieces := splitParams(v)
	params := map[string]string{}
	for _, p := range pieces[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = unquote(strings.TrimSpace(val))
		if strings.HasSuffix(k, "*") { // RFC 2231 extended value: charset'lang'%XX
			k = strings.TrimSuffix(k, "*")
			val = decode2231(val)
		}
		if k == "" {
			continue
		}
		if _, dup := params[k]; !dup {
			params[k] = val
		}
	}
	return strings.TrimSpace(pieces[0]), params
}

// splitParams splits at semicolons outside double quotes.
func splitParams(v string) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case escaped:
			escaped = false
		case c == '\\' && quoted:
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ';' && !quoted:
			out = append(out, v[start:i])
			start = i + 1
		}
	}
	return append(out, v[start:])
}

// unquote removes surrounding double quotes and backslash escapes; an
// unterminated quote runs to the end.
func unquote(s string) string {
	if !strings.HasPrefix(s, `"`) {
		return s
	}
	s = s[1:]
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			i++
			b.WriteByte(s[i])
			continue
		}
		if c == '"' {
			break
		}
		b.WriteByte(c)
	}
	return b.String()
}

// decode2231 decodes an RFC 2231 extended value "charset'language'%XX...".
func decode2231(v string) string {
	parts := strings.SplitN(v, "'", 3)
	if len(parts) != 3 {
		return v
	}
	raw, err := url.PathUnescape(parts[2])
	if err != nil {
		return v
	}
	return decodeCharset(parts[0], []byte(raw))
}

// transferEncoding normalises a Content-Transfer-Encoding value to its
// lower-cased first token ("Base64; x" is base64).
func transferEncoding(v string) string {
	v = strings.ToLower(strings.TrimSpace(v))
	if i := strings.IndexAny(v, " \t;("); i >= 0 {
		v = v[:i]
	}
	return v
}

// transferDecode undoes a part's transfer encoding with go-message (base64,
// quoted-printable; 7bit, 8bit, binary and unknown encodings pass through, as
// in the reference). A decoding error keeps what was decoded before it.
// limit < 0 reads everything; otherwise at most limit+1 bytes are returned, so
// callers can tell an overflow.
func transferDecode(cte string, body []byte, limit int) []byte {
	r := decoder(cte, body)
	if limit >= 0 {
		r = io.LimitReader(r, int64(limit)+1)
	}
	out, _ := io.ReadAll(r)
	return out
}

// transferSize is the decoded size of a part, read without keeping it.
func transferSize(cte string, body []byte) int64 {
	if cte != "base64" && cte != "quoted-printable" {
		return int64(len(body))
	}
	n, _ := io.Copy(io.Discard, decoder(cte, body))
	return n
}

// decoder returns a reader of the transfer-decoded body.
func decoder(cte string, body []byte) io.Reader {
	var h gomessage.Header
	if cte != "" {
		h.Set("Content-Transfer-Encoding", cte)
	}
	// No Content-Type: go-message then converts no charset, only the
	// transfer encoding. An unknown encoding returns an entity reading the
	// raw body, with an error we do not need.
	e, _ := gomessage.New(h, bytes.NewReader(body))
	if e == nil {
		return bytes.NewReader(body)
	}
	return e.Body
}

// decodeCharset converts text in the named charset to UTF-8 with go-message's
// charset table. No or an unknown charset is read as UTF-8; bytes that do not
// decode are dropped, as in the reference.
func decodeCharset(label string, b []byte) string {
	label = strings.ToLower(strings.Trim(strings.TrimSpace(label), `"'`))
	switch label {
	case "", "utf-8", "utf8", "us-ascii", "ascii":
		return strings.ToValidUTF8(string(b), "")
	}
	r, err := charset.Reader(label, bytes.NewReader(b))
	if err != nil || r == nil {
		return strings.ToValidUTF8(string(b), "")
	}
	out, _ := io.ReadAll(r)
	return strings.ToValidUTF8(string(out), "")
}

// splitMultipart splits a multipart body into its parts (RFC 2046 §5.1.1).
// Delimiter lines are "--boundary" at the start of a line, optionally followed
// by "--" (the close delimiter) and white space; the line break before a
// delimiter belongs to it. The preamble and epilogue are dropped. A missing
// close delimiter ends the last part at the end of the body. ok is false when
// the boundary is empty or never occurs.
func splitMultipart(body []byte, boundary string) (parts [][]byte, ok bool) {
	if boundary == "" {
		return nil, false
	}
	delim := []byte("--" + boundary)
	var start = -1 // start of the current part's content, -1 before the first delimiter
	pos := 0
	for pos <= len(body) {
		i := bytes.Index(body[pos:], delim)
		if i < 0 {
			break
		}
		i += pos
		if i > 0 && body[i-1] != '\n' { // not at a line start
			pos = i + len(delim)
			continue
		}
		after := body[i+len(delim):]
		closing := bytes.HasPrefix(after, []byte("--"))
		rest := after
		if closing {
			rest = after[2:]
		}
		line, next := cutLine(rest)
		if len(bytes.Trim(line, " \t\r\n")) != 0 { // "--boundaryX": a longer boundary, not ours
			pos = i + len(delim)
			continue
		}
		if start >= 0 {
			parts = append(parts, trimLineEnd(body[start:i]))
		}
		ok = true
		if closing {
			return parts, true
		}
		start = len(body) - len(next)
		pos = start
	}
	if start >= 0 {
		parts = append(parts, body[start:])
	}
	return parts, ok
}

// trimLineEnd drops the one line break (CRLF or LF) that belongs to the
// following delimiter.
func trimLineEnd(b []byte) []byte {
	b = bytes.TrimSuffix(b, []byte("\n"))
	return bytes.TrimSuffix(b, []byte("\r"))
}
