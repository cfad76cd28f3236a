package rio

import (
	"net"
	"sync"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// session is one pooled connection: a socket, its request queue and its slice of the loop's
// registered region.
//
// References (models.SessionCore): 1 for the connection (dropped by the first Kick), +1 for
// every request posted to the RQ (dropped when its completion is processed, deferred ones
// included), +1 while the loop runs OnConnect. At 0 the session is finalized on its loop:
// OnDisconnect, then back to the pool. So OnDisconnect runs once, after every completion, and
// the region slice is never reused while the kernel may still write it.
type session struct {
	models.SessionCore
	svc  *service
	slot int
	lp   *loop
	key  uint64 // SocketContext: service index << 32 | slot

	// mu serializes every call on this session's RQ (RIO request queues are not thread-safe),
	// the send ring and the socket's close.
	mu         sync.Mutex
	sock       windows.Handle
	rq         uintptr
	closed     bool // kicked: no more requests
	connecting bool // ConnectEx pending
	// Requests issued with RIO_MSG_DEFER and not yet committed, per direction: RIOSend and
	// RIOReceive each have their own RIO_MSG_COMMIT_ONLY, so each direction is committed with
	// its own call.
	deferredSend, deferredRecv int
	recvPosted                 bool
	// desc is the RIO_BUF handed to RIOReceive/RIOSend. RIO reads it during the call only, but
	// it lives in the (heap) session rather than on the goroutine stack, which may move while
	// Go code runs inside the call (the test emulator's callbacks do exactly that).
	desc rioBuf
	ring *sendRing
	iov  [][]byte

	sl       slice
	hasSlice bool
	rb       models.RecvBuffer // over sl.recv; touched only by the loop, with no receive posted
	sq       models.SendQueue

	local, remote net.Addr    // handed to open by the accept or connect path, under mu
	connectDoneFn func(error) // Connect's first-attempt signal, under mu
}

var _ models.Session = (*session)(nil)

// open runs on the session's loop once its socket is connected: take the region slice, charge
// the CQ and create the RQ, OnConnect, post the first receive.
func (ss *session) open() error {
	s := ss.svc
	l := ss.lp
	if !ss.hasSlice {
		sl, err := l.region.get()
		if err != nil {
			ss.openFailed(err)
			return err
		}
		ss.sl, ss.hasSlice = sl, true
	}
	// The accept or connect path handed sock and the addresses over under mu.
	ss.mu.Lock()
	sockh, local, remote := ss.sock, ss.local, ss.remote
	ss.mu.Unlock()
	rq, err := l.createRQ(sockh, ss.key)
	if err != nil {
		ss.openFailed(err)
		return err
	}
	sock.SetNoDelay(sockh)
	ss.mu.Lock()
	ss.rq = rq
	ss.closed = false
	ss.deferredSend, ss.deferredRecv = 0, 0
	ss.recvPosted = false
	ss.ring.reset()
	ss.mu.Unlock()
	ss.rb.Init(ss.sl.recv)
	ss.sq.Reset(s.e.cfg.SendQueueLimit)
	ss.Open(local, remote)
	ss.AddRef()  // OnConnect
	s.Opened(ss) // Close kicks once; a session it could not see kicks itself here
	s.Handler().OnConnect(ss)
	ss.postRecv()
	ss.releaseOnLoop()
	return nil
}

// openFailed gives back a slot whose connection could not be set up (no callback has run).
func (ss *session) openFailed(err error) {
	s := ss.svc
	ss.mu.Lock()
	if ss.sock != windows.InvalidHandle {
		windows.Closesocket(ss.sock)
		ss.sock = windows.InvalidHandle
	}
	ss.mu.Unlock()
	s.Counters().Refused() // counted as a refusal for lack of kernel resources
	s.Pool().Release(ss.slot)
	s.redialLater()
	s.wg.Done()
}

// connectFailed ends a connect attempt.
func (ss *session) connectFailed(err error) {
	s := ss.svc
	ss.mu.Lock()
	ss.connecting = false
	if ss.sock != windows.InvalidHandle {
		windows.Closesocket(ss.sock)
		ss.sock = windows.InvalidHandle
	}
	done := ss.connectDoneFn
	ss.connectDoneFn = nil
	ss.mu.Unlock()
	s.Counters().ConnectFailed()
	s.Pool().Release(ss.slot)
	if done != nil {
		done(err)
	}
	s.redialLater()
	s.wg.Done()
}

// cancelConnect aborts a pending ConnectEx (service closing); it completes with
// ERROR_OPERATION_ABORTED.
func (ss *session) cancelConnect() {
	ss.mu.Lock()
	if ss.connecting && ss.sock != windows.InvalidHandle {
		windows.CancelIoEx(ss.sock, nil)
	}
	ss.mu.Unlock()
}

// noteDeferred keeps a direction's deferred count after a request was issued with flags: a
// request without RIO_MSG_DEFER commits the earlier deferred ones of its direction.
func noteDeferred(count *int, flags uint32) {
	if flags&rioMsgDefer != 0 {
		*count++
	} else {
		*count = 0
	}
}

// postRecv posts one RIOReceive into the RecvBuffer's free space. Loop only, with a reference
// held.
func (ss *session) postRecv() {
	ss.mu.Lock()
	if ss.closed || ss.recvPosted || ss.Draining() {
		ss.mu.Unlock()
		return
	}
	free := ss.rb.Free()
	if len(free) == 0 {
		ss.mu.Unlock()
		ss.Kick(models.KickRecvBufferOverFull)
		return
	}
	ss.desc = ss.sl.recvBuf(free)
	flags := ss.lp.batch.decide(ss.key, ss.deferredSend+ss.deferredRecv)
	ss.AddRef()
	if err := rioReceive(ss.rq, &ss.desc, flags, ctxRecv); err != nil {
		ss.ReleaseRef() // the caller's reference keeps the count above 0
		ss.mu.Unlock()
		ss.Kick(models.KickRecvError)
		return
	}
	noteDeferred(&ss.deferredRecv, flags)
	ss.recvPosted = true
	ss.mu.Unlock()
}

// recvDone handles a receive completion on the loop.
func (ss *session) recvDone(status int32, n uint32) {
	ss.mu.Lock()
	ss.recvPosted = false
	ss.mu.Unlock()
	s := ss.svc
	switch {
	case ss.Kicked():
	case status != 0:
		ss.RecvFailed(ss)
	case n == 0: // graceful half-close: write out what is queued and in flight, then KickRecv0
		ss.SetDraining()
		ss.finishDrain()
	case ss.Received(ss, s.Handler(), s.Counters(), &ss.rb, int(n)):
		ss.postRecv()
	}
	ss.releaseOnLoop()
}

// Send implements models.Session: copy into the SendQueue; the caller that starts the writer
// turn pumps it into registered send parts at once.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, ss.svc.Counters(), p)
	if err != nil {
		return err
	}
	if start {
		ss.pump()
	}
	return nil
}

// pump copies queued bytes into free send parts (one gather of up to MaxGather SendQueue
// views per part) and posts them, or parks them in the overflow queue while the RQ's send
// slots are full. A send completion pumps again, so nothing waits for a new Send.
func (ss *session) pump() {
	lay := &ss.svc.e.lay
	maxGather := ss.svc.e.cfg.MaxGather
	kick := models.KickNone
	ss.mu.Lock()
	for !ss.closed {
		part, ok := ss.ring.acquire()
		if !ok {
			break
		}
		bufs := ss.sq.Peek(ss.iov[:0], maxGather)
		if len(bufs) == 0 {
			ss.ring.unacquire(part)
			break
		}
		dst := ss.sl.part(lay, part)
		n := 0
		for _, b := range bufs {
			n += copy(dst[n:], b)
			if n == len(dst) {
				break
			}
		}
		clear(bufs)
		ss.iov = bufs[:0]
		more := ss.sq.Advance(n)
		if ss.ring.ready(part, n) {
			if !ss.postSend(part, n) {
				kick = models.KickSendError
				break
			}
		}
		if !more {
			break
		}
	}
	ss.mu.Unlock()
	if kick != models.KickNone {
		ss.Kick(kick)
	}
}

// postSend issues RIOSend for the first n bytes of part; ss.mu held, not closed (so the
// connection's reference keeps the count above 0 if it fails). A send the RQ refuses as full
// (WSAENOBUFS) goes back to the front of the overflow queue while another send is
// outstanding, whose completion posts it; any other failure is the session's end.
func (ss *session) postSend(part, n int) bool {
	ss.desc = ss.sl.sendBuf(&ss.svc.e.lay, part, n)
	flags := ss.lp.batch.decide(ss.key, ss.deferredSend+ss.deferredRecv)
	ss.AddRef()
	if err := rioSend(ss.rq, &ss.desc, flags, ctxSend0+uint64(part)); err != nil {
		ss.ring.failed(part)
		ss.ReleaseRef()
		return err == errWSAENOBUFS && ss.ring.outstanding() > 0
	}
	noteDeferred(&ss.deferredSend, flags)
	return true
}

// sendDone handles a send completion on the loop.
func (ss *session) sendDone(part int, status int32, n uint32) {
	kick := models.KickNone
	ss.mu.Lock()
	sent, next, nextLen, post := ss.ring.complete(part)
	if status != 0 || int(n) != sent {
		kick = models.KickSendError
		if post {
			ss.ring.failed(next)
		}
	} else if post {
		if ss.closed {
			ss.ring.failed(next)
			ss.ring.dropOverflow()
		} else if !ss.postSend(next, nextLen) {
			kick = models.KickSendError
		}
	}
	ss.mu.Unlock()
	if kick != models.KickNone {
		ss.Kick(kick)
	} else if !ss.Kicked() {
		ss.svc.Counters().Wrote(sent) // Advance ran when pump copied the bytes into the part
		ss.svc.Handler().OnSend(ss, sent)
		ss.pump()
		ss.finishDrain()
	}
	ss.releaseOnLoop()
}

// finishDrain closes a half-closed session once everything queued has been written.
func (ss *session) finishDrain() {
	if !ss.Draining() {
		return
	}
	ss.mu.Lock()
	idle := ss.ring.idle() && ss.sq.Idle()
	ss.mu.Unlock()
	if idle {
		ss.Kick(models.KickRecv0)
	}
}

// commit submits the requests this session's RQ holds deferred (end of a loop batch).
func (ss *session) commit() {
	ss.mu.Lock()
	if !ss.closed {
		ss.commitLocked()
	}
	ss.mu.Unlock()
}

// commitLocked commits each direction's deferred requests; ss.mu held.
func (ss *session) commitLocked() {
	if ss.deferredRecv > 0 && rioCommitRecv(ss.rq) == nil {
		ss.deferredRecv = 0
	}
	if ss.deferredSend > 0 && rioCommit(ss.rq) == nil {
		ss.deferredSend = 0
	}
}

// Kick implements models.Session. The first kick closes the socket: abortively (SO_LINGER 0,
// queued data dropped) except for KickRecv0, whose queue has already been written. Closing
// the socket completes its outstanding RIO requests with an error; the last completion
// finalizes the session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.MarkKicked(r) {
		return
	}
	ss.mu.Lock()
	ss.closed = true
	ss.sq.Close()
	ss.ring.dropOverflow()
	ss.commitLocked() // deferred requests must reach the kernel to complete at all

	if ss.sock != windows.InvalidHandle {
		if r != models.KickRecv0 {
			sock.SetAbortive(ss.sock)
		}
		closeSocket(ss.sock)
		ss.sock = windows.InvalidHandle
	}
	ss.mu.Unlock()
	if ss.ReleaseRef() == 0 {
		// Off the loop (nothing in flight and no callback running): finalize on the loop so
		// OnDisconnect keeps running where the session's other callbacks ran.
		if err := postQueued(ss.lp.port, uint32(ss.slot), mkKey(keyFinalize, ss.svc.idx), nil); err != nil {
			panic(models.WrapOp(Name, "PostQueuedCompletionStatus(finalize)", err))
		}
	}
}

// releaseOnLoop drops a reference on the loop and finalizes at 0.
func (ss *session) releaseOnLoop() {
	if ss.ReleaseRef() == 0 {
		ss.finalize()
	}
}

// finalize runs on the loop once nothing references the session.
func (ss *session) finalize() {
	s := ss.svc
	ss.lp.releaseRQ() // the RQ went with the socket and every request on it has completed
	ss.mu.Lock()
	ss.rq = 0
	ss.mu.Unlock()
	s.EndSession(ss, &ss.SessionCore, &ss.sq, ss.slot) // its redial's wg reference comes first
	s.wg.Done()
}

// releaseSlice returns the session's registered slice to its loop's region (service closed).
func (ss *session) releaseSlice() {
	if ss.hasSlice {
		ss.lp.region.put(ss.sl)
		ss.sl, ss.hasSlice = slice{}, false
	}
}
