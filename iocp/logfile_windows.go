package iocp

import (
	"errors"
	"fmt"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/winsock"
	"github.com/iobench/iobench/models"
)

// The engine's own log writer (models.FileWriter), the seed's FILE_WRITE io type: a log
// file's batches are written with overlapped WriteFile on a handle associated with one loop's
// completion port, and their completions are dispatched by that loop like any socket's. See
// WriteFile, CreateIoCompletionPort and "Synchronous and Asynchronous I/O" on
// learn.microsoft.com, and the top of models/logfile.go.
//
//   - CreateFile(FILE_APPEND_DATA, FILE_FLAG_OVERLAPPED, OPEN_ALWAYS); every WriteFile's
//     OVERLAPPED has Offset and OffsetHigh 0xFFFFFFFF: write at the end of the file.
//   - The batch buffers and the per-file operation (windows.Overlapped first) are one
//     VirtualAlloc region outside the Go heap: the kernel reads a buffer, and writes the
//     OVERLAPPED, while the write is in flight.
//   - The handle is NOT put in FILE_SKIP_COMPLETION_PORT_ON_SUCCESS mode, so a WriteFile that
//     completes synchronously (NTFS completes file-extending writes so) still queues its
//     packet: every write, synchronous or not, completes through the port in one path.
//   - The queue's wake and the FlushInterval timer (time.AfterFunc) post a packet with the
//     log's key; the loop that dequeues it takes the next batch (LogQueue.Next).
//
// One write is in flight per file, so lines land in the order they were appended.

var _ models.FileWriter = (*Engine)(nil)

// Log packets: kindLog keys carry the log's id in the slot field and what happened in the
// generation field.
const (
	logWake  = 1 // look at the queue (wake, or the flush timer)
	logWrite = 2 // the write completed (the packet carries its OVERLAPPED)
)

// logOp is the per-file operation in the VirtualAlloc region: Overlapped first.
type logOp struct {
	ov windows.Overlapped
}

// OpenLog opens path for appending with its writes on one of the engine's ports. The log's
// Close must be called before the engine's, and not from a loop.
func (e *Engine) OpenLog(path string, opt models.LogOptions) (models.LogFile, error) {
	opt, err := opt.WithDefaults()
	if err != nil {
		return nil, err
	}
	p, err := windows.UTF16PtrFromString(path)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	h, err := windows.CreateFile(p, windows.FILE_APPEND_DATA, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil,
		windows.OPEN_ALWAYS, windows.FILE_ATTRIBUTE_NORMAL|windows.FILE_FLAG_OVERLAPPED, 0)
	if err != nil {
		return nil, fmt.Errorf("log: open %s: %w", path, err)
	}
	lf := &portLog{eng: e, h: h, size: opt.BatchBytes, done: make(chan struct{})}
	hdr := (unsafe.Sizeof(logOp{}) + 63) &^ 63
	n := uintptr(opt.Batches+2) * uintptr(opt.BatchBytes)
	if lf.mem, err = winsock.VirtualAlloc(hdr + n); err != nil {
		windows.CloseHandle(h)
		return nil, models.WrapOp(Name, "VirtualAlloc log buffers", err)
	}
	lf.op = (*logOp)(lf.mem)
	lf.bufs = unsafe.Slice((*byte)(unsafe.Add(lf.mem, hdr)), n)
	if lf.q, err = models.NewLogQueue(opt, lf.alloc, lf.wake); err != nil {
		lf.release()
		return nil, err
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		lf.release()
		return nil, models.ErrClosed
	}
	if e.logs == nil {
		e.logs = map[int]*portLog{}
	}
	e.nextLog++
	lf.id = e.nextLog % maxSlots
	e.logs[lf.id] = lf
	e.mu.Unlock()
	lf.loop = e.loops[lf.id%len(e.loops)]
	if _, err := windows.CreateIoCompletionPort(h, lf.loop.port, makeKey(kindLog, 0, logWrite, lf.id), 0); err != nil {
		e.dropLog(lf.id)
		lf.release()
		return nil, models.WrapOp(Name, "CreateIoCompletionPort log", err)
	}
	lf.wake() // the loop's first Next marks the writer idle, so the first line wakes it
	return lf, nil
}

func (e *Engine) dropLog(id int) {
	e.mu.Lock()
	delete(e.logs, id)
	e.mu.Unlock()
}

// logCompleted dispatches a kindLog packet (the loop's dispatch calls it).
func (l *loop) logCompleted(what uint32, id int, c completion) {
	l.eng.mu.Lock()
	lf := l.eng.logs[id]
	l.eng.mu.Unlock()
	if lf == nil {
		return // a wake-up for a log closed since
	}
	switch what {
	case logWake:
		lf.pump()
	case logWrite:
		var err error
		if c.status != 0 {
			err = windows.NTStatus(c.status).Errno()
		}
		lf.written(int(c.n), err)
	}
}

// portLog is a LogFile written on a completion port. Fields below "loop-owned" are touched
// only by its loop's thread (and by Close once that loop is gone).
type portLog struct {
	eng  *Engine
	loop *loop
	id   int
	h    windows.Handle
	q    *models.LogQueue
	mem  unsafe.Pointer // VirtualAlloc: the operation, then the batch buffers
	op   *logOp
	bufs []byte
	size int
	next int // buffers handed out by alloc (under the queue's lock)

	timerMu    sync.Mutex
	timerArmed bool

	// loop-owned
	out       *models.LogBatch
	finished  bool
	signalled bool

	done      chan struct{}
	closeOnce sync.Once
	closeSt   models.LogStats
	closeErr  error
}

var _ models.LogFile = (*portLog)(nil)

// alloc hands out the next batch buffer of the region (the queue allocates at most
// Batches+2, each once), capacity limited to it.
func (lf *portLog) alloc(n int) []byte {
	off := lf.next * lf.size
	lf.next++
	if n != lf.size || off+n > len(lf.bufs) {
		panic("iocp: log buffer beyond its region")
	}
	return lf.bufs[off : off+n : off+n]
}

// wake posts the log's wake packet to its loop's port.
func (lf *portLog) wake() { lf.loop.post(makeKey(kindLog, 0, logWake, lf.id)) }

// pump, on the loop, issues the next batch's write when none is in flight, or sets the flush
// timer for a partial batch.
func (lf *portLog) pump() {
	if lf.out != nil || lf.finished {
		return
	}
	b, wait, done := lf.q.Next(time.Now())
	switch {
	case done:
		lf.finished = true
		lf.signalled = true
		close(lf.done)
	case b != nil:
		lf.out = b
		lf.issue()
	case wait > 0:
		lf.timerMu.Lock()
		if !lf.timerArmed {
			lf.timerArmed = true
			time.AfterFunc(wait, func() {
				lf.timerMu.Lock()
				lf.timerArmed = false
				lf.timerMu.Unlock()
				lf.wake()
			})
		}
		lf.timerMu.Unlock()
	}
}

// issue starts the overlapped write of what is left of lf.out. A synchronous success, like
// ERROR_IO_PENDING, is followed by the completion packet; any other error completes it here.
func (lf *portLog) issue() {
	lf.op.ov = windows.Overlapped{Offset: 0xFFFFFFFF, OffsetHigh: 0xFFFFFFFF}
	err := windows.WriteFile(lf.h, lf.out.Bytes, nil, &lf.op.ov)
	if err == nil || err == windows.ERROR_IO_PENDING {
		return
	}
	lf.written(0, err)
}

// written is a write's outcome: Done, then the rest of a short write or the next batch.
func (lf *portLog) written(n int, err error) {
	if lf.out == nil {
		return
	}
	if lf.q.Done(lf.out, n, err) {
		lf.issue()
		return
	}
	lf.out = nil
	lf.pump()
}

func (lf *portLog) release() error {
	var err error
	if lf.h != 0 {
		err = windows.CloseHandle(lf.h)
		lf.h = 0
	}
	if lf.mem != nil {
		winsock.VirtualFree(lf.mem)
		lf.mem = nil
	}
	return err
}

func (lf *portLog) Append(p []byte) bool { return lf.q.Append(p) }

func (lf *portLog) Stats() models.LogStats { return lf.q.Stats() }

// errEngineClosed drops what a log still held when its engine was closed first.
var errEngineClosed = errors.New("iocp: the engine was closed before the log")

// Close writes out the queue on the loop, waits for the last write's packet, closes the file
// and frees the region. Were the engine closed first, what is still queued is dropped and
// counted (no loop is left to complete a write).
func (lf *portLog) Close() (models.LogStats, error) {
	if lf.eng.inside.Current() {
		return lf.q.Stats(), fmt.Errorf("%w: iocp log Close on the engine's loop would wait for itself", models.ErrBadConfig)
	}
	lf.closeOnce.Do(func() {
		lf.q.Close()
		lf.wake()
		select {
		case <-lf.done:
		case <-lf.loop.done:
			if lf.out != nil {
				// The loop quit with the write in flight: wait for the kernel, then count it.
				var n uint32
				err := windows.GetOverlappedResult(lf.h, &lf.op.ov, &n, true)
				if lf.q.Done(lf.out, int(n), err) {
					lf.q.Done(lf.out, 0, errEngineClosed)
				}
				lf.out = nil
			}
			for {
				b, _, done := lf.q.Next(time.Now())
				if done || b == nil {
					break
				}
				lf.q.Done(b, 0, errEngineClosed)
			}
		}
		lf.eng.dropLog(lf.id)
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
