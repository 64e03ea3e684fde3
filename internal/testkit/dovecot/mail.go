package dovecot

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Message is one message of a folder as [Server.Messages] reads it.
type Message struct {
	UID          uint32
	Flags        []string // e.g. `\Seen`, `\Draft`
	InternalDate time.Time
	Raw          []byte // the whole message as the server serves it (CRLF)
}

// HasFlag reports whether the message carries flag (IMAP flags compare
// case-insensitively).
func (m Message) HasFlag(flag string) bool {
	for _, f := range m.Flags {
		if strings.EqualFold(f, flag) {
			return true
		}
	}
	return false
}

// Append stores raw in user's mailbox (IMAP APPEND) with the given flags, e.g.
// `\Seen`, and returns its UID. The internal date is now.
func (s *Server) Append(t testing.TB, user, mailbox string, raw []byte, flags ...string) uint32 {
	t.Helper()
	return s.AppendAt(t, user, mailbox, raw, time.Time{}, flags...)
}

// AppendAt is [Server.Append] with an internal date (the date IMAP SEARCH
// SINCE compares with); the zero time means now.
func (s *Server) AppendAt(t testing.TB, user, mailbox string, raw []byte, when time.Time, flags ...string) uint32 {
	t.Helper()
	var uid uint32
	s.withClient(t, user, func(c *imapclient.Client) error {
		opts := &imap.AppendOptions{Time: when}
		for _, f := range flags {
			opts.Flags = append(opts.Flags, imap.Flag(f))
		}
		cmd := c.Append(mailbox, int64(len(raw)), opts)
		if _, err := cmd.Write(raw); err != nil {
			return err
		}
		if err := cmd.Close(); err != nil {
			return err
		}
		data, err := cmd.Wait()
		if err != nil {
			return fmt.Errorf("APPEND to %q: %w", mailbox, err)
		}
		uid = uint32(data.UID)
		return nil
	})
	return uid
}

// Messages returns every message of user's mailbox in UID order, read with
// EXAMINE and BODY.PEEK so that reading changes nothing.
func (s *Server) Messages(t testing.TB, user, mailbox string) []Message {
	t.Helper()
	var out []Message
	s.withClient(t, user, func(c *imapclient.Client) error {
		sel, err := c.Select(mailbox, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			return fmt.Errorf("EXAMINE %q: %w", mailbox, err)
		}
		if sel.NumMessages == 0 {
			return nil
		}
		body := &imap.FetchItemBodySection{Peek: true}
		bufs, err := c.Fetch(imap.UIDSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true,
			BodySection: []*imap.FetchItemBodySection{body},
		}).Collect()
		if err != nil {
			return fmt.Errorf("FETCH %q: %w", mailbox, err)
		}
		for _, b := range bufs {
			m := Message{UID: uint32(b.UID), InternalDate: b.InternalDate, Raw: b.FindBodySection(body)}
			for _, f := range b.Flags {
				m.Flags = append(m.Flags, string(f))
			}
			out = append(out, m)
		}
		return nil
	})
	return out
}

// Move moves the message uid of user's mailbox from to mailbox to (IMAP UID
// MOVE: the server keeps its bytes) and returns its UID there.
func (s *Server) Move(t testing.TB, user, from string, uid uint32, to string) uint32 {
	t.Helper()
	var dest uint32
	s.withClient(t, user, func(c *imapclient.Client) error {
		if _, err := c.Select(from, nil).Wait(); err != nil {
			return fmt.Errorf("SELECT %q: %w", from, err)
		}
		data, err := c.Move(imap.UIDSetNum(imap.UID(uid)), to).Wait()
		if err != nil {
			return fmt.Errorf("MOVE %d from %q to %q: %w", uid, from, to, err)
		}
		if data == nil || data.DestUIDs == nil {
			return fmt.Errorf("MOVE %d from %q to %q: no COPYUID", uid, from, to)
		}
		if set, ok := data.DestUIDs.(imap.UIDSet); ok && len(set) == 1 {
			dest = uint32(set[0].Start)
		}
		return nil
	})
	return dest
}

// Delete removes the message uid from user's mailbox (UID STORE \Deleted,
// UID EXPUNGE of just that UID).
func (s *Server) Delete(t testing.TB, user, mailbox string, uid uint32) {
	t.Helper()
	s.withClient(t, user, func(c *imapclient.Client) error {
		if _, err := c.Select(mailbox, nil).Wait(); err != nil {
			return fmt.Errorf("SELECT %q: %w", mailbox, err)
		}
		set := imap.UIDSetNum(imap.UID(uid))
		if err := c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			return fmt.Errorf("STORE %d in %q: %w", uid, mailbox, err)
		}
		if err := c.UIDExpunge(set).Close(); err != nil {
			return fmt.Errorf("EXPUNGE %d in %q: %w", uid, mailbox, err)
		}
		return nil
	})
}

// withClient runs fn on the helpers' own logged-in connection for user
// (kept open between calls, so putting in many messages is fast), opening
// it on first use and again when the server dropped it (e.g. after Kick).
// Any error fails the test.
func (s *Server) withClient(t testing.TB, user string, fn func(c *imapclient.Client) error) {
	t.Helper()
	pass, ok := s.users[user]
	if !ok {
		t.Fatalf("dovecot: unknown user %q (add it with WithUser)", user)
	}
	s.helperMu.Lock()
	defer s.helperMu.Unlock()
	for attempt := 0; ; attempt++ {
		c := s.helpers[user]
		if c != nil && isClosed(c) {
			_ = c.Close()
			c = nil
		}
		if c == nil {
			var err error
			c, err = imapclient.DialInsecure(s.Addr(), &imapclient.Options{Dialer: &net.Dialer{Timeout: 5 * time.Second}})
			if err != nil {
				t.Fatalf("dovecot: connecting to %s: %v", s.Addr(), err)
			}
			if err := c.Login(user, pass).Wait(); err != nil {
				_ = c.Close()
				t.Fatalf("dovecot: login as %q: %v", user, err)
			}
			s.ownLogins.Add(1)
			s.helpers[user] = c
		}
		err := fn(c)
		if err == nil {
			return
		}
		var ie *imap.Error
		if errors.As(err, &ie) || attempt > 0 {
			t.Fatalf("dovecot: %v", err)
		}
		// The connection died under us (kicked): once more on a new one.
		_ = c.Close()
		delete(s.helpers, user)
	}
}

// closeHelpers logs the helpers' connections out.
func (s *Server) closeHelpers() {
	s.helperMu.Lock()
	defer s.helperMu.Unlock()
	for user, c := range s.helpers {
		if !isClosed(c) {
			done := make(chan struct{})
			go func() { _ = c.Logout().Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
			}
		}
		_ = c.Close()
		delete(s.helpers, user)
	}
}

func isClosed(c *imapclient.Client) bool {
	select {
	case <-c.Closed():
		return true
	default:
		return false
	}
}
