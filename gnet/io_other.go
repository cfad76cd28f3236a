//go:build !windows

package gnet

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	gnetv2 "github.com/panjf2000/gnet/v2"
	gnetio "github.com/panjf2000/gnet/v2/pkg/io"
	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

// platformNote states the adapter's costs where gnet runs its own epoll/kqueue loops (see
// the package doc).
const platformNote = "a partial frame left at the end of a read is copied once more, since gnet reads into one buffer per loop; a backpressured session gets a side writer with one dup fd"

func connFd(c gnetv2.Conn) int { return c.Fd() }

// writeLoop is one gather write from the loop straight from the SendQueue's chunks: writev(2)
// on the connection's fd (https://man7.org/linux/man-pages/man2/writev.2.html). blocked
// reports EAGAIN: the socket's send buffer is full.
func (ss *session) writeLoop(bufs [][]byte) (n int, err error, blocked bool) {
	for {
		n, err = gnetio.Writev(ss.fd, bufs)
		if err != unix.EINTR {
			break
		}
	}
	if n < 0 {
		n = 0
	}
	if err == unix.EAGAIN {
		return n, nil, true
	}
	return n, err, false
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
	sw.signal()
}

// drainAfterEOF runs in OnClose after a peer half-close with sends still queued: the side
// writer (given a dup of the fd before gnet closes its own) writes the queue out and then ends
// the session with KickRecv0. It reports false if it could not start (the caller then ends
// the session at once). After OnClose no loop flush runs for the session, so the side writer
// is the only writer left, whether it already held the role (parked) or the role was pending.
func (ss *session) drainAfterEOF(gnetv2.Conn) bool {
	sw, err := ss.sideWriter()
	if err != nil {
		return false
	}
	ss.svc.drains.Add(1)
	sw.draining.Store(true)
	sw.signal()
	return true
}

// sideWriter owns a dup of the session's fd registered with the Go runtime poller. Given the
// writer role (when the loop's writev would block), it writes the queue out itself, waiting
// for writability in the runtime poller, until the queue is empty; after a peer half-close it
// then ends the session with KickRecv0. It holds a reference on the session, so
// OnDisconnect runs only after it exits.
type sideWriter struct {
	ss       *session
	f        *os.File
	rc       syscall.RawConn
	arm      chan struct{}
	quit     chan struct{}
	once     sync.Once
	draining atomic.Bool
}

// sideWriter returns the session's side writer, starting it on first use (on the loop, while
// the fd is valid).
func (ss *session) sideWriter() (*sideWriter, error) {
	if sw := ss.side.Load(); sw != nil {
		return sw, nil
	}
	fd, err := ss.conn.Dup() // F_DUPFD_CLOEXEC
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "gnet-side") // non-blocking: registered with the runtime poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	sw := &sideWriter{ss: ss, f: f, rc: rc, arm: make(chan struct{}, 1), quit: make(chan struct{})}
	ss.AddRef()
	ss.svc.goroutines.Add(1)
	ss.svc.sideWriters.Add(1)
	ss.side.Store(sw)
	go sw.run()
	if ss.Kicked() { // a Kick that ran before Store did not see sw
		sw.stop()
	}
	return sw, nil
}

func (sw *sideWriter) signal() {
	select {
	case sw.arm <- struct{}{}:
	default:
	}
}

// stop makes run return: it closes quit and fails a pending wait or write at once.
func (sw *sideWriter) stop() {
	sw.once.Do(func() {
		close(sw.quit)
		sw.f.SetWriteDeadline(time.Unix(1, 0))
	})
}

func (sw *sideWriter) run() {
	ss := sw.ss
	s := ss.svc
	defer func() {
		if r := ss.Reason(); r != models.KickRecv0 {
			sw.rc.Control(func(fd uintptr) {
				unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
			})
		}
		sw.f.Close()
		if ss.ReleaseRef() == 0 {
			ss.finalize()
		}
		s.goroutines.Add(-1)
	}()
	for {
		select {
		case <-sw.quit:
			return
		case <-sw.arm:
		}
		if !sw.writeAll() {
			return
		}
		if sw.draining.Load() {
			ss.end(models.KickRecv0)
			return
		}
	}
}

// writeAll writes the queue out through the dup, one writev per turn, waiting for
// writability in the runtime poller when it would block. The first attempt of each turn is
// the write itself (RawWrite resets the poller's readiness before calling it, so a
// readiness edge that came earlier is not waited for). It reports false when the session
// ended.
func (sw *sideWriter) writeAll() bool {
	ss := sw.ss
	s := ss.svc
	var iov [][]byte
	for {
		bufs := ss.sq.Peek(iov[:0], ss.maxIov)
		iov = bufs
		if len(bufs) == 0 {
			if !ss.sq.Advance(0) {
				return !ss.Kicked()
			}
			continue
		}
		var n int
		var werr error
		err := sw.rc.Write(func(fd uintptr) bool {
			n, werr = gnetio.Writev(int(fd), bufs)
			return werr != unix.EAGAIN && werr != unix.EINTR
		})
		clear(iov[:cap(iov)])
		if n < 0 {
			n = 0
		}
		if n > 0 {
			s.counters.Wrote(n)
			s.h.OnSend(ss, n)
		}
		more := ss.sq.Advance(n)
		if err != nil || werr != nil {
			ss.end(models.KickSendError) // no-op if a kick stopped us
			return false
		}
		if !more {
			return !ss.Kicked()
		}
	}
}
