package app

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// checkNATSListen fails at once when the embedded NATS server could not listen
// on addr ("" = no TCP listener, nothing to check), naming the settings that
// move it. nats-server itself would only be found not ready after its start
// timeout.
func checkNATSListen(addr string) error {
	if addr == "" {
		return nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("nats.listen %s is already in use (another steward, or a nats-server?): stop it, or give the embedded NATS "+
				"server another address with --nats-listen, STEWARD_NATS_LISTEN or nats.listen (\"\" = no TCP clients): %w", addr, err)
		}
		return fmt.Errorf("nats.listen %s: the embedded NATS server cannot listen there (set --nats-listen, STEWARD_NATS_LISTEN or nats.listen): %w", addr, err)
	}
	if err := ln.Close(); err != nil {
		return fmt.Errorf("nats.listen %s: %w", addr, err)
	}
	return nil
}

// holdGatewayAddr binds the gateway's address (as gateway.NewServer resolves
// it: every interface with expose, loopback for an empty host) and returns the
// listener, so that a port in use fails before anything else starts and stays
// reserved until the gateway binds it. Its Addr is the concrete address (a
// port 0 resolved).
func holdGatewayAddr(addr string, expose bool) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("gateway.listen %q: want host:port", addr)
	}
	switch {
	case expose:
		host = "0.0.0.0"
	case host == "":
		host = "127.0.0.1"
	}
	bind := net.JoinHostPort(host, port)
	ln, err := net.Listen("tcp", bind)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("gateway.listen %s is already in use (another steward?): stop it, or choose another port with "+
				"--port, STEWARD_GATEWAY_LISTEN or gateway.listen: %w", bind, err)
		}
		return nil, fmt.Errorf("gateway.listen %s: cannot listen there (set --port, STEWARD_GATEWAY_LISTEN or gateway.listen): %w", bind, err)
	}
	return ln, nil
}
