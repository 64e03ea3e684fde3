package message

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestSanitizeID(t *testing.T) {
	tests := map[string]string{
		"<abc@example.com>":              "abc_example.com",
		"<abc+tag@example.com>":          "abc_tag_example.com",
		"<CABcd.123-xyz@mail.gmail.com>": "CABcd.123-xyz_mail.gmail.com",
		"":                               "",
		"  <abc@example.com>  ":          "abc_example.com",
		"<<>>":                           "",
		"<a>b>":                          "a_b",
		"<ü@x>":                          "__x", // per code point, not per byte
		"a/b\\c:d":                       "a_b_c_d",
		"../../etc/passwd":               ".._.._etc_passwd",
	}
	for in, want := range tests {
		if got := SanitizeID(in); got != want {
			t.Errorf("SanitizeID(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNoteFileName(t *testing.T) {
	at := time.Date(2025, 2, 15, 10, 30, 5, 0, time.FixedZone("", -8*3600))
	tests := []struct {
		name string
		m    *Message
		uid  uint32
		want string
	}{
		{"message-id, own offset", &Message{MessageID: "<abc@example.com>", Date: at}, 7, "2025_02_15_10_30_05__abc_example.com.md"},
		{"no message-id", &Message{Date: at}, 37001, "2025_02_15_10_30_05__imap_37001.md"},
		{"empty after sanitising", &Message{MessageID: "<>", Date: at}, 9, "2025_02_15_10_30_05__imap_9.md"},
		{"fallback date", &Message{MessageID: "<a@b>", Date: FallbackDate()}, 1, "1900_01_01_00_00_00__a_b.md"},
		{"nil message", nil, 3, "1900_01_01_00_00_00__imap_3.md"},
	}
	for _, tt := range tests {
		if got := NoteFileName(tt.m, tt.uid); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	// Long ids are cut with a hash, distinct and within file-name limits.
	a := NoteFileName(&Message{MessageID: "<" + strings.Repeat("x", 300) + "a@b>", Date: at}, 1)
	b := NoteFileName(&Message{MessageID: "<" + strings.Repeat("x", 300) + "b@b>", Date: at}, 1)
	if a == b || len(a) > 255 || !strings.HasSuffix(a, ".md") || !strings.HasPrefix(a, "2025_02_15_10_30_05__xxx") {
		t.Errorf("long ids: %q (%d), %q", a, len(a), b)
	}
	m := load(t, "personal.eml")
	if got := NoteFileName(m, 102); got != "2025_03_03_09_15_02__CABcd.123-xyz_mail.gmail.com.md" {
		t.Errorf("fixture: %q", got)
	}
}

func TestKey(t *testing.T) {
	if Key(&Message{MessageID: "<a@b>"}, 5) != "<a@b>" || Key(&Message{}, 5) != "imap_5" || Key(nil, 6) != "imap_6" {
		t.Error("Key")
	}
}

func TestParseWindow(t *testing.T) {
	ok := map[string]int{"7d": 7, "30d": 30, "1d": 1, "  7d  ": 7, "30 d": 30, "7D": 7, "0d": 0, "007d": 7, "100000d": 100000, "5\td": 5}
	for in, want := range ok {
		if got, err := ParseWindow(in); err != nil || got != want {
			t.Errorf("ParseWindow(%q) = %d, %v", in, got, err)
		}
	}
	for _, in := range []string{"24h", "60m", "abc", "", "d", "-7d", "7", "7dd", "7 days", "1.5d", "٣d", "100001d", "99999999999999999999d"} {
		_, err := ParseWindow(in)
		if err == nil || !strings.HasPrefix(err.Error(), "Invalid window format: '"+in+"'") || !strings.Contains(err.Error(), "'7d'") || !strings.Contains(err.Error(), "'30d'") {
			t.Errorf("ParseWindow(%q) err = %v", in, err)
		}
	}
}

func TestPromptFields(t *testing.T) {
	m := load(t, "personal.eml")
	f := PromptFields(m)
	want := [][2]string{
		{"from_address", "Bob.Miller@Corp.com"},
		{"from_name", "Bob Miller"},
		{"to_address", "me@example.org"},
		{"subject", "Lunch on Thursday?"},
		{"date", "2025-03-03 09:15:02-08:00"},
		{"contents", m.Text},
	}
	if len(f) != len(want) {
		t.Fatalf("fields %+v", f)
	}
	for i, w := range want {
		if f[i].Name != w[0] || f[i].Text != w[1] {
			t.Errorf("field %d = %+v, want %v", i, f[i], w)
		}
	}
	if g := PromptFields(nil); len(g) != 6 || g[4].Text != "0001-01-01 00:00:00+00:00" {
		t.Errorf("nil message: %+v", g)
	}
}

func TestTruncateBody(t *testing.T) {
	exact := strings.Repeat("é", MaxPromptBody)
	if TruncateBody(exact) != exact {
		t.Error("a body of exactly 5000 characters is cut")
	}
	long := strings.Repeat("é", MaxPromptBody) + "tail"
	got := TruncateBody(long)
	if got != exact+"\n... (body truncated)" || utf8.RuneCountInString(strings.TrimSuffix(got, TruncatedMarker)) != MaxPromptBody {
		t.Errorf("truncated to %d runes", utf8.RuneCountInString(got))
	}
	m := &Message{Text: long}
	if PromptFields(m)[5].Text != got {
		t.Error("contents field is truncated")
	}
}

func TestShortSubject(t *testing.T) {
	tests := map[string]string{
		"":                                 "",
		"short":                            "short",
		strings.Repeat("a", 25):            strings.Repeat("a", 25),
		strings.Repeat("a", 26):            strings.Repeat("a", 25) + "…",
		"Grüße aus Köln und überall sonst": "Grüße aus Köln und überal…",
	}
	for in, want := range tests {
		if got := ShortSubject(in); got != want {
			t.Errorf("ShortSubject(%q) = %q, want %q", in, got, want)
		}
	}
}
