package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runRoot runs the steward command line with args and returns its output and
// error (what main prints on stderr).
func runRoot(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// emptyConfig writes an empty config.yaml and returns its path.
func emptyConfig(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte("{}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCheckTaskState(t *testing.T) {
	tests := []struct {
		state string
		ok    bool
	}{
		{"", true}, {"pending", true}, {"active", true}, {"done", true}, {"failed", true},
		{"bogus", false}, {"Done", false}, {"fail", false},
	}
	for _, tt := range tests {
		err := checkTaskState(tt.state)
		if (err == nil) != tt.ok {
			t.Errorf("checkTaskState(%q) = %v, want ok=%v", tt.state, err, tt.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "pending, active, done, failed") {
			t.Errorf("checkTaskState(%q) = %q: does not list the states", tt.state, err)
		}
	}
}

// TestTasksLsRejectsUnknownStatus: `steward tasks ls --status bogus` is an
// error listing the states, before any connection is tried (it used to list
// nothing and exit 0).
func TestTasksLsRejectsUnknownStatus(t *testing.T) {
	// Nobody listens there: only a rejected flag avoids the connect error.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	_, err = runRoot(t, "tasks", "ls", "--config", emptyConfig(t), "--nats", "nats://"+addr, "--status", "bogus")
	if err == nil || !strings.Contains(err.Error(), `--status "bogus"`) || !strings.Contains(err.Error(), "pending, active, done, failed") {
		t.Fatalf("tasks ls --status bogus: %v", err)
	}
}

// TestRunNATSListenFlag: --nats-listen reaches the embedded server's address
// (a taken one fails at once, naming the flag).
func TestRunNATSListenFlag(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	_, err = runRoot(t, "run", "--config", emptyConfig(t), "--data", filepath.Join(t.TempDir(), "data"), "--services", "pipeline",
		"--nats-listen", addr)
	if err == nil || !strings.Contains(err.Error(), "nats.listen "+addr+" is already in use") || !strings.Contains(err.Error(), "--nats-listen") {
		t.Fatalf("run --nats-listen %s (in use): %v", addr, err)
	}
}

// TestLoggerDurations: durations are logged as "1.5s", not as nanoseconds, in
// the JSON logs and in the --dev text logs, at the top level and in groups.
func TestLoggerDurations(t *testing.T) {
	for _, dev := range []bool{false, true} {
		t.Run(fmt.Sprintf("dev=%v", dev), func(t *testing.T) {
			var buf bytes.Buffer
			log := newLogger(&buf, dev)
			log.Info("x", "after", 1500*time.Millisecond, slog.Group("retry", slog.Duration("in", 2*time.Minute)))
			out := buf.String()
			for _, want := range []string{"1.5s", "2m0s"} {
				if !strings.Contains(out, want) {
					t.Errorf("log %q lacks %q", out, want)
				}
			}
			for _, raw := range []string{"1500000000", "120000000000"} {
				if strings.Contains(out, raw) {
					t.Errorf("log %q has the raw nanoseconds %s", out, raw)
				}
			}
			if !dev {
				var doc struct {
					After string `json:"after"`
					Retry struct {
						In string `json:"in"`
					} `json:"retry"`
				}
				if err := json.Unmarshal(buf.Bytes(), &doc); err != nil || doc.After != "1.5s" || doc.Retry.In != "2m0s" {
					t.Errorf("JSON log %q: %+v %v", out, doc, err)
				}
			}
		})
	}
}
