package wire

import (
	"crypto/tls"
	"net"
	"syscall"
	"time"
)

// watchHangup notices a client that disconnects while the session is busy
// computing a model function (and so not reading the client): it waits for
// the client's socket to become readable and peeks at it without consuming
// anything. End of stream means the client is gone: onHangup runs (it
// cancels the computation and the upstream's query). The returned stop
// ends the watch and returns only once the watcher no longer touches the
// connection.
func watchHangup(c net.Conn, onHangup func()) (stop func()) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return func() {}
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var buf [1]byte
		hangup := false
		err := raw.Read(func(fd uintptr) bool {
			n, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EAGAIN:
				return false // nothing yet: wait for readability
			case err == nil && n == 0, err != nil:
				hangup = true // orderly shutdown or a reset
			}
			// Data waiting (a pipelined request): the client is alive.
			return true
		})
		if hangup && err == nil {
			onHangup()
		}
	}()
	return func() {
		_ = c.SetReadDeadline(time.Now())
		<-done
		_ = c.SetReadDeadline(time.Time{})
	}
}
