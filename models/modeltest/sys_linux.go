package modeltest

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// On a shared machine any process may take a port the moment a listener closes it, so the
// suite keeps the ports it needs dead or re-listenable reserved with sockets that are bound
// but not listening (bind(2), socket(7) SO_REUSEADDR / SO_REUSEPORT semantics).

// boundSocket binds a TCP socket to 127.0.0.1:0 without listening; reusePort sets
// SO_REUSEPORT first. It returns the port and a release func (also run at cleanup).
func boundSocket(tb testing.TB, reusePort bool) (string, func()) {
	tb.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		tb.Fatalf("socket: %v", err)
	}
	release := sync.OnceFunc(func() { syscall.Close(fd) })
	tb.Cleanup(release)
	if reusePort {
		if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1); err != nil {
			tb.Fatalf("SO_REUSEPORT: %v", err)
		}
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		tb.Fatalf("bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		tb.Fatalf("getsockname: %v", err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port)), release
}

// deadAddr returns an address nobody listens on, kept so until release: the socket holding
// it has no SO_REUSEADDR, so no other listener can bind it, and connects to it are refused.
func deadAddr(tb testing.TB) (string, func()) { return boundSocket(tb, false) }

// reListenable returns an address and a listen func that can listen on it again and again
// (after the previous listener closed) while no other process can take the port meanwhile:
// an SO_REUSEPORT socket bound to the port, never listening, holds it for the test.
func reListenable(tb testing.TB) (string, func() (net.Listener, error)) {
	addr, _ := boundSocket(tb, true)
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return addr, func() (net.Listener, error) { return lc.Listen(context.Background(), "tcp", addr) }
}

// underWine is false: Wine runs Windows binaries only.
func underWine() bool { return false }

// processFDs counts the open fds of process pid (/proc/PID/fd).
func processFDs(pid int) (int, bool) {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return 0, false
	}
	return len(ents), true
}
