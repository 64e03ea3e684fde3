package mailbox_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/email/mailbox"
	"github.com/stewardhq/steward/internal/testkit/dovecot"
)

func TestPoolReusesOneLoginPerCycle(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, 1, 5)
	// Three check cycles, each a check plus collects of every message, as
	// separate tasks (sessions) of the same account.
	for cycle := 0; cycle < 3; cycle++ {
		var uids []uint32
		err := e.pool.Do(ctx(t), "acct", e.acct, func(s *mailbox.Session) error {
			st, err := s.Inbox(ctx(t), 50, time.Time{})
			for _, m := range st.Messages {
				uids = append(uids, m.UID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, uid := range uids {
			if err := e.pool.Do(ctx(t), "acct", e.acct, func(s *mailbox.Session) error {
				_, err := s.Fetch(ctx(t), uid)
				return err
			}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if got := e.pool.Logins(); got != 1 {
		t.Errorf("pool Logins = %d, want 1", got)
	}
	if got := e.srv.Logins(t); got != 1 {
		t.Errorf("Dovecot logged %d logins, want 1", got)
	}
}

func TestPoolBoundsConcurrentConnections(t *testing.T) {
	t.Parallel()
	e := newEnvPool(t, mailbox.PoolOptions{MaxPerAccount: 2})
	e.put(t, 1, 1)
	var inUse, peak atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- e.pool.Do(context.Background(), "acct", e.acct, func(s *mailbox.Session) error {
				n := inUse.Add(1)
				defer inUse.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				_, err := s.Inbox(context.Background(), 10, time.Time{})
				time.Sleep(20 * time.Millisecond)
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if p := peak.Load(); p > 2 || p < 1 {
		t.Errorf("peak concurrent sessions = %d, want at most 2", p)
	}
	if got := e.pool.Logins(); got > 2 {
		t.Errorf("Logins = %d, want at most 2", got)
	}

	// A third session waits for a free connection, and gives up with ctx.
	_, r1, err := e.pool.Session(ctx(t), "acct", e.acct)
	if err != nil {
		t.Fatal(err)
	}
	_, r2, err := e.pool.Session(ctx(t), "acct", e.acct)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := e.pool.Session(short, "acct", e.acct); !errors.Is(err, mailbox.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third Session error = %v, want a transient context error", err)
	}
	r1(nil)
	r1(nil) // releasing twice is harmless
	_, r3, err := e.pool.Session(ctx(t), "acct", e.acct)
	if err != nil {
		t.Fatal(err)
	}
	r2(nil)
	r3(nil)
	// Another key has its own bound.
	if err := e.pool.Do(ctx(t), "other", e.acct, func(*mailbox.Session) error { return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestPoolReplacesBrokenConnections(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(t, 1, 1)
	inbox := func() error {
		return e.pool.Do(ctx(t), "acct", e.acct, func(s *mailbox.Session) error {
			_, err := s.Inbox(ctx(t), 10, time.Time{})
			return err
		})
	}
	if err := inbox(); err != nil {
		t.Fatal(err)
	}
	// The server drops the idle connection (restart, network, idle limit).
	e.srv.Kick(t, "alice")
	time.Sleep(50 * time.Millisecond)
	if err := inbox(); err != nil {
		t.Fatalf("after kick: %v", err)
	}
	if got := e.pool.Logins(); got != 2 {
		t.Errorf("Logins = %d, want 2 (one replacement)", got)
	}

	// A session whose connection dies mid-task fails transiently and its
	// connection is not reused.
	s, release, err := e.pool.Session(ctx(t), "acct", e.acct)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.Kick(t, "alice")
	time.Sleep(50 * time.Millisecond)
	_, err = s.Fetch(ctx(t), 1)
	if !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("Fetch on a kicked connection: %v, want transient", err)
	}
	if _, err := s.Fetch(ctx(t), 1); !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("second Fetch on the broken session: %v, want transient", err)
	}
	release(err)
	if err := inbox(); err != nil {
		t.Fatal(err)
	}
	if got := e.pool.Logins(); got != 3 {
		t.Errorf("Logins = %d, want 3", got)
	}
}

func TestPoolPingsIdleConnections(t *testing.T) {
	t.Parallel()
	e := newEnvPool(t, mailbox.PoolOptions{PingAfter: -1})
	do := func() error {
		return e.pool.Do(ctx(t), "acct", e.acct, func(s *mailbox.Session) error {
			_, err := s.UIDValidity(ctx(t))
			return err
		})
	}
	if err := do(); err != nil {
		t.Fatal(err)
	}
	if err := do(); err != nil {
		t.Fatal(err)
	}
	if got := e.pool.Logins(); got != 1 {
		t.Errorf("Logins = %d, want 1 (NOOP succeeded, connection reused)", got)
	}
}

func TestPoolIdleTimeoutCloseAndAccountChange(t *testing.T) {
	t.Parallel()
	e := newEnvPool(t, mailbox.PoolOptions{IdleTimeout: 100 * time.Millisecond},
		dovecot.WithUser("alice", "secret"), dovecot.WithUser("bob", "pw"))
	noop := func(*mailbox.Session) error { return nil }
	if err := e.pool.Do(ctx(t), "acct", e.acct, noop); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the janitor logs it out
	if err := e.pool.Do(ctx(t), "acct", e.acct, noop); err != nil {
		t.Fatal(err)
	}
	if got := e.pool.Logins(); got != 2 {
		t.Errorf("Logins = %d, want 2 (idle connection closed)", got)
	}

	// Same key, new credentials: the old connection is not reused.
	bob := e.acct
	bob.Username, bob.Password = "bob", "pw"
	if err := e.pool.Do(ctx(t), "acct", bob, noop); err != nil {
		t.Fatal(err)
	}
	if got := e.pool.Logins(); got != 3 {
		t.Errorf("Logins = %d, want 3 (account changed)", got)
	}

	if err := e.pool.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.Do(ctx(t), "acct", bob, noop); !errors.Is(err, mailbox.ErrPoolClosed) {
		t.Fatalf("Do after Close: %v", err)
	}
	_ = e.pool.Close()
}
