package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// conn is one logged-in IMAP connection.
type conn struct {
	c        *imapclient.Client
	raw      net.Conn // the TCP connection under c: closing it aborts every command
	acct     Account
	security Security // what was actually used: tls, starttls or plain
	caps     imap.CapSet
	lastUsed time.Time

	closeOnce sync.Once
}

// closed reports whether the server or the network already ended the
// connection (checked without blocking).
func (cn *conn) closed() bool {
	select {
	case <-cn.c.Closed():
		return true
	default:
		return false
	}
}

// close logs out politely (bounded by a short timeout) and closes.
func (cn *conn) close(logout bool) {
	cn.closeOnce.Do(func() {
		if logout && !cn.closed() {
			done := make(chan struct{})
			go func() {
				_ = cn.c.Logout().Wait()
				close(done)
			}()
			select {
			case <-done:
			case <-time.After(2 * time.Second):
			}
		}
		_ = cn.raw.Close()
		_ = cn.c.Close()
	})
}

// dialer opens and logs in connections; it is the part of a Pool that
// talks to the network.
type dialer struct {
	tlsConfig *tls.Config // base config (RootCAs), cloned per connection
	netDial   func(ctx context.Context, network, addr string) (net.Conn, error)
}

// connect opens a connection as acct's security mode says, waits for the
// greeting and logs in. Everything before LOGIN is bounded by the connect
// timeout, LOGIN by the command timeout.
func (d *dialer) connect(ctx context.Context, acct Account) (*conn, error) {
	if err := acct.Validate(); err != nil {
		return nil, err
	}
	cn, err := d.open(ctx, acct, acct.mode())
	if err != nil {
		return nil, err
	}
	if err := cn.login(ctx); err != nil {
		cn.close(false)
		return nil, err
	}
	return cn, nil
}

// open connects and greets without logging in. Automatic mode on a port
// other than 993 (securityAutoPending) first finds out what the server
// speaks (see detect); when it greets in plain text, STARTTLS is used, and
// plain IMAP only for a loopback host whose server refuses STARTTLS — never
// after a failed TLS handshake: that would be a downgrade.
func (d *dialer) open(ctx context.Context, acct Account, mode Security) (*conn, error) {
	cctx, cancel := context.WithTimeout(ctx, acct.connectTimeout())
	defer cancel()

	raw, err := d.netDial(cctx, "tcp", acct.addr())
	if err != nil {
		return nil, timeoutOr(ctx, classify("connect", acct, err), "connect", acct, acct.connectTimeout())
	}
	// Closing the socket is the only way to interrupt the IMAP library.
	fired := make(chan struct{})
	stop := context.AfterFunc(cctx, func() { close(fired); _ = raw.Close() })
	var cn *conn
	var found detection
	if mode == securityAutoPending {
		cn, found, err = d.detect(cctx, acct, raw)
	} else {
		cn, err = d.handshake(cctx, acct, mode, raw)
	}
	if !stop() {
		<-fired
		if cn != nil {
			cn.close(false)
		}
		_ = raw.Close()
		if mode == securityAutoPending && ctx.Err() == nil {
			return nil, detectionFailed(acct, context.DeadlineExceeded, false,
				fmt.Sprintf("no answer within %s (%s)", acct.connectTimeout(), found.why()))
		}
		return nil, timeoutOr(ctx, nil, "connect", acct, acct.connectTimeout())
	}
	if err == nil {
		return cn, nil
	}
	_ = raw.Close()
	if mode == securityAutoPending {
		switch {
		case found == detectedTLS && notTLS(err) && plainGreetingLate(err):
			// It greeted in plain text after all, only later than the
			// wait: STARTTLS, required (no plain after a failed handshake).
			cn, err := d.open(ctx, acct, SecuritySTARTTLS)
			if err != nil {
				return nil, detectionFailed(acct, err, false, "the server greeted in plain text only after the TLS hello, and STARTTLS failed")
			}
			return cn, nil
		case found == detectedTLS && notTLS(err):
			return nil, detectionFailed(acct, err, true, "no IMAP greeting, and no TLS handshake either")
		case found == detectedGarbage:
			return nil, detectionFailed(acct, err, true, "no IMAP server: the server sent something that is not an IMAP greeting")
		case found == detectedNothing:
			return nil, detectionFailed(acct, err, false, "the server closed the connection without a word")
		}
	}
	var refused *imap.Error
	if (mode == securityAutoPending || mode == SecuritySTARTTLS) && errors.As(err, &refused) &&
		refused.Type != imap.StatusResponseTypeBye {
		// The server answered STARTTLS with NO or BAD.
		if mode == securityAutoPending && isLoopback(acct.Host) {
			return d.open(ctx, acct, SecurityPlain)
		}
		msg := fmt.Sprintf("the server on port %d refuses STARTTLS", acct.port())
		if mode == securityAutoPending {
			msg += fmt.Sprintf(" and %s is not this machine, so the password would cross the network "+
				"unencrypted: use port 993 (implicit TLS) or enable STARTTLS on the server", acct.Host)
		}
		return nil, &Error{Op: "connect", Account: acct.String(), Permanent: true, Kind: ErrConfig, Msg: msg, Err: err}
	}
	return nil, classify("connect", acct, err)
}

// detection is what automatic mode saw on a port other than 993.
type detection int

const (
	detectedNothing  detection = iota // the connection ended before anything was seen
	detectedGreeting                  // a plain-text greeting: STARTTLS (or loopback plain)
	detectedTLS                       // silence: the server waits for a TLS hello
	detectedGarbage                   // bytes that are not an IMAP greeting
)

// why says what automatic mode saw, for an error message.
func (f detection) why() string {
	switch f {
	case detectedTLS:
		return "no IMAP greeting, and no TLS handshake either"
	case detectedGreeting:
		return "the server greeted in plain text but did not finish STARTTLS"
	default:
		return "nothing usable was received"
	}
}

// detect finds out what the server on a port other than 993 speaks, on the
// connection raw: a plain-text IMAP server (STARTTLS or not) greets at once
// ("* OK ..."), an implicit-TLS server waits silently for the client's TLS
// hello. It waits acct.detectWait() for a greeting: bytes that start like
// one continue as STARTTLS (see handshake, securityAutoPending); silence
// starts a TLS handshake on the same connection (certificates verified as
// always). Bytes that are not an IMAP greeting are an error.
func (d *dialer) detect(ctx context.Context, acct Account, raw net.Conn) (*conn, detection, error) {
	wait := acct.detectWait()
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < 2*wait {
		wait = time.Until(dl) / 2 // leave time for the handshake
	}
	buf := make([]byte, 512)
	if err := raw.SetReadDeadline(time.Now().Add(wait)); err != nil {
		return nil, detectedNothing, err
	}
	n, err := raw.Read(buf)
	if derr := raw.SetReadDeadline(time.Time{}); derr != nil && err == nil {
		err = derr
	}
	var ne net.Error
	switch {
	case n > 0 && buf[0] == '*':
		cn, err := d.handshake(ctx, acct, securityAutoPending, &replayConn{Conn: raw, pending: buf[:n]})
		return cn, detectedGreeting, err
	case n > 0:
		return nil, detectedGarbage, fmt.Errorf("it sent %q", printable(buf[:min(n, 40)]))
	case err != nil && !(errors.As(err, &ne) && ne.Timeout()):
		return nil, detectedNothing, err // closed or reset before a word
	}
	cn, err := d.handshake(ctx, acct, SecurityTLS, raw)
	return cn, detectedTLS, err
}

// notTLS reports a TLS handshake that failed because the other end does not
// speak TLS (it answered something else, or hung up), as opposed to a
// certificate that is not valid: that is never retried another way.
func notTLS(err error) bool {
	var rec tls.RecordHeaderError
	return errors.As(err, &rec) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET)
}

// plainGreetingLate reports a TLS handshake answered by a plain-text IMAP
// greeting (a server slower to greet than the detection wait).
func plainGreetingLate(err error) bool {
	var rec tls.RecordHeaderError
	return errors.As(err, &rec) && rec.RecordHeader[0] == '*'
}

// detectionFailed is the error of automatic mode when neither implicit TLS
// nor STARTTLS worked: it says what was seen, names both modes and the
// imap_security key. A certificate that is not valid is returned as it is
// (the mode was right; the certificate is the problem).
func detectionFailed(acct Account, cause error, permanent bool, why string) error {
	var own *Error
	if errors.As(cause, &own) {
		if own.Kind == ErrTLS && !notTLS(own.Err) {
			return cause
		}
		permanent = permanent || own.Permanent
		if own.Msg != "" {
			why += "; " + own.Msg
		}
		cause = own.Err
	}
	var kind error
	if permanent {
		kind = ErrConfig
	}
	return &Error{Op: "connect", Account: acct.String(), Permanent: permanent, Kind: kind,
		Msg: fmt.Sprintf("%s: tried implicit TLS and STARTTLS on %s; set imap_security: tls | starttls | plain",
			why, acct.addr()), Err: cause}
}

// printable shows bytes from the network safely in an error message.
func printable(b []byte) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return '.'
		}
		return r
	}, string(b))
}

// replayConn is a connection whose first reads return bytes already read
// from it (the greeting seen while detecting the mode).
type replayConn struct {
	net.Conn
	pending []byte
}

func (c *replayConn) Read(p []byte) (int, error) {
	if len(c.pending) > 0 {
		n := copy(p, c.pending)
		c.pending = c.pending[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// handshake runs TLS (implicit or STARTTLS) as asked and waits for the
// greeting.
func (d *dialer) handshake(ctx context.Context, acct Account, mode Security, raw net.Conn) (*conn, error) {
	cn := &conn{raw: raw, acct: acct}
	opts := &imapclient.Options{}
	switch mode {
	case SecurityTLS:
		tc := tls.Client(raw, d.tlsFor(acct))
		if err := tc.HandshakeContext(ctx); err != nil {
			return nil, err
		}
		cn.c, cn.security = imapclient.New(tc, opts), SecurityTLS
	case SecuritySTARTTLS, securityAutoPending:
		opts.TLSConfig = d.tlsFor(acct)
		c, err := imapclient.NewStartTLS(raw, opts)
		if err != nil {
			return nil, err
		}
		cn.c, cn.security = c, SecuritySTARTTLS
	default: // SecurityPlain
		cn.c, cn.security = imapclient.New(raw, opts), SecurityPlain
	}
	if err := cn.c.WaitGreeting(); err != nil {
		cn.close(false)
		return nil, err
	}
	if cn.c.State() != imap.ConnStateNotAuthenticated {
		cn.close(false)
		return nil, errors.New("server did not greet with OK (PREAUTH is not accepted)")
	}
	return cn, nil
}

// login sends LOGIN and reads the capabilities that apply after it.
func (cn *conn) login(ctx context.Context) error {
	acct := cn.acct
	loginDisabled := false
	err, cut := cn.guard(ctx, acct.commandTimeout(), func() error {
		if cn.security == SecurityPlain && cn.c.Caps().Has(imap.CapLoginDisabled) {
			loginDisabled = true
			return nil
		}
		if err := cn.c.Login(acct.Username, acct.Password).Wait(); err != nil {
			return err
		}
		cn.caps = cn.c.Caps()
		return nil
	})
	if cut {
		return timeoutOr(ctx, nil, "login", acct, acct.commandTimeout())
	}
	if loginDisabled {
		return &Error{Op: "login", Account: acct.String(), Permanent: true, Kind: ErrConfig,
			Msg: "the server refuses logins without TLS (LOGINDISABLED): use port 993 or STARTTLS"}
	}
	if err != nil {
		var ie *imap.Error
		if errors.As(err, &ie) && ie.Type != imap.StatusResponseTypeBye && permanentCode(ie) {
			return &Error{Op: "login", Account: acct.String(), Permanent: true, Kind: ErrAuth,
				Msg: "the server refused the username or password", Err: scrub(err, acct.Password)}
		}
		return classify("login", acct, err)
	}
	if cn.caps == nil {
		return &Error{Op: "login", Account: acct.String(), Msg: "no capabilities after login",
			Err: errors.New("connection closed")}
	}
	return nil
}

// tlsFor returns the TLS settings for acct: verified against the host name
// (or IP) unless InsecureSkipVerify.
func (d *dialer) tlsFor(acct Account) *tls.Config {
	cfg := d.tlsConfig.Clone()
	cfg.ServerName = acct.Host
	cfg.InsecureSkipVerify = acct.InsecureSkipVerify
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	return cfg
}

// timeoutOr builds the error for a step cut short: the caller's context
// ended (transient, with its error) or our own timeout fired (transient,
// "no answer within ..."). A non-nil err that is not about time is returned
// unchanged.
func timeoutOr(ctx context.Context, err error, op string, acct Account, limit time.Duration) error {
	if ctx.Err() != nil {
		return &Error{Op: op, Account: acct.String(), Msg: "cancelled", Err: ctx.Err()}
	}
	if err != nil {
		var ne net.Error
		if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, context.DeadlineExceeded) {
			return err
		}
	}
	return &Error{Op: op, Account: acct.String(), Msg: fmt.Sprintf("no answer within %s", limit),
		Err: context.DeadlineExceeded}
}
