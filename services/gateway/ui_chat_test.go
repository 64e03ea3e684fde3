package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stewardhq/steward/internal/config"
)

func TestChatPage(t *testing.T) {
	e := startChatEnv(t, chatEnvOptions{})
	status, header, body := do(t, "GET", e.url+"/ui/chat", nil, nil)
	page := string(body)
	if status != 200 || !strings.HasPrefix(header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /ui/chat = %d %s", status, header.Get("Content-Type"))
	}
	for _, want := range []string{
		"<!DOCTYPE html>", `data-theme="dark"`, "<title>Steward — Chat</title>", "ALPHA",
		`<a href="/ui/chat" aria-current="page">Chat</a>`,
		`id="conversation"`, `id="new-conversation"`, `id="messages"`, `id="thinking"`, `id="input"`,
		`name="viewport"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Only pages that exist are linked.
	for _, dead := range []string{`href="/ui/config"`, `href="/ui/queue"`, `href="/ui/logs"`} {
		if strings.Contains(page, dead) {
			t.Errorf("page links %s, which does not exist", dead)
		}
	}
	// No CDN, no inline script: every script and stylesheet is embedded.
	if strings.Contains(page, "http://") || strings.Contains(page, "https://") || strings.Contains(page, "//cdn") {
		t.Errorf("page references another origin:\n%s", page)
	}
	if regexp.MustCompile(`<script>|<script [^>]*>[^<]`).MatchString(page) || strings.Contains(page, "style=") {
		t.Errorf("page has inline script or style:\n%s", page)
	}
	csp := header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "script-src 'self'") || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP = %q", csp)
	}
	if header.Get("X-Content-Type-Options") != "nosniff" || header.Get("Cache-Control") != "no-store" {
		t.Errorf("headers = %v", header)
	}

	// Every asset the page links to is served, with its type and a validator.
	assets := regexp.MustCompile(`(?:src|href)="(/ui/static/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(assets) != 2 {
		t.Fatalf("assets = %v", assets)
	}
	for _, a := range assets {
		url := strings.ReplaceAll(a[1], "&amp;", "&")
		status, h, b := do(t, "GET", e.url+url, nil, nil)
		if status != 200 || len(b) == 0 || h.Get("ETag") == "" {
			t.Errorf("GET %s = %d (%d bytes, ETag %q)", url, status, len(b), h.Get("ETag"))
		}
		ct := h.Get("Content-Type")
		if (strings.Contains(url, ".js") && !strings.Contains(ct, "javascript")) || (strings.Contains(url, ".css") && !strings.HasPrefix(ct, "text/css")) {
			t.Errorf("%s: Content-Type %q", url, ct)
		}
		status, _, _ = do(t, "GET", e.url+url, nil, map[string]string{"If-None-Match": h.Get("ETag")})
		if status != http.StatusNotModified {
			t.Errorf("revalidating %s = %d, want 304", url, status)
		}
	}
	for _, p := range []string{"/ui/static/nope.js", "/ui/static/", "/ui/static/../templates/chat.html", "/ui/static/%2e%2e%2ftemplates%2fchat.html"} {
		status, h, b := do(t, "GET", e.url+p, nil, nil)
		if status != 404 || h.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s = %d %s", p, status, b)
		}
	}

	// Opening the page creates no conversation.
	list, err := e.svc.List(context.Background())
	if err != nil || len(list) != 0 {
		t.Errorf("conversations after opening the page: %v %v", list, err)
	}
}

func TestChatScriptEscapesText(t *testing.T) {
	// The browser test shows markup staying text; this guards the source too:
	// message text never goes through innerHTML or similar.
	js, err := uiFiles.ReadFile("ui/static/chat.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("chat.js uses %s", bad)
		}
	}
}

func TestPublicUIRequests(t *testing.T) {
	for _, tt := range []struct {
		method, path string
		public       bool
	}{
		{"GET", "/ui/chat", true},
		{"HEAD", "/ui/chat", true},
		{"GET", "/ui/static/chat.js", true},
		{"GET", "/ui/static/steward.css", true},
		{"POST", "/ui/chat", false},
		{"GET", "/ui/static/a/b.js", false},
		{"GET", "/ui/chat/x", false},
		{"GET", "/api/chat/conversations", false},
		{"GET", "/ui/", false},
		{"GET", "/", false},
	} {
		r := httptest.NewRequest(tt.method, tt.path, nil)
		if got := isPublicUIRequest(r); got != tt.public {
			t.Errorf("%s %s public = %v, want %v", tt.method, tt.path, got, tt.public)
		}
	}
}

func TestUIRedirectsToChat(t *testing.T) {
	h := New(Options{Config: func() *config.Config { return &config.Config{} }})
	for _, p := range []string{"/ui", "/ui/"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1"+p, nil))
		if rec.Code != http.StatusFound || rec.Header().Get("Location") != "/ui/chat" {
			t.Errorf("%s: %d %q", p, rec.Code, rec.Header().Get("Location"))
		}
	}
}
