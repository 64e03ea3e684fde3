package mailbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
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
