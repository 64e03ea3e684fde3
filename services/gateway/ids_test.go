package gateway

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/stewardhq/steward/integrations/builtin"
	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/msg"
)

// goodParams are well-formed values of every route parameter.
var goodParams = map[string]string{
	"integrationID":  "email.personal",
	"platform":       "inbox",
	"taskID":         "5_20260101T000000Z_0000000000000000",
	"chatTaskID":     "1_20260101T000000Z_0000000000000000",
	"conversationID": knownConversation,
	"proposalID":     "0badc0de",
	"name":           "chat.js",
}

// paramRE finds the parameters of a chi route pattern.
var paramRE = regexp.MustCompile(`\{([^}:]+)(:[^}]*)?\}`)

// gatewayRoutes returns every method and pattern the gateway routes.
func gatewayRoutes(t *testing.T) [][2]string {
	t.Helper()
	h := New(Options{Metrics: prometheus.NewRegistry()})
	var out [][2]string
	err := chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, [2]string{method, route})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestEveryRouteParamHasARule(t *testing.T) {
	routes := gatewayRoutes(t)
	if len(routes) < 10 {
		t.Fatalf("walked %d routes", len(routes))
	}
	for _, rt := range routes {
		for _, m := range paramRE.FindAllStringSubmatch(rt[1], -1) {
			if _, ok := paramRule(m[1]); !ok {
				t.Errorf("%s %s: parameter {%s} has no rule in paramRule", rt[0], rt[1], m[1])
			}
			if _, ok := goodParams[m[1]]; !ok {
				t.Errorf("%s %s: parameter {%s} has no value in goodParams", rt[0], rt[1], m[1])
			}
		}
	}
}

// TestBadIDsRefused sends, over a real listener to a gateway with a real NATS,
// every route with each parameter in turn replaced by a malformed value (a
// 4100-byte id once made NATS drop the connection): each is answered like an
// unknown id (404; 400 for a proposal) with a short JSON detail, no malformed id
// reaches the chat service (stubChat fails the test), and the bus is still
// connected afterwards.
func TestBadIDsRefused(t *testing.T) {
	bus := startBus(t, nil)
	stub := &stubChat{tb: t}
	h := New(Options{Config: staticConfig(testConfig()), Registry: builtin.Registry(), Bus: bus, Chat: stub})
	base := startHandler(t, h, config.Secret{})

	bad := []string{
		strings.Repeat("A", 4100),
		strings.Repeat("a.", 150) + "a",
		"a b", "a/b", "a\x00b", "a*", "a>", "ü", "x.",
	}
	longRun := strings.Repeat("A", maxShownID+1)
	for _, rt := range gatewayRoutes(t) {
		params := paramRE.FindAllStringSubmatch(rt[1], -1)
		for _, p := range params {
			for _, value := range bad {
				path := paramRE.ReplaceAllStringFunc(rt[1], func(s string) string {
					name := paramRE.FindStringSubmatch(s)[1]
					if name == p[1] {
						return url.PathEscape(value)
					}
					return goodParams[name]
				})
				var body *strings.Reader
				hdr := map[string]string{}
				if rt[0] == http.MethodPost {
					body = strings.NewReader(`{"content":"hi","option":"approve"}`)
					hdr["Content-Type"] = "application/json"
				}
				var status int
				var respBody []byte
				if body != nil {
					status, _, respBody = do(t, rt[0], base+path, body, hdr)
				} else {
					status, _, respBody = do(t, rt[0], base+path, nil, hdr)
				}
				name := rt[0] + " " + rt[1] + " {" + p[1] + "}=" + msg.Quote(value)
				want := http.StatusNotFound
				if p[1] == "proposalID" {
					want = http.StatusBadRequest // of a known conversation, as for an unknown proposal
				}
				if status != want {
					t.Errorf("%s: status %d, want %d (%.200s)", name, status, want, respBody)
				}
				var reply errorBody
				if err := json.Unmarshal(respBody, &reply); err != nil || reply.Detail == "" {
					t.Errorf("%s: reply is not {\"detail\": ...}: %.200s", name, respBody)
				}
				if len(reply.Detail) > 120 || strings.Contains(reply.Detail, longRun) {
					t.Errorf("%s: detail of %d bytes quotes too much: %.200s…", name, len(reply.Detail), reply.Detail)
				}
			}
		}
	}
	if err := bus.Healthy(); err != nil {
		t.Errorf("bus after the malformed ids: %v", err)
	}
	if status, _, body := do(t, "GET", base+"/", nil, nil); status != 200 {
		t.Errorf("health after the malformed ids = %d %s", status, body)
	}
}

func TestMalformedProposalAndOption(t *testing.T) {
	stub := &stubChat{tb: t}
	base := startHandler(t, New(Options{Chat: stub}), config.Secret{})
	json := map[string]string{"Content-Type": "application/json"}
	long := strings.Repeat("B", 4100)
	conv := "/api/chat/conversations/" + knownConversation
	for _, tt := range []struct {
		name, path, body string
		status           int
		detail           string
	}{
		{"long proposal id", conv + "/proposals/" + long, `{"option":"approve"}`, 400,
			"Proposal " + strings.Repeat("B", maxShownID) + "… not found"},
		{"long proposal id, unknown conversation", "/api/chat/conversations/fedcba9876543210/proposals/" + long,
			`{"option":"approve"}`, 404, "Conversation not found"},
		{"long option", conv + "/proposals/0badc0de", `{"option":"` + long + `"}`, 422,
			"Field 'option' must be an option id (at most 64 letters, digits, '_' and '-'), got '" + strings.Repeat("B", maxShownID) + "…'"},
		{"option with a space", conv + "/proposals/0badc0de", `{"option":"a b"}`, 422,
			"Field 'option' must be an option id (at most 64 letters, digits, '_' and '-'), got 'a b'"},
		{"good option", conv + "/proposals/0badc0de", `{"option":"approve"}`, 200, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, _, b := do(t, "POST", base+tt.path, strings.NewReader(tt.body), json)
			if status != tt.status {
				t.Fatalf("status %d, want %d (%.200s)", status, tt.status, b)
			}
			if tt.detail != "" && !jsonEqual(t, b, `{"detail":`+jsonString(tt.detail)+`}`) {
				t.Errorf("reply %.300s, want detail %q", b, tt.detail)
			}
		})
	}
}

// jsonString encodes s as a JSON string.
func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func TestClipID(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"", ""},
		{"short", "short"},
		{strings.Repeat("x", maxShownID), strings.Repeat("x", maxShownID)},
		{strings.Repeat("x", maxShownID+1), strings.Repeat("x", maxShownID) + "…"},
		{strings.Repeat("x", maxShownID-1) + "üü", strings.Repeat("x", maxShownID-1) + "…"},
	} {
		if got := clipID(tt.in); got != tt.want {
			t.Errorf("clipID(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzValidateID checks the id grammar and the middleware that applies it:
// no value panics, a value the gateway accepts is one msg's grammar accepts
// too, and the reply to any value is a short JSON detail.
func FuzzValidateID(f *testing.F) {
	for _, s := range []string{"email.personal", "inbox", "0badc0de", knownConversation, "5_x", "chat.js",
		"a b", "..", "a.", ".a", "a..b", strings.Repeat("A", 4100), "ü", "\x00", "a/b", "%2F", "*", ">"} {
		f.Add(s)
	}
	stub := &stubChat{tb: f}
	h := New(Options{Config: staticConfig(testConfig()), Registry: builtin.Registry(), Chat: stub})
	f.Fuzz(func(t *testing.T, value string) {
		stub.tb = t
		accepts := map[string]func(string) bool{
			"integrationID":  func(s string) bool { return msg.ValidKey(s) && len(s) <= 2*msg.MaxTokenLen+1 },
			"platform":       msg.ValidLane,
			"taskID":         msg.ValidTaskID,
			"chatTaskID":     msg.ValidTaskID,
			"conversationID": msg.ValidConversationID,
			"proposalID":     msg.ValidLane,
			"name":           func(s string) bool { return s != "" && len(s) <= msg.MaxTokenLen && !strings.Contains(s, "/") },
		}
		for name, msgAccepts := range accepts {
			rule, ok := paramRule(name)
			if !ok {
				t.Fatalf("no rule for %s", name)
			}
			if rule.valid(value) && !msgAccepts(value) {
				t.Errorf("{%s} accepts %s, which msg's grammar refuses", name, msg.Quote(value))
			}
		}
		if validOptionID(value) && !msg.ValidLane(value) {
			t.Errorf("option %s accepted", msg.Quote(value))
		}
		if c := clipID(value); len(c) > maxShownID+len("…") || !strings.HasPrefix(value, strings.TrimSuffix(c, "…")) {
			t.Errorf("clipID(%s) = %q", msg.Quote(value), c)
		}
		if !utf8.ValidString(value) {
			return // a path segment is text; the reply check below needs a valid URL
		}
		for _, path := range []string{
			"/api/tasks/", "/integrations/", "/api/chat/tasks/", "/api/chat/conversations/", "/ui/static/",
			"/api/chat/conversations/" + knownConversation + "/proposals/",
		} {
			method, suffix := http.MethodGet, ""
			switch path {
			case "/integrations/":
				method, suffix = http.MethodPost, "/run"
			case "/api/chat/conversations/":
				suffix = "/history"
			case "/api/chat/conversations/" + knownConversation + "/proposals/":
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, "http://127.0.0.1"+path+url.PathEscape(value)+suffix, nil)
			if method == http.MethodPost {
				req = httptest.NewRequest(method, req.URL.String(), strings.NewReader(`{"option":"approve"}`))
				req.Header.Set("Content-Type", "application/json")
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var reply map[string]any
			if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
				t.Errorf("%s %s: status %d", method, path, rec.Code)
			}
			if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
				if err := json.Unmarshal(rec.Body.Bytes(), &reply); err != nil {
					t.Errorf("%s %s: reply is not JSON: %.200s", method, path, rec.Body)
				}
				if d, _ := reply["detail"].(string); len(d) > 200 {
					t.Errorf("%s %s: detail of %d bytes", method, path, len(d))
				}
			}
		}
	})
}
