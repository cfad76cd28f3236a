//go:build !windows

package gnet

import (
	gnetv2 "github.com/panjf2000/gnet/v2"
	gnetio "github.com/panjf2000/gnet/v2/pkg/io"
	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/adapter"
	"github.com/iobench/iobench/models"
)

// platformNote states the adapter's costs where gnet runs its own epoll/kqueue loops (see
// the package doc).
const platformNote = "a partial frame left at the end of a read is copied once more, since gnet reads into one buffer per loop; a backpressured session gets a side writer with one dup fd"

func connFd(c gnetv2.Conn) int { return c.Fd() }

// write is the loop's models.GatherWriter: writev(2) on the connection's fd straight from the
// SendQueue's chunks (https://man7.org/linux/man-pages/man2/writev.2.html). blocked reports
// EAGAIN: the socket's send buffer is full.
func (ss *session) write(bufs [][]byte) (int, bool, error) {
	for {
		n, err := gnetio.Writev(ss.fd, bufs)
		switch err {
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return max(n, 0), true, nil
		}
		return max(n, 0), false, err
	}
}

// park hands the writer role to the side writer, which waits for writability and writes
// the rest of the queue itself.
func (ss *session) park() {
	sw, err := ss.sideWriter()
	if err != nil {
		ss.Kick(models.KickSendError)
		return
	}
	ss.parked = true
	sw.Signal()
}

// drainAfterEOF runs in OnClose after a peer half-close (the session is draining) with sends
// still queued: the side writer (given a dup of the fd before gnet closes its own) writes the
// queue out, and its last turn ends the session with KickRecv0 (models WriterDone). It
// reports false if it could not start (the caller then ends the session at once). After
// OnClose no loop flush runs for the session, so the side writer is the only writer left,
// whether it already held the role (parked) or the role was pending.
func (ss *session) drainAfterEOF(gnetv2.Conn) bool {
	sw, err := ss.sideWriter()
	if err != nil {
		return false
	}
	ss.svc.drains.Add(1)
	sw.Signal()
	return true
}

// sideWriter is internal/adapter's: a dup of the session's fd on the Go runtime poller.
type sideWriter = adapter.SideWriter

// sideWriter returns the session's side writer, starting it on first use (on the loop, while
// the fd is valid). It holds a reference on the session, so OnDisconnect runs only after it
// exits.
func (ss *session) sideWriter() (*sideWriter, error) {
	if sw := ss.side.Load(); sw != nil {
		return sw, nil
	}
	fd, err := ss.conn.Dup() // F_DUPFD_CLOEXEC
	if err != nil {
		return nil, err
	}
	s := ss.svc
	ss.AddRef()
	sw, err := adapter.StartSideWriter(fd, adapter.Writer{Session: ss, Core: &ss.SessionCore,
		Handler: s.Handler(), Counters: s.Counters(), Queue: &ss.sq, MaxIov: ss.maxIov}, s.Go, ss.release)
	if err != nil {
		ss.release()
		return nil, err
	}
	s.sideWriters.Add(1)
	ss.side.Store(sw)
	if ss.Kicked() { // a Kick that ran before Store did not see sw
		sw.Stop()
	}
	return sw, nil
}
