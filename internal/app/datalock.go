package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// DataLockFile is the lock file a running Steward holds in its data directory.
// It holds the PID of the holder, for the message the next one prints.
const DataLockFile = "steward.lock"

// DataDirInUseError is returned by Run when another process holds the lock of
// the data directory.
type DataDirInUseError struct {
	// Dir is the data directory as configured.
	Dir string
	// PID is the holder's process id (0 = not known).
	PID int
}

// Error says who holds the directory and what to do.
func (e *DataDirInUseError) Error() string {
	holder := "another steward"
	if e.PID > 0 {
		holder = fmt.Sprintf("another steward (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is using %s; stop it or use --data", holder, e.Dir)
}

// dataLock is the exclusive lock of a data directory: an flock on
// <data>/steward.lock, held while the file stays open. The kernel releases it
// when the process ends however it ends, so a crash never leaves a stale lock.
type dataLock struct{ f *os.File }

// lockDataDir takes the lock of dir (created 0700 when missing) without
// waiting and writes this process's PID into the lock file. When another
// process holds it, the error is a *DataDirInUseError naming the holder's PID.
func lockDataDir(dir string) (*dataLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, DataLockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, inUseError(dir, path)
		}
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	// The lock is ours: record who holds it (the file may hold a dead holder's PID).
	err = f.Truncate(0)
	if err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("data directory lock %s: %w", path, err)
	}
	return &dataLock{f: f}, nil
}

// inUseError says which process holds the lock, when the file tells (the
// holder writes its PID right after locking, so it may not be there yet).
func inUseError(dir, path string) error {
	e := &DataDirInUseError{Dir: dir}
	if raw, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
			e.PID = pid
		}
	}
	return e
}

// unlock releases the lock. The file stays: removing it would let a third
// process lock a new file while a second still waits on the old one.
func (l *dataLock) unlock() {
	if l == nil || l.f == nil {
		return
	}
	_ = l.f.Close()
	l.f = nil
}
