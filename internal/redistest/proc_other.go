//go:build !linux

package redistest

import "os/exec"

// setProcAttr does nothing off Linux: there is no Pdeathsig, so a test binary that dies
// without running its cleanups (or Main) leaves its redis-server behind.
func setProcAttr(*exec.Cmd) {}
