package mailbox

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults for the zero values of PoolOptions.
const (
	DefaultMaxPerAccount = 2
	DefaultIdleTimeout   = 5 * time.Minute
	DefaultPingAfter     = 30 * time.Second
)

// PoolOptions configures a Pool; zero values take the defaults.
type PoolOptions struct {
	// MaxPerAccount bounds the connections (busy or idle) per account key;
	// a Session call waits for a free one. Default 2.
	MaxPerAccount int
	// IdleTimeout closes a connection unused for this long. Default 5 min.
	IdleTimeout time.Duration
	// PingAfter: a connection idle for at least this long is checked with a
	// NOOP before it is handed out again (a dead one is replaced
	// transparently). Default 30 s; negative pings on every reuse.
	PingAfter time.Duration
	// Logger receives connection events (never passwords). Default
	// slog.Default().
	Logger *slog.Logger
	// RootCAs replaces the system's trusted certificate authorities (tests,
	// a private CA). Nil uses the system's.
	RootCAs *x509.CertPool
	// DialContext opens TCP connections. Nil uses a net.Dialer.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Pool hands out logged-in IMAP sessions and keeps their connections for
// reuse by later tasks of the same account. Use one Pool per process; it is
// safe for concurrent use. Close it on shutdown.
type Pool struct {
	opts   PoolOptions
	log    *slog.Logger
	dialer *dialer
	logins atomic.Int64

	mu       sync.Mutex
	accounts map[string]*accountConns
	closed   bool

	stopJanitor chan struct{}
	janitorDone chan struct{}
}

// accountConns is the per-key part of a pool.
type accountConns struct {
	acct     Account       // latest configuration seen for the key
	detected Security      // what automatic mode last found (logged when it changes)
	slots    chan struct{} // one token per connection handed out
	idle     []*conn       // logged in and unused, most recent last
}

// NewPool returns an empty pool; connections are opened on demand.
func NewPool(opts PoolOptions) *Pool {
	if opts.MaxPerAccount <= 0 {
		opts.MaxPerAccount = DefaultMaxPerAccount
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.PingAfter == 0 {
		opts.PingAfter = DefaultPingAfter
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	netDial := opts.DialContext
	if netDial == nil {
		netDial = (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext
	}
	p := &Pool{
		opts:        opts,
		log:         opts.Logger,
		dialer:      &dialer{tlsConfig: &tls.Config{RootCAs: opts.RootCAs}, netDial: netDial},
		accounts:    map[string]*accountConns{},
		stopJanitor: make(chan struct{}),
		janitorDone: make(chan struct{}),
	}
	every := min(opts.IdleTimeout/2, time.Minute)
	go p.janitor(max(every, 10*time.Millisecond))
	return p
}

// Logins returns how many IMAP logins the pool has made since it was
// created: with reuse, one per account for a steady stream of tasks.
func (p *Pool) Logins() int64 { return p.logins.Load() }

// Session returns a logged-in session for acct, reusing an idle connection
// of the same key when there is a healthy one. key identifies the account
// within the process (e.g. the integration id); when acct changes for a key
// (new password), older connections are closed instead of reused.
//
// The caller must call release exactly once when done, with the error that
// ended its work (or nil): the connection goes back to the pool unless the
// session saw a broken connection or err is transient, in which case it is
// closed. Waiting for a free connection and connecting honour ctx.
func (p *Pool) Session(ctx context.Context, key string, acct Account) (s *Session, release func(err error), err error) {
	if err := acct.Validate(); err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, nil, &Error{Op: "connect", Account: acct.String(), Permanent: true, Kind: ErrPoolClosed}
	}
	a := p.accounts[key]
	if a == nil {
		a = &accountConns{acct: acct, slots: make(chan struct{}, p.opts.MaxPerAccount)}
		p.accounts[key] = a
	}
	var stale []*conn
	if a.acct != acct {
		stale, a.idle, a.acct = a.idle, nil, acct
	}
	p.mu.Unlock()
	closeAll(stale, true)

	select {
	case a.slots <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, &Error{Op: "connect", Account: acct.String(),
			Msg: "cancelled while waiting for a free connection", Err: ctx.Err()}
	}
	cn, err := p.checkout(ctx, a, acct)
	if err != nil {
		<-a.slots
		return nil, nil, err
	}
	s = &Session{pool: p, conns: a, cn: cn, acct: acct}
	return s, s.release, nil
}

// Do runs fn with a session of acct and releases it with fn's error.
func (p *Pool) Do(ctx context.Context, key string, acct Account, fn func(*Session) error) error {
	s, release, err := p.Session(ctx, key, acct)
	if err != nil {
		return err
	}
	err = fn(s)
	release(err)
	return err
}

// checkout takes the most recently used healthy idle connection, or logs in
// a new one. The caller holds a slot.
func (p *Pool) checkout(ctx context.Context, a *accountConns, acct Account) (*conn, error) {
	for {
		p.mu.Lock()
		var cn *conn
		if n := len(a.idle); n > 0 {
			cn, a.idle = a.idle[n-1], a.idle[:n-1]
		}
		p.mu.Unlock()
		if cn == nil {
			break
		}
		idle := time.Since(cn.lastUsed)
		if cn.closed() || idle >= p.opts.IdleTimeout || cn.acct != acct {
			p.log.Debug("IMAP connection dropped before reuse", "account", acct, "idle", idle.Round(time.Millisecond))
			cn.close(!cn.closed())
			continue
		}
		if idle >= p.opts.PingAfter || p.opts.PingAfter < 0 {
			if err, cut := cn.guard(ctx, min(acct.commandTimeout(), 10*time.Second), func() error {
				return cn.c.Noop().Wait()
			}); err != nil || cut {
				p.log.Info("IMAP connection dead on reuse, reconnecting", "account", acct)
				cn.close(false)
				if ctx.Err() != nil {
					return nil, timeoutOr(ctx, nil, "connect", acct, 0)
				}
				continue
			}
		}
		return cn, nil
	}

	start := time.Now()
	cn, err := p.dialer.connect(ctx, acct)
	if err != nil {
		p.log.Warn("IMAP login failed", "account", acct, "error", err)
		return nil, err
	}
	p.logins.Add(1)
	p.log.Info("IMAP logged in", "account", acct, "security", string(cn.security),
		"took", time.Since(start).Round(time.Millisecond))
	if acct.mode() == securityAutoPending {
		p.mu.Lock()
		changed := a.detected != cn.security
		a.detected = cn.security
		p.mu.Unlock()
		if changed {
			p.log.Info(fmt.Sprintf("IMAP security detected: %s on port %d", cn.security, acct.port()), "account", acct)
		}
	}
	if cn.security == SecurityPlain && !isLoopback(acct.Host) {
		p.log.Warn("IMAP password sent unencrypted: security is plain for a host that is not this machine",
			"account", acct)
	}
	return cn, nil
}

// giveBack returns a connection to the idle list, or closes it when the
// session broke it (why says how), the pool is closed or the account's
// configuration changed meanwhile.
func (p *Pool) giveBack(a *accountConns, cn *conn, why string) {
	p.mu.Lock()
	switch {
	case why != "":
	case p.closed:
		why = "pool closed"
	case a.acct != cn.acct:
		why = "account configuration changed"
	default:
		cn.lastUsed = time.Now()
		a.idle = append(a.idle, cn)
	}
	p.mu.Unlock()
	if why != "" {
		p.log.Debug("IMAP connection closed", "account", cn.acct, "reason", why)
		cn.close(!cn.closed())
	}
	<-a.slots
}

// janitor closes connections idle for longer than IdleTimeout.
func (p *Pool) janitor(every time.Duration) {
	defer close(p.janitorDone)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stopJanitor:
			return
		case <-t.C:
			cutoff := time.Now().Add(-p.opts.IdleTimeout)
			var expired []*conn
			p.mu.Lock()
			for _, a := range p.accounts {
				kept := a.idle[:0]
				for _, cn := range a.idle {
					if cn.lastUsed.Before(cutoff) || cn.closed() {
						expired = append(expired, cn)
					} else {
						kept = append(kept, cn)
					}
				}
				a.idle = kept
			}
			p.mu.Unlock()
			if len(expired) > 0 {
				p.log.Debug("IMAP idle connections closed", "count", len(expired))
			}
			closeAll(expired, true)
		}
	}
}

// Close logs out and closes every idle connection; sessions still in use
// are closed when released. Session calls after Close fail with
// ErrPoolClosed. Close is idempotent.
func (p *Pool) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	var idle []*conn
	for _, a := range p.accounts {
		idle = append(idle, a.idle...)
		a.idle = nil
	}
	p.mu.Unlock()
	close(p.stopJanitor)
	<-p.janitorDone
	closeAll(idle, true)
	return nil
}

// closeAll closes connections in parallel (LOGOUT is bounded per
// connection) and waits for them.
func closeAll(conns []*conn, logout bool) {
	var wg sync.WaitGroup
	for _, cn := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cn.close(logout && !cn.closed())
		}()
	}
	wg.Wait()
}

// guard runs fn, closing the socket when ctx ends or timeout passes first
// (the only way to interrupt the IMAP library). cut reports that the socket
// was closed: the connection is then unusable, whatever fn returned.
func (cn *conn) guard(ctx context.Context, timeout time.Duration, fn func() error) (err error, cut bool) {
	gctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	fired := make(chan struct{})
	stop := context.AfterFunc(gctx, func() { close(fired); _ = cn.raw.Close() })
	err = fn()
	if !stop() {
		<-fired
		return err, true
	}
	return err, false
}
