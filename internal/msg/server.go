package msg

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configure the embedded NATS server.
type ServerOptions struct {
	// StoreDir is the JetStream file store directory.
	StoreDir string
	// Listen is the client address host:port ("" = no TCP listener: in-process
	// clients only).
	Listen string
	// ServerName names the server (default "steward").
	ServerName string
}

// Server is an embedded nats-server with JetStream.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded nats-server with JetStream on a file store and
// waits until it accepts connections.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("embedded nats: store dir is required")
	}
	opts := &server.Options{
		ServerName:         o.ServerName,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		NoSigs:             true,
		NoLog:              true,
		DontListen:         o.Listen == "",
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 64 << 20,
	}
	if opts.ServerName == "" {
		opts.ServerName = "steward"
	}
	if o.Listen != "" {
		host, portText, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: nats.listen %q: want host:port: %w", o.Listen, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: nats.listen %q: bad port", o.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		if o.Listen != "" {
			return nil, fmt.Errorf("embedded nats: not ready after %s (is %s already in use? set nats.listen to another address or \"\" to disable TCP)", wait, o.Listen)
		}
		return nil, fmt.Errorf("embedded nats: not ready after %s", wait)
	}
	return &Server{ns: ns}, nil
}

// ClientURL is the URL TCP clients (the nats CLI) use; "" when TCP is disabled.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}
