package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// TestRunLogsGatewayListeningOnce: the gateway's address is logged once (the
// gateway's Serve logs it; Run used to log it as well).
func TestRunLogsGatewayListeningOnce(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "nats:\n  listen: \"\"\ngateway:\n  listen: "+freeAddr(t)+"\n")
	var logs logbuf.Buffer
	runAppLogging(t, Options{ConfigPath: cfgPath, Services: []string{ServiceGateway}}, slog.New(slog.NewTextHandler(&logs, nil)))
	waitLog(t, &logs, "Gateway listening")
	if n := strings.Count(strings.ToLower(logs.String()), "gateway listening"); n != 1 {
		t.Fatalf("\"gateway listening\" logged %d times:\n%s", n, logs.String())
	}
}

// TestRunLogsTheNATSServer: Run says which NATS server it uses: the embedded
// one and where it takes clients, or the URL it joined with the password
// redacted.
func TestRunLogsTheNATSServer(t *testing.T) {
	dir := t.TempDir()
	const password = "pw-must-not-be-logged"
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: filepath.Join(dir, "standalone"), Username: "steward", Password: password, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("test NATS server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	hostPort := strings.TrimPrefix(ns.ClientURL(), "nats://")
	embeddedAddr := freeAddr(t)

	tests := []struct {
		name   string
		config string
		want   string
	}{
		{name: "joined", config: fmt.Sprintf("nats:\n  url: nats://steward:%s@%s\n", password, hostPort),
			want: "nats://steward:xxxxx@" + hostPort},
		{name: "embedded", config: "nats:\n  listen: " + embeddedAddr + "\n", want: "embedded (clients on nats://" + embeddedAddr + ")"},
		{name: "embedded in-process", config: "nats:\n  listen: \"\"\n", want: "embedded (in-process clients only)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := t.TempDir()
			var logs logbuf.Buffer
			runAppLogging(t, Options{ConfigPath: writeConfig(t, sub, tt.config), Services: []string{ServicePipeline}},
				slog.New(slog.NewTextHandler(&logs, nil)))
			var line string
			for l := range strings.Lines(logs.String()) {
				if strings.Contains(l, "NATS connected") {
					line = l
				}
			}
			if !strings.Contains(line, tt.want) {
				t.Errorf("no \"NATS connected\" line with %q:\n%s", tt.want, logs.String())
			}
			if strings.Contains(logs.String(), password) {
				t.Error("the NATS password reached the log")
			}
		})
	}
}

// TestConnectClientAuthorizationFailure: refused or missing credentials are
// reported as an authorization failure naming the credentials file and
// --nats-creds, not as a Steward that is not running.
func TestConnectClientAuthorizationFailure(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	srv, err := msg.StartServer(context.Background(), msg.ServerOptions{StoreDir: filepath.Join(dir, "server"), Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	wrong := filepath.Join(dir, "other", "wrong.nk")
	if _, err := msg.EnsureNkeyFile(wrong); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		creds string
		want  []string
	}{
		{name: "refused credentials", creds: wrong, want: []string{"authorization failure", wrong, "--nats-creds"}},
		{name: "no credentials", want: []string{"authorization failure", "none were found", "--nats-creds", "--data"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub := t.TempDir()
			cfgPath := writeConfig(t, sub, fmt.Sprintf("nats:\n  url: nats://%s\n", addr))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			bus, err := ConnectClient(ctx, Options{ConfigPath: cfgPath, NATSCredentials: tt.creds, Logger: quietLog(), Environ: []string{}})
			if err == nil {
				bus.Close()
				t.Fatal("connected with wrong credentials")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "running?") {
				t.Errorf("an authorization failure suggests Steward is not running: %q", err)
			}
		})
	}
	// A server that is not there is still "is steward run running?".
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = ConnectClient(ctx, Options{ConfigPath: writeConfig(t, t.TempDir(), fmt.Sprintf("nats:\n  url: nats://%s\n", freeAddr(t))),
		Logger: quietLog(), Environ: []string{}})
	if err == nil || !strings.Contains(err.Error(), "running?") || errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unreachable server: %v", err)
	}
}

// waitLog waits (bounded) until the log holds text.
func waitLog(t *testing.T, logs *logbuf.Buffer, text string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), text) {
		if time.Now().After(deadline) {
			t.Fatalf("log never showed %q:\n%s", text, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
