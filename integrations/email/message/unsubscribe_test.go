package message

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recorder is a one-click endpoint that records what it received.
type recorder struct {
	mu          sync.Mutex
	method      string
	body        string
	contentType string
	cookie      string
	hits        atomic.Int32
}

func (r *recorder) handler(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.method, r.body, r.contentType, r.cookie = req.Method, string(b), req.Header.Get("Content-Type"), req.Header.Get("Cookie")
		r.mu.Unlock()
		r.hits.Add(1)
		http.SetCookie(w, &http.Cookie{Name: "track", Value: "1"})
		w.WriteHeader(status)
	}
}

func TestUnsubscribePost(t *testing.T) {
	for _, status := range []int{200, 202, 204, 404, 500} {
		var rec recorder
		srv := httptest.NewServer(rec.handler(status))
		got, err := Unsubscribe(context.Background(), srv.Client(), srv.URL+"/unsubscribe?id=123")
		srv.Close()
		if err != nil || got != status {
			t.Fatalf("status %d: got %d, %v", status, got, err)
		}
		if rec.method != http.MethodPost || rec.body != "List-Unsubscribe=One-Click" || rec.contentType != "application/x-www-form-urlencoded" {
			t.Errorf("request: %s %q %q", rec.method, rec.body, rec.contentType)
		}
	}
}

func TestUnsubscribeTLS(t *testing.T) {
	var rec recorder
	srv := httptest.NewTLSServer(rec.handler(200))
	defer srv.Close()
	if got, err := Unsubscribe(context.Background(), srv.Client(), srv.URL+"/u"); err != nil || got != 200 || rec.hits.Load() != 1 {
		t.Fatalf("got %d, %v", got, err)
	}
}

func TestUnsubscribeDoesNotFollowRedirects(t *testing.T) {
	var target recorder
	dst := httptest.NewServer(target.handler(200))
	defer dst.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, dst.URL+"/landing", http.StatusFound)
	}))
	defer src.Close()

	client := src.Client()
	got, err := Unsubscribe(context.Background(), client, src.URL+"/u")
	if err != nil || got != http.StatusFound {
		t.Fatalf("got %d, %v; want 302", got, err)
	}
	if target.hits.Load() != 0 {
		t.Error("the redirect target was requested")
	}
	if client.CheckRedirect != nil {
		t.Error("the caller's client was modified")
	}
	for _, code := range []int{http.StatusMovedPermanently, http.StatusSeeOther, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, dst.URL, code)
		}))
		got, err := Unsubscribe(context.Background(), srv.Client(), srv.URL)
		srv.Close()
		if err != nil || got != code {
			t.Errorf("%d: got %d, %v", code, got, err)
		}
	}
	if target.hits.Load() != 0 {
		t.Error("a redirect was followed")
	}
}

func TestUnsubscribeNoCookies(t *testing.T) {
	var rec recorder
	srv := httptest.NewServer(rec.handler(200))
	defer srv.Close()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(srv.URL)
	jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "secret"}})
	client := &http.Client{Jar: jar}
	for range 2 {
		if _, err := Unsubscribe(context.Background(), client, srv.URL); err != nil {
			t.Fatal(err)
		}
		if rec.cookie != "" {
			t.Errorf("cookie sent: %q", rec.cookie)
		}
	}
	if len(jar.Cookies(u)) != 1 {
		t.Error("the response's cookie was stored")
	}
}

func TestUnsubscribeTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)

	start := time.Now()
	_, err := Unsubscribe(context.Background(), &http.Client{Timeout: 100 * time.Millisecond}, srv.URL)
	if err == nil || time.Since(start) > 5*time.Second {
		t.Fatalf("client timeout: err %v after %v", err, time.Since(start))
	}
	var ne interface{ Timeout() bool }
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("not a timeout error: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Unsubscribe(ctx, srv.Client(), srv.URL); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("context deadline: %v", err)
	}
}

func TestUnsubscribeDefaultTimeout(t *testing.T) {
	if c := NewUnsubscribeClient(); c.Timeout != DefaultUnsubscribeTimeout || c.Jar != nil || DefaultUnsubscribeTimeout != 30*time.Second {
		t.Errorf("default client: %+v", c)
	}
}

func TestUnsubscribeBadURL(t *testing.T) {
	for _, u := range []string{"", "mailto:u@example.com", "ftp://example.com/u", "https://", "::bad", "/relative"} {
		if _, err := Unsubscribe(context.Background(), nil, u); !errors.Is(err, ErrBadUnsubscribeURL) {
			t.Errorf("%q: %v", u, err)
		}
	}
}

func TestUnsubscribeTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	u := srv.URL
	srv.Close()
	_, err := Unsubscribe(context.Background(), &http.Client{}, u)
	if err == nil || errors.Is(err, ErrBadUnsubscribeURL) {
		t.Errorf("closed server: %v", err)
	}
}

// The default client refuses to connect to addresses on the user's own
// machine or network, before anything is sent.
func TestUnsubscribeDefaultClientGuard(t *testing.T) {
	var rec recorder
	srv := httptest.NewServer(rec.handler(200))
	defer srv.Close()
	_, err := Unsubscribe(context.Background(), nil, srv.URL+"/u")
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Errorf("loopback: %v", err)
	}
	if rec.hits.Load() != 0 {
		t.Error("the loopback server was hit")
	}
	for _, a := range []string{"http://10.1.2.3:1/", "http://[::1]:1/", "http://169.254.169.254/latest", "http://0.0.0.0:1/"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := Unsubscribe(ctx, nil, a)
		cancel()
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: %v", a, err)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	tests := map[string]bool{
		"93.184.216.34":        true,
		"2606:2800:220:1::1":   true,
		"127.0.0.1":            false,
		"::1":                  false,
		"10.0.0.1":             false,
		"172.16.5.4":           false,
		"192.168.1.1":          false,
		"169.254.169.254":      false,
		"fe80::1":              false,
		"fc00::1":              false,
		"100.64.0.1":           false,
		"0.0.0.0":              false,
		"::":                   false,
		"224.0.0.1":            false,
		"255.255.255.255":      false,
		"::ffff:127.0.0.1":     false,
		"::ffff:93.184.216.34": true,
		// Audit finding 5: ranges IsGlobalUnicast accepts.
		"64:ff9b::a00:1":    false, // NAT64 of 10.0.0.1
		"64:ff9b::7f00:1":   false, // NAT64 of 127.0.0.1
		"2002:a00:1::1":     false, // 6to4 of 10.0.0.1
		"2002:5db8:d822::1": false, // 6to4 of a public address: still a relay
		"::7f00:1":          false, // IPv4-compatible 127.0.0.1
		"::a00:1":           false, // IPv4-compatible 10.0.0.1
		"198.18.0.1":        false, // benchmarking
		"198.19.255.254":    false,
		"240.0.0.1":         false, // reserved
		"254.1.2.3":         false,
		"198.20.0.1":        true,  // just outside 198.18.0.0/15
		"64:ff9b:1::a00:1":  false, // local-use NAT64, RFC 8215
		"2003::1":           true,  // just outside 2002::/16
	}
	for s, want := range tests {
		if got := publicAddr(netip.MustParseAddr(s)); got != want {
			t.Errorf("publicAddr(%s) = %v", s, got)
		}
	}
}

// The newsletter fixture's one-click URL is what Unsubscribe would be given.
func TestUnsubscribeFixture(t *testing.T) {
	u, ok := UnsubscribeURL(load(t, "newsletter.eml"))
	if !ok || u != "https://shop.example.com/unsubscribe?id=4711&t=abcdef" {
		t.Errorf("UnsubscribeURL = %q, %v", u, ok)
	}
}
