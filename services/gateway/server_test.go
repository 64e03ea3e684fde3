package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/config"
	"github.com/stewardhq/steward/internal/testkit/tlstest"
)

// serveOptions serves o until the test ends and returns the server.
func serveOptions(t *testing.T, o ServerOptions) *Server {
	t.Helper()
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	srv, err := NewServer(o)
	if err != nil {
		t.Fatalf("NewServer: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return srv
}

// TestUnfinishedBodyIsCut: a client that declares a body and stops sending is
// disconnected once the read timeout passes, instead of holding the
// connection (and a handler) forever.
func TestUnfinishedBodyIsCut(t *testing.T) {
	var readErr atomic.Value
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			readErr.Store(err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := serveOptions(t, ServerOptions{Handler: h, ReadTimeout: 200 * time.Millisecond})

	conn, err := net.DialTimeout("tcp", srv.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A generous bound: the test fails only if the server never lets go.
	if err := conn.SetReadDeadline(time.Now().Add(60 * time.Second)); err != nil {
		t.Fatal(err)
	}
	req := "POST /api/chat/conversations/0123456789abcdef/messages HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
		"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"content\":\""
	if _, err := io.WriteString(conn, req); err != nil {
		t.Fatal(err)
	}
	// Whatever the server answers, it must then close the connection.
	_, err = io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the server kept the connection with an unfinished body open")
	}
	if v := readErr.Load(); v == nil {
		t.Error("the handler's body read did not fail")
	}
}

// TestConnectionCap: no more than MaxConns connections are served at once; the
// next waits until one closes.
func TestConnectionCap(t *testing.T) {
	const maxConns = 2
	var running, peak atomic.Int32
	started := make(chan struct{}, 10)
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		defer running.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		started <- struct{}{}
		<-release
		w.WriteHeader(http.StatusOK)
	})
	srv := serveOptions(t, ServerOptions{Handler: h, MaxConns: maxConns})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

	results := make(chan error, maxConns+1)
	get := func() {
		resp, err := client.Get(srv.URL() + "/")
		if err == nil {
			resp.Body.Close()
		}
		results <- err
	}
	for range maxConns {
		go get()
	}
	for range maxConns {
		<-started
	}
	go get()
	select {
	case <-started:
		t.Error("a connection beyond MaxConns was served while the others were open")
	case <-time.After(300 * time.Millisecond):
	}
	close(release)
	for range maxConns + 1 {
		if err := <-results; err != nil {
			t.Errorf("request: %v", err)
		}
	}
	if p := peak.Load(); p > maxConns {
		t.Errorf("%d requests ran at once, want at most %d", p, maxConns)
	}
}

// TestServerLimits checks the limits NewServer sets by default.
func TestServerLimits(t *testing.T) {
	srv, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler()})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.ln.Close()
	s := srv.srv
	if s.ReadTimeout != DefaultReadTimeout || s.WriteTimeout != DefaultWriteTimeout ||
		s.ReadHeaderTimeout <= 0 || s.ReadHeaderTimeout > s.ReadTimeout || s.MaxHeaderBytes != MaxHeaderBytes || s.IdleTimeout <= 0 {
		t.Errorf("limits: read %v, write %v, header %v, max header %d, idle %v",
			s.ReadTimeout, s.WriteTimeout, s.ReadHeaderTimeout, s.MaxHeaderBytes, s.IdleTimeout)
	}
	if !strings.HasPrefix(srv.URL(), "http://127.0.0.1:") {
		t.Errorf("URL = %s", srv.URL())
	}
}

// TestTLS: with a certificate and key the gateway serves HTTPS only, and URL
// says so; the token and Host checks work over it.
func TestTLS(t *testing.T) {
	tf := tlstest.Write(t, t.TempDir())
	certFile, keyFile := tf.Cert, tf.Key
	const token = "tls-test-token"
	srv := serveOptions(t, ServerOptions{
		Handler:     New(Options{Config: staticConfig(testConfig())}),
		Token:       config.NewSecret(token, ""),
		TLSCertFile: certFile,
		TLSKeyFile:  keyFile,
	})
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL = %s, want https://127.0.0.1:...", srv.URL())
	}
	pool := tf.Pool
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}

	req, _ := http.NewRequest("GET", srv.URL()+"/integrations", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("GET /integrations over TLS = %d %s (TLS %v)", resp.StatusCode, body, resp.TLS != nil)
	}

	// Same-origin check over HTTPS: the page's own https origin passes.
	req, _ = http.NewRequest("POST", srv.URL()+"/integrations/email.nope/run", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Origin", srv.URL())
	if resp, err := client.Do(req); err != nil {
		t.Fatal(err)
	} else if resp.Body.Close(); resp.StatusCode != 404 {
		t.Errorf("same-origin POST over TLS = %d, want 404 (unknown integration)", resp.StatusCode)
	}

	// Plain HTTP to the TLS port gets no answer from the API.
	conn, err := net.DialTimeout("tcp", srv.Addr().String(), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(conn, "GET /integrations HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer "+token+"\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 200 || strings.Contains(string(b), "email.personal") {
			t.Errorf("plain HTTP on the TLS port answered %d %s", resp.StatusCode, b)
		}
	}
}

func TestTLSOptionsChecked(t *testing.T) {
	dir := t.TempDir()
	tf := tlstest.Write(t, dir)
	certFile, keyFile := tf.Cert, tf.Key
	missing := filepath.Join(dir, "missing.pem")
	for _, tt := range []struct {
		name      string
		cert, key string
		want      []string
	}{
		{"cert without key", certFile, "", []string{"gateway.tls_cert and gateway.tls_key", "or neither"}},
		{"key without cert", "", keyFile, []string{"gateway.tls_cert and gateway.tls_key", "or neither"}},
		{"missing cert", missing, keyFile, []string{"missing.pem", "gateway.tls_cert", "no such file"}},
		{"key is not a key", certFile, certFile, []string{"gateway.tls_key"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := NewServer(ServerOptions{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler(), TLSCertFile: tt.cert, TLSKeyFile: tt.key})
			if err == nil {
				srv.ln.Close()
				t.Fatal("NewServer accepted the options")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
