package winsock

import (
	"net"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/sock"
)

// ErrIOPending is ERROR_IO_PENDING boxed once, so hot paths compare without allocating.
var ErrIOPending error = windows.ERROR_IO_PENDING

// Socket creates an overlapped, non-inheritable TCP socket of family; flags adds WSASocket
// flags (WSA_FLAG_REGISTERED_IO for RIO).
// https://learn.microsoft.com/windows/win32/api/winsock2/nf-winsock2-wsasocketw
func Socket(family int, flags uint32) (windows.Handle, error) {
	return windows.WSASocket(int32(family), windows.SOCK_STREAM, windows.IPPROTO_TCP, nil, 0,
		windows.WSA_FLAG_OVERLAPPED|windows.WSA_FLAG_NO_HANDLE_INHERIT|flags)
}

// Listen opens a listening socket on ta (socket, bind, listen with sock.Backlog,
// getsockname). op names the call that failed; on failure nothing is left open.
func Listen(ta *net.TCPAddr, flags uint32) (s windows.Handle, bound *net.TCPAddr, family int, op string, err error) {
	family, sa := sock.Sockaddr(ta)
	s, err = Socket(family, flags)
	if err != nil {
		return windows.InvalidHandle, nil, family, "WSASocket", err
	}
	var got windows.Sockaddr
	if err = windows.Bind(s, sa); err != nil {
		op = "bind"
	} else if err = windows.Listen(s, sock.Backlog); err != nil {
		op = "listen"
	} else if got, err = windows.Getsockname(s); err != nil {
		op = "getsockname"
	}
	if err != nil {
		windows.Closesocket(s)
		return windows.InvalidHandle, nil, family, op, err
	}
	return s, sock.TCPAddr(got), family, "", nil
}

// DialSocket is a socket for ConnectEx, which needs one bound (to the wildcard address).
func DialSocket(family int, flags uint32) (s windows.Handle, op string, err error) {
	s, err = Socket(family, flags)
	if err != nil {
		return windows.InvalidHandle, "WSASocket", err
	}
	if err := windows.Bind(s, sock.Wildcard(family)); err != nil {
		windows.Closesocket(s)
		return windows.InvalidHandle, "bind", err
	}
	return s, "", nil
}

// Connected finishes a successful ConnectEx on s: SO_UPDATE_CONNECT_CONTEXT (so getpeername
// and shutdown work), the socket's addresses, and the self-connect check. With nothing
// listening on a local target port the kernel may pick that very port for the bind(0) and
// connect the socket to itself (TCP simultaneous open; Wine does, even with the port held by
// a bound socket): that is a refused connection, as Go's dialer says (selfConnect).
func Connected(s windows.Handle, target *net.TCPAddr) (local, remote *net.TCPAddr, err error) {
	if err := windows.Setsockopt(s, windows.SOL_SOCKET, windows.SO_UPDATE_CONNECT_CONTEXT, nil, 0); err != nil {
		return nil, nil, err
	}
	local, remote = &net.TCPAddr{}, target
	if sa, err := windows.Getsockname(s); err == nil {
		local = sock.TCPAddr(sa)
	}
	if sa, err := windows.Getpeername(s); err == nil {
		remote = sock.TCPAddr(sa)
	}
	if local.Port != 0 && local.Port == remote.Port && local.IP.Equal(remote.IP) {
		return nil, nil, windows.WSAECONNREFUSED
	}
	return local, remote, nil
}

// AcceptAddrLen is an AcceptEx address slot: the largest sockaddr plus 16 bytes (the docs).
const AcceptAddrLen = uint32(unsafe.Sizeof(windows.RawSockaddrAny{})) + 16

// acceptSlot is one pre-posted AcceptEx: the OVERLAPPED first, so its address finds the slot.
type acceptSlot struct {
	ov   windows.Overlapped
	sock windows.Handle // the socket AcceptEx accepts into
	buf  [2 * AcceptAddrLen]byte
}

// AcceptSlots are a listener's AcceptEx calls, in VirtualAlloc'd memory the kernel writes
// while they are pending. https://learn.microsoft.com/windows/win32/api/mswsock/nf-mswsock-acceptex
type AcceptSlots struct {
	mem   unsafe.Pointer
	slots []*acceptSlot
	recvd uint32
}

// NewAcceptSlots allocates n slots.
func NewAcceptSlots(n int) (*AcceptSlots, error) {
	size := unsafe.Sizeof(acceptSlot{})
	mem, err := VirtualAlloc(size * uintptr(n))
	if err != nil {
		return nil, err
	}
	a := &AcceptSlots{mem: mem}
	for i := range n {
		sl := (*acceptSlot)(unsafe.Add(mem, uintptr(i)*size))
		sl.sock = windows.InvalidHandle
		a.slots = append(a.slots, sl)
	}
	return a, nil
}

// Len is the number of slots.
func (a *AcceptSlots) Len() int { return len(a.slots) }

// Free releases the memory; no AcceptEx may be pending.
func (a *AcceptSlots) Free() {
	VirtualFree(a.mem)
	a.mem, a.slots = nil, nil
}

// Overlapped is slot i's OVERLAPPED (a retry packet posted with it finds the slot again).
func (a *AcceptSlots) Overlapped(i int) *windows.Overlapped { return &a.slots[i].ov }

// Index is the slot whose OVERLAPPED is ov, or -1.
func (a *AcceptSlots) Index(ov *windows.Overlapped) int {
	i := int((uintptr(unsafe.Pointer(ov)) - uintptr(a.mem)) / unsafe.Sizeof(acceptSlot{}))
	if ov == nil || i < 0 || i >= len(a.slots) || &a.slots[i].ov != ov {
		return -1
	}
	return i
}

// Post issues AcceptEx on listener ln into the fresh socket as for slot i. A pending or
// synchronous success returns nil: the completion is queued to ln's port either way. On
// failure as is left to the caller.
func (a *AcceptSlots) Post(i int, ln, as windows.Handle) error {
	sl := a.slots[i]
	sl.ov = windows.Overlapped{}
	sl.sock = as
	err := windows.AcceptEx(ln, as, &sl.buf[0], 0, AcceptAddrLen, AcceptAddrLen, &a.recvd, &sl.ov)
	if err != nil && err != ErrIOPending {
		sl.sock = windows.InvalidHandle
		return err
	}
	return nil
}

// Take hands over slot i's accepted socket (InvalidHandle if none).
func (a *AcceptSlots) Take(i int) windows.Handle {
	s := a.slots[i].sock
	a.slots[i].sock = windows.InvalidHandle
	return s
}

// Accepted finishes a completed AcceptEx of slot i into as: SO_UPDATE_ACCEPT_CONTEXT with the
// listener ln (so getsockname and shutdown work on as) and the two addresses from the slot's
// buffer (GetAcceptExSockaddrs).
func (a *AcceptSlots) Accepted(i int, ln, as windows.Handle) (local, remote *net.TCPAddr, err error) {
	if err := windows.Setsockopt(as, windows.SOL_SOCKET, windows.SO_UPDATE_ACCEPT_CONTEXT,
		(*byte)(unsafe.Pointer(&ln)), int32(unsafe.Sizeof(ln))); err != nil {
		return nil, nil, err
	}
	var lrsa, rrsa *windows.RawSockaddrAny
	var llen, rlen int32
	windows.GetAcceptExSockaddrs(&a.slots[i].buf[0], 0, AcceptAddrLen, AcceptAddrLen, &lrsa, &llen, &rrsa, &rlen)
	return sock.RawTCPAddr(lrsa), sock.RawTCPAddr(rrsa), nil
}

// VirtualAlloc commits size bytes of zeroed memory the Go garbage collector neither scans
// nor moves: kernel-owned memory (OVERLAPPEDs, WSABUFs, registered buffers) lives there.
func VirtualAlloc(size uintptr) (unsafe.Pointer, error) {
	addr, err := windows.VirtualAlloc(0, size, windows.MEM_COMMIT|windows.MEM_RESERVE, windows.PAGE_READWRITE)
	if err != nil {
		return nil, err
	}
	return *(*unsafe.Pointer)(unsafe.Pointer(&addr)), nil // not a Go pointer: nothing is hidden
}

// VirtualBytes is VirtualAlloc as a byte slice.
func VirtualBytes(size int) ([]byte, error) {
	p, err := VirtualAlloc(uintptr(size))
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), size), nil
}

// VirtualFree releases memory from VirtualAlloc (nil does nothing).
func VirtualFree(p unsafe.Pointer) {
	if p != nil {
		windows.VirtualFree(uintptr(p), 0, windows.MEM_RELEASE)
	}
}

// VirtualFreeBytes releases memory from VirtualBytes.
func VirtualFreeBytes(b []byte) {
	if len(b) > 0 {
		VirtualFree(unsafe.Pointer(&b[0]))
	}
}

// UnderWine reports whether the process runs under Wine (ntdll exports wine_get_version;
// Windows does not). Asked once.
var UnderWine = sync.OnceValue(func() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
})
