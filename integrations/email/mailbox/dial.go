package mailbox

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
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

// open connects and greets without logging in. mode "auto" tries STARTTLS
// and falls back to plain only for a loopback host whose server refuses
// STARTTLS (never after a failed TLS handshake: that would be a downgrade).
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
	cn, err := d.handshake(cctx, acct, mode, raw)
	if !stop() {
		<-fired
		if cn != nil {
			cn.close(false)
		}
		_ = raw.Close()
		return nil, timeoutOr(ctx, nil, "connect", acct, acct.connectTimeout())
	}
	if err == nil {
		return cn, nil
	}
	_ = raw.Close()
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
