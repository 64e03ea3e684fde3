package notefile

import (
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testkit/notegolden"
)

func TestRenderNote(t *testing.T) {
	classified := notegolden.EmailFacts()
	classified["classification"] = map[string]any{"human": 0.92, "urgency": "high", "is_invoice": false, "score": 1.0}
	classified["classified_by"] = map[string]any{"model": "qwen2.5:14b", "profile": "default",
		"timestamp": time.Date(2025, 2, 15, 10, 31, 5, 123456789, time.UTC)}
	tests := []struct {
		name  string
		front map[string]any
		body  string
		want  string
	}{
		{"email note on creation", notegolden.EmailFacts(), "", notegolden.EmailNote},
		{"classified email note", classified, "",
			strings.Replace(notegolden.EmailNote, "domain: mail", notegolden.ClassifiedBlock+"domain: mail", 1)},
		{"empty front matter", nil, "", "---\n{}\n---"},
		{"body after a blank line, only the document trimmed", map[string]any{"service": "service.gemini.web_research"},
			"\n# Findings\n\nText.\n\n", "---\nservice: service.gemini.web_research\n---\n\n\n# Findings\n\nText."},
		{"lists are not indented, maps in lists are",
			map[string]any{"labels": []string{"bug", "help wanted"}, "sources": []any{
				map[string]any{"url": "https://example.com/a", "title": "A: the first"},
			}, "none": []any{}, "empty": map[string]string{}},
			"",
			"---\nempty: {}\nlabels:\n- bug\n- help wanted\nnone: []\nsources:\n- title: 'A: the first'\n  url: https://example.com/a\n---"},
		{"scalars", map[string]any{"n": 42, "big": uint64(math.MaxUint64), "f": 2.5, "whole": 3.0,
			"tiny": 1.5e-7, "huge": 1e16, "nil": nil, "yes": "yes", "num": "017", "date": "2025-02-15",
			"empty": "", "space": " x", "colon": "a: b", "hash": "a #b", "dash": "- a", "ok": "a-b:c#d"},
			"",
			"---\nbig: 18446744073709551615\ncolon: 'a: b'\ndash: '- a'\ndate: '2025-02-15'\nempty: ''\n" +
				"f: 2.5\nhash: 'a #b'\nhuge: 1.0e+16\nn: 42\nnil: null\nnum: '017'\nok: a-b:c#d\n" +
				"space: ' x'\ntiny: 1.5e-07\nwhole: 3.0\n'yes': 'yes'\n---"},
		{"multi-line, quotes and control characters", map[string]any{
			"lines": "one\ntwo", "quote": "it's", "tab": "a\tb", "emoji": "😀 ok"},
			"",
			"---\nemoji: 😀 ok\nlines: 'one\n\n  two'\nquote: it's\ntab: \"a\\tb\"\n---"},
		{"json numbers keep int and float apart", map[string]any{
			"i": json.Number("3"), "f": json.Number("3.0"), "e": json.Number("1e-05")},
			"",
			"---\ne: 1.0e-05\nf: 3.0\ni: 3\n---"},
		{"struct values go through JSON", map[string]any{"by": struct {
			Model string `json:"model"`
		}{"m"}}, "", "---\nby:\n  model: m\n---"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RenderNote(tt.front, tt.body)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s\n(got %q)", got, tt.want, got)
			}
		})
	}
}

func TestRenderNoteRefusesWhatJSONCannotEncode(t *testing.T) {
	if _, err := RenderNote(map[string]any{"ch": make(chan int)}, ""); err == nil {
		t.Fatal("want an error for a channel value")
	}
}

// TestRenderNoteMatchesPyYAML compares RenderNote with the reference on random
// front matter (testdata/pyyaml_golden.py made the expectations with PyYAML).
func TestRenderNoteMatchesPyYAML(t *testing.T) {
	f, err := os.Open("testdata/pyyaml_golden.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	dec.UseNumber()
	var cases []struct {
		Front map[string]any `json:"front"`
		Body  string         `json:"body"`
		Want  string         `json:"want"`
	}
	if err := dec.Decode(&cases); err != nil {
		t.Fatal(err)
	}
	if len(cases) < 100 {
		t.Fatalf("only %d cases", len(cases))
	}
	for i, c := range cases {
		got, err := RenderNote(c.Front, c.Body)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if string(got) != c.Want {
			in, _ := json.Marshal(c.Front)
			t.Errorf("case %d: front %s body %q\ngot  %q\nwant %q", i, in, c.Body, got, c.Want)
		}
	}
}

func TestPyFloat(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"}, {math.Copysign(0, -1), "-0.0"}, {1, "1.0"}, {0.1, "0.1"}, {0.92, "0.92"},
		{1e15, "1000000000000000.0"}, {1e16, "1.0e+16"}, {1.5e16, "1.5e+16"}, {0.0001, "0.0001"},
		{0.00001, "1.0e-05"}, {1.5e-7, "1.5e-07"}, {1e100, "1.0e+100"}, {-2.5, "-2.5"},
		{123456789012345.6, "123456789012345.6"}, {math.Inf(1), ".inf"}, {math.Inf(-1), "-.inf"}, {math.NaN(), ".nan"},
	}
	for _, tt := range tests {
		if got := pyFloat(tt.in); got != tt.want {
			t.Errorf("pyFloat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestResolvesAsString(t *testing.T) {
	tests := map[string]bool{
		"hello": true, "": false, "~": false, "null": false, "Null": false, "nULL": true,
		"yes": false, "Y": true, "on": false, "off": false, "true": false, "tRUE": true,
		"12345": false, "0x1F": false, "017": false, "0b101": false, "1_000": false, "190:20:30": false,
		"1.5": false, "1.": false, ".5": false, "1e5": true, "1.0e+5": false, ".inf": false, "-.Inf": false, ".NaN": false,
		"2025-02-15": false, "2025-02-15T10:30:00+00:00": false, "2025-2-5 1:02:03": false, "2025-2-5": true,
		"<<": false, "=": false, "12345\n": false, "v1.2": true, "+": true,
	}
	for in, want := range tests {
		if got := resolvesAsString(in); got != want {
			t.Errorf("resolvesAsString(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestPyISOFormat(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2025, 2, 15, 10, 30, 0, 0, time.UTC), "2025-02-15T10:30:00+00:00"},
		{time.Date(2025, 2, 15, 10, 30, 0, 123456789, time.UTC), "2025-02-15T10:30:00.123456+00:00"},
		{time.Date(2025, 2, 15, 10, 30, 0, 0, time.FixedZone("", -5*3600)), "2025-02-15T10:30:00-05:00"},
	}
	for _, tt := range tests {
		if got := PyISOFormat(tt.in); got != tt.want {
			t.Errorf("PyISOFormat(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestValidNotePath(t *testing.T) {
	tests := map[string]bool{
		"emails/personal/2025_02_15_10_30_00__abc_example.com.md": true,
		"services/gemini/web_research/x.md":                       true,
		"a.md":                                                    true,
		"":                                                        false,
		"../x.md":                                                 false,
		"a/../../x.md":                                            false,
		"a/../x.md":                                               false,
		"/etc/x.md":                                               false,
		"a//x.md":                                                 false,
		"./x.md":                                                  false,
		"a/x.md/":                                                 false,
		".git/x.md":                                               false,
		"a/.hidden.md":                                            false,
		"a\\x.md":                                                 false,
		"x.txt":                                                   false,
		"x.md\x00":                                                false,
	}
	for p, want := range tests {
		err := ValidNotePath(p)
		if (err == nil) != want {
			t.Errorf("ValidNotePath(%q) = %v, want ok=%v", p, err, want)
		}
		if err != nil && !errors.Is(err, ErrBadPath) {
			t.Errorf("ValidNotePath(%q) error %v does not wrap ErrBadPath", p, err)
		}
	}
}
