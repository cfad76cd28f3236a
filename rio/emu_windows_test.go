package rio

// A software RIO for tests: the RIO_EXTENSION_FUNCTION_TABLE filled with Go callbacks
// (syscall.NewCallback) that move data with overlapped WSARecv/WSASend on the real sockets and
// deliver RIORESULTs through a real completion port, as RIO_IOCP_COMPLETION does. It lets the
// whole engine (AcceptEx/ConnectEx, loops, sessions, close) run where RIO itself is missing
// (Wine), and it enforces the contract the MS docs put on the caller, recording every breach:
//
//   - calls on one RQ, and on one CQ, are not concurrent (RIO_RQ / RIO_CQ remarks);
//   - an RQ never has more receives or sends outstanding than it was created with;
//   - the CQ holds the maxima of every RQ charged to it (RIOCreateRequestQueue fails
//     otherwise) and never more results than its size;
//   - RIO_MSG_COMMIT_ONLY comes alone, with pData/RequestContext NULL and a count of 0;
//   - a RIO_BUF lies inside a registered buffer;
//   - RIONotify is not re-armed while a notification is pending (WSAEALREADY);
//   - no request is left deferred (uncommitted) when its socket is closed.
//
// It is not the kernel: it says nothing about RIO's speed, and where the docs are silent it
// takes the strict reading (an RQ slot frees when its completion is dequeued).

import (
	"fmt"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

type emuReq struct {
	rq   *emuRQ
	send bool
	mem  []byte // registered memory named by the RIO_BUF
	ctx  uint64
}

type emuResult struct {
	res  rioResult
	rq   *emuRQ
	send bool
}

type emuCQ struct {
	busy    atomic.Bool
	size    uint32
	charged uint32
	results []emuResult
	nc      rioNotificationCompletion
	hasNC   bool
	armed   bool
}

type emuRQ struct {
	busy                 atomic.Bool
	sock                 windows.Handle
	cq                   *emuCQ
	ctx                  uint64
	maxRecv, maxSend     int
	outRecv, outSend     int // posted, completion not yet dequeued
	deferRecv, deferSend []emuReq
	recvq, sendq         chan emuReq
	closed               bool
	charged              bool
	done                 sync.WaitGroup
}

type emuRIO struct {
	mu         sync.Mutex
	next       uintptr
	bufs       map[uintptr][]byte
	cqs        map[uintptr]*emuCQ
	rqs        map[uintptr]*emuRQ
	bySock     map[windows.Handle]*emuRQ
	violations []string
	calls      map[string]int
}

var (
	emuOnce  sync.Once
	emuTable rioExtensionFunctionTable
	emu      *emuRIO
)

func (m *emuRIO) violate(format string, args ...any) {
	m.violations = append(m.violations, fmt.Sprintf(format, args...))
}

func (m *emuRIO) handle() uintptr { m.next++; return m.next }

func ptrFrom(u uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&u)) }

// mem resolves a RIO_BUF; the caller holds m.mu.
func (m *emuRIO) mem(pb uintptr) ([]byte, bool) {
	if pb == 0 {
		m.violate("RIO_BUF pointer is NULL")
		return nil, false
	}
	b := *(*rioBuf)(ptrFrom(pb))
	reg, ok := m.bufs[b.BufferID]
	if !ok || b.Length == 0 || uint64(b.Offset)+uint64(b.Length) > uint64(len(reg)) {
		m.violate("RIO_BUF %+v outside every registered buffer", b)
		return nil, false
	}
	return reg[b.Offset : b.Offset+b.Length], true
}

// installEmu swaps the emulated table in for the real one and returns a restore func.
func installEmu() (restore func()) {
	emuOnce.Do(func() {
		emu = &emuRIO{}
		emuTable = rioExtensionFunctionTable{
			cbSize:                   uint32(unsafe.Sizeof(rioExtensionFunctionTable{})),
			RIOReceive:               syscall.NewCallback(emuReceive),
			RIOReceiveEx:             syscall.NewCallback(emuUnused),
			RIOSend:                  syscall.NewCallback(emuSend),
			RIOSendEx:                syscall.NewCallback(emuUnused),
			RIOCloseCompletionQueue:  syscall.NewCallback(emuCloseCQ),
			RIOCreateCompletionQueue: syscall.NewCallback(emuCreateCQ),
			RIOCreateRequestQueue:    syscall.NewCallback(emuCreateRQ),
			RIODequeueCompletion:     syscall.NewCallback(emuDequeue),
			RIODeregisterBuffer:      syscall.NewCallback(emuDeregister),
			RIONotify:                syscall.NewCallback(emuNotify),
			RIORegisterBuffer:        syscall.NewCallback(emuRegister),
			RIOResizeCompletionQueue: syscall.NewCallback(emuResizeCQ),
			RIOResizeRequestQueue:    syscall.NewCallback(emuUnused),
		}
	})
	emu.mu.Lock()
	emu.bufs, emu.cqs, emu.rqs = map[uintptr][]byte{}, map[uintptr]*emuCQ{}, map[uintptr]*emuRQ{}
	emu.bySock, emu.violations, emu.calls = map[windows.Handle]*emuRQ{}, nil, map[string]int{}
	emu.mu.Unlock()
	rioFuncs.once.Do(func() { rioFuncs.err = probe() })
	savedT, savedErr, savedClose := rioFuncs.t, rioFuncs.err, closeSocket
	rioFuncs.t, rioFuncs.err, closeSocket = emuTable, nil, emuCloseSocket
	return func() { rioFuncs.t, rioFuncs.err, closeSocket = savedT, savedErr, savedClose }
}

func emuUnused() uintptr {
	emu.mu.Lock()
	emu.violate("an unused RIO extension function was called")
	emu.mu.Unlock()
	return 0
}

func emuRegister(p, n uintptr) uintptr {
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIORegisterBuffer"]++
	if p == 0 || n == 0 {
		emu.violate("RIORegisterBuffer(%#x, %d)", p, n)
		return rioInvalidBufferID
	}
	id := emu.handle()
	emu.bufs[id] = unsafe.Slice((*byte)(ptrFrom(p)), int(n))
	return id
}

func emuDeregister(id uintptr) uintptr {
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIODeregisterBuffer"]++
	if _, ok := emu.bufs[id]; !ok {
		emu.violate("RIODeregisterBuffer of unknown id %#x", id)
	}
	delete(emu.bufs, id)
	return 0
}

func emuCreateCQ(size, pnc uintptr) uintptr {
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIOCreateCompletionQueue"]++
	if size == 0 || size > uintptr(rioMaxCQSize) {
		emu.violate("RIOCreateCompletionQueue size %d", size)
		return 0
	}
	cq := &emuCQ{size: uint32(size)}
	if pnc != 0 {
		cq.nc, cq.hasNC = *(*rioNotificationCompletion)(ptrFrom(pnc)), true
		if cq.nc.Type != rioIOCPCompletion || cq.nc.Overlapped == 0 || cq.nc.IocpHandle == 0 {
			emu.violate("RIO_NOTIFICATION_COMPLETION %+v", cq.nc)
		}
	}
	h := emu.handle()
	emu.cqs[h] = cq
	return h
}

func emuCloseCQ(h uintptr) uintptr {
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIOCloseCompletionQueue"]++
	cq, ok := emu.cqs[h]
	if !ok {
		emu.violate("RIOCloseCompletionQueue of unknown CQ")
		return 0
	}
	if cq.charged != 0 {
		emu.violate("RIOCloseCompletionQueue with %d entries still charged by live RQs", cq.charged)
	}
	delete(emu.cqs, h)
	return 0
}

func enter(b *atomic.Bool, what string) bool {
	if !b.CompareAndSwap(false, true) {
		emu.mu.Lock()
		emu.violate("concurrent calls on one %s", what)
		emu.mu.Unlock()
		return false
	}
	return true
}

func emuResizeCQ(h, size uintptr) uintptr {
	emu.mu.Lock()
	cq := emu.cqs[h]
	emu.mu.Unlock()
	if cq == nil || !enter(&cq.busy, "CQ") {
		return 0
	}
	defer cq.busy.Store(false)
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIOResizeCompletionQueue"]++
	if size > uintptr(rioMaxCQSize) || uint32(size) < cq.charged {
		emu.violate("RIOResizeCompletionQueue to %d with %d charged", size, cq.charged)
		return 0
	}
	cq.size = uint32(size)
	return 1
}

func emuCreateRQ(sock, maxRecv, recvBufs, maxSend, sendBufs, rcq, scq, ctx uintptr) uintptr {
	emu.mu.Lock()
	cq := emu.cqs[rcq]
	emu.mu.Unlock()
	if cq == nil || rcq != scq {
		emu.mu.Lock()
		emu.violate("RIOCreateRequestQueue with CQs %#x/%#x", rcq, scq)
		emu.mu.Unlock()
		return 0
	}
	if !enter(&cq.busy, "CQ") {
		return 0
	}
	defer cq.busy.Store(false)
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIOCreateRequestQueue"]++
	if recvBufs != 1 || sendBufs != 1 || maxRecv+maxSend == 0 {
		emu.violate("RIOCreateRequestQueue data buffers %d/%d outstanding %d/%d", recvBufs, sendBufs, maxRecv, maxSend)
		return 0
	}
	if uint64(cq.charged)+uint64(maxRecv+maxSend) > uint64(cq.size) {
		// The real call fails with WSAENOBUFS; the engine's budget must resize first.
		emu.violate("RIOCreateRequestQueue would overcommit the CQ: %d charged + %d > %d", cq.charged, maxRecv+maxSend, cq.size)
		return 0
	}
	cq.charged += uint32(maxRecv + maxSend)
	rq := &emuRQ{sock: windows.Handle(sock), cq: cq, ctx: uint64(ctx), maxRecv: int(maxRecv), maxSend: int(maxSend),
		recvq: make(chan emuReq, maxRecv), sendq: make(chan emuReq, maxSend), charged: true}
	h := emu.handle()
	emu.rqs[h] = rq
	emu.bySock[rq.sock] = rq
	rq.done.Add(2)
	go rq.worker(rq.recvq)
	go rq.worker(rq.sendq)
	return h
}

// request implements RIOReceive and RIOSend.
func emuRequest(send bool, h, pb, count, flags, ctx uintptr) uintptr {
	name := map[bool]string{false: "RIOReceive", true: "RIOSend"}[send]
	emu.mu.Lock()
	rq := emu.rqs[h]
	emu.mu.Unlock()
	if rq == nil {
		emu.mu.Lock()
		emu.violate("%s on unknown RQ %#x", name, h)
		emu.mu.Unlock()
		return 0
	}
	commitOnly := flags&rioMsgCommitOnly != 0
	if !commitOnly && !enter(&rq.busy, "RQ") { // COMMIT_ONLY need not be serialized
		return 0
	}
	if !commitOnly {
		defer rq.busy.Store(false)
	}
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls[name]++
	if rq.closed {
		emu.violate("%s after the socket was closed", name)
		return 0
	}
	deferred, q, out, maxOut := &rq.deferRecv, rq.recvq, &rq.outRecv, rq.maxRecv
	if send {
		deferred, q, out, maxOut = &rq.deferSend, rq.sendq, &rq.outSend, rq.maxSend
	}
	if commitOnly {
		emu.calls[name+"(COMMIT_ONLY)"]++
		if flags != rioMsgCommitOnly || pb != 0 || count != 0 || ctx != 0 {
			emu.violate("%s COMMIT_ONLY with flags %#x pData %#x count %d ctx %#x", name, flags, pb, count, ctx)
			return 0
		}
		for _, r := range *deferred {
			q <- r
		}
		*deferred = (*deferred)[:0]
		return 1
	}
	if count != 1 || flags&^uintptr(rioMsgDefer) != 0 {
		emu.violate("%s count %d flags %#x", name, count, flags)
		return 0
	}
	m, ok := emu.mem(pb)
	if !ok {
		return 0
	}
	if *out == maxOut {
		emu.violate("%s beyond the RQ's %d outstanding (the real call fails with WSAENOBUFS)", name, maxOut)
		return 0
	}
	*out++
	if send && *out == maxOut {
		emu.calls["RQ send slots full"]++ // the engine's next filled part must wait in its overflow queue
	}
	*deferred = append(*deferred, emuReq{rq: rq, send: send, mem: m, ctx: uint64(ctx)})
	if flags&rioMsgDefer == 0 {
		for _, r := range *deferred {
			q <- r
		}
		*deferred = (*deferred)[:0]
	} else {
		emu.calls[name+"(DEFER)"]++
	}
	return 1
}

func emuReceive(h, pb, count, flags, ctx uintptr) uintptr {
	return emuRequest(false, h, pb, count, flags, ctx)
}

func emuSend(h, pb, count, flags, ctx uintptr) uintptr {
	return emuRequest(true, h, pb, count, flags, ctx)
}

// worker performs one direction's requests in order with overlapped WSARecv/WSASend whose
// completion is signalled on an event (low bit set: not queued to the socket's port).
func (rq *emuRQ) worker(q chan emuReq) {
	defer rq.done.Done()
	mem, err := virtualAlloc(4096)
	if err != nil {
		panic(err)
	}
	defer virtualFree(mem)
	ov := (*windows.Overlapped)(unsafe.Pointer(&mem[0]))
	ev, err := windows.CreateEvent(nil, 1, 0, nil)
	if err != nil {
		panic(err)
	}
	defer windows.CloseHandle(ev)
	for r := range q {
		var status int32
		var n uint32
		emu.mu.Lock()
		closed := rq.closed
		if !closed { // issued under the lock: the socket cannot be closed (and its handle reused) meanwhile
			*ov = windows.Overlapped{HEvent: ev | 1}
			windows.ResetEvent(ev)
			buf := windows.WSABuf{Len: uint32(len(r.mem)), Buf: &r.mem[0]}
			var flags, done uint32
			if r.send {
				err = windows.WSASend(rq.sock, &buf, 1, &done, 0, ov, nil)
			} else {
				err = windows.WSARecv(rq.sock, &buf, 1, &done, &flags, ov, nil)
			}
		}
		emu.mu.Unlock()
		switch {
		case closed:
			status = int32(windows.WSAECONNABORTED)
		case err != nil && err != windows.ERROR_IO_PENDING:
			status = int32(windows.WSAECONNRESET)
		default:
			windows.WaitForSingleObject(ev, windows.INFINITE)
			if ov.Internal != 0 {
				status = int32(windows.WSAECONNRESET)
			} else {
				n = uint32(ov.InternalHigh)
			}
		}
		emu.complete(emuResult{res: rioResult{Status: status, BytesTransferred: n, SocketContext: rq.ctx, RequestContext: r.ctx},
			rq: rq, send: r.send})
	}
}

func (m *emuRIO) complete(r emuResult) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cq := r.rq.cq
	cq.results = append(cq.results, r)
	if uint32(len(cq.results)) > cq.size {
		m.violate("CQ overflow: %d results in a CQ of %d", len(cq.results), cq.size)
	}
	if cq.armed {
		cq.armed = false
		m.post(cq)
	}
}

func (m *emuRIO) post(cq *emuCQ) {
	if err := windows.PostQueuedCompletionStatus(windows.Handle(cq.nc.IocpHandle), 0, cq.nc.CompletionKey,
		(*windows.Overlapped)(ptrFrom(cq.nc.Overlapped))); err != nil {
		m.violate("notification PostQueuedCompletionStatus: %v", err)
	}
}

func emuDequeue(h, arr, n uintptr) uintptr {
	emu.mu.Lock()
	cq := emu.cqs[h]
	emu.mu.Unlock()
	if cq == nil || !enter(&cq.busy, "CQ") {
		return uintptr(rioCorruptCQ)
	}
	defer cq.busy.Store(false)
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIODequeueCompletion"]++
	out := unsafe.Slice((*rioResult)(ptrFrom(arr)), int(n))
	k := min(int(n), len(cq.results))
	for i, r := range cq.results[:k] {
		out[i] = r.res
		if r.send {
			r.rq.outSend--
		} else {
			r.rq.outRecv--
		}
		emu.maybeUncharge(r.rq)
	}
	cq.results = append(cq.results[:0], cq.results[k:]...)
	return uintptr(k)
}

// maybeUncharge frees a closed RQ's CQ charge once nothing of it is left; m.mu held.
func (m *emuRIO) maybeUncharge(rq *emuRQ) {
	if rq.closed && rq.charged && rq.outRecv == 0 && rq.outSend == 0 {
		rq.charged = false
		rq.cq.charged -= uint32(rq.maxRecv + rq.maxSend)
	}
}

func emuNotify(h uintptr) uintptr {
	emu.mu.Lock()
	cq := emu.cqs[h]
	emu.mu.Unlock()
	if cq == nil || !enter(&cq.busy, "CQ") {
		return uintptr(windows.WSAEINVAL)
	}
	defer cq.busy.Store(false)
	emu.mu.Lock()
	defer emu.mu.Unlock()
	emu.calls["RIONotify"]++
	if !cq.hasNC {
		emu.violate("RIONotify on a polled CQ")
		return uintptr(windows.WSAEINVAL)
	}
	if cq.armed {
		emu.violate("RIONotify while a notification is pending")
		return 10037 // WSAEALREADY
	}
	if len(cq.results) > 0 {
		emu.post(cq)
	} else {
		cq.armed = true
	}
	return 0
}

// emuCloseSocket is closeSocket under emulation: the RQ dies with its socket, its queued
// requests complete with an error, and the real close aborts the ones in flight.
func emuCloseSocket(s windows.Handle) error {
	emu.mu.Lock()
	rq := emu.bySock[s]
	if rq != nil {
		delete(emu.bySock, s)
		emu.calls["closesocket(RQ)"]++
		if len(rq.deferRecv)+len(rq.deferSend) > 0 {
			emu.violate("socket closed with %d requests deferred and never committed", len(rq.deferRecv)+len(rq.deferSend))
		}
		rq.closed = true
		close(rq.recvq)
		close(rq.sendq)
		emu.maybeUncharge(rq)
	}
	err := windows.Closesocket(s) // under the lock: no worker issues on the handle meanwhile
	emu.mu.Unlock()
	return err
}

// emuReport returns the contract breaches and call counts recorded since installEmu.
func emuReport() (violations []string, calls map[string]int) {
	emu.mu.Lock()
	defer emu.mu.Unlock()
	c := make(map[string]int, len(emu.calls))
	for k, v := range emu.calls {
		c[k] = v
	}
	return append([]string(nil), emu.violations...), c
}
