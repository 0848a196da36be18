package bench

import (
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"golang.org/x/sys/windows"
)

// syncAll does nothing: Windows has no flush of every file system. The scenarios that
// rely on one are skipped here (platformSkip).
func syncAll() {}

// syncFS flushes nothing here either; see syncAll.
func syncFS(*os.File) error { return nil }

// setProcAttr leaves the defaults: Windows has no process groups to signal.
func setProcAttr(*exec.Cmd) {}

// killNow ends the process (TerminateProcess).
func killNow(p *os.Process) { _ = p.Kill() }

// signalGroup ends the process: Windows has neither SIGTERM nor process groups, so
// a peer's children may outlive it.
func signalGroup(p *os.Process, _ bool) { _ = p.Kill() }

// ProfileSignal is nil: Windows has no SIGUSR1 to ask a child for its heap profile.
var ProfileSignal os.Signal

// cpuSelf is the CPU time (user+kernel) this process used so far.
func cpuSelf() time.Duration {
	var c, e, k, u syscall.Filetime
	h, err := syscall.GetCurrentProcess()
	if err != nil || syscall.GetProcessTimes(h, &c, &e, &k, &u) != nil {
		return 0
	}
	ticks := func(f syscall.Filetime) int64 { return int64(f.HighDateTime)<<32 | int64(f.LowDateTime) }
	return time.Duration(ticks(k)+ticks(u)) * 100 // 100 ns units
}

// raiseFileLimit does nothing: Windows has no RLIMIT_NOFILE.
func raiseFileLimit(*slog.Logger) {}

// fileLimit is 0 (unknown): Windows has no RLIMIT_NOFILE.
func fileLimit() uint64 { return 0 }

// freeBytes returns the bytes free to this user on dir's volume (0 if unknown).
func freeBytes(dir string) uint64 {
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return 0
	}
	var free uint64
	if err := windows.GetDiskFreeSpaceEx(p, &free, nil, nil); err != nil {
		return 0
	}
	return free
}

// linkCount is not known from a directory listing here (ok false).
func linkCount(fs.FileInfo) (uint64, bool) { return 0, false }

// maxRSS is 0 (unknown): Windows' process state carries times only.
func maxRSS(*os.ProcessState) int64 { return 0 }

// platformSkip is why the scenario cannot run on Windows ("" if it can): those that
// read Linux's /proc, and those that settle the disk with sync(2) or syncfs(2).
func platformSkip(name string) string {
	if why := procSkips[name]; why != "" {
		return why
	}
	return syncSkips[name]
}
