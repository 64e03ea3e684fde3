package msg

import (
	"errors"
	"strings"
	"testing"
)

func TestIDGrammarIsBounded(t *testing.T) {
	long := strings.Repeat("A", 4100)
	cases := []struct {
		name string
		ok   bool
		got  bool
	}{
		{"task id", true, ValidTaskID("5_20260101T000000Z_0123456789abcdef--01234567--email.inbox.check")},
		{"task id at the bound", true, ValidTaskID(strings.Repeat("a", MaxIDLen))},
		{"task id past the bound", false, ValidTaskID(strings.Repeat("a", MaxIDLen+1))},
		{"task id 4100", false, ValidTaskID(long)},
		{"task id empty", false, ValidTaskID("")},
		{"task id wildcard", false, ValidTaskID("a.>")},
		{"task id double dot", false, ValidTaskID("a..b")},
		{"task id trailing dot", false, ValidTaskID("a.")},
		{"task id space", false, ValidTaskID("a b")},
		{"lane", true, ValidLane("llm_default")},
		{"lane long", false, ValidLane(strings.Repeat("l", MaxTokenLen+1))},
		{"lane dot", false, ValidLane("a.b")},
		{"type", true, ValidTaskType("email.inbox.check")},
		{"type long", false, ValidTaskType(strings.Repeat("t.", MaxTaskTypeLen/2) + "t")},
		{"type long token", false, ValidTaskType(strings.Repeat("t", MaxTokenLen+1))},
		{"type empty token", false, ValidTaskType("a..b")},
		{"key", true, ValidKey("email_personal.inbox.abc-0123456789abcdef")},
		{"key long", false, ValidKey(strings.Repeat("k", MaxKeyLen+1))},
		{"key wildcard", false, ValidKey("a.*")},
		{"key slash", false, ValidKey("a/b")},
		{"key empty token", false, ValidKey("a..b")},
	}
	for _, c := range cases {
		if c.got != c.ok {
			t.Errorf("%s: valid = %v, want %v", c.name, c.got, c.ok)
		}
	}
}

func TestCheckErrorsQuoteAShortPrefix(t *testing.T) {
	long := strings.Repeat("A", 4100)
	for _, err := range []error{CheckTaskID(long), CheckKey(long)} {
		if !errors.Is(err, ErrInvalidID) {
			t.Fatalf("err = %v, want ErrInvalidID", err)
		}
		if len(err.Error()) > 300 || !strings.Contains(err.Error(), "4100 bytes") {
			t.Errorf("error is not a short quote: %d chars: %.120s", len(err.Error()), err)
		}
	}
	if CheckTaskID("abc") != nil || CheckKey("a.b") != nil {
		t.Error("valid ids refused")
	}
	if got := Quote("é" + strings.Repeat("x", 39) + "é"); !strings.Contains(got, "bytes") {
		t.Errorf("Quote = %s", got)
	}
}
