package models

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// The seed's engine writes its log through its completion port (io type FILE_WRITE), so the
// threads that serve the network never wait for the disk. This file is that contract:
//
//   - An app appends lines to a LogFile. Append copies the line into the current batch and
//     returns at once; it never waits for a write.
//   - Lines are grouped into batches of up to LogOptions.BatchBytes; each batch goes to the
//     disk with one write (group commit). A batch is written when it is full, when its first
//     line is FlushInterval old, or at Close.
//   - At most LogOptions.Batches full batches wait behind the one being written. When the disk
//     cannot keep up and that queue is full, Append drops the line and counts it (LogStats);
//     it never blocks the network path and never grows without bound.
//
// Every implementation runs on LogQueue, which holds the batching, the bound, the drop rule and
// the counters; an implementation only supplies the completion mechanism (who calls write and
// when). So, as with SendQueue, no backend gets a cheaper or dearer log than another: only the
// way the write completes differs.
//
// An Engine may implement FileWriter to complete log writes on its own loop. OpenLog uses it
// where it exists and otherwise the default, NewLogWriter's writer goroutine: one goroutine per
// log file doing write(2) (WriteFile on Windows) through os.File, woken by the queue.
//
// # How the native backends implement FileWriter (uring/logfile_linux.go, iocp/logfile_windows.go)
//
// uring: OpenLog opens the file O_WRONLY|O_APPEND|O_CREAT (or registers it with
// IORING_REGISTER_FILES) and builds a LogQueue whose alloc maps its batch buffers outside the
// Go heap (mmap), because the kernel reads a buffer for as long as its write is in flight. The
// queue's wake posts to the loop that owns the file (IORING_OP_MSG_RING, or the eventfd the
// loop already polls). That loop, whenever it has no write in flight, calls Next and submits
// one IORING_OP_WRITE (io_uring_prep_write, offset -1: the file position, i.e. append) for the
// batch; its CQE (res = bytes or -errno) goes to Done, and a short write is resubmitted from
// where it stopped. A partial batch's FlushInterval is an IORING_OP_TIMEOUT on the same ring.
// Buffered writes that would block are punted by the kernel to io-wq workers, so the ring's
// loop never sleeps on the disk. See io_uring_prep_write(3) and io_uring_enter(2).
//
// iocp: OpenLog opens the file with CreateFile(FILE_APPEND_DATA, FILE_FLAG_OVERLAPPED) and
// associates the handle with the engine's completion port (CreateIoCompletionPort) under a
// completion key of its own, batch buffers outside the Go heap (VirtualAlloc) as for WSASend.
// wake is a PostQueuedCompletionStatus of a JOB packet; the completion thread that takes it
// calls Next and issues WriteFile with an OVERLAPPED of io type FILE_WRITE whose Offset and
// OffsetHigh are 0xFFFFFFFF (write at end of file). GetQueuedCompletionStatusEx returns that
// packet like any socket completion and the dispatcher passes it to Done. Note that NTFS
// completes file-extending writes synchronously ("Asynchronous disk I/O appears as
// synchronous on Windows"): WriteFile may then return TRUE at once (with
// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS no packet follows), so the completion thread can stay
// in WriteFile for the disk's time; the measurement will show whether that matters. See
// WriteFile and "Synchronous and Asynchronous I/O" on learn.microsoft.com.
//
// Both keep one write in flight per file, as the default writer does, so lines land in the
// order they were appended.

// FileWriter is the optional interface of an Engine that completes log writes itself
// (io_uring writes on its ring, overlapped WriteFile on its completion port). Use OpenLog,
// which falls back to the default writer goroutine for an Engine without it.
type FileWriter interface {
	// OpenLog opens path for appending (creating it) and returns its LogFile.
	OpenLog(path string, opt LogOptions) (LogFile, error)
}

// LogFile is an append-only log that never blocks its caller.
type LogFile interface {
	// Append copies p as one line (the caller includes the newline) into the current batch.
	// It never waits for a write. It returns false, and counts the line as dropped, when the
	// queue is full (the disk is not keeping up), p is longer than a batch, or the log is
	// closed. Safe for concurrent use.
	Append(p []byte) (ok bool)
	// Stats is a snapshot of the counters.
	Stats() LogStats
	// Close writes out everything queued, waits for the write in flight, closes the file it
	// opened and returns the final counters and the first write error, if any. A write that
	// never returns (a dead network file system) keeps Close waiting. Later calls return the
	// same counters and error.
	Close() (LogStats, error)
}

// LogOptions bounds a LogFile. The zero value means the defaults.
type LogOptions struct {
	// BatchBytes is one batch buffer's size: one write carries at most this (default 64 KiB).
	// A longer line is dropped.
	BatchBytes int
	// Batches is how many full batches may wait behind the one being written (default 16).
	// The log holds at most Batches+2 buffers: the queue, the one filling, the one in flight.
	Batches int
	// FlushInterval is how long a partial batch may wait for more lines (default 10 ms).
	FlushInterval time.Duration
}

// Log defaults.
const (
	DefaultLogBatchBytes    = 64 << 10
	DefaultLogBatches       = 16
	DefaultLogFlushInterval = 10 * time.Millisecond
)

// WithDefaults validates o and fills zero fields.
func (o LogOptions) WithDefaults() (LogOptions, error) {
	if o.BatchBytes < 0 || o.Batches < 0 || o.FlushInterval < 0 {
		return o, badConfig("negative field in %+v", o)
	}
	if o.BatchBytes == 0 {
		o.BatchBytes = DefaultLogBatchBytes
	}
	if o.Batches == 0 {
		o.Batches = DefaultLogBatches
	}
	if o.FlushInterval == 0 {
		o.FlushInterval = DefaultLogFlushInterval
	}
	return o, nil
}

// LogStats are a LogFile's counters. Once Close has returned, Appended == Written + Dropped.
type LogStats struct {
	Appended    uint64 `json:"appended"`     // Append calls (lines offered)
	Written     uint64 `json:"written"`      // lines in batches written whole
	Dropped     uint64 `json:"dropped"`      // lines never written: queue full, too long, closed, failed write
	Bytes       uint64 `json:"bytes"`        // bytes the writes reported written
	WriteCalls  uint64 `json:"write_calls"`  // write(2) / SQEs / WriteFile issued
	WriteErrors uint64 `json:"write_errors"` // writes that failed (their batch's lines are dropped)
}

// LogBatch is one batch handed out by LogQueue.Next: the writer writes Bytes and reports the
// result to LogQueue.Done.
type LogBatch struct {
	// Bytes is what is left to write of the batch.
	Bytes []byte
	buf   []byte // the whole buffer; len = bytes filled
	lines uint64
	start time.Time // when its first line was appended
}

// LogQueue is the bounded batch queue behind every LogFile (see the top of this file). It is
// safe for concurrent use: any number of goroutines Append; exactly one writer calls Next and
// Done, with at most one batch out at a time.
//
// Protocol for a writer:
//
//	b, wait, done := q.Next(time.Now())
//	// done: closed and everything written: stop.
//	// b == nil: nothing to write yet; sleep until wake is called, or at most wait if wait > 0.
//	n, err := write(b.Bytes)
//	for q.Done(b, n, err) { n, err = write(b.Bytes) } // true: a short write, write the rest
type LogQueue struct {
	opt   LogOptions
	alloc func(n int) []byte
	wake  func()

	mu     sync.Mutex
	cur    *LogBatch   // the batch filling up, nil when none
	full   []*LogBatch // full batches, oldest first; len <= opt.Batches
	free   []*LogBatch
	out    *LogBatch // handed out by Next, not yet Done
	made   int       // buffers allocated (<= opt.Batches+2)
	idle   bool      // the writer got nothing from Next and waits for wake
	closed bool
	st     LogStats
	err    error // first write error
}

// NewLogQueue builds a queue. alloc makes a batch buffer of n bytes (nil: make; a proactor
// passes memory outside the Go heap); wake is called, never with the queue's lock held, when
// the writer waits and there is something new for it (a batch filled, a first line started a
// batch, Close). wake must not block.
func NewLogQueue(opt LogOptions, alloc func(n int) []byte, wake func()) (*LogQueue, error) {
	opt, err := opt.WithDefaults()
	if err != nil {
		return nil, err
	}
	if wake == nil {
		return nil, badConfig("LogQueue without wake")
	}
	if alloc == nil {
		alloc = func(n int) []byte { return make([]byte, n) }
	}
	return &LogQueue{opt: opt, alloc: alloc, wake: wake}, nil
}

// Options returns the queue's options, defaults filled in.
func (q *LogQueue) Options() LogOptions { return q.opt }

// Append copies p into the current batch; see LogFile.Append.
func (q *LogQueue) Append(p []byte) bool {
	q.mu.Lock()
	q.st.Appended++
	if q.closed || len(p) > q.opt.BatchBytes {
		q.st.Dropped++
		q.mu.Unlock()
		return false
	}
	wake := false
	if q.cur != nil && len(q.cur.buf)+len(p) > q.opt.BatchBytes {
		if len(q.full) >= q.opt.Batches {
			q.st.Dropped++ // the disk is behind: drop rather than block or grow
			q.mu.Unlock()
			return false
		}
		q.full = append(q.full, q.cur)
		q.cur = nil
		wake = true
	}
	if q.cur == nil {
		q.cur = q.takeFree()
		q.cur.start = time.Now()
		wake = true
	}
	q.cur.buf = append(q.cur.buf, p...)
	q.cur.lines++
	wake = wake && q.idle
	if wake {
		q.idle = false
	}
	q.mu.Unlock()
	if wake {
		q.wake()
	}
	return true
}

// takeFree returns an empty batch. There is always one: at most Batches are full, one is out
// and the current one was just queued. q.mu held.
func (q *LogQueue) takeFree() *LogBatch {
	if n := len(q.free); n > 0 {
		b := q.free[n-1]
		q.free = q.free[:n-1]
		return b
	}
	q.made++
	return &LogBatch{buf: q.alloc(q.opt.BatchBytes)[:0]}
}

// Next hands the writer the next batch: the oldest full one, else the current one once its
// first line is FlushInterval old at now (at once after Close). b == nil means nothing to write
// yet: the writer sleeps until wake, or at most wait when wait > 0. done means the queue is
// closed and everything has been written. Next returns nil while a batch is out.
func (q *LogQueue) Next(now time.Time) (b *LogBatch, wait time.Duration, done bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.out != nil {
		return nil, 0, false
	}
	switch {
	case len(q.full) > 0:
		b = q.full[0]
		copy(q.full, q.full[1:])
		q.full[len(q.full)-1] = nil
		q.full = q.full[:len(q.full)-1]
	case q.cur != nil:
		age := now.Sub(q.cur.start)
		if !q.closed && age < q.opt.FlushInterval {
			q.idle = true
			return nil, q.opt.FlushInterval - age, false
		}
		b, q.cur = q.cur, nil
	default:
		if q.closed {
			return nil, 0, true
		}
		q.idle = true
		return nil, 0, false
	}
	q.out = b
	q.idle = false
	b.Bytes = b.buf
	return b, 0, false
}

// Done reports the write of b.Bytes: n bytes written, err its error. It returns true for a
// short write without an error: b.Bytes is then the rest, to be written next. Otherwise the
// batch is finished (its lines counted written, or dropped on an error) and its buffer reused.
// A write of 0 bytes without an error counts as io.ErrShortWrite (no spinning on it).
func (q *LogQueue) Done(b *LogBatch, n int, err error) (more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if b != q.out {
		panic("models.LogQueue.Done: batch not handed out by Next")
	}
	q.st.WriteCalls++
	n = max(0, min(n, len(b.Bytes)))
	q.st.Bytes += uint64(n)
	switch {
	case err == nil && n == len(b.Bytes):
		q.st.Written += b.lines
	case err == nil && n > 0:
		b.Bytes = b.Bytes[n:]
		return true
	default:
		if err == nil {
			err = io.ErrShortWrite
		}
		q.st.WriteErrors++
		q.st.Dropped += b.lines
		if q.err == nil {
			q.err = err
		}
	}
	b.Bytes, b.buf, b.lines = nil, b.buf[:0], 0
	q.free = append(q.free, b)
	q.out = nil
	return false
}

// Close stops taking lines (later Appends are dropped and counted) and lets the writer write
// out what is queued: Next then hands out every partial batch at once and finally says done.
func (q *LogQueue) Close() {
	q.mu.Lock()
	wake := !q.closed && q.idle
	q.closed = true
	q.idle = false
	q.mu.Unlock()
	if wake {
		q.wake()
	}
}

// Stats is a snapshot of the counters.
func (q *LogQueue) Stats() LogStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.st
}

// Err is the first write error, nil if none.
func (q *LogQueue) Err() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// OpenLog opens path as a LogFile through eng's own completion mechanism where eng implements
// FileWriter, and through the default writer goroutine (OpenLogFile) otherwise.
func OpenLog(eng Engine, path string, opt LogOptions) (LogFile, error) {
	if fw, ok := eng.(FileWriter); ok {
		return fw.OpenLog(path, opt)
	}
	return OpenLogFile(path, opt)
}

// OpenLogFile opens path for appending (O_APPEND|O_CREATE, mode 0644) with the default writer
// goroutine; Close closes the file.
func OpenLogFile(path string, opt LogOptions) (LogFile, error) {
	if _, err := opt.WithDefaults(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	l, err := newLogWriter(f, f, opt)
	if err != nil {
		f.Close()
		return nil, err
	}
	return l, nil
}

// NewLogWriter is the default LogFile over w: one goroutine writes the batches to w, one
// Write per batch. Close does not close w.
func NewLogWriter(w io.Writer, opt LogOptions) (LogFile, error) {
	return newLogWriter(w, nil, opt)
}

func newLogWriter(w io.Writer, c io.Closer, opt LogOptions) (*logWriter, error) {
	l := &logWriter{w: w, c: c, wake: make(chan struct{}, 1), done: make(chan struct{})}
	q, err := NewLogQueue(opt, nil, l.signal)
	if err != nil {
		return nil, err
	}
	l.q = q
	go l.run()
	return l, nil
}

// logWriter is the default FileWriter implementation: a goroutine per file.
type logWriter struct {
	q    *LogQueue
	w    io.Writer
	c    io.Closer // the file OpenLogFile opened; nil for NewLogWriter
	wake chan struct{}
	done chan struct{}

	closeOnce sync.Once
	closeSt   LogStats
	closeErr  error
}

var _ LogFile = (*logWriter)(nil)

func (l *logWriter) signal() {
	select {
	case l.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
}

func (l *logWriter) run() {
	defer close(l.done)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		b, wait, done := l.q.Next(time.Now())
		if done {
			return
		}
		if b == nil {
			if wait > 0 {
				timer.Reset(wait)
				select {
				case <-l.wake:
					timer.Stop()
				case <-timer.C:
				}
			} else {
				<-l.wake
			}
			continue
		}
		n, err := l.w.Write(b.Bytes)
		for l.q.Done(b, n, err) {
			n, err = l.w.Write(b.Bytes)
		}
	}
}

func (l *logWriter) Append(p []byte) bool { return l.q.Append(p) }

func (l *logWriter) Stats() LogStats { return l.q.Stats() }

func (l *logWriter) Close() (LogStats, error) {
	l.closeOnce.Do(func() {
		l.q.Close()
		<-l.done
		var cerr error
		if l.c != nil {
			cerr = l.c.Close()
		}
		if werr := l.q.Err(); werr != nil {
			werr = fmt.Errorf("log write: %w", werr)
			cerr = errors.Join(werr, cerr)
		}
		l.closeSt, l.closeErr = l.q.Stats(), cerr
	})
	return l.closeSt, l.closeErr
}
