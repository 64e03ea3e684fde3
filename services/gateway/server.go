package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/stewardhq/steward/internal/config"
)

// DefaultAddr is where the gateway listens unless configured otherwise.
const DefaultAddr = "127.0.0.1:6767"

// ErrTokenRequired is returned (wrapped, with instructions) by NewServer and
// Serve when asked to listen beyond loopback without a token.
var ErrTokenRequired = errors.New("a gateway token is required to listen beyond loopback")

// ServerOptions configure the listener in front of the gateway's handler.
type ServerOptions struct {
	// Addr is host:port (gateway.listen). "" means DefaultAddr; an empty host
	// means 127.0.0.1, never every interface. Port 0 picks a free port.
	Addr string
	// Expose listens on every interface (0.0.0.0) at Addr's port. It needs Token.
	Expose bool
	// Token, when set, is required as "Authorization: Bearer <token>" on every
	// request, exposed or not. It is read once: changing it needs a restart.
	Token config.Secret
	// Handler serves the requests, usually New's result.
	Handler http.Handler
	// Logger receives server errors and refused requests; nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown (0 = 10s).
	ShutdownTimeout time.Duration
}

// Server is the gateway's listening HTTP server.
type Server struct {
	ln              net.Listener
	srv             *http.Server
	log             *slog.Logger
	shutdownTimeout time.Duration
}

// NewServer checks where it may listen and binds the listener, so that Addr
// reports the real address (useful with port 0) before Serve runs. Listening
// beyond loopback without a token fails with ErrTokenRequired.
func NewServer(o ServerOptions) (*Server, error) {
	if o.Handler == nil {
		return nil, errors.New("gateway: no handler")
	}
	addr, err := bindAddr(o.Addr, o.Expose)
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addr)
	if !isLoopback(host) && o.Token.IsZero() {
		return nil, fmt.Errorf("gateway: refusing to listen on %s: %w. Anyone on the network could "+
			"read your integrations and trigger tasks. Set gateway.token in config.yaml "+
			"(e.g. `token: !secret gateway_token` with gateway_token in secrets.yaml) or the "+
			"environment variable STEWARD_GATEWAY_TOKEN, then send it as "+
			"\"Authorization: Bearer <token>\"; or listen on 127.0.0.1 only", addr, ErrTokenRequired)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	timeout := o.ShutdownTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", addr, err)
	}
	return &Server{
		ln: ln,
		srv: &http.Server{
			Handler:           RequireToken(o.Token, log)(o.Handler),
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		log:             log,
		shutdownTimeout: timeout,
	}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the base URL of the server, e.g. "http://127.0.0.1:6767".
func (s *Server) URL() string { return "http://" + s.ln.Addr().String() }

// Serve answers requests until ctx is cancelled, then shuts down gracefully:
// it stops accepting connections and waits (up to the shutdown timeout) for
// requests in flight. It returns nil after a clean shutdown. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.ln) }()
	s.log.Info("Gateway listening", "addr", s.ln.Addr().String())

	select {
	case err := <-errc:
		return fmt.Errorf("gateway: serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(shutdownCtx)
	<-errc // http.ErrServerClosed once Shutdown has begun
	if err != nil {
		_ = s.srv.Close()
		return fmt.Errorf("gateway: shutdown: %w", err)
	}
	s.log.Info("Gateway stopped")
	return nil
}

// Serve listens on addr (127.0.0.1 unless expose) and serves h until ctx is
// cancelled. With a token set, every request must carry it; expose without a
// token is refused with ErrTokenRequired.
func Serve(ctx context.Context, addr string, token config.Secret, expose bool, h http.Handler) error {
	s, err := NewServer(ServerOptions{Addr: addr, Expose: expose, Token: token, Handler: h})
	if err != nil {
		return err
	}
	return s.Serve(ctx)
}

// bindAddr resolves the address to listen on.
func bindAddr(addr string, expose bool) (string, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("gateway: listen address %q: %w", addr, err)
	}
	switch {
	case expose:
		host = "0.0.0.0"
	case host == "":
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port), nil
}

// isLoopback reports whether host only reaches this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
