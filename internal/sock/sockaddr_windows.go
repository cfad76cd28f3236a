package sock

import (
	"net"

	"golang.org/x/sys/windows"
)

// Sockaddr converts a resolved TCP address for bind/ConnectEx. A nil IP is IPv4 0.0.0.0.
func Sockaddr(a *net.TCPAddr) (family int, sa windows.Sockaddr) {
	if ip4 := a.IP.To4(); ip4 != nil || a.IP == nil {
		s := &windows.SockaddrInet4{Port: a.Port}
		copy(s.Addr[:], ip4)
		return windows.AF_INET, s
	}
	s := &windows.SockaddrInet6{Port: a.Port}
	copy(s.Addr[:], a.IP.To16())
	return windows.AF_INET6, s
}

// Wildcard is the any-address of family, port 0 (ConnectEx needs a bound socket).
func Wildcard(family int) windows.Sockaddr {
	if family == windows.AF_INET6 {
		return &windows.SockaddrInet6{}
	}
	return &windows.SockaddrInet4{}
}

// TCPAddr converts a sockaddr from getsockname, getpeername or GetAcceptExSockaddrs.
func TCPAddr(sa windows.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *windows.SockaddrInet4:
		return &net.TCPAddr{IP: net.IPv4(a.Addr[0], a.Addr[1], a.Addr[2], a.Addr[3]), Port: a.Port}
	case *windows.SockaddrInet6:
		ip := make(net.IP, net.IPv6len)
		copy(ip, a.Addr[:])
		return &net.TCPAddr{IP: ip, Port: a.Port}
	}
	return &net.TCPAddr{}
}

// RawTCPAddr converts a raw sockaddr (AcceptEx's address buffer); nil or garbage is the
// zero address.
func RawTCPAddr(rsa *windows.RawSockaddrAny) *net.TCPAddr {
	if rsa == nil {
		return &net.TCPAddr{}
	}
	sa, err := rsa.Sockaddr()
	if err != nil {
		return &net.TCPAddr{}
	}
	return TCPAddr(sa)
}

// SetNoDelay turns Nagle off, as Go net does for every TCP connection (parity with netstd).
func SetNoDelay(s windows.Handle) error {
	return windows.SetsockoptInt(s, windows.IPPROTO_TCP, windows.TCP_NODELAY, 1)
}

// SetAbortive makes closesocket abortive (RST, unsent data dropped), as every kick but a
// graceful EOF asks.
func SetAbortive(s windows.Handle) error {
	return windows.SetsockoptLinger(s, windows.SOL_SOCKET, windows.SO_LINGER, &windows.Linger{Onoff: 1, Linger: 0})
}
