// Package dovecot starts a real Dovecot IMAP server per test, so the email
// integration is tested against the IMAP server most self-hosters run rather
// than against a fake.
//
// [Start] writes a standalone configuration into the test's temporary folder
// (it never reads or writes /etc/dovecot), starts `dovecot -F -c FILE` on a
// free loopback port, waits for the greeting and stops the server again when
// the test ends. Mail is stored as Maildir; the special-use folders Drafts,
// Sent, Junk, Trash and Archive exist unless an option leaves one out. Each
// server has its own users (default alice/secret), log file and run folder.
//
// The helpers put mail in ([Server.Append]), read a folder back for
// assertions ([Server.Messages]), count IMAP logins from Dovecot's own log
// ([Server.Logins]), disconnect a user's sessions ([Server.Kick]) and change a
// folder's UIDVALIDITY ([Server.SetUIDValidity]).
//
// The dovecot binary comes from the Debian package dovecot-imapd, which
// scripts/test installs when a test imports this package. When the binary is
// missing, Start fails the test (it never skips it silently).
//
// Running as root (as CI does), mail belongs to nobody:nogroup; as another
// user, every Dovecot process runs as that user. The package never sends mail,
// never listens beyond 127.0.0.1 and never leaves a server running after the
// test (it also dies with the test process on Linux).
package dovecot

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/stewardhq/steward/internal/testkit/logbuf"
)

// DefaultUser and DefaultPassword are the account a server has when no
// [WithUser] option is given.
const (
	DefaultUser     = "alice"
	DefaultPassword = "secret"
)

// SpecialUseFolders returns the special-use folders every server has
// (unless [WithoutSpecialUse] leaves some out), as flag → folder name pairs:
// \Drafts Drafts, \Sent Sent, \Junk Junk, \Trash Trash, \Archive Archive.
func SpecialUseFolders() [][2]string {
	return [][2]string{
		{`\Drafts`, "Drafts"},
		{`\Sent`, "Sent"},
		{`\Junk`, "Junk"},
		{`\Trash`, "Trash"},
		{`\Archive`, "Archive"},
	}
}

// Option changes how [Start] configures the server.
type Option func(*settings)

type settings struct {
	users   [][2]string
	omit    map[string]bool
	folders []string
	tls     bool
	extra   []string
}

// WithUser adds an IMAP account. The first WithUser replaces the default
// alice/secret account; later ones add more.
func WithUser(name, password string) Option {
	return func(s *settings) { s.users = append(s.users, [2]string{name, password}) }
}

// WithoutSpecialUse leaves out the special-use folder carrying each given
// flag, e.g. WithoutSpecialUse(`\Archive`).
func WithoutSpecialUse(flags ...string) Option {
	return func(s *settings) {
		for _, f := range flags {
			s.omit[strings.ToLower(f)] = true
		}
	}
}

// WithFolders adds plain folders (no special use) that exist from the start,
// e.g. WithFolders("Newsletters", "Receipts", "Work/Stripe"). The hierarchy
// separator is "/".
func WithFolders(names ...string) Option {
	return func(s *settings) { s.folders = append(s.folders, names...) }
}

// WithTLS gives the server a certificate for 127.0.0.1 and localhost signed by
// a fresh test CA ([Server.CertPool]): STARTTLS on the IMAP port and implicit
// TLS on a second port ([Server.TLSPort]). Without it the server speaks plain
// IMAP only (ssl = no).
func WithTLS() Option {
	return func(s *settings) { s.tls = true }
}

// WithConfig appends raw lines to the generated dovecot.conf (later settings
// win), e.g. WithConfig("imap_capability = IMAP4rev1 UIDPLUS SPECIAL-USE") to
// hide MOVE from clients.
func WithConfig(lines ...string) Option {
	return func(s *settings) { s.extra = append(s.extra, lines...) }
}

// Server is one running Dovecot instance. Its methods may be called from
// several goroutines.
type Server struct {
	dir      string // t.TempDir(): config, users, log, mail
	runDir   string // short path for Dovecot's sockets (base_dir)
	conf     string
	logPath  string
	instance string // unique name, also in the greeting
	port     int
	tlsPort  int
	users    map[string]string
	certPool *x509.CertPool

	cmd    *exec.Cmd
	exited chan struct{} // closed when the dovecot master exits
	stderr *logbuf.Buffer

	ownLogins atomic.Int64 // logins made by the helpers, not counted by Logins

	helperMu sync.Mutex
	helpers  map[string]*imapclient.Client // the helpers' connections by user
}

// Start starts a Dovecot server for the test and stops it (SIGTERM, then
// waiting for it to exit) when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot" // not always on a non-root PATH
		if _, serr := os.Stat(bin); serr != nil {
			t.Fatalf("dovecot: the dovecot binary is not installed: run scripts/test " +
				"(it installs the Debian package dovecot-imapd), or apt-get install dovecot-imapd")
		}
	}
	st := settings{omit: map[string]bool{}}
	for _, o := range opts {
		o(&st)
	}
	if len(st.users) == 0 {
		st.users = [][2]string{{DefaultUser, DefaultPassword}}
	}

	s := &Server{dir: t.TempDir(), users: map[string]string{}, helpers: map[string]*imapclient.Client{}}
	for _, u := range st.users {
		if strings.ContainsAny(u[0]+u[1], ":\n\r") {
			t.Fatalf("dovecot: user name and password must not contain ':' or line breaks")
		}
		s.users[u[0]] = u[1]
	}
	// Dovecot's sockets live in base_dir; a unix socket path must stay under
	// 108 bytes, which long test names in t.TempDir() can exceed.
	s.runDir, err = os.MkdirTemp("", "dvc")
	if err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(s.runDir) })
	if err := s.prepareFiles(st); err != nil {
		t.Fatalf("dovecot: %v", err)
	}

	// A free port can be taken by someone else between our probe and
	// Dovecot's bind: try again with new ports a few times.
	var lastErr error
	for attempt := 0; attempt < 4; attempt++ {
		if err := s.writeConfig(st); err != nil {
			t.Fatalf("dovecot: %v", err)
		}
		lastErr = s.start(bin)
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("dovecot: start failed: %v\n%s", lastErr, s.diagnostics())
	}
	t.Cleanup(func() {
		s.closeHelpers()
		if err := s.stop(); err != nil {
			t.Errorf("dovecot: %v", err)
		}
	})
	return s
}

// prepareFiles writes the users file, the TLS files and the mail folder.
func (s *Server) prepareFiles(st settings) error {
	var users strings.Builder
	for _, u := range st.users {
		fmt.Fprintf(&users, "%s:{PLAIN}%s::::::\n", u[0], u[1])
	}
	if err := os.WriteFile(filepath.Join(s.dir, "users"), []byte(users.String()), 0o644); err != nil {
		return err
	}
	if st.tls {
		pool, err := writeTestCertificate(s.dir)
		if err != nil {
			return err
		}
		s.certPool = pool
	}
	mail := filepath.Join(s.dir, "mail")
	if err := os.MkdirAll(mail, 0o755); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		// Mail processes run as nobody: it must reach and own the mail folder.
		// t.TempDir() and its parent are created 0700.
		for _, d := range []string{filepath.Dir(s.dir), s.dir} {
			if err := os.Chmod(d, 0o755); err != nil {
				return err
			}
		}
		nobody, nogroup, err := nobodyIDs()
		if err != nil {
			return err
		}
		if err := os.Chown(mail, nobody, nogroup); err != nil {
			return err
		}
	}
	return nil
}

// start launches dovecot once and waits for its greeting.
func (s *Server) start(bin string) error {
	s.stderr = &logbuf.Buffer{}
	cmd := exec.Command(bin, "-F", "-c", s.conf)
	cmd.Stdout = s.stderr
	cmd.Stderr = s.stderr
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	deadline := time.Now().Add(15 * time.Second)
	for {
		err := waitGreeting(s.Addr(), s.instance, 500*time.Millisecond)
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("dovecot exited before greeting (%v)", err)
		default:
		}
		if time.Now().After(deadline) {
			_ = s.stop()
			return fmt.Errorf("no IMAP greeting on %s after 15s: %v", s.Addr(), err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitGreeting connects once and reads until the server's real greeting (a
// server still waiting for its auth process first says "* OK Waiting for
// authentication process to respond.."), which must name this instance.
func waitGreeting(addr, instance string, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		switch {
		case !strings.HasPrefix(line, "* OK"):
			return fmt.Errorf("unexpected greeting %q", strings.TrimSpace(line))
		case strings.Contains(line, "Waiting for authentication"):
			continue
		case !strings.Contains(line, instance):
			return fmt.Errorf("another server answers on %s: %q", addr, strings.TrimSpace(line))
		}
		_, _ = c.Write([]byte("z LOGOUT\r\n"))
		return nil
	}
}

// stop sends SIGTERM to Dovecot (the master and its children) and waits for
// the master to exit; SIGKILL after 10 s.
func (s *Server) stop() error {
	if s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	select {
	case <-s.exited:
		return nil
	default:
	}
	_ = terminate(s.cmd.Process)
	select {
	case <-s.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
		return errors.New("dovecot did not stop within 10s of SIGTERM; killed")
	}
}

// diagnostics returns the end of Dovecot's log and its stderr, for failures.
func (s *Server) diagnostics() string {
	log, _ := os.ReadFile(s.logPath)
	if len(log) > 4000 {
		log = log[len(log)-4000:]
	}
	var stderr string
	if s.stderr != nil {
		stderr = s.stderr.String()
	}
	return fmt.Sprintf("--- %s\n%s--- stderr\n%s", s.logPath, log, stderr)
}

// Addr returns the plain/STARTTLS IMAP address, "127.0.0.1:port".
func (s *Server) Addr() string { return net.JoinHostPort(s.Host(), strconv.Itoa(s.port)) }

// Host returns the address the server listens on: "127.0.0.1".
func (s *Server) Host() string { return "127.0.0.1" }

// Port returns the plain/STARTTLS IMAP port.
func (s *Server) Port() int { return s.port }

// TLSPort returns the implicit-TLS (imaps) port, 0 without [WithTLS].
func (s *Server) TLSPort() int { return s.tlsPort }

// CertPool returns a pool holding the CA that signed the server's
// certificate (nil without [WithTLS]).
func (s *Server) CertPool() *x509.CertPool { return s.certPool }

// CAFile returns the path of the PEM file of that CA, e.g. for SSL_CERT_FILE
// of a steward process ("" without [WithTLS]).
func (s *Server) CAFile() string {
	if s.certPool == nil {
		return ""
	}
	return filepath.Join(s.dir, caFile)
}

// Password returns the password of a configured user ("" if unknown).
func (s *Server) Password(user string) string { return s.users[user] }

// ConfigPath returns the path of the generated dovecot.conf.
func (s *Server) ConfigPath() string { return s.conf }

// LogPath returns the path of Dovecot's log file.
func (s *Server) LogPath() string { return s.logPath }

// Logins returns how many IMAP logins Dovecot has logged, not counting the
// helpers' own (Append, Messages: they keep one connection per user open and
// log in again only after Kick). Dovecot writes its log asynchronously, so
// Logins waits until the count stops changing for a moment.
func (s *Server) Logins(t testing.TB) int {
	t.Helper()
	count := func() int {
		b, err := os.ReadFile(s.logPath)
		if err != nil {
			t.Fatalf("dovecot: reading log: %v", err)
		}
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			if strings.Contains(line, "imap-login: ") && strings.Contains(line, "Login: user=<") {
				n++
			}
		}
		return n
	}
	prev := count()
	for i := 0; i < 50; i++ {
		time.Sleep(20 * time.Millisecond)
		n := count()
		if n == prev && n >= int(s.ownLogins.Load()) {
			break
		}
		prev = n
	}
	return prev - int(s.ownLogins.Load())
}

// Doveadm runs `doveadm -c CONF args...` against this server and returns
// its standard output; a failure fails the test.
func (s *Server) Doveadm(t testing.TB, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("doveadm")
	if err != nil {
		bin = "/usr/bin/doveadm"
	}
	cmd := exec.Command(bin, append([]string{"-c", s.conf}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("dovecot: doveadm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// Kick disconnects every IMAP session of user (doveadm kick), as a server
// restart or a dropped network would.
func (s *Server) Kick(t testing.TB, user string) {
	t.Helper()
	s.Doveadm(t, "kick", user)
}

// SetUIDValidity changes a folder's UIDVALIDITY, which tells clients that
// every UID they remember for it is void (as recreating the folder would).
func (s *Server) SetUIDValidity(t testing.TB, user, mailbox string, uidValidity uint32) {
	t.Helper()
	s.Doveadm(t, "mailbox", "update", "-u", user,
		"--uid-validity", strconv.FormatUint(uint64(uidValidity), 10), mailbox)
}
