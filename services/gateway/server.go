package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/netutil"

	"github.com/stewardhq/steward/internal/config"
)

// DefaultAddr is where the gateway listens unless configured otherwise.
const DefaultAddr = "127.0.0.1:6767"

// Limits of the listening server; ServerOptions may change the first three.
// No route streams or waits long: every reply is written at once, so a
// request that takes longer than these is stuck or hostile.
const (
	// DefaultReadTimeout bounds reading one whole request, headers and body.
	DefaultReadTimeout = 30 * time.Second
	// DefaultWriteTimeout bounds one request from the end of its headers to
	// the end of its reply.
	DefaultWriteTimeout = 60 * time.Second
	// DefaultMaxConns caps the connections open at once; more wait in the
	// listen queue until one closes.
	DefaultMaxConns = 256
	// MaxHeaderBytes bounds the request line and headers.
	MaxHeaderBytes = 64 << 10
	// readHeaderTimeout bounds reading the request line and headers.
	readHeaderTimeout = 10 * time.Second
	// idleTimeout closes a keep-alive connection idle this long.
	idleTimeout = 2 * time.Minute
)

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
	// ReadTimeout bounds reading a whole request, headers and body; a client
	// that stops sending is disconnected (0 = DefaultReadTimeout).
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from the end of its headers to the end of
	// the reply (0 = DefaultWriteTimeout).
	WriteTimeout time.Duration
	// MaxConns caps the connections open at once (0 = DefaultMaxConns).
	MaxConns int
	// TLSCertFile and TLSKeyFile are PEM files (gateway.tls_cert and
	// gateway.tls_key): with both set the server speaks HTTPS only. Set both
	// or neither.
	TLSCertFile string
	TLSKeyFile  string
}

// Server is the gateway's listening HTTP server.
type Server struct {
	ln              net.Listener
	srv             *http.Server
	tls             bool
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
	tlsConf, err := loadTLS(o.TLSCertFile, o.TLSKeyFile)
	if err != nil {
		return nil, err
	}
	if !isLoopback(host) {
		log.Info("The gateway answers only requests that name it by a loopback address or a host " +
			"listed in gateway.hosts: list the names you open it with (e.g. steward.home.lan)")
		if tlsConf == nil {
			log.Warn("The gateway listens beyond loopback without TLS: the token and your data cross the " +
				"network in clear text; set gateway.tls_cert and gateway.tls_key to serve HTTPS")
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", addr, err)
	}
	return &Server{
		ln: netutil.LimitListener(ln, orDefault(o.MaxConns, DefaultMaxConns)),
		srv: &http.Server{
			Handler:           RequireToken(o.Token, log)(o.Handler),
			TLSConfig:         tlsConf,
			ReadHeaderTimeout: min(readHeaderTimeout, orDefault(o.ReadTimeout, DefaultReadTimeout)),
			ReadTimeout:       orDefault(o.ReadTimeout, DefaultReadTimeout),
			WriteTimeout:      orDefault(o.WriteTimeout, DefaultWriteTimeout),
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		tls:             tlsConf != nil,
		log:             log,
		shutdownTimeout: timeout,
	}, nil
}

// loadTLS reads the certificate and key for HTTPS; nil when neither is set.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, errors.New("gateway: HTTPS needs both a certificate and its key: " +
			"set gateway.tls_cert and gateway.tls_key, or neither")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("gateway: loading the TLS certificate %s and key %s (gateway.tls_cert, gateway.tls_key): %w",
			certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// orDefault returns v, or def when v is not positive.
func orDefault[T int | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// URL is the base URL of the server, e.g. "http://127.0.0.1:6767", or
// "https://..." when it serves TLS.
func (s *Server) URL() string {
	if s.tls {
		return "https://" + s.ln.Addr().String()
	}
	return "http://" + s.ln.Addr().String()
}

// Serve answers requests until ctx is cancelled, then shuts down gracefully:
// it stops accepting connections and waits (up to the shutdown timeout) for
// requests in flight. It returns nil after a clean shutdown. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() {
		if s.tls {
			errc <- s.srv.ServeTLS(s.ln, "", "") // the certificate is in TLSConfig
			return
		}
		errc <- s.srv.Serve(s.ln)
	}()
	s.log.Info("Gateway listening", "url", s.URL())

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
