package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/integrations/notes"
	"github.com/stewardhq/steward/internal/msg"
	"github.com/stewardhq/steward/internal/testkit/logbuf"
	"github.com/stewardhq/steward/internal/testkit/tlstest"
)

// TestRunServesTLSFromConfig: gateway.tls_cert and gateway.tls_key reach the
// gateway that `steward run` starts: it answers HTTPS only.
func TestRunServesTLSFromConfig(t *testing.T) {
	dir := t.TempDir()
	tf := tlstest.Write(t, dir)
	certFile, keyFile, pool := tf.Cert, tf.Key, tf.Pool
	port := freeAddr(t)[len("127.0.0.1:"):]
	cfgPath := writeConfig(t, dir, fmt.Sprintf("nats:\n  listen: \"\"\ngateway:\n  listen: 127.0.0.1:%s\n  tls_cert: %s\n  tls_key: %s\n",
		port, certFile, keyFile))
	info, _, _ := runApp(t, Options{ConfigPath: cfgPath, Services: []string{ServiceGateway}})
	if !strings.HasPrefix(info.GatewayURL, "https://") {
		t.Fatalf("gateway URL %q, want https", info.GatewayURL)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get(info.GatewayURL + "/")
	if err != nil {
		t.Fatalf("GET / over TLS: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET / over TLS: %s", resp.Status)
	}
	plain, err := http.Get("http://127.0.0.1:" + port + "/")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode < 400 {
			t.Fatalf("plain HTTP answered %s", plain.Status)
		}
	}
}

// TestRunWiresTheTaskGate: `steward run` wires the run-time safety gate with
// the config and manifests in force, not the fail-closed fallback (which runs
// no service from LLM provenance, even a reversible one). save_note is
// declared reversible, so the real gate lets it run; the pipeline's own tests
// cover the refusals of irreversible services and scripts.
func TestRunWiresTheTaskGate(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "  notes: "+filepath.Join(dir, "notes")+"\nnats:\n  listen: "+freeAddr(t)+"\n")
	var logs logbuf.Buffer
	o := Options{ConfigPath: cfgPath, Services: []string{ServicePipeline}}
	info, _, _ := runAppLogging(t, o, slog.New(slog.NewTextHandler(&logs, nil)))
	if strings.Contains(logs.String(), "no run-time safety gate") {
		t.Fatalf("steward run started the pipeline without the gate:\n%s", logs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	bus, err := ConnectClient(ctx, Options{ConfigPath: cfgPath, Logger: quietLog(), Environ: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	_ = info
	p, err := bus.Publish(ctx, msg.Spec{Type: notes.TaskSaveNote, Lane: msg.LaneIO, Priority: msg.PriorityChatAction,
		Provenance: msg.ProvenanceLLM, Payload: map[string]any{"inputs": map[string]any{"title": "gated", "body": "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		st, err := bus.Status(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if st.Status == msg.StateFailed {
			t.Fatalf("a reversible service from LLM provenance failed: %s", st.Error)
		}
		if st.Status == msg.StateDone {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("forged task still %s", st.Status)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// runAppLogging is runApp with the logger given.
func runAppLogging(t *testing.T, o Options, log *slog.Logger) (Info, <-chan struct{}, *error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Info, 1)
	o.Ready = func(i Info) { ready <- i }
	o.Logger = log
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
	case info := <-ready:
		return info, done, &err
	case <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("Run not ready")
	}
	return Info{}, nil, nil
}
