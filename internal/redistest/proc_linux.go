//go:build linux

package redistest

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill redis-server when the test binary dies, even by
// SIGKILL or a panic that skips every cleanup.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
