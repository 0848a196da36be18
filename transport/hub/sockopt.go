package hub

import (
	"net"
	"syscall"
)

// notSentLowat bounds how many bytes a WebSocket's kernel send buffer may hold that
// the peer has not been sent yet (TCP_NOTSENT_LOWAT, where the OS has it). Without it
// Linux lets a socket whose reader is slow buffer megabytes (~4 MB on loopback), so
// that a 4008 close frame queued behind them reaches a reader of 40 KB/s only after
// minutes. With it, the writer blocks instead, the live send queue fills and
// overflows, and what stands before the close frame is at most this much plus the
// peer's receive window. In-flight data (the congestion window) is not limited, so a
// fast reader on a long link keeps its throughput.
const notSentLowat = 16 << 10

// rawConn finds the socket under nc: through TLS (and any wrapper offering NetConn),
// down to a conn with a file descriptor. nil if there is none.
func rawConn(nc net.Conn) syscall.Conn {
	for range 8 {
		if sc, ok := nc.(syscall.Conn); ok {
			return sc
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return nil
		}
		nc = u.NetConn()
	}
	return nil
}

// tuneSocket applies notSentLowat to a WebSocket's socket. Failure only costs the
// bound, so it is logged by the caller and otherwise ignored.
func tuneSocket(nc net.Conn) error {
	sc := rawConn(nc)
	if sc == nil {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return setNotSentLowat(rc, notSentLowat)
}

// cutSocket makes the next Close reset the connection (SO_LINGER 0) rather than keep
// sending what the kernel still holds for a peer that is not reading: used when even
// the close frame could not be written in time.
func cutSocket(nc net.Conn) {
	for range 8 {
		if tc, ok := nc.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
			return
		}
		u, ok := nc.(interface{ NetConn() net.Conn })
		if !ok {
			return
		}
		nc = u.NetConn()
	}
}
