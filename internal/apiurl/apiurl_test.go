package apiurl_test

import (
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/apiurl"
)

func TestCheck(t *testing.T) {
	plain := apiurl.Wording{Example: "https://api.example.com", Secret: "the token"}
	hinted := apiurl.Wording{Example: "https://api.example.com", Secret: "the API key", Hint: "the API key goes in api_key"}
	quoted := apiurl.Wording{Example: "https://api.example.com", Secret: "the token", Quote: strings.ToUpper}
	long := strings.Repeat("h", 100) + ".example"
	tests := []struct {
		name string
		raw  string
		w    apiurl.Wording
		want string // "" = valid; otherwise the whole message
	}{
		{"https", "https://api.example.com", plain, ""},
		{"https with a path", "https://ghe.example.com/api/v3", plain, ""},
		{"http to 127.0.0.1", "http://127.0.0.1:8080", plain, ""},
		{"http to localhost", "http://LocalHost:1", plain, ""},
		{"http to ::1", "http://[::1]:9", plain, ""},
		{"no scheme", "api.example.com", plain, "want an https URL such as https://api.example.com"},
		{"other scheme", "ftp://api.example.com", plain, "want an https URL such as https://api.example.com"},
		{"no host", "https:///v1", plain, "want an https URL such as https://api.example.com"},
		{"unparsable", "https://a b.example\x00", plain, "want an https URL such as https://api.example.com"},
		{"user", "https://user:pw@api.example.com", plain, "must not hold a user or password"},
		{"user, hinted", "https://user:pw@api.example.com", hinted, "must not hold a user or password (the API key goes in api_key)"},
		{"query", "https://api.example.com?x=1", plain, "must not hold a query or fragment"},
		{"fragment, hinted", "https://api.example.com#f", hinted, "must not hold a query or fragment (the API key goes in api_key)"},
		{"http beyond loopback", "http://api.example.com", hinted,
			"plain http would send the API key unencrypted; use https (http only for a loopback stand-in, got host api.example.com)"},
		{"http to a loopback name", "http://localhost.example.com", plain,
			"plain http would send the token unencrypted; use https (http only for a loopback stand-in, got host localhost.example.com)"},
		{"host quoted", "http://api.example.com", quoted,
			"plain http would send the token unencrypted; use https (http only for a loopback stand-in, got host API.EXAMPLE.COM)"},
		{"host clipped", "http://" + long, plain,
			"plain http would send the token unencrypted; use https (http only for a loopback stand-in, got host " + long[:80] + "…)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := apiurl.Check(tc.raw, tc.w)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Check(%q) = %v, want nil", tc.raw, err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("Check(%q) = %v, want %q", tc.raw, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "pw") {
				t.Errorf("password quoted: %v", err)
			}
		})
	}
}

func TestClip(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{strings.Repeat("x", 80), strings.Repeat("x", 80)},
		{strings.Repeat("x", 81), strings.Repeat("x", 80) + "…"},
		{strings.Repeat("é", 81), strings.Repeat("é", 80) + "…"},
	}
	for _, tc := range tests {
		if got := apiurl.Clip(tc.in); got != tc.want {
			t.Errorf("Clip(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
