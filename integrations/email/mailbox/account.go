package mailbox

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Security says how a connection is protected.
type Security string

// The security modes (see the package documentation).
const (
	// SecurityAuto is implicit TLS on port 993. On any other port it
	// detects the server's mode: a server that greets at once gets STARTTLS
	// when it offers it, else plain IMAP but only to a loopback host; a
	// server that stays silent (waiting for a TLS hello) gets implicit TLS.
	SecurityAuto Security = ""
	// SecurityTLS is implicit TLS (IMAPS), normally port 993.
	SecurityTLS Security = "tls"
	// SecuritySTARTTLS is a plain connection upgraded with STARTTLS before
	// login, normally port 143; a server that refuses STARTTLS is an error.
	SecuritySTARTTLS Security = "starttls"
	// SecurityPlain is unencrypted IMAP: the password crosses the network in
	// clear text. Meant for a server on the same machine (or reached through
	// a tunnel); choosing it for a remote host logs a warning on every login.
	SecurityPlain Security = "plain"
)

// securityAutoPending is automatic mode on a port other than 993: detect
// implicit TLS or a plain-text greeting (then STARTTLS if offered, else plain
// for a loopback host).
const securityAutoPending Security = "auto"

// Defaults for the zero values of Account.
const (
	DefaultPort           = 993
	DefaultConnectTimeout = 20 * time.Second
	DefaultCommandTimeout = 60 * time.Second
	// DefaultDetectWait is how long automatic mode on a port other than 993
	// waits for a plain-text greeting before it starts a TLS handshake.
	DefaultDetectWait = 1500 * time.Millisecond
)

// Account is one IMAP login. Its zero-value security is the safe one:
// automatic mode and verified certificates.
//
// String, GoString and LogValue never show the password, so an Account can
// be logged or printed; errors of this package never contain it either.
type Account struct {
	Host     string
	Port     int // 0 means 993
	Username string
	Password string

	// Security is the transport mode; "" is SecurityAuto.
	Security Security
	// InsecureSkipVerify accepts any TLS certificate (the config's
	// tls_verify: false), e.g. a self-signed one on a home server. TLS is
	// still used; only the check of who is at the other end is skipped.
	InsecureSkipVerify bool

	// ConnectTimeout bounds TCP connect, TLS handshake and greeting
	// (0 = DefaultConnectTimeout); CommandTimeout bounds each IMAP command,
	// LOGIN included (0 = DefaultCommandTimeout).
	ConnectTimeout time.Duration
	CommandTimeout time.Duration
	// DetectWait is how long automatic mode on a port other than 993 waits
	// for a plain-text greeting before it takes the server's silence for
	// implicit TLS (0 = DefaultDetectWait; at most half the connect timeout).
	DetectWait time.Duration
}

// String returns "user@host:port", without the password.
func (a Account) String() string { return a.Username + "@" + a.addr() }

// GoString is String, so %#v cannot print the password either.
func (a Account) GoString() string { return "mailbox.Account(" + a.String() + ")" }

// LogValue logs the account without the password.
func (a Account) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("user", a.Username),
		slog.String("server", a.addr()),
		slog.String("security", string(a.mode())),
	)
}

// Validate reports a configuration that can never work.
func (a Account) Validate() error {
	var problems []string
	if strings.TrimSpace(a.Host) == "" {
		problems = append(problems, "imap_server is empty")
	}
	if a.Port < 0 || a.Port > 65535 {
		problems = append(problems, fmt.Sprintf("imap_port %d is not a TCP port", a.Port))
	}
	if a.Username == "" {
		problems = append(problems, "username is empty")
	}
	switch a.Security {
	case SecurityAuto, SecurityTLS, SecuritySTARTTLS, SecurityPlain:
	default:
		problems = append(problems, fmt.Sprintf("security %q is not one of tls, starttls, plain", string(a.Security)))
	}
	if a.ConnectTimeout < 0 || a.CommandTimeout < 0 || a.DetectWait < 0 {
		problems = append(problems, "timeouts must not be negative")
	}
	if len(problems) > 0 {
		return &Error{Op: "config", Account: a.String(), Permanent: true, Kind: ErrConfig,
			Msg: strings.Join(problems, "; ")}
	}
	return nil
}

func (a Account) port() int {
	if a.Port == 0 {
		return DefaultPort
	}
	return a.Port
}

func (a Account) addr() string { return net.JoinHostPort(a.Host, strconv.Itoa(a.port())) }

// mode resolves SecurityAuto for port 993; other ports stay auto (decided
// when connecting).
func (a Account) mode() Security {
	if a.Security == SecurityAuto && a.port() == 993 {
		return SecurityTLS
	}
	if a.Security == SecurityAuto {
		return securityAutoPending
	}
	return a.Security
}

func (a Account) connectTimeout() time.Duration {
	if a.ConnectTimeout > 0 {
		return a.ConnectTimeout
	}
	return DefaultConnectTimeout
}

func (a Account) detectWait() time.Duration {
	if a.DetectWait > 0 {
		return a.DetectWait
	}
	return DefaultDetectWait
}

func (a Account) commandTimeout() time.Duration {
	if a.CommandTimeout > 0 {
		return a.CommandTimeout
	}
	return DefaultCommandTimeout
}

// isLoopback reports whether host is this machine: "localhost" or a
// loopback IP literal. Other names are not resolved: DNS must not be able to
// turn a remote server into a "local" one that gets a clear-text password.
func isLoopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}
