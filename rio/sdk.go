package rio

// Windows SDK declarations for the Registered I/O extensions (mswsockdef.h, mswsock.h,
// ws2def.h). They are untagged so their sizes and values are unit-tested on every platform;
// only the calls through them are Windows code (sys_windows.go).
//
// https://learn.microsoft.com/windows/win32/api/mswsockdef/
// https://learn.microsoft.com/windows/win32/api/mswsock/ns-mswsock-rio_extension_function_table

// Flags of RIOSend/RIOReceive (mswsockdef.h).
const (
	rioMsgDontNotify = 0x1 // RIO_MSG_DONT_NOTIFY: the completion does not trigger RIONotify
	rioMsgDefer      = 0x2 // RIO_MSG_DEFER: queue the request, ring the doorbell later
	rioMsgWaitAll    = 0x4 // RIO_MSG_WAITALL: receive completes only when the buffer is full
	rioMsgCommitOnly = 0x8 // RIO_MSG_COMMIT_ONLY: commit earlier deferred requests, nothing else
)

const (
	// rioInvalidBufferID is RIO_INVALID_BUFFERID, ((RIO_BUFFERID)(ULONG_PTR)0xFFFFFFFF): the
	// 32-bit value zero-extended to pointer size (not all ones on 64-bit).
	rioInvalidBufferID uintptr = 0xFFFFFFFF
	// rioInvalidCQ and rioInvalidRQ are RIO_INVALID_CQ / RIO_INVALID_RQ ((RIO_CQ)0, (RIO_RQ)0).
	rioInvalidCQ uintptr = 0
	rioInvalidRQ uintptr = 0
	// rioCorruptCQ is RIO_CORRUPT_CQ, the ULONG RIODequeueCompletion returns when the
	// completion queue's state is corrupted (more requests outstanding than it can hold).
	rioCorruptCQ uint32 = 0xFFFFFFFF
	// rioMaxCQSize is RIO_MAX_CQ_SIZE, the largest completion queue in entries.
	rioMaxCQSize uint32 = 0x8000000

	// RIO_NOTIFICATION_COMPLETION_TYPE.
	rioEventCompletion int32 = 1
	rioIOCPCompletion  int32 = 2

	// sioGetMultipleExtensionFunctionPointer is SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER,
	// _WSAIORW(IOC_WS2, 36) = IOC_INOUT | IOC_WS2 | 36 (ws2def.h).
	sioGetMultipleExtensionFunctionPointer uint32 = 0x80000000 | 0x40000000 | 0x08000000 | 36
)

// guid is a Windows GUID (same layout as windows.GUID, declared here so the value is testable
// everywhere).
type guid struct {
	Data1 uint32
	Data2 uint16
	Data3 uint16
	Data4 [8]byte
}

// wsaidMultipleRIO is WSAID_MULTIPLE_RIO (mswsock.h), the input of
// WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER) that returns the function table.
var wsaidMultipleRIO = guid{0x8509e081, 0x96dd, 0x4005, [8]byte{0xb1, 0x65, 0x9e, 0x2e, 0xe8, 0xc7, 0x9e, 0x3f}}

// rioBuf is RIO_BUF: a slice of a registered buffer. RIO_BUFFERID is a pointer-sized handle.
type rioBuf struct {
	BufferID uintptr
	Offset   uint32
	Length   uint32
}

// rioResult is RIORESULT, one entry dequeued from a completion queue.
type rioResult struct {
	Status           int32 // 0 or a WSA error code
	BytesTransferred uint32
	SocketContext    uint64 // the SocketContext given to RIOCreateRequestQueue
	RequestContext   uint64 // the RequestContext given to RIOSend/RIOReceive
}

// rioNotificationCompletion is RIO_NOTIFICATION_COMPLETION with the Iocp arm of its union
// (the Event arm, {HANDLE EventHandle; BOOL NotifyReset}, is smaller and unused here). Go's
// natural alignment inserts the same padding after Type as the C compiler does.
type rioNotificationCompletion struct {
	Type          int32
	IocpHandle    uintptr
	CompletionKey uintptr
	Overlapped    uintptr // must not be NULL for RIO_IOCP_COMPLETION; points outside the Go heap
}

// rioExtensionFunctionTable is RIO_EXTENSION_FUNCTION_TABLE, in the SDK's member order.
// cbSize must be set to its size before the WSAIoctl.
type rioExtensionFunctionTable struct {
	cbSize                   uint32
	RIOReceive               uintptr
	RIOReceiveEx             uintptr
	RIOSend                  uintptr
	RIOSendEx                uintptr
	RIOCloseCompletionQueue  uintptr
	RIOCreateCompletionQueue uintptr
	RIOCreateRequestQueue    uintptr
	RIODequeueCompletion     uintptr
	RIODeregisterBuffer      uintptr
	RIONotify                uintptr
	RIORegisterBuffer        uintptr
	RIOResizeCompletionQueue uintptr
	RIOResizeRequestQueue    uintptr
}

// wsaErrorName names the Winsock error codes the probe and the engine report, so an
// unsupported reason reads "WSAEOPNOTSUPP (10045)" rather than a bare number.
func wsaErrorName(code uint32) string {
	switch code {
	case 10004:
		return "WSAEINTR"
	case 10009:
		return "WSAEBADF"
	case 10013:
		return "WSAEACCES"
	case 10014:
		return "WSAEFAULT"
	case 10022:
		return "WSAEINVAL"
	case 10024:
		return "WSAEMFILE"
	case 10035:
		return "WSAEWOULDBLOCK"
	case 10037:
		return "WSAEALREADY"
	case 10038:
		return "WSAENOTSOCK"
	case 10041:
		return "WSAEPROTOTYPE"
	case 10042:
		return "WSAENOPROTOOPT"
	case 10043:
		return "WSAEPROTONOSUPPORT"
	case 10044:
		return "WSAESOCKTNOSUPPORT"
	case 10045:
		return "WSAEOPNOTSUPP"
	case 10047:
		return "WSAEAFNOSUPPORT"
	case 10053:
		return "WSAECONNABORTED"
	case 10054:
		return "WSAECONNRESET"
	case 10055:
		return "WSAENOBUFS"
	case 10057:
		return "WSAENOTCONN"
	case 10061:
		return "WSAECONNREFUSED"
	case 10091:
		return "WSASYSNOTREADY"
	case 10092:
		return "WSAVERNOTSUPPORTED"
	case 10093:
		return "WSANOTINITIALISED"
	case 10065:
		return "WSAEHOSTUNREACH"
	case 10107:
		return "WSASYSCALLFAILURE"
	case 10059:
		return "WSAETOOMANYREFS"
	case 995:
		return "ERROR_OPERATION_ABORTED"
	case 997:
		return "ERROR_IO_PENDING"
	case 64:
		return "ERROR_NETNAME_DELETED"
	case 1225:
		return "ERROR_CONNECTION_REFUSED"
	case 1236:
		return "ERROR_CONNECTION_ABORTED"
	}
	return "error"
}

// wsaError formats a Winsock error as "NAME (code)".
func wsaError(code uint32) string {
	return wsaErrorName(code) + " (" + utoa(uint64(code)) + ")"
}

func utoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			return string(b[i:])
		}
	}
}
