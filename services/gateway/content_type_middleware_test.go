package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

// chunked hides a reader's length, so the request is sent chunked.
type chunked struct{ io.Reader }

// TestJSONBodyRequired: a request body that is not declared as JSON is refused
// with 415 (a cross-site form or text/plain post needs no CORS preflight); a
// POST without a body needs no content type.
func TestJSONBodyRequired(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.Secret{})
	stub := &stubChat{tb: t}
	chatURL := startHandler(t, New(Options{Chat: stub}), config.Secret{})
	unsupported := `{"detail":` + jsonString(detailJSONOnly) + `}`
	run := e.url + "/integrations/email.personal/run"
	send := chatURL + "/api/chat/conversations/" + knownConversation + "/messages"

	for _, tt := range []struct {
		name        string
		url         string
		contentType string
		body        io.Reader
		want        int
	}{
		{"no body, no content type (curl -X POST)", run, "", nil, 200},
		{"empty body, text/plain", run, "text/plain", strings.NewReader(""), 200},
		{"JSON", run, "application/json", strings.NewReader("{}"), 200},
		{"JSON with charset", run, "application/json; charset=utf-8", strings.NewReader("{}"), 200},
		{"JSON in capitals", run, "Application/JSON", strings.NewReader("{}"), 200},
		{"text/plain", run, "text/plain", strings.NewReader("x"), 415},
		{"form", run, "application/x-www-form-urlencoded", strings.NewReader("a=b"), 415},
		{"multipart", run, "multipart/form-data; boundary=x", strings.NewReader("--x--"), 415},
		{"body without content type", run, "", strings.NewReader("{}"), 415},
		{"json-like type", run, "application/jsonp", strings.NewReader("{}"), 415},
		{"malformed type", run, "application/json;;", strings.NewReader("{}"), 415},
		{"chunked text/plain", run, "text/plain", chunked{strings.NewReader("x")}, 415},
		{"chat message as text/plain", send, "text/plain", strings.NewReader(`{"content":"hi"}`), 415},
		{"chat message as a form", send, "application/x-www-form-urlencoded", strings.NewReader(`{"content":"hi"}`), 415},
		{"chat message as JSON", send, "application/json", strings.NewReader(`{"content":"hi"}`), 200},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := stub.called()
			hdr := map[string]string{}
			if tt.contentType != "" {
				hdr["Content-Type"] = tt.contentType
			}
			status, _, b := do(t, "POST", tt.url, tt.body, hdr)
			if status != tt.want {
				t.Fatalf("status %d, want %d (%s)", status, tt.want, b)
			}
			if status == http.StatusUnsupportedMediaType {
				if !jsonEqual(t, b, unsupported) {
					t.Errorf("reply %s", b)
				}
				if stub.called() != before {
					t.Error("the refused body reached the chat service")
				}
			}
		})
	}
}
