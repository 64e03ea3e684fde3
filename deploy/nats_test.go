package deploy_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
	"github.com/stewardhq/steward/internal/testkit/tlstest"
)

// machine is one machine's nkey: its public key and its 0600 seed file.
type machine struct{ pub, seedFile string }

func newMachine(t *testing.T, dir, name string) machine {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := kp.Seed()
	pub, _ := kp.PublicKey()
	path := filepath.Join(dir, name+".nk")
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	return machine{pub: pub, seedFile: path}
}

// deployment is a nats-server started from deploy/nats/nats-server.conf, with
// test TLS files, a temporary store and a random loopback port.
type deployment struct {
	url, ca string
	pi, gpu machine
}

// loadConfig copies the shipped config into dir with the test's paths and
// parses it with nats-server's own parser.
func loadConfig(t *testing.T, dir string) (*server.Options, machine, machine) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("nats", "nats-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(raw)
	for old, repl := range map[string]string{"/etc/nats/tls/": dir + "/", "/var/lib/nats": filepath.Join(dir, "store")} {
		if !strings.Contains(text, old) {
			t.Fatalf("the config no longer mentions %s", old)
		}
		text = strings.ReplaceAll(text, old, repl)
	}
	conf := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	tlstest.Write(t, dir, "pi.local")
	pi, gpu := newMachine(t, dir, "pi"), newMachine(t, dir, "gpu")
	t.Setenv("STEWARD_NATS_PI_NKEY", pi.pub)
	t.Setenv("STEWARD_NATS_GPU_NKEY", gpu.pub)
	opts, err := server.ProcessConfigFile(conf)
	if err != nil {
		t.Fatalf("nats-server cannot load deploy/nats/nats-server.conf: %v", err)
	}
	return opts, pi, gpu
}

// The shipped config parses, requires TLS, and has exactly the two machine
// users, the GPU one restricted.
func TestNATSConfigLoads(t *testing.T) {
	opts, pi, gpu := loadConfig(t, t.TempDir())
	if opts.TLSConfig == nil || opts.TLSConfig.MinVersion < tls.VersionTLS12 {
		t.Error("the client port has no TLS")
	}
	if opts.Host != "0.0.0.0" || opts.Port != 4222 {
		t.Errorf("listen %s:%d", opts.Host, opts.Port)
	}
	if len(opts.Users) != 0 || len(opts.Nkeys) != 2 {
		t.Fatalf("users %d, nkey users %d; want only the two machine nkeys", len(opts.Users), len(opts.Nkeys))
	}
	for _, u := range opts.Nkeys {
		switch u.Nkey {
		case pi.pub:
			if u.Permissions != nil {
				t.Error("the Pi user is restricted")
			}
		case gpu.pub:
			if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil {
				t.Error("the GPU user is not restricted")
			}
		default:
			t.Errorf("unknown user %s", u.Nkey)
		}
	}
	// Without the public keys in the environment the server refuses to start.
	t.Setenv("STEWARD_NATS_GPU_NKEY", "")
	os.Unsetenv("STEWARD_NATS_GPU_NKEY")
	dir := t.TempDir()
	raw, _ := os.ReadFile(filepath.Join("nats", "nats-server.conf"))
	conf := filepath.Join(dir, "c.conf")
	_ = os.WriteFile(conf, raw, 0o600)
	if _, err := server.ProcessConfigFile(conf); err == nil {
		t.Error("the config loads without STEWARD_NATS_GPU_NKEY")
	}
}

func startDeployment(t *testing.T) *deployment {
	t.Helper()
	dir := t.TempDir()
	opts, pi, gpu := loadConfig(t, dir)
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.NoSigs, opts.NoLog = true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	addr := ns.Addr().(*net.TCPAddr)
	return &deployment{url: fmt.Sprintf("tls://127.0.0.1:%d", addr.Port), ca: filepath.Join(dir, "ca.pem"), pi: pi, gpu: gpu}
}

func (d *deployment) bus(t *testing.T, m machine, log *slog.Logger, lanes ...string) *msg.Bus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b, err := msg.Connect(ctx, msg.Options{URL: d.url, Credentials: m.seedFile, RootCAs: d.ca, Logger: log, Lanes: lanes,
		IdleWait: 200 * time.Millisecond, Policies: func(string) msg.Policy {
			return msg.Policy{DeduplicatePending: true, RateLimit: &msg.RateLimit{Max: 100, Per: time.Hour, PerText: "1h"}}
		}})
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

func (d *deployment) raw(t *testing.T, m machine, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nk, err := nats.NkeyOptionFromSeed(m.seedFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(d.url, append(opts, nk, nats.RootCAs(d.ca))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// Finding 5: the GPU box's user can do everything its LLM lanes do (classify
// and chat.message, with leases, status, items, evaluate, audit and chat), and
// no more: no ledger, no other lane, no deletes, no other task.
func TestNATSConfigPermissions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a nats-server")
	}
	d := startDeployment(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	// Anonymous and plaintext clients are refused.
	if nc, err := nats.Connect(d.url, nats.RootCAs(d.ca)); err == nil {
		nc.Close()
		t.Fatal("anonymous client accepted")
	}
	if nc, err := nats.Connect(strings.Replace(d.url, "tls://", "nats://", 1)); err == nil {
		nc.Close()
		t.Fatal("client without TLS accepted")
	}

	// The Pi provisions everything and holds an item and a conversation.
	piLog := &logbuf.Buffer{}
	pi := d.bus(t, d.pi, slog.New(slog.NewTextHandler(piLog, nil)), msg.LaneIO, msg.LaneScript)
	if _, err := pi.Items().Put(ctx, "email.personal.inbox.k1", map[string]any{"title": "hello"}); err != nil {
		t.Fatal(err)
	}
	conv := "0123456789abcdef"
	if _, err := pi.ChatAppend(ctx, conv, []byte(`{"role":"user","content":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := pi.Ledger().Put(ctx, "email.personal.inbox.k1", map[string]any{"done": true}); err != nil {
		t.Fatal(err)
	}

	// The GPU box serves its lane with a handler doing what classify and
	// chat.message do.
	gpuLog := &logbuf.Buffer{}
	gpu := d.bus(t, d.gpu, slog.New(slog.NewTextHandler(gpuLog, &slog.HandlerOptions{Level: slog.LevelDebug})), msg.LLMLane("default"))
	handler := func(ctx context.Context, task *msg.Task) (any, error) {
		release, err := msg.AcquireLease(ctx)
		if err != nil {
			return nil, fmt.Errorf("lease: %w", err)
		}
		defer release()
		var item map[string]any
		if _, err := gpu.Items().Get(ctx, "email.personal.inbox.k1", &item); err != nil {
			return nil, msg.Permanent(fmt.Errorf("item get: %w", err))
		}
		if err := gpu.Items().Mutate(ctx, "email.personal.inbox.k1", &item, func(bool) error { item["class"] = "x"; return nil }); err != nil {
			return nil, msg.Permanent(fmt.Errorf("item mutate: %w", err))
		}
		if _, err := gpu.Publish(ctx, msg.Spec{Type: "email.inbox.evaluate", Lane: msg.LaneIO, Priority: msg.PriorityEvaluate,
			Payload: map[string]any{"integration": "email.personal", "platform": "inbox", "key": "k1"}, ApplyPolicy: true}); err != nil {
			return nil, msg.Permanent(fmt.Errorf("publish evaluate: %w", err))
		}
		if err := gpu.Emit(ctx, "audit.email", map[string]any{"text": "classified"}, task.ID+"-audit"); err != nil {
			return nil, msg.Permanent(fmt.Errorf("audit: %w", err))
		}
		if _, err := gpu.ChatRecords(ctx, conv); err != nil {
			return nil, msg.Permanent(fmt.Errorf("chat records: %w", err))
		}
		last, err := gpu.ChatLast(ctx, conv)
		if err != nil {
			return nil, msg.Permanent(fmt.Errorf("chat last: %w", err))
		}
		if _, err := gpu.ChatAppendIf(ctx, conv, []byte(`{"role":"assistant","content":"hello"}`), last.Seq); err != nil {
			return nil, msg.Permanent(fmt.Errorf("chat append: %w", err))
		}
		if _, err := gpu.Status(ctx, task.ID); err != nil {
			return nil, msg.Permanent(fmt.Errorf("status: %w", err))
		}
		return "ok", nil
	}
	serveCtx, stopServe := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- gpu.ServeBounded(serveCtx, msg.LLMLane("default"), 1, 1, handler) }()
	defer func() {
		stopServe()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()

	for _, prio := range []int{msg.PriorityChat, msg.PriorityClassify} {
		p, err := pi.Publish(ctx, msg.Spec{Type: "email.inbox.classify", Lane: msg.LLMLane("default"), Priority: prio,
			Payload: map[string]any{"n": prio}})
		if err != nil {
			t.Fatal(err)
		}
		var st *msg.Status
		for st == nil || st.Status == msg.StatePending || st.Status == msg.StateActive {
			if ctx.Err() != nil {
				t.Fatalf("task never finished: %+v\nGPU log:\n%s", st, gpuLog.String())
			}
			time.Sleep(20 * time.Millisecond)
			st, _ = pi.Status(ctx, p.ID)
		}
		if st.Status != msg.StateDone {
			t.Fatalf("the GPU user could not do its work: %s\nGPU log:\n%s", st.Error, gpuLog.String())
		}
	}
	if strings.Contains(strings.ToLower(gpuLog.String()), "permission") {
		t.Errorf("permission violations while doing its work:\n%s", gpuLog.String())
	}

	// What the GPU user must not do.
	errs := make(chan error, 64)
	nc := d.raw(t, d.gpu, nats.PermissionErrOnSubscribe(true), nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		errs <- err
	}))
	js, _ := jetstream.New(nc)
	short := func() (context.Context, context.CancelFunc) { return context.WithTimeout(ctx, 3*time.Second) }
	denied := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s: allowed", what)
		}
	}
	c1, d1 := short()
	ledger, err := js.KeyValue(c1, "ledger")
	d1()
	if err != nil {
		t.Fatalf("ledger handle (settings only): %v", err)
	}
	c2, d2 := short()
	_, err = ledger.Get(c2, "email.personal.inbox.k1")
	d2()
	denied("read the ledger", err)
	c3, d3 := short()
	_, err = ledger.Put(c3, "email.personal.inbox.k1", []byte(`{}`))
	d3()
	denied("write the ledger", err)
	for _, subj := range []string{"$KV.ledger.>", "$KV.items.>", "chat.>", "tasks.>", "audit.>"} {
		sub, err := nc.SubscribeSync(subj)
		if err == nil {
			_ = nc.Flush()
			_, err = sub.NextMsg(2 * time.Second)
			if errors.Is(err, nats.ErrTimeout) {
				err = nil
			}
		}
		denied("subscribe to "+subj, err)
	}
	for what, req := range map[string]string{
		"purge TASKS":             "$JS.API.STREAM.PURGE.TASKS",
		"delete stream CHAT":      "$JS.API.STREAM.DELETE.CHAT",
		"fetch from the io lane":  "$JS.API.CONSUMER.MSG.NEXT.TASKS.io_p7",
		"delete a lane consumer":  "$JS.API.CONSUMER.DELETE.TASKS.llm_default_p1",
		"direct-get a ledger key": "$JS.API.DIRECT.GET.KV_ledger.$KV.ledger.email.personal.inbox.k1",
		"read NOTES":              "$JS.API.STREAM.MSG.GET.NOTES",
		"create a stream":         "$JS.API.STREAM.CREATE.EVIL",
	} {
		_, err := nc.Request(req, []byte(`{}`), 2*time.Second)
		denied(what, err)
	}
	c4, d4 := short()
	_, err = js.Publish(c4, "tasks.io.7.email.inbox.act.x", []byte(`{}`))
	d4()
	denied("publish an act task", err)
	c5, d5 := short()
	_, err = js.Publish(c5, "tasks.script.5.script.run.x", []byte(`{}`))
	d5()
	denied("publish a script task", err)
	c6, d6 := short()
	_, err = js.CreateOrUpdateConsumer(c6, "TASKS", jetstream.ConsumerConfig{Durable: "llm_default_p1", FilterSubject: "tasks.io.>"})
	d6()
	denied("point an llm consumer at the io lane", err)

	// The Pi's data is intact.
	var entry map[string]any
	if _, err := pi.Ledger().Get(ctx, "email.personal.inbox.k1", &entry); err != nil || entry["done"] != true {
		t.Fatalf("ledger: %v %v", entry, err)
	}
}

// Every unit restarts a failed Steward or NATS after a pause, creates private
// files, and keeps secrets off its command line.
func TestSystemdUnits(t *testing.T) {
	units, err := filepath.Glob(filepath.Join("systemd", "*.service"))
	if err != nil || len(units) == 0 {
		t.Fatalf("units: %v %v", units, err)
	}
	for _, u := range units {
		raw, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := string(raw)
		for _, want := range []string{"\nRestart=on-failure\n", "\nRestartSec=", "\nUMask=0077\n", "\nNoNewPrivileges=true\n"} {
			if !strings.Contains(text, want) {
				t.Errorf("%s lacks %q", u, strings.TrimSpace(want))
			}
		}
		for _, line := range strings.Split(text, "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if strings.Contains(line, "@") || strings.Contains(line, "--token ") || strings.Contains(strings.ToLower(line), "password") {
				t.Errorf("%s: a secret on the command line? %q", u, line)
			}
		}
	}
}
