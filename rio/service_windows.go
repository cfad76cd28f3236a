package rio

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/models"
)

// service is a SERVER (AcceptEx) or CLIENT / CLIENT_AUTO_RECONNECT (ConnectEx) group of
// pooled sessions.
type service struct {
	e        *Engine
	idx      int
	opt      models.ServiceOptions
	h        models.Handler
	addr     net.Addr
	family   int
	raddr    windows.Sockaddr // CLIENT target
	ln       windows.Handle   // SERVER listen socket
	lnLoop   *loop
	pool     *models.SessionPool
	sessions []*session
	counters models.Counters

	// ops holds the OVERLAPPEDs of AcceptEx (acceptOps of them) or ConnectEx (one per slot)
	// in VirtualAlloc'd memory, found back by address arithmetic.
	ops []byte
	// acceptMu guards acceptSock (written by Listen's goroutine, then by the listener's loop)
	// and ln once the service is registered: AcceptEx and SO_UPDATE_ACCEPT_CONTEXT use ln under
	// it and Close closes ln under it, so no call ever names a closed (possibly reused) handle.
	acceptMu   sync.Mutex
	acceptSock [acceptOps]windows.Handle

	closing atomic.Bool
	quit    chan struct{}
	closeMu sync.Mutex
	closed  bool
	// wg counts pending AcceptEx, connects, live sessions, redial timers, and the setup
	// reference register takes (dropped once Listen or Connect has issued its I/O).
	wg sync.WaitGroup
}

var _ models.Service = (*service)(nil)

func (s *service) Type() models.ServiceType   { return s.opt.Type }
func (s *service) Addr() net.Addr             { return s.addr }
func (s *service) Stats() models.ServiceStats { return s.counters.Snapshot(s.pool.Live()) }

// newService builds a service with its sessions and OVERLAPPEDs and publishes it for
// completions. Engine.Close cannot see it yet: the caller finishes it (listen socket, target)
// and then registers it (Engine.register) before issuing any I/O, or Closes it on failure.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, nops int) (*service, error) {
	pool, err := models.NewSessionPool(opt.PoolSize)
	if err != nil {
		return nil, err
	}
	s := &service{e: e, opt: opt, h: h, pool: pool, quit: make(chan struct{}), ln: windows.InvalidHandle}
	for i := range s.acceptSock {
		s.acceptSock[i] = windows.InvalidHandle
	}
	if err := e.reserveIndex(s); err != nil {
		return nil, err
	}
	if s.ops, err = virtualAlloc(nops * opSize); err != nil {
		return nil, err
	}
	s.sessions = make([]*session, opt.PoolSize)
	for i := range s.sessions {
		ring, _ := newSendRing(sendParts, sendDepth)
		ss := &session{svc: s, slot: i, lp: e.loops[(i+s.idx)%len(e.loops)], ring: ring,
			key: uint64(s.idx)<<32 | uint64(i), sock: windows.InvalidHandle}
		ss.InitCore()
		s.sessions[i] = ss
	}
	s.e.publish(s)
	return s, nil
}

func (s *service) op(i int) *windows.Overlapped {
	return (*windows.Overlapped)(unsafe.Pointer(&s.ops[i*opSize]))
}

func (s *service) opIndex(ov *windows.Overlapped) int {
	return int((uintptr(unsafe.Pointer(ov)) - uintptr(unsafe.Pointer(&s.ops[0]))) / opSize)
}

// Listen starts a SERVER service: a listen socket on one loop's port with acceptOps AcceptEx
// calls pending. https://learn.microsoft.com/windows/win32/api/mswsock/nf-mswsock-acceptex
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h, acceptOps)
	if err != nil {
		return nil, err
	}
	sa, family := sockaddr(ta)
	s.family = family
	if err := s.listen(sa); err != nil {
		s.Close()
		return nil, err
	}
	if err := e.register(s); err != nil {
		s.Close()
		return nil, err
	}
	for i := range acceptOps {
		s.wg.Add(1)
		if err := s.postAccept(i); err != nil {
			s.wg.Done()
			s.wg.Done() // the setup reference, or Close would wait for this very call
			s.Close()   // the AcceptEx calls already pending complete when it closes ln
			return nil, err
		}
	}
	s.wg.Done() // the setup reference: every pending AcceptEx holds its own
	return s, nil
}

func (s *service) listen(sa windows.Sockaddr) error {
	ln, err := newSocket(s.family)
	if err != nil {
		return models.WrapOp(Name, "WSASocket", err)
	}
	s.ln = ln
	if err := windows.Bind(ln, sa); err != nil {
		return models.WrapOp(Name, "bind", err)
	}
	if err := windows.Listen(ln, windows.SOMAXCONN); err != nil {
		return models.WrapOp(Name, "listen", err)
	}
	bound, err := windows.Getsockname(ln)
	if err != nil {
		return models.WrapOp(Name, "getsockname", err)
	}
	s.addr = tcpAddr(bound)
	s.lnLoop = s.e.loops[s.idx%len(s.e.loops)]
	if _, err := windows.CreateIoCompletionPort(ln, s.lnLoop.port, mkKey(keyAccept, s.idx), 0); err != nil {
		return models.WrapOp(Name, "CreateIoCompletionPort", err)
	}
	return nil
}

// postAccept issues AcceptEx for op i with a fresh RIO-capable socket; models.ErrClosed once
// the service is closing (Close has closed, or is about to close, ln).
func (s *service) postAccept(i int) error {
	as, err := newSocket(s.family)
	if err != nil {
		return models.WrapOp(Name, "WSASocket", err)
	}
	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	if s.closing.Load() {
		windows.Closesocket(as)
		return models.ErrClosed
	}
	s.acceptSock[i] = as
	ov := s.op(i)
	*ov = windows.Overlapped{}
	buf := &s.ops[i*opSize+int(unsafe.Sizeof(windows.Overlapped{}))]
	var n uint32
	err = windows.AcceptEx(s.ln, as, buf, 0, acceptAddrLen, acceptAddrLen, &n, ov)
	if err != nil && err != windows.ERROR_IO_PENDING {
		s.acceptSock[i] = windows.InvalidHandle
		windows.Closesocket(as)
		return models.WrapOp(Name, "AcceptEx", err)
	}
	return nil // a synchronous success is also queued to the port
}

// acceptDone runs on the listener's loop.
func (s *service) acceptDone(ov *windows.Overlapped, err error) {
	i := s.opIndex(ov)
	s.acceptMu.Lock()
	as, ln := s.acceptSock[i], s.ln
	s.acceptSock[i] = windows.InvalidHandle
	closing := s.closing.Load()
	if err == nil && !closing {
		// Under acceptMu: Close cannot close ln meanwhile.
		err = windows.Setsockopt(as, windows.SOL_SOCKET, windows.SO_UPDATE_ACCEPT_CONTEXT,
			(*byte)(unsafe.Pointer(&ln)), int32(unsafe.Sizeof(ln)))
	}
	s.acceptMu.Unlock()
	if err != nil || closing {
		windows.Closesocket(as)
		if closing {
			s.wg.Done()
			return
		}
		s.counters.AcceptError()
		s.rearm(i) // the peer gave up before the accept completed
		return
	}
	var lsa, rsa *windows.RawSockaddrAny
	var ll, rl int32
	windows.GetAcceptExSockaddrs(&s.ops[i*opSize+int(unsafe.Sizeof(windows.Overlapped{}))], 0,
		acceptAddrLen, acceptAddrLen, &lsa, &ll, &rsa, &rl)
	local, remote := rawAddr(lsa), rawAddr(rsa)
	s.rearm(i)
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		windows.Closesocket(as)
		return
	}
	s.counters.Accepted()
	ss := s.sessions[slot]
	ss.mu.Lock() // hand-off to the session's loop: open reads these under mu
	ss.sock, ss.local, ss.remote = as, local, remote
	ss.mu.Unlock()
	s.wg.Add(1)
	if err := windows.PostQueuedCompletionStatus(ss.lp.port, uint32(slot), mkKey(keyOpen, s.idx), nil); err != nil {
		ss.openFailed(models.WrapOp(Name, "PostQueuedCompletionStatus", err))
	}
}

// acceptRetry is how long an AcceptEx that could not be issued (no socket or no memory: the
// Windows EMFILE) waits before it is issued again.
const acceptRetry = 10 * time.Millisecond

// rearm issues AcceptEx for op i again. A failure is counted and retried after acceptRetry
// (the op keeps its wg count meanwhile), so a burst of failures never leaves the listener
// without pending accepts; once the service is closing the op retires.
func (s *service) rearm(i int) {
	if s.closing.Load() {
		s.wg.Done()
		return
	}
	if err := s.postAccept(i); err != nil {
		if errors.Is(err, models.ErrClosed) {
			s.wg.Done()
			return
		}
		s.counters.AcceptError()
		time.AfterFunc(acceptRetry, func() { s.rearm(i) })
	}
}

func rawAddr(r *windows.RawSockaddrAny) net.Addr {
	if r == nil {
		return &net.TCPAddr{}
	}
	sa, err := r.Sockaddr()
	if err != nil {
		return &net.TCPAddr{}
	}
	return tcpAddr(sa)
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service of opt.Conns sessions.
// https://learn.microsoft.com/windows/win32/api/mswsock/nc-mswsock-lpfn_connectex
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForClient(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	if err := windows.LoadConnectEx(); err != nil {
		return nil, models.WrapOp(Name, "WSAIoctl(WSAID_CONNECTEX)", err)
	}
	s, err := e.newService(opt, h, opt.PoolSize)
	if err != nil {
		return nil, err
	}
	s.addr = ta
	s.raddr, s.family = sockaddr(ta)
	if err := e.register(s); err != nil {
		s.Close()
		return nil, err
	}
	var first sync.WaitGroup
	var ok atomic.Int32
	var firstErr atomic.Pointer[error]
	for range opt.Conns {
		first.Add(1)
		s.dial(func(err error) {
			if err == nil {
				ok.Add(1)
			} else {
				firstErr.CompareAndSwap(nil, &err)
			}
			first.Done()
		})
	}
	s.wg.Done() // the setup reference: every attempt holds its own now
	first.Wait()
	if ok.Load() == 0 && opt.Type == models.ServiceClient {
		s.Close()
		if err := *firstErr.Load(); !errors.Is(err, models.ErrClosed) {
			return nil, models.WrapOp(Name, "connect", err)
		}
		return nil, models.ErrClosed // the engine closed while connecting
	}
	return s, nil
}

// dial takes a slot and issues ConnectEx for it; done (may be nil) gets the attempt's result
// (models.ErrClosed once the service is closing). The caller holds a wg reference.
func (s *service) dial(done func(error)) {
	if s.closing.Load() {
		if done != nil {
			done(models.ErrClosed)
		}
		return
	}
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		if done != nil {
			done(models.ErrPoolExhausted)
		}
		s.redialLater()
		return
	}
	ss := s.sessions[slot]
	s.wg.Add(1)
	ss.mu.Lock()
	ss.connectDoneFn = done
	ss.mu.Unlock()
	sock, err := newSocket(s.family)
	if err != nil {
		ss.connectFailed(models.WrapOp(Name, "WSASocket", err))
		return
	}
	ss.mu.Lock()
	ss.sock = sock
	ss.mu.Unlock()
	var any windows.Sockaddr = &windows.SockaddrInet4{}
	if s.family == windows.AF_INET6 {
		any = &windows.SockaddrInet6{}
	}
	if err := windows.Bind(sock, any); err != nil { // ConnectEx needs a bound socket
		ss.connectFailed(models.WrapOp(Name, "bind", err))
		return
	}
	if _, err := windows.CreateIoCompletionPort(sock, ss.lp.port, mkKey(keyConnect, s.idx), 0); err != nil {
		ss.connectFailed(models.WrapOp(Name, "CreateIoCompletionPort", err))
		return
	}
	// ConnectEx under mu, after a last look at closing: Close sets closing before it scans
	// the pool, and cancelConnect takes mu, so either this attempt is pending (connecting)
	// when Close cancels it, or it is never made.
	ss.mu.Lock()
	if s.closing.Load() {
		ss.mu.Unlock()
		ss.connectFailed(models.ErrClosed)
		return
	}
	ov := s.op(slot)
	*ov = windows.Overlapped{}
	err = windows.ConnectEx(sock, s.raddr, nil, 0, nil, ov)
	if err == nil || err == windows.ERROR_IO_PENDING {
		ss.connecting = true
		err = nil
	}
	ss.mu.Unlock()
	if err != nil {
		ss.connectFailed(models.WrapOp(Name, "ConnectEx", err))
	}
}

// connectDone runs on the session's loop.
func (s *service) connectDone(ov *windows.Overlapped, err error) {
	ss := s.sessions[s.opIndex(ov)]
	ss.mu.Lock()
	ss.connecting = false
	sock := ss.sock
	ss.mu.Unlock()
	if err != nil {
		ss.connectFailed(models.WrapOp(Name, "ConnectEx", err))
		return
	}
	if err := windows.Setsockopt(sock, windows.SOL_SOCKET, windows.SO_UPDATE_CONNECT_CONTEXT, nil, 0); err != nil {
		ss.connectFailed(models.WrapOp(Name, "setsockopt(SO_UPDATE_CONNECT_CONTEXT)", err))
		return
	}
	var local, remote net.Addr = &net.TCPAddr{}, s.addr
	if sa, err := windows.Getsockname(sock); err == nil {
		local = tcpAddr(sa)
	}
	if sa, err := windows.Getpeername(sock); err == nil {
		remote = tcpAddr(sa)
	}
	// TCP simultaneous open: with nothing listening on a local target port, the kernel may pick
	// that very port for our bind(0) and connect the socket to itself (Wine does, even with the
	// port held by a bound socket). Go's dialer checks for this too (selfConnect); it is a
	// refused connection.
	if l, ok := local.(*net.TCPAddr); ok && l.Port != 0 && l.String() == remote.String() {
		ss.connectFailed(models.WrapOp(Name, "ConnectEx", windows.WSAECONNREFUSED))
		return
	}
	s.counters.Connected()
	ss.mu.Lock()
	ss.local, ss.remote = local, remote
	done := ss.connectDoneFn
	ss.connectDoneFn = nil
	ss.mu.Unlock()
	err = ss.open()
	if done != nil {
		done(err)
	}
}

// redialLater schedules one reconnect attempt for an auto-reconnect service.
func (s *service) redialLater() {
	if s.opt.Type != models.ServiceClientAutoReconnect || s.closing.Load() {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-s.quit:
			return
		case <-time.After(s.opt.ReconnectDelay):
		}
		if !s.closing.Load() {
			s.dial(nil)
		}
	}()
}

// Close stops accepting/reconnecting, kicks every session with KickShutdown and waits for
// their OnDisconnect, then frees the service's OVERLAPPEDs.
func (s *service) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.closing.Store(true)
	close(s.quit)
	s.acceptMu.Lock() // after closing is set: postAccept, which checks it under acceptMu, posts no more
	if s.ln != windows.InvalidHandle {
		windows.Closesocket(s.ln) // pending AcceptEx complete with an error
		s.ln = windows.InvalidHandle
	}
	s.acceptMu.Unlock()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	for {
		for _, slot := range s.pool.Alive() {
			ss := s.sessions[slot]
			if ss.Refs() > 0 {
				ss.Kick(models.KickShutdown)
			} else {
				ss.cancelConnect()
			}
		}
		select {
		case <-done:
			for _, ss := range s.sessions {
				ss.releaseSlice()
			}
			virtualFree(s.ops)
			s.ops = nil
			s.e.removeService(s)
			return nil
		case <-time.After(10 * time.Millisecond):
		}
	}
}
