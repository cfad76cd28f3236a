package netpoll

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// accept takes one pending connection and makes it non-blocking and close-on-exec (macOS has
// no accept4).
func accept(fd int) (int, unix.Sockaddr, error) {
	syscall.ForkLock.RLock()
	nfd, sa, err := unix.Accept(fd)
	if err == nil {
		unix.CloseOnExec(nfd)
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return -1, nil, err
	}
	if err := unix.SetNonblock(nfd, true); err != nil {
		unix.Close(nfd)
		return -1, nil, err
	}
	return nfd, sa, nil
}

// peerHalfClosed reports whether the peer sent FIN and nothing worse: the socket is in
// CLOSE_WAIT (TCP_CONNECTION_INFO, netinet/tcp.h).
func peerHalfClosed(fd int) bool {
	ti, err := unix.GetsockoptTCPConnectionInfo(fd, unix.IPPROTO_TCP, unix.TCP_CONNECTION_INFO)
	return err == nil && ti.State == tcpsCloseWait
}

// tcpsCloseWait is TCPS_CLOSE_WAIT of netinet/tcp_fsm.h.
const tcpsCloseWait = 5
