package message

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"

	"github.com/stewardhq/steward/internal/items"
)

// Key is the item key of a message: its Message-ID as cleaned (angle brackets
// kept), or "imap_<uid>" when it has none (spec/email.md §4.1).
func Key(m *Message, uid uint32) string {
	if m != nil && m.MessageID != "" {
		return m.MessageID
	}
	return "imap_" + strconv.FormatUint(uint64(uid), 10)
}

// SanitizeID makes a Message-ID safe in a file name (spec/email.md §5.2):
// surrounding white space trimmed, every leading and trailing "<" and ">"
// removed, then each character (code point) outside [A-Za-z0-9._-] replaced
// by "_". "<abc+tag@example.com>" is "abc_tag_example.com"; "" is "".
func SanitizeID(id string) string {
	id = strings.TrimFunc(id, unicode.IsSpace)
	id = strings.Trim(id, "<>")
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		}
		return '_'
	}, id)
}

// maxNoteIDLen bounds the id part of a note file name: 255 bytes is the usual
// file name limit, and the timestamp, "__" and ".md" take 24.
const maxNoteIDLen = 200

// NoteFileName is the note's file name (spec/email.md §5.2):
// "YYYY_MM_DD_HH_MM_SS__<id>.md", the timestamp being the message date in its
// own offset and <id> SanitizeID(Message-ID), or "imap_<uid>" without one.
//
// Divergences: a Message-ID that sanitises to nothing ("<>") uses
// "imap_<uid>" too (the reference wrote "…__.md", a note no look-up could
// find); a sanitised id longer than 200 characters is cut and ends with 16 hex
// digits of its SHA-256, so the name fits a file system and stays distinct.
func NoteFileName(m *Message, uid uint32) string {
	id := ""
	stamp := FallbackDate().Format("2006_01_02_15_04_05")
	if m != nil {
		id = SanitizeID(m.MessageID)
		stamp = m.Date.Format("2006_01_02_15_04_05")
	}
	if id == "" {
		id = "imap_" + strconv.FormatUint(uint64(uid), 10)
	}
	if len(id) > maxNoteIDLen {
		sum := sha256.Sum256([]byte(id))
		id = id[:maxNoteIDLen-17] + "_" + hex.EncodeToString(sum[:8])
	}
	return stamp + "__" + id + ".md"
}

// windowRE is the look-back window grammar (spec/email.md §1.2.1) after
// trimming and lower-casing: ASCII digits, optional white space, "d".
var windowRE = regexp.MustCompile(`^([0-9]+)\s*d$`)

// MaxWindowDays bounds a window: a longer look-back reaches before year 1
// arithmetic can represent usefully (the reference failed on such values at
// date arithmetic).
const MaxWindowDays = 100000

// ParseWindow parses an inbox look-back window such as "7d", "  7d  ", "30 d"
// or "7D" into days (spec/email.md §1.2.1). Anything else ("24h", "60m",
// "abc", "") is an error whose message starts "Invalid window format:
// '<value>'" and gives examples. "0d" is 0 (today only). Values above
// MaxWindowDays are refused with the same message.
func ParseWindow(s string) (int, error) {
	m := windowRE.FindStringSubmatch(strings.ToLower(strings.TrimSpace(s)))
	if m != nil {
		if n, err := strconv.Atoi(m[1]); err == nil && n <= MaxWindowDays {
			return n, nil
		}
	}
	return 0, fmt.Errorf("Invalid window format: '%s'. Use a number of days, e.g. '7d' or '30d'", s)
}

// MaxPromptBody is the number of characters (code points) of the body the LLM
// sees (spec/email.md §7.1).
const MaxPromptBody = 5000

// TruncatedMarker ends a body cut at MaxPromptBody.
const TruncatedMarker = "\n... (body truncated)"

// PromptFields is the untrusted text the classification prompt shows for the
// message (spec/email.md §7.1), in the reference's order: from_address,
// from_name, to_address, subject, date ("2025-02-15 10:30:00+00:00", the
// message's own offset) and contents (the body, cut at MaxPromptBody
// characters with TruncatedMarker appended). The text is not scrubbed of
// marker phrases; the prompt builder does that to every field.
func PromptFields(m *Message) []items.Field {
	if m == nil {
		m = &Message{}
	}
	return []items.Field{
		{Name: "from_address", Text: m.From.Address},
		{Name: "from_name", Text: m.From.Name},
		{Name: "to_address", Text: m.To},
		{Name: "subject", Text: m.Subject},
		{Name: "date", Text: m.Date.Format("2006-01-02 15:04:05-07:00")},
		{Name: "contents", Text: TruncateBody(m.Text)},
	}
}

// TruncateBody cuts a body to MaxPromptBody code points and appends
// TruncatedMarker when it was longer.
func TruncateBody(s string) string {
	if cut, ok := cutRunes(s, MaxPromptBody); ok {
		return cut + TruncatedMarker
	}
	return s
}

// ShortSubject is the subject as the daily log shows it (spec/email.md
// §6.2): the first 25 characters and "…" when it is longer, else whole.
func ShortSubject(s string) string {
	if cut, ok := cutRunes(s, 25); ok {
		return cut + "…"
	}
	return s
}

// cutRunes returns the first n code points of s and true when s is longer.
func cutRunes(s string, n int) (string, bool) {
	i := 0
	for pos := range s {
		if i == n {
			return s[:pos], true
		}
		i++
	}
	return s, false
}
