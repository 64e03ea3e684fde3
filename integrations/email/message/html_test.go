package message

import (
	"strings"
	"testing"
)

func TestHTMLToText(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"inline markup does not split lines", "Hello <b>world</b>", "Hello world"},
		{"entities", "caf&eacute; &amp; cr&#232;me &lt;3 &nbsp;x", "café & crème <3 x"},
		{"paragraphs", "<p>one</p><p>two</p>", "one\n\ntwo"},
		{"divs and br", "<div>a</div><div>b<br>c<br><br><br>d</div>", "a\nb\nc\n\nd"},
		{"white space collapses", "<p>  a \n\t b  </p>", "a b"},
		{"pre keeps white space", "<pre>a  b\n  c</pre>after", "a  b\n  c\n\nafter"},
		{"lists", "<ul><li>one</li><li>two <i>2</i></li></ul>", "- one\n- two 2"},
		{"table cells", "<table><tr><td>a</td><td>b</td></tr><tr><th>c</th><td>d</td></tr></table>", "a b\nc d"},
		{"invisible content", "<head><title>T</title><style>x{}</style></head><script>s()</script><template>t</template><noscript>n</noscript>visible<!-- c -->", "visible"},
		{"ruby annotations", "<ruby>漢<rp>(</rp><rt>kan</rt><rp>)</rp>字</ruby>", "漢字"},
		{"display none", `<div style="display: none">pre</div><span style="DISPLAY:NONE;">x</span><div hidden>h</div>shown`, "shown"},
		{"zero-width padding", "a&zwnj;&#8203;b\u00adc\ufeff", "abc"},
		{"image alt text", `see <img src="x" alt="the chart"> here`, "see the chart here"},
		{"headings", "<h1>Title</h1>text", "Title\n\ntext"},
		{"broken markup", "<p>unclosed <b>bold <div>block", "unclosed bold\n\nblock"}, // <div> closes the <p>
		{"empty", "", ""},
		{"only tags", "<p></p><div> </div>", ""},
		{"text only", "plain text", "plain text"},
		{"svg ignored", "<svg><text>chart</text></svg>label", "label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := HTMLToText(tt.in); got != tt.want {
				t.Errorf("HTMLToText(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHTMLToTextDeepNesting(t *testing.T) {
	// Deeper than the HTML tree builder accepts: the token pass reads it.
	in := "<style>x{}</style>" + strings.Repeat("<div>", 20000) + "deep <b>text</b>" + strings.Repeat("</div>", 20000) + "<p>after</p>"
	if got := HTMLToText(in); got != "deep text\nafter" {
		t.Errorf("got %q", got)
	}
	big := strings.Repeat("<p>paragraph text</p>", 200000)
	if got := HTMLToText(big); len(got) > maxTextBytes+100 {
		t.Errorf("output of %d bytes", len(got))
	}
}
