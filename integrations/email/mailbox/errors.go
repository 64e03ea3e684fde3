package mailbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// Classes of failure, tested with errors.Is. Every error this package
// returns is an *Error and matches exactly one of ErrTransient and
// ErrPermanent, plus at most one of the specific kinds below.
var (
	// ErrTransient: retrying later may succeed (network, timeout, server
	// busy or gone, connection closed, caller's context ended).
	ErrTransient = errors.New("transient IMAP failure")
	// ErrPermanent: retrying cannot help until something changes
	// (credentials, configuration, folders on the server).
	ErrPermanent = errors.New("permanent IMAP failure")

	// ErrNoSuchMessage: the UID is not (or no longer) in the folder, e.g. the
	// user moved or deleted the message. For a move this means "already
	// done" from the caller's point of view. Permanent.
	ErrNoSuchMessage = errors.New("no such message")
	// ErrAuth: the server refused the login. Permanent.
	ErrAuth = errors.New("IMAP login refused")
	// ErrTLS: the TLS handshake failed, e.g. the certificate is not valid
	// for the host. Permanent.
	ErrTLS = errors.New("TLS failure")
	// ErrNoSpecialUse: no folder carries the requested special-use flag.
	// Permanent.
	ErrNoSpecialUse = errors.New("no folder with the special-use flag")
	// ErrNoFolder: a named folder does not exist on the server. Permanent.
	ErrNoFolder = errors.New("no such IMAP folder")
	// ErrConfig: the account or the server cannot be used as configured
	// (e.g. plain IMAP to a remote host in automatic mode, or a server
	// without MOVE and UIDPLUS). Permanent.
	ErrConfig = errors.New("unusable IMAP configuration")
	// ErrPoolClosed: the Pool was closed. Permanent.
	ErrPoolClosed = errors.New("IMAP pool closed")
)

// Error is the error type of this package. It never contains the password.
type Error struct {
	Op        string // what was being done: "connect", "login", "fetch", "move", ...
	Account   string // "user@host:port"
	Permanent bool
	Kind      error  // one of the Err* kinds above, or nil
	Msg       string // explanation for the user, may be empty
	Err       error  // underlying cause, may be nil
}

// Error returns "IMAP <op> (<account>): <msg>: <cause>".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("IMAP ")
	b.WriteString(e.Op)
	if e.Account != "" {
		b.WriteString(" (" + e.Account + ")")
	}
	b.WriteString(": ")
	switch {
	case e.Msg != "" && e.Err != nil:
		b.WriteString(e.Msg + ": " + e.Err.Error())
	case e.Msg != "":
		b.WriteString(e.Msg)
	case e.Err != nil:
		b.WriteString(e.Err.Error())
	case e.Kind != nil:
		b.WriteString(e.Kind.Error())
	}
	return b.String()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches ErrTransient or ErrPermanent by class and the error's Kind.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrTransient:
		return !e.Permanent
	case ErrPermanent:
		return e.Permanent
	}
	return e.Kind != nil && target == e.Kind
}

// brokenConn reports whether a raw error from the IMAP library leaves the
// connection unusable: anything but a tagged NO or BAD answer. This
// package's own *Error values are verdicts about data (missing message,
// folder or flag) and leave the connection usable.
func brokenConn(err error) bool {
	if err == nil {
		return false
	}
	var own *Error
	if errors.As(err, &own) {
		return false
	}
	var ie *imap.Error
	return !errors.As(err, &ie) || ie.Type == imap.StatusResponseTypeBye
}

// classify turns any error from the IMAP library or the network into an
// *Error with the right class. password is scrubbed from the text, should a
// server ever echo it.
func classify(op string, acct Account, err error) error {
	if err == nil {
		return nil
	}
	var own *Error
	if errors.As(err, &own) {
		return err
	}
	e := &Error{Op: op, Account: acct.String(), Err: scrub(err, acct.Password)}

	var (
		ie      *imap.Error
		dnsErr  *net.DNSError
		certErr *tls.CertificateVerificationError
		uaErr   x509.UnknownAuthorityError
		hostErr x509.HostnameError
		invErr  x509.CertificateInvalidError
		recErr  tls.RecordHeaderError
	)
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// transient: the caller gave up or a timeout fired
	case errors.As(err, &certErr), errors.As(err, &uaErr), errors.As(err, &hostErr), errors.As(err, &invErr):
		e.Permanent, e.Kind = true, ErrTLS
		e.Msg = "the server's TLS certificate is not valid for " + acct.Host +
			" (fix the certificate, or set tls_verify: false if you trust this network)"
	case errors.As(err, &recErr):
		e.Permanent, e.Kind = true, ErrTLS
		e.Msg = fmt.Sprintf("port %d does not speak TLS (port 993 is implicit TLS; use 143 for STARTTLS)", acct.port())
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		e.Permanent, e.Kind = true, ErrConfig
		e.Msg = "host " + acct.Host + " not found"
	case errors.As(err, &ie):
		e.Permanent = permanentCode(ie)
	}
	return e
}

// permanentCode decides for a NO/BAD/BYE answer whether retrying can help.
func permanentCode(ie *imap.Error) bool {
	if ie.Type == imap.StatusResponseTypeBye {
		return false // server shutting down or overloaded
	}
	switch ie.Code {
	case imap.ResponseCodeUnavailable, imap.ResponseCodeInUse, imap.ResponseCodeLimit,
		imap.ResponseCodeServerBug, imap.ResponseCodeCorruption:
		return false
	}
	return true
}

// scrub removes the password from an error's text (keeping the error itself
// when the password does not occur in it). Passwords shorter than 4 bytes
// are left alone: scrubbing them would garble every message.
func scrub(err error, password string) error {
	if len(password) < 4 || !strings.Contains(err.Error(), password) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), password, "***"))
}
