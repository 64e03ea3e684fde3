package mailbox_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/internal/testkit/dovecot"
)

// benchEnv is a Dovecot with 200 messages of about 4 KB in INBOX.
func benchEnv(b *testing.B) (*dovecot.Server, mailbox.Account) {
	b.Helper()
	srv := dovecot.Start(b)
	body := bytes.Repeat([]byte("lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n"), 70)
	for i := 0; i < 200; i++ {
		srv.Append(b, "alice", "INBOX", append(rawMsg(i), body...))
	}
	return srv, mailbox.Account{Host: srv.Host(), Port: srv.Port(), Username: "alice", Password: "secret"}
}

func quietPool(opts mailbox.PoolOptions) *mailbox.Pool {
	opts.Logger = newLogger(&syncBuffer{})
	return mailbox.NewPool(opts)
}

// BenchmarkLogin is connect + greeting + LOGIN + LOGOUT: the cost reuse
// saves. "auto" on a plain-only loopback server first tries STARTTLS (one
// more connection), "plain" goes straight to LOGIN.
func BenchmarkLogin(b *testing.B) {
	_, acct := benchEnv(b)
	for _, sec := range []mailbox.Security{"", mailbox.SecurityPlain} {
		acct.Security = sec
		name := string(sec)
		if name == "" {
			name = "auto"
		}
		b.Run(name, func(b *testing.B) {
			pool := quietPool(mailbox.PoolOptions{})
			defer pool.Close()
			for b.Loop() {
				_, release, err := pool.Session(context.Background(), "k", acct)
				if err != nil {
					b.Fatal(err)
				}
				release(&mailbox.Error{Op: "bench"}) // transient: closes (LOGOUT), next is a new login
			}
		})
	}
}

// BenchmarkCheckSession is one check on a reused connection: SELECT, UID
// SEARCH, one batched FETCH of 50 headers.
func BenchmarkCheckSession(b *testing.B) {
	_, acct := benchEnv(b)
	pool := quietPool(mailbox.PoolOptions{})
	defer pool.Close()
	for b.Loop() {
		err := pool.Do(context.Background(), "k", acct, func(s *mailbox.Session) error {
			st, err := s.Inbox(context.Background(), 50, time.Time{})
			if err == nil && len(st.Messages) != 50 {
				b.Fatalf("%d messages", len(st.Messages))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(pool.Logins()), "logins")
}

// BenchmarkFetch is one collect on a reused connection: SELECT + BODY.PEEK[]
// of a 4 KB message.
func BenchmarkFetch(b *testing.B) {
	_, acct := benchEnv(b)
	pool := quietPool(mailbox.PoolOptions{})
	defer pool.Close()
	uid := uint32(1)
	for b.Loop() {
		err := pool.Do(context.Background(), "k", acct, func(s *mailbox.Session) error {
			_, err := s.Fetch(context.Background(), uid)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
		uid = uid%200 + 1
	}
	b.ReportMetric(float64(pool.Logins()), "logins")
}

// BenchmarkFetchMany50 collects 50 messages in one command.
func BenchmarkFetchMany50(b *testing.B) {
	_, acct := benchEnv(b)
	pool := quietPool(mailbox.PoolOptions{})
	defer pool.Close()
	uids := make([]uint32, 50)
	for i := range uids {
		uids[i] = uint32(i + 1)
	}
	for b.Loop() {
		err := pool.Do(context.Background(), "k", acct, func(s *mailbox.Session) error {
			got, err := s.FetchMany(context.Background(), uids)
			if err == nil && len(got) != 50 {
				b.Fatalf("%d messages", len(got))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkFetchSelected is Fetch without the session's SELECT (several
// fetches in one session): the per-message cost of a batch-less collect.
func BenchmarkFetchSelected(b *testing.B) {
	_, acct := benchEnv(b)
	pool := quietPool(mailbox.PoolOptions{})
	defer pool.Close()
	s, release, err := pool.Session(context.Background(), "k", acct)
	if err != nil {
		b.Fatal(err)
	}
	defer release(nil)
	uid := uint32(1)
	for b.Loop() {
		if _, err := s.Fetch(context.Background(), uid); err != nil {
			b.Fatal(err)
		}
		uid = uid%200 + 1
	}
}
