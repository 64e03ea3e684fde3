// Package e2e runs the real steward binary as a user would: built once, started as
// a process with the embedded NATS server, driven over HTTP, inspected with a NATS
// client, and stopped with SIGTERM.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// binary is the steward binary built for this test run.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "steward-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "steward")
	build := exec.Command("go", "build", "-o", binary, "./cmd/steward")
	build.Dir = repoRoot()
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build steward:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// freePort returns a loopback port nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a goroutine-safe buffer for captured output.
type syncBuffer = logbuf.Buffer

// proc is a running `steward run`.
type proc struct {
	cmd     *exec.Cmd
	out     *syncBuffer
	dir     string
	gateway string // base URL
	natsURL string
	// natsCreds is the nkey seed file the embedded NATS server generated (its
	// TCP port refuses anonymous clients).
	natsCreds string
	done      chan struct{}
	exitCode  int
}

// workDir makes a directory holding the example config and secrets.
func workDir(t testing.TB, withExample bool) string {
	t.Helper()
	dir := t.TempDir()
	if withExample {
		for src, dst := range map[string]string{"config.example.yaml": "config.yaml", "secrets.example.yaml": "secrets.yaml"} {
			b, err := os.ReadFile(filepath.Join(repoRoot(), src))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dir
}

// start runs steward in dir with the given extra arguments, on free ports.
func start(t testing.TB, dir string, args ...string) *proc {
	t.Helper()
	return startEnv(t, dir, nil, args...)
}

// startEnv is start with extra environment variables.
func startEnv(t testing.TB, dir string, env []string, args ...string) *proc {
	t.Helper()
	gw, np := freePort(t), freePort(t)
	p := &proc{out: &syncBuffer{}, dir: dir, done: make(chan struct{}),
		gateway: fmt.Sprintf("http://127.0.0.1:%d", gw), natsURL: fmt.Sprintf("nats://127.0.0.1:%d", np),
		natsCreds: filepath.Join(dir, "data", "nats", "steward.nk")}
	all := append([]string{"run", "--port", fmt.Sprint(gw)}, args...)
	p.cmd = exec.Command(binary, all...)
	p.cmd.Dir = dir
	p.cmd.Env = append(append(os.Environ(), fmt.Sprintf("STEWARD_NATS_LISTEN=127.0.0.1:%d", np)), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		p.exitCode = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("steward output:\n%s", p.out.String())
		}
	})
	return p
}

// waitHealthy polls GET / until it answers ok.
func (p *proc) waitHealthy(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("steward exited with %d:\n%s", p.exitCode, p.out.String())
		default:
		}
		resp, err := http.Get(p.gateway + "/")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 && strings.Contains(string(body), `"ok"`) {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("steward never became healthy:\n%s", p.out.String())
}

// stop sends SIGTERM and returns the exit code.
func (p *proc) stop(t testing.TB) int {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(40 * time.Second):
		t.Fatal("steward did not stop within 40s of SIGTERM")
	}
	return p.exitCode
}

// do sends an HTTP request and decodes a JSON reply.
func do(t testing.TB, method, url string, into any) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if into != nil {
		if err := json.Unmarshal(body, into); err != nil {
			t.Fatalf("%s %s: %d %q: %v", method, url, resp.StatusCode, body, err)
		}
	}
	return resp.StatusCode
}

// runCLI runs a steward command to completion.
func runCLI(t testing.TB, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	_ = cmd.Run()
	return o.String(), e.String(), cmd.ProcessState.ExitCode()
}
