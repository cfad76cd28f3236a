package iocp

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/internal/winsock"
	"github.com/iobench/iobench/models"
)

// service is the seed's ServiceCoordinator: a listener or a group of client sessions over
// one SessionPool whose slots are pre-built sessions.
type service struct {
	models.ServiceCore
	eng      *Engine
	id       int
	addr     net.Addr
	raddr    windows.Sockaddr // CLIENT target
	family   int
	ln       atomic.Pointer[listener] // set once Listen's socket is ready (the loops read it)
	sessions []*session
	quit     chan struct{}
	setupMu  sync.Mutex     // Listen starts its listener under it; Close's stop takes it
	wg       sync.WaitGroup // acquired slots, outstanding AcceptEx, pending reconnects
	retire   atomic.Int32   // loops that have not yet dequeued the retire barrier
}

var _ models.Service = (*service)(nil)

func (s *service) Addr() net.Addr { return s.addr }

func (e *Engine) newService(opt models.ServiceOptions, h models.Handler) (*service, error) {
	if opt.PoolSize > maxSlots {
		return nil, badConfig("PoolSize %d > %d", opt.PoolSize, maxSlots)
	}
	s := &service{eng: e, quit: make(chan struct{})}
	if err := s.InitService(opt, h); err != nil {
		return nil, err
	}
	s.sessions = make([]*session, opt.PoolSize)
	for i := range s.sessions {
		ss := &session{svc: s, slot: i, loop: e.loops[i%len(e.loops)], sock: windows.InvalidHandle}
		ss.InitCore()
		s.sessions[i] = ss
	}
	s.SetRedial(s.reconnectLater)
	// Registered last: the loops find the service (and its sessions) through this atomic
	// publication, which orders every write above before their reads.
	if err := e.addService(s); err != nil {
		return nil, err
	}
	return s, nil
}

// retired counts one loop past the retire barrier; the last frees the service's id.
func (s *service) retired() {
	if s.retire.Add(-1) == 0 {
		s.eng.svcs.Release(s.id)
	}
}

// Listen starts a SERVER service.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
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
		s.Close()
		return nil, err
	}
	// Under setupMu: either Close's stop (which takes it) finds the listener and has its
	// loop close the socket, or the service is already closing and the listener never starts.
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.Closing() {
		windows.Closesocket(ln.sock)
		ln.slots.Free()
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
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h)
	if err != nil {
		return nil, err
	}
	s.addr = ta
	s.family, s.raddr = sock.Sockaddr(ta)
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
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
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
		s.Counters().ConnectFailed()
		s.connectFailed(slot, waiter, models.WrapOp(Name, op, err))
	}
	if err := ss.ensureMem(s.eng.cfg); err != nil {
		fail("VirtualAlloc", err, windows.InvalidHandle)
		return
	}
	sock, op, err := winsock.DialSocket(s.family, 0)
	if err != nil {
		fail(op, err, windows.InvalidHandle)
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
	if s.Closing() {
		ss.mu.Unlock()
		windows.Closesocket(sock)
		s.connectFailed(slot, waiter, models.ErrClosed)
		return
	}
	ss.sock, ss.connecting, ss.waiter = sock, true, waiter
	*ss.connOp = windows.Overlapped{}
	err = windows.ConnectEx(sock, s.raddr, nil, 0, nil, ss.connOp)
	ss.mu.Unlock()
	if err != nil && err != winsock.ErrIOPending {
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
		s.releaseSlot(slot)
	} else {
		s.reconnectLater()
	}
}

// reconnectLater schedules one connect attempt after ReconnectDelay (auto-reconnect only).
func (s *service) reconnectLater() {
	if !s.AutoReconnect() || s.Closing() {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTimer(s.Options().ReconnectDelay)
		defer t.Stop()
		select {
		case <-s.quit:
			return
		case <-t.C:
		}
		if !s.Closing() {
			s.connect(nil)
		}
	}()
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
	s.CloseOnce(s.eng.inside.Current(), s.stop, s.kickAll, s.wg.Wait, s.free)
	return nil
}

// stop closes the listener (on its loop) and stops the reconnect timers.
func (s *service) stop() {
	close(s.quit)
	s.setupMu.Lock()
	ln := s.ln.Load()
	s.setupMu.Unlock()
	if ln != nil {
		ln.loop.post(makeKey(kindListen, s.id, 0, 0)) // the listener loop closes the socket
	}
}

// kickAll posts one shutdown packet per live slot.
func (s *service) kickAll() {
	for _, slot := range s.Pool().Alive() {
		ss := s.sessions[slot]
		ss.loop.post(makeKey(kindShutdown, s.id, ss.gen.Load(), slot))
	}
}

// free runs once every operation has completed: the id goes back after the retire barrier
// (a wake-up packet still queued, kindShutdown above, then finds this service and a slot with
// nothing open), and the slabs are freed.
func (s *service) free() {
	s.eng.removeService(s)
	for _, ss := range s.sessions {
		ss.freeMem()
	}
	if ln := s.ln.Load(); ln != nil {
		ln.slots.Free()
	}
}

// numAccepts is how many AcceptEx calls each listener keeps outstanding.
const numAccepts = 8

// listener is the seed's IocpObjectListener.
type listener struct {
	svc     *service
	sock    windows.Handle // owned by loop after start
	addr    *net.TCPAddr
	family  int
	loop    *loop
	slots   *winsock.AcceptSlots
	pending atomic.Int32 // AcceptEx calls outstanding
	closed  bool         // loop-owned
}

func (s *service) listen(ta *net.TCPAddr) (*listener, error) {
	lsock, bound, family, op, err := winsock.Listen(ta, 0)
	if err != nil {
		return nil, models.WrapOp(Name, op, err)
	}
	fail := func(op string, err error) (*listener, error) {
		windows.Closesocket(lsock)
		return nil, models.WrapOp(Name, op, err)
	}
	ln := &listener{svc: s, sock: lsock, addr: bound, family: family,
		loop: s.eng.loops[s.id%len(s.eng.loops)]}
	if _, err := windows.CreateIoCompletionPort(lsock, ln.loop.port, makeKey(kindListen, s.id, 0, 0), 0); err != nil {
		return fail("CreateIoCompletionPort", err)
	}
	if ln.slots, err = winsock.NewAcceptSlots(numAccepts); err != nil {
		return fail("VirtualAlloc", err)
	}
	return ln, nil
}

// start pre-posts the AcceptEx calls.
func (ln *listener) start() {
	for i := range ln.slots.Len() {
		ln.svc.wg.Add(1)
		ln.pending.Add(1)
		ln.post(i)
	}
}

// acceptRetry is how long an AcceptEx that could not be issued (no socket or no memory: the
// Windows EMFILE) waits before it is issued again.
const acceptRetry = 10 * time.Millisecond

// post issues AcceptEx for slot i. Once the listener is closed the slot retires; if AcceptEx
// (or the socket for it) fails, the failure is counted and the slot is issued again after
// acceptRetry (a retry packet: the slot's OVERLAPPED with no socket, see complete), so a
// listener never loses its pending accepts to a burst of failures.
func (ln *listener) post(i int) {
	if ln.closed || ln.svc.Closing() {
		ln.retire()
		return
	}
	as, err := winsock.Socket(ln.family, 0)
	if err == nil {
		if err = ln.slots.Post(i, ln.sock, as); err == nil {
			return // the completion comes as a packet (no skip mode on listeners)
		}
		windows.Closesocket(as)
	}
	ln.svc.Counters().AcceptError()
	key := makeKey(kindListen, ln.svc.id, 0, 0)
	ov := ln.slots.Overlapped(i)
	time.AfterFunc(acceptRetry, func() {
		if windows.PostQueuedCompletionStatus(ln.loop.port, 0, key, ov) != nil {
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
	i := ln.slots.Index(c.ov)
	if i < 0 {
		return
	}
	as := ln.slots.Take(i)
	if as == windows.InvalidHandle { // a retry packet from post
		ln.post(i)
		return
	}
	var local, remote *net.TCPAddr
	err := error(nil)
	if c.status != 0 || ln.closed || s.Closing() {
		err = models.ErrClosed
		if c.status != 0 && !ln.closed && !s.Closing() {
			s.Counters().AcceptError() // a connection reset before it was accepted
		}
	} else if local, remote, err = ln.slots.Accepted(i, ln.sock, as); err != nil {
		s.Counters().AcceptError()
	}
	if err != nil {
		// Aborted by the listener's close, or a connection reset before it was accepted
		// (recoverable: accept the next one).
		windows.Closesocket(as)
		ln.post(i)
		return
	}
	ln.post(i)
	refuse := func() {
		sock.SetAbortive(as)
		windows.Closesocket(as)
		s.Counters().Refused()
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		refuse()
		return
	}
	s.wg.Add(1)
	ss := s.sessions[slot]
	if err := ss.ensureMem(s.eng.cfg); err != nil {
		refuse()
		s.releaseSlot(slot)
		return
	}
	gen := ss.gen.Add(1)
	if _, err := windows.CreateIoCompletionPort(as, ss.loop.port, makeKey(kindSock, s.id, gen, slot), 0); err != nil {
		refuse()
		s.releaseSlot(slot)
		return
	}
	ss.mu.Lock()
	ss.sock, ss.pendLocal, ss.pendRemote = as, local, remote
	ss.mu.Unlock()
	s.Counters().Accepted()
	if err := ss.loop.post(makeKey(kindOpen, s.id, gen, slot)); err != nil {
		ss.handleOpen(l) // cannot happen while the engine runs; never lose the session
	}
}

// releaseSlot gives back a slot that never opened a session (a failed accept or connect) and
// drops its wg reference; an auto-reconnect service schedules its next attempt first, so the
// attempt's wg reference is taken before the slot's is dropped: Close's Wait never sees zero
// in between and no Add races it.
func (s *service) releaseSlot(slot int) {
	s.Pool().Release(slot)
	s.reconnectLater()
	s.wg.Done()
}
