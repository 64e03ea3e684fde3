package journal

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/audit"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/notefile"
	"gopkg.in/yaml.v3"
)

// segment is a piece of one Markdown line as CommonMark reads its inlines:
// code span content or text (with its backslash escapes still in it).
type segment struct {
	code bool
	text string
}

// parseInline splits one line into code spans and text the way CommonMark
// does: a backslash escapes the ASCII punctuation after it (outside code
// spans), a run of n backticks opens a span closed by the next run of exactly
// n, and a run without a closer is text. It is the tests' own reading,
// independent of escape.go.
func parseInline(line string) []segment {
	var out []segment
	var text strings.Builder
	flush := func() {
		if text.Len() > 0 {
			out = append(out, segment{text: text.String()})
			text.Reset()
		}
	}
	run := func(i int) int {
		n := 0
		for i+n < len(line) && line[i+n] == '`' {
			n++
		}
		return n
	}
	for i := 0; i < len(line); {
		c := line[i]
		if c == '\\' && i+1 < len(line) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", line[i+1]) >= 0 {
			text.WriteString(line[i : i+2])
			i += 2
			continue
		}
		if c != '`' {
			text.WriteByte(c)
			i++
			continue
		}
		n := run(i)
		closer := -1
		for j := i + n; j < len(line); {
			if line[j] != '`' {
				j++
				continue
			}
			m := run(j)
			if m == n {
				closer = j
				break
			}
			j += m
		}
		if closer < 0 {
			text.WriteString(line[i : i+n])
			i += n
			continue
		}
		flush()
		out = append(out, segment{code: true, text: line[i+n : closer]})
		i = closer + n
	}
	flush()
	return out
}

// bare returns the characters of a text segment that are not backslash-escaped.
func bare(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' && i+1 < len(text) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", text[i+1]) >= 0 {
			i++
			continue
		}
		b.WriteByte(text[i])
	}
	return b.String()
}

// inertProblem says why a line of the daily log or of a note could do more
// than show text, "" when it cannot: outside code spans no raw <, no
// unescaped [ ] ` $ #, no %% comment; no code span a Dataview inline query
// would run.
func inertProblem(line string) string {
	for _, s := range parseInline(line) {
		if s.code {
			if c := strings.TrimSpace(s.text); strings.HasPrefix(c, "=") || strings.HasPrefix(c, "$=") {
				return fmt.Sprintf("code span %q runs as a Dataview query", s.text)
			}
			continue
		}
		if b := bare(s.text); strings.ContainsAny(b, "<[]`$#") || strings.Contains(b, "%%") {
			return fmt.Sprintf("text %q has unescaped markup", s.text)
		}
	}
	return ""
}

// blockStart matches a line (after the entry's first) that would start a
// block of its own inside the list item.
var blockStart = regexp.MustCompile("^( {4,}| {0,3}([-+*=_~|:>#<\\[]|`{3}|[0-9]+[.)]))")

func TestEscapeInline(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Hello", "Hello"},
		{"", ""},
		{"  a \t b\n\nc  ", "a b c"},
		{"a\r\n - 12:00 fake entry\n# heading", "a - 12:00 fake entry \\# heading"},
		{"line\u2028sep\u2029para\u0085nel\vvt\fff", "line sep para nel vt ff"},
		{`<img src="http://evil.test/p.gif">`, `&lt;img src="http://evil.test/p.gif"&gt;`},
		{"AT&T &lt;", "AT&amp;T &amp;lt;"},
		{"![t](http://evil.test/t.gif)", `\!\[t\](http://evil.test/t.gif)`},
		{"[[Secret]] ![[Private]]", `\[\[Secret\]\] \!\[\[Private\]\]`},
		{"a`b``c", "a\\`b\\`\\`c"},
		{`back\slash \[`, `back\\slash \\\[`},
		{"**bold** _it_ ~~s~~ ==hl== #tag $x$ %%c%% a|b ^[fn]", `\*\*bold\*\* \_it\_ \~\~s\~\~ ==hl== \#tag \$x\$ \%\%c\%\% a\|b ^\[fn\]`},
		{"\u202eevil\u202c txt", "evil txt"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{"Grüße — 1 + 1 = 2 (ok) - done.", "Grüße — 1 + 1 = 2 (ok) - done."},
	} {
		if got := EscapeInline(c.in); got != c.want {
			t.Errorf("EscapeInline(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCodeSpan(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Hello", "`Hello`"},
		{"", ""},
		{"a`b", "``a`b``"},
		{"a``b`c", "```a``b`c```"},
		{"`start", "`` `start ``"},
		{"end`", "`` end` ``"},
		{"x\n - 12:00 fake\n# h", "`x - 12:00 fake # h`"},
		{`<img src="http://evil.test/t.gif">`, "`<img src=\"http://evil.test/t.gif\">`"},
		{"= this.file.name", `= this.file.name`},
		{"$= dv.el('b', 1)", `\$= dv.el('b', 1)`},
	} {
		if got := CodeSpan(c.in); got != c.want {
			t.Errorf("CodeSpan(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSanitizeLogText(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		// What producers write today is kept.
		{"Archived email from **a@example.com** — `Hi` (uid 101)", "Archived email from **a@example.com** — `Hi` (uid 101)"},
		{"Email `Hello` left the inbox — moved to synced/", "Email `Hello` left the inbox — moved to synced/"},
		{"Classified `x`: human 0.9, priority high", "Classified `x`: human 0.9, priority high"},
		// A backtick in the subject ends the producer's span early: what falls
		// outside is escaped, the rest stays code.
		{"New email from **a@b** — `Invoice` <img src=\"http://evil.test/t.gif\"> `x` (uid 7)",
			"New email from **a@b** — `Invoice` &lt;img src=\"http://evil.test/t.gif\"&gt; `x` (uid 7)"},
		{"From **x <img src=http://e/p>** — `ok`", "From **x &lt;img src=http://e/p&gt;** — `ok`"},
		{"`a` ![t](http://e/t.gif) [l](http://e) [[Note]] ![[Private]] #tag $x$ %%hide",
			`` + "`a`" + ` !\[t\](http://e/t.gif) \[l\](http://e) \[\[Note\]\] !\[\[Private\]\] \#tag \$x\$ \%\%hide`},
		{"<http://e.test/auto>", "&lt;http://e.test/auto&gt;"},
		{"unclosed ` tick and ``` fence", "unclosed \\` tick and \\`\\`\\` fence"},
		{`escaped \< \[ \` + "`" + ` kept`, `escaped &lt; \[ \` + "`" + ` kept`},
		{"AT&T &lt;b&gt;", "AT&T &lt;b&gt;"},
		// Dataview inline queries do not survive as code.
		{"`= this.file.name` and `$= dv.el('img', '')`", `= this.file.name and \$= dv.el('img', '')`},
		// Block markers cannot start a continuation line.
		{"head\n - 12:00 fake\n# h\n> [!note]\n1. one\n2) two\n---\n===\n```js\n~~~\n| a |\n      deep\n<div>",
			"head\n \\- 12:00 fake\n\\# h\n&gt; \\[!note\\]\n1\\. one\n2\\) two\n\\---\n\\===\n\\`\\`\\`js\n\\~~~\n\\| a |\n   deep\n&lt;div&gt;"},
		{"\n- first line follows the time", "\n- first line follows the time"},
		{"a\n```x``y```z\n`0`", "a\n\\`\\`\\`x\\`\\`y\\`\\`\\`z\n`0`"},
		{"a\u2028b\u0085c\td\x00e\u202ef", "a b c d ef"},
	} {
		got := SanitizeLogText(c.in)
		if got != c.want {
			t.Errorf("SanitizeLogText(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
		if again := SanitizeLogText(got); again != got {
			t.Errorf("SanitizeLogText is not idempotent on %q: %q", got, again)
		}
	}
}

// TestSanitizeLogTextKeepsEscapedValues: a value escaped by its producer with
// EscapeInline or CodeSpan is not escaped a second time by the journal.
func TestSanitizeLogTextKeepsEscapedValues(t *testing.T) {
	for _, v := range []string{"plain", "<img src=x>", "a`b", "[[x]] ![y](z) #t $m$ %%c", `back\slash`, "= q", "AT&T"} {
		line := "New email from **" + EscapeInline(v) + "** — " + CodeSpan(v) + " (uid 1)"
		if got := SanitizeLogText(line); got != line {
			t.Errorf("value %q: SanitizeLogText changed\n%q\nto\n%q", v, line, got)
		}
	}
}

func TestSanitizeNoteBody(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"# Recipe\n\n- **flour** 200 g\n- see [site](https://example.org)\n\n> quote", "# Recipe\n\n- **flour** 200 g\n- see [site](https://example.org)\n\n> quote"},
		{`<img src="http://evil.test/p.gif"> <iframe src=x></iframe>`, `&lt;img src="http://evil.test/p.gif"> &lt;iframe src=x>&lt;/iframe>`},
		{"![t](http://evil.test/t.gif) ![[Private]] \\![kept](x) \\\\![esc](y)", "\\![t](http://evil.test/t.gif) \\![[Private]] \\![kept](x) \\\\\\![esc](y)"},
		{"\\<b>", "&lt;b>"},
		{"> [!note]\n> ```dataviewjs\n> x\n> ```\n- ```run-python\n  1. ~~~meta-bind-js-view\n```Dataview", "> [!note]\n> ```text dataviewjs\n> x\n> ```\n- ```text run-python\n  1. ~~~text meta-bind-js-view\n```text Dataview"},
		{"```dataviewjs\ndv.el('img','')\n```\n~~~ DataView\nx\n~~~\n```go\nfmt.Println()\n```", "```text dataviewjs\ndv.el('img','')\n```\n~~~ text DataView\nx\n~~~\n```go\nfmt.Println()\n```"},
	} {
		if got := SanitizeNoteBody(c.in); got != c.want {
			t.Errorf("SanitizeNoteBody(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}

// unescapeInline reverses EscapeInline's escapes (entities and backslashes).
func unescapeInline(s string) string {
	s = bareKeep(s)
	s = strings.ReplaceAll(s, "&lt;", "<")
	s = strings.ReplaceAll(s, "&gt;", ">")
	return strings.ReplaceAll(s, "&amp;", "&")
}

// bareKeep drops the backslash of every escape pair, keeping the character.
func bareKeep(text string) string {
	var b strings.Builder
	for i := 0; i < len(text); i++ {
		if text[i] == '\\' && i+1 < len(text) && strings.IndexByte("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", text[i+1]) >= 0 {
			i++
		}
		b.WriteByte(text[i])
	}
	return b.String()
}

// FuzzEscapeInline: EscapeInline's output never contains a raw <, a line
// break, or an unescaped backtick, bracket (so no "](" link and no image or
// wiki link) and reads back as the input on one line; CodeSpan's output is one
// code span holding the input on one line, or (a Dataview query) escaped text.
func FuzzEscapeInline(f *testing.F) {
	for _, s := range []string{
		"Hello", "a`b", "``", "<img src=x>", "![t](http://e)", "[[x]]", "![[y]]", "a\nb", " - 12:00 x", "\\", "\\`",
		"= q", "$= q", "&lt;", "\u2028", "\xff", "`", " ` ", "**b**", "%%c%%",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := EscapeInline(s)
		if strings.ContainsAny(out, "<\n\r\u2028\u2029\u0085") {
			t.Fatalf("EscapeInline(%q) = %q: raw < or line break", s, out)
		}
		for _, seg := range parseInline("**" + out + "**") {
			if seg.code {
				t.Fatalf("EscapeInline(%q) = %q forms a code span", s, out)
			}
			if b := bare(seg.text); strings.ContainsAny(b, "[]`") {
				t.Fatalf("EscapeInline(%q) = %q: unescaped bracket or backtick", s, out)
			}
		}
		if back := unescapeInline(out); back != oneLine(s) {
			t.Fatalf("EscapeInline(%q) = %q reads back as %q, want %q", s, out, back, oneLine(s))
		}

		code := CodeSpan(s)
		if strings.ContainsAny(code, "\n\r") {
			t.Fatalf("CodeSpan(%q) = %q: line break", s, code)
		}
		if p := inertProblem("x " + code + " y"); p != "" {
			t.Fatalf("CodeSpan(%q) = %q: %s", s, code, p)
		}
		if code == "" || runsAsQuery(oneLine(s)) {
			return
		}
		segs := parseInline(code)
		if len(segs) != 1 || !segs[0].code {
			t.Fatalf("CodeSpan(%q) = %q is not one code span: %+v", s, code, segs)
		}
		content := segs[0].text
		if strings.HasPrefix(content, " ") && strings.HasSuffix(content, " ") && strings.Trim(content, " ") != "" {
			content = content[1 : len(content)-1] // CommonMark strips one space each side
		}
		if content != oneLine(s) {
			t.Fatalf("CodeSpan(%q) = %q shows %q", s, code, content)
		}
	})
}

// FuzzSanitizeLogText: every line of the output is inert, no line after the
// first non-blank one starts a block, and sanitising twice changes nothing.
func FuzzSanitizeLogText(f *testing.F) {
	for _, s := range []string{
		"New email from **a@b** — `x` <img src=y> `z`", "a\n - 12:00 b\n# c", "``` x ```", "\\`a`", "`= q`",
		"1. x\n2) y", "a\n    code", "![[x]]\n[y]: http://e", "%%\nhidden", "a\\\n<b>",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := SanitizeLogText(s)
		if again := SanitizeLogText(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", s, out, again)
		}
		first := true
		for _, l := range strings.Split(out, "\n") {
			if strings.ContainsAny(l, "\r\u2028\u2029\u0085") {
				t.Fatalf("SanitizeLogText(%q): line %q holds a line break", s, l)
			}
			if p := inertProblem(l); p != "" {
				t.Fatalf("SanitizeLogText(%q): line %q: %s", s, l, p)
			}
			if !first && blockStart.MatchString(l) {
				t.Fatalf("SanitizeLogText(%q): line %q starts a block", s, l)
			}
			if strings.TrimSpace(l) != "" {
				first = false
			}
		}
	})
}

// TestHostileMailInDailyLog renders hostile subjects and senders through the
// real path, as the email integration words them: an audit event on NATS, the
// journal's consumer, the daily log file.
func TestHostileMailInDailyLog(t *testing.T) {
	srv := testServer(t)
	bus := testBus(t, srv, nil)
	logs := t.TempDir()
	startJournal(t, Options{Bus: bus, LogsDir: logs, Location: time.UTC})
	hostile := []struct{ from, subject string }{
		{`x@evil.test <img src="http://evil.test/p.gif">`, "Invoice` <img src=\"http://evil.test/t.gif\"> `x"},
		{"a@evil.test", "![t](http://evil.test/t.gif) [[Secret]] ![[Private]] #tag %%hide"},
		{"b@evil.test", "Hi\n - 23:59 Archived everything\n# Owned\n<script>alert(1)</script>"},
		{"c@evil.test", "``` \n= this.file.name"},
		{"d@evil.test", "`$= dv.el('img', '', {attr: {src: 'http://evil.test/dv'}})`"},
	}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	for i, h := range hostile {
		// The wording of integrations/email's discovered event.
		text := fmt.Sprintf("New email from **%s** — `%s` (uid %d)", h.from, h.subject, i+1)
		ev := audit.Event{At: at.Add(time.Duration(i) * time.Minute), Source: "email.personal", Kind: audit.KindDiscovered, Text: text, ID: fmt.Sprintf("hostile-%d", i)}
		if err := audit.Emit(context.Background(), bus, ev); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(logs, "2026-03-02 Monday.md")
	eventually(t, "all entries written", func() bool {
		return strings.Count(readFile(t, file), " - 09:0") == len(hostile)
	})
	got := readFile(t, file)
	entry := regexp.MustCompile(`^ - \d\d:\d\d `)
	entries := 0
	for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if entry.MatchString(l) {
			entries++
		} else if blockStart.MatchString(strings.TrimPrefix(l, "   ")) || !strings.HasPrefix(l, "   ") && l != "" {
			t.Errorf("line %q starts a block or leaves the entry", l)
		}
		if p := inertProblem(l); p != "" {
			t.Errorf("line %q: %s", l, p)
		}
	}
	if entries != len(hostile) {
		t.Errorf("%d entries, want %d:\n%s", entries, len(hostile), got)
	}
	for _, bad := range []string{"<img", "<script"} { // outside code spans, inertProblem checks the rest
		if strings.Contains(got, bad) {
			t.Errorf("the log holds %q:\n%s", bad, got)
		}
	}
	wantFirst := " - 09:00 New email from **x@evil.test &lt;img src=\"http://evil.test/p.gif\"&gt;** — `Invoice` &lt;img src=\"http://evil.test/t.gif\"&gt; `x` (uid 1)\n"
	if !strings.HasPrefix(got, wantFirst) {
		t.Errorf("first entry:\n%s\nwant:\n%s", strings.SplitAfter(got, "\n")[0], wantFirst)
	}
}

// TestHostileNoteEventBody: a service result with HTML and images is written
// with both neutralised; its Markdown stays.
func TestHostileNoteEventBody(t *testing.T) {
	notes := t.TempDir()
	j, err := New(Options{Bus: &msg.Bus{}, LogsDir: t.TempDir(), NotesDir: notes, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	ev, _ := json.Marshal(notefile.NoteEvent{Path: "services/gemini/web_research/r.md",
		FrontMatter: map[string]any{"title": "---\nmalicious: true\n---"},
		Body:        "## Findings\n\n<img src=\"http://evil.test/p.gif\">\n![t](http://evil.test/t.gif)\n- [source](https://example.org)"})
	if err := j.handleNoteEvent(context.Background(), "notes.services", ev); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, filepath.Join(notes, "services", "gemini", "web_research", "r.md"))
	want := "---\ntitle: '---\n\n  malicious: true\n\n  ---'\n---\n\n## Findings\n\n&lt;img src=\"http://evil.test/p.gif\">\n\\![t](http://evil.test/t.gif)\n- [source](https://example.org)"
	if got != want {
		t.Errorf("note:\n%s\nwant:\n%s", got, want)
	}
}

// TestRenderNoteQuotesHostileValues: a front matter value from a stranger (a
// subject, a title) cannot close the front matter, add a key, or turn into
// another YAML type: it reads back as the same string and the document keeps
// exactly its two fences.
func TestRenderNoteQuotesHostileValues(t *testing.T) {
	for _, v := range []string{
		"---", "...", "a\n---\nb: c", "---\nextra: true", "x: y", "key: value # comment", "# comment", "#tag",
		"!!python/object:os.system", "!secret token", "&anchor", "*alias", "- item", "? key", "[a, b]", "{a: b}",
		"|", ">", "'quoted'", "\"dq\"", "@at", "`tick`", "%TAG", "yes", "null", "2026-03-02", "0x1F", "1:30",
		" lead", "trail ", "\ttab", "a\r\nb", "line\u2028sep", "\x00nul\x1b", "[[Secret]]", "<img src=x>",
	} {
		doc, err := notefile.RenderNote(map[string]any{"title": v, "z": "after"}, "body")
		if err != nil {
			t.Fatalf("%q: %v", v, err)
		}
		text := string(doc)
		lines := strings.Split(text, "\n")
		fences := 0
		end := -1
		for i, l := range lines {
			if fenceRE.MatchString(l) {
				fences++
				if fences == 2 {
					end = i
				}
			}
		}
		if fences != 2 || lines[0] != "---" {
			t.Errorf("%q: %d fence lines:\n%s", v, fences, text)
			continue
		}
		var front map[string]any
		if err := yaml.Unmarshal([]byte(strings.Join(lines[1:end], "\n")), &front); err != nil {
			t.Errorf("%q: front matter does not parse: %v\n%s", v, err, text)
			continue
		}
		if len(front) != 2 || front["title"] != v || front["z"] != "after" {
			t.Errorf("%q: read back as %#v\n%s", v, front, text)
		}
		if got := noteBody(text); got != "body" {
			t.Errorf("%q: body read back as %q", v, got)
		}
	}
}

// FuzzSanitizeNoteBody: the output has no <, no "![" that is not escaped, no
// fenced block a plugin would run, and sanitising twice changes nothing.
func FuzzSanitizeNoteBody(f *testing.F) {
	for _, s := range []string{"<img src=x>", "![a](b)", "\\![a](b)", "\\\\![a](b)", "```dataviewjs\nx\n```", "> ~~~ DataView", "a\\<b"} {
		f.Add(s)
	}
	runs := regexp.MustCompile("(?im)^[ \t>*+0-9.)-]*(?:`{3,}|~{3,})[ \t]*(?:dataview|js-engine|meta-bind|button|run-)")
	f.Fuzz(func(t *testing.T, s string) {
		out := SanitizeNoteBody(s)
		if strings.Contains(out, "<") {
			t.Fatalf("SanitizeNoteBody(%q) = %q holds <", s, out)
		}
		for i := 0; i+1 < len(out); i++ {
			if out[i] == '!' && out[i+1] == '[' {
				n := 0
				for j := i - 1; j >= 0 && out[j] == '\\'; j-- {
					n++
				}
				if n%2 == 0 {
					t.Fatalf("SanitizeNoteBody(%q) = %q: unescaped ![ at %d", s, out, i)
				}
			}
		}
		if runs.MatchString(out) {
			t.Fatalf("SanitizeNoteBody(%q) = %q keeps an executable fence", s, out)
		}
		if again := SanitizeNoteBody(out); again != out {
			t.Fatalf("not idempotent: %q → %q → %q", s, out, again)
		}
	})
}
