package gnet

import gnetv2 "github.com/panjf2000/gnet/v2"

// platformNote marks gnet's Windows build: it has no event loop of its own there.
const platformNote = "development mode on Windows: gnet runs over Go net (a reader goroutine per connection, blocking writes on the loop), not an I/O model of its own"

// connFd is unused on Windows (writes go through gnet's Conn).
func connFd(gnetv2.Conn) int { return -1 }

// writeLoop on Windows is gnet's Conn.Writev: a blocking Go net write of the buffers, which
// gnet concatenates into one pooled buffer first (an extra copy: development mode only).
func (ss *session) writeLoop(bufs [][]byte) (n int, err error, blocked bool) {
	n, err = ss.conn.Writev(bufs)
	return n, err, false
}

// park is unreachable on Windows (writes block instead of returning EAGAIN); flushing again
// is the safe answer.
func (ss *session) park() {
	ss.needFlush.Store(true)
}

// drainAfterEOF writes the queue out synchronously in OnClose (gnet closes the Go net conn
// after OnClose returns); the caller then ends the session with KickRecv0.
func (ss *session) drainAfterEOF(c gnetv2.Conn) bool {
	ss.svc.drains.Add(1)
	ss.inLoop.Store(true)
	ss.parked = false
	ss.flush()
	ss.inLoop.Store(false)
	return false
}

// sideWriter is not used on Windows.
type sideWriter struct{}

func (*sideWriter) stop() {}
