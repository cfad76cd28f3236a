package uring

import (
	"net"
	"runtime"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// session is one pooled connection. The fields after lp are owned by the session's loop.
type session struct {
	models.SessionCore
	svc  *service
	slot int
	lp   atomic.Pointer[loop]
	// live is the session ID while the session is open on its loop and 0 otherwise. It is
	// stored last in open and cleared first in finish, and every message to a loop carries
	// the value its poster saw: a stale Kick or Send (an old pointer to a slot reused since,
	// maybe on another loop) is dropped without touching the loop-owned fields below.
	live atomic.Uint64
	sq   models.SendQueue

	fd      int
	active  bool // open on its loop, not yet finished
	closing bool // cancel issued; finish once pending reaches 0
	sending bool // a SENDMSG is in flight
	pending int  // requests in flight
	// The dead-socket sweep (sweep_linux.go): index in the loop's sessions, whether a recv
	// completed since the last sweep, and the quiet sweeps since.
	loopIdx  int
	recvSeen bool
	quiet    int
	rb       models.RecvBuffer
	iov      [][]byte
	pin      runtime.Pinner // send chunks while a SENDMSG is in flight
	rpin     runtime.Pinner // the RecvBuffer, in the direct receive mode
	msg      *unix.Msghdr   // mmapped
	iovs     []unix.Iovec   // mmapped, len MaxGather
}

var _ models.Session = (*session)(nil)

// Send implements models.Session. The loop is woken only if it is blocked in io_uring_enter;
// a Send from the loop's own callbacks just queues the write for the next enter.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, ss.svc.Counters(), p)
	if err != nil {
		return err
	}
	if start {
		ss.postLive(mWrite)
	}
	return nil
}

// Kick implements models.Session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.MarkKicked(r) {
		return
	}
	ss.sq.Close()
	ss.postLive(mKick) // not live yet: open checks Kicked after publishing live
}

// postLive posts kind to the session's loop if the session is open. live is loaded before lp:
// open stores lp before live, so a current live value comes with the current loop.
func (ss *session) postLive(kind uint8) {
	id := ss.live.Load()
	if id == 0 {
		return
	}
	ss.lp.Load().post(msg{kind: kind, ss: ss, id: id})
}

// open starts a session on this loop: OnConnect, then the first recv. State: the session is
// active and live (its ID published for postLive) from here until maybeFinish; pending counts
// its requests in flight.
func (l *loop) open(ss *session, fd int) {
	s := ss.svc
	cfg := &s.eng.cfg
	sock.SetNoDelay(fd)
	var local, remote net.Addr = &net.TCPAddr{}, &net.TCPAddr{}
	if sa, err := unix.Getsockname(fd); err == nil {
		local = sock.TCPAddr(sa)
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		remote = sock.TCPAddr(sa)
	}
	switch {
	case !l.eng.direct:
		if !ss.rb.Lazy() {
			ss.rb.InitLazy(s.recvPool) // held only while a partial frame is pending
		}
	case ss.rb.Cap() != cfg.RecvBufferSize || ss.rb.Lazy():
		ss.rb.Init(make([]byte, cfg.RecvBufferSize)) // the slot keeps it: the kernel writes into it
		s.slotBufs.Add(1)
	}
	ss.rb.Reset()
	if l.eng.direct {
		ss.rpin.Pin(&ss.rb.Free()[0]) // the kernel writes into it; unpinned in finish
	}
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.fd = fd
	ss.active, ss.closing, ss.sending, ss.pending = true, false, false, 0
	ss.lp.Store(l)
	l.addSession(ss)
	ss.Open(local, remote)
	ss.live.Store(ss.ID())
	s.Handler().OnConnect(ss)
	s.Opened(ss) // Service.Close kicks once; a session it could not see kicks itself here
	if ss.Kicked() {
		l.closeSession(ss) // also covers a Kick that came before live was published
		return
	}
	l.armRecv(ss)
}

// armRecv arms the session's receive: one multishot recv drawing from the loop's provided
// buffer ring (or, direct mode, a single-shot recv into the RecvBuffer). It holds one pending
// count until its final completion (no IORING_CQE_F_MORE).
func (l *loop) armRecv(ss *session) {
	if l.eng.direct {
		l.armRecvDirect(ss, true)
		return
	}
	idx, rec := l.newOp(opRecv)
	rec.ss = ss
	ss.pending++
	s := l.sqe()
	s.opcode = opcRecv
	s.fd = int32(ss.fd)
	s.ioprio = recvMultishot
	s.flags = sqeBufferSelect
	s.bufGroup = bufGroup
	s.userData = userData(opRecv, rec.gen, idx)
}

// armRecvDirect is the direct mode's single-shot recv into the RecvBuffer's free space.
// pollFirst (IORING_RECVSEND_POLL_FIRST) skips the first, usually futile, attempt when the
// last completion said the socket was drained (no IORING_CQE_F_SOCK_NONEMPTY).
func (l *loop) armRecvDirect(ss *session, pollFirst bool) {
	free := ss.rb.Free() // compaction is safe: no recv is in flight now
	if len(free) == 0 {
		ss.Kick(models.KickRecvBufferOverFull)
		return
	}
	idx, rec := l.newOp(opRecv)
	rec.ss = ss
	ss.pending++
	s := l.sqe()
	s.opcode = opcRecv
	s.fd = int32(ss.fd)
	if pollFirst {
		s.ioprio = recvPollFirst
	}
	s.addr = uint64(uintptr(unsafe.Pointer(&free[0])))
	s.len = uint32(len(free))
	s.userData = userData(opRecv, rec.gen, idx)
}

// onRecvDirect is the completion of a direct-mode recv: the bytes are already in the
// RecvBuffer's free space, so the models receive rule commits and delivers them (Received),
// then the next recv is armed; 0 is the peer's EOF (PeerClosed: drain, then KickRecv0), an
// error kicks with KickRecvError. The recv's pending count ends here.
func (l *loop) onRecvDirect(idx uint32, ss *session, c cqe) {
	l.freeOp(idx)
	ss.pending--
	s := ss.svc
	switch {
	case ss.closing || ss.Kicked():
	case c.res > 0:
		if ss.Received(ss, s.Handler(), s.Counters(), &ss.rb, int(c.res)) {
			l.armRecvDirect(ss, c.flags&cqeFSockNonEmpty == 0)
		}
	case c.res == 0:
		ss.PeerClosed(ss, &ss.sq)
	default:
		ss.RecvFailed(ss)
	}
	l.maybeFinish(ss)
}

// onRecv is a completion of the multishot recv. A completion with a buffer delivers its bytes
// straight from the provided buffer (models ReceivedFrom: the RecvBuffer holds only a
// partial frame) and gives the buffer back to the ring at once. Without IORING_CQE_F_MORE the
// multishot has ended and its pending count with it: -ENOBUFS (the ring ran dry) or an end
// without an error (CQ overflow) re-arms; 0 is the peer's EOF (PeerClosed); an error kicks
// with KickRecvError; on a closing or kicked session nothing is re-armed.
func (l *loop) onRecv(idx uint32, ss *session, c cqe, more bool) {
	ss.recvSeen = true
	if l.eng.direct {
		l.onRecvDirect(idx, ss, c)
		return
	}
	if c.flags&cqeFBuffer != 0 {
		bid := uint16(c.flags >> cqeBufferShift)
		if c.res > 0 && !ss.closing && !ss.Kicked() {
			s := ss.svc
			ss.ReceivedFrom(ss, s.Handler(), s.Counters(), &ss.rb, l.br.buf(bid)[:c.res])
		}
		l.br.put(bid) // back to the kernel at once: the app has seen or copied the bytes
	}
	if more {
		return
	}
	l.freeOp(idx)
	ss.pending--
	switch {
	case ss.closing || ss.Kicked():
		// cancelled, or the kick's cancel is on its way
	case c.res == -int32(unix.ENOBUFS):
		l.enobufs.Add(1)
		l.rearms.Add(1)
		l.br.publish() // the buffers reaped so far go back before the re-armed recv runs
		l.armRecv(ss)
	case c.res > 0:
		l.rearms.Add(1) // multishot ended without an error (CQ overflow): re-arm
		l.armRecv(ss)
	case c.res == 0:
		ss.PeerClosed(ss, &ss.sq)
	default:
		ss.RecvFailed(ss)
	}
	l.maybeFinish(ss)
}

// submitSend turns the queued bytes into one SENDMSG: Peek views into the mmapped iovec
// array, chunks pinned until the CQE. State: sending is true and the send holds one pending
// count until onSend; the session owns the SendQueue's writer turn meanwhile. An empty queue
// ends the turn (WriterDone: a draining session is then complete).
func (l *loop) submitSend(ss *session) {
	bufs := ss.sq.Peek(ss.iov[:0], len(ss.iovs))
	ss.iov = bufs
	if len(bufs) == 0 {
		ss.sending = false
		if !ss.sq.Advance(0) {
			ss.WriterDone(ss, &ss.sq)
		}
		return
	}
	for i, b := range bufs {
		ss.pin.Pin(&b[0])
		ss.iovs[i].Base = &b[0]
		ss.iovs[i].SetLen(len(b))
	}
	ss.msg.SetIovlen(len(bufs))
	idx, rec := l.newOp(opSend)
	rec.ss = ss
	ss.pending++
	ss.sending = true
	s := l.sqe()
	s.opcode = opcSendmsg
	s.fd = int32(ss.fd)
	s.addr = uint64(uintptr(unsafe.Pointer(ss.msg)))
	s.len = 1
	s.opFlags = unix.MSG_NOSIGNAL
	s.userData = userData(opSend, rec.gen, idx)
}

// onSend is the completion of a SENDMSG: it unpins the chunks, and on success applies
// models Wrote (count, OnSend, Advance; WriterDone when the queue is written) and submits the
// rest if more is queued; a failed send kicks with KickSendError. Its pending count ends here.
func (l *loop) onSend(idx uint32, ss *session, c cqe) {
	l.freeOp(idx)
	ss.pending--
	ss.pin.Unpin()
	for i := range ss.iov {
		ss.iovs[i].Base = nil
	}
	clear(ss.iov)
	ss.iov = ss.iov[:0]
	if c.res <= 0 {
		ss.sending = false
		if !ss.closing {
			ss.Kick(models.KickSendError)
		}
		l.maybeFinish(ss)
		return
	}
	s := ss.svc
	if ss.Wrote(ss, s.Handler(), s.Counters(), &ss.sq, int(c.res)) && !ss.closing {
		l.submitSend(ss)
	} else {
		ss.sending = false
	}
	l.maybeFinish(ss)
}

// closeSession acts on a kick: closing is set (nothing new is submitted) and one
// IORING_OP_ASYNC_CANCEL of every request on the fd is issued, itself counted in pending;
// maybeFinish ends the session when the last completion is in.
func (l *loop) closeSession(ss *session) {
	if ss.closing {
		return
	}
	ss.closing = true
	if ss.pending > 0 {
		idx, rec := l.newOp(opCancel)
		rec.ss = ss
		ss.pending++
		s := l.sqe()
		s.opcode = opcAsyncCancel
		s.fd = int32(ss.fd)
		s.opFlags = cancelFD | cancelAll
		s.userData = userData(opCancel, rec.gen, idx)
	}
	l.maybeFinish(ss)
}

// maybeFinish ends a closing session once no request of it is in flight (pending 0): the
// session stops being live (stale Sends and Kicks are dropped), its socket is closed
// (abortively unless the peer closed gracefully), and models EndSession runs (count,
// OnDisconnect, release, slot, redial). The connection's token (s.wg) moves to the redial or
// is released.
func (l *loop) maybeFinish(ss *session) {
	if !ss.active || !ss.closing || ss.pending > 0 {
		return
	}
	ss.active = false
	ss.live.Store(0)
	l.removeSession(ss)
	s := ss.svc
	if ss.Reason() != models.KickRecv0 {
		sock.SetAbortive(ss.fd) // RST: queued data is dropped, as the contract says
	}
	unix.Close(ss.fd)
	ss.fd = -1
	ss.rpin.Unpin()
	ss.rb.Reset() // a partial frame's lazy buffer goes back to the pool
	if !s.EndSession(ss, &ss.SessionCore, &ss.sq, ss.slot) {
		s.wg.Done()
	}
}
