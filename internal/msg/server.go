package msg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// NkeyFileName is the name of the embedded server's credential file, in the
// server's store directory: the seed of the one nkey user the server accepts.
// The nats CLI uses it as `nats --nkey <store dir>/steward.nk`.
const NkeyFileName = "steward.nk"

// ServerOptions configure the embedded NATS server.
type ServerOptions struct {
	// StoreDir is the JetStream file store directory.
	StoreDir string
	// Listen is the client address host:port ("" = no TCP listener: in-process
	// clients only).
	Listen string
	// ServerName names the server (default "steward").
	ServerName string
}

// Server is an embedded nats-server with JetStream.
//
// With a TCP listener the server is never anonymous: it accepts only the nkey
// user whose seed is kept in <StoreDir>/steward.nk (created at first start, mode
// 0600 in a 0700 directory). In-process connections made by [Connect] sign in
// with the same key. Without a TCP listener nothing outside this process can
// reach the server, and it has no authentication.
type Server struct {
	ns *server.Server
	// kp is the nkey user of TCP-listening servers (nil = no authentication).
	kp       nkeys.KeyPair
	nkeyFile string
}

// StartServer starts an embedded nats-server with JetStream on a file store and
// waits until it accepts connections.
func StartServer(ctx context.Context, o ServerOptions) (*Server, error) {
	if o.StoreDir == "" {
		return nil, fmt.Errorf("embedded nats: store dir is required")
	}
	opts := &server.Options{
		ServerName:         o.ServerName,
		JetStream:          true,
		StoreDir:           o.StoreDir,
		NoSigs:             true,
		NoLog:              true,
		DontListen:         o.Listen == "",
		MaxPayload:         8 << 20,
		JetStreamMaxMemory: 64 << 20,
	}
	if opts.ServerName == "" {
		opts.ServerName = "steward"
	}
	s := &Server{}
	if o.Listen != "" {
		host, portText, err := net.SplitHostPort(o.Listen)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: nats.listen %q: want host:port: %w", o.Listen, err)
		}
		port, err := strconv.Atoi(portText)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: nats.listen %q: bad port", o.Listen)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
		s.nkeyFile = filepath.Join(o.StoreDir, NkeyFileName)
		s.kp, err = loadOrCreateNkey(s.nkeyFile)
		if err != nil {
			return nil, fmt.Errorf("embedded nats: %w", err)
		}
		pub, err := s.kp.PublicKey()
		if err != nil {
			return nil, fmt.Errorf("embedded nats: credentials: %w", err)
		}
		// One user with every permission: the whole Steward runs in this process
		// (and `steward tasks`, the nats CLI act for its owner).
		opts.Nkeys = []*server.NkeyUser{{Nkey: pub}}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	go ns.Start()
	wait := 10 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	if !ns.ReadyForConnections(wait) {
		ns.Shutdown()
		if o.Listen != "" {
			return nil, fmt.Errorf("embedded nats: not ready after %s (is %s already in use? set nats.listen to another address or \"\" to disable TCP)", wait, o.Listen)
		}
		return nil, fmt.Errorf("embedded nats: not ready after %s", wait)
	}
	s.ns = ns
	return s, nil
}

// ClientURL is the URL TCP clients (the nats CLI) use; "" when TCP is disabled.
func (s *Server) ClientURL() string {
	if s.ns.Addr() == nil {
		return ""
	}
	return s.ns.ClientURL()
}

// NkeyFile is the path of the seed file TCP clients sign in with ("" when the
// server has no TCP listener and so no authentication). Pass it as
// Options.Credentials, or to the nats CLI as --nkey. Never log its contents.
func (s *Server) NkeyFile() string { return s.nkeyFile }

// Shutdown stops the server and waits for it to finish.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// sign answers the server's nonce challenge for in-process connections.
func (s *Server) sign(nonce []byte) ([]byte, error) { return s.kp.Sign(nonce) }

// loadOrCreateNkey reads the user nkey seed at path, creating it (0600, in a
// directory made 0700) at first start. A seed file that other users may read is
// refused: the credential may have leaked, and NATS data would be open to them.
func loadOrCreateNkey(path string) (nkeys.KeyPair, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("credentials directory: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("credentials directory: %w", err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		// The store directory is Steward's own: close it to other users.
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("credentials directory %s is open to other users (mode %04o) and cannot be made 0700: %w", dir, fi.Mode().Perm(), err)
		}
	}
	kp, err := readNkey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return kp, err
	}
	kp, err = nkeys.CreateUser()
	if err != nil {
		return nil, fmt.Errorf("generate credentials: %w", err)
	}
	seed, err := kp.Seed() // the key pair's own copy: not to be wiped
	if err != nil {
		return nil, fmt.Errorf("generate credentials: %w", err)
	}
	content := append([]byte("# Steward's embedded NATS server: the seed of its only user. Keep it secret.\n"+
		"# nats CLI: nats --server nats://<nats.listen> --nkey "+path+" stream ls\n"), seed...)
	content = append(content, '\n')
	// O_EXCL: two processes starting at once never overwrite each other's key.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		wipe(content)
		return readNkey(path)
	}
	if err != nil {
		wipe(content)
		return nil, fmt.Errorf("create credentials %s: %w", path, err)
	}
	_, werr := f.Write(content)
	wipe(content)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = os.Remove(path)
		return nil, fmt.Errorf("write credentials %s: %w", path, werr)
	}
	return kp, nil
}

// readNkey reads a user nkey seed file that only its owner may read. Errors
// name the file, never its contents.
func readNkey(path string) (nkeys.KeyPair, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("credentials %s can be read by other users (mode %04o): run `chmod 600 %s` "+
			"(or delete it to have a new one generated; then update your nats CLI context)", path, fi.Mode().Perm(), path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read credentials: %w", err)
	}
	defer wipe(raw)
	kp, err := nkeys.ParseDecoratedUserNKey(raw)
	if err != nil {
		return nil, fmt.Errorf("credentials %s hold no NATS user nkey seed (delete the file to have a new one generated)", path)
	}
	return kp, nil
}

// wipe overwrites a secret in memory.
func wipe(b []byte) {
	for i := range b {
		b[i] = 'x'
	}
}

// EnsureNkeyFile creates (when missing) the user nkey seed file at path, 0600 in a
// directory made 0700, and returns the user's public key: what a deployment's
// nats-server.conf lists. An existing file is kept and must be private. The
// seed itself is never returned.
func EnsureNkeyFile(path string) (publicKey string, err error) {
	kp, err := loadOrCreateNkey(path)
	if err != nil {
		return "", err
	}
	return kp.PublicKey()
}
