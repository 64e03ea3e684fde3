package llm

import (
	"net/http"
	"testing"
	"time"
)

func TestKindForStatus(t *testing.T) {
	for code, want := range map[int]Kind{
		400: Permanent, 401: Permanent, 403: Permanent, 404: Permanent, 413: Permanent, 422: Permanent,
		408: Transient, 425: Transient, 429: Transient, 500: Transient, 502: Transient, 503: Transient, 504: Transient,
	} {
		if got := kindForStatus(code); got != want {
			t.Errorf("kindForStatus(%d) = %s, want %s", code, got, want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)
	tests := map[string]time.Duration{
		"":      0,
		"7":     7 * time.Second,
		" 120 ": 2 * time.Minute,
		"0":     0,
		"-3":    0,
		"soon":  0,
		now.Add(90 * time.Second).Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Hour).Format(http.TimeFormat):       0,
	}
	for in, want := range tests {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestBackendMessage(t *testing.T) {
	tests := []struct{ body, want string }{
		{`{"error":{"message":"model not found","type":"invalid_request_error"}}`, "model not found"},
		{`{"error":"model 'x' not found"}`, "model 'x' not found"},
		{`{"message":"bad"}`, "bad"},
		{"plain text\nsecond line", "plain text"},
		{"<html>502 Bad Gateway</html>", ""},
		{`{"error":{"message":"key tok-123 rejected"}}`, "key ******** rejected"},
		{`{"error":{"message":"a\u0007b\r\nc"}}`, "ab"},
	}
	for _, tt := range tests {
		if got := backendMessage([]byte(tt.body), "tok-123"); got != tt.want {
			t.Errorf("backendMessage(%q) = %q, want %q", tt.body, got, tt.want)
		}
	}
	long := make([]byte, 500)
	for i := range long {
		long[i] = 'x'
	}
	if got := backendMessage(long, ""); len([]rune(got)) != maxQuoted+1 {
		t.Errorf("long message not cut: %d runes", len([]rune(got)))
	}
}
