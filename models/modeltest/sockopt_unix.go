//go:build unix

package modeltest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

var errNoInspect = errors.New("socket options cannot be inspected here")

// socketNoDelay finds the process's socket whose local and peer addresses are local and
// remote (a backend's session socket: the test runs in the same process, so getsockname(2)
// on every descriptor of /dev/fd finds it) and reports its TCP_NODELAY.
func socketNoDelay(local, remote net.Addr) (bool, error) {
	ents, err := os.ReadDir("/dev/fd")
	if err != nil {
		return false, fmt.Errorf("%w: %v", errNoInspect, err)
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		sa, err := unix.Getsockname(fd)
		if err != nil || !sameAddr(sa, local) {
			continue
		}
		pa, err := unix.Getpeername(fd)
		if err != nil || !sameAddr(pa, remote) {
			continue
		}
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		if err != nil {
			return false, err
		}
		return v != 0, nil
	}
	return false, fmt.Errorf("no socket %v→%v among the process's descriptors", local, remote)
}

func sameAddr(sa unix.Sockaddr, a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	switch s := sa.(type) {
	case *unix.SockaddrInet4:
		return s.Port == ta.Port && net.IP(s.Addr[:]).Equal(ta.IP)
	case *unix.SockaddrInet6:
		return s.Port == ta.Port && net.IP(s.Addr[:]).Equal(ta.IP)
	}
	return false
}
