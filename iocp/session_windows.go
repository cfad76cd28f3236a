package iocp

import (
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/internal/winsock"
	"github.com/iobench/iobench/models"
)

func badConfig(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{models.ErrBadConfig}, args...)...)
}

// Slab layout of a session slot (offsets in bytes); the RecvBuffer follows the header.
const (
	offRecvOp   = 0
	offSendOp   = 64
	offConnOp   = 128
	offRecvBuf  = 192 // one WSABUF
	offSendBufs = 256 // MaxGather WSABUFs
)

// session is the seed's IocpObjectSession. Fields below "loop-owned" are touched only by the
// slot's loop goroutine once the session has been handed to it (under mu).
type session struct {
	models.SessionCore
	svc  *service
	slot int
	loop *loop
	gen  atomic.Uint32 // bumped each time a new socket is attached to the slot

	mu         sync.Mutex // hands a new socket from the accepting/connecting goroutine to the loop
	sock       windows.Handle
	connecting bool
	waiter     chan<- error
	pendLocal  net.Addr
	pendRemote net.Addr

	// slab: VirtualAlloc'd memory the kernel writes while operations are in flight.
	mem      unsafe.Pointer
	recvOp   *windows.Overlapped
	sendOp   *windows.Overlapped
	connOp   *windows.Overlapped
	recvBuf  *windows.WSABuf
	sendBufs []windows.WSABuf

	rb  models.RecvBuffer
	sq  models.SendQueue
	pin runtime.Pinner // pins the SendQueue chunks one WSASend points at
	iov [][]byte

	// loop-owned
	opened   bool // SessionCore opened; the connection reference not yet dropped if !closing
	closing  bool // the kick was acted on: I/O cancelled, connection reference dropped
	writing  bool // a WSASend is outstanding
	skip     bool // FILE_SKIP_COMPLETION_PORT_ON_SUCCESS set on sock
	recvN    uint32
	recvFlag uint32
	sentN    uint32
}

var _ models.Session = (*session)(nil)

// ensureMem allocates the slot's slab on first use; it is kept until the service closes.
func (ss *session) ensureMem(cfg models.Config) error {
	if ss.mem != nil {
		return nil
	}
	hdr := (uintptr(offSendBufs) + uintptr(cfg.MaxGather)*unsafe.Sizeof(windows.WSABuf{}) + 63) &^ 63
	mem, err := winsock.VirtualAlloc(hdr + uintptr(cfg.RecvBufferSize))
	if err != nil {
		return err
	}
	ss.mem = mem
	ss.recvOp = (*windows.Overlapped)(unsafe.Add(mem, offRecvOp))
	ss.sendOp = (*windows.Overlapped)(unsafe.Add(mem, offSendOp))
	ss.connOp = (*windows.Overlapped)(unsafe.Add(mem, offConnOp))
	ss.recvBuf = (*windows.WSABuf)(unsafe.Add(mem, offRecvBuf))
	ss.sendBufs = unsafe.Slice((*windows.WSABuf)(unsafe.Add(mem, offSendBufs)), cfg.MaxGather)
	ss.rb.Init(unsafe.Slice((*byte)(unsafe.Add(mem, hdr)), cfg.RecvBufferSize))
	ss.iov = make([][]byte, 0, cfg.MaxGather)
	return nil
}

func (ss *session) freeMem() {
	winsock.VirtualFree(ss.mem)
	ss.mem = nil
	ss.recvOp, ss.sendOp, ss.connOp, ss.recvBuf, ss.sendBufs = nil, nil, nil, nil, nil
	ss.rb.Init(nil)
}

func (ss *session) key(kind int) uintptr {
	return makeKey(kind, ss.svc.id, ss.gen.Load(), ss.slot)
}

// Send implements models.Session: one copy into the SendQueue; the writer is the loop.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, ss.svc.Counters(), p)
	if err != nil {
		return err
	}
	if start {
		if ss.loop.onLoop() {
			ss.startWrite()
		} else if err := ss.loop.post(ss.key(kindWrite)); err != nil {
			ss.Kick(models.KickSendError)
			return models.WrapOp(Name, "PostQueuedCompletionStatus", err)
		}
	}
	return nil
}

// Kick implements models.Session. The loop acts on it after the current dispatch (on the
// loop's thread) or when the posted packet arrives (elsewhere).
func (ss *session) Kick(r models.KickReason) {
	if !ss.markKicked(r) {
		return
	}
	if ss.loop.onLoop() {
		ss.loop.deferTo(completion{key: ss.key(kindKick)})
	} else {
		ss.loop.post(ss.key(kindKick))
	}
}

func (ss *session) markKicked(r models.KickReason) bool {
	if !ss.MarkKicked(r) {
		return false
	}
	ss.sq.Close()
	return true
}

// open prepares the slot for a new connection on the loop (sock already attached).
func (ss *session) open(local, remote net.Addr) {
	cfg := ss.svc.eng.cfg
	ss.rb.Reset()
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.opened, ss.closing, ss.writing = true, false, false
	sock.SetNoDelay(ss.sock)
	ss.skip = false
	if skipOnSuccess() {
		ss.skip = windows.SetFileCompletionNotificationModes(ss.sock,
			windows.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS|windows.FILE_SKIP_SET_EVENT_ON_HANDLE) == nil
	}
	ss.Open(local, remote)
}

// release drops one reference; the last one finalizes the session.
func (ss *session) release() {
	if ss.ReleaseRef() == 0 {
		ss.finalize()
	}
}

// handleOpen runs OnConnect and posts the first WSARecv of an accepted session.
func (ss *session) handleOpen(l *loop) {
	ss.mu.Lock()
	local, remote := ss.pendLocal, ss.pendRemote
	ss.pendLocal, ss.pendRemote = nil, nil
	ss.mu.Unlock()
	if ss.opened || local == nil {
		return
	}
	ss.open(local, remote)
	ss.connected()
}

// connected runs OnConnect and starts reading (the slot's loop, session just opened).
func (ss *session) connected() {
	ss.AddRef() // the callback's reference: no finalize inside OnConnect
	ss.svc.Handler().OnConnect(ss)
	ss.svc.Opened(ss) // Close posted shutdowns once; a session it could not see kicks itself
	if !ss.Kicked() {
		ss.postRecv()
	}
	ss.release()
}

func (ss *session) handleWrite(l *loop) {
	if !ss.opened || ss.closing || ss.writing {
		return
	}
	ss.AddRef()
	ss.startWrite()
	ss.release()
}

// handleKick acts on a recorded kick: abortive kicks set SO_LINGER 0, all outstanding I/O is
// cancelled, and the connection reference is dropped; the operations' references keep the
// slot's memory until their (aborted) completions have been handled.
func (ss *session) handleKick() {
	if !ss.opened || ss.closing {
		return
	}
	ss.closing = true
	if ss.Reason() != models.KickRecv0 {
		sock.SetAbortive(ss.sock)
	}
	windows.CancelIoEx(ss.sock, nil) // ERROR_NOT_FOUND when nothing is outstanding
	ss.release()
}

func (ss *session) handleShutdown() {
	ss.mu.Lock()
	connecting, sock := ss.connecting, ss.sock
	ss.mu.Unlock()
	if connecting {
		windows.CancelIoEx(sock, ss.connOp)
		return
	}
	if ss.opened && !ss.closing {
		ss.markKicked(models.KickShutdown)
		ss.handleKick()
	}
}

// finalize runs when the last reference is gone: nothing is outstanding and no callback of
// the session is running.
func (ss *session) finalize() {
	s := ss.svc
	ss.opened = false
	windows.Closesocket(ss.sock)
	ss.mu.Lock()
	ss.sock = windows.InvalidHandle
	ss.mu.Unlock()
	ss.rb.Reset()
	s.EndSession(ss, &ss.SessionCore, &ss.sq, ss.slot) // redial first: its wg reference comes before ours goes
	s.wg.Done()
}

// complete dispatches an I/O completion of the slot's socket.
func (ss *session) complete(l *loop, c completion) {
	var err error
	n := int(c.n)
	if c.inline {
		err = c.err
	} else if c.status != 0 {
		err = ss.opError(c)
	}
	switch c.ov {
	case ss.recvOp:
		ss.recvDone(n, err)
	case ss.sendOp:
		ss.sendDone(n, err)
	case ss.connOp:
		ss.connectDone(err)
	}
}

// opError turns a failed packet's NTSTATUS into the Winsock error WSAGetOverlappedResult
// reports (WSAECONNRESET rather than STATUS_CONNECTION_RESET).
func (ss *session) opError(c completion) error {
	var n, flags uint32
	if err := windows.WSAGetOverlappedResult(ss.sock, c.ov, &n, false, &flags); err != nil {
		return err
	}
	return windows.NTStatus(c.status).Errno()
}

func (ss *session) postRecv() {
	free := ss.rb.Free()
	if len(free) == 0 {
		ss.Kick(models.KickRecvBufferOverFull)
		return
	}
	ss.recvBuf.Len = uint32(len(free))
	ss.recvBuf.Buf = &free[0]
	*ss.recvOp = windows.Overlapped{}
	ss.AddRef()
	ss.recvN, ss.recvFlag = 0, 0
	err := windows.WSARecv(ss.sock, ss.recvBuf, 1, &ss.recvN, &ss.recvFlag, ss.recvOp, nil)
	switch {
	case err == nil && ss.skip:
		ss.loop.deferTo(completion{key: ss.key(kindSock), ov: ss.recvOp, n: ss.recvN})
	case err == nil || err == winsock.ErrIOPending:
		// a packet will come
	default:
		ss.loop.deferTo(completion{key: ss.key(kindSock), ov: ss.recvOp, err: err})
	}
}

// recvDone applies the models receive rule to a WSARecv completion: an error kicks (with
// KickIOError first when it is not one of the recoverable ones), 0 bytes is the peer's EOF
// (PeerClosed: drain, then KickRecv0), data is committed and delivered and the next WSARecv
// posted.
func (ss *session) recvDone(n int, err error) {
	defer ss.release() // the WSARecv's reference
	s := ss.svc
	switch {
	case ss.Kicked():
	case err != nil:
		if !recoverable(err) {
			ss.Kick(models.KickIOError)
		}
		ss.RecvFailed(ss)
	case n == 0:
		ss.PeerClosed(ss, &ss.sq)
	case ss.Received(ss, s.Handler(), s.Counters(), &ss.rb, n):
		ss.postRecv()
	}
}

// startWrite issues one WSASend of everything queued (up to MaxGather chunks). The caller is
// the writer (Push returned start, or a previous write completed with more queued).
func (ss *session) startWrite() {
	for {
		if ss.Kicked() {
			ss.sq.Advance(0)
			return
		}
		bufs := ss.sq.Peek(ss.iov[:0], len(ss.sendBufs))
		ss.iov = bufs
		if len(bufs) == 0 {
			if ss.sq.Advance(0) {
				continue
			}
			ss.WriterDone(ss, &ss.sq)
			return
		}
		for i, b := range bufs {
			ss.pin.Pin(&b[0])
			ss.sendBufs[i] = windows.WSABuf{Len: uint32(len(b)), Buf: &b[0]}
		}
		*ss.sendOp = windows.Overlapped{}
		ss.writing = true
		ss.AddRef()
		ss.sentN = 0
		err := windows.WSASend(ss.sock, &ss.sendBufs[0], uint32(len(bufs)), &ss.sentN, 0, ss.sendOp, nil)
		switch {
		case err == nil && ss.skip:
			ss.loop.deferTo(completion{key: ss.key(kindSock), ov: ss.sendOp, n: ss.sentN})
		case err == nil || err == winsock.ErrIOPending:
		default:
			ss.loop.deferTo(completion{key: ss.key(kindSock), ov: ss.sendOp, err: err})
		}
		return
	}
}

func (ss *session) sendDone(n int, err error) {
	defer ss.release() // the WSASend's reference
	s := ss.svc
	ss.pin.Unpin()
	clear(ss.sendBufs)
	clear(ss.iov[:cap(ss.iov)])
	ss.writing = false
	more := ss.Wrote(ss, s.Handler(), s.Counters(), &ss.sq, n) // count, OnSend, Advance, WriterDone
	if err != nil {
		if recoverable(err) {
			ss.Kick(models.KickSendError)
		} else {
			ss.Kick(models.KickIOError)
		}
		return
	}
	if more && !ss.Kicked() {
		ss.startWrite()
	}
}

// connectDone handles the ConnectEx completion of a CLIENT slot.
func (ss *session) connectDone(err error) {
	s := ss.svc
	ss.mu.Lock()
	waiter, sock := ss.waiter, ss.sock
	ss.waiter, ss.connecting = nil, false
	if err != nil {
		ss.sock = windows.InvalidHandle
	}
	ss.mu.Unlock()
	var local, remote *net.TCPAddr
	if err == nil {
		local, remote, err = winsock.Connected(sock, s.addr.(*net.TCPAddr))
		if err != nil {
			ss.mu.Lock()
			ss.sock = windows.InvalidHandle
			ss.mu.Unlock()
		}
	}
	if err != nil {
		windows.Closesocket(sock)
		s.Counters().ConnectFailed()
		s.connectFailed(ss.slot, waiter, models.WrapOp(Name, "ConnectEx", err))
		return
	}
	ss.open(local, remote)
	s.Counters().Connected()
	if waiter != nil {
		waiter <- nil
	}
	ss.connected()
}
