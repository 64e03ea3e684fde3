//go:build linux

package dovecot

import (
	"os"
	"syscall"
)

// childAttr starts Dovecot in its own process group (so terminate reaches
// every Dovecot process) and makes the kernel stop it when the test process
// dies, so a crashed or killed test run leaves no server behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// terminate sends SIGTERM to Dovecot's whole process group. Signalling only
// the master makes it wait about a second for its log process; signalling
// the group stops everything in well under 100 ms.
func terminate(p *os.Process) error {
	return syscall.Kill(-p.Pid, syscall.SIGTERM)
}
