package gateway

import (
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

// TestCrossOriginRefused: a state-changing request a browser sends from
// another origin is refused with 403; clients that send no Origin and no
// Sec-Fetch-Site (curl, scripts, steward chat) and same-origin pages pass.
func TestCrossOriginRefused(t *testing.T) {
	stub := &stubChat{tb: t}
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	chatURL := startHandler(t, New(Options{Chat: stub}), config.Secret{})
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	self := "http://" + u.Host
	forbidden := `{"detail":` + jsonString(detailCrossOrigin) + `}`
	run := "/integrations/email.personal/run"

	for _, tt := range []struct {
		name   string
		method string
		path   string
		header map[string]string
		body   string
		want   int
	}{
		{"curl: no Origin, no Sec-Fetch-Site", "POST", run, nil, "", 200},
		{"same origin", "POST", run, map[string]string{"Origin": self}, "", 200},
		{"same origin, Sec-Fetch-Site same-origin", "POST", run, map[string]string{"Origin": self, "Sec-Fetch-Site": "same-origin"}, "", 200},
		{"Sec-Fetch-Site none (typed by the user)", "POST", run, map[string]string{"Sec-Fetch-Site": "none"}, "", 200},
		{"same origin, upper case", "POST", run, map[string]string{"Origin": strings.ToUpper(self)}, "", 200},
		{"the issue's request", "POST", run, map[string]string{"Origin": "https://evil.example", "Content-Type": "text/plain"}, "x", 403},
		{"other origin", "POST", run, map[string]string{"Origin": "https://evil.example"}, "", 403},
		{"other origin with JSON", "POST", run, map[string]string{"Origin": "http://evil.example", "Content-Type": "application/json"}, "{}", 403},
		{"other port of loopback", "POST", run, map[string]string{"Origin": "http://127.0.0.1:1"}, "", 403},
		{"localhost is another origin", "POST", run, map[string]string{"Origin": "http://localhost:" + u.Port()}, "", 403},
		{"null origin", "POST", run, map[string]string{"Origin": "null"}, "", 403},
		{"file origin", "POST", run, map[string]string{"Origin": "file://" + u.Host}, "", 403},
		{"garbage origin", "POST", run, map[string]string{"Origin": "::"}, "", 403},
		{"cross-site", "POST", run, map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403},
		{"same-site", "POST", run, map[string]string{"Sec-Fetch-Site": "same-site"}, "", 403},
		{"same-origin claimed, other Origin", "POST", run, map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, "", 403},
		{"DELETE cross-site", "DELETE", run, map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403},
		{"PUT other origin", "PUT", "/integrations", map[string]string{"Origin": "https://evil.example"}, "", 403},
		{"GET is not state-changing", "GET", "/integrations", map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}, "", 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var body *strings.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			var status int
			var b []byte
			if body != nil {
				status, _, b = do(t, tt.method, e.url+tt.path, body, tt.header)
			} else {
				status, _, b = do(t, tt.method, e.url+tt.path, nil, tt.header)
			}
			if status != tt.want {
				t.Fatalf("status %d, want %d (%s)", status, tt.want, b)
			}
			if tt.want == 403 && !jsonEqual(t, b, forbidden) {
				t.Errorf("reply %s", b)
			}
		})
	}

	t.Run("approving a proposal from another site", func(t *testing.T) {
		status, _, b := do(t, "POST", chatURL+"/api/chat/conversations/"+knownConversation+"/proposals/0badc0de",
			strings.NewReader(`{"option":"approve"}`),
			map[string]string{"Origin": "https://evil.example", "Content-Type": "application/json", "Sec-Fetch-Site": "cross-site"})
		if status != http.StatusForbidden {
			t.Errorf("status %d (%s), want 403", status, b)
		}
		if n := stub.called(); n != 0 {
			t.Errorf("the chat service was called %d times", n)
		}
	})
	if !strings.Contains(e.logs.String(), "Cross-origin request refused") {
		t.Errorf("refusal not logged:\n%.2000s", e.logs)
	}
}

func TestOriginMatchesHost(t *testing.T) {
	for _, tt := range []struct {
		origin, host string
		tls          bool
		want         bool
	}{
		{"http://127.0.0.1:6767", "127.0.0.1:6767", false, true},
		{"http://steward.home.lan", "steward.home.lan:80", false, true},
		{"https://steward.home.lan", "steward.home.lan:443", true, true},
		{"https://steward.home.lan", "steward.home.lan", false, true}, // behind a TLS-terminating proxy
		{"http://steward.home.lan:6767", "steward.home.lan:6768", false, false},
		{"http://127.0.0.1:6767/", "127.0.0.1:6767", false, true},
		{"http://127.0.0.1:6767/x", "127.0.0.1:6767", false, false},
		{"http://u@127.0.0.1:6767", "127.0.0.1:6767", false, false},
		{"ws://127.0.0.1:6767", "127.0.0.1:6767", false, false},
		{"null", "127.0.0.1:6767", false, false},
		{"http://", "", false, false},
	} {
		r, err := http.NewRequest("POST", "http://"+tt.host+"/", nil)
		if err != nil {
			r, _ = http.NewRequest("POST", "http://127.0.0.1/", nil)
		}
		r.Host = tt.host
		r.Header.Set("Origin", tt.origin)
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := originMatchesHost(r); got != tt.want {
			t.Errorf("Origin %q, Host %q, TLS %v: %v, want %v", tt.origin, tt.host, tt.tls, got, tt.want)
		}
	}
}
