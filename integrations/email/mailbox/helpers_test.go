package mailbox_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/internal/testkit/dovecot"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// env is one Dovecot plus a pool and the account of its default user.
type env struct {
	srv  *dovecot.Server
	pool *mailbox.Pool
	acct mailbox.Account
	logs *syncBuffer
}

func newEnv(t *testing.T, opts ...dovecot.Option) *env {
	t.Helper()
	return newEnvPool(t, mailbox.PoolOptions{}, opts...)
}

func newEnvPool(t *testing.T, po mailbox.PoolOptions, opts ...dovecot.Option) *env {
	t.Helper()
	srv := dovecot.Start(t, opts...)
	logs := &syncBuffer{}
	if po.Logger == nil {
		po.Logger = newLogger(logs)
	}
	pool := mailbox.NewPool(po)
	t.Cleanup(func() { _ = pool.Close() })
	return &env{srv: srv, pool: pool, logs: logs, acct: mailbox.Account{
		Host: srv.Host(), Port: srv.Port(), Username: dovecot.DefaultUser, Password: dovecot.DefaultPassword,
		ConnectTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second,
	}}
}

// newLogger logs everything (debug included) as text into w.
func newLogger(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// session opens a session and releases it (nil error) at the end of the test
// unless the test releases it first.
func (e *env) session(t testing.TB) (*mailbox.Session, func(error)) {
	t.Helper()
	s, release, err := e.pool.Session(ctx(t), "acct", e.acct)
	if err != nil {
		t.Fatalf("Session: %v", err)
	}
	t.Cleanup(func() { release(nil) })
	return s, release
}

// put appends n numbered messages to INBOX and returns their UIDs.
func (e *env) put(t testing.TB, from, n int, flags ...string) []uint32 {
	t.Helper()
	var uids []uint32
	for i := from; i < from+n; i++ {
		uids = append(uids, e.srv.Append(t, "alice", "INBOX", rawMsg(i), flags...))
	}
	return uids
}

// rawMsg is a small message whose Message-ID is <m{n}@example.com>.
func rawMsg(n int) []byte {
	return fmt.Appendf(nil, "From: Sender %d <s%d@example.com>\r\nTo: alice@example.com\r\n"+
		"Subject: message %d\r\nMessage-ID: <m%d@example.com>\r\nDate: Mon, 2 Jun 2025 10:00:00 +0000\r\n"+
		"\r\nbody of message %d\r\n", n, n, n, n, n)
}

func msgID(n int) string { return fmt.Sprintf("<m%d@example.com>", n) }

func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

func hasFlag(flags []string, want string) bool {
	for _, f := range flags {
		if f == want {
			return true
		}
	}
	return false
}

// syncBuffer is a goroutine-safe buffer for captured output.
type syncBuffer = logbuf.Buffer
