package rio

// Every Windows call the rio backend makes. The RIO functions have no DLL exports: their
// addresses come from WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER, WSAID_MULTIPLE_RIO)
// on a socket created with WSA_FLAG_REGISTERED_IO, loaded once (loadRIO) and called through
// syscall.SyscallN. https://learn.microsoft.com/windows/win32/api/mswsock/ns-mswsock-rio_extension_function_table

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/winsock"
	"github.com/iobench/iobench/models"
)

// Hot errnos boxed once, so failing paths do not allocate.
var (
	errIOPending   error = windows.ERROR_IO_PENDING
	errWSAENOBUFS  error = windows.WSAENOBUFS
	errWSAEINVAL   error = windows.WSAEINVAL
	errRIOFailedNo       = errors.New("RIO call failed without an error code")
)

func errnoErr(e syscall.Errno) error {
	switch e {
	case 0:
		return errRIOFailedNo
	case windows.ERROR_IO_PENDING:
		return errIOPending
	case windows.WSAENOBUFS:
		return errWSAENOBUFS
	case windows.WSAEINVAL:
		return errWSAEINVAL
	}
	return e
}

// rioFuncs is the extension function table, loaded and verified once per process.
var rioFuncs struct {
	once sync.Once
	t    rioExtensionFunctionTable
	err  error
}

// loadRIO loads the table and proves it works; its error (matching models.ErrUnsupported)
// is the backend's Available answer.
func loadRIO() error {
	rioFuncs.once.Do(func() { rioFuncs.err = probe() })
	return rioFuncs.err
}

// unsupported builds the Available error for a failed step: "op failed: WSAEOPNOTSUPP (10045)".
func unsupported(op string, err error) error {
	var en syscall.Errno
	if errors.As(err, &en) {
		return models.Unsupported(Name, op+" failed: "+wsaError(uint32(en)))
	}
	return models.Unsupported(Name, op+" failed: "+err.Error())
}

// probe loads the function table and trusts it only after a completion queue, a request queue
// and a registered buffer could be created with it (a layer that returns a table but no
// working RIO must not get past Available).
func probe() error {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		return models.Unsupported(Name, "the rio backend needs 64-bit Windows (64-bit socket and request contexts)")
	}
	var d windows.WSAData
	if err := windows.WSAStartup(0x0202, &d); err != nil {
		return unsupported("WSAStartup(2.2)", err)
	}
	s, err := newSocket(windows.AF_INET)
	if err != nil {
		return unsupported("WSASocket(WSA_FLAG_REGISTERED_IO)", err)
	}
	defer windows.Closesocket(s)
	t := rioExtensionFunctionTable{cbSize: uint32(unsafe.Sizeof(rioExtensionFunctionTable{}))}
	id := wsaidMultipleRIO
	var n uint32
	err = windows.WSAIoctl(s, sioGetMultipleExtensionFunctionPointer,
		(*byte)(unsafe.Pointer(&id)), uint32(unsafe.Sizeof(id)),
		(*byte)(unsafe.Pointer(&t)), uint32(unsafe.Sizeof(t)), &n, nil, 0)
	if err != nil {
		return unsupported("WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER)", err)
	}
	for _, f := range []uintptr{t.RIOReceive, t.RIOSend, t.RIOCloseCompletionQueue, t.RIOCreateCompletionQueue,
		t.RIOCreateRequestQueue, t.RIODequeueCompletion, t.RIODeregisterBuffer, t.RIONotify,
		t.RIORegisterBuffer, t.RIOResizeCompletionQueue} {
		if f == 0 {
			return models.Unsupported(Name, fmt.Sprintf("WSAIoctl(SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER) returned an incomplete RIO_EXTENSION_FUNCTION_TABLE (%d bytes)", n))
		}
	}
	rioFuncs.t = t
	// The test RQ goes on a bound socket (the engine's RQs go on connected ones; binding keeps
	// the probe away from a socket still "being initialized", which RIOCreateRequestQueue
	// refuses with WSAEINVAL).
	if err := windows.Bind(s, &windows.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return unsupported("bind(127.0.0.1:0)", err)
	}
	cq, err := rioCreateCompletionQueue(8, nil) // polling mode: the probe never waits
	if err != nil {
		return unsupported("RIOCreateCompletionQueue", err)
	}
	defer rioCloseCompletionQueue(cq)
	if _, err := rioCreateRequestQueue(s, 1, 1, cq, 0); err != nil {
		return unsupported("RIOCreateRequestQueue", err) // freed with the socket
	}
	mem, bid, err := vaSegs{}.alloc(allocGranularity)
	if err != nil {
		return unsupported("RIORegisterBuffer", err)
	}
	vaSegs{}.free(mem, bid)
	return nil
}

// closeSocket closes a socket that has a request queue; its RQ goes with it and its
// outstanding requests complete with an error. A variable so the test emulator of RIO can see
// the RQ die.
var closeSocket = windows.Closesocket

// newSocket creates an overlapped socket usable with RIO (WSA_FLAG_REGISTERED_IO), AcceptEx
// and ConnectEx. https://learn.microsoft.com/windows/win32/api/winsock2/nf-winsock2-wsasocketw
func newSocket(family int) (windows.Handle, error) {
	return winsock.Socket(family, windows.WSA_FLAG_REGISTERED_IO)
}

// postQueued is PostQueuedCompletionStatus; a variable so a test can make it fail.
var postQueued = windows.PostQueuedCompletionStatus

// rioCreateCompletionQueue: RIO_CQ RIOCreateCompletionQueue(DWORD QueueSize,
// PRIO_NOTIFICATION_COMPLETION NotificationCompletion); RIO_INVALID_CQ on failure.
func rioCreateCompletionQueue(size uint32, nc *rioNotificationCompletion) (uintptr, error) {
	r, _, e := syscall.SyscallN(rioFuncs.t.RIOCreateCompletionQueue, uintptr(size), uintptr(unsafe.Pointer(nc)))
	if r == rioInvalidCQ {
		return 0, errnoErr(e)
	}
	return r, nil
}

// rioCloseCompletionQueue: VOID RIOCloseCompletionQueue(RIO_CQ CQ).
func rioCloseCompletionQueue(cq uintptr) {
	syscall.SyscallN(rioFuncs.t.RIOCloseCompletionQueue, cq)
}

// rioCreateRequestQueue: RIO_RQ RIOCreateRequestQueue(SOCKET, ULONG MaxOutstandingReceive,
// ULONG MaxReceiveDataBuffers, ULONG MaxOutstandingSend, ULONG MaxSendDataBuffers, RIO_CQ
// ReceiveCQ, RIO_CQ SendCQ, PVOID SocketContext). Data buffer counts must be 1 (Windows 8+);
// one CQ takes both directions. RIO_INVALID_RQ on failure.
func rioCreateRequestQueue(s windows.Handle, maxRecv, maxSend uint32, cq uintptr, ctx uint64) (uintptr, error) {
	r, _, e := syscall.SyscallN(rioFuncs.t.RIOCreateRequestQueue, uintptr(s),
		uintptr(maxRecv), 1, uintptr(maxSend), 1, cq, cq, uintptr(ctx))
	if r == rioInvalidRQ {
		return 0, errnoErr(e)
	}
	return r, nil
}

// rioReceive: BOOL RIOReceive(RIO_RQ, PRIO_BUF pData, ULONG DataBufferCount (1), DWORD Flags,
// PVOID RequestContext). The RIO_BUF is read during the call; the memory it names must stay
// registered until the completion is dequeued.
func rioReceive(rq uintptr, b *rioBuf, flags uint32, ctx uint64) error {
	r, _, e := syscall.SyscallN(rioFuncs.t.RIOReceive, rq, uintptr(unsafe.Pointer(b)), 1, uintptr(flags), uintptr(ctx))
	if uint32(r) == 0 {
		return errnoErr(e)
	}
	return nil
}

// rioSend: BOOL RIOSend(RIO_RQ, PRIO_BUF pData, ULONG DataBufferCount (1), DWORD Flags,
// PVOID RequestContext).
func rioSend(rq uintptr, b *rioBuf, flags uint32, ctx uint64) error {
	r, _, e := syscall.SyscallN(rioFuncs.t.RIOSend, rq, uintptr(unsafe.Pointer(b)), 1, uintptr(flags), uintptr(ctx))
	if uint32(r) == 0 {
		return errnoErr(e)
	}
	return nil
}

// rioCommit submits the requests deferred on rq: RIOSend with RIO_MSG_COMMIT_ONLY alone, pData
// and RequestContext NULL and DataBufferCount 0, as the RIOSend documentation requires.
func rioCommit(rq uintptr) error {
	r, _, e := syscall.SyscallN(rioFuncs.t.RIOSend, rq, 0, 0, uintptr(commitFlags), 0)
	if uint32(r) == 0 {
		return errnoErr(e)
	}
	return nil
}

// rioCommitRecv submits the receives deferred on rq: RIOReceive with RIO_MSG_COMMIT_ONLY
// alone, pData and RequestContext NULL, DataBufferCount 0.
func rioCommitRecv(rq uintptr) error {
	r, _, e := syscall.SyscallN(rioFuncs.t.RIOReceive, rq, 0, 0, uintptr(commitFlags), 0)
	if uint32(r) == 0 {
		return errnoErr(e)
	}
	return nil
}

// rioDequeueCompletion: ULONG RIODequeueCompletion(RIO_CQ, PRIORESULT Array, ULONG ArraySize);
// the count, or RIO_CORRUPT_CQ (see checkDequeue).
func rioDequeueCompletion(cq uintptr, res []rioResult) uint32 {
	r, _, _ := syscall.SyscallN(rioFuncs.t.RIODequeueCompletion, cq, uintptr(unsafe.Pointer(&res[0])), uintptr(len(res)))
	return uint32(r)
}

// rioNotify: INT RIONotify(RIO_CQ); ERROR_SUCCESS or the error code itself (not last-error),
// WSAEALREADY when a notification is still pending.
func rioNotify(cq uintptr) error {
	r, _, _ := syscall.SyscallN(rioFuncs.t.RIONotify, cq)
	if int32(r) != 0 {
		return errnoErr(syscall.Errno(uint32(r)))
	}
	return nil
}

// rioResizeCompletionQueue: BOOL RIOResizeCompletionQueue(RIO_CQ, DWORD QueueSize).
func rioResizeCompletionQueue(cq uintptr, size uint32) error {
	r, _, e := syscall.SyscallN(rioFuncs.t.RIOResizeCompletionQueue, cq, uintptr(size))
	if uint32(r) == 0 {
		return errnoErr(e)
	}
	return nil
}

// vaSegs allocates region segments outside the Go heap (VirtualAlloc) and registers each once:
// RIO_BUFFERID RIORegisterBuffer(PCHAR DataBuffer, DWORD DataLength), RIO_INVALID_BUFFERID on
// failure; VOID RIODeregisterBuffer(RIO_BUFFERID) before VirtualFree (the docs: deregister
// only when no request uses the buffer; region.close checks every slice came back).
type vaSegs struct{}

func (vaSegs) alloc(size int) ([]byte, uintptr, error) {
	mem, err := virtualAlloc(size)
	if err != nil {
		return nil, 0, err
	}
	r, _, e := syscall.SyscallN(rioFuncs.t.RIORegisterBuffer, uintptr(unsafe.Pointer(&mem[0])), uintptr(size))
	if r == rioInvalidBufferID {
		virtualFree(mem)
		return nil, 0, models.WrapOp(Name, "RIORegisterBuffer", errnoErr(e))
	}
	return mem, r, nil
}

func (vaSegs) free(mem []byte, id uintptr) {
	syscall.SyscallN(rioFuncs.t.RIODeregisterBuffer, id)
	virtualFree(mem)
}

// virtualAlloc commits size bytes of zeroed memory the Go garbage collector neither scans nor
// moves: kernel-owned memory (registered buffers, OVERLAPPEDs) lives there.
func virtualAlloc(size int) ([]byte, error) {
	mem, err := winsock.VirtualBytes(size)
	return mem, models.WrapOp(Name, "VirtualAlloc", err)
}

func virtualFree(mem []byte) { winsock.VirtualFreeBytes(mem) }
