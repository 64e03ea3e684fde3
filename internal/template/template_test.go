package template

import (
	"errors"
	"strings"
	"testing"
)

func vars() map[string]any {
	return map[string]any{
		"domain":         "example.com",
		"author":         "octocat",
		"count":          float64(42), // JSON numbers decode as floats
		"ratio":          0.85,
		"flag":           true,
		"labels":         []any{"bug", "urgent"},
		"none":           nil,
		"_secret":        "hidden",
		"classification": map[string]any{"human": 0.85, "topic": "billing", "_private": "x"},
		"subject":        "{{ _secret }}{% if true %}x{% endif %}", // sender-controlled text
		"title":          "The quick brown fox jumps over the lazy dog and keeps running far away from here into the distance",
	}
}

func TestRender(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"plain text passes through", "research questrade.com", "research questrade.com"},
		{"variable", "{{ domain }}", "example.com"},
		{"embedded", "research {{ domain }} privacy policy", "research example.com privacy policy"},
		{"several", "{{ domain }} by {{ author }}", "example.com by octocat"},
		{"undefined renders empty", "research {{ missing }} by ", "research  by "},
		{"attribute of undefined", "{{ missing.x.y }}", ""},
		{"item of undefined", "{{ missing['a'].b }}", ""},
		{"missing key of a mapping", "{{ classification.nope.deeper }}", ""},
		{"null renders empty", "{{ none }}", ""},
		{"number", "{{ count }}", "42"},
		{"float", "{{ classification.human }}", "0.85"},
		{"bool", "{{ flag }}", "True"},
		{"list", "{{ labels }}", "['bug', 'urgent']"},
		{"upper", "{{ domain | upper }}", "EXAMPLE.COM"},
		{"truncate short", "{{ domain | truncate(80) }}", "example.com"},
		{"truncate long cuts at a word", "{{ title | truncate(80) }}", "The quick brown fox jumps over the lazy dog and keeps running far away from..."},
		{"default on undefined", "{{ missing | default('n/a') }}", "n/a"},
		{"default on null", "{{ none | default('n/a') }}", "n/a"},
		{"default on defined", "{{ domain | default('n/a') }}", "example.com"},
		{"join", "{{ labels | join(', ') }}", "bug, urgent"},
		{"if true", "{% if domain %}{{ domain }}{% else %}unknown{% endif %}", "example.com"},
		{"if undefined", "{% if missing %}{{ missing }}{% else %}unknown{% endif %}", "unknown"},
		{"is defined", "{% if missing is defined %}y{% else %}n{% endif %}", "n"},
		{"dunder attribute blocked", "{{ domain.__class__ }}", ""},
		{"dunder on mapping blocked", "{{ classification.__class__ }}", ""},
		{"private key blocked", "{{ classification._private }}", ""},
		{"private variable blocked", "{{ _secret }}", ""},
		{"attr filter private blocked", "{{ domain | attr('__class__') }}", ""},
		{"string method", "{{ domain.upper() }}", "EXAMPLE.COM"},
		{"comment", "a{# note #}b", "ab"},
		{"values are text, never templates", "{{ subject }}", "{{ _secret }}{% if true %}x{% endif %}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.src, vars())
			if err != nil {
				t.Fatalf("Render(%q): %v", tt.src, err)
			}
			if got != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestRenderRefuses(t *testing.T) {
	tests := []struct {
		name, src, wantErr string
		line               int
	}{
		{"include", "{% include 'config.yaml' %}", "include", 1},
		{"import", "{% import 'x' as y %}", "import", 1},
		{"extends", "{% extends '/etc/passwd' %}", "extends", 1},
		{"for loop", "{% for x in labels %}{{ x }}{% endfor %}", "for", 1},
		{"set", "{% set x = domain %}{{ x }}", "set", 1},
		{"macro", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "macro", 1},
		{"repeat operator", "{{ domain * 1000000000 }}", "operator *", 1},
		{"power operator", "{{ 10 ** 100 }}", "operator **", 1},
		{"syntax error with position", "line one\n{{ domain ", "expected", 2},
		{"unknown filter", "{{ domain | nosuch }}", "nosuch", 1},
		{"calling undefined", "{{ missing() }}", "not callable", 1},
		{"growing method", "{{ domain.center(1000000000) }}", "center", 1},
		{"global functions", "{{ range(1000000000) | join }}", "range", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Render(tt.src, vars())
			if err == nil {
				t.Fatalf("Render(%q) = %q, want an error", tt.src, got)
			}
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not a *template.Error: %v", err, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "template ") {
				t.Errorf("error %q does not name the template and %q", err, tt.wantErr)
			}
			if te.Line != tt.line {
				t.Errorf("error line = %d, want %d (%v)", te.Line, tt.line, err)
			}
		})
	}
}

func TestRenderBounds(t *testing.T) {
	big := strings.Repeat("a", 2*MaxOutput)
	if _, err := Render("{{ big }}", map[string]any{"big": big}); !errors.Is(err, ErrOutputTooLong) {
		t.Errorf("output over MaxOutput: err = %v, want ErrOutputTooLong", err)
	}
	if _, err := Render("{{ s | replace('a', '"+strings.Repeat("b", 100)+"') }}", map[string]any{"s": strings.Repeat("a", 5000)}); !errors.Is(err, ErrOutputTooLong) && (err == nil || !strings.Contains(err.Error(), "longer than")) {
		t.Errorf("growing replace: err = %v, want output too long", err)
	}
	if _, err := Parse("{{ x }}" + strings.Repeat(" ", MaxSource)); err == nil {
		t.Error("a source over MaxSource parsed")
	}
}

func TestParseOnceRenderMany(t *testing.T) {
	tpl, err := Parse("Web research: {{ prompt | truncate(20) }}")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ prompt, want string }{
		{"short", "Web research: short"},
		{"", "Web research: "},
		{"a much longer prompt about many things", "Web research: a much longer..."},
	} {
		got, err := tpl.Render(map[string]any{"prompt": tt.prompt})
		if err != nil || got != tt.want {
			t.Errorf("Render(prompt=%q) = %q, %v; want %q", tt.prompt, got, err, tt.want)
		}
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{
		"{{ domain }}", "{{ title | truncate(80) }}", "{% if x %}a{% else %}b{% endif %}", "{{ a.b.c }}",
		"{{ x | default('y') | upper }}", "{{ labels | join(', ') }}", "{{", "{% if %}", "{{ 'a' ~ domain ~ 'b' }}",
		"{{ classification['human'] }}", "{{ domain | replace('e', 'ee') }}", "{% raw %}{{ x }}{% endraw %}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		out, err := Render(src, vars())
		if err != nil {
			return
		}
		if len(out) > MaxOutput {
			t.Fatalf("Render(%q) gave %d bytes, more than MaxOutput", src, len(out))
		}
	})
}
