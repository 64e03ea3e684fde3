package mailbox_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/internal/testkit/dovecot"
)

func TestWrongPasswordIsPermanentAndSecret(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	acct := e.acct
	acct.Password = "hunter2-wrong"
	_, _, err := e.pool.Session(ctx(t), "acct", acct)
	if !errors.Is(err, mailbox.ErrAuth) || !errors.Is(err, mailbox.ErrPermanent) || errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("error = %v, want permanent ErrAuth", err)
	}
	for _, text := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", acct), fmt.Sprint(acct), e.logs.String()} {
		if strings.Contains(text, acct.Password) {
			t.Errorf("password leaked: %s", text)
		}
	}
	if !strings.Contains(err.Error(), "alice@127.0.0.1") {
		t.Errorf("error does not say which account: %v", err)
	}
}

// TestSecurityModes runs every transport against a Dovecot with a test CA
// (STARTTLS on the IMAP port, implicit TLS on the IMAPS port) and against one
// without TLS.
func TestSecurityModes(t *testing.T) {
	t.Parallel()
	tlsSrv := dovecot.Start(t, dovecot.WithTLS())
	plainSrv := dovecot.Start(t)
	trusting := mailbox.NewPool(mailbox.PoolOptions{RootCAs: tlsSrv.CertPool(), Logger: newLogger(&syncBuffer{})})
	t.Cleanup(func() { _ = trusting.Close() })
	system := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})}) // system roots: the test CA is unknown
	t.Cleanup(func() { _ = system.Close() })
	// A pool that reaches the local servers under a remote-looking name.
	remote := mailbox.NewPool(mailbox.PoolOptions{RootCAs: tlsSrv.CertPool(), Logger: newLogger(&syncBuffer{}),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		}})
	t.Cleanup(func() { _ = remote.Close() })

	acct := func(host string, port int, sec mailbox.Security) mailbox.Account {
		return mailbox.Account{Host: host, Port: port, Username: "alice", Password: "secret", Security: sec}
	}
	tests := []struct {
		name     string
		pool     *mailbox.Pool
		acct     mailbox.Account
		want     mailbox.Security // on success
		wantKind error            // on failure (always permanent)
	}{
		{"implicit TLS", trusting, acct("127.0.0.1", tlsSrv.TLSPort(), mailbox.SecurityTLS), mailbox.SecurityTLS, nil},
		{"implicit TLS by name", trusting, acct("localhost", tlsSrv.TLSPort(), mailbox.SecurityTLS), mailbox.SecurityTLS, nil},
		{"STARTTLS", trusting, acct("127.0.0.1", tlsSrv.Port(), mailbox.SecuritySTARTTLS), mailbox.SecuritySTARTTLS, nil},
		{"auto prefers STARTTLS", trusting, acct("127.0.0.1", tlsSrv.Port(), ""), mailbox.SecuritySTARTTLS, nil},
		{"auto plain on loopback", trusting, acct("127.0.0.1", plainSrv.Port(), ""), mailbox.SecurityPlain, nil},
		{"explicit plain", trusting, acct("127.0.0.1", plainSrv.Port(), mailbox.SecurityPlain), mailbox.SecurityPlain, nil},
		{"unknown CA refused", system, acct("127.0.0.1", tlsSrv.TLSPort(), mailbox.SecurityTLS), "", mailbox.ErrTLS},
		{"unknown CA refused on STARTTLS", system, acct("127.0.0.1", tlsSrv.Port(), ""), "", mailbox.ErrTLS},
		{"tls_verify false", system, func() mailbox.Account {
			a := acct("127.0.0.1", tlsSrv.TLSPort(), mailbox.SecurityTLS)
			a.InsecureSkipVerify = true
			return a
		}(), mailbox.SecurityTLS, nil},
		{"wrong host name refused", remote, acct("imap.example.test", tlsSrv.TLSPort(), mailbox.SecurityTLS), "", mailbox.ErrTLS},
		{"auto never plain to a remote host", remote, acct("imap.example.test", plainSrv.Port(), ""), "", mailbox.ErrConfig},
		{"STARTTLS refused", trusting, acct("127.0.0.1", plainSrv.Port(), mailbox.SecuritySTARTTLS), "", mailbox.ErrConfig},
		{"TLS to a plain port", trusting, acct("127.0.0.1", plainSrv.Port(), mailbox.SecurityTLS), "", mailbox.ErrTLS},
		{"bad security value", trusting, acct("127.0.0.1", plainSrv.Port(), "ssl"), "", mailbox.ErrConfig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, release, err := tc.pool.Session(ctx(t), tc.name, tc.acct)
			if tc.wantKind != nil {
				if !errors.Is(err, tc.wantKind) || !errors.Is(err, mailbox.ErrPermanent) {
					t.Fatalf("error = %v, want permanent %v", err, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer release(nil)
			if got := s.Security(); got != tc.want {
				t.Errorf("Security = %q, want %q", got, tc.want)
			}
			if _, err := s.Inbox(ctx(t), 1, time.Time{}); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestPlainToRemoteHostWarns(t *testing.T) {
	t.Parallel()
	e := newEnvPool(t, mailbox.PoolOptions{})
	logs := &syncBuffer{}
	pool := mailbox.NewPool(mailbox.PoolOptions{
		Logger: newLogger(logs),
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, e.srv.Addr())
		}})
	t.Cleanup(func() { _ = pool.Close() })
	acct := e.acct
	acct.Host, acct.Security = "mail.example.test", mailbox.SecurityPlain
	if err := pool.Do(ctx(t), "k", acct, func(*mailbox.Session) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "unencrypted") {
		t.Errorf("no warning about the clear-text password in:\n%s", logs)
	}
	if strings.Contains(logs.String(), acct.Password) {
		t.Errorf("password in logs:\n%s", logs)
	}
}

// scripted is a TCP server on loopback that runs serve on every connection
// (closed afterwards).
func scripted(t *testing.T, serve func(c net.Conn)) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); defer c.Close(); serve(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().(*net.TCPAddr).Port
}

// Issue 11, item 4: automatic mode on a port other than 993 detects implicit
// TLS (the server is silent until the client's hello) and STARTTLS (it
// greets at once), against a real Dovecot on non-standard ports, and says
// which it used once per account.
func TestAutoDetectsImplicitTLSAndSTARTTLS(t *testing.T) {
	t.Parallel()
	srv := dovecot.Start(t, dovecot.WithTLS())
	logs := &syncBuffer{}
	pool := mailbox.NewPool(mailbox.PoolOptions{RootCAs: srv.CertPool(), Logger: newLogger(logs), PingAfter: -1})
	t.Cleanup(func() { _ = pool.Close() })
	system := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})})
	t.Cleanup(func() { _ = system.Close() })
	remote := mailbox.NewPool(mailbox.PoolOptions{RootCAs: srv.CertPool(), Logger: newLogger(&syncBuffer{}),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return (&net.Dialer{}).DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		}})
	t.Cleanup(func() { _ = remote.Close() })
	if srv.TLSPort() == 993 || srv.Port() == 143 {
		t.Skip("the test needs non-standard ports")
	}
	acct := func(host string, port int) mailbox.Account {
		return mailbox.Account{Host: host, Port: port, Username: "alice", Password: "secret",
			ConnectTimeout: 10 * time.Second, DetectWait: 300 * time.Millisecond}
	}
	tests := []struct {
		name     string
		pool     *mailbox.Pool
		acct     mailbox.Account
		want     mailbox.Security
		wantKind error
	}{
		{"implicit TLS", pool, acct("127.0.0.1", srv.TLSPort()), mailbox.SecurityTLS, nil},
		{"STARTTLS", pool, acct("127.0.0.1", srv.Port()), mailbox.SecuritySTARTTLS, nil},
		{"implicit TLS to a remote name", remote, acct("localhost", srv.TLSPort()), mailbox.SecurityTLS, nil},
		// A detected TLS handshake with a certificate that is not valid is
		// refused: never another mode, never plain.
		{"implicit TLS, unknown CA", system, acct("127.0.0.1", srv.TLSPort()), "", mailbox.ErrTLS},
		{"implicit TLS, wrong host name", remote, acct("imap.example.test", srv.TLSPort()), "", mailbox.ErrTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, release, err := tc.pool.Session(ctx(t), tc.name, tc.acct)
			if tc.wantKind != nil {
				if !errors.Is(err, tc.wantKind) || !errors.Is(err, mailbox.ErrPermanent) {
					t.Fatalf("error = %v, want permanent %v", err, tc.wantKind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer release(nil)
			if got := s.Security(); got != tc.want {
				t.Errorf("Security = %q, want %q", got, tc.want)
			}
			if _, err := s.Inbox(ctx(t), 1, time.Time{}); err != nil {
				t.Fatal(err)
			}
		})
	}
	// A second connection of an account does not log the detection again.
	a := acct("127.0.0.1", srv.TLSPort())
	s1, r1, err := pool.Session(ctx(t), "implicit TLS", a)
	if err != nil {
		t.Fatal(err)
	}
	s2, r2, err := pool.Session(ctx(t), "implicit TLS", a) // the first is busy: a new connection
	if err != nil {
		t.Fatal(err)
	}
	if s1.Security() != mailbox.SecurityTLS || s2.Security() != mailbox.SecurityTLS {
		t.Errorf("security %q, %q", s1.Security(), s2.Security())
	}
	r1(nil)
	r2(nil)
	out := logs.String()
	for _, want := range []string{
		fmt.Sprintf("IMAP security detected: tls on port %d", srv.TLSPort()),
		fmt.Sprintf("IMAP security detected: starttls on port %d", srv.Port()),
	} {
		if n := strings.Count(out, want); n != 1 {
			t.Errorf("log has %d × %q, want 1:\n%s", n, want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("password in logs:\n%s", out)
	}
}

// When automatic mode finds no usable IMAP, the error says what it saw,
// names both modes it tried and the imap_security key; protocol garbage is
// permanent (retrying cannot help), silence is transient. A server that
// greets in plain text only after the TLS hello gets STARTTLS, required:
// never plain IMAP after a failed handshake, even on loopback.
func TestAutoDetectionFailures(t *testing.T) {
	t.Parallel()
	silent := scripted(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	garbage := scripted(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n")
		_, _ = io.Copy(io.Discard, c)
	})
	httpOnHello := scripted(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		if _, err := c.Read(buf); err == nil {
			_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
		}
		_, _ = io.Copy(io.Discard, c)
	})
	var logins, conns atomic.Int32
	// Offers no STARTTLS, and on its first connection greets only after the
	// client has sent something (a slow server: later than the wait).
	lateGreeting := scripted(t, func(c net.Conn) {
		if conns.Add(1) == 1 {
			buf := make([]byte, 1024)
			_, _ = c.Read(buf)
		}
		_, _ = io.WriteString(c, "* OK [CAPABILITY IMAP4rev1] slow fake ready\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
			if strings.HasPrefix(strings.ToUpper(rest), "LOGIN") {
				logins.Add(1)
			}
			fmt.Fprintf(c, "%s BAD no\r\n", tag)
		}
	})
	closed := scripted(t, func(c net.Conn) {})
	pool := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})})
	t.Cleanup(func() { _ = pool.Close() })
	tests := []struct {
		name      string
		port      int
		permanent bool
		saw       string
	}{
		{"silent", silent, false, "no answer within 2s (no IMAP greeting, and no TLS handshake either)"},
		{"garbage", garbage, true, "not an IMAP greeting"},
		{"answers the TLS hello with HTTP", httpOnHello, true, "no IMAP greeting, and no TLS handshake either"},
		{"greets late without STARTTLS", lateGreeting, true, "refuses STARTTLS"},
		{"closes at once", closed, false, "closed the connection without a word"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			acct := mailbox.Account{Host: "127.0.0.1", Port: tc.port, Username: "u", Password: "fake-password",
				ConnectTimeout: 2 * time.Second, DetectWait: 200 * time.Millisecond}
			_, _, err := pool.Session(ctx(t), tc.name, acct)
			if err == nil {
				t.Fatal("connected")
			}
			t.Log(err)
			want := fmt.Sprintf("tried implicit TLS and STARTTLS on 127.0.0.1:%d; set imap_security: tls | starttls | plain", tc.port)
			if !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tc.saw) {
				t.Errorf("error = %v\nwant it to contain %q and %q", err, want, tc.saw)
			}
			if errors.Is(err, mailbox.ErrPermanent) != tc.permanent || errors.Is(err, mailbox.ErrTransient) == tc.permanent {
				t.Errorf("error = %v, want permanent=%v", err, tc.permanent)
			}
			if tc.permanent && !errors.Is(err, mailbox.ErrConfig) {
				t.Errorf("error = %v, want ErrConfig", err)
			}
			if strings.Contains(err.Error(), acct.Password) {
				t.Errorf("password in the error: %v", err)
			}
		})
	}
	t.Cleanup(func() {
		if n := logins.Load(); n != 0 {
			t.Errorf("%d plain-text LOGINs after a failed TLS handshake", n)
		}
	})
}
