//go:build unix

package adapter

import (
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// platformCallbacks: a side writer runs OnSend (and may end a session).
func platformCallbacks() []any { return []any{(*SideWriter).run} }

// Writer is the part of a session a side writer writes for.
type Writer struct {
	Session  models.Session
	Core     *models.SessionCore
	Handler  models.Handler
	Counters *models.Counters
	Queue    *models.SendQueue
	MaxIov   int
}

// SideWriter owns a dup of a session's socket registered with the Go runtime poller. An
// event-loop library gives the adapter no "writable" callback for a connection whose writes
// it does itself, so when the loop's writev would block the writer's turn moves here: given
// the turn (Signal), it writes the queue out with models Flush, waiting for writability in the
// runtime poller, until the queue is empty; the loop takes the turn back on the next Send.
// After a peer half-close (SetDraining on the session) Flush's last turn ends the session with
// KickRecv0. The unsent bytes stay in the SendQueue, so its bound is exact and nothing is
// copied twice.
type SideWriter struct {
	w    Writer
	f    *os.File
	rc   syscall.RawConn
	arm  chan struct{}
	quit chan struct{}
	once sync.Once
	iov  [][]byte
}

// StartSideWriter takes ownership of dupfd (a close-on-exec dup of the session's socket) and
// runs the side writer with spawn (a goroutine the service counts). done runs when it has
// exited (the caller's hold on the session is released there).
func StartSideWriter(dupfd int, w Writer, spawn func(func()), done func()) (*SideWriter, error) {
	f := os.NewFile(uintptr(dupfd), "side-writer") // non-blocking: registered with the runtime poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	sw := &SideWriter{w: w, f: f, rc: rc, arm: make(chan struct{}, 1), quit: make(chan struct{}),
		iov: make([][]byte, 0, w.MaxIov)}
	spawn(func() {
		defer done()
		sw.run()
	})
	return sw, nil
}

// Signal gives the side writer the writer's turn.
func (sw *SideWriter) Signal() {
	select {
	case sw.arm <- struct{}{}:
	default:
	}
}

// Stop makes the side writer exit: a pending wait for writability fails at once.
func (sw *SideWriter) Stop() {
	sw.once.Do(func() {
		close(sw.quit)
		sw.f.SetWriteDeadline(time.Unix(1, 0))
	})
}

func (sw *SideWriter) run() {
	w := sw.w
	defer func() {
		if w.Core.Reason() != models.KickRecv0 {
			sw.rc.Control(func(fd uintptr) { sock.SetAbortive(int(fd)) })
		}
		sw.f.Close()
	}()
	for {
		select {
		case <-sw.quit:
			return
		case <-sw.arm:
		}
		for {
			switch w.Core.Flush(w.Session, w.Handler, w.Counters, w.Queue, sw.iov, sw.write) {
			case models.FlushKicked:
				return
			case models.FlushBlocked:
				continue // a short write: the next writev waits for writability
			}
			break
		}
	}
}

// write is one writev on the dup; the runtime poller waits while it would block.
func (sw *SideWriter) write(bufs [][]byte) (int, bool, error) {
	var n int
	var werr error
	err := sw.rc.Write(func(fd uintptr) bool {
		n, werr = unix.Writev(int(fd), bufs)
		return werr != unix.EAGAIN && werr != unix.EINTR
	})
	if err == nil {
		err = werr
	}
	return max(n, 0), false, err
}
