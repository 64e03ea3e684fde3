//go:build !linux

package dovecot

import (
	"os"
	"syscall"
)

// childAttr has nothing to add outside Linux (no parent-death signal).
func childAttr() *syscall.SysProcAttr { return nil }

// terminate sends SIGTERM to the Dovecot master.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
