package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// steward tasks ls / show / retry against a running Steward.
func TestTasksCLI(t *testing.T) {
	dir := workDir(t, true)
	p := start(t, dir)
	p.waitHealthy(t)
	var run struct {
		TaskIDs []string `json:"task_ids"`
	}
	do(t, "POST", p.gateway+"/integrations/github.work/issues/run", &run)
	id := run.TaskIDs[0]
	cli := func(args ...string) (string, string, int) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "STEWARD_NATS_URL="+p.natsURL)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		_ = cmd.Run()
		return o.String(), e.String(), cmd.ProcessState.ExitCode()
	}
	waitFor(t, func() bool {
		out, _, _ := cli("tasks", "ls", "--status", "failed")
		return strings.Contains(out, id)
	})
	out, errOut, code := cli("tasks", "show", id)
	var st map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || st["error"] != "Unknown task type: github.issues.check" {
		t.Fatalf("show: %d %s %s", code, out, errOut)
	}
	out, errOut, code = cli("tasks", "retry", id)
	if code != 0 || !strings.Contains(out, id+" → ") {
		t.Fatalf("retry: %d %s %s", code, out, errOut)
	}
	newID := strings.TrimSpace(strings.SplitN(out, "→", 2)[1])
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		do(t, "GET", p.gateway+"/api/tasks/"+newID, &st)
		if st["status"] == "failed" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st["status"] != "failed" {
		t.Fatalf("retried task: %v", st)
	}
	if _, errOut, code = cli("tasks", "retry", id); code != 1 || !strings.Contains(errOut, "already retried") {
		t.Fatalf("second retry: %d %s", code, errOut)
	}
	out, _, code = cli("tasks", "ls", "--json", "--type", "github.issues")
	var list []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &list) != nil || len(list) != 2 {
		t.Fatalf("ls --json: %d %s", code, out)
	}
	if _, errOut, code := cli("tasks", "show", "nope"); code == 0 || !strings.Contains(errOut, "not found") {
		t.Fatalf("show missing: %d %s", code, errOut)
	}
	p.stop(t)
}
