package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestDataLockSecondRunExits: a second `steward run` on the data directory of a
// running one (issue 11, item 1: both started and lost conversations) exits at
// once with status 1, naming the first one's PID; the first keeps running, and
// once it stops the directory is free again.
func TestDataLockSecondRunExits(t *testing.T) {
	dir := workDir(t, false)
	first := start(t, dir)
	first.waitHealthy(t)

	second := start(t, dir)
	select {
	case <-second.done:
	case <-time.After(30 * time.Second):
		t.Fatalf("the second steward on the same data directory is still running:\n%s", second.out.String())
	}
	if second.exitCode != 1 {
		t.Fatalf("second steward exited with %d, want 1:\n%s", second.exitCode, second.out.String())
	}
	want := fmt.Sprintf("another steward (pid %d) is using ./data; stop it or use --data", first.cmd.Process.Pid)
	if !strings.Contains(second.out.String(), want) {
		t.Fatalf("second steward's output lacks %q:\n%s", want, second.out.String())
	}
	if strings.Contains(second.out.String(), "embedded NATS started") {
		t.Fatalf("the second steward opened the NATS store before refusing:\n%s", second.out.String())
	}
	first.waitHealthy(t)
	if code := first.stop(t); code != 0 {
		t.Fatalf("first steward exited with %d", code)
	}

	third := start(t, dir)
	third.waitHealthy(t)
	if code := third.stop(t); code != 0 {
		t.Fatalf("steward after the first stopped exited with %d", code)
	}
}
