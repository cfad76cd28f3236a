//go:build unix

package sock

import (
	"fmt"
	"net"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

// Sockaddr converts a resolved TCP address for bind(2)/connect(2). A nil IP (":port") is IPv4
// 0.0.0.0; an IPv6 zone is resolved to its interface index. Each call returns a fresh value:
// x/sys fills a raw buffer inside the Sockaddr on every use, so one value must not be shared
// by two threads.
func Sockaddr(a *net.TCPAddr) (family int, sa unix.Sockaddr, err error) {
	if a.IP == nil {
		return unix.AF_INET, &unix.SockaddrInet4{Port: a.Port}, nil
	}
	if ip4 := a.IP.To4(); ip4 != nil {
		s := &unix.SockaddrInet4{Port: a.Port}
		copy(s.Addr[:], ip4)
		return unix.AF_INET, s, nil
	}
	if ip6 := a.IP.To16(); ip6 != nil {
		s := &unix.SockaddrInet6{Port: a.Port}
		copy(s.Addr[:], ip6)
		if a.Zone != "" {
			ifi, err := net.InterfaceByName(a.Zone)
			if err != nil {
				return 0, nil, fmt.Errorf("%w: zone %q: %v", models.ErrBadConfig, a.Zone, err)
			}
			s.ZoneId = uint32(ifi.Index)
		}
		return unix.AF_INET6, s, nil
	}
	return 0, nil, fmt.Errorf("%w: address %v is not IPv4 or IPv6", models.ErrBadConfig, a)
}

// TCPAddr converts a sockaddr from getsockname(2), getpeername(2) or accept(2).
func TCPAddr(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		zone := ""
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				zone = ifi.Name
			}
		}
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port, Zone: zone}
	}
	return &net.TCPAddr{}
}

// RawSockaddr writes sa into raw in the kernel's layout (for a request that carries a
// sockaddr pointer, e.g. io_uring's IORING_OP_CONNECT) and returns its length.
func RawSockaddr(sa unix.Sockaddr, raw *unix.RawSockaddrAny) uintptr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		r := (*unix.RawSockaddrInet4)(unsafe.Pointer(raw))
		r.Family = unix.AF_INET
		r.Port = htons(a.Port)
		r.Addr = a.Addr
		return unsafe.Sizeof(*r)
	case *unix.SockaddrInet6:
		r := (*unix.RawSockaddrInet6)(unsafe.Pointer(raw))
		r.Family = unix.AF_INET6
		r.Port = htons(a.Port)
		r.Addr = a.Addr
		r.Scope_id = a.ZoneId
		return unsafe.Sizeof(*r)
	}
	return 0
}

// htons is the port in network byte order, as the sockaddr's in-memory uint16 holds it.
func htons(port int) uint16 {
	b := [2]byte{byte(port >> 8), byte(port)}
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

// SetNoDelay turns Nagle off, as Go net does for every TCP connection (parity with netstd).
func SetNoDelay(fd int) error {
	return unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
}

// abortiveLinger makes close(2) send RST and drop unsent data (SO_LINGER {1, 0}, socket(7)).
var abortiveLinger = unix.Linger{Onoff: 1, Linger: 0}

// SetAbortive arms an abortive close, as the contract asks of every kick but a graceful EOF.
func SetAbortive(fd int) error {
	return unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &abortiveLinger)
}
