package gnet

import (
	"net"
	"sync/atomic"

	gnetv2 "github.com/panjf2000/gnet/v2"

	"github.com/iobench/iobench/models"
)

// session is one pooled connection.
type session struct {
	models.SessionCore
	svc  *service
	slot int

	// Set by open on the session's loop before OnConnect; read-only until the next open.
	conn   gnetv2.Conn
	fd     int
	maxIov int
	writev models.GatherWriter // ss.write, bound once

	rb models.RecvBuffer // partial frames only (models.RecvBuffer.DeliverFrom)
	sq models.SendQueue

	// inLoop is true while the session's loop runs a callback of this session; needFlush is
	// true when the writer role is pending (a Push returned start, or the side goroutine saw
	// the socket writable) and the loop must run flush. See requestFlush.
	inLoop    atomic.Bool
	needFlush atomic.Bool
	connOpen  atomic.Bool
	parked    bool     // loop only: the side writer holds the writer role
	iov       [][]byte // loop only
	side      atomic.Pointer[sideWriter]
}

var _ models.Session = (*session)(nil)

func (ss *session) open(c gnetv2.Conn, local net.Addr, cfg models.Config) {
	if ss.rb.Cap() != cfg.RecvBufferSize {
		ss.rb.Init(make([]byte, cfg.RecvBufferSize))
	}
	if cap(ss.iov) != cfg.MaxGather {
		ss.iov = make([][]byte, 0, cfg.MaxGather)
	}
	ss.rb.Reset()
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.conn = c
	ss.fd = connFd(c)
	ss.maxIov = cfg.MaxGather
	ss.parked = false
	ss.needFlush.Store(false)
	ss.side.Store(nil)
	ss.connOpen.Store(true)
	ss.Open(local, c.RemoteAddr())
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

// requestFlush hands the writer role to the session's loop. If the loop is inside a callback
// of this session it sees needFlush when the callback returns (endCallbacks stores inLoop
// false before it swaps needFlush, and this stores needFlush before it loads inLoop, so one of
// the two sees the other); otherwise the loop is woken.
func (ss *session) requestFlush() {
	ss.needFlush.Store(true)
	if !ss.inLoop.Load() {
		ss.wake()
	}
}

func (ss *session) wake() {
	if ss.connOpen.Load() {
		ss.conn.Wake(nil) // an error means the loop is gone: the session is ending anyway
	}
}

// Kick implements models.Session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.end(r) {
		return
	}
	if !ss.inLoop.Load() {
		ss.wake() // OnTraffic sees Kicked and closes on the loop
	}
}

// end records r as the session's reason if none was, refuses further sends and stops the
// side writer. It reports whether this call recorded the reason.
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

// endCallbacks runs on the loop after the session's callbacks: it runs pending flushes and
// closes a kicked session.
func (ss *session) endCallbacks(c gnetv2.Conn) gnetv2.Action {
	for {
		ss.inLoop.Store(false)
		if ss.Kicked() {
			return ss.closeAction(c)
		}
		if !ss.needFlush.Swap(false) {
			return gnetv2.None
		}
		ss.inLoop.Store(true)
		ss.parked = false
		ss.flush()
	}
}

// closeAction closes a kicked session from its loop: abortively (SO_LINGER 0, queued data
// dropped) unless the peer half-closed.
func (ss *session) closeAction(c gnetv2.Conn) gnetv2.Action {
	if ss.Reason() != models.KickRecv0 {
		_ = c.SetLinger(0)
	}
	return gnetv2.Close
}

// flush is the writer's turn from the loop (models Flush: one gather write per turn straight
// from the SendQueue) until the queue is empty, the socket would block (then the side writer
// takes the turn) or the write fails.
func (ss *session) flush() {
	if ss.parked {
		return
	}
	s := ss.svc
	if ss.Flush(ss, s.Handler(), s.Counters(), &ss.sq, ss.iov, ss.writev) == models.FlushBlocked {
		ss.park()
	}
}

// release drops a reference on the session; the last one (the connection's, at OnClose, or
// the side writer's) ends it.
func (ss *session) release() {
	if ss.ReleaseRef() == 0 {
		ss.finalize()
	}
}

// finalize runs once the connection and the side writer are done with the session: the
// models end of a session, then the session's hold on the service goes.
func (ss *session) finalize() {
	s := ss.svc
	s.EndSession(ss, &ss.SessionCore, &ss.sq, ss.slot)
	s.Release()
}
