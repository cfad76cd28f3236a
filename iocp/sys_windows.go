package iocp

import (
	"errors"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// GetQueuedCompletionStatusEx is not in x/sys/windows: load it from kernel32 once.
// https://learn.microsoft.com/en-us/windows/win32/fileio/getqueuedcompletionstatusex-func
//
// GetProcessHandleCount (also not in x/sys) is used by the tests to check that Close leaves
// no socket, port or other handle behind.
// https://learn.microsoft.com/en-us/windows/win32/api/processthreadsapi/nf-processthreadsapi-getprocesshandlecount
var (
	modkernel32                     = windows.NewLazySystemDLL("kernel32.dll")
	procGetQueuedCompletionStatusEx = modkernel32.NewProc("GetQueuedCompletionStatusEx")
	procGetProcessHandleCount       = modkernel32.NewProc("GetProcessHandleCount")
)

// processHandleCount is the number of handles this process holds.
func processHandleCount() (int, error) {
	var n uint32
	r1, _, e := syscall.SyscallN(procGetProcessHandleCount.Addr(), uintptr(windows.CurrentProcess()),
		uintptr(unsafe.Pointer(&n)))
	if r1 == 0 {
		return 0, e
	}
	return int(n), nil
}

// overlappedEntry is OVERLAPPED_ENTRY.
// https://learn.microsoft.com/en-us/windows/win32/api/minwinbase/ns-minwinbase-overlapped_entry
type overlappedEntry struct {
	Key        uintptr
	Overlapped *windows.Overlapped
	Internal   uintptr // the operation's NTSTATUS
	Qty        uint32
}

// getQueuedCompletionStatusEx dequeues up to len(entries) packets (len > 0).
func getQueuedCompletionStatusEx(port windows.Handle, entries []overlappedEntry, timeoutMs uint32) (int, error) {
	var n uint32
	r1, _, e := syscall.SyscallN(procGetQueuedCompletionStatusEx.Addr(), uintptr(port),
		uintptr(unsafe.Pointer(&entries[0])), uintptr(len(entries)), uintptr(unsafe.Pointer(&n)),
		uintptr(timeoutMs), 0)
	if r1 == 0 {
		if e != 0 {
			return 0, e
		}
		return 0, syscall.EINVAL
	}
	return int(n), nil
}

// Hot errnos, boxed once.
var (
	errAbandoned     = error(windows.ERROR_ABANDONED_WAIT_0)
	errInvalidHandle = error(windows.ERROR_INVALID_HANDLE)
	errTimeout       = error(windows.WAIT_TIMEOUT)
	errNilJob        = errors.New("iocp: nil job")
)

// recoverable is the seed's IocpCore::HandleIocp list (§7.1) of completion errors that are
// the peer's or our own doing and are dispatched to the session as an ordinary kick, plus the
// WSA spellings WSAGetOverlappedResult reports for them. Anything else is HANDLE_IOCP_ERROR
// (KickIOError).
func recoverable(err error) bool {
	var en windows.Errno
	if !errors.As(err, &en) {
		return false
	}
	switch en {
	case windows.WAIT_TIMEOUT, windows.ERROR_SEM_TIMEOUT, windows.ERROR_NETNAME_DELETED,
		windows.ERROR_CONNECTION_REFUSED, windows.ERROR_INVALID_NETNAME,
		windows.ERROR_OPERATION_ABORTED, windows.ERROR_CONNECTION_ABORTED,
		windows.ERROR_NETWORK_UNREACHABLE,
		windows.WSAECONNRESET, windows.WSAECONNABORTED, windows.WSAENETRESET,
		windows.WSAETIMEDOUT, windows.WSAECONNREFUSED, windows.WSAENETUNREACH,
		windows.WSAEHOSTUNREACH, windows.WSAESHUTDOWN, windows.WSAENOTCONN, windows.WSAEDISCON:
		return true
	}
	return false
}

// skipOnSuccess reports whether FILE_SKIP_COMPLETION_PORT_ON_SUCCESS may be used: only when
// every TCP protocol provider is an IFS provider (XP1_IFS_HANDLES), the same check Go's
// internal/poll makes, because a layered (non-IFS) provider may still queue a packet for an
// operation that returned success, which would then be handled twice.
var skipOnSuccess = sync.OnceValue(func() bool {
	protos := [2]int32{windows.IPPROTO_TCP, 0}
	var buf [32]windows.WSAProtocolInfo
	size := uint32(unsafe.Sizeof(buf))
	n, err := windows.WSAEnumProtocols(&protos[0], &buf[0], &size)
	if err != nil || n <= 0 {
		return false
	}
	for i := int32(0); i < n; i++ {
		if buf[i].ServiceFlags1&windows.XP1_IFS_HANDLES == 0 {
			return false
		}
	}
	return true
})
