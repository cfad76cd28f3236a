package iocp

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/models"
)

// service is the seed's ServiceCoordinator: a listener or a group of client sessions over
// one SessionPool whose slots are pre-built sessions.
type service struct {
	eng      *Engine
	id       int
	opt      models.ServiceOptions
	h        models.Handler
	addr     net.Addr
	raddr    windows.Sockaddr // CLIENT target
	family   int
	ln       atomic.Pointer[listener] // set once Listen's socket is ready (the loops read it)
	pool     *models.SessionPool
	sessions []*session
	counters models.Counters
	quit     chan struct{}
	closing  atomic.Bool
	closeMu  sync.Mutex
	wg       sync.WaitGroup // acquired slots, outstanding AcceptEx, pending reconnects
}

var _ models.Service = (*service)(nil)

func (s *service) Type() models.ServiceType   { return s.opt.Type }
func (s *service) Addr() net.Addr             { return s.addr }
func (s *service) Stats() models.ServiceStats { return s.counters.Snapshot(s.pool.Live()) }

func (e *Engine) newService(opt models.ServiceOptions, h models.Handler) (*service, error) {
	if opt.PoolSize > maxSlots {
		return nil, badConfig("PoolSize %d > %d", opt.PoolSize, maxSlots)
	}
	pool, err := models.NewSessionPool(opt.PoolSize)
	if err != nil {
		return nil, err
	}
	s := &service{eng: e, opt: opt, h: h, pool: pool, sessions: make([]*session, opt.PoolSize),
		quit: make(chan struct{})}
	for i := range s.sessions {
		ss := &session{svc: s, slot: i, loop: e.loops[i%len(e.loops)], sock: windows.InvalidHandle}
		ss.InitCore()
		s.sessions[i] = ss
	}
	// Registered last: the loops find the service (and its sessions) through this atomic
	// publication, which orders every write above before their reads.
	if err := e.addService(s); err != nil {
		return nil, err
	}
	return s, nil
}

// Listen starts a SERVER service.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	if h == nil {
		return nil, badConfig("nil handler")
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h)
	if err != nil {
		return nil, err
	}
	ln, err := s.listen(ta)
	if err != nil {
		e.removeService(s)
		return nil, err
	}
	// Under closeMu: either Close (which holds it throughout) finds the listener and has its
	// loop close the socket, or the service is already closing and the listener never starts.
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closing.Load() {
		windows.Closesocket(ln.sock)
		virtualFree(ln.mem)
		return nil, models.ErrClosed
	}
	s.addr = ln.addr
	s.ln.Store(ln)
	ln.start()
	return s, nil
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service and waits for every first
// ConnectEx to finish.
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForClient(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	if h == nil {
		return nil, badConfig("nil handler")
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h)
	if err != nil {
		return nil, err
	}
	s.addr = ta
	s.raddr, s.family = sockaddrOf(ta)
	waiters := make([]chan error, opt.Conns)
	for i := range waiters {
		waiters[i] = make(chan error, 1)
		s.connect(waiters[i])
	}
	var firstErr error
	ok := 0
	for _, w := range waiters {
		if err := <-w; err == nil {
			ok++
		} else if firstErr == nil {
			firstErr = err
		}
	}
	if ok == 0 && opt.Type == models.ServiceClient {
		s.Close()
		return nil, firstErr // already an *models.OpError
	}
	return s, nil
}

// connect starts one ConnectEx attempt on a free slot; waiter (may be nil) gets its outcome.
func (s *service) connect(waiter chan<- error) {
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		s.connectFailed(-1, waiter, models.ErrPoolExhausted)
		return
	}
	s.wg.Add(1)
	ss := s.sessions[slot]
	fail := func(op string, err error, sock windows.Handle) {
		if sock != windows.InvalidHandle {
			windows.Closesocket(sock)
		}
		ss.mu.Lock()
		ss.sock, ss.connecting, ss.waiter = windows.InvalidHandle, false, nil
		ss.mu.Unlock()
		s.counters.ConnectFailed()
		s.connectFailed(slot, waiter, models.WrapOp(Name, op, err))
	}
	if err := ss.ensureMem(s.eng.cfg); err != nil {
		fail("VirtualAlloc", err, windows.InvalidHandle)
		return
	}
	sock, err := newSocket(s.family)
	if err != nil {
		fail("WSASocket", err, windows.InvalidHandle)
		return
	}
	// ConnectEx needs a bound socket.
	if err := windows.Bind(sock, wildcardOf(s.family)); err != nil {
		fail("bind", err, sock)
		return
	}
	gen := ss.gen.Add(1)
	if _, err := windows.CreateIoCompletionPort(sock, ss.loop.port, makeKey(kindSock, s.id, gen, slot), 0); err != nil {
		fail("CreateIoCompletionPort", err, sock)
		return
	}
	// The closing check and ConnectEx happen under ss.mu, which handleShutdown takes too: a
	// Close that started before the check makes the attempt fail here; one that starts after
	// it finds the slot alive with this generation (the Acquire and gen bump came first), and
	// its shutdown packet sees connecting set and a ConnectEx that CancelIoEx can abort.
	ss.mu.Lock()
	if s.closing.Load() {
		ss.mu.Unlock()
		windows.Closesocket(sock)
		s.connectFailed(slot, waiter, models.ErrClosed)
		return
	}
	ss.sock, ss.connecting, ss.waiter = sock, true, waiter
	*ss.connOp = windows.Overlapped{}
	err = windows.ConnectEx(sock, s.raddr, nil, 0, nil, ss.connOp)
	ss.mu.Unlock()
	if err != nil && err != errIOPending {
		fail("ConnectEx", err, sock)
	}
	// Success, inline or pending: the socket is not in skip-on-success mode yet, so the
	// completion always arrives as a packet on the slot's loop (session.connectDone).
}

// connectFailed reports a failed attempt, gives its slot back (slot < 0: none was acquired)
// and, for CLIENT_AUTO_RECONNECT, schedules another.
func (s *service) connectFailed(slot int, waiter chan<- error, err error) {
	if waiter != nil {
		waiter <- err
	}
	if slot >= 0 {
		s.releaseSlot(slot, true)
	} else {
		s.reconnectLater()
	}
}

// reconnectLater schedules one connect attempt after ReconnectDelay (auto-reconnect only).
func (s *service) reconnectLater() {
	if s.opt.Type != models.ServiceClientAutoReconnect || s.closing.Load() {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.opt.ReconnectDelay)
		defer t.Stop()
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if !s.closing.Load() {
			s.connect(nil)
		}
	}()
}

// releaseSlot gives a slot back to the pool and drops its wg reference. With reconnect, an
// auto-reconnect service schedules its next attempt first, so the attempt's wg reference is
// taken before the slot's is dropped: Close's Wait never sees zero in between and no Add
// races it.
func (s *service) releaseSlot(slot int, reconnect bool) {
	s.pool.Release(slot)
	if reconnect {
		s.reconnectLater()
	}
	s.wg.Done()
}

// Close stops accepting/reconnecting, kicks every session with KickShutdown (cancelling
// pending ConnectEx calls) and waits until every operation has completed and every
// OnDisconnect has returned, then frees the service's kernel-visible memory.
//
// One shutdown packet per live slot suffices: closing is set first, and every way a slot
// becomes live checks it afterwards. A session accepted or connected after the Alive
// snapshot (or whose packet carries the previous generation and is dropped) sees closing in
// session.connected and kicks itself; a ConnectEx is issued under the check in connect.
func (s *service) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closing.Swap(true) {
		return nil
	}
	close(s.quit)
	ln := s.ln.Load()
	if ln != nil {
		ln.loop.post(makeKey(kindListen, s.id, 0, 0)) // the listener loop closes the socket
	}
	for _, slot := range s.pool.Alive() {
		ss := s.sessions[slot]
		ss.loop.post(makeKey(kindShutdown, s.id, ss.gen.Load(), slot))
	}
	s.wg.Wait()
	// Unregister first: a wake-up packet still queued (kindShutdown above) then finds no
	// service instead of a slot whose memory is being freed.
	s.eng.removeService(s)
	for _, ss := range s.sessions {
		ss.freeMem()
	}
	if ln != nil {
		virtualFree(ln.mem)
		ln.mem = nil
	}
	return nil
}

// acceptAddrLen is the AcceptEx address slot size: the largest sockaddr plus 16 bytes.
const acceptAddrLen = uint32(unsafe.Sizeof(windows.RawSockaddrAny{})) + 16

// numAccepts is how many AcceptEx calls each listener keeps outstanding.
const numAccepts = 8

// acceptOp is one pre-posted AcceptEx; it lives in the listener's VirtualAlloc'd slab.
type acceptOp struct {
	ov   windows.Overlapped // first: the OVERLAPPED pointer is the acceptOp pointer
	sock windows.Handle     // the socket AcceptEx accepts into
	buf  [2 * acceptAddrLen]byte
}

// listener is the seed's IocpObjectListener.
type listener struct {
	svc     *service
	sock    windows.Handle // owned by loop after start
	addr    *net.TCPAddr
	family  int
	loop    *loop
	mem     unsafe.Pointer
	ops     []*acceptOp
	pending atomic.Int32 // AcceptEx calls outstanding
	closed  bool         // loop-owned
	recvd   uint32
}

func (s *service) listen(ta *net.TCPAddr) (*listener, error) {
	sa, family := sockaddrOf(ta)
	sock, err := newSocket(family)
	if err != nil {
		return nil, models.WrapOp(Name, "WSASocket", err)
	}
	fail := func(op string, err error) (*listener, error) {
		windows.Closesocket(sock)
		return nil, models.WrapOp(Name, op, err)
	}
	if err := windows.Bind(sock, sa); err != nil {
		return fail("bind", err)
	}
	if err := windows.Listen(sock, windows.SOMAXCONN); err != nil {
		return fail("listen", err)
	}
	bound, err := windows.Getsockname(sock)
	if err != nil {
		return fail("getsockname", err)
	}
	ln := &listener{svc: s, sock: sock, addr: tcpAddrOf(bound), family: family,
		loop: s.eng.loops[s.id%len(s.eng.loops)]}
	if _, err := windows.CreateIoCompletionPort(sock, ln.loop.port, makeKey(kindListen, s.id, 0, 0), 0); err != nil {
		return fail("CreateIoCompletionPort", err)
	}
	size := unsafe.Sizeof(acceptOp{})
	mem, err := virtualAlloc(size * numAccepts)
	if err != nil {
		return fail("VirtualAlloc", err)
	}
	ln.mem = mem
	for i := range numAccepts {
		ln.ops = append(ln.ops, (*acceptOp)(unsafe.Add(mem, uintptr(i)*size)))
	}
	return ln, nil
}

// start pre-posts the AcceptEx calls.
func (ln *listener) start() {
	for i := range ln.ops {
		ln.svc.wg.Add(1)
		ln.pending.Add(1)
		ln.post(i)
	}
}

// acceptRetry is how long an AcceptEx that could not be issued (no socket or no memory: the
// Windows EMFILE) waits before it is issued again.
const acceptRetry = 10 * time.Millisecond

// post issues AcceptEx for op i. Once the listener is closed the op retires; if AcceptEx (or
// the socket for it) fails, the failure is counted and the op is issued again after
// acceptRetry (a retry packet: the op's OVERLAPPED with no socket, see complete), so a
// listener never loses its pending accepts to a burst of failures.
func (ln *listener) post(i int) {
	op := ln.ops[i]
	if ln.closed || ln.svc.closing.Load() {
		ln.retire()
		return
	}
	sock, err := newSocket(ln.family)
	if err == nil {
		op.ov = windows.Overlapped{}
		op.sock = sock
		err = windows.AcceptEx(ln.sock, sock, &op.buf[0], 0, acceptAddrLen, acceptAddrLen, &ln.recvd, &op.ov)
		if err == nil || err == errIOPending {
			return // the completion comes as a packet (no skip mode on listeners)
		}
		windows.Closesocket(sock)
		op.sock = windows.InvalidHandle
	}
	ln.svc.counters.AcceptError()
	key := makeKey(kindListen, ln.svc.id, 0, 0)
	time.AfterFunc(acceptRetry, func() {
		if windows.PostQueuedCompletionStatus(ln.loop.port, 0, key, &op.ov) != nil {
			ln.retire() // the port is gone: the engine is closing
		}
	})
}

func (ln *listener) retire() {
	ln.pending.Add(-1)
	ln.svc.wg.Done()
}

// complete handles an AcceptEx completion, or (nil OVERLAPPED) the close request.
func (ln *listener) complete(l *loop, c completion) {
	s := ln.svc
	if c.ov == nil {
		if !ln.closed {
			ln.closed = true
			windows.Closesocket(ln.sock) // cancels the outstanding AcceptEx calls
		}
		return
	}
	i := int((uintptr(unsafe.Pointer(c.ov)) - uintptr(ln.mem)) / unsafe.Sizeof(acceptOp{}))
	if i < 0 || i >= len(ln.ops) {
		return
	}
	op := ln.ops[i]
	sock := op.sock
	op.sock = windows.InvalidHandle
	if sock == windows.InvalidHandle { // a retry packet from post
		ln.post(i)
		return
	}
	if c.status != 0 || ln.closed || s.closing.Load() {
		// Aborted by the listener's close, or a connection reset before it was accepted
		// (recoverable: accept the next one).
		if !ln.closed && !s.closing.Load() {
			s.counters.AcceptError()
		}
		windows.Closesocket(sock)
		ln.post(i)
		return
	}
	ls := ln.sock
	windows.Setsockopt(sock, windows.SOL_SOCKET, windows.SO_UPDATE_ACCEPT_CONTEXT,
		(*byte)(unsafe.Pointer(&ls)), int32(unsafe.Sizeof(ls)))
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		setLingerZero(sock)
		windows.Closesocket(sock)
		ln.post(i)
		return
	}
	s.wg.Add(1)
	var lrsa, rrsa *windows.RawSockaddrAny
	var llen, rlen int32
	windows.GetAcceptExSockaddrs(&op.buf[0], 0, acceptAddrLen, acceptAddrLen, &lrsa, &llen, &rrsa, &rlen)
	local, remote := rawAddr(lrsa), rawAddr(rrsa)
	ln.post(i)
	ss := s.sessions[slot]
	if err := ss.ensureMem(s.eng.cfg); err != nil {
		setLingerZero(sock)
		windows.Closesocket(sock)
		s.counters.Refused()
		s.releaseSlot(slot, false)
		return
	}
	gen := ss.gen.Add(1)
	if _, err := windows.CreateIoCompletionPort(sock, ss.loop.port, makeKey(kindSock, s.id, gen, slot), 0); err != nil {
		setLingerZero(sock)
		windows.Closesocket(sock)
		s.counters.Refused()
		s.releaseSlot(slot, false)
		return
	}
	ss.mu.Lock()
	ss.sock, ss.pendLocal, ss.pendRemote = sock, local, remote
	ss.mu.Unlock()
	s.counters.Accepted()
	if err := ss.loop.post(makeKey(kindOpen, s.id, gen, slot)); err != nil {
		ss.handleOpen(l) // cannot happen while the engine runs; never lose the session
	}
}
