//go:build linux || darwin

package netpoll

import (
	"context"
	"net"
	"sync"
	"sync/atomic"

	"github.com/bytedance/gopkg/util/gopool"
	cnetpoll "github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/adapter"
	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// sessionCtx carries the session through netpoll's per-connection context (one per pooled
// session, allocated once).
type sessionCtx struct {
	context.Context
	ss *session
}

type session struct {
	models.SessionCore
	svc  *service
	slot int

	ctx       *sessionCtx
	requestFn cnetpoll.OnRequest
	closeFn   cnetpoll.CloseCallback
	flushFn   func()
	writev    models.GatherWriter

	// Set by open before OnConnect; read-only until the next open.
	conn   cnetpoll.Connection
	fd     int
	rcap   int
	maxIov int

	sq models.SendQueue

	// holds counts what keeps the session from finalizing: the connection (until netpoll's
	// close callback), a running flush task, the side writer. The last release finalizes.
	holds atomic.Int32
	// fdMu guards use of fd against netpoll closing it (after the close callbacks).
	fdMu   sync.RWMutex
	fdOpen bool
	// counted is the unread bytes already counted as received (handler goroutine only).
	counted int

	inCb      atomic.Bool // the handler goroutine runs a callback of this session
	needFlush atomic.Bool // the writer role is pending (see requestFlush)
	iov       [][]byte    // the writer's
	side      atomic.Pointer[adapter.SideWriter]
}

var _ models.Session = (*session)(nil)

func (ss *session) open(c cnetpoll.Connection, cfg models.Config, local, remote net.Addr) {
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.conn = c
	ss.fd = c.(cnetpoll.Conn).Fd()
	ss.rcap = cfg.RecvBufferSize
	ss.maxIov = cfg.MaxGather
	if cap(ss.iov) != cfg.MaxGather {
		ss.iov = make([][]byte, 0, cfg.MaxGather)
	}
	ss.counted = 0
	ss.needFlush.Store(false)
	ss.side.Store(nil)
	ss.fdMu.Lock()
	ss.fdOpen = true
	ss.fdMu.Unlock()
	ss.holds.Store(1)
	ss.Open(local, remote)
}

// Send implements models.Session.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, ss.svc.Counters(), p)
	if err != nil {
		return err
	}
	if start {
		ss.requestFlush()
	}
	return nil
}

// requestFlush hands the writer role on: to the handler goroutine if it is inside a callback
// of this session (it checks needFlush after the callback: endCallbacks stores inCb false
// before it swaps needFlush, this stores needFlush before it loads inCb), else to a gopool
// task.
func (ss *session) requestFlush() {
	ss.needFlush.Store(true)
	if ss.inCb.Load() {
		return
	}
	if !ss.hold() {
		return // the session is ending; its queue is closed
	}
	gopool.Go(ss.flushFn)
}

// flushTask is the gopool task of a Send from outside the session's callbacks; the hold it
// runs under keeps the session (and so the service) from ending meanwhile.
func (ss *session) flushTask() {
	if ss.needFlush.Swap(false) {
		ss.writeOut()
	}
	ss.release()
}

// hold takes a hold if the session has not finalized.
func (ss *session) hold() bool {
	for {
		n := ss.holds.Load()
		if n <= 0 {
			return false
		}
		if ss.holds.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (ss *session) release() {
	if ss.holds.Add(-1) == 0 {
		ss.finalize()
	}
}

// endCallbacks runs on the handler goroutine after the session's callbacks: the pending
// flush, if any.
func (ss *session) endCallbacks() {
	for {
		ss.inCb.Store(false)
		if !ss.needFlush.Swap(false) {
			return
		}
		ss.inCb.Store(true)
		ss.writeOut()
	}
}

// Kick implements models.Session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.end(r) {
		return
	}
	if r != models.KickRecv0 {
		ss.fdMu.RLock()
		if ss.fdOpen {
			sock.SetAbortive(ss.fd)
		}
		ss.fdMu.RUnlock()
	}
	ss.conn.Close()
}

// end records r if no reason was, refuses further sends and stops the side writer.
func (ss *session) end(r models.KickReason) bool {
	if !ss.MarkKicked(r) {
		return false
	}
	ss.sq.Close()
	if sw := ss.side.Load(); sw != nil {
		sw.Stop()
	}
	return true
}

// clientRequest is the OnRequest of dialled connections (their netpoll context is not ours).
func (ss *session) clientRequest(_ context.Context, c cnetpoll.Connection) error {
	ss.handle(c)
	return nil
}

// handle delivers the unread bytes straight from netpoll's LinkBuffer, with the models rule
// for the consumed count (models.Consumed: the window grows to RecvBufferSize at most). It
// runs on netpoll's handler goroutine (one per connection at a time).
func (ss *session) handle(c cnetpoll.Connection) {
	s, h, r := ss.svc, ss.svc.Handler(), c.Reader()
	ss.inCb.Store(true)
	for !ss.Kicked() {
		n := r.Len()
		if n > ss.counted {
			s.Counters().Read(n - ss.counted)
		}
		ss.counted = n
		if n == 0 {
			break
		}
		wl := min(n, ss.rcap)
		w, err := r.Peek(wl)
		if err != nil {
			r.Skip(r.Len()) // closed: see below
			break
		}
		k := h.OnRecv(ss, w)
		if kr := models.Consumed(k, wl, ss.rcap); kr != models.KickNone {
			ss.Kick(kr)
			break
		}
		if k > 0 {
			r.Skip(k)
			ss.counted -= k
		}
		if k == wl || n > wl {
			continue // all consumed, or unread bytes beyond the window: deliver again
		}
		// A partial frame: flush the replies so far, then wait for more bytes (netpoll's
		// handler loop would otherwise call us again at once).
		ss.endCallbacks()
		_, err = r.Peek(n - k + 1)
		ss.inCb.Store(true)
		if err != nil {
			// Closed (by the peer, mid-frame, or by a kick): the partial frame can never
			// complete, so drop it. netpoll's handler loop calls OnRequest again for as
			// long as unread bytes remain, and runs the close callback (which says why the
			// session ended) only when none do: left unread, they would spin this
			// goroutine forever and keep the fd and the pool slot.
			r.Skip(r.Len())
			break
		}
	}
	r.Release()
	ss.endCallbacks()
}

// writeOut is the writer's turn (models Flush, one writev per turn on the connection's fd)
// until the queue is empty; when the socket would block, or netpoll closed the fd after a
// half-close, the side writer takes the turn over.
func (ss *session) writeOut() {
	s := ss.svc
	if ss.Flush(ss, s.Handler(), s.Counters(), &ss.sq, ss.iov, ss.writev) == models.FlushBlocked {
		ss.handToSide()
	}
}

// write is the GatherWriter of writeOut: writev on the fd while netpoll has not closed it
// (blocked otherwise, so the side writer's dup takes over).
func (ss *session) write(bufs [][]byte) (int, bool, error) {
	ss.fdMu.RLock()
	defer ss.fdMu.RUnlock()
	if !ss.fdOpen {
		return 0, true, nil
	}
	for {
		n, err := unix.Writev(ss.fd, bufs)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return max(n, 0), true, nil
		}
		return max(n, 0), false, err
	}
}

// handToSide gives the writer role (held by the caller, with bytes queued) to the side
// writer, starting it if the fd is still open. Without one (the connection closed without a
// half-close drain) the role is dropped: the session is ending and its queue is closed.
func (ss *session) handToSide() {
	sw := ss.side.Load()
	if sw == nil {
		ss.fdMu.RLock()
		if ss.fdOpen {
			var err error
			if sw, err = ss.newSideWriter(); err != nil {
				ss.fdMu.RUnlock()
				ss.Kick(models.KickSendError)
				return
			}
		}
		ss.fdMu.RUnlock()
	}
	if sw == nil {
		return
	}
	sw.Signal()
}

// onClosed is netpoll's close callback: it runs once, after the last OnRequest of the
// connection returned and before netpoll closes the fd. netpoll does not say why the
// connection closed: the TCP state does (peerHalfClosed). After a half-close with sends
// queued the side writer (a dup taken here) drains them and its last turn ends the session
// with KickRecv0 (models WriterDone).
func (ss *session) onClosed(cnetpoll.Connection) error {
	ss.fdMu.Lock()
	ss.fdOpen = false
	halfClosed := !ss.Kicked() && peerHalfClosed(ss.fd)
	var sw *adapter.SideWriter
	if halfClosed && !ss.sq.Idle() {
		sw = ss.side.Load()
		if sw == nil {
			sw, _ = ss.newSideWriter()
		}
	}
	ss.fdMu.Unlock()
	switch {
	case ss.Kicked():
	case halfClosed:
		ss.SetDraining()
		if sw != nil {
			ss.svc.drains.Add(1)
		}
		if sw == nil || ss.sq.Idle() {
			ss.end(models.KickRecv0)
		}
	case ss.svc.Closing():
		ss.end(models.KickShutdown)
	default:
		ss.end(models.KickRecvError)
	}
	ss.release()
	return nil
}

// finalize runs once nothing holds the session: the models end of a session, then the
// session's hold on the service goes.
func (ss *session) finalize() {
	s := ss.svc
	s.EndSession(ss, &ss.SessionCore, &ss.sq, ss.slot)
	s.Release()
}

// newSideWriter dups the fd (the caller holds fdMu with fdOpen true) and starts the side
// writer, which holds the session until it exits.
func (ss *session) newSideWriter() (*adapter.SideWriter, error) {
	fd, err := unix.Dup(ss.fd)
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	s := ss.svc
	ss.holds.Add(1) // the caller's hold or the connection's keeps the count positive here
	sw, err := adapter.StartSideWriter(fd, adapter.Writer{Session: ss, Core: &ss.SessionCore,
		Handler: s.Handler(), Counters: s.Counters(), Queue: &ss.sq, MaxIov: ss.maxIov}, s.Go, ss.release)
	if err != nil {
		ss.release()
		return nil, err
	}
	if !ss.side.CompareAndSwap(nil, sw) {
		sw.Stop()
		return ss.side.Load(), nil
	}
	s.sideWriters.Add(1)
	if ss.Kicked() { // a kick that ran before the CompareAndSwap did not see sw
		sw.Stop()
	}
	return sw, nil
}
