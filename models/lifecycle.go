package models

import (
	"errors"
	"io"
)

// The receive rule and the writer's turn, written once for every backend. A backend reads
// (or is handed received bytes), calls Recv / Received / ReceivedFrom, PeerClosed and
// RecvFailed; a backend that writes in place calls Flush; a proactor that issues one gather
// write and completes it later (IOCP, RIO, io_uring) calls Wrote on the completion and
// WriterDone when its turn ends. Kicks go through the backend's own Session.Kick, so each
// backend's way of waking its loop stays its own.

// Recv is the whole receive rule for one read into rb.Free() that returned (n, err):
//
//  1. n > 0: the bytes are committed, counted and delivered (Received);
//  2. then end of stream (err is io.EOF, or n == 0 with no error, read(2)'s EOF): the peer
//     half-closed (PeerClosed: drain what is queued, then KickRecv0);
//  3. any other error: KickRecvError (RecvFailed).
//
// It reports whether the backend should read again: false once the session is kicked or the
// peer half-closed.
func (c *SessionCore) Recv(s Session, h Handler, cnt *Counters, rb *RecvBuffer, q *SendQueue, n int, err error) bool {
	if n > 0 && !c.Received(s, h, cnt, rb, n) {
		return false
	}
	switch {
	case err == nil && n > 0:
		return true
	case err == nil || errors.Is(err, io.EOF):
		c.PeerClosed(s, q)
	default:
		c.RecvFailed(s)
	}
	return false
}

// Received is the receive rule for n > 0 bytes a read wrote into the slice rb.Free()
// returned: commit, count, then RecvBuffer.Deliver (OnRecv; a bad consumed count kicks with
// KickPacketError, a full buffer with nothing consumed with KickRecvBufferOverFull). It
// reports whether the session is still open (not kicked, by the rule or by the callback).
func (c *SessionCore) Received(s Session, h Handler, cnt *Counters, rb *RecvBuffer, n int) bool {
	rb.Commit(n)
	cnt.Read(n)
	if k := rb.Deliver(h, s); k != KickNone {
		s.Kick(k)
		return false
	}
	return !c.Kicked()
}

// ReceivedFrom is the receive rule for bytes that arrived in memory the backend owns (a
// provided buffer, an event loop's read buffer): it counts them and delivers them with
// RecvBuffer.DeliverFrom, which uses rb only while a partial frame is pending. It reports
// whether the session is still open.
func (c *SessionCore) ReceivedFrom(s Session, h Handler, cnt *Counters, rb *RecvBuffer, data []byte) bool {
	cnt.Read(len(data))
	if k := rb.DeliverFrom(h, s, data); k != KickNone {
		s.Kick(k)
		return false
	}
	return !c.Kicked()
}

// PeerClosed is the end-of-stream rule (the contract's graceful half-close): the session
// reads no more; with nothing queued it is kicked with KickRecv0 at once, otherwise it stays
// open while the writer drains the queue, and the writer's WriterDone ends it. It reports
// whether a drain is under way (the backend keeps or starts its writer then).
func (c *SessionCore) PeerClosed(s Session, q *SendQueue) (drain bool) {
	c.draining.Store(true)
	if q.Idle() {
		s.Kick(KickRecv0)
		return false
	}
	// The writer may have ended its turn between Idle and the store above: look again.
	return !c.WriterDone(s, q)
}

// SetDraining records the peer's half-close for a backend whose writes leave the SendQueue
// before they complete (RIO copies them into registered send parts), so the queue's Idle
// cannot tell the drain is over: it stops reading and ends the drain itself, with KickRecv0,
// once its own sends in flight are done.
func (c *SessionCore) SetDraining() { c.draining.Store(true) }

// Draining reports that the peer half-closed (PeerClosed ran for this connection).
func (c *SessionCore) Draining() bool { return c.draining.Load() }

// RecvFailed is the rule for a failed read: KickRecvError. (A backend that tells a broken
// completion mechanism from a failed read kicks with KickIOError first; the first reason
// wins.)
func (c *SessionCore) RecvFailed(s Session) { s.Kick(KickRecvError) }

// WriterDone is called when a writer's turn ended with the queue written (Advance returned
// false). A draining session is then complete and is kicked with KickRecv0. It reports
// whether it kicked.
func (c *SessionCore) WriterDone(s Session, q *SendQueue) bool {
	if c.draining.Load() && q.Idle() && !c.Kicked() {
		s.Kick(KickRecv0)
		return true
	}
	return false
}

// Wrote is the completion half of one gather write of n bytes: count, OnSend, Advance. It
// reports whether more is queued (the writer's turn goes on); when it returns false the turn
// is over and WriterDone has run.
func (c *SessionCore) Wrote(s Session, h Handler, cnt *Counters, q *SendQueue, n int) (more bool) {
	if n > 0 {
		cnt.Wrote(n)
		h.OnSend(s, n)
	}
	if q.Advance(n) {
		return true
	}
	c.WriterDone(s, q)
	return false
}

// GatherWriter writes bufs with one gather write (writev(2), net.Buffers, WSASend with
// several WSABUFs) and returns the bytes written. blocked reports that the socket's send
// buffer is full (EAGAIN): the rest must wait for writability.
type GatherWriter func(bufs [][]byte) (n int, blocked bool, err error)

// FlushResult says how a writer's turn went.
type FlushResult uint8

const (
	// FlushDone: the queue is written and the writer's turn is over.
	FlushDone FlushResult = iota
	// FlushBlocked: the socket would block (EAGAIN or a short write). The caller keeps the
	// writer's turn and calls Flush again once the socket is writable.
	FlushBlocked
	// FlushKicked: the session is kicked (the write failed, a callback kicked it, or a drain
	// completed with KickRecv0): the caller closes it.
	FlushKicked
)

// Flush is the writer's turn of a backend that writes in place, synchronously: Peek at most
// cap(iov) views of the queue into iov, one gather write, then Wrote (count, OnSend, Advance),
// until the queue is empty, the socket would block or the session is kicked. A failed write
// kicks with KickSendError. iov is the caller's reusable array; its views are cleared after
// each write so no chunk outlives its Advance.
func (c *SessionCore) Flush(s Session, h Handler, cnt *Counters, q *SendQueue, iov [][]byte, write GatherWriter) FlushResult {
	for {
		bufs := q.Peek(iov[:0], cap(iov))
		if len(bufs) == 0 {
			if q.Advance(0) {
				continue
			}
			break
		}
		total := 0
		for _, b := range bufs {
			total += len(b)
		}
		n, blocked, err := write(bufs)
		clear(bufs)
		more := c.Wrote(s, h, cnt, q, n)
		if err != nil {
			s.Kick(KickSendError)
			return FlushKicked
		}
		if c.Kicked() {
			return FlushKicked
		}
		if !more {
			return FlushDone
		}
		if blocked || n < total {
			return FlushBlocked
		}
	}
	if c.WriterDone(s, q) || c.Kicked() {
		return FlushKicked
	}
	return FlushDone
}
