package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// terminalSafe removes what could drive the terminal from text that is about
// to be printed: C0 control characters except newline and tab (ESC starts
// colour, cursor, title and clipboard sequences; CR and backspace overwrite
// what is already on the line), DEL, the C1 controls U+0080–U+009F (CSI and OSC
// on terminals that honour 8-bit controls), and the bidirectional overrides
// that make text display in another order than it reads. Invalid UTF-8 becomes
// U+FFFD. Chat replies come from an LLM that has read attacker-controlled
// mail, so nothing they contain may reach the terminal as a command.
func terminalSafe(s string) string {
	clean := true
	for _, r := range s {
		if unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		if r == utf8.RuneError {
			b.WriteRune(utf8.RuneError)
			continue
		}
		if !unsafeRune(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune reports whether r must not reach a terminal.
func unsafeRune(r rune) bool {
	switch {
	case r == '\n' || r == '\t':
		return false
	case r < 0x20 || r == 0x7f:
		return true
	case r >= 0x80 && r <= 0x9f:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e || r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// safeWriter passes everything written through terminalSafe. Every print of
// `steward chat` goes through one, so no path (a reply, a proposal's
// parameters, an error the gateway quotes) can skip the filter. Each write
// is a whole fmt call, so a character is never split between two writes.
type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(s.w, terminalSafe(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}
