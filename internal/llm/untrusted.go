package llm

import (
	"crypto/rand"
	"encoding/hex"
	"regexp"
	"strings"
)

// Salt tags the untrusted-content markers of one prompt: 4 random bytes as 8
// upper-case hex characters (the reference's format), drawn fresh for every
// prompt, so text written before the prompt existed cannot name its markers.
//
// The markers are the reference's, which prompts quote and the spec treats as
// the contract:
//
//	-----BEGIN UNTRUSTED 9F3A01BC-----
//	...content...
//	-----END UNTRUSTED 9F3A01BC-----
//
// Every piece of outside text placed between them must pass through [Scrub]
// (or [Salt.Wrap], which scrubs), so the content can neither close the block
// early nor open a fake one, with any salt.
type Salt string

// NewSalt draws a salt from crypto/rand.
func NewSalt() Salt {
	var b [4]byte
	_, _ = rand.Read(b[:]) // never fails (Go 1.24+: it crashes the program instead)
	return Salt(strings.ToUpper(hex.EncodeToString(b[:])))
}

// Begin is the opening marker line.
func (s Salt) Begin() string { return "-----BEGIN UNTRUSTED " + string(s) + "-----" }

// End is the closing marker line.
func (s Salt) End() string { return "-----END UNTRUSTED " + string(s) + "-----" }

// Wrap scrubs text and puts it between the markers, each on its own line.
func (s Salt) Wrap(text string) string {
	body := Scrub(text)
	var b strings.Builder
	b.Grow(len(body) + 2*len(s.Begin()) + 2)
	b.WriteString(s.Begin())
	b.WriteByte('\n')
	b.WriteString(body)
	if !strings.HasSuffix(body, "\n") {
		b.WriteByte('\n')
	}
	b.WriteString(s.End())
	return b.String()
}

// Untrusted wraps outside text between the markers of a fresh salt and
// returns the block and the salt (to quote the markers in the instructions
// after it).
func Untrusted(text string) (block string, salt Salt) {
	salt = NewSalt()
	return salt.Wrap(text), salt
}

// ScrubbedMarker replaces marker-like text removed by [Scrub].
const ScrubbedMarker = "[marker removed]"

// markerPattern matches text that reads like an untrusted-content marker
// phrase: "BEGIN UNTRUSTED" or "END UNTRUSTED" (or the words in the other
// order, "UNTRUSTED_END"), where
//   - letters match in any case, including their Unicode case-fold
//     equivalents (the Kelvin sign for K, long s for S) and fullwidth forms;
//   - invisible format characters (zero-width space and joiner, bidi
//     controls, soft hyphen) and combining marks may sit between letters;
//   - the two words are separated by nothing or by any run of characters that
//     are neither letters nor digits (spaces, newlines, '-', '_', '<', ...).
//
// No word boundary is required: "weekEND UNTRUSTED" is matched too.
// Look-alike letters from other scripts (Cyrillic Е) are not matched; the
// salt is the defence against those, since a fake marker cannot carry it.
var markerPattern = regexp.MustCompile(`(?i)(?:` + word("BEGIN") + `|` + word("END") + `)` + markerSep + word("UNTRUSTED") +
	`|` + word("UNTRUSTED") + markerSep + `(?:` + word("BEGIN") + `|` + word("END") + `)`)

// markerSep is what may separate the two words of a marker phrase.
const markerSep = `[^\p{L}\p{N}]*`

// word is a pattern for an ASCII word as described at markerPattern.
func word(w string) string {
	var b strings.Builder
	for i, r := range w {
		if i > 0 {
			b.WriteString(`[\p{Cf}\p{Mn}\p{Me}]*`)
		}
		lower := r | 0x20
		upper := r &^ 0x20
		// Fullwidth forms: U+FF21.. for A.., U+FF41.. for a...
		b.WriteString(`[` + string(lower) + string(upper) + string(rune(0xFF41+lower-'a')) + string(rune(0xFF21+upper-'A')) + `]`)
	}
	return b.String()
}

// Scrub neutralises marker text in untrusted content: every phrase that reads
// like a marker (see the list below) is replaced by [ScrubbedMarker]. Text
// without such a phrase is returned unchanged.
//
// Matched, in one left-to-right pass: "BEGIN UNTRUSTED", "END UNTRUSTED",
// "UNTRUSTED BEGIN" and "UNTRUSTED END" in any case (with Unicode case folding
// and fullwidth letters), with invisible format characters or combining marks
// inside the words, and with any run of non-alphanumeric characters (or none)
// between the words. Replacing instead of deleting (the reference deleted the
// exact, case-sensitive "END UNTRUSTED") means one pass suffices: the
// replacement starts and ends with a bracket and holds no letters of the
// marker words, so it cannot join with its neighbours into a new marker,
// whereas deleting "END UNTRUSTED" from "ENEND UNTRUSTEDD UNTRUSTED" would
// leave a marker behind. The result is a fixed point: Scrub(Scrub(x)) ==
// Scrub(x). Invalid UTF-8 is kept as it is.
func Scrub(text string) string {
	return markerPattern.ReplaceAllLiteralString(text, ScrubbedMarker)
}
