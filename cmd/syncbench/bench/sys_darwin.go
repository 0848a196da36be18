package bench

import (
	"os"
	"os/exec"
	"syscall"
)

// setProcAttr gives a peer process its own process group (signalGroup). There is no
// parent-death signal here: a peer outlives a syncbench that was killed.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

// syncFS waits for the write-back of dirty pages; without syncfs(2) it flushes every
// file system (sync(2)), which covers f's.
func syncFS(*os.File) error {
	syscall.Sync()
	return nil
}

// maxRSS is the peak resident set of a process that ended, in bytes (0 if unknown).
func maxRSS(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss // bytes on macOS
	}
	return 0
}

// platformSkip is why the scenario cannot run on this platform ("" if it can): the
// ones that read a process's memory or CPU from Linux's /proc.
func platformSkip(name string) string { return procSkips[name] }
