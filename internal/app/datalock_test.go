package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stewardhq/steward/internal/msg"
)

// TestLockDataDir: the data directory's lock is exclusive (a second open of the
// lock file is refused even in the same process: flock locks belong to open
// files), names the holder's PID, and is free again once released.
func TestLockDataDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := lockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, DataLockFile))
	if err != nil || strings.TrimSpace(string(raw)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file holds %q (%v), want this PID", raw, err)
	}
	_, err = lockDataDir(dir)
	var inUse *DataDirInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
		t.Fatalf("second lock: %v, want another steward with this PID", err)
	}
	want := fmt.Sprintf("another steward (pid %d) is using %s; stop it or use --data", os.Getpid(), dir)
	if err.Error() != want {
		t.Fatalf("message %q, want %q", err, want)
	}
	first.unlock()
	again, err := lockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again.unlock()
}

// TestRunRefusesADataDirInUse: a second `steward run` embedding NATS on the same
// data directory stops before it opens the NATS store, naming the holder.
func TestRunRefusesADataDirInUse(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "nats:\n  listen: \"\"\n")
	held, err := lockDataDir(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err = Run(ctx, Options{ConfigPath: cfgPath, Services: []string{ServicePipeline}, Logger: quietLog(), Environ: []string{}})
	var inUse *DataDirInUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() {
		t.Fatalf("Run: %v, want the data directory in use by this PID", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "nats")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the NATS store was opened anyway (%v)", err)
	}
}

// TestRunJoiningNATSTakesNoDataLock: a process that joins a NATS server (--nats
// URL) keeps no store in the data directory, so it starts beside the one that
// holds it (a worker on the same machine sharing the config).
func TestRunJoiningNATSTakesNoDataLock(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	srv, err := msg.StartServer(context.Background(), msg.ServerOptions{StoreDir: filepath.Join(dir, "standalone"), Listen: addr})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	cfgPath := writeConfig(t, dir, fmt.Sprintf("nats:\n  url: nats://%s\n  credentials: %s\n", addr, srv.NkeyFile()))
	held, err := lockDataDir(filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.unlock()
	runApp(t, Options{ConfigPath: cfgPath, Services: []string{ServicePipeline}})
}
