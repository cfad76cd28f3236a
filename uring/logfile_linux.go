package uring

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

// The engine's own log writer (models.FileWriter), the seed's FILE_WRITE io type on a ring:
// a log file's batches are written by IORING_OP_WRITE on one loop's ring, completed by that
// loop like any socket request, so no thread of the engine ever waits for the disk (buffered
// writes that would block are punted by the kernel to its io-wq workers). See
// io_uring_prep_write(3), io_uring_prep_timeout(3) and the top of models/logfile.go.
//
//   - The file is opened O_WRONLY|O_APPEND|O_CREAT; every write has offset -1 (the file
//     position, which O_APPEND keeps at the end: IORING_FEAT_RW_CUR_POS, Linux 5.6).
//   - The batch buffers (the queue's Batches+2) are one anonymous mmap outside the Go heap,
//     because the kernel reads a buffer for as long as its write is in flight.
//   - The queue's wake posts a job to the loop (the loop's eventfd wake-up); the loop then
//     takes the next batch (LogQueue.Next) and submits its write. Its CQE goes to
//     LogQueue.Done; a short write is resubmitted from where it stopped.
//   - A partial batch's FlushInterval is an IORING_OP_TIMEOUT on the same ring, its
//     timespec in mmapped memory too.
//
// One write is in flight per file, so lines land in the order they were appended.

var _ models.FileWriter = (*Engine)(nil)

// OpenLog opens path for appending (mode 0644) with its writes on one of the engine's rings.
// The log's Close must be called before the engine's, and not from a loop (a callback or a
// Post job): it waits for the loop to write out the queue.
func (e *Engine) OpenLog(path string, opt models.LogOptions) (models.LogFile, error) {
	opt, err := opt.WithDefaults()
	if err != nil {
		return nil, err
	}
	e.mu.RLock()
	closed := e.closed
	e.mu.RUnlock()
	if closed {
		return nil, models.ErrClosed
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	lf := &ringLog{eng: e, loop: e.pickLoop(), fd: fd, size: opt.BatchBytes, done: make(chan struct{})}
	page := unix.Getpagesize()
	n := (opt.Batches + 2) * opt.BatchBytes
	if lf.mem, err = unix.Mmap(-1, 0, n+page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		unix.Close(fd)
		return nil, models.WrapOp(Name, "mmap log buffers", err)
	}
	lf.ts = (*kernelTimespec)(unsafe.Pointer(&lf.mem[n]))
	if lf.q, err = models.NewLogQueue(opt, lf.alloc, lf.wake); err != nil {
		lf.release()
		return nil, err
	}
	lf.wake() // the loop's first Next marks the writer idle, so the first line wakes it
	return lf, nil
}

// ringLog is a LogFile written on a ring. Fields below "loop-owned" are touched only on the
// loop's thread (and by Close once the loop is gone).
type ringLog struct {
	eng  *Engine
	loop *loop
	fd   int
	q    *models.LogQueue
	mem  []byte // mmapped: the batch buffers, then the timeout's timespec
	size int    // one batch buffer
	ts   *kernelTimespec
	next int // buffers handed out by alloc (under the queue's lock)

	// loop-owned
	out        *models.LogBatch // the batch whose write is in flight
	timerArmed bool
	timerUD    uint64
	finished   bool // the queue said done: no more writes
	signalled  bool // done closed

	done      chan struct{}
	closeOnce sync.Once
	closeSt   models.LogStats
	closeErr  error
}

var _ models.LogFile = (*ringLog)(nil)

// alloc hands out the next batch buffer of the mapping (the queue allocates at most
// Batches+2, each once); its capacity is the buffer, so an append never leaves the mapping.
func (lf *ringLog) alloc(n int) []byte {
	i := lf.next
	lf.next++
	off := i * lf.size
	if n != lf.size || off+n > len(lf.mem)-unix.Getpagesize() {
		panic("uring: log buffer beyond its mapping")
	}
	return lf.mem[off : off+n : off+n]
}

// wake asks the loop to look at the queue: the loop's own eventfd wake-up.
func (lf *ringLog) wake() { lf.loop.post(msg{kind: mJob, job: lf.pump}) }

// pump, on the loop, submits the next batch's write when none is in flight, or arms the
// flush timer for a partial batch.
func (lf *ringLog) pump() {
	if lf.out != nil || lf.finished {
		return
	}
	b, wait, done := lf.q.Next(time.Now())
	switch {
	case done:
		lf.finished = true
		if lf.timerArmed {
			lf.loop.cancelUserData(lf.timerUD)
		}
		lf.maybeDone()
	case b != nil:
		lf.out = b
		lf.submit()
	case wait > 0 && !lf.timerArmed && !lf.loop.stopping:
		// (A stopping loop arms nothing new: it ends once its requests have, and Close
		// writes out the rest.)
		lf.armTimer(wait)
	}
}

// submit queues the write of what is left of lf.out.
func (lf *ringLog) submit() {
	l := lf.loop
	idx, rec := l.newOp(opLogWrite)
	rec.lf = lf
	s := l.sqe()
	s.opcode = opcWrite
	s.fd = int32(lf.fd)
	s.off = ^uint64(0) // -1: at the file position, the end under O_APPEND
	s.addr = uint64(uintptr(unsafe.Pointer(&lf.out.Bytes[0])))
	s.len = uint32(len(lf.out.Bytes))
	s.userData = userData(opLogWrite, rec.gen, idx)
}

func (lf *ringLog) armTimer(d time.Duration) {
	l := lf.loop
	lf.ts.sec, lf.ts.nsec = int64(d/time.Second), int64(d%time.Second)
	idx, rec := l.newOp(opLogTimer)
	rec.lf = lf
	lf.timerUD = userData(opLogTimer, rec.gen, idx)
	lf.timerArmed = true
	s := l.sqe()
	s.opcode = opcTimeout
	s.fd = -1
	s.addr = uint64(uintptr(unsafe.Pointer(lf.ts)))
	s.len = 1
	s.off = 0 // a pure timeout: no completion count
	s.userData = lf.timerUD
}

// completed handles a CQE of the log (the loop's dispatch calls it).
func (lf *ringLog) completed(kind uint8, res int32) {
	switch kind {
	case opLogTimer: // -ETIME when it fired, -ECANCELED when cancelled
		lf.timerArmed = false
		if lf.finished {
			lf.maybeDone()
			return
		}
		lf.pump()
	case opLogWrite:
		n, err := int(res), error(nil)
		if res < 0 {
			n, err = 0, unix.Errno(-res)
			if err == unix.EINTR {
				lf.submit()
				return
			}
		}
		if lf.q.Done(lf.out, n, err) {
			lf.submit() // short write: the rest
			return
		}
		lf.out = nil
		lf.pump()
	}
}

func (lf *ringLog) maybeDone() {
	if lf.finished && !lf.timerArmed && lf.out == nil && !lf.signalled {
		lf.signalled = true
		close(lf.done)
	}
}

// drainSync writes out the queue with write(2) on the caller's goroutine: the loop is gone
// (the engine was closed before the log), so no request of the log is in flight.
func (lf *ringLog) drainSync() {
	for {
		b, _, done := lf.q.Next(time.Now())
		if done || b == nil {
			return
		}
		n, err := unix.Write(lf.fd, b.Bytes)
		for lf.q.Done(b, n, err) {
			n, err = unix.Write(lf.fd, b.Bytes)
		}
	}
}

func (lf *ringLog) release() error {
	err := unix.Close(lf.fd)
	if lf.mem != nil {
		unix.Munmap(lf.mem)
		lf.mem = nil
	}
	return err
}

func (lf *ringLog) Append(p []byte) bool { return lf.q.Append(p) }

func (lf *ringLog) Stats() models.LogStats { return lf.q.Stats() }

// Close writes out the queue on the loop, waits for the last write, closes the file and
// unmaps the buffers.
func (lf *ringLog) Close() (models.LogStats, error) {
	if lf.eng.onLoop() {
		return lf.q.Stats(), fmt.Errorf("%w: uring log Close on the engine's loop would wait for itself", models.ErrBadConfig)
	}
	lf.closeOnce.Do(func() {
		lf.q.Close()
		lf.wake() // the writer may be between batches without waiting for a wake
		select {
		case <-lf.done:
		case <-lf.loop.done:
			lf.drainSync()
		}
		var cerr error
		if err := lf.release(); err != nil {
			cerr = fmt.Errorf("log close: %w", err)
		}
		if werr := lf.q.Err(); werr != nil {
			cerr = errors.Join(fmt.Errorf("log write: %w", werr), cerr)
		}
		lf.closeSt, lf.closeErr = lf.q.Stats(), cerr
	})
	return lf.closeSt, lf.closeErr
}
