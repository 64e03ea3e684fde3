package message

import (
	"strings"
	"unicode"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// HTMLToText returns the text a reader sees in an HTML mail body.
//
// As in the reference (spec/email.md §3.3) entities are decoded and comments,
// the doctype, <script>, <style>, <template> and ruby annotations (<rt>, <rp>)
// are dropped; so are <head> (its <title> usually repeats the subject),
// <noscript>, <svg> and elements hidden with display:none (newsletter
// "preheader" padding), and invisible formatting characters (zero-width
// spaces and joiners, soft hyphens) that senders pad such text with.
//
// Divergence: the reference put every text node on its own line, so inline
// markup split sentences ("Hello <b>world</b>" gave "Hello\nworld"). Here
// white space collapses as a browser renders it, block elements (<p>, <div>,
// <li>, <tr>, headings, ...) and <br> break lines, paragraphs and headings are
// followed by a blank line, table cells are separated by a space, list items
// start with "- ", <pre> keeps its white space, and an image shows its alt
// text.
func HTMLToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil { // nesting deeper than x/net/html accepts (512 elements)
		return tokenText(s)
	}
	var w textWriter
	// An explicit stack instead of recursion: hostile HTML can nest deeply.
	type frame struct {
		n    *html.Node
		exit bool
	}
	stack := []frame{{n: doc}}
	for len(stack) > 0 {
		f := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		n := f.n
		if f.exit {
			w.leave(n)
			continue
		}
		switch n.Type {
		case html.TextNode:
			w.text(n.Data)
			continue
		case html.ElementNode:
			if skipElement(n) {
				continue
			}
			w.enter(n)
			stack = append(stack, frame{n: n, exit: true})
		case html.DocumentNode:
		default: // comments, doctype
			continue
		}
		// Push children in reverse so the first is handled first.
		var kids []*html.Node
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			kids = append(kids, c)
		}
		for i := len(kids) - 1; i >= 0; i-- {
			stack = append(stack, frame{n: kids[i]})
		}
	}
	return strings.TrimSpace(w.b.String())
}

// tokenText is HTMLToText for HTML the tree builder refuses (nested too
// deeply): a flat pass over the tokens with the same rendering rules, where
// hidden elements are only recognised by their tag.
func tokenText(s string) string {
	var w textWriter
	z := html.NewTokenizer(strings.NewReader(s))
	skip := map[atom.Atom]int{}
	skipping := func() bool {
		for _, n := range skip {
			if n > 0 {
				return true
			}
		}
		return false
	}
	for {
		switch z.Next() {
		case html.ErrorToken:
			return strings.TrimSpace(w.b.String())
		case html.TextToken:
			if !skipping() {
				w.text(string(z.Text()))
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			n := &html.Node{Type: html.ElementNode, DataAtom: tok.DataAtom, Data: tok.Data, Attr: tok.Attr}
			switch tok.DataAtom {
			case atom.Script, atom.Style, atom.Template, atom.Head, atom.Title, atom.Noscript, atom.Rt, atom.Rp, atom.Svg, atom.Math:
				skip[tok.DataAtom]++
				continue
			}
			if !skipping() {
				w.enter(n)
				if tok.DataAtom == atom.Pre {
					w.pre-- // not tracked here: a missing </pre> must not keep white space forever
				}
			}
		case html.EndTagToken:
			tok := z.Token()
			if skip[tok.DataAtom] > 0 {
				skip[tok.DataAtom]--
				continue
			}
			if !skipping() && tok.DataAtom != atom.Pre {
				w.leave(&html.Node{Type: html.ElementNode, DataAtom: tok.DataAtom})
			}
		}
	}
}

// skipElement reports whether an element and its content are invisible.
func skipElement(n *html.Node) bool {
	switch n.DataAtom {
	case atom.Script, atom.Style, atom.Template, atom.Head, atom.Title, atom.Noscript,
		atom.Rt, atom.Rp, atom.Svg, atom.Math:
		return true
	}
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			return true
		case "style":
			st := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(st, "display:none") {
				return true
			}
		}
	}
	return false
}

// Line breaks around elements: paragraphs and headings are followed by a
// blank line, other blocks by a line break.
func blockBreak(a atom.Atom) int {
	switch a {
	case atom.P, atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6,
		atom.Blockquote, atom.Pre, atom.Hr, atom.Table:
		return 2
	case atom.Div, atom.Li, atom.Ul, atom.Ol, atom.Dl, atom.Dt, atom.Dd, atom.Tr,
		atom.Section, atom.Article, atom.Header, atom.Footer, atom.Nav, atom.Aside,
		atom.Address, atom.Form, atom.Fieldset, atom.Figure, atom.Figcaption,
		atom.Main, atom.Center, atom.Caption, atom.Tbody, atom.Thead, atom.Tfoot,
		atom.Body, atom.Html, atom.Details, atom.Summary, atom.Legend, atom.Option:
		return 1
	}
	return 0
}

// textWriter accumulates rendered text with collapsed white space.
type textWriter struct {
	b        strings.Builder
	newlines int  // line breaks owed before the next text
	space    bool // a space owed before the next text
	pre      int  // depth inside <pre>
}

// flush writes the owed separator before new text; none at the very start.
func (w *textWriter) flush() {
	if w.b.Len() == 0 {
		w.newlines, w.space = 0, false
		return
	}
	if w.newlines > 0 {
		w.b.WriteString(strings.Repeat("\n", w.newlines))
	} else if w.space {
		w.b.WriteByte(' ')
	}
	w.newlines, w.space = 0, false
}

// text adds a text node.
func (w *textWriter) text(s string) {
	if w.b.Len() >= maxTextBytes {
		return
	}
	if w.pre > 0 {
		s = strings.Map(visible, normalizeNewlines(s))
		if s != "" {
			w.flush()
			w.b.WriteString(s)
		}
		return
	}
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			w.space = true
		case visible(r) < 0:
		default:
			w.flush()
			w.b.WriteRune(r)
		}
	}
}

// visible drops invisible formatting characters (for strings.Map).
func visible(r rune) rune {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad', '\u034f', '\u180e':
		return -1
	}
	return r
}

// breakLine owes at least n line breaks.
func (w *textWriter) breakLine(n int) {
	w.newlines = max(w.newlines, n)
	w.space = false
}

// enter handles an element's start.
func (w *textWriter) enter(n *html.Node) {
	switch n.DataAtom {
	case atom.Br:
		if w.newlines < 2 {
			w.newlines++
		}
		w.space = false
		return
	case atom.Img:
		for _, a := range n.Attr {
			if strings.EqualFold(a.Key, "alt") && strings.TrimSpace(a.Val) != "" {
				w.space = true
				w.text(a.Val)
				w.space = true
			}
		}
		return
	case atom.Pre:
		w.pre++
	case atom.Td, atom.Th:
		w.space = true
	}
	if k := blockBreak(n.DataAtom); k > 0 {
		w.breakLine(1)
	}
	if n.DataAtom == atom.Li {
		w.flush()
		w.b.WriteString("- ")
	}
}

// leave handles an element's end.
func (w *textWriter) leave(n *html.Node) {
	switch n.DataAtom {
	case atom.Pre:
		w.pre--
	case atom.Td, atom.Th:
		if w.newlines == 0 {
			w.space = true
		}
	}
	if k := blockBreak(n.DataAtom); k > 0 {
		w.breakLine(k)
	}
}
