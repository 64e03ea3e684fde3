package journal

import (
	"regexp"
	"strings"
	"unicode"
)

// Escaping of untrusted text in the files people read.
//
// Mail subjects and senders, GitHub titles, LLM summaries and service results
// are written by strangers. In a Markdown file opened in Obsidian (or any
// viewer) such text must read as text: it must not load a remote image (an
// <img> or ![x](http://…) tells the sender the log was read), embed another
// note (![[…]]), form a link, start a new log entry or heading, hide the lines
// after it (%% comments) or run a plugin query (Dataview's `= …` inline code).
//
// Three layers, each safe on its own:
//
//   - EscapeInline and CodeSpan escape one value where a producer builds a log
//     line or a note: EscapeInline for running text (inside **bold** too),
//     CodeSpan for a value shown as code.
//   - SanitizeLogText is applied by the journal to the text of every audit
//     event, because producers write Markdown around raw values
//     ("New email from **%s** — `%s`"). It keeps code spans and emphasis and
//     escapes everything else that could form HTML, links, images, embeds,
//     tags, math, comments or block structure. It leaves what EscapeInline and
//     CodeSpan wrote unchanged, so a value escaped by its producer is not
//     escaped twice.
//   - SanitizeNoteBody is applied by the journal to the body of every NOTES
//     event (service results, saved chat notes): Markdown is kept, raw HTML and
//     images are not.

// inlineSpecial are the ASCII characters EscapeInline backslash-escapes: the
// ones CommonMark, GFM or Obsidian give a meaning inside a line (code,
// emphasis, strikethrough, links, images, wiki links and embeds, tags, math,
// comments, tables). "=" (highlights) and "^" (footnotes, which need a "[")
// stay readable.
const inlineSpecial = "\\`*_[]!#$%|~"

// EscapeInline returns s as Markdown that renders as the text of s on one line,
// for use outside a code span: every line break, control character and run of
// white space becomes one space (trimmed at both ends), Unicode bidirectional
// controls are dropped, <, > and & become entities, and the characters of
// inlineSpecial are backslash-escaped. The result never contains a raw <, a
// newline, an unescaped backtick, bracket or "](".
func EscapeInline(s string) string {
	s = oneLine(s)
	var b strings.Builder
	b.Grow(len(s) + len(s)/8)
	for _, r := range s {
		switch {
		case r == '<':
			b.WriteString("&lt;")
		case r == '>':
			b.WriteString("&gt;")
		case r == '&':
			b.WriteString("&amp;")
		case r < 0x80 && strings.ContainsRune(inlineSpecial, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// CodeSpan returns s, on one line as EscapeInline makes it, as one inline code
// span: the fence is one backtick longer than the longest run of backticks in
// s, so nothing inside can close it (CommonMark's rule), and s is padded with a
// space on both sides when it starts or ends with a backtick (CommonMark strips
// exactly those). Inside a code span nothing is markup, so the text shows as it
// is. A value that a Dataview inline query would run (it starts with "=" or
// "$=") is not put in a code span but escaped with EscapeInline. "" for "".
func CodeSpan(s string) string {
	s = oneLine(s)
	if s == "" {
		return ""
	}
	if runsAsQuery(s) {
		return EscapeInline(s)
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if s[0] == '`' || s[len(s)-1] == '`' {
		s = " " + s + " "
	}
	return fence + s + fence
}

// SanitizeLogText makes the text of an audit event safe to write as a daily
// log entry. The text is Markdown a producer wrote around values it may not
// have escaped, so it is read the way CommonMark reads a line and written back
// with only harmless markup left:
//
//   - code spans are kept as they are (nothing inside one is markup), except
//     one a Dataview inline query would run, which becomes escaped text; a
//     backtick that opens no span is escaped, so an attacker's backtick can end
//     the producer's span early, but what then falls outside is escaped;
//   - outside code spans, < and > become entities (no HTML, no autolinks),
//     [ ] # $ % are backslash-escaped (no links, images, wiki links, embeds,
//     footnotes, tags, math or comments); existing backslash escapes, entities,
//     **emphasis** and _emphasis_ are kept;
//   - line breaks stay (renderLine indents continuation lines into the same
//     list item), but a line after the first non-blank one (which follows the
//     entry's " - HH:MM ") cannot start a block: at most three leading
//     spaces are kept and a leading list, heading, quote, fence, rule, table or
//     setext marker is escaped; other line and paragraph separators and control
//     characters become spaces, bidirectional controls are dropped.
//
// It is idempotent, and leaves the output of EscapeInline and CodeSpan as it is.
func SanitizeLogText(text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.ReplaceAll(text, "\r", "\n")
	lines := strings.Split(text, "\n")
	first := true // the first non-blank line follows the entry's " - HH:MM "
	for i, l := range lines {
		l = sanitizeInline(lineChars(l))
		if !first {
			l = blockSafe(l)
		}
		if strings.TrimSpace(l) != "" {
			first = false
		}
		lines[i] = l
	}
	return strings.Join(lines, "\n")
}

// oneLine is s on one line: invalid UTF-8 replaced, white space and control
// characters collapsed to single spaces and trimmed, bidi controls dropped.
func oneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case isBidiControl(r):
			continue
		case unicode.IsSpace(r) || unicode.IsControl(r):
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// lineChars replaces, within one line, tabs, control characters and the
// Unicode line and paragraph separators with spaces, and drops bidi controls.
func lineChars(l string) string {
	clean := true
	for _, r := range l {
		if unicode.IsControl(r) || r == 0x2028 || r == 0x2029 || isBidiControl(r) {
			clean = false
			break
		}
	}
	if clean {
		return l
	}
	var b strings.Builder
	for _, r := range l {
		switch {
		case isBidiControl(r):
		case unicode.IsControl(r) || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isBidiControl reports the Unicode embedding, override and isolate controls,
// which can make a line display in another order than it reads.
func isBidiControl(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// longestRun is the length of the longest run of c in s.
func longestRun(s string, c byte) int {
	longest, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			longest = max(longest, n)
		} else {
			n = 0
		}
	}
	return longest
}

// runsAsQuery reports whether code span content would run as a Dataview inline
// query (its default prefixes "=" and "$=").
func runsAsQuery(content string) bool {
	c := strings.TrimSpace(content)
	return strings.HasPrefix(c, "=") || strings.HasPrefix(c, "$=")
}

func isASCIIPunct(c byte) bool {
	return c >= '!' && c <= '/' || c >= ':' && c <= '@' || c >= '[' && c <= '`' || c >= '{' && c <= '~'
}

// sanitizeInline is SanitizeLogText's treatment of one line's inline content.
func sanitizeInline(l string) string {
	var b strings.Builder
	b.Grow(len(l) + len(l)/8)
	for i := 0; i < len(l); {
		if l[i] != '`' {
			i += escapeTextByte(&b, l, i)
			continue
		}
		n := runAt(l, i)
		end := closingRun(l, i+n, n)
		if end < 0 { // no closer: the backticks are text
			b.WriteString(strings.Repeat("\\`", n))
			i += n
			continue
		}
		content := l[i+n : end]
		if runsAsQuery(content) {
			writeAsText(&b, content)
		} else {
			b.WriteString(l[i : end+n])
		}
		i = end + n
	}
	return b.String()
}

// writeAsText writes code span content as escaped text (every backtick escaped).
func writeAsText(b *strings.Builder, content string) {
	for j := 0; j < len(content); {
		if content[j] == '`' {
			b.WriteString("\\`")
			j++
			continue
		}
		j += escapeTextByte(b, content, j)
	}
}

// escapeTextByte writes the text-mode form of s[i] (or of the backslash escape
// starting there) and returns how many bytes it consumed. A backtick here is
// always text.
func escapeTextByte(b *strings.Builder, s string, i int) int {
	switch c := s[i]; c {
	case '\\':
		if i+1 < len(s) && isASCIIPunct(s[i+1]) {
			switch s[i+1] {
			case '<':
				b.WriteString("&lt;")
			case '>':
				b.WriteString("&gt;")
			default:
				b.WriteString(s[i : i+2])
			}
			return 2
		}
		b.WriteByte('\\')
	case '`':
		b.WriteString("\\`")
	case '<':
		b.WriteString("&lt;")
	case '>':
		b.WriteString("&gt;")
	case '[', ']', '#', '$', '%':
		b.WriteByte('\\')
		b.WriteByte(c)
	default:
		b.WriteByte(c)
	}
	return 1
}

// runAt is the length of the backtick run starting at s[i].
func runAt(s string, i int) int {
	n := 0
	for i+n < len(s) && s[i+n] == '`' {
		n++
	}
	return n
}

// closingRun finds, from from on, the first run of exactly n backticks (the
// CommonMark closer of a span opened by n) and returns its start, -1 if none.
// Backslashes do not escape backticks inside a code span.
func closingRun(s string, from, n int) int {
	for i := from; i < len(s); {
		if s[i] != '`' {
			i++
			continue
		}
		m := runAt(s, i)
		if m == n {
			return i
		}
		i += m
	}
	return -1
}

// orderedMarker matches the start of an ordered list item: up to nine digits
// then "." or ")".
var orderedMarker = regexp.MustCompile(`^[0-9]{1,9}[.)]`)

// blockSafe keeps a line from starting a block of its own: leading spaces are
// cut to three (four would be an indented code block) and a leading block
// marker (list item, thematic break, setext underline, fence, table) is
// escaped, and a leading code span with a fence of three or more becomes text. Headings, quotes, HTML and link definitions cannot start a line
// that went through sanitizeInline: # is escaped and < > are entities.
func blockSafe(l string) string {
	rest := strings.TrimLeft(l, " ")
	indent := min(len(l)-len(rest), 3)
	if rest == "" {
		return rest
	}
	switch {
	case strings.HasPrefix(rest, "```"):
		// A code span opened by three or more backticks is no fence in
		// CommonMark (its closer is in the would-be info string), but other
		// readers may disagree: at the start of a line it becomes text.
		n := runAt(rest, 0)
		if end := closingRun(rest, n, n); end >= 0 {
			var b strings.Builder
			fence := strings.Repeat("\\`", n)
			b.WriteString(fence)
			writeAsText(&b, rest[n:end])
			b.WriteString(fence)
			rest = b.String() + rest[end+n:]
		}
	case strings.ContainsRune("-+*=_~|:", rune(rest[0])):
		rest = "\\" + rest
	case orderedMarker.MatchString(rest):
		k := strings.IndexAny(rest, ".)")
		rest = rest[:k] + "\\" + rest[k:]
	}
	return strings.Repeat(" ", indent) + rest
}

// executableFence is a fenced code block opener whose language runs code or
// queries in popular Obsidian plugins (Dataview, JS Engine, Meta Bind, Buttons,
// Execute Code).
// The fence may sit in a quote, callout or list item (any run of spaces, tabs,
// ">" and list markers before it): matching too much only adds "text ".
var executableFence = regexp.MustCompile("(?im)^([ \t>*+0-9.)-]*(?:`{3,}|~{3,})[ \t]*)((?:dataview|js-engine|meta-bind|button|run-)[^\n]*)$")

// SanitizeNoteBody makes the body of a note from an untrusted source (a
// service result, a chat note) safe to open, keeping its Markdown: every < becomes
// &lt; (no raw HTML, no autolinks), every image or embed "![" becomes "\![" (a
// plain link, which loads nothing until clicked), and a fenced code block that
// a plugin would run (```dataviewjs and the like) gets the language "text"
// in front of its own, so it shows as code. These apply inside code as well,
// where they show literally: telling code from text needs the whole CommonMark
// block parser, and a wrong guess would let HTML through.
func SanitizeNoteBody(body string) string {
	body = strings.ToValidUTF8(body, "\uFFFD")
	var b strings.Builder
	b.Grow(len(body) + len(body)/16)
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '<':
			b.WriteString("&lt;")
		case c == '\\' && i+1 < len(body) && isASCIIPunct(body[i+1]):
			// An escape pair stays as it is (an escaped "<" becomes the entity).
			if body[i+1] == '<' {
				b.WriteString("&lt;")
			} else {
				b.WriteString(body[i : i+2])
			}
			i++
		case c == '!' && i+1 < len(body) && body[i+1] == '[':
			b.WriteString("\\!")
		default:
			b.WriteByte(c)
		}
	}
	return executableFence.ReplaceAllString(b.String(), "${1}text ${2}")
}
