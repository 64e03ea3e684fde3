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
)

// fakeIMAP is a scripted IMAP server for failures Dovecot will not produce
// on demand: no greeting, a command that never gets an answer, odd answers.
type fakeIMAP struct {
	ln       net.Listener
	greeting string            // "" = never greet
	answers  map[string]string // command → tagged answer ("" = never answer)
	logins   atomic.Int32
	wg       sync.WaitGroup
}

func startFake(t *testing.T, greeting string, answers map[string]string) *fakeIMAP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeIMAP{ln: ln, greeting: greeting, answers: answers}
	var conns sync.Map
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				f.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		f.wg.Wait()
	})
	return f
}

func (f *fakeIMAP) serve(c net.Conn) {
	defer c.Close()
	if f.greeting == "" {
		_, _ = io.Copy(io.Discard, c) // hold the connection until closed
		return
	}
	fmt.Fprintf(c, "%s\r\n", f.greeting)
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		tag, rest, _ := strings.Cut(strings.TrimSpace(line), " ")
		cmd, _, _ := strings.Cut(rest, " ")
		cmd = strings.ToUpper(cmd)
		answer, scripted := f.answers[cmd]
		switch {
		case scripted && answer == "":
			continue // never answer
		case scripted:
			fmt.Fprintf(c, "%s %s\r\n", tag, answer)
		case cmd == "LOGIN":
			f.logins.Add(1)
			fmt.Fprintf(c, "%s OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] Logged in\r\n", tag)
		case cmd == "LOGOUT":
			fmt.Fprintf(c, "* BYE bye\r\n%s OK done\r\n", tag)
			return
		case cmd == "NOOP":
			fmt.Fprintf(c, "%s OK done\r\n", tag)
		default:
			fmt.Fprintf(c, "%s BAD unknown\r\n", tag)
		}
	}
}

func (f *fakeIMAP) account(connect, command time.Duration) mailbox.Account {
	return mailbox.Account{Host: "127.0.0.1", Port: f.ln.Addr().(*net.TCPAddr).Port, Username: "u", Password: "fake-password",
		Security: mailbox.SecurityPlain, ConnectTimeout: connect, CommandTimeout: command}
}

const greeting = "* OK [CAPABILITY IMAP4rev1] fake ready"

func TestConnectTimeout(t *testing.T) {
	t.Parallel()
	f := startFake(t, "", nil) // accepts, never greets
	pool := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})})
	t.Cleanup(func() { _ = pool.Close() })
	for _, sec := range []mailbox.Security{mailbox.SecurityPlain, mailbox.SecurityTLS, ""} {
		acct := f.account(200*time.Millisecond, time.Minute)
		acct.Security = sec
		start := time.Now()
		_, _, err := pool.Session(ctx(t), "k"+string(sec), acct)
		took := time.Since(start)
		if !errors.Is(err, mailbox.ErrTransient) || !strings.Contains(err.Error(), "no answer within 200ms") {
			t.Errorf("%q: error = %v, want a transient connect timeout", sec, err)
		}
		if took > 2*time.Second {
			t.Errorf("%q: took %v", sec, took)
		}
	}
}

func TestCommandTimeoutBreaksSession(t *testing.T) {
	t.Parallel()
	f := startFake(t, greeting, map[string]string{"SELECT": ""}) // SELECT hangs
	pool := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})})
	t.Cleanup(func() { _ = pool.Close() })
	acct := f.account(time.Second, 200*time.Millisecond)

	s, release, err := pool.Session(ctx(t), "k", acct)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = s.Inbox(ctx(t), 10, time.Time{})
	if !errors.Is(err, mailbox.ErrTransient) || !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Fatalf("Inbox error = %v after %v, want a transient timeout", err, time.Since(start))
	}
	if _, err := s.Fetch(ctx(t), 1); !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("next operation: %v, want transient (broken session)", err)
	}
	release(nil) // even without the error, a broken session is not reused
	s2, release2, err := pool.Session(ctx(t), "k", acct)
	if err != nil {
		t.Fatal(err)
	}
	defer release2(nil)
	if f.logins.Load() != 2 || pool.Logins() != 2 {
		t.Errorf("logins = %d/%d, want 2 (timed-out connection replaced)", f.logins.Load(), pool.Logins())
	}

	// The caller's context ends first: cancelled, transient, at once.
	c, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	acct.CommandTimeout = time.Minute
	start = time.Now()
	_, err = s2.UIDValidity(c)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, mailbox.ErrTransient) || time.Since(start) > 2*time.Second {
		t.Fatalf("cancelled: %v after %v", err, time.Since(start))
	}
}

func TestServerAnswersClassified(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		greeting  string
		answers   map[string]string
		permanent bool
		kind      error
	}{
		{"login unavailable", greeting, map[string]string{"LOGIN": "NO [UNAVAILABLE] try later"}, false, nil},
		{"login refused", greeting, map[string]string{"LOGIN": "NO [AUTHENTICATIONFAILED] nope"}, true, mailbox.ErrAuth},
		{"login refused without code", greeting, map[string]string{"LOGIN": "NO nope"}, true, mailbox.ErrAuth},
		{"greeting BYE", "* BYE too many connections", nil, false, nil},
		{"login hangs", greeting, map[string]string{"LOGIN": ""}, false, context.DeadlineExceeded},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := startFake(t, tc.greeting, tc.answers)
			pool := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})})
			t.Cleanup(func() { _ = pool.Close() })
			_, _, err := pool.Session(ctx(t), "k", f.account(time.Second, 200*time.Millisecond))
			if err == nil || errors.Is(err, mailbox.ErrPermanent) != tc.permanent || errors.Is(err, mailbox.ErrTransient) == tc.permanent {
				t.Fatalf("error = %v, want permanent=%v", err, tc.permanent)
			}
			if tc.kind != nil && !errors.Is(err, tc.kind) {
				t.Fatalf("error = %v, want %v", err, tc.kind)
			}
		})
	}
}

func TestConnectionRefusedIsTransient(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	pool := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})})
	t.Cleanup(func() { _ = pool.Close() })
	_, _, err = pool.Session(ctx(t), "k", mailbox.Account{Host: "127.0.0.1", Port: port, Username: "u", Password: "p"})
	if !errors.Is(err, mailbox.ErrTransient) {
		t.Fatalf("error = %v, want transient", err)
	}
}

func TestLoginDisabledWithoutTLS(t *testing.T) {
	t.Parallel()
	f := startFake(t, "* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] fake ready", nil)
	pool := mailbox.NewPool(mailbox.PoolOptions{Logger: newLogger(&syncBuffer{})})
	t.Cleanup(func() { _ = pool.Close() })
	_, _, err := pool.Session(ctx(t), "k", f.account(time.Second, time.Second))
	if !errors.Is(err, mailbox.ErrConfig) || !strings.Contains(err.Error(), "LOGINDISABLED") || f.logins.Load() != 0 {
		t.Fatalf("error = %v (logins %d), want ErrConfig before any LOGIN", err, f.logins.Load())
	}
}
