package epoll

import (
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// maxReadsPerEvent bounds the reads of one readiness event. A read shorter than the free
// space means the socket is drained (no extra read just to see EAGAIN); a read that filled
// the RecvBuffer is retried after OnRecv freed space, a few times, then left to the next
// epoll_wait (level-triggered: nothing is lost, other sessions get their turn).
const maxReadsPerEvent = 4

// session is one pooled connection. The fields under "loop-owned" are touched only by the
// loop that opened the session, and only while the session's generation is odd (open):
// every task and event is checked against the atomic generation first, so a stale one never
// reads them. The SessionPool's mutex orders one loop's release before another's reuse.
type session struct {
	models.SessionCore
	svc  *service
	slot int32

	// gen counts opens and closes of the slot: odd while open (or connecting), even while
	// free. Its low 24 bits are the generation in the session's epoll tag.
	gen   atomic.Uint32
	owner atomic.Pointer[loop] // the loop of the current (or last) connection
	// inCb is set by the loop while it runs a callback of this session. A Send or Kick that
	// sees it leaves the work to the loop, which looks right after the callback returns.
	inCb atomic.Bool
	// flushReq hands the writer's turn of the SendQueue to the loop (see Send).
	flushReq atomic.Bool

	// loop-owned
	fd         int
	prev, next *session
	connecting bool
	outArmed   bool // EPOLLOUT registered: a write would block; the loop owns the writer turn
	firstWait  *connectWait
	rb         models.RecvBuffer
	sq         models.SendQueue
}

var _ models.Session = (*session)(nil)

// liveOn reports whether the session is open on loop l with generation gen (24-bit masked).
func (ss *session) liveOn(l *loop, gen uint32) bool {
	g := ss.gen.Load()
	return g&1 == 1 && g&genMask == gen&genMask && ss.owner.Load() == l
}

func (ss *session) tag() tag {
	return makeTag(kindSession, ss.svc.id, int(ss.slot), ss.gen.Load())
}

// Send implements models.Session. It copies p into the SendQueue. If that makes the caller
// the writer (start), the write is handed to the owning loop: when the loop is running a
// callback of this very session it writes right after the callback returns (no task, no
// wakeup); otherwise a flush task is queued, which wakes the loop through its eventfd only
// if it sleeps.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, ss.svc.Counters(), p)
	if err != nil {
		return err
	}
	if start {
		// Dekker pair with loop.afterCallback (store inCb=false, then load flushReq): if
		// we see inCb set, the loop sees flushReq. The CAS settles a tie: exactly one of
		// us takes the request.
		ss.flushReq.Store(true)
		if ss.inCb.Load() {
			return nil
		}
		if ss.flushReq.CompareAndSwap(true, false) {
			ss.post(taskFlush)
		}
	}
	return nil
}

// Kick implements models.Session: the first reason wins; the loop closes the socket (never
// another goroutine: the fd number could be reused under the loop).
func (ss *session) Kick(r models.KickReason) {
	if !ss.MarkKicked(r) {
		return
	}
	ss.sq.Close()
	if ss.inCb.Load() {
		return // the loop checks Kicked right after the callback
	}
	ss.post(taskKick)
}

// post queues a session task on the owning loop with the current generation. The generation
// is read before the owner: the open that made it current stored the owner first.
func (ss *session) post(k taskKind) {
	gen := ss.gen.Load()
	if gen&1 == 0 {
		return
	}
	if l := ss.owner.Load(); l != nil {
		l.post(task{kind: k, ss: ss, gen: gen})
	}
}

// attach registers a new connection's fd on the loop (events: EPOLLIN, or EPOLLOUT for a
// connect in progress) and makes the slot's generation odd.
func (l *loop) attach(ss *session, fd int, events uint32) error {
	cfg := &l.eng.cfg
	switch {
	case !l.eng.residentRecv:
		if !ss.rb.Lazy() {
			ss.rb.InitLazy(ss.svc.recvPool) // held only while a partial frame is pending
		}
	case ss.rb.Cap() != cfg.RecvBufferSize || ss.rb.Lazy():
		ss.rb.Init(make([]byte, cfg.RecvBufferSize)) // the slot keeps it
		ss.svc.slotBufs.Add(1)
	}
	ss.rb.Reset()
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.fd = fd
	ss.outArmed = false
	ss.flushReq.Store(false)
	ss.inCb.Store(false)
	ss.owner.Store(l)
	ss.gen.Add(1) // odd: open
	l.link(ss)
	if err := epollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, events, ss.tag()); err != nil {
		ss.gen.Add(1)
		ss.fd = -1
		l.unlink(ss)
		return err
	}
	return nil
}

// connected runs OnConnect of a session that just opened.
func (l *loop) connected(ss *session) {
	ss.inCb.Store(true)
	ss.svc.Handler().OnConnect(ss)
	l.afterCallback(ss, models.KickNone)
}

// afterCallback ends a callback of ss: it closes the session if the callback kicked it (or k
// says so), and otherwise writes what the callback queued. It reports whether ss is still
// open.
func (l *loop) afterCallback(ss *session, k models.KickReason) bool {
	ss.inCb.Store(false)
	if k != models.KickNone {
		ss.MarkKicked(k)
	}
	if ss.Kicked() {
		l.closeSession(ss, ss.Reason())
		return false
	}
	if ss.flushReq.Load() && ss.flushReq.CompareAndSwap(true, false) {
		return l.flush(ss, false)
	}
	return true
}

// handle dispatches one epoll event of an open session.
func (l *loop) handle(ss *session, events uint32) {
	if ss.connecting {
		l.finishConnect(ss)
		return
	}
	if events&(unix.EPOLLIN|unix.EPOLLERR|unix.EPOLLHUP) != 0 && !ss.Draining() {
		if !l.read(ss) {
			return
		}
	}
	if events&(unix.EPOLLOUT|unix.EPOLLERR|unix.EPOLLHUP) != 0 && (ss.outArmed || ss.Draining()) {
		l.flush(ss, true)
	}
}

// read reads and applies the models receive rule: lazy (the default), into the loop's
// scratch buffer, delivered in place with ReceivedFrom (the session's RecvBuffer takes pool
// memory only for a partial frame left at the end); resident (RecvEnv), into the session's
// RecvBuffer with Received (commit, count, OnRecv). It reports whether ss is still open.
func (l *loop) read(ss *session) bool {
	s := ss.svc
	for range maxReadsPerEvent {
		free := l.scratch
		if free == nil {
			free = ss.rb.Free()
		}
		n, errno := sysRead(ss.fd, free)
		switch {
		case errno == unix.EINTR:
			continue
		case errno == unix.EAGAIN:
			return true
		case errno != 0:
			ss.inCb.Store(true)
			ss.RecvFailed(ss)
			return l.afterCallback(ss, models.KickNone)
		case n == 0:
			return l.peerEOF(ss)
		}
		ss.inCb.Store(true)
		if l.scratch != nil {
			ss.ReceivedFrom(ss, s.Handler(), s.Counters(), &ss.rb, free[:n])
		} else {
			ss.Received(ss, s.Handler(), s.Counters(), &ss.rb, n)
		}
		if !l.afterCallback(ss, models.KickNone) {
			return false
		}
		if n < len(free) {
			return true // short read: the socket is drained
		}
	}
	return true
}

// peerEOF applies the models end-of-stream rule (PeerClosed): with nothing queued the session
// closes with KickRecv0; otherwise it stops reading and drains. It reports whether ss is still
// open.
func (l *loop) peerEOF(ss *session) bool {
	ss.inCb.Store(true)
	drain := ss.PeerClosed(ss, &ss.sq)
	ss.inCb.Store(false)
	if !drain {
		l.closeSession(ss, ss.Reason())
		return false
	}
	// Level-triggered EPOLLIN would report the EOF forever: keep only EPOLLOUT, if armed.
	var ev uint32
	if ss.outArmed {
		ev = unix.EPOLLOUT
	}
	if err := epollCtl(l.epfd, unix.EPOLL_CTL_MOD, ss.fd, ev, ss.tag()); err != nil {
		l.closeSession(ss, models.KickIOError)
		return false
	}
	if ss.outArmed {
		return true
	}
	return l.flush(ss, false)
}

// flush is the writer's turn (models SessionCore.Flush over writev) until the queue is empty
// or the socket's send buffer is full; then EPOLLOUT is armed and the loop keeps the writer's
// turn until it fires. fromOut says EPOLLOUT fired. Callbacks run inside (OnSend), so inCb is
// set for the turn: a Send or Kick they make is left to the loop, which looks again after.
// It reports whether ss is still open.
func (l *loop) flush(ss *session, fromOut bool) bool {
	if ss.outArmed && !fromOut {
		return true // the EPOLLOUT event will write
	}
	s := ss.svc
	for {
		ss.flushReq.Store(false) // what it asked for is in the queue: the turn's Peek sees it
		ss.inCb.Store(true)
		l.wfd = ss.fd
		r := ss.Flush(ss, s.Handler(), s.Counters(), &ss.sq, l.views, l.writev)
		ss.inCb.Store(false)
		switch {
		case r == models.FlushKicked || ss.Kicked():
			l.closeSession(ss, ss.Reason())
			return false
		case r == models.FlushBlocked:
			return l.armOut(ss)
		}
		// Dekker pair with Send (see afterCallback): a Send that saw inCb set left its
		// request for us.
		if !ss.flushReq.Load() || !ss.flushReq.CompareAndSwap(true, false) {
			break
		}
	}
	if ss.outArmed {
		ss.outArmed = false
		var ev uint32 = unix.EPOLLIN
		if ss.Draining() {
			ev = 0
		}
		if err := epollCtl(l.epfd, unix.EPOLL_CTL_MOD, ss.fd, ev, ss.tag()); err != nil {
			l.closeSession(ss, models.KickIOError)
			return false
		}
	}
	return true
}

// gatherWrite is the loop's models.GatherWriter: one writev(2) of the views on l.wfd from the
// loop-owned iovec array (no allocation per write).
func (l *loop) gatherWrite(views [][]byte) (int, bool, error) {
	iov := l.iov[:0]
	for _, v := range views {
		if len(v) > 0 {
			iov = append(iov, unix.Iovec{Base: &v[0]})
			iov[len(iov)-1].SetLen(len(v))
		}
	}
	if len(iov) == 0 {
		return 0, false, nil
	}
	for {
		n, errno := sysWritev(l.wfd, iov)
		if errno == unix.EINTR {
			continue
		}
		clear(iov)
		switch errno {
		case 0:
			return n, false, nil
		case unix.EAGAIN:
			return 0, true, nil
		}
		return 0, false, errno
	}
}

// armOut registers EPOLLOUT because a write would block. It reports whether ss is still open.
func (l *loop) armOut(ss *session) bool {
	if ss.outArmed {
		return true
	}
	ev := uint32(unix.EPOLLOUT)
	if !ss.Draining() {
		ev |= unix.EPOLLIN
	}
	if err := epollCtl(l.epfd, unix.EPOLL_CTL_MOD, ss.fd, ev, ss.tag()); err != nil {
		l.closeSession(ss, models.KickIOError)
		return false
	}
	ss.outArmed = true
	return true
}

// closeSession closes an open session on its loop: records r unless a reason was recorded
// first, closes the socket (abortively unless the peer closed gracefully), then ends the
// session the models way (EndSession: count, OnDisconnect, release, redial).
func (l *loop) closeSession(ss *session, r models.KickReason) {
	if ss.connecting {
		l.closeConnecting(ss, models.ErrClosed)
		return
	}
	s := ss.svc
	ss.MarkKicked(r)
	reason := ss.Reason()
	ss.sq.Close()
	fd := ss.fd
	ss.fd = -1
	ss.gen.Add(1) // even: stale events and tasks of this connection are dropped from now on
	// Deregister explicitly: close(2) removes the registration only when no other fd
	// refers to the socket, and a concurrent fork (the harness starts child processes)
	// holds a copy until its exec.
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	if reason != models.KickRecv0 {
		sock.SetAbortive(fd)
	}
	unix.Close(fd)
	l.unlink(ss)
	ss.rb.Reset() // a partial frame's lazy buffer goes back to the pool
	ss.inCb.Store(false)
	s.EndSession(ss, &ss.SessionCore, &ss.sq, int(ss.slot))
}
