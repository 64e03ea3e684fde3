package msg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// DefaultMaxDisconnect is how long a Bus waits for a lost connection to come
// back before it gives up (Options.MaxDisconnect).
const DefaultMaxDisconnect = 2 * time.Minute

// ErrConnectionLost is wrapped by Bus.Err when the connection to NATS is gone
// for good: closed by the server in a way nats.go does not recover from, or lost
// longer than Options.MaxDisconnect.
var ErrConnectionLost = errors.New("NATS connection lost")

// Reconnect timing: nats.go retries every server of the pool, then waits
// reconnectWait plus up to reconnectJitter (spreading the reconnects of several
// processes after the NATS server restarts). Pings find a dead TCP peer (a
// machine gone from the network) within about pingInterval*maxPingsOut.
const (
	reconnectWait       = time.Second
	reconnectJitter     = 500 * time.Millisecond
	reconnectJitterTLS  = 2 * time.Second
	pingInterval        = 20 * time.Second
	maxPingsOutstanding = 3
)

// connWatch follows one connection's life: it logs every disconnect and
// reconnect (the server address with credentials redacted), and gives up when
// the connection is closed for good or stays lost longer than maxDown.
type connWatch struct {
	log     *slog.Logger
	maxDown time.Duration
	done    chan struct{}

	mu          sync.Mutex
	addr        string // redacted server address, for logs
	inProcess   bool
	downSince   time.Time // zero while connected
	epoch       int       // bumped by every disconnect and reconnect
	timer       *time.Timer
	isClosing   bool // Close was called
	finished    bool // done is closed
	err         error
	disconnects int
	reconnects  int
	// afterReconnect runs (on its own goroutine) after every reconnect.
	afterReconnect func()
}

// setAfterReconnect sets what runs after each reconnect.
func (w *connWatch) setAfterReconnect(f func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.afterReconnect = f
}

func newConnWatch(log *slog.Logger, maxDown time.Duration, addr string) *connWatch {
	return &connWatch{log: log, maxDown: maxDown, addr: addr, done: make(chan struct{})}
}

// options are the nats.go options of every Bus connection.
func (w *connWatch) options() []nats.Option {
	return []nats.Option{
		nats.MaxReconnects(-1), // never stop on its own: the watch decides
		nats.ReconnectWait(reconnectWait),
		nats.ReconnectJitter(reconnectJitter, reconnectJitterTLS),
		nats.PingInterval(pingInterval),
		nats.MaxPingsOutstanding(maxPingsOutstanding),
		nats.DisconnectErrHandler(w.disconnected),
		nats.ReconnectHandler(w.reconnected),
		nats.ClosedHandler(w.closed),
		nats.ErrorHandler(w.asyncError),
	}
}

func (w *connWatch) disconnected(nc *nats.Conn, err error) {
	w.mu.Lock()
	if w.isClosing || w.finished || !w.downSince.IsZero() {
		w.mu.Unlock()
		return
	}
	w.downSince = time.Now()
	w.disconnects++
	w.epoch++
	epoch := w.epoch
	w.timer = time.AfterFunc(w.maxDown, func() { w.giveUp(nc, epoch) })
	addr := w.addr
	w.mu.Unlock()
	reason := "connection closed"
	if err != nil {
		reason = err.Error()
	}
	w.log.Warn("NATS connection lost; reconnecting", "server", addr, "reason", reason, "give_up_after", w.maxDown.String())
}

func (w *connWatch) reconnected(nc *nats.Conn) {
	w.mu.Lock()
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	var down time.Duration
	if !w.downSince.IsZero() {
		down = time.Since(w.downSince)
	}
	w.downSince = time.Time{}
	w.epoch++
	w.reconnects++
	if !w.inProcess {
		if u := nc.ConnectedUrl(); u != "" {
			w.addr = RedactURL(u)
		}
	}
	addr, quiet, after := w.addr, w.isClosing || w.finished, w.afterReconnect
	w.mu.Unlock()
	if !quiet {
		w.log.Info("NATS reconnected", "server", addr, "after", down.Round(time.Millisecond).String())
		if after != nil {
			go after()
		}
	}
}

// abandon gives up on a connection that works but cannot serve Steward: Done
// is closed with err and the connection closed.
func (w *connWatch) abandon(nc *nats.Conn, err error) {
	w.mu.Lock()
	if w.isClosing || w.finished {
		w.mu.Unlock()
		return
	}
	w.log.Error("giving up on NATS", "err", err)
	w.finishLocked(err)
	w.mu.Unlock()
	nc.Close()
}

// giveUp ends a disconnect that lasted maxDown: the connection is closed, so
// nothing waits on it any longer, and Done tells the process.
func (w *connWatch) giveUp(nc *nats.Conn, epoch int) {
	w.mu.Lock()
	if w.epoch != epoch || w.downSince.IsZero() || w.isClosing || w.finished {
		w.mu.Unlock()
		return
	}
	err := fmt.Errorf("%w: %s unreachable for %s", ErrConnectionLost, w.addr, w.maxDown)
	w.log.Error("giving up on NATS", "err", err)
	w.finishLocked(err)
	w.mu.Unlock()
	nc.Close()
}

func (w *connWatch) closed(nc *nats.Conn) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.finished {
		return
	}
	if w.isClosing {
		w.finishLocked(nil)
		return
	}
	reason := "closed"
	if err := nc.LastError(); err != nil {
		reason = err.Error()
	}
	err := fmt.Errorf("%w: the connection to %s was closed for good (%s)", ErrConnectionLost, w.addr, reason)
	w.log.Error("NATS connection closed; it will not come back", "err", err)
	w.finishLocked(err)
}

func (w *connWatch) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	if sub != nil {
		w.log.Warn("NATS error", "subject", sub.Subject, "err", err)
		return
	}
	w.log.Warn("NATS error", "err", err)
}

// closing marks a close asked for by the owner: no warnings, no failure.
func (w *connWatch) closing() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.isClosing = true
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
}

func (w *connWatch) finishLocked(err error) {
	if w.finished {
		return
	}
	w.finished = true
	w.err = err
	if w.timer != nil {
		w.timer.Stop()
		w.timer = nil
	}
	close(w.done)
}

func (w *connWatch) failure() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// counts reports the disconnects and reconnects seen so far.
func (w *connWatch) counts() (disconnects, reconnects int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.disconnects, w.reconnects
}

// dial connects, retrying a URL server that cannot be reached for up to wait.
// Authorization and TLS requirement failures are final at once: retrying the
// same credentials cannot help.
func dial(ctx context.Context, url string, wait time.Duration, log *slog.Logger, opts []nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(wait)
	for attempt := 1; ; attempt++ {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			return nc, nil
		}
		where := RedactURL(url)
		if url == "" {
			where = "embedded server"
		}
		err = fmt.Errorf("connect to nats %s: %w", where, err)
		if url == "" || wait <= 0 || permanentConnectError(err) || !time.Now().Before(deadline) {
			return nil, err
		}
		delay := min(time.Duration(attempt)*time.Second, 5*time.Second)
		log.Warn("NATS not reachable yet; retrying", "server", where, "err", err, "retry_in", delay.String(),
			"gives_up_in", time.Until(deadline).Round(time.Second).String())
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (stopped retrying: %w)", err, ctx.Err())
		case <-time.After(delay):
		}
	}
}

func permanentConnectError(err error) bool {
	for _, e := range []error{nats.ErrAuthorization, nats.ErrAuthExpired, nats.ErrAuthRevoked,
		nats.ErrAccountAuthExpired, nats.ErrSecureConnRequired, nats.ErrSecureConnWanted} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// credentialsOption reads a credentials file: a .creds file (user JWT and
// seed) or an nkey seed file. Errors name the file, never its contents.
func credentialsOption(path string, log *slog.Logger) (nats.Option, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		log.Warn("NATS credentials file can be read by other users; run chmod 600 on it", "file", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("nats credentials: %w", err)
	}
	isCreds := bytes.Contains(raw, []byte("BEGIN NATS USER JWT"))
	wipe(raw)
	if isCreds {
		return nats.UserCredentials(path), nil
	}
	opt, err := nats.NkeyOptionFromSeed(path)
	if err != nil {
		return nil, fmt.Errorf("nats credentials %s: want a .creds file or an nkey user seed file", path)
	}
	return opt, nil
}
