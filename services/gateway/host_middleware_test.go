package gateway

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
)

// doHost sends a request with the given Host header.
func doHost(t *testing.T, method, rawURL, host string, header map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, rawURL, host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestHostCheck: a Host that is not loopback or listed in gateway.hosts is
// refused with 421 on every route (DNS rebinding), pages and assets included.
func TestHostCheck(t *testing.T) {
	var current atomic.Pointer[config.Config]
	cfg := testConfig()
	cfg.Gateway.Hosts = []string{"steward.home.lan", "pi.local:8443", "[fd00::1]"}
	current.Store(cfg)
	e := startGateway(t, current.Load, config.Secret{})
	u, err := url.Parse(e.url)
	if err != nil {
		t.Fatal(err)
	}
	port := u.Port()
	misdirected := `{"detail":` + jsonString(detailMisdirected) + `}`

	paths := []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/integrations"},
		{"POST", "/integrations/email.personal/run"},
		{"GET", "/api/tasks/5_x"},
		{"GET", "/api/chat/conversations"},
		{"GET", "/ui/chat"},
		{"GET", "/ui/static/chat.js"},
		{"GET", "/metrics"},
		{"GET", "/nope"},
	}
	for _, tt := range []struct {
		host    string
		allowed bool
	}{
		{"127.0.0.1:" + port, true},
		{"127.0.0.1", true},
		{"127.1.2.3:" + port, true},
		{"localhost:" + port, true},
		{"LocalHost:" + port, true},
		{"[::1]:" + port, true},
		{"steward.home.lan:" + port, true},
		{"steward.home.lan", true},
		{"Steward.Home.Lan.:" + port, true},
		{"pi.local:8443", true},
		{"[fd00::1]:" + port, true},
		{"evil.example:" + port, false},
		{"evil.example", false},
		{"pi.local:" + port, false},
		{"localhost.evil.example:" + port, false},
		{"127.0.0.1.nip.io:" + port, false},
		{"steward.home.lan.evil.example", false},
		{"192.168.1.20:" + port, false},
		{"[fd00::2]:" + port, false},
	} {
		for _, p := range paths {
			status, body := doHost(t, p.method, e.url+p.path, tt.host, nil)
			if tt.allowed && status == http.StatusMisdirectedRequest {
				t.Errorf("Host %s: %s %s refused: %s", tt.host, p.method, p.path, body)
			}
			if !tt.allowed && (status != http.StatusMisdirectedRequest || !jsonEqual(t, body, misdirected)) {
				t.Errorf("Host %s: %s %s = %d %.100s, want 421", tt.host, p.method, p.path, status, body)
			}
		}
	}

	t.Run("reload", func(t *testing.T) {
		if status, _ := doHost(t, "GET", e.url+"/integrations", "new.home.lan", nil); status != 421 {
			t.Fatalf("before reload: %d", status)
		}
		next := testConfig()
		next.Gateway.Hosts = []string{"new.home.lan"}
		current.Store(next)
		if status, body := doHost(t, "GET", e.url+"/integrations", "new.home.lan", nil); status != 200 {
			t.Errorf("after reload: %d %s", status, body)
		}
	})

	t.Run("no Host header", func(t *testing.T) {
		conn, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, "GET /integrations HTTP/1.0\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMisdirectedRequest {
			t.Errorf("HTTP/1.0 without Host = %d, want 421", resp.StatusCode)
		}
	})
	if !strings.Contains(e.logs.String(), "Request for an unknown host refused") {
		t.Errorf("refused host not logged:\n%.2000s", e.logs)
	}
}

// TestHostCheckWithToken: the public UI pages are refused for an unknown
// Host too, although they need no token.
func TestHostCheckWithToken(t *testing.T) {
	e := startGateway(t, staticConfig(testConfig()), config.NewSecret("host-test-token", ""))
	u, _ := url.Parse(e.url)
	for _, path := range []string{"/ui/chat", "/ui/static/chat.js"} {
		if status, body := doHost(t, "GET", e.url+path, "rebound.example:"+u.Port(), nil); status != 421 {
			t.Errorf("GET %s = %d %s, want 421", path, status, body)
		}
		if status, _ := doHost(t, "GET", e.url+path, u.Host, nil); status != 200 {
			t.Errorf("GET %s from loopback = %d, want 200", path, status)
		}
	}
}

func TestHostAllowed(t *testing.T) {
	allowed := []string{"steward.home.lan", "pi.local:8443", "10.0.0.5", "[fd00::1]:6767", "bad entry!"}
	for _, tt := range []struct {
		host string
		want bool
	}{
		{"127.0.0.1:6767", true},
		{"127.255.255.254", true},
		{"[::1]", true},
		{"[::1]:6767", true},
		{"localhost", true},
		{"localhost.:1", true},
		{"steward.home.lan:1234", true},
		{"pi.local:8443", true},
		{"pi.local", false},
		{"pi.local:8444", false},
		{"10.0.0.5:6767", true},
		{"[fd00::1]:6767", true},
		{"[fd00::1]:6768", false},
		{"fd00::1", false},
		{"", false},
		{":6767", false},
		{"bad entry!", false},
		{"0.0.0.0:6767", false},
		{"[::]:6767", false},
		{"127.0.0.1.evil.example", false},
		{strings.Repeat("a", 400), false},
	} {
		if got := hostAllowed(tt.host, allowed); got != tt.want {
			t.Errorf("hostAllowed(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}
