//go:build linux || darwin

package bench

import (
	"io/fs"
	"log/slog"
	"os"
	"syscall"
	"time"
)

// This file and its siblings (sys_linux.go, sys_darwin.go, sys_windows.go) hold every
// system call of the bench that differs between platforms; the rest is portable.

// syncAll flushes every dirty page of the machine (sync(2)), untimed or timed apart
// by the scenarios that must not pay for the previous part's write-back.
func syncAll() { syscall.Sync() }

// killNow sends SIGKILL to the process alone (a node killed as by kill -9).
func killNow(p *os.Process) { _ = syscall.Kill(p.Pid, syscall.SIGKILL) }

// signalGroup sends SIGTERM (kill false) or SIGKILL to the process group that
// startProc gave the process (the process and its children).
func signalGroup(p *os.Process, kill bool) {
	sig := syscall.SIGTERM
	if kill {
		sig = syscall.SIGKILL
	}
	_ = syscall.Kill(-p.Pid, sig)
}

// ProfileSignal asks a syncd child to write its heap profile (SIGUSR1); nil where
// there is no such signal.
var ProfileSignal os.Signal = syscall.SIGUSR1

// cpuSelf is the CPU time (user+system) this process used so far.
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// raiseFileLimit lifts RLIMIT_NOFILE as far as allowed: the client side of the rss
// scenario holds 10,000 sockets.
func raiseFileLimit(log *slog.Logger) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	want := uint64(1 << 17)
	if lim.Max < want {
		up := syscall.Rlimit{Cur: want, Max: want}
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up); err == nil {
			return
		}
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			log.Warn("cannot raise the open-file limit", "err", err)
		}
	}
}

// fileLimit returns the current soft RLIMIT_NOFILE.
func fileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0
	}
	return lim.Cur
}

// freeBytes returns the bytes free for unprivileged users on dir's file system (0 if
// unknown).
func freeBytes(dir string) uint64 {
	var s syscall.Statfs_t
	if err := syscall.Statfs(dir, &s); err != nil {
		return 0
	}
	return uint64(s.Bavail) * uint64(s.Bsize)
}

// linkCount returns the hard-link count of the file info describes; ok is false
// where the platform does not say.
func linkCount(info fs.FileInfo) (n uint64, ok bool) {
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return uint64(st.Nlink), true
}
