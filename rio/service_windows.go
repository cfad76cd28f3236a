package rio

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/internal/winsock"
	"github.com/iobench/iobench/models"
)

// service is a SERVER (AcceptEx) or CLIENT / CLIENT_AUTO_RECONNECT (ConnectEx) group of
// pooled sessions.
type service struct {
	models.ServiceCore
	e        *Engine
	idx      int
	addr     net.Addr
	family   int
	raddr    windows.Sockaddr // CLIENT target
	ln       windows.Handle   // SERVER listen socket
	lnLoop   *loop
	sessions []*session

	// accept holds the AcceptEx slots (SERVER), ops the ConnectEx OVERLAPPEDs (CLIENT, one per
	// slot), both in VirtualAlloc'd memory, found back by address.
	accept *winsock.AcceptSlots
	ops    []byte
	// acceptMu guards the accept slots' sockets (written by Listen's goroutine, then by the
	// listener's loop) and ln once the service is registered: AcceptEx and
	// SO_UPDATE_ACCEPT_CONTEXT use ln under it and Close closes ln under it, so no call ever
	// names a closed (possibly reused) handle.
	acceptMu sync.Mutex

	quit chan struct{}
	// wg counts pending AcceptEx, connects, live sessions, redial timers, and the setup
	// reference register takes (dropped once Listen or Connect has issued its I/O).
	wg sync.WaitGroup
}

var _ models.Service = (*service)(nil)

func (s *service) Addr() net.Addr { return s.addr }

// newService builds a service with its sessions and OVERLAPPEDs and publishes it for
// completions. Engine.Close cannot see it yet: the caller finishes it (listen socket, target)
// and then registers it (Engine.register) before issuing any I/O, or Closes it on failure.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler) (*service, error) {
	s := &service{e: e, quit: make(chan struct{}), ln: windows.InvalidHandle}
	if err := s.InitService(opt, h); err != nil {
		return nil, err
	}
	s.SetRedial(s.redialLater)
	var err error
	if opt.Type == models.ServiceServer {
		if s.accept, err = winsock.NewAcceptSlots(acceptOps); err != nil {
			return nil, models.WrapOp(Name, "VirtualAlloc", err)
		}
	} else if s.ops, err = virtualAlloc(opt.PoolSize * opSize); err != nil {
		return nil, err
	}
	if err := e.reserveIndex(s); err != nil {
		s.freeOps()
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
	return s, nil
}

func (s *service) freeOps() {
	if s.accept != nil {
		s.accept.Free()
		s.accept = nil
	}
	virtualFree(s.ops)
	s.ops = nil
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
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h)
	if err != nil {
		return nil, err
	}
	if err := s.listen(ta); err != nil {
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

func (s *service) listen(ta *net.TCPAddr) error {
	ln, bound, family, op, err := winsock.Listen(ta, windows.WSA_FLAG_REGISTERED_IO)
	if err != nil {
		return models.WrapOp(Name, op, err)
	}
	s.ln, s.addr, s.family = ln, bound, family
	s.lnLoop = s.e.loops[s.idx%len(s.e.loops)]
	if _, err := windows.CreateIoCompletionPort(ln, s.lnLoop.port, mkKey(keyAccept, s.idx), 0); err != nil {
		return models.WrapOp(Name, "CreateIoCompletionPort", err)
	}
	return nil
}

// postAccept issues AcceptEx for slot i with a fresh RIO-capable socket; models.ErrClosed once
// the service is closing (Close has closed, or is about to close, ln).
func (s *service) postAccept(i int) error {
	as, err := newSocket(s.family)
	if err != nil {
		return models.WrapOp(Name, "WSASocket", err)
	}
	s.acceptMu.Lock()
	defer s.acceptMu.Unlock()
	if s.Closing() {
		windows.Closesocket(as)
		return models.ErrClosed
	}
	if err := s.accept.Post(i, s.ln, as); err != nil {
		windows.Closesocket(as)
		return models.WrapOp(Name, "AcceptEx", err)
	}
	return nil // a synchronous success is also queued to the port
}

// acceptDone runs on the listener's loop.
func (s *service) acceptDone(ov *windows.Overlapped, err error) {
	i := s.accept.Index(ov)
	if i < 0 {
		return
	}
	s.acceptMu.Lock()
	as := s.accept.Take(i)
	closing := s.Closing()
	var local, remote *net.TCPAddr
	if err == nil && !closing {
		// Under acceptMu: Close cannot close ln meanwhile.
		local, remote, err = s.accept.Accepted(i, s.ln, as)
	}
	s.acceptMu.Unlock()
	if err != nil || closing {
		windows.Closesocket(as)
		if closing {
			s.wg.Done()
			return
		}
		s.Counters().AcceptError()
		s.rearm(i) // the peer gave up before the accept completed
		return
	}
	s.rearm(i)
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		windows.Closesocket(as)
		return
	}
	s.Counters().Accepted()
	ss := s.sessions[slot]
	ss.mu.Lock() // hand-off to the session's loop: open reads these under mu
	ss.sock, ss.local, ss.remote = as, local, remote
	ss.mu.Unlock()
	s.wg.Add(1)
	if err := postQueued(ss.lp.port, uint32(slot), mkKey(keyOpen, s.idx), nil); err != nil {
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
	if s.Closing() {
		s.wg.Done()
		return
	}
	if err := s.postAccept(i); err != nil {
		if errors.Is(err, models.ErrClosed) {
			s.wg.Done()
			return
		}
		s.Counters().AcceptError()
		time.AfterFunc(acceptRetry, func() { s.rearm(i) })
	}
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service of opt.Conns sessions.
// https://learn.microsoft.com/windows/win32/api/mswsock/nc-mswsock-lpfn_connectex
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForClient(e.cfg)
	if err != nil {
		return nil, err
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	if err := windows.LoadConnectEx(); err != nil {
		return nil, models.WrapOp(Name, "WSAIoctl(WSAID_CONNECTEX)", err)
	}
	s, err := e.newService(opt, h)
	if err != nil {
		return nil, err
	}
	s.addr = ta
	s.family, s.raddr = sock.Sockaddr(ta)
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
	if s.Closing() {
		if done != nil {
			done(models.ErrClosed)
		}
		return
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
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
	sock, op, err := winsock.DialSocket(s.family, windows.WSA_FLAG_REGISTERED_IO)
	if err != nil {
		ss.connectFailed(models.WrapOp(Name, op, err))
		return
	}
	ss.mu.Lock()
	ss.sock = sock
	ss.mu.Unlock()
	if _, err := windows.CreateIoCompletionPort(sock, ss.lp.port, mkKey(keyConnect, s.idx), 0); err != nil {
		ss.connectFailed(models.WrapOp(Name, "CreateIoCompletionPort", err))
		return
	}
	// ConnectEx under mu, after a last look at closing: Close sets closing before it scans
	// the pool, and cancelConnect takes mu, so either this attempt is pending (connecting)
	// when Close cancels it, or it is never made.
	ss.mu.Lock()
	if s.Closing() {
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
	local, remote, err := winsock.Connected(sock, s.addr.(*net.TCPAddr))
	if err != nil {
		ss.connectFailed(models.WrapOp(Name, "ConnectEx", err))
		return
	}
	s.Counters().Connected()
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
	if !s.AutoReconnect() || s.Closing() {
		return
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		select {
		case <-s.quit:
			return
		case <-time.After(s.Options().ReconnectDelay):
		}
		if !s.Closing() {
			s.dial(nil)
		}
	}()
}

// Close stops accepting/reconnecting, kicks every session with KickShutdown once (and cancels
// pending ConnectEx calls) and waits for their OnDisconnect, then frees the service's
// OVERLAPPEDs. One pass suffices: closing is set first, a ConnectEx is issued under ss.mu
// after a look at closing (cancelConnect takes mu), and open kicks a session that opens
// after the pass (models.ServiceCore.Opened).
func (s *service) Close() error {
	s.CloseOnce(s.e.inside.Current(), s.stop, s.kickAll, s.wg.Wait, s.free)
	return nil
}

// stop closes the listen socket: pending AcceptEx complete with an error.
func (s *service) stop() {
	close(s.quit)
	s.acceptMu.Lock() // after closing is set: postAccept, which checks it under acceptMu, posts no more
	if s.ln != windows.InvalidHandle {
		windows.Closesocket(s.ln)
		s.ln = windows.InvalidHandle
	}
	s.acceptMu.Unlock()
}

func (s *service) kickAll() {
	for _, slot := range s.Pool().Alive() {
		ss := s.sessions[slot]
		if ss.Refs() > 0 {
			ss.Kick(models.KickShutdown)
		} else {
			ss.cancelConnect()
		}
	}
}

func (s *service) free() {
	for _, ss := range s.sessions {
		if ss != nil {
			ss.releaseSlice()
		}
	}
	s.freeOps()
	s.e.removeService(s)
}
