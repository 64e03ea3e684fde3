package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzReadStringField sends arbitrary JSON bodies to the two endpoints that
// read one: nothing panics, every refusal is a 4xx JSON detail of bounded
// length, and an option outside the id grammar never reaches the chat service
// (stubChat fails the test).
func FuzzReadStringField(f *testing.F) {
	for _, s := range []string{
		`{"content":"hi","option":"approve"}`, `{"option":"reject"}`, `{"option":null}`, `{"option":1}`,
		`{"option":"a b"}`, `{"option":"` + strings.Repeat("x", 5000) + `"}`, `[]`, `null`, `"x"`, `{`, ``,
		`{"content":"` + strings.Repeat("y", 2000) + `"}`, `{"content":"\u0000"}`, `{"option":"\ud800"}`,
	} {
		f.Add([]byte(s))
	}
	stub := &stubChat{tb: f}
	h := New(Options{Chat: stub, MaxBodyBytes: 64 << 10})
	f.Fuzz(func(t *testing.T, body []byte) {
		stub.tb = t
		for _, path := range []string{
			"/api/chat/conversations/" + knownConversation + "/messages",
			"/api/chat/conversations/" + knownConversation + "/proposals/0badc0de",
		} {
			req := httptest.NewRequest(http.MethodPost, "http://127.0.0.1"+path, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK && (rec.Code < 400 || rec.Code >= 500) {
				t.Errorf("POST %s: status %d", path, rec.Code)
			}
			if rec.Code == http.StatusOK {
				continue
			}
			var reply errorBody
			if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil || reply.Detail == "" {
				t.Errorf("POST %s: reply is not {\"detail\": ...}: %.200s", path, rec.Body)
			}
			if len(reply.Detail) > 200 {
				t.Errorf("POST %s: detail of %d bytes", path, len(reply.Detail))
			}
		}
	})
}
