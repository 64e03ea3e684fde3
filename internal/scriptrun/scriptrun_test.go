package scriptrun

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func run(t *testing.T, s Spec) *Result {
	t.Helper()
	res, err := Run(context.Background(), s)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return res
}

// TestRun covers the behaviours of the reference's test_script_execution.py
// and Steward's additions, one script each.
func TestRun(t *testing.T) {
	tests := []struct {
		name      string
		spec      Spec
		exit      int
		output    string // "" = no output
		stdout    string
		stderrHas string
		records   []Record
		malformed []string
		truncated bool
	}{
		{name: "output variable captured", spec: Spec{Shell: `OUTPUT="result_value"`, Output: "OUTPUT"}, output: "result_value"},
		{name: "no output configured", spec: Spec{Shell: `OUTPUT="result_value"`}},
		{name: "empty output variable", spec: Spec{Shell: `OUTPUT=""`, Output: "OUTPUT"}},
		{name: "exit 1 is not an error", spec: Spec{Shell: "echo oops >&2; exit 1"}, exit: 1, stderrHas: "oops"},
		{name: "exit before capture", spec: Spec{Shell: "OUTPUT=x\nexit 1", Output: "OUTPUT"}, exit: 1},
		{name: "no errexit", spec: Spec{Shell: "false\nOUTPUT=still_captured", Output: "OUTPUT"}, output: "still_captured"},
		{name: "input ASSISTANT_INPUT", spec: Spec{Shell: `echo -n "$ASSISTANT_INPUT_DOMAIN"`, Inputs: map[string]string{"domain": "example.com"}}, stdout: "example.com"},
		{name: "input key upper-cased", spec: Spec{Shell: `echo -n "$ASSISTANT_INPUT_MY_KEY"`, Inputs: map[string]string{"my_key": "v"}}, stdout: "v"},
		{name: "input STEWARD_INPUT alias", spec: Spec{Shell: `echo -n "$STEWARD_INPUT_MY_KEY"`, Inputs: map[string]string{"my_key": "v 2"}}, stdout: "v 2"},
		{name: "helpers", spec: Spec{Shell: "log_human test message\nlog_info 'an info'\nlog_warn a warning"},
			records: []Record{{LevelHuman, "test message"}, {LevelInfo, "an info"}, {LevelWarn, "a warning"}}},
		{name: "multi-line record", spec: Spec{Shell: `log_human "line1
line2
line3"`}, records: []Record{{LevelHuman, "line1\nline2\nline3"}}},
		{name: "malformed and unknown records", spec: Spec{Shell: `printf 'no tab\036DEBUG\tx\036' >> "$ASSISTANT_LOG"`},
			records: []Record{{"DEBUG", "x"}}, malformed: []string{"no tab"}},
		{name: "working directory is private and writable", spec: Spec{Shell: `touch f && ls && pwd | grep -q steward-script-`}, stdout: "f\n"},
		{name: "stdout capped", spec: Spec{Shell: `head -c 100000 /dev/zero | tr '\0' a`, MaxOutput: 1000}, stdout: strings.Repeat("a", 1000), truncated: true},
		{name: "output capped", spec: Spec{Shell: `X=$(head -c 5000 /dev/zero | tr '\0' b)`, Output: "X", MaxOutput: 100}, output: strings.Repeat("b", 100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := run(t, tc.spec)
			if res.ExitCode != tc.exit {
				t.Errorf("exit = %d, want %d (stderr %q)", res.ExitCode, tc.exit, res.Stderr)
			}
			if res.Output != tc.output || res.HasOutput != (tc.output != "") {
				t.Errorf("output = %q (%v), want %q", res.Output, res.HasOutput, tc.output)
			}
			if tc.stdout != "" && res.Stdout != tc.stdout {
				t.Errorf("stdout = %.80q, want %.80q", res.Stdout, tc.stdout)
			}
			if !strings.Contains(res.Stderr, tc.stderrHas) {
				t.Errorf("stderr = %q, want it to contain %q", res.Stderr, tc.stderrHas)
			}
			if !reflect.DeepEqual(res.Records, tc.records) || !reflect.DeepEqual(res.Malformed, tc.malformed) {
				t.Errorf("records = %q %q, want %q %q", res.Records, res.Malformed, tc.records, tc.malformed)
			}
			if res.StdoutTruncated != tc.truncated {
				t.Errorf("stdout truncated = %v, want %v", res.StdoutTruncated, tc.truncated)
			}
		})
	}
}

// TestEnvironmentFromScratch: nothing of Steward's environment reaches the
// script (no gateway token, no NATS credentials, not even PATH).
func TestEnvironmentFromScratch(t *testing.T) {
	t.Setenv("STEWARD_GATEWAY_TOKEN", "gw-secret-123")
	t.Setenv("STEWARD_NATS_CREDENTIALS", "/secret/nats.creds")
	t.Setenv("PATH", "/opt/steward-only:"+os.Getenv("PATH"))
	res := run(t, Spec{Shell: "env", Inputs: map[string]string{"domain": "example.com"}, Home: "/home/someone"})
	for _, bad := range []string{"gw-secret-123", "STEWARD_GATEWAY_TOKEN", "NATS", "/opt/steward-only"} {
		if strings.Contains(res.Stdout, bad) {
			t.Errorf("the script's environment has %q:\n%s", bad, res.Stdout)
		}
	}
	names := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		k, _, _ := strings.Cut(line, "=")
		names[k] = true
	}
	for _, want := range []string{"PATH", "HOME", "LANG", "TMPDIR", "ASSISTANT_LOG", "ASSISTANT_OUTPUT_FILE",
		"ASSISTANT_INPUT_DOMAIN", "STEWARD_INPUT_DOMAIN"} {
		if !names[want] {
			t.Errorf("the script's environment lacks %s:\n%s", want, res.Stdout)
		}
	}
	if !strings.Contains(res.Stdout, "PATH="+DefaultPath+"\n") || !strings.Contains(res.Stdout, "HOME=/home/someone\n") {
		t.Errorf("environment:\n%s", res.Stdout)
	}
}

// TestTimeoutKillsProcessGroup: a script that starts a background child and
// then runs past its timeout fails with ErrTimeout, keeps the records it
// wrote, and leaves no process behind.
func TestTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	res, err := Run(context.Background(), Spec{Name: "slow", Timeout: 300 * time.Millisecond, Inputs: map[string]string{"pid_file": pidFile},
		Shell: `sleep 1000 &
echo $! > "$ASSISTANT_INPUT_PID_FILE"
log_human before the timeout
sleep 1000`})
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "300ms") {
		t.Fatalf("err = %v, want a timeout after 300ms", err)
	}
	if res == nil || len(res.Records) != 1 || res.Records[0].Message != "before the timeout" {
		t.Errorf("records = %+v", res)
	}
	assertGone(t, pidFile)
}

// TestBackgroundChildKilledAtExit: a script that exits normally while a
// child it started still runs (holding its stdout) returns, and the child is
// killed.
func TestBackgroundChildKilledAtExit(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	res := run(t, Spec{Inputs: map[string]string{"pid_file": pidFile}, Output: "X",
		Shell: `sleep 1000 &
echo $! > "$STEWARD_INPUT_PID_FILE"
X=done`})
	if res.ExitCode != 0 || res.Output != "done" {
		t.Errorf("result = %+v", res)
	}
	assertGone(t, pidFile)
}

// TestCancelKillsProcessGroup: a cancelled context (Steward stopping) kills
// the script and its children and says so.
func TestCancelKillsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile, started := filepath.Join(dir, "pid"), filepath.Join(dir, "started")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := Run(ctx, Spec{Inputs: map[string]string{"pid_file": pidFile, "started": started},
			Shell: `sleep 1000 &
echo $! > "$ASSISTANT_INPUT_PID_FILE"
touch "$ASSISTANT_INPUT_STARTED"
wait`})
		done <- err
	}()
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	assertGone(t, pidFile)
}

func TestNotStarted(t *testing.T) {
	_, err := Run(context.Background(), Spec{Shell: "true", Bash: filepath.Join(t.TempDir(), "no-bash")})
	if !errors.Is(err, ErrNotStarted) {
		t.Fatalf("err = %v, want ErrNotStarted", err)
	}
}

func TestInvalidSpec(t *testing.T) {
	for name, s := range map[string]Spec{
		"input name":  {Shell: "true", Inputs: map[string]string{"my-key": "v"}},
		"input NUL":   {Shell: "true", Inputs: map[string]string{"k": "a\x00b"}},
		"output name": {Shell: "true", Output: "X}; rm -rf ~; #"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Run(context.Background(), s); !errors.Is(err, ErrInvalid) {
				t.Errorf("Run: %v, want ErrInvalid", err)
			}
		})
	}
}

// assertGone checks that the process whose pid the script wrote to pidFile
// no longer runs: it does not exist, or is a zombie (dead, waiting for a
// parent that reaps it; PID 1 of a container may never do so). SIGKILL is
// delivered asynchronously, so it waits (bounded) for the process to die.
func assertGone(t *testing.T, pidFile string) {
	t.Helper()
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the script wrote no pid: %v", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	if !waitDead(pid, 10*time.Second) {
		t.Errorf("background child %d still runs", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// waitDead reports whether pid is gone or a zombie, waiting up to d.
func waitDead(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		if stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat"); err == nil {
			// pid (comm) state ...: the state follows the last ')'.
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}
