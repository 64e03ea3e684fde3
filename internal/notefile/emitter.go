package notefile

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// The emitter below is a port of the parts of PyYAML's Emitter that safe_dump
// with default_flow_style=False and allow_unicode=True uses: block mappings and
// sequences, "{}"/"[]" for empty collections, and plain, single- and
// double-quoted scalars with PyYAML's style choice and line wrapping. Its names
// and state follow PyYAML's (emitter.py) so the two can be compared line by line;
// byte-compatibility with notes the reference wrote depends on it.

const (
	bestIndent = 2
	bestWidth  = 80
)

// emitter holds PyYAML's emitter state for one document.
type emitter struct {
	out              strings.Builder
	column           int
	indent           int // -1 = None
	indents          []int
	flowLevel        int
	whitespace       bool
	indention        bool
	mappingContext   bool
	simpleKeyContext bool
}

// scalarAnalysis is PyYAML's ScalarAnalysis.
type scalarAnalysis struct {
	empty, multiline                bool
	allowFlowPlain, allowBlockPlain bool
	allowSingleQuoted               bool
}

// document emits root as an implicit document (no "---"), ending with a line break.
func (e *emitter) document(root *yamlNode) {
	e.indent = -1
	e.whitespace = true
	e.indention = true
	e.node(root, false, false)
	e.writeIndent()
}

func (e *emitter) node(n *yamlNode, mapping, simpleKey bool) {
	e.mappingContext = mapping
	e.simpleKeyContext = simpleKey
	switch n.kind {
	case scalarNode:
		e.increaseIndent(true, false)
		e.scalar(n)
		e.popIndent()
	case sequenceNode:
		if e.flowLevel > 0 || len(n.items) == 0 {
			e.emptyFlow("[", "]")
			return
		}
		e.blockSequence(n)
	case mappingNode:
		if e.flowLevel > 0 || len(n.keys) == 0 {
			e.emptyFlow("{", "}")
			return
		}
		e.blockMapping(n)
	}
}

// emptyFlow writes an empty flow collection ("[]" or "{}"); non-empty ones are
// always block style here.
func (e *emitter) emptyFlow(open, close string) {
	e.writeIndicator(open, true, true, false)
	e.flowLevel++
	e.increaseIndent(true, false)
	e.popIndent()
	e.flowLevel--
	e.writeIndicator(close, false, false, false)
}

func (e *emitter) blockSequence(n *yamlNode) {
	indentless := e.mappingContext && !e.indention
	e.increaseIndent(false, indentless)
	for _, it := range n.items {
		e.writeIndent()
		e.writeIndicator("-", true, false, true)
		e.node(it, false, false)
	}
	e.popIndent()
}

func (e *emitter) blockMapping(n *yamlNode) {
	e.increaseIndent(false, false)
	for i, k := range n.keys {
		e.writeIndent()
		if e.checkSimpleKey(k) {
			e.node(k, true, true)
			e.writeIndicator(":", false, false, false)
			e.node(n.vals[i], true, false)
			continue
		}
		e.writeIndicator("?", true, false, true)
		e.node(k, true, false)
		e.writeIndent()
		e.writeIndicator(":", true, false, true)
		e.node(n.vals[i], true, false)
	}
	e.popIndent()
}

// checkSimpleKey is PyYAML's check_simple_key for a scalar key: short (counting
// the 5 characters of its "!!str" tag), not empty, on one line.
func (e *emitter) checkSimpleKey(k *yamlNode) bool {
	if k.kind != scalarNode {
		return false
	}
	a := analyzeScalar(k.value)
	return utf8.RuneCountInString(k.value)+len("!!str") < 128 && !a.empty && !a.multiline
}

func (e *emitter) increaseIndent(flow, indentless bool) {
	e.indents = append(e.indents, e.indent)
	switch {
	case e.indent < 0 && flow:
		e.indent = bestIndent
	case e.indent < 0:
		e.indent = 0
	case !indentless:
		e.indent += bestIndent
	}
}

func (e *emitter) popIndent() {
	e.indent = e.indents[len(e.indents)-1]
	e.indents = e.indents[:len(e.indents)-1]
}

// scalar is PyYAML's process_scalar with choose_scalar_style.
func (e *emitter) scalar(n *yamlNode) {
	a := analyzeScalar(n.value)
	text := []rune(n.value)
	split := !e.simpleKeyContext
	plainFits := e.flowLevel > 0 && a.allowFlowPlain || e.flowLevel == 0 && a.allowBlockPlain
	switch {
	case n.plain && !(e.simpleKeyContext && (a.empty || a.multiline)) && plainFits:
		e.writePlain(text, split)
	case a.allowSingleQuoted && !(e.simpleKeyContext && a.multiline):
		e.writeSingleQuoted(text, split)
	default:
		e.writeDoubleQuoted(text, split)
	}
}

func isBreak(r rune) bool { return r == '\n' || r == 0x85 || r == 0x2028 || r == 0x2029 }

// isBlank is PyYAML's '\0 \t\r\n\x85\u2028\u2029' test.
func isBlank(r rune) bool { return r == 0 || r == ' ' || r == '\t' || r == '\r' || isBreak(r) }

// analyzeScalar is PyYAML's analyze_scalar with allow_unicode=True.
func analyzeScalar(s string) scalarAnalysis {
	if s == "" {
		return scalarAnalysis{empty: true, allowBlockPlain: true, allowSingleQuoted: true}
	}
	text := []rune(s)
	var blockIndicators, flowIndicators, lineBreaks, specialCharacters bool
	var leadingSpace, leadingBreak, trailingSpace, trailingBreak, breakSpace, spaceBreak bool
	if strings.HasPrefix(s, "---") || strings.HasPrefix(s, "...") {
		blockIndicators, flowIndicators = true, true
	}
	precededByWhitespace := true
	followedByWhitespace := len(text) == 1 || isBlank(text[1])
	previousSpace, previousBreak := false, false
	for i, ch := range text {
		if i == 0 {
			if strings.ContainsRune("#,[]{}&*!|>'\"%@`", ch) {
				flowIndicators, blockIndicators = true, true
			}
			if ch == '?' || ch == ':' {
				flowIndicators = true
				if followedByWhitespace {
					blockIndicators = true
				}
			}
			if ch == '-' && followedByWhitespace {
				flowIndicators, blockIndicators = true, true
			}
		} else {
			if strings.ContainsRune(",?[]{}", ch) {
				flowIndicators = true
			}
			if ch == ':' {
				flowIndicators = true
				if followedByWhitespace {
					blockIndicators = true
				}
			}
			if ch == '#' && precededByWhitespace {
				flowIndicators, blockIndicators = true, true
			}
		}
		if isBreak(ch) {
			lineBreaks = true
		}
		if !(ch == '\n' || ch >= 0x20 && ch <= 0x7e) {
			unicodeOK := (ch == 0x85 || ch >= 0xa0 && ch <= 0xd7ff || ch >= 0xe000 && ch <= 0xfffd ||
				ch >= 0x10000 && ch < 0x10ffff) && ch != 0xfeff
			if !unicodeOK {
				specialCharacters = true
			}
		}
		switch {
		case ch == ' ':
			if i == 0 {
				leadingSpace = true
			}
			if i == len(text)-1 {
				trailingSpace = true
			}
			if previousBreak {
				breakSpace = true
			}
			previousSpace, previousBreak = true, false
		case isBreak(ch):
			if i == 0 {
				leadingBreak = true
			}
			if i == len(text)-1 {
				trailingBreak = true
			}
			if previousSpace {
				spaceBreak = true
			}
			previousSpace, previousBreak = false, true
		default:
			previousSpace, previousBreak = false, false
		}
		precededByWhitespace = isBlank(ch)
		followedByWhitespace = i+2 >= len(text) || isBlank(text[i+2])
	}
	// (Block scalar styles are never chosen for unstyled scalars, so their
	// allowances are not tracked.)
	a := scalarAnalysis{multiline: lineBreaks, allowFlowPlain: true, allowBlockPlain: true, allowSingleQuoted: true}
	if leadingSpace || leadingBreak || trailingSpace || trailingBreak {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if breakSpace {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSingleQuoted = false, false, false
	}
	if spaceBreak || specialCharacters {
		a.allowFlowPlain, a.allowBlockPlain, a.allowSingleQuoted = false, false, false
	}
	if lineBreaks {
		a.allowFlowPlain, a.allowBlockPlain = false, false
	}
	if flowIndicators {
		a.allowFlowPlain = false
	}
	if blockIndicators {
		a.allowBlockPlain = false
	}
	return a
}

// write appends text that contains no line break.
func (e *emitter) write(text string) {
	e.column += utf8.RuneCountInString(text)
	e.out.WriteString(text)
}

func (e *emitter) writeIndicator(indicator string, needWhitespace, whitespace, indention bool) {
	data := indicator
	if !e.whitespace && needWhitespace {
		data = " " + indicator
	}
	e.whitespace = whitespace
	e.indention = e.indention && indention
	e.write(data)
}

func (e *emitter) writeIndent() {
	indent := max(e.indent, 0)
	if !e.indention || e.column > indent || e.column == indent && !e.whitespace {
		e.writeLineBreak("\n")
	}
	if e.column < indent {
		e.whitespace = true
		e.write(strings.Repeat(" ", indent-e.column))
	}
}

func (e *emitter) writeLineBreak(br string) {
	e.whitespace = true
	e.indention = true
	e.column = 0
	e.out.WriteString(br)
}

// lineBreaks writes the breaks text[start:end] the way PyYAML does in plain and
// single-quoted scalars: a leading "\n" counts twice (one is folded on reading).
func (e *emitter) lineBreaks(text []rune) {
	if text[0] == '\n' {
		e.writeLineBreak("\n")
	}
	for _, br := range text {
		e.writeLineBreak(string(br))
	}
	e.writeIndent()
}

func (e *emitter) writePlain(text []rune, split bool) {
	if len(text) == 0 {
		return
	}
	if !e.whitespace {
		e.write(" ")
	}
	e.whitespace, e.indention = false, false
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(text); end++ {
		ch, more := rune(0), end < len(text)
		if more {
			ch = text[end]
		}
		switch {
		case spaces:
			if !more || ch != ' ' {
				if start+1 == end && e.column > bestWidth && split {
					e.writeIndent()
					e.whitespace, e.indention = false, false
				} else {
					e.write(string(text[start:end]))
				}
				start = end
			}
		case breaks:
			if !more || !isBreak(ch) {
				e.lineBreaks(text[start:end])
				e.whitespace, e.indention = false, false
				start = end
			}
		default:
			if !more || ch == ' ' || isBreak(ch) {
				e.write(string(text[start:end]))
				start = end
			}
		}
		if more {
			spaces, breaks = ch == ' ', isBreak(ch)
		}
	}
}

func (e *emitter) writeSingleQuoted(text []rune, split bool) {
	e.writeIndicator("'", true, false, false)
	spaces, breaks := false, false
	start := 0
	for end := 0; end <= len(text); end++ {
		ch, more := rune(0), end < len(text)
		if more {
			ch = text[end]
		}
		switch {
		case spaces:
			if !more || ch != ' ' {
				if start+1 == end && e.column > bestWidth && split && start != 0 && end != len(text) {
					e.writeIndent()
				} else {
					e.write(string(text[start:end]))
				}
				start = end
			}
		case breaks:
			if !more || !isBreak(ch) {
				e.lineBreaks(text[start:end])
				start = end
			}
		default:
			if (!more || ch == ' ' || isBreak(ch) || ch == '\'') && start < end {
				e.write(string(text[start:end]))
				start = end
			}
		}
		if more && ch == '\'' {
			e.write("''")
			start = end + 1
		}
		if more {
			spaces, breaks = ch == ' ', isBreak(ch)
		}
	}
	e.writeIndicator("'", false, false, false)
}

// escapeReplacements are PyYAML's ESCAPE_REPLACEMENTS.
func escapeReplacement(ch rune) (string, bool) {
	switch ch {
	case 0:
		return "0", true
	case 0x07:
		return "a", true
	case 0x08:
		return "b", true
	case 0x09:
		return "t", true
	case 0x0a:
		return "n", true
	case 0x0b:
		return "v", true
	case 0x0c:
		return "f", true
	case 0x0d:
		return "r", true
	case 0x1b:
		return "e", true
	case '"':
		return "\"", true
	case '\\':
		return "\\", true
	case 0x85:
		return "N", true
	case 0xa0:
		return "_", true
	case 0x2028:
		return "L", true
	case 0x2029:
		return "P", true
	}
	return "", false
}

func (e *emitter) writeDoubleQuoted(text []rune, split bool) {
	e.writeIndicator("\"", true, false, false)
	start := 0
	for end := 0; end <= len(text); end++ {
		ch, more := rune(0), end < len(text)
		if more {
			ch = text[end]
		}
		printable := ch >= 0x20 && ch <= 0x7e || ch >= 0xa0 && ch <= 0xd7ff || ch >= 0xe000 && ch <= 0xfffd
		if !more || strings.ContainsRune("\"\\\u0085\u2028\u2029\ufeff", ch) || !printable {
			if start < end {
				e.write(string(text[start:end]))
				start = end
			}
			if more {
				var data string
				if r, ok := escapeReplacement(ch); ok {
					data = "\\" + r
				} else if ch <= 0xff {
					data = fmt.Sprintf("\\x%02X", ch)
				} else if ch <= 0xffff {
					data = fmt.Sprintf("\\u%04X", ch)
				} else {
					data = fmt.Sprintf("\\U%08X", ch)
				}
				e.write(data)
				start = end + 1
			}
		}
		if 0 < end && end < len(text)-1 && (ch == ' ' || start >= end) &&
			e.column+(end-start) > bestWidth && split {
			data := "\\"
			if start < end {
				data = string(text[start:end]) + data
				start = end
			}
			e.write(data)
			e.writeIndent()
			e.whitespace, e.indention = false, false
			if text[start] == ' ' {
				e.write("\\")
			}
		}
	}
	e.writeIndicator("\"", false, false, false)
}
