// Package scriptrun runs one user script (a `scripts:` entry of config.yaml)
// with bash: the reference's prelude of helper functions (log_human, log_info,
// log_warn), its input variables, an optional captured output variable, a
// wall-clock limit and a size cap on everything it reads back.
//
// The child starts from an empty environment, never from Steward's own (which
// may hold NATS credentials or the gateway token): only a minimal PATH, HOME,
// LANG, TMPDIR, the two files the prelude writes to and the inputs. It runs in
// its own process group, in a private temporary directory removed afterwards;
// when it times out, is cancelled, or exits while processes it started are
// still running, the whole group is killed, so a script leaves nothing behind.
//
// The package knows nothing of NATS, the ledger or the daily log: Run returns
// what happened and the caller (the pipeline's script.run handler) decides.
package scriptrun

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Defaults of Spec.
const (
	// DefaultTimeout is the wall-clock limit of a script without one.
	DefaultTimeout = 120 * time.Second
	// DefaultMaxOutput is how many bytes of each stream (stdout, stderr, the
	// helpers' log records, the output variable) are kept.
	DefaultMaxOutput = 64 << 10
	// DefaultPath is the PATH the script sees.
	DefaultPath = "/usr/local/bin:/usr/bin:/bin"
	// DefaultLang is the LANG the script sees.
	DefaultLang = "C.UTF-8"
)

// waitDelay bounds how long Run waits, after bash exited (or was killed), for
// the processes it left behind to close its stdout and stderr before they are
// killed with the rest of the process group.
const waitDelay = time.Second

// Log levels of the records the helper functions write.
const (
	LevelHuman = "HUMAN" // log_human: a line of the daily log
	LevelInfo  = "INFO"  // log_info: the process log at INFO
	LevelWarn  = "WARN"  // log_warn: the process log at WARN
)

// Prelude defines the helper functions available to every script. Each
// appends "<LEVEL>\t<all arguments joined by spaces>\x1e" to $ASSISTANT_LOG,
// exactly as the reference does, so multi-line messages stay one record.
const Prelude = `log_human() { printf 'HUMAN\t%s\036' "$*" >> "$ASSISTANT_LOG"; }
log_info() { printf 'INFO\t%s\036' "$*" >> "$ASSISTANT_LOG"; }
log_warn() { printf 'WARN\t%s\036' "$*" >> "$ASSISTANT_LOG"; }
`

// Input variable prefixes: each input <name> is set as both
// ASSISTANT_INPUT_<NAME> (the reference's name) and STEWARD_INPUT_<NAME>.
const (
	InputPrefix        = "ASSISTANT_INPUT_"
	StewardInputPrefix = "STEWARD_INPUT_"
)

// Errors Run wraps.
var (
	// ErrTimeout: the script ran out of time (and was killed).
	ErrTimeout = errors.New("script timed out")
	// ErrInvalid: the Spec cannot run (see Validate); nothing was started.
	ErrInvalid = errors.New("invalid script")
	// ErrNotStarted: bash could not be started (no temporary directory, no
	// bash); the script did not run, so running it again is safe.
	ErrNotStarted = errors.New("script not started")
)

// nameRE is what an input name or the output variable must look like: a shell
// variable name (an input name is upper-cased first).
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// Spec is one script run.
type Spec struct {
	// Name identifies the script in errors.
	Name string
	// Shell is the bash source.
	Shell string
	// Inputs become ASSISTANT_INPUT_<NAME> and STEWARD_INPUT_<NAME> (the name
	// upper-cased).
	Inputs map[string]string
	// Output, when set, is the shell variable whose final value is captured
	// (the capture runs after the script's last line, so a script that calls
	// exit or is killed captures nothing).
	Output string
	// Timeout is the wall-clock limit (0 = DefaultTimeout).
	Timeout time.Duration
	// MaxOutput caps each captured stream in bytes (0 = DefaultMaxOutput).
	MaxOutput int
	// Home is the script's HOME ("" = its working directory).
	Home string
	// Bash is the bash binary ("" = "bash" looked up in DefaultPath).
	Bash string
}

// Record is one line a helper function wrote.
type Record struct {
	Level   string // LevelHuman, LevelInfo or LevelWarn; anything else as written
	Message string // newlines kept
}

// Result is what a finished (or killed) script produced.
type Result struct {
	// ExitCode is bash's exit status (-1 when it was killed by a signal).
	ExitCode int
	// Output is the value of Spec.Output when the capture line ran and the
	// value is not empty; HasOutput says so.
	Output    string
	HasOutput bool
	// Stdout and Stderr are the first MaxOutput bytes of each stream; the
	// Truncated flags say whether more was written.
	Stdout, Stderr                   string
	StdoutTruncated, StderrTruncated bool
	// Records are the helper functions' records, in order (also when the
	// script timed out). Malformed lists those without a TAB.
	Records   []Record
	Malformed []string
	// Duration is how long the script ran.
	Duration time.Duration
}

// Run runs s with bash and waits for it. A script that exits non-zero is not
// an error (see Result.ExitCode); a timeout returns the partial Result and an
// error wrapping ErrTimeout; a cancelled ctx returns the partial Result and an
// error wrapping ctx.Err(). In every case the process group is killed and the
// temporary directory removed before Run returns.
func Run(ctx context.Context, s Spec) (*Result, error) {
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxOutput <= 0 {
		s.MaxOutput = DefaultMaxOutput
	}
	if err := Validate(s); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "steward-script-")
	if err != nil {
		return nil, fmt.Errorf("script %s: %w: %w", s.Name, ErrNotStarted, err)
	}
	defer os.RemoveAll(dir)
	work := filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o700); err != nil {
		return nil, fmt.Errorf("script %s: %w: %w", s.Name, ErrNotStarted, err)
	}
	logFile, outFile, scriptFile := filepath.Join(dir, "log.txt"), filepath.Join(dir, "out.txt"), filepath.Join(dir, "script.sh")
	env := environ(s, work, logFile, outFile)
	if err := os.WriteFile(scriptFile, []byte(source(s)), 0o600); err != nil {
		return nil, fmt.Errorf("script %s: %w: %w", s.Name, ErrNotStarted, err)
	}
	bash := s.Bash
	if bash == "" {
		if bash, err = lookBash(); err != nil {
			return nil, fmt.Errorf("script %s: %w: %w", s.Name, ErrNotStarted, err)
		}
	}

	runCtx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	stdout, stderr := &capped{max: s.MaxOutput}, &capped{max: s.MaxOutput}
	cmd := exec.CommandContext(runCtx, bash, scriptFile)
	cmd.Dir, cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = work, env, nil, stdout, stderr
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killGroup(cmd.Process) }
	cmd.WaitDelay = waitDelay

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("script %s: %w: start bash: %w", s.Name, ErrNotStarted, err)
	}
	waitErr := cmd.Wait()
	// Whatever the script started and left running dies with it.
	_ = killGroup(cmd.Process)
	res := &Result{ExitCode: -1, Duration: time.Since(start)}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	res.Stdout, res.StdoutTruncated = stdout.String(), stdout.dropped
	res.Stderr, res.StderrTruncated = stderr.String(), stderr.dropped
	res.Records, res.Malformed = readRecords(logFile, s.MaxOutput)

	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("script %s: stopped before it finished (its processes were killed): %w", s.Name, ctx.Err())
	case errors.Is(runCtx.Err(), context.DeadlineExceeded):
		return res, fmt.Errorf("script %s: %w after %s (its process group was killed)", s.Name, ErrTimeout, s.Timeout)
	}
	var exitErr *exec.ExitError
	if waitErr != nil && !errors.As(waitErr, &exitErr) && !errors.Is(waitErr, exec.ErrWaitDelay) {
		return res, fmt.Errorf("script %s: %w", s.Name, waitErr)
	}
	if s.Output != "" {
		if b, err := readCapped(outFile, s.MaxOutput); err == nil && len(b) > 0 {
			res.Output, res.HasOutput = string(b), true
		}
	}
	return res, nil
}

// source is the script file: the prelude, the user's code verbatim and, when
// an output variable is set, the line that captures its final value.
func source(s Spec) string {
	var b strings.Builder
	b.WriteString(Prelude)
	b.WriteString("\n")
	b.WriteString(s.Shell)
	if s.Output != "" {
		fmt.Fprintf(&b, "\nprintf '%%s' \"${%s}\" > \"$ASSISTANT_OUTPUT_FILE\"\n", s.Output)
	}
	return b.String()
}

// Validate reports (wrapping ErrInvalid) why s cannot run: an input name that
// is not a shell variable name once upper-cased, an input value with a NUL
// byte, an output that is not a shell variable name.
func Validate(s Spec) error {
	if s.Output != "" && !nameRE.MatchString(s.Output) {
		return fmt.Errorf("script %s: %w: output %q is not a shell variable name", s.Name, ErrInvalid, s.Output)
	}
	for k, v := range s.Inputs {
		if !nameRE.MatchString(strings.ToUpper(k)) {
			return fmt.Errorf("script %s: %w: input %q cannot be a shell variable name (use letters, digits and _)", s.Name, ErrInvalid, k)
		}
		if strings.IndexByte(v, 0) >= 0 {
			return fmt.Errorf("script %s: %w: input %q contains a NUL byte", s.Name, ErrInvalid, k)
		}
	}
	return nil
}

// environ builds the child's environment from nothing (sorted, one entry per
// name); s has been validated.
func environ(s Spec, work, logFile, outFile string) []string {
	home := s.Home
	if home == "" {
		home = work
	}
	vars := map[string]string{
		"PATH": DefaultPath, "HOME": home, "LANG": DefaultLang, "TMPDIR": work,
		"ASSISTANT_LOG": logFile, "ASSISTANT_OUTPUT_FILE": outFile,
	}
	for k, v := range s.Inputs {
		name := strings.ToUpper(k)
		vars[InputPrefix+name] = v
		vars[StewardInputPrefix+name] = v
	}
	out := make([]string, 0, len(vars))
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// lookBash finds bash in DefaultPath (not in Steward's own PATH).
func lookBash() (string, error) {
	for _, d := range filepath.SplitList(DefaultPath) {
		p := filepath.Join(d, "bash")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("bash not found in %s", DefaultPath)
}

// readRecords parses the helpers' log file (at most max bytes of it): records
// end with 0x1E, are trimmed, empty ones skipped, and split at the first TAB
// into level and message. A missing or empty file has none.
func readRecords(path string, max int) (recs []Record, malformed []string) {
	b, err := readCapped(path, max)
	if err != nil {
		return nil, nil
	}
	for _, raw := range strings.Split(string(b), "\x1e") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		level, message, ok := strings.Cut(raw, "\t")
		if !ok {
			malformed = append(malformed, raw)
			continue
		}
		recs = append(recs, Record{Level: level, Message: message})
	}
	return recs, malformed
}

// readCapped reads at most max bytes of a file.
func readCapped(path string, max int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, int64(max)))
}

// capped keeps the first max bytes written to it and drops the rest, without
// ever failing a write (a failed write would stop the copy from the child's
// pipe and could block or kill it).
type capped struct {
	buf     bytes.Buffer
	max     int
	dropped bool
}

func (c *capped) Write(p []byte) (int, error) {
	if room := c.max - c.buf.Len(); room > 0 {
		if len(p) > room {
			c.buf.Write(p[:room])
			c.dropped = true
		} else {
			c.buf.Write(p)
		}
	} else if len(p) > 0 {
		c.dropped = true
	}
	return len(p), nil
}

func (c *capped) String() string { return c.buf.String() }
