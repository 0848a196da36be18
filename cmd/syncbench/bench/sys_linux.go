package bench

import (
	"os"
	"os/exec"
	"syscall"

	"golang.org/x/sys/unix"
)

// setProcAttr gives a peer process its own process group (signalGroup) and has the
// kernel kill it if syncbench dies.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// syncFS waits for the write-back of the file system holding the open f (syncfs(2):
// every dirty page and the journal, whoever wrote them).
func syncFS(f *os.File) error { return unix.Syncfs(int(f.Fd())) }

// maxRSS is the peak resident set of a process that ended, in bytes (0 if unknown).
func maxRSS(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10 // KiB on Linux
	}
	return 0
}

// platformSkip is why the scenario cannot run on this platform; "" here: every
// scenario was written for Linux.
func platformSkip(string) string { return "" }
