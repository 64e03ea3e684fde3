package mailbox

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/emersion/go-imap/v2/imapclient"
)

// inbox is the IMAP name of the inbox (case-insensitive by RFC 3501).
const inbox = "INBOX"

// Session is one logged-in IMAP connection lent to one task by a Pool. It
// is not safe for concurrent use: one goroutine runs its operations one
// after the other. Every operation is bounded by the account's command
// timeout and by ctx; after a timeout, a cancellation or a network error
// the session is broken (later operations fail at once with ErrTransient)
// and its connection is closed on release.
//
// The first operation that needs the inbox SELECTs it, so every session
// starts from the server's current state (and UIDVALIDITY).
type Session struct {
	pool     *Pool
	conns    *accountConns
	cn       *conn
	acct     Account
	released atomic.Bool
	broken   bool

	selected    string // mailbox selected by this session, "" before the first SELECT
	uidValidity uint32
	folders     []folder // LIST result cached for this session, nil until listed
}

// errConnBroken is the cause for operations on a broken session.
var errConnBroken = errors.New("the connection failed earlier in this session")

// Security returns how this session's connection is protected: SecurityTLS,
// SecuritySTARTTLS or SecurityPlain.
func (s *Session) Security() Security { return s.cn.security }

// Account returns the account this session is logged in to.
func (s *Session) Account() Account { return s.acct }

// release gives the connection back to the pool (see Pool.Session).
func (s *Session) release(err error) {
	if s.released.Swap(true) {
		return
	}
	var why string
	switch {
	case s.broken:
		why = "failed during the session"
	case s.cn.closed():
		why = "closed by the server"
	case errors.Is(err, ErrTransient):
		why = "released with a transient error"
	}
	s.pool.giveBack(s.conns, s.cn, why)
}

// run executes one IMAP exchange under the command timeout and ctx, and
// turns what goes wrong into an *Error (marking the session broken when the
// connection cannot be trusted any more).
func (s *Session) run(ctx context.Context, op string, fn func(c *imapclient.Client) error) error {
	if s.released.Load() {
		return &Error{Op: op, Account: s.acct.String(), Permanent: true, Msg: "session used after release"}
	}
	if s.broken {
		return &Error{Op: op, Account: s.acct.String(), Err: errConnBroken}
	}
	err, cut := s.cn.guard(ctx, s.acct.commandTimeout(), func() error { return fn(s.cn.c) })
	if cut {
		s.broken = true
		if err == nil {
			return nil // finished just as the timer fired
		}
		return timeoutOr(ctx, nil, op, s.acct, s.acct.commandTimeout())
	}
	if brokenConn(err) {
		s.broken = true
	}
	return classify(op, s.acct, err)
}

// selectInbox SELECTs INBOX unless this session already did.
func (s *Session) selectInbox(ctx context.Context) error {
	if s.selected == inbox {
		return nil
	}
	return s.run(ctx, "select INBOX", func(c *imapclient.Client) error {
		data, err := c.Select(inbox, nil).Wait()
		if err != nil {
			s.selected = ""
			return err
		}
		s.selected, s.uidValidity = inbox, data.UIDValidity
		return nil
	})
}

// noSuchMessage is the error for a UID that is not in INBOX.
func (s *Session) noSuchMessage(op string, uid uint32) error {
	return &Error{Op: op, Account: s.acct.String(), Permanent: true, Kind: ErrNoSuchMessage,
		Msg: fmt.Sprintf("no message with UID %d in INBOX (UIDVALIDITY %d)", uid, s.uidValidity)}
}
