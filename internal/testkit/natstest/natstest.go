// Package natstest starts the real embedded NATS server (JetStream, file store)
// for a test: in-process only, its store in the test's temporary directory,
// shut down when the test ends.
package natstest

import (
	"context"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

// Server starts an embedded NATS server without a TCP listener for t.
func Server(t testing.TB) *msg.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := msg.StartServer(ctx, msg.ServerOptions{StoreDir: t.TempDir(), Listen: ""})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(srv.Shutdown)
	return srv
}
