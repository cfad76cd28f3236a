package uring

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

// Messages to a loop.
const (
	mWrite = iota + 1
	mKick
	mListen
	mUnlisten
	mConnect
	mCancelConnects
	mJob
	mStop
)

type msg struct {
	kind uint8
	ss   *session
	id   uint64
	ln   *listener
	att  *attempt
	svc  *service
	job  func()
}

// Operation kinds, the top byte of user_data.
const (
	opNone = iota
	opWake
	opAccept
	opRecv
	opSend
	opConnect
	opCancel
	opIgnore   // requests whose completion needs no action (cancels of listeners/connects/stop)
	opLogWrite // a log batch's IORING_OP_WRITE (logfile_linux.go)
	opLogTimer // a log's FlushInterval IORING_OP_TIMEOUT
	opSweep    // the dead-socket sweep's IORING_OP_TIMEOUT (sweep_linux.go)
)

const genMask = 1<<24 - 1

// userData packs op kind (8 bits) | generation (24 bits) | op-table index (32 bits): no Go
// pointer ever reaches the kernel in user_data.
func userData(kind uint8, gen, idx uint32) uint64 {
	return uint64(kind)<<56 | uint64(gen&genMask)<<32 | uint64(idx)
}

func decodeUserData(u uint64) (kind uint8, gen, idx uint32) {
	return uint8(u >> 56), uint32(u>>32) & genMask, uint32(u)
}

// opRec is one in-flight request in a loop's op table.
type opRec struct {
	kind uint8
	gen  uint32
	ss   *session
	ln   *listener
	att  *attempt
	lf   *ringLog
}

// loop is one ring and the goroutine (locked to its thread) that owns it.
type loop struct {
	eng  *Engine
	idx  int
	ring *ring
	br   *bufRing

	evfd    int
	scratch []byte // mmapped: the eventfd read target

	polling atomic.Bool // blocked (or about to block) in io_uring_enter: posters must wake it
	mu      sync.Mutex
	inbox   []msg
	spare   []msg
	exited  bool // under mu: the loop is gone (its eventfd closed); posts are dropped

	ops      []*opRec
	freeOps  []uint32
	live     int // ops in flight
	stopping bool
	sessions []*session // open on this loop (sweep_linux.go)
	done     chan struct{}

	// Counters for tests and diagnostics.
	enters, wakes, enobufs, rearms, overflows, deadSockets atomic.Uint64
}

func startLoop(e *Engine, idx int) (*loop, error) {
	l := &loop{eng: e, idx: idx, evfd: -1, done: make(chan struct{})}
	errc := make(chan error, 1)
	go l.run(errc)
	if err := <-errc; err != nil {
		<-l.done
		return nil, err
	}
	return l, nil
}

func (l *loop) run(errc chan<- error) {
	defer close(l.done)
	// The ring is SINGLE_ISSUER: created, entered and closed by this one thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err := l.init()
	errc <- err
	if err == nil {
		l.loop()
	}
	l.mu.Lock()
	l.exited = true
	l.mu.Unlock()
	l.free()
}

func (l *loop) init() error {
	var err error
	if l.ring, err = newRing(ringEntries); err != nil {
		return err
	}
	if !l.eng.direct {
		if l.br, err = newBufRing(l.ring.fd, bufGroup, bufEntries, bufSize); err != nil {
			return err
		}
	}
	if l.evfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC); err != nil {
		return fmt.Errorf("eventfd: %w", err)
	}
	if l.scratch, err = unix.Mmap(-1, 0, unix.Getpagesize(), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS); err != nil {
		return fmt.Errorf("mmap: %w", err)
	}
	l.armWake()
	l.armSweep()
	return nil
}

// free runs on the loop thread after every request completed.
func (l *loop) free() {
	if l.br != nil {
		l.br.free()
	}
	if l.evfd >= 0 {
		unix.Close(l.evfd)
	}
	if l.scratch != nil {
		unix.Munmap(l.scratch)
	}
	if l.ring != nil {
		l.ring.close()
	}
}

// post queues m and wakes the loop if it is blocked. The loop publishes polling=true before
// its last look at the inbox, so either it sees m or the poster sees polling and wakes it.
// The eventfd write happens under mu, so it can never hit a descriptor the exiting loop has
// closed (and the kernel may have reused). Only messages from stale session pointers can
// arrive after the loop exited; they are dropped.
func (l *loop) post(m msg) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exited {
		return
	}
	l.inbox = append(l.inbox, m)
	if l.polling.Load() && l.polling.CompareAndSwap(true, false) {
		l.wakes.Add(1)
		one := [8]byte{1}
		unix.Write(l.evfd, one[:])
	}
}

func (l *loop) loop() {
	for {
		l.drain()
		if l.stopping && l.live == 0 {
			return
		}
		l.polling.Store(true)
		l.mu.Lock()
		queued := len(l.inbox) > 0
		l.mu.Unlock()
		overflowed := l.ring.overflowed()
		if overflowed {
			l.overflows.Add(1)
		}
		l.enters.Add(1)
		err := l.ring.enter(!queued && !overflowed)
		l.polling.Store(false)
		if err != nil {
			panic(models.WrapOp(Name, "io_uring_enter", err)) // EBADF/EFAULT: a bug, not a load condition
		}
		l.reap()
		if l.br != nil {
			l.br.publish()
		}
	}
}

func (l *loop) drain() {
	l.mu.Lock()
	batch := l.inbox
	l.inbox = l.spare[:0]
	l.mu.Unlock()
	for i := range batch {
		l.handle(&batch[i])
		batch[i] = msg{}
	}
	l.spare = batch[:0]
}

func (l *loop) handle(m *msg) {
	switch m.kind {
	case mWrite:
		if ss := m.ss; ss.live.Load() == m.id && !ss.closing && !ss.sending && !ss.Kicked() {
			l.submitSend(ss)
		}
	case mKick:
		if ss := m.ss; ss.live.Load() == m.id {
			l.closeSession(ss)
		}
	case mListen:
		ln := m.ln
		if ln.stopping || l.stopping {
			l.closeListener(ln)
		} else {
			l.armAccept(ln)
		}
	case mUnlisten:
		ln := m.ln
		ln.stopping = true
		if ln.armed {
			l.cancelUserData(ln.ud)
		}
		// Not armed: an accept backoff timer is pending and its mListen closes the fd.
	case mConnect:
		l.startConnect(m.att)
	case mCancelConnects:
		for i, rec := range l.ops {
			if rec.kind == opConnect && rec.att.svc == m.svc {
				l.cancelUserData(userData(opConnect, rec.gen, uint32(i)))
			}
		}
	case mJob:
		m.job()
	case mStop:
		if !l.stopping {
			l.stopping = true
			s := l.sqe()
			s.opcode = opcAsyncCancel
			s.fd = -1
			s.opFlags = cancelAny | cancelAll
			s.userData = userData(opIgnore, 0, 0)
		}
	}
}

// sqe returns a free SQE, submitting what is queued first if the SQ ring is full.
func (l *loop) sqe() *sqe {
	for {
		if s := l.ring.getSQE(); s != nil {
			return s
		}
		l.enters.Add(1)
		if err := l.ring.enter(false); err != nil {
			panic(models.WrapOp(Name, "io_uring_enter", err))
		}
	}
}

func (l *loop) newOp(kind uint8) (uint32, *opRec) {
	var idx uint32
	if n := len(l.freeOps); n > 0 {
		idx = l.freeOps[n-1]
		l.freeOps = l.freeOps[:n-1]
	} else {
		idx = uint32(len(l.ops))
		l.ops = append(l.ops, &opRec{})
	}
	rec := l.ops[idx]
	rec.kind = kind
	rec.gen = (rec.gen + 1) & genMask
	l.live++
	return idx, rec
}

func (l *loop) freeOp(idx uint32) {
	rec := l.ops[idx]
	rec.kind, rec.ss, rec.ln, rec.att, rec.lf = opNone, nil, nil, nil, nil
	l.freeOps = append(l.freeOps, idx)
	l.live--
}

func (l *loop) cancelUserData(ud uint64) {
	s := l.sqe()
	s.opcode = opcAsyncCancel
	s.fd = -1
	s.addr = ud
	s.userData = userData(opIgnore, 0, 0)
}

func (l *loop) reap() {
	for {
		c, ok := l.ring.peekCQE()
		if !ok {
			return
		}
		l.ring.advanceCQ()
		l.complete(c)
	}
}

func (l *loop) complete(c cqe) {
	kind, gen, idx := decodeUserData(c.userData)
	if kind == opIgnore || int(idx) >= len(l.ops) {
		return
	}
	rec := l.ops[idx]
	if rec.kind != kind || rec.gen != gen {
		return // cannot happen: every op is freed only on its final CQE
	}
	more := c.flags&cqeFMore != 0
	switch kind {
	case opWake:
		l.freeOp(idx)
		if !l.stopping {
			l.armWake()
		}
	case opAccept:
		l.onAccept(idx, rec.ln, c, more)
	case opRecv:
		l.onRecv(idx, rec.ss, c, more)
	case opSend:
		l.onSend(idx, rec.ss, c)
	case opConnect:
		l.onConnect(idx, rec.att, c)
	case opSweep:
		l.onSweep(idx)
	case opLogWrite, opLogTimer:
		lf := rec.lf
		l.freeOp(idx)
		lf.completed(kind, c.res)
	case opCancel:
		ss := rec.ss
		l.freeOp(idx)
		ss.pending--
		if c.res == -int32(unix.EALREADY) {
			// A request was already running and could not be cancelled: force it out.
			unix.Shutdown(ss.fd, unix.SHUT_RDWR)
		}
		l.maybeFinish(ss)
	}
}

// armWake keeps one eventfd read in flight: a write by a poster completes it and ends the
// loop's wait.
func (l *loop) armWake() {
	idx, rec := l.newOp(opWake)
	s := l.sqe()
	s.opcode = opcRead
	s.fd = int32(l.evfd)
	s.addr = uint64(uintptr(unsafe.Pointer(&l.scratch[0])))
	s.len = 8
	s.userData = userData(opWake, rec.gen, idx)
}

func (l *loop) armAccept(ln *listener) {
	idx, rec := l.newOp(opAccept)
	rec.ln = ln
	ln.ud = userData(opAccept, rec.gen, idx)
	ln.armed = true
	s := l.sqe()
	s.opcode = opcAccept
	s.fd = int32(ln.fd)
	s.ioprio = acceptMultishot
	s.opFlags = unix.SOCK_CLOEXEC
	s.userData = ln.ud
}

func (l *loop) closeListener(ln *listener) {
	unix.Close(ln.fd)
	ln.fd = -1
	ln.svc.wg.Done()
}

func (l *loop) onAccept(idx uint32, ln *listener, c cqe, more bool) {
	if !more {
		l.freeOp(idx)
		ln.armed = false
	}
	if c.res >= 0 {
		l.accepted(ln.svc, int(c.res))
	}
	if more {
		return
	}
	switch {
	case ln.stopping || l.stopping:
		l.closeListener(ln)
	case c.res < 0 && c.res != -int32(unix.ECANCELED):
		// EMFILE, ENFILE, ENOMEM...: back off instead of spinning on the error.
		ln.svc.Counters().AcceptError()
		time.AfterFunc(acceptBackoff, func() { l.post(msg{kind: mListen, ln: ln}) })
	default:
		l.armAccept(ln) // multishot ended (e.g. CQ overflow): re-arm
	}
}

func (l *loop) accepted(s *service, fd int) {
	if s.Closing() {
		unix.Close(fd)
		return
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		unix.Close(fd)
		return
	}
	s.Counters().Accepted()
	s.wg.Add(1) // the listener's token is still held, so the count is not zero here
	l.open(s.sessions[slot], fd)
}
