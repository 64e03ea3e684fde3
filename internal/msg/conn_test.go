package msg

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

// logBuffer collects log output from several goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// freeAddr returns a loopback address no one listens on, so a server can be
// restarted on the same port.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// urlBus connects to env's server over TCP with the generated credentials.
func urlBus(t *testing.T, env *testEnv, log *slog.Logger, mod func(*Options)) *Bus {
	t.Helper()
	return env.bus(t, func(o *Options) {
		o.Server, o.URL, o.Credentials = nil, env.srv.ClientURL(), env.srv.NkeyFile()
		if log != nil {
			o.Logger = log
		}
		if mod != nil {
			mod(o)
		}
	})
}

// waitUntil polls cond for up to 30 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func echoRouter() *Router {
	r := NewRouter()
	r.Handle("test.echo", func(ctx context.Context, task *Task) (any, error) { return "ok", nil })
	return r
}

// Finding 1: ids, keys and task ids of 4100 characters once reached a subject
// and made nats-server close Steward's connection for good ("maximum control
// line exceeded"). They are refused as bad input now, and the connection stays.
func TestLongIDsNeverCostTheConnection(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		url          bool
	}{
		{"in-process", "", false},
		{"tcp", "127.0.0.1:0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, tc.listen)
			var b *Bus
			if tc.url {
				b = urlBus(t, env, nil, nil)
			} else {
				b = env.bus(t, nil)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			long := strings.Repeat("A", 4100)
			// Reads answer "not found" (no such id can exist), writes "invalid".
			if _, err := b.Status(ctx, long); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidID) {
				t.Errorf("Status(4100 chars) = %v, want ErrNotFound or ErrInvalidID", err)
			}
			var v map[string]any
			if _, err := b.Items().Get(ctx, long, &v); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrInvalidID) {
				t.Errorf("Get(4100-char key) = %v, want ErrNotFound or ErrInvalidID", err)
			}
			if _, err := b.Items().Put(ctx, long, map[string]any{"a": 1}); !errors.Is(err, ErrInvalidID) {
				t.Errorf("Put(4100-char key) = %v, want ErrInvalidID", err)
			}
			if _, err := b.Publish(ctx, Spec{Type: "test.echo", ID: long}); err == nil {
				t.Error("Publish with a 4100-char id succeeded")
			}
			// The bus still works: a task is published, served and done.
			serve(t, b, LaneIO, 1, echoRouter().Dispatch)
			p := mustPublish(t, b, Spec{Type: "test.echo"})
			if st := waitStatus(t, b, p.ID, StateDone, StateFailed); st.Status != StateDone {
				t.Fatalf("status %+v", st)
			}
			// And the connection was never lost.
			if d, r := b.watch.counts(); d != 0 || r != 0 || b.nc.Stats().Reconnects != 0 {
				t.Fatalf("disconnects %d, reconnects %d (nats.go %d)", d, r, b.nc.Stats().Reconnects)
			}
			if err := b.Healthy(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-b.Done():
				t.Fatalf("bus gave up: %v", b.Err())
			default:
			}
		})
	}
}

// A connection the server drops is re-established, in-process (with and
// without credentials) as over TCP, and each loss and return is logged.
func TestReconnectAfterServerDropsConnection(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		url          bool
	}{
		{"in-process", "", false},
		{"in-process with credentials", "127.0.0.1:0", false},
		{"tcp", "127.0.0.1:0", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newEnv(t, tc.listen)
			logs := &logBuffer{}
			var b *Bus
			if tc.url {
				b = urlBus(t, env, logs.logger(), nil)
			} else {
				b = env.bus(t, func(o *Options) { o.Logger = logs.logger() })
			}
			serve(t, b, LaneIO, 1, echoRouter().Dispatch)
			before := mustPublish(t, b, Spec{Type: "test.echo", Payload: map[string]any{"n": 0}})
			waitStatus(t, b, before.ID, StateDone) // the lane is up
			id, err := b.nc.GetClientID()
			if err != nil {
				t.Fatal(err)
			}
			if err := env.srv.ns.DisconnectClientByID(id); err != nil {
				t.Fatal(err)
			}
			waitUntil(t, "the reconnect", func() bool { _, r := b.watch.counts(); return r >= 1 && b.Healthy() == nil })
			p := mustPublish(t, b, Spec{Type: "test.echo"})
			if st := waitStatus(t, b, p.ID, StateDone, StateFailed); st.Status != StateDone {
				t.Fatalf("status %+v", st)
			}
			out := logs.String()
			for _, want := range []string{"NATS connection lost; reconnecting", "NATS reconnected"} {
				if !strings.Contains(out, want) {
					t.Errorf("log lacks %q:\n%s", want, out)
				}
			}
			if b.Err() != nil {
				t.Fatal(b.Err())
			}
		})
	}
}

// The worker loops survive a NATS restart: a TCP-listening server restarted on
// the same port and store while a lane is served; tasks published after the
// reconnect still run.
func TestLaneSurvivesServerRestart(t *testing.T) {
	env := newEnv(t, freeAddr(t))
	logs := &logBuffer{}
	b := urlBus(t, env, logs.logger(), nil)
	serve(t, b, LaneIO, 2, echoRouter().Dispatch)
	first := mustPublish(t, b, Spec{Type: "test.echo"})
	waitStatus(t, b, first.ID, StateDone)

	env.restart(t)
	waitUntil(t, "the reconnect", func() bool { _, r := b.watch.counts(); return r >= 1 && b.Healthy() == nil })
	for i := range 3 {
		p := mustPublish(t, b, Spec{Type: "test.echo", Payload: map[string]any{"n": i}})
		if st := waitStatus(t, b, p.ID, StateDone, StateFailed); st.Status != StateDone {
			t.Fatalf("after restart: %+v", st)
		}
	}
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
	if out := logs.String(); !strings.Contains(out, "NATS reconnected") || !strings.Contains(out, "server=nats://127.0.0.1:") {
		t.Errorf("reconnect not logged with the server address:\n%s", out)
	}
}

// A connection lost longer than MaxDisconnect ends the Bus: Done is closed and
// Err says why, naming the server without its password.
func TestGivesUpAfterMaxDisconnect(t *testing.T) {
	env := newEnv(t, freeAddr(t))
	logs := &logBuffer{}
	b := urlBus(t, env, logs.logger(), func(o *Options) { o.MaxDisconnect = 500 * time.Millisecond })
	env.srv.Shutdown()
	env.srv = nil
	select {
	case <-b.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the bus never gave up")
	}
	err := b.Err()
	if !errors.Is(err, ErrConnectionLost) || !strings.Contains(err.Error(), "unreachable for 500ms") {
		t.Fatalf("Err = %v", err)
	}
	if !strings.Contains(logs.String(), "giving up on NATS") {
		t.Errorf("log:\n%s", logs.String())
	}
}

// A connection the server closes in a way nats.go does not recover from (here
// an oversized protocol line) ends the Bus at once, with the reason.
func TestClosedForGoodEndsTheBus(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	// Bypass the id grammar on purpose: a raw publish with a 5000-byte subject.
	_ = b.nc.Publish(strings.Repeat("a", 5000), nil)
	_ = b.nc.Flush()
	select {
	case <-b.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Done not closed after the server closed the connection")
	}
	if err := b.Err(); !errors.Is(err, ErrConnectionLost) || !strings.Contains(strings.ToLower(err.Error()), "maximum control line") {
		t.Fatalf("Err = %v", err)
	}
}

// Close is not a failure.
func TestCloseEndsBusWithoutError(t *testing.T) {
	env := newEnv(t, "")
	b := env.bus(t, nil)
	b.Close()
	select {
	case <-b.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("Done not closed after Close")
	}
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
}

// ConnectWait retries a server that is not up yet, but never an authorization
// failure.
func TestConnectWaitsForServer(t *testing.T) {
	addr := freeAddr(t)
	env := newEnv(t, addr) // creates the credentials
	url, creds := env.srv.ClientURL(), env.srv.NkeyFile()
	env.srv.Shutdown()
	env.srv = nil

	type result struct {
		b   *Bus
		err error
	}
	res := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		b, err := Connect(ctx, Options{URL: url, Credentials: creds, ConnectWait: time.Minute, Logger: quietLogger()})
		res <- result{b, err}
	}()
	time.Sleep(300 * time.Millisecond) // let the first attempts fail
	env.start(t)
	r := <-res
	if r.err != nil {
		t.Fatal(r.err)
	}
	r.b.Close()

	// No credentials: refused at once, not retried for a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	_, err := Connect(ctx, Options{URL: url, ConnectWait: time.Minute, Logger: quietLogger()})
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous connect: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("an authorization failure was retried")
	}
}

// Finding 3: a TCP-listening embedded server refuses anonymous clients and
// clients with another key; the generated seed file (0600 in a 0700 directory)
// lets Steward, `steward tasks` and the nats CLI in, and survives a restart.
func TestEmbeddedServerRequiresCredentials(t *testing.T) {
	env := newEnv(t, freeAddr(t))
	url, creds := env.srv.ClientURL(), env.srv.NkeyFile()
	if creds != filepath.Join(env.dir, NkeyFileName) {
		t.Fatalf("NkeyFile = %q", creds)
	}
	for path, want := range map[string]os.FileMode{creds: 0o600, env.dir: 0o700} {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %04o, want %04o", path, fi.Mode().Perm(), want)
		}
	}
	raw, err := os.ReadFile(creds)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := nkeys.ParseDecoratedUserNKey(raw)
	if err != nil {
		t.Fatal("seed file unreadable by nkeys (the nats CLI's --nkey parser)")
	}
	seed, _ := kp.Seed()

	// Anonymous: refused.
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatal("anonymous TCP connection accepted")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous: %v, want an authorization error", err)
	}
	// Another key: refused.
	other := filepath.Join(t.TempDir(), "other.nk")
	okp, _ := nkeys.CreateUser()
	oseed, _ := okp.Seed()
	if err := os.WriteFile(other, oseed, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Connect(context.Background(), Options{URL: url, Credentials: other, Logger: quietLogger()}); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("foreign key: %v", err)
	}
	// The generated seed, as the nats CLI uses it (--nkey FILE).
	opt, err := nats.NkeyOptionFromSeed(creds)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opt)
	if err != nil {
		t.Fatalf("with the generated credentials: %v", err)
	}
	nc.Close()
	// A restart keeps the same key: existing clients and CLI contexts still work.
	env.restart(t)
	b := urlBus(t, env, nil, nil)
	if err := b.Healthy(); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(creds); !bytes.Equal(again, raw) {
		t.Fatal("restart replaced the credentials")
	}
	// Errors never show the seed.
	_, err = Connect(context.Background(), Options{URL: "nats://127.0.0.1:1", Credentials: creds, Logger: quietLogger()})
	if err == nil || strings.Contains(err.Error(), string(seed)) {
		t.Fatalf("err = %v", err)
	}
}

// A seed file other users can read is refused (it may have leaked).
func TestEmbeddedServerRefusesOpenCredentials(t *testing.T) {
	dir := t.TempDir()
	srv, err := StartServer(context.Background(), ServerOptions{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	if err := os.Chmod(filepath.Join(dir, NkeyFileName), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = StartServer(context.Background(), ServerOptions{StoreDir: dir, Listen: "127.0.0.1:0"})
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("err = %v", err)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, NkeyFileName))
	if strings.Contains(err.Error(), strings.TrimSpace(string(raw[bytes.LastIndexByte(bytes.TrimSpace(raw), '\n')+1:]))) {
		t.Fatal("the error shows the seed")
	}
}

// Disconnect and reconnect logs name the server without the password written
// in its URL (a standalone server with a user and password).
func TestReconnectLogsRedactCredentials(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(),
		NoSigs: true, NoLog: true, Users: []*server.User{{Username: "steward", Password: "hunter2-secret"}}})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	logs := &logBuffer{}
	url := strings.Replace(ns.ClientURL(), "nats://", "nats://steward:hunter2-secret@", 1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := Connect(ctx, Options{URL: url, Logger: logs.logger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	id, err := b.nc.GetClientID()
	if err != nil {
		t.Fatal(err)
	}
	if err := ns.DisconnectClientByID(id); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the reconnect", func() bool { _, r := b.watch.counts(); return r >= 1 })
	out := logs.String()
	if strings.Contains(out, "hunter2") || !strings.Contains(out, "steward:xxxxx@127.0.0.1") || !strings.Contains(out, "NATS reconnected") {
		t.Fatalf("log:\n%s", out)
	}
}

// A NATS server that comes back without Steward's streams (same credentials,
// wiped store) gets them again, and the served lane resumes: no worker loops
// forever on a consumer that is gone.
func TestReprovisionAfterWipedServer(t *testing.T) {
	env := newEnv(t, freeAddr(t))
	logs := &logBuffer{}
	b := urlBus(t, env, logs.logger(), nil)
	serve(t, b, LaneIO, 1, echoRouter().Dispatch)
	first := mustPublish(t, b, Spec{Type: "test.echo"})
	waitStatus(t, b, first.ID, StateDone)

	env.srv.Shutdown()
	seed, err := os.ReadFile(filepath.Join(env.dir, NkeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	env.dir = t.TempDir()
	if err := os.WriteFile(filepath.Join(env.dir, NkeyFileName), seed, 0o600); err != nil {
		t.Fatal(err)
	}
	env.start(t)
	waitUntil(t, "re-provisioning", func() bool { return strings.Contains(logs.String(), "provisioned again") })
	p := mustPublish(t, b, Spec{Type: "test.echo", Payload: map[string]any{"after": "wipe"}})
	if st := waitStatus(t, b, p.ID, StateDone, StateFailed); st.Status != StateDone {
		t.Fatalf("after the wipe: %+v", st)
	}
	if b.Err() != nil {
		t.Fatal(b.Err())
	}
}
