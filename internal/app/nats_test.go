package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// writeConfig writes a config.yaml with data and logs under dir plus extra.
func writeConfig(t *testing.T, dir, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "config.yaml")
	doc := fmt.Sprintf("directories:\n  data: %s\n  logs: %s\n%s", filepath.Join(dir, "data"), filepath.Join(dir, "logs"), extra)
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runApp starts Run in the background and waits until it is ready. finished is
// closed when Run returns; runErr then holds what it returned.
func runApp(t *testing.T, o Options) (info Info, finished <-chan struct{}, runErr *error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	o.Ready = func(i Info) { ready <- i }
	o.Logger = quietLog()
	o.Environ = []string{}
	done := make(chan struct{})
	var err error
	go func() { err = Run(ctx, o); close(done) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("Run did not stop")
		}
	})
	select {
	case info = <-ready:
		return info, done, &err
	case <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("Run not ready")
	}
	return Info{}, nil, nil
}

// Finding 3: `steward run` with a TCP listener refuses anonymous NATS clients;
// ConnectClient (steward tasks) finds the generated credentials by itself.
func TestEmbeddedNATSCredentials(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "nats:\n  listen: "+freeAddr(t)+"\n")
	info, _, _ := runApp(t, Options{ConfigPath: cfgPath, Services: []string{ServicePipeline}})
	if info.NATSURL == "" || info.NATSCredentials != filepath.Join(dir, "data", "nats", msg.NkeyFileName) {
		t.Fatalf("info %+v", info)
	}
	if fi, err := os.Stat(info.NATSCredentials); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
	if nc, err := nats.Connect(info.NATSURL); err == nil {
		nc.Close()
		t.Fatal("anonymous client accepted")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := ConnectClient(ctx, Options{ConfigPath: cfgPath, Logger: quietLog(), Environ: []string{}})
	if err != nil {
		t.Fatalf("ConnectClient: %v", err)
	}
	defer bus.Close()
	if _, err := bus.Tasks(ctx, nil); err != nil {
		t.Fatal(err)
	}
}

// Finding 1: when the NATS connection cannot come back, Run returns an error
// (so `steward run` exits non-zero and systemd restarts it) instead of
// running on without a queue.
func TestRunExitsWhenNATSIsGone(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	srv, err := msg.StartServer(context.Background(), msg.ServerOptions{StoreDir: filepath.Join(dir, "standalone"), Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, dir, fmt.Sprintf("nats:\n  url: nats://%s\n  credentials: %s\n", addr, srv.NkeyFile()))
	_, finished, runErr := runApp(t, Options{ConfigPath: cfgPath, Services: []string{ServicePipeline}, NATSMaxDisconnect: 500 * time.Millisecond})
	srv.Shutdown()
	select {
	case <-finished:
		if err := *runErr; !errors.Is(err, msg.ErrConnectionLost) {
			t.Fatalf("Run returned %v, want a lost connection", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("Run kept running without NATS")
	}
}

// TestRunWaitsForALateNATSServer: `steward run --nats URL` started before its
// NATS server (machines booting in any order) says it is waiting, retries,
// and starts once the server is up, instead of exiting at once.
func TestRunWaitsForALateNATSServer(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	storeDir := filepath.Join(dir, "standalone")
	creds := filepath.Join(storeDir, msg.NkeyFileName)
	if _, err := msg.EnsureNkeyFile(creds); err != nil { // the server started below signs in this user
		t.Fatal(err)
	}
	cfgPath := writeConfig(t, dir, fmt.Sprintf("nats:\n  url: nats://%s\n  credentials: %s\n", addr, creds))
	var logs logbuf.Buffer
	ready := make(chan Info, 1)
	done := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			t.Error("Run did not stop")
		}
	}()
	go func() {
		done <- Run(ctx, Options{ConfigPath: cfgPath, Services: []string{ServicePipeline}, Environ: []string{},
			Logger: slog.New(slog.NewTextHandler(&logs, nil)), Ready: func(i Info) { ready <- i }})
	}()
	waitLog(t, &logs, "NATS not reachable yet; retrying")
	srv, err := msg.StartServer(context.Background(), msg.ServerOptions{StoreDir: storeDir, Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run gave up: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("Run did not start once NATS was up:\n%s", logs.String())
	}
	waitLog(t, &logs, "NATS connected")
}
