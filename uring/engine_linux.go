package uring

import (
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

// Ring and buffer sizes. Variables, not constants, so tests can shrink the provided-buffer
// ring to force -ENOBUFS.
var (
	ringEntries uint32 = 1024    // SQEs per ring (CQ is 4x, and NODROP buffers any overflow)
	bufEntries  uint16 = 256     // provided buffers per loop
	bufSize            = 8 << 10 // bytes per provided buffer: 2 MiB of receive buffers per loop
)

const (
	// recvModeEnv selects the receive mode (see the package doc): "multishot" (default) or
	// "direct". It is read by New, so one process can compare both.
	recvModeEnv   = "IOBENCH_URING_RECV"
	listenBacklog = 4096
	acceptBackoff = 5 * time.Millisecond // re-arm delay after EMFILE and similar accept errors
	closePoll     = 10 * time.Millisecond
	bufGroup      = 0 // buffer group id: one group per ring, so the same id on every loop
)

// Engine is the io_uring engine.
type Engine struct {
	cfg    models.Config
	direct bool // receive mode "direct": single-shot recv into the RecvBuffer, no buffer ring
	loops  []*loop
	next   atomic.Uint32 // round-robin loop choice for client sessions

	mu        sync.RWMutex
	closed    bool
	services  map[*service]struct{}
	closeDone chan struct{}
}

var _ models.Engine = (*Engine)(nil)

func newEngine(cfg models.Config) (models.Engine, error) {
	if err := available(); err != nil {
		return nil, err
	}
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, services: map[*service]struct{}{}, closeDone: make(chan struct{})}
	switch mode := os.Getenv(recvModeEnv); mode {
	case "", "multishot":
	case "direct":
		e.direct = true
	default:
		return nil, fmt.Errorf("%w: %s=%q, want multishot or direct", models.ErrBadConfig, recvModeEnv, mode)
	}
	for i := range cfg.Loops {
		l, err := startLoop(e, i)
		if err != nil {
			e.stopLoops()
			return nil, models.WrapOp(Name, "ring setup", err)
		}
		e.loops = append(e.loops, l)
	}
	return e, nil
}

func (e *Engine) Name() string { return Name }

// Post queues job on loop 0, behind every message already queued there (FIFO).
func (e *Engine) Post(job func()) error {
	if job == nil {
		return fmt.Errorf("%w: nil job", models.ErrBadConfig)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.closed {
		return models.ErrClosed
	}
	e.loops[0].post(msg{kind: mJob, job: job})
	return nil
}

// Close closes every service, then stops the loops (loop 0 runs the jobs queued before Close
// first), waiting for every in-flight request and freeing the rings.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.closeDone
		return nil
	}
	e.closed = true
	svcs := make([]*service, 0, len(e.services))
	for s := range e.services {
		svcs = append(svcs, s)
	}
	e.mu.Unlock()
	for _, s := range svcs {
		s.Close()
	}
	e.stopLoops()
	close(e.closeDone)
	return nil
}

func (e *Engine) stopLoops() {
	for _, l := range e.loops {
		l.post(msg{kind: mStop})
	}
	for _, l := range e.loops {
		<-l.done
	}
}

func (e *Engine) pickLoop() *loop {
	return e.loops[int(e.next.Add(1)-1)%len(e.loops)]
}

func (e *Engine) addService(s *service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return models.ErrClosed
	}
	e.services[s] = struct{}{}
	return nil
}

func (e *Engine) removeService(s *service) {
	e.mu.Lock()
	delete(e.services, s)
	e.mu.Unlock()
}

// Listen starts a SERVER service: one SO_REUSEPORT listener per loop on the same port, each
// with a multishot accept on its loop's ring.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	taddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	port := taddr.Port
	if port != 0 {
		if err := portFree(taddr); err != nil {
			return nil, models.WrapOp(Name, "listen", err)
		}
	}
	// Sockets first, so the service is complete when Engine.Close can first see it.
	fds := make([]int, 0, len(e.loops))
	var bound net.Addr
	for i := range e.loops {
		fd, a, err := listenSocket(taddr, port)
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, models.WrapOp(Name, "listen", err)
		}
		if i == 0 {
			port, bound = a.Port, a
		}
		fds = append(fds, fd)
	}
	s, err := e.newService(opt, h, bound, func(s *service) {
		for i, fd := range fds {
			s.listeners = append(s.listeners, &listener{svc: s, loop: e.loops[i], fd: fd})
			s.wg.Add(1) // released when the listener fd is closed after its accept ended
		}
	})
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	for _, ln := range s.listeners {
		ln.loop.post(msg{kind: mListen, ln: ln})
	}
	return s, nil
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service; sessions go to the loops
// round-robin and connect with IORING_OP_CONNECT.
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForClient(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	raddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h, raddr, func(s *service) {
		// One token per connection: attempt → session → reconnect timer → ...; taken before
		// the service is visible to Engine.Close.
		s.wg.Add(opt.Conns)
	})
	if err != nil {
		return nil, err
	}
	var (
		first    sync.WaitGroup
		ok       atomic.Int32
		firstErr atomic.Pointer[error]
	)
	for range opt.Conns {
		first.Add(1)
		att := &attempt{svc: s, first: func(err error) {
			if err == nil {
				ok.Add(1)
			} else {
				firstErr.CompareAndSwap(nil, &err)
			}
			first.Done()
		}}
		e.pickLoop().post(msg{kind: mConnect, att: att})
	}
	first.Wait()
	if ok.Load() == 0 && opt.Type == models.ServiceClient {
		s.Close()
		return nil, models.WrapOp(Name, "connect", *firstErr.Load())
	}
	return s, nil
}

func listenSocket(addr *net.TCPAddr, port int) (int, *net.TCPAddr, error) {
	sa, family := tcpSockaddr(addr.IP, port)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, nil, err
	}
	err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1)
	if err == nil {
		err = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
	}
	if err == nil {
		err = unix.Bind(fd, sa)
	}
	if err == nil {
		err = unix.Listen(fd, listenBacklog)
	}
	var bound unix.Sockaddr
	if err == nil {
		bound, err = unix.Getsockname(fd)
	}
	if err != nil {
		unix.Close(fd)
		return -1, nil, err
	}
	return fd, tcpAddrOf(bound), nil
}

// portFree binds a plain socket (no SO_REUSEPORT) to addr and closes it. SO_REUSEPORT would
// otherwise let Listen join a port another process of the same user already listens on with
// SO_REUSEPORT (a second iobench serve, say) and silently split its connections.
func portFree(addr *net.TCPAddr) error {
	sa, family := tcpSockaddr(addr.IP, addr.Port)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return err
	}
	return unix.Bind(fd, sa)
}

func tcpSockaddr(ip net.IP, port int) (unix.Sockaddr, int) {
	if ip == nil || ip.To4() != nil {
		sa := &unix.SockaddrInet4{Port: port}
		if ip != nil {
			copy(sa.Addr[:], ip.To4())
		}
		return sa, unix.AF_INET
	}
	sa := &unix.SockaddrInet6{Port: port}
	copy(sa.Addr[:], ip.To16())
	return sa, unix.AF_INET6
}

func tcpAddrOf(sa unix.Sockaddr) *net.TCPAddr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(append([]byte(nil), a.Addr[:]...)), Port: a.Port}
	}
	return &net.TCPAddr{}
}

// sendSlotSize is the mmapped send memory of one session: a msghdr and MaxGather iovecs.
func sendSlotSize(maxGather int) int {
	n := int(unsafe.Sizeof(unix.Msghdr{})) + maxGather*int(unsafe.Sizeof(unix.Iovec{}))
	return (n + 63) &^ 63
}

// newService builds a service; setup (if any) completes it before Engine.Close can see it.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, setup func(*service)) (*service, error) {
	pool, err := models.NewSessionPool(opt.PoolSize)
	if err != nil {
		return nil, err
	}
	stride := sendSlotSize(e.cfg.MaxGather)
	mem, err := unix.Mmap(-1, 0, stride*opt.PoolSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, models.WrapOp(Name, "mmap send memory", err)
	}
	s := &service{eng: e, opt: opt, h: h, addr: addr, pool: pool, sendMem: mem, sessions: make([]*session, opt.PoolSize)}
	for i := range s.sessions {
		ss := &session{svc: s, slot: i, fd: -1}
		ss.InitCore()
		ss.sq.Release() // closed until a connection opens it
		base := unsafe.Pointer(&mem[i*stride])
		ss.msg = (*unix.Msghdr)(base)
		ss.iovs = unsafe.Slice((*unix.Iovec)(unsafe.Add(base, unsafe.Sizeof(unix.Msghdr{}))), e.cfg.MaxGather)
		ss.msg.Iov = &ss.iovs[0]
		s.sessions[i] = ss
	}
	if setup != nil {
		setup(s)
	}
	if err := e.addService(s); err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	return s, nil
}

// service is one Listen or Connect (the seed's ServiceCoordinator).
type service struct {
	eng       *Engine
	opt       models.ServiceOptions
	h         models.Handler
	addr      net.Addr
	pool      *models.SessionPool
	sessions  []*session
	sendMem   []byte // msghdr + iovecs of every session, mmapped
	listeners []*listener
	counters  models.Counters
	closing   atomic.Bool
	closeMu   sync.Mutex
	// wg counts listeners, server sessions and client connection tokens; Close waits for it.
	wg sync.WaitGroup
}

var _ models.Service = (*service)(nil)

func (s *service) Type() models.ServiceType   { return s.opt.Type }
func (s *service) Addr() net.Addr             { return s.addr }
func (s *service) Stats() models.ServiceStats { return s.counters.Snapshot(s.pool.Live()) }

// Close stops accepting and connecting, kicks every session with KickShutdown and waits for
// every OnDisconnect and every in-flight request of the service.
func (s *service) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closing.Swap(true) {
		return nil
	}
	for _, ln := range s.listeners {
		ln.loop.post(msg{kind: mUnlisten, ln: ln})
	}
	if s.opt.Type != models.ServiceServer {
		for _, l := range s.eng.loops {
			l.post(msg{kind: mCancelConnects, svc: s})
		}
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(closePoll)
	defer tick.Stop()
	for {
		// Kick until nothing is alive: a loop may be opening a session right now.
		for _, slot := range s.pool.Alive() {
			if ss := s.sessions[slot]; ss.Refs() > 0 {
				ss.Kick(models.KickShutdown)
			}
		}
		select {
		case <-done:
			s.free()
			return nil
		case <-tick.C:
		}
	}
}

// free releases the send memory; every session is closed and no SENDMSG is in flight.
func (s *service) free() {
	if s.sendMem != nil {
		unix.Munmap(s.sendMem)
		s.sendMem = nil
	}
	s.eng.removeService(s)
}

// scheduleReconnect keeps the connection token and dials again after ReconnectDelay.
func (s *service) scheduleReconnect() {
	time.AfterFunc(s.opt.ReconnectDelay, func() {
		s.eng.pickLoop().post(msg{kind: mConnect, att: &attempt{svc: s}})
	})
}

type listener struct {
	svc      *service
	loop     *loop
	fd       int
	ud       uint64 // user_data of the armed multishot accept
	armed    bool
	stopping bool
}

// attempt is one IORING_OP_CONNECT. sa is pinned while the request is in flight.
type attempt struct {
	svc   *service
	first func(error) // reports the first attempt of a Connect call; nil afterwards
	fd    int
	sa    unix.RawSockaddrAny
	pin   runtime.Pinner
}

func (a *attempt) report(err error) {
	if a.first != nil {
		a.first(err)
		a.first = nil
	}
}

// session is one pooled connection. The fields after lp are owned by the session's loop.
type session struct {
	models.SessionCore
	svc  *service
	slot int
	lp   atomic.Pointer[loop]
	// live is the session ID while the session is open on its loop and 0 otherwise. It is
	// stored last in open and cleared first in finish, and every message to a loop carries
	// the value its poster saw: a stale Kick or Send (an old pointer to a slot reused since,
	// maybe on another loop) is dropped without touching the loop-owned fields below.
	live atomic.Uint64
	sq   models.SendQueue

	fd       int
	active   bool // open on its loop, not yet finished
	closing  bool // cancel issued; finish once pending reaches 0
	draining bool // peer half-closed: finish with KickRecv0 once the queue is written
	sending  bool
	pending  int // requests in flight
	rb       models.RecvBuffer
	iov      [][]byte
	pin      runtime.Pinner // send chunks while a SENDMSG is in flight
	rpin     runtime.Pinner // the RecvBuffer, in the direct receive mode
	msg      *unix.Msghdr   // mmapped
	iovs     []unix.Iovec   // mmapped, len MaxGather
}

var _ models.Session = (*session)(nil)

// Send implements models.Session. The loop is woken only if it is blocked in io_uring_enter;
// a Send from the loop's own callbacks just queues the write for the next enter.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, &ss.svc.counters, p)
	if err != nil {
		return err
	}
	if start {
		ss.postLive(mWrite)
	}
	return nil
}

// Kick implements models.Session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.MarkKicked(r) {
		return
	}
	ss.sq.Close()
	ss.postLive(mKick) // not live yet: open checks Kicked after publishing live
}

// postLive posts kind to the session's loop if the session is open. live is loaded before lp:
// open stores lp before live, so a current live value comes with the current loop.
func (ss *session) postLive(kind uint8) {
	id := ss.live.Load()
	if id == 0 {
		return
	}
	ss.lp.Load().post(msg{kind: kind, ss: ss, id: id})
}

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
	opIgnore // requests whose completion needs no action (cancels of listeners/connects/stop)
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
	done     chan struct{}

	// Counters for tests and diagnostics.
	enters, wakes, enobufs, rearms, overflows atomic.Uint64
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
	rec.kind, rec.ss, rec.ln, rec.att = opNone, nil, nil, nil
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
		ln.svc.counters.AcceptError()
		time.AfterFunc(acceptBackoff, func() { l.post(msg{kind: mListen, ln: ln}) })
	default:
		l.armAccept(ln) // multishot ended (e.g. CQ overflow): re-arm
	}
}

func (l *loop) accepted(s *service, fd int) {
	if s.closing.Load() {
		unix.Close(fd)
		return
	}
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		unix.Close(fd)
		return
	}
	s.counters.Accepted()
	s.wg.Add(1) // the listener's token is still held, so the count is not zero here
	l.open(s.sessions[slot], fd)
}

// open starts a session on this loop: OnConnect, then the multishot recv.
func (l *loop) open(ss *session, fd int) {
	s := ss.svc
	cfg := &s.eng.cfg
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	var local, remote net.Addr = &net.TCPAddr{}, &net.TCPAddr{}
	if sa, err := unix.Getsockname(fd); err == nil {
		local = tcpAddrOf(sa)
	}
	if sa, err := unix.Getpeername(fd); err == nil {
		remote = tcpAddrOf(sa)
	}
	if ss.rb.Cap() != cfg.RecvBufferSize {
		ss.rb.Init(make([]byte, cfg.RecvBufferSize))
	}
	ss.rb.Reset()
	if l.eng.direct {
		ss.rpin.Pin(&ss.rb.Free()[0]) // the kernel writes into it; unpinned in finish
	}
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.fd = fd
	ss.active, ss.closing, ss.draining, ss.sending, ss.pending = true, false, false, false, 0
	ss.lp.Store(l)
	ss.Open(local, remote)
	ss.live.Store(ss.ID())
	s.h.OnConnect(ss)
	if s.closing.Load() {
		ss.Kick(models.KickShutdown)
	}
	if ss.Kicked() {
		l.closeSession(ss) // also covers a Kick that came before live was published
		return
	}
	l.armRecv(ss)
}

func (l *loop) armRecv(ss *session) {
	if l.eng.direct {
		l.armRecvDirect(ss, true)
		return
	}
	idx, rec := l.newOp(opRecv)
	rec.ss = ss
	ss.pending++
	s := l.sqe()
	s.opcode = opcRecv
	s.fd = int32(ss.fd)
	s.ioprio = recvMultishot
	s.flags = sqeBufferSelect
	s.bufGroup = bufGroup
	s.userData = userData(opRecv, rec.gen, idx)
}

// armRecvDirect is the direct mode's single-shot recv into the RecvBuffer's free space.
// pollFirst (IORING_RECVSEND_POLL_FIRST) skips the first, usually futile, attempt when the
// last completion said the socket was drained (no IORING_CQE_F_SOCK_NONEMPTY).
func (l *loop) armRecvDirect(ss *session, pollFirst bool) {
	free := ss.rb.Free() // compaction is safe: no recv is in flight now
	if len(free) == 0 {
		ss.Kick(models.KickRecvBufferOverFull)
		return
	}
	idx, rec := l.newOp(opRecv)
	rec.ss = ss
	ss.pending++
	s := l.sqe()
	s.opcode = opcRecv
	s.fd = int32(ss.fd)
	if pollFirst {
		s.ioprio = recvPollFirst
	}
	s.addr = uint64(uintptr(unsafe.Pointer(&free[0])))
	s.len = uint32(len(free))
	s.userData = userData(opRecv, rec.gen, idx)
}

func (l *loop) onRecvDirect(idx uint32, ss *session, c cqe) {
	l.freeOp(idx)
	ss.pending--
	switch {
	case ss.closing || ss.Kicked():
	case c.res > 0:
		ss.rb.Commit(int(c.res))
		ss.svc.counters.Read(int(c.res))
		if k := ss.rb.Deliver(ss.svc.h, ss); k != models.KickNone {
			ss.Kick(k)
		} else if !ss.Kicked() {
			l.armRecvDirect(ss, c.flags&cqeFSockNonEmpty == 0)
		}
	case c.res == 0:
		ss.draining = true
		if ss.sq.Idle() {
			ss.Kick(models.KickRecv0)
		}
	default:
		ss.Kick(models.KickRecvError)
	}
	l.maybeFinish(ss)
}

func (l *loop) onRecv(idx uint32, ss *session, c cqe, more bool) {
	if l.eng.direct {
		l.onRecvDirect(idx, ss, c)
		return
	}
	if c.flags&cqeFBuffer != 0 {
		bid := uint16(c.flags >> cqeBufferShift)
		if c.res > 0 && !ss.closing && !ss.Kicked() {
			l.deliver(ss, l.br.buf(bid)[:c.res])
		}
		l.br.put(bid) // back to the kernel at once: the bytes are in the RecvBuffer now
	}
	if more {
		return
	}
	l.freeOp(idx)
	ss.pending--
	switch {
	case ss.closing || ss.Kicked():
		// cancelled, or the kick's cancel is on its way
	case c.res == -int32(unix.ENOBUFS):
		l.enobufs.Add(1)
		l.rearms.Add(1)
		l.br.publish() // the buffers reaped so far go back before the re-armed recv runs
		l.armRecv(ss)
	case c.res > 0:
		l.rearms.Add(1) // multishot ended without an error (CQ overflow): re-arm
		l.armRecv(ss)
	case c.res == 0:
		ss.draining = true
		if ss.sq.Idle() {
			ss.Kick(models.KickRecv0)
		}
	default:
		ss.Kick(models.KickRecvError)
	}
	l.maybeFinish(ss)
}

// deliver copies one completion's bytes from the provided buffer into the RecvBuffer (in
// pieces when the free space is smaller) and hands the window to OnRecv.
func (l *loop) deliver(ss *session, data []byte) {
	s := ss.svc
	s.counters.Read(len(data))
	for len(data) > 0 {
		free := ss.rb.Free()
		if len(free) == 0 {
			ss.Kick(models.KickRecvBufferOverFull)
			return
		}
		n := copy(free, data)
		ss.rb.Commit(n)
		data = data[n:]
		if k := ss.rb.Deliver(s.h, ss); k != models.KickNone {
			ss.Kick(k)
			return
		}
		if ss.Kicked() {
			return
		}
	}
}

// submitSend turns the queued bytes into one SENDMSG: Peek views into the mmapped iovec
// array, chunks pinned until the CQE.
func (l *loop) submitSend(ss *session) {
	bufs := ss.sq.Peek(ss.iov[:0], len(ss.iovs))
	ss.iov = bufs
	if len(bufs) == 0 {
		ss.sending = false
		if !ss.sq.Advance(0) && ss.draining {
			ss.Kick(models.KickRecv0)
		}
		return
	}
	for i, b := range bufs {
		ss.pin.Pin(&b[0])
		ss.iovs[i].Base = &b[0]
		ss.iovs[i].SetLen(len(b))
	}
	ss.msg.SetIovlen(len(bufs))
	idx, rec := l.newOp(opSend)
	rec.ss = ss
	ss.pending++
	ss.sending = true
	s := l.sqe()
	s.opcode = opcSendmsg
	s.fd = int32(ss.fd)
	s.addr = uint64(uintptr(unsafe.Pointer(ss.msg)))
	s.len = 1
	s.opFlags = unix.MSG_NOSIGNAL
	s.userData = userData(opSend, rec.gen, idx)
}

func (l *loop) onSend(idx uint32, ss *session, c cqe) {
	l.freeOp(idx)
	ss.pending--
	ss.pin.Unpin()
	for i := range ss.iov {
		ss.iovs[i].Base = nil
	}
	clear(ss.iov)
	ss.iov = ss.iov[:0]
	if c.res <= 0 {
		ss.sending = false
		if !ss.closing {
			ss.Kick(models.KickSendError)
		}
		l.maybeFinish(ss)
		return
	}
	n := int(c.res)
	ss.svc.counters.Wrote(n)
	ss.svc.h.OnSend(ss, n)
	more := ss.sq.Advance(n)
	switch {
	case more && !ss.closing:
		l.submitSend(ss)
	case !more && ss.draining && !ss.closing:
		ss.sending = false
		ss.Kick(models.KickRecv0)
	default:
		ss.sending = false
	}
	l.maybeFinish(ss)
}

// closeSession cancels every request of the session's fd; finish runs when the last one has
// completed.
func (l *loop) closeSession(ss *session) {
	if ss.closing {
		return
	}
	ss.closing = true
	if ss.pending > 0 {
		idx, rec := l.newOp(opCancel)
		rec.ss = ss
		ss.pending++
		s := l.sqe()
		s.opcode = opcAsyncCancel
		s.fd = int32(ss.fd)
		s.opFlags = cancelFD | cancelAll
		s.userData = userData(opCancel, rec.gen, idx)
	}
	l.maybeFinish(ss)
}

func (l *loop) maybeFinish(ss *session) {
	if !ss.active || !ss.closing || ss.pending > 0 {
		return
	}
	ss.active = false
	ss.live.Store(0)
	s := ss.svc
	r := ss.Reason()
	if r != models.KickRecv0 {
		// Abortive close (RST): queued data is dropped, as the contract says.
		unix.SetsockoptLinger(ss.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	unix.Close(ss.fd)
	ss.fd = -1
	ss.rpin.Unpin()
	s.h.OnDisconnect(ss, r)
	s.counters.Disconnected(r)
	ss.sq.Release()
	ss.Retire()
	s.pool.Release(ss.slot)
	if s.opt.Type == models.ServiceClientAutoReconnect && !s.closing.Load() {
		s.scheduleReconnect() // the connection token moves on to the next attempt
	} else {
		s.wg.Done()
	}
}

func (l *loop) startConnect(att *attempt) {
	s := att.svc
	if s.closing.Load() || l.stopping {
		att.report(models.ErrClosed)
		s.wg.Done()
		return
	}
	raddr := s.addr.(*net.TCPAddr)
	sa, family := tcpSockaddr(raddr.IP, raddr.Port)
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		l.connectFailed(att, err)
		return
	}
	unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
	var saLen uintptr
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		raw := (*unix.RawSockaddrInet4)(unsafe.Pointer(&att.sa))
		raw.Family = unix.AF_INET
		raw.Port = htons(a.Port)
		raw.Addr = a.Addr
		saLen = unsafe.Sizeof(*raw)
	case *unix.SockaddrInet6:
		raw := (*unix.RawSockaddrInet6)(unsafe.Pointer(&att.sa))
		raw.Family = unix.AF_INET6
		raw.Port = htons(a.Port)
		raw.Addr = a.Addr
		saLen = unsafe.Sizeof(*raw)
	}
	att.fd = fd
	att.pin.Pin(&att.sa)
	idx, rec := l.newOp(opConnect)
	rec.att = att
	s2 := l.sqe()
	s2.opcode = opcConnect
	s2.fd = int32(fd)
	s2.addr = uint64(uintptr(unsafe.Pointer(&att.sa)))
	s2.off = uint64(saLen)
	s2.userData = userData(opConnect, rec.gen, idx)
}

func htons(port int) uint16 {
	b := [2]byte{byte(port >> 8), byte(port)}
	return *(*uint16)(unsafe.Pointer(&b[0]))
}

func (l *loop) onConnect(idx uint32, att *attempt, c cqe) {
	l.freeOp(idx)
	att.pin.Unpin()
	s := att.svc
	if c.res < 0 {
		unix.Close(att.fd)
		l.connectFailed(att, unix.Errno(-c.res))
		return
	}
	if s.closing.Load() {
		unix.Close(att.fd)
		att.report(models.ErrClosed)
		s.wg.Done()
		return
	}
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		unix.Close(att.fd)
		l.retryOrDone(att, models.ErrPoolExhausted)
		return
	}
	s.counters.Connected()
	l.open(s.sessions[slot], att.fd) // the connection token moves to the session
	att.report(nil)
}

func (l *loop) connectFailed(att *attempt, err error) {
	att.svc.counters.ConnectFailed()
	l.retryOrDone(att, err)
}

func (l *loop) retryOrDone(att *attempt, err error) {
	att.report(err)
	s := att.svc
	if s.opt.Type == models.ServiceClientAutoReconnect && !s.closing.Load() {
		s.scheduleReconnect()
		return
	}
	s.wg.Done()
}
