package epoll

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

const (
	// eventBatch is how many events one epoll_wait(2) returns at most.
	eventBatch = 128
	// acceptBatch bounds the accept4(2) calls per listener event, so a connection storm does
	// not starve the loop's established sessions (level-triggered: the rest is reported again).
	acceptBatch = 64
	// acceptBackoff is how long a listener rests after accept4 ran out of fds or memory.
	acceptBackoff = 10 * time.Millisecond
)

type taskKind uint8

const (
	taskFunc  taskKind = iota // run fn (a Post job, a service close, a dial)
	taskFlush                 // write out ss's send queue (a Send from another goroutine)
	taskKick                  // close ss (a Kick from another goroutine)
	taskStop                  // leave the loop (Engine.Close)
)

// task is one entry of a loop's queue. Session tasks carry the session generation read by
// the poster; a task for a generation that is no longer open is dropped.
type task struct {
	kind taskKind
	gen  uint32
	ss   *session
	fn   func()
}

// loop is one event loop: an epoll instance, its eventfd and the goroutine that waits on
// them. Everything below "loop-owned" is touched by that goroutine only.
type loop struct {
	eng  *Engine
	idx  int
	epfd int
	evfd int

	// Written by posters on other threads: kept off the cache lines the loop uses alone.
	_        [64]byte
	mu       sync.Mutex
	q        []task
	closed   bool
	qn       atomic.Int32  // len(q), readable without the lock
	sleeping atomic.Bool   // in (or about to enter) a blocking epoll_wait
	wakeSent atomic.Bool   // an eventfd write is pending: no need for another
	wakes    atomic.Uint64 // eventfd writes (tests check the same-loop path makes none)

	_ [64]byte

	// loop-owned
	spare    []task
	events   []unix.EpollEvent
	views    [][]byte
	iov      []unix.Iovec
	scratch  []byte              // lazy receive: every read of the loop lands here (RecvBufferSize bytes)
	wfd      int                 // the fd of the flush in progress (gatherWrite)
	writev   models.GatherWriter // l.gatherWrite, bound once
	head     *session            // open and connecting sessions of this loop
	stopping bool
	wakeBuf  [8]byte
}

func newLoop(e *Engine, idx int) (*loop, error) {
	l := &loop{eng: e, idx: idx, epfd: -1, evfd: -1,
		events: make([]unix.EpollEvent, eventBatch),
		views:  make([][]byte, 0, e.cfg.MaxGather),
		iov:    make([]unix.Iovec, e.cfg.MaxGather)}
	l.writev = l.gatherWrite
	if !e.residentRecv {
		l.scratch = make([]byte, e.cfg.RecvBufferSize)
	}
	var err error
	if l.epfd, err = unix.EpollCreate1(unix.EPOLL_CLOEXEC); err != nil {
		return nil, models.WrapOp(Name, "epoll_create1", err)
	}
	if l.evfd, err = unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC); err != nil {
		l.closeFDs()
		return nil, models.WrapOp(Name, "eventfd", err)
	}
	if err = epollCtl(l.epfd, unix.EPOLL_CTL_ADD, l.evfd, unix.EPOLLIN, makeTag(kindWake, 0, 0, 0)); err != nil {
		l.closeFDs()
		return nil, models.WrapOp(Name, "epoll_ctl", err)
	}
	return l, nil
}

func (l *loop) closeFDs() {
	if l.evfd >= 0 {
		unix.Close(l.evfd)
		l.evfd = -1
	}
	if l.epfd >= 0 {
		unix.Close(l.epfd)
		l.epfd = -1
	}
}

// post queues t for the loop and wakes it through the eventfd only if it is blocked in
// epoll_wait (or about to be) and nobody has woken it yet. A loop that is awake drains its
// queue before it waits again, so posting from the loop's own callbacks costs no syscall.
//
// The check is a Dekker pair with run: post stores qn then loads sleeping; run stores
// sleeping then loads qn; with sequentially consistent atomics one of them sees the other.
// The eventfd write happens under mu, so the loop cannot close the eventfd under it.
func (l *loop) post(t task) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return models.ErrClosed
	}
	l.q = append(l.q, t)
	l.qn.Store(int32(len(l.q)))
	if l.sleeping.Load() && l.wakeSent.CompareAndSwap(false, true) {
		l.wakes.Add(1)
		sysWake(l.evfd) // EAGAIN means the counter is saturated: the loop is woken anyway
	}
	return nil
}

// run is the loop. It does not lock its OS thread (LockEnv does; the README says why): a
// locked goroutine whose P was taken during epoll_wait must be handed back to its own thread
// on every wake-up. The loop is still one goroutine that owns its epoll instance and
// sessions; which thread runs it does not matter to the kernel. While busy it polls (timeout
// 0); after a poll finds nothing it yields once (runtime.Gosched) so the rest of the process
// runs now rather than during its next blocking epoll_wait, then blocks.
func (l *loop) run() {
	defer l.eng.loopWG.Done()
	if l.eng.lockThreads {
		runtime.LockOSThread() // the first design, kept measurable (see LockEnv)
		defer runtime.UnlockOSThread()
	}
	busy := false // the last epoll_wait returned events
	for !l.stopping {
		timeout := 0
		if !busy {
			// Dekker pair with post: store sleeping, then look at the queue.
			l.sleeping.Store(true)
			if l.qn.Load() == 0 {
				timeout = -1
			} else {
				l.sleeping.Store(false) // poll, so a stream of tasks cannot starve the sockets
			}
		}
		n, err := unix.EpollWait(l.epfd, l.events, timeout)
		l.sleeping.Store(false)
		if err != nil {
			if err == unix.EINTR {
				continue
			}
			panic(models.WrapOp(Name, "epoll_wait", err)) // EBADF/EFAULT/EINVAL: a bug here
		}
		for i := range n {
			l.dispatch(&l.events[i])
		}
		if l.qn.Load() > 0 {
			l.runTasks()
		}
		if busy && n == 0 {
			runtime.Gosched()
		}
		busy = n > 0
	}
	l.shutdown()
}

// shutdown closes what is left on the loop, refuses further tasks, runs the tasks already
// queued (Post jobs accepted before Close still run) and closes the loop's fds.
func (l *loop) shutdown() {
	for l.head != nil {
		l.closeSession(l.head, models.KickShutdown)
	}
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	for l.qn.Load() > 0 {
		l.runTasks()
	}
	for l.head != nil { // a task opened one after all (cannot happen: dial checks stopping)
		l.closeSession(l.head, models.KickShutdown)
	}
	l.closeFDs()
}

func (l *loop) runTasks() {
	l.mu.Lock()
	batch := l.q
	l.q = l.spare[:0]
	l.qn.Store(0)
	l.mu.Unlock()
	for i := range batch {
		t := &batch[i]
		switch t.kind {
		case taskFunc:
			t.fn()
		case taskFlush:
			if ss := t.ss; ss.liveOn(l, t.gen) && !ss.connecting {
				l.flush(ss, false)
			}
		case taskKick:
			// Kicked: a kick of an older connection on this slot, whose reason the new
			// connection's Open reset, is dropped.
			if ss := t.ss; ss.liveOn(l, t.gen) && ss.Kicked() {
				l.closeSession(ss, ss.Reason())
			}
		case taskStop:
			l.stopping = true
		}
		*t = task{}
	}
	l.spare = batch[:0]
}

func (l *loop) dispatch(ev *unix.EpollEvent) {
	t := joinTag(ev.Fd, ev.Pad)
	switch t.kind() {
	case kindSession:
		if ss := l.lookup(t); ss != nil {
			l.handle(ss, ev.Events)
		}
	case kindWake:
		sysRead(l.evfd, l.wakeBuf[:]) // resets the counter; EAGAIN if already read
		l.wakeSent.Store(false)
	case kindListener:
		if s := l.eng.service(t.svc()); s != nil {
			l.accept(s)
		}
	}
}

// lookup maps a session tag to its session, or nil when the event is stale: the session
// closed (or its slot was reused) after the event was queued.
func (l *loop) lookup(t tag) *session {
	s := l.eng.service(t.svc())
	if s == nil || t.slot() >= len(s.sessions) {
		return nil
	}
	ss := &s.sessions[t.slot()]
	if !ss.liveOn(l, t.gen()) {
		return nil
	}
	return ss
}

// accept takes the pending connections of s's listener on this loop.
func (l *loop) accept(s *service) {
	lfd := int(s.lfds[l.idx].Load())
	if lfd < 0 {
		return
	}
	for range acceptBatch {
		fd, rsa, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			if err != unix.EAGAIN && err != unix.EINTR {
				s.Counters().AcceptError()
			}
			switch err {
			case unix.EAGAIN:
				return
			case unix.EINTR, unix.ECONNABORTED, unix.EPROTO:
				continue
			case unix.EMFILE, unix.ENFILE, unix.ENOBUFS, unix.ENOMEM:
				// Level-triggered: the pending connection would be reported again at once.
				// Rest the listener instead of spinning.
				if epollCtl(l.epfd, unix.EPOLL_CTL_MOD, lfd, 0, makeTag(kindListener, s.id, 0, 0)) == nil {
					s.after(l, acceptBackoff, func() {
						if fd := s.lfds[l.idx].Load(); fd >= 0 && !s.Closing() {
							epollCtl(l.epfd, unix.EPOLL_CTL_MOD, int(fd), unix.EPOLLIN, makeTag(kindListener, s.id, 0, 0))
						}
					})
				}
			}
			return
		}
		if s.Closing() {
			unix.Close(fd)
			continue
		}
		slot, ok := s.Pool().Acquire()
		if !ok {
			s.Counters().Refused()
			unix.Close(fd)
			continue
		}
		ss := &s.sessions[slot]
		sock.SetNoDelay(fd)
		local := s.local
		if local == nil {
			if sa, err := unix.Getsockname(fd); err == nil {
				local = sock.TCPAddr(sa)
			} else {
				local = s.addr
			}
		}
		if err := l.attach(ss, fd, unix.EPOLLIN); err != nil {
			unix.Close(fd)
			s.Pool().Release(slot)
			s.Counters().AcceptError()
			continue
		}
		ss.Open(local, sock.TCPAddr(rsa))
		s.Counters().Accepted()
		l.connected(ss)
	}
}

// dial starts one connect attempt of a CLIENT service on this loop; cw is non-nil for the
// first attempt of a session (Connect waits for it).
func (l *loop) dial(s *service, cw *connectWait) {
	fail := func(err error) {
		if cw != nil {
			cw.done(err)
		}
	}
	if s.Closing() || l.stopping {
		fail(models.ErrClosed)
		return
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		fail(models.ErrPoolExhausted)
		s.redialLater(l)
		return
	}
	ss := &s.sessions[slot]
	failNow := func(op string, err error) {
		s.Pool().Release(slot)
		s.Counters().ConnectFailed()
		fail(models.WrapOp(Name, op, err))
		s.redialLater(l)
	}
	sa, err := s.sockaddr()
	if err != nil {
		failNow("connect", err)
		return
	}
	fd, err := unix.Socket(s.family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		failNow("socket", err)
		return
	}
	sock.SetNoDelay(fd)
	err = unix.Connect(fd, sa)
	if err != nil && err != unix.EINPROGRESS && err != unix.EINTR {
		unix.Close(fd)
		failNow("connect", err)
		return
	}
	// Connected at once (possible on loopback) or in progress: both wait for EPOLLOUT, which
	// a connected socket reports at once, and finish in finishConnect.
	ss.connecting = true
	ss.firstWait = cw
	if err := l.attach(ss, fd, unix.EPOLLOUT); err != nil {
		ss.connecting, ss.firstWait = false, nil
		unix.Close(fd)
		failNow("epoll_ctl", err)
		return
	}
}

// finishConnect completes a non-blocking connect reported by EPOLLOUT/EPOLLERR/EPOLLHUP.
func (l *loop) finishConnect(ss *session) {
	s := ss.svc
	soerr, err := unix.GetsockoptInt(ss.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && soerr != 0 {
		err = unix.Errno(soerr)
	}
	if err == nil {
		err = epollCtl(l.epfd, unix.EPOLL_CTL_MOD, ss.fd, unix.EPOLLIN, ss.tag())
	}
	var local, remote unix.Sockaddr
	if err == nil {
		local, err = unix.Getsockname(ss.fd)
	}
	if err == nil {
		remote, err = unix.Getpeername(ss.fd)
	}
	if err != nil {
		l.closeConnecting(ss, models.WrapOp(Name, "connect", err))
		return
	}
	ss.connecting = false
	ss.Open(sock.TCPAddr(local), sock.TCPAddr(remote))
	s.Counters().Connected()
	cw := ss.firstWait
	ss.firstWait = nil
	l.connected(ss)
	if cw != nil {
		cw.done(nil) // after OnConnect: when Connect returns, its sessions have been seen
	}
}

// closeConnecting abandons a connect attempt (failed, or the service is closing). The
// session never got OnConnect, so it gets no OnDisconnect either.
func (l *loop) closeConnecting(ss *session, err error) {
	s := ss.svc
	fd := ss.fd
	ss.fd = -1
	ss.gen.Add(1) // even: closed
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	unix.Close(fd)
	l.unlink(ss)
	ss.connecting = false
	s.Counters().ConnectFailed()
	if cw := ss.firstWait; cw != nil {
		ss.firstWait = nil
		cw.done(err)
	}
	s.Pool().Release(int(ss.slot))
	s.redialLater(l)
}

// addListener registers s's listening socket of this loop. On failure it closes the socket,
// so the kernel's SO_REUSEPORT group stops hashing connections to a socket nobody accepts on.
func (l *loop) addListener(s *service) error {
	fd := int(s.lfds[l.idx].Load())
	if fd < 0 || s.Closing() {
		return nil // closeService closes it (or already has)
	}
	err := epollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, unix.EPOLLIN, makeTag(kindListener, s.id, 0, 0))
	if err != nil {
		if fd := s.lfds[l.idx].Swap(-1); fd >= 0 {
			unix.Close(int(fd))
		}
	}
	return err
}

// closeService closes this loop's part of s: its listener and its sessions.
func (l *loop) closeService(s *service) {
	if s.lfds != nil {
		if fd := s.lfds[l.idx].Swap(-1); fd >= 0 {
			unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
			unix.Close(int(fd))
		}
	}
	for ss := l.head; ss != nil; {
		next := ss.next
		if ss.svc == s {
			l.closeSession(ss, models.KickShutdown)
		}
		ss = next
	}
}

func (l *loop) link(ss *session) {
	ss.prev, ss.next = nil, l.head
	if l.head != nil {
		l.head.prev = ss
	}
	l.head = ss
}

func (l *loop) unlink(ss *session) {
	if ss.prev != nil {
		ss.prev.next = ss.next
	} else {
		l.head = ss.next
	}
	if ss.next != nil {
		ss.next.prev = ss.prev
	}
	ss.prev, ss.next = nil, nil
}
