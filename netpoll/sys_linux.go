package netpoll

import "golang.org/x/sys/unix"

// accept takes one pending connection, non-blocking and close-on-exec (accept4(2):
// https://man7.org/linux/man-pages/man2/accept.2.html).
func accept(fd int) (int, unix.Sockaddr, error) {
	return unix.Accept4(fd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
}

// peerHalfClosed reports whether the peer sent FIN and nothing worse: the socket is in
// CLOSE_WAIT (a reset moves it to CLOSE). TCP_INFO: https://man7.org/linux/man-pages/man7/tcp.7.html
func peerHalfClosed(fd int) bool {
	ti, err := unix.GetsockoptTCPInfo(fd, unix.IPPROTO_TCP, unix.TCP_INFO)
	return err == nil && ti.State == tcpCloseWait
}

// tcpCloseWait is TCP_CLOSE_WAIT of include/net/tcp_states.h.
const tcpCloseWait = 8
