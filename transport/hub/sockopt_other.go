//go:build !linux && !darwin

package hub

import "syscall"

// setNotSentLowat is a no-op where the OS has no TCP_NOTSENT_LOWAT: the close frame
// then waits behind whatever the kernel buffered, within the close timeout.
func setNotSentLowat(syscall.RawConn, int) error { return nil }
