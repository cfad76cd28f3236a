//go:build linux || darwin

package netpoll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bytedance/gopkg/util/gopool"
	cnetpoll "github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
)

func available() error { return nil }

// pollers tracks netpoll's process-global poller count and the engines using it.
var pollers struct {
	mu    sync.Mutex
	loops int // last count set with SetNumLoops (0: netpoll's default)
	live  int // open engines
}

// Engine is the netpoll engine.
type Engine struct {
	cfg  models.Config
	jobs *models.JobLoop

	services models.ServiceSet[*service]
}

var _ models.Engine = (*Engine)(nil)

// New builds a netpoll engine and sets netpoll's global poller count to cfg.Loops.
func New(cfg models.Config) (models.Engine, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	pollers.mu.Lock()
	defer pollers.mu.Unlock()
	if pollers.loops != cfg.Loops {
		if pollers.live > 0 {
			return nil, fmt.Errorf("%w: netpoll's pollers are process-global and %d engine(s) with Loops=%d are open; Loops=%d", models.ErrBadConfig, pollers.live, pollers.loops, cfg.Loops)
		}
		if err := cnetpoll.SetNumLoops(cfg.Loops); err != nil {
			return nil, models.WrapOp(Name, "SetNumLoops", err)
		}
		pollers.loops = cfg.Loops
	}
	pollers.live++
	quietLogOnce.Do(func() { cnetpoll.Configure(cnetpoll.Config{LoggerOutput: netpollLog{}}) })
	return &Engine{cfg: cfg, jobs: models.NewJobLoop()}, nil
}

var quietLogOnce sync.Once

// quietedLogLines counts the log lines netpollLog kept off stderr.
var quietedLogLines atomic.Uint64

// netpollLog is netpoll's (process-global) logger output. netpoll logs one line per peer
// reset that arrives with unread data ("readall(fd=..) before close: connection reset by
// peer") and one per failed accept or accept retry: under a reset storm or fd exhaustion
// that is a line per connection on stderr. Those events are counted where they belong
// instead (Kicks[recv_error], ServiceStats.AcceptErrors) and their lines are only counted
// here; every other netpoll line (netpoll's own internal errors) still goes to stderr.
type netpollLog struct{}

func (netpollLog) Write(p []byte) (int, error) {
	for _, noise := range [...]string{"before close", "accept conn failed", "re-accept conn"} {
		if bytes.Contains(p, []byte(noise)) {
			quietedLogLines.Add(1)
			return len(p), nil
		}
	}
	return os.Stderr.Write(p)
}

func (e *Engine) Name() string { return Name }

func (e *Engine) Post(job func()) error { return e.jobs.Post(job) }

func (e *Engine) addService(s *service) error { return e.services.Add(s) }

func (e *Engine) removeService(s *service) { e.services.Remove(s) }

// Close closes every service and the job loop. netpoll's global pollers stay (see the
// package doc).
func (e *Engine) Close() error {
	first, err := e.services.CloseAll()
	if !first {
		return nil
	}
	e.jobs.Close()
	pollers.mu.Lock()
	pollers.live--
	pollers.mu.Unlock()
	return err
}

// Listen starts a SERVER service: a netpoll EventLoop serving the adapter's listener.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", models.ErrBadConfig)
	}
	ln, err := newListener(addr)
	if err != nil {
		return nil, models.WrapOp(Name, "listen", err)
	}
	s, err := e.newService(opt, h, ln.Addr(), func(s *service) error {
		ln.counters = &s.counters
		evl, err := cnetpoll.NewEventLoop(s.onRequest, cnetpoll.WithOnConnect(s.onConnect))
		if err != nil {
			return models.WrapOp(Name, "NewEventLoop", err)
		}
		s.evl = evl
		s.serveDone = make(chan struct{})
		return nil
	})
	if err != nil {
		ln.Close()
		return nil, err
	}
	var serveErr error
	go func() {
		defer close(s.serveDone)
		serveErr = s.evl.Serve(ln)
	}()
	// Serve stores its server in the EventLoop (where Shutdown finds it) before it asks the
	// listener for its fd, under the EventLoop's lock; a Shutdown that ran before that would
	// find nothing to stop and Serve would never return. So the setup reference is released
	// only once Serve has asked (see listener.Fd): from then on Shutdown stops this Serve.
	select {
	case <-ln.polled:
	case <-s.serveDone: // Serve failed before it registered anything
		ln.Close()
		e.removeService(s)
		s.goroutines.Add(-1)
		return nil, models.WrapOp(Name, "serve", serveErr)
	}
	s.goroutines.Add(-1) // the setup reference
	return s, nil
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service.
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForClient(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", models.ErrBadConfig)
	}
	raddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h, raddr, nil)
	if err != nil {
		return nil, err
	}
	var retry func()
	if opt.Type == models.ServiceClientAutoReconnect {
		retry = s.redialLoop
	}
	spawn := func(f func()) {
		s.goroutines.Add(1)
		go func() {
			defer s.goroutines.Add(-1)
			f()
		}()
	}
	wait := models.StartConnects(opt.Conns, spawn, s.dial, retry)
	s.goroutines.Add(-1) // the setup reference: every dialer holds its own now
	connected, err := wait()
	if connected == 0 && opt.Type == models.ServiceClient {
		s.Close()
		return nil, models.WrapOp(Name, "connect", err)
	}
	return s, nil
}

// newService builds a service and makes it visible to Engine.Close. prepare (if not nil) sets
// what Close reads (the SERVER's EventLoop) before that, and the service holds one reference
// in s.goroutines for its setup, released by Listen once Serve can be shut down and by Connect
// once its dialers hold their own. Close waits for s.goroutines to reach 0 before it shuts
// the EventLoop down, so a Close racing Listen or Connect neither reads a half-built service
// nor shuts down an EventLoop before its Serve can see it.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, prepare func(*service) error) (*service, error) {
	pool, err := models.NewSessionPool(opt.PoolSize)
	if err != nil {
		return nil, err
	}
	s := &service{eng: e, opt: opt, h: h, addr: addr, pool: pool,
		sessions: make([]*session, opt.PoolSize), quit: make(chan struct{})}
	for i := range s.sessions {
		ss := &session{svc: s, slot: i}
		ss.ctx = &sessionCtx{Context: context.Background(), ss: ss}
		ss.requestFn = ss.clientRequest
		ss.closeFn = ss.onClosed
		ss.flushFn = ss.flushTask
		ss.InitCore()
		s.sessions[i] = ss
	}
	if prepare != nil {
		if err := prepare(s); err != nil {
			return nil, err
		}
	}
	s.goroutines.Add(1)
	if err := e.addService(s); err != nil {
		return nil, err
	}
	return s, nil
}

type service struct {
	eng      *Engine
	opt      models.ServiceOptions
	h        models.Handler
	addr     net.Addr
	pool     *models.SessionPool
	sessions []*session
	counters models.Counters
	quit     chan struct{}
	closing  atomic.Bool
	closeMu  sync.Mutex
	closed   bool
	// goroutines counts the adapter's goroutines and tasks (dialers, redialers, flush tasks,
	// side writers); Close waits for it to reach 0 with the pool's live count.
	goroutines atomic.Int64
	// sideWriters and drains count side writers started (backpressure or half-close) and
	// half-close drains handed to them: rare paths, counted so tests can see they ran.
	sideWriters, drains atomic.Uint64

	evl       cnetpoll.EventLoop // SERVER
	serveDone chan struct{}
}

var _ models.Service = (*service)(nil)

func (s *service) Type() models.ServiceType   { return s.opt.Type }
func (s *service) Addr() net.Addr             { return s.addr }
func (s *service) Stats() models.ServiceStats { return s.counters.Snapshot(s.pool.Live()) }

// Close stops accepting/dialling, kicks every session with KickShutdown, waits for every
// OnDisconnect and adapter goroutine, then shuts the EventLoop down.
func (s *service) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.closing.Store(true)
	close(s.quit)
	for {
		for _, slot := range s.pool.Alive() {
			if ss := s.sessions[slot]; ss.Refs() > 0 {
				ss.Kick(models.KickShutdown)
			}
		}
		if s.pool.Live() == 0 && s.goroutines.Load() == 0 {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	var err error
	if s.evl != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = s.evl.Shutdown(ctx)
		cancel()
		<-s.serveDone
	}
	s.eng.removeService(s)
	return models.WrapOp(Name, "shutdown", err)
}

// onConnect is netpoll's OnConnect for accepted connections (on a gopool goroutine, before
// any OnRequest of the connection).
func (s *service) onConnect(ctx context.Context, c cnetpoll.Connection) context.Context {
	ss := s.start(c)
	if ss == nil {
		return ctx
	}
	ss.release()
	return ss.ctx
}

// onRequest is netpoll's OnRequest for accepted connections.
func (s *service) onRequest(ctx context.Context, c cnetpoll.Connection) error {
	sc, _ := ctx.(*sessionCtx)
	if sc == nil { // refused: drop what arrived
		c.Reader().Skip(c.Reader().Len())
		c.Reader().Release()
		return nil
	}
	sc.ss.handle(c)
	return nil
}

// start takes a pooled session for c (or refuses it), registers the close callback and runs
// OnConnect. It runs with netpoll's processing lock held (server) or before OnRequest is set
// (client), so no OnRequest can run before it returns. The session comes back with an extra
// hold, so a close during OnConnect cannot finalize it before the caller is done with it.
func (s *service) start(c cnetpoll.Connection) *session {
	if s.closing.Load() {
		c.Close()
		return nil
	}
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		c.Close()
		return nil
	}
	if s.opt.Type == models.ServiceServer {
		s.counters.Accepted()
	} else {
		s.counters.Connected()
	}
	ss := s.sessions[slot]
	ss.open(c, s.eng.cfg)
	ss.holds.Add(1)
	c.AddCloseCallback(ss.closeFn)
	ss.inCb.Store(true)
	s.h.OnConnect(ss)
	ss.endCallbacks()
	return ss
}

func (s *service) dial() error {
	c, err := cnetpoll.DialConnection("tcp", s.addr.String(), 10*time.Second)
	if err != nil {
		s.counters.ConnectFailed()
		return err
	}
	ss := s.start(c)
	if ss == nil {
		if s.closing.Load() {
			return models.ErrClosed
		}
		return models.ErrPoolExhausted
	}
	c.SetOnRequest(ss.requestFn)
	if !c.IsActive() {
		// Closed by the peer before the callbacks were in place: netpoll runs close callbacks
		// of a connection without handlers only on a user Close.
		c.Close()
	}
	ss.release()
	return nil
}

// redialLoop reconnects one auto-reconnect session slot until it succeeds or the service
// closes. The caller has counted this goroutine in s.goroutines.
func (s *service) redialLoop() {
	models.Redial(s.quit, s.opt.ReconnectDelay, s.closing.Load, s.dial)
}

// sessionCtx carries the session through netpoll's per-connection context (one per pooled
// session, allocated once).
type sessionCtx struct {
	context.Context
	ss *session
}

type session struct {
	models.SessionCore
	svc  *service
	slot int

	ctx       *sessionCtx
	requestFn cnetpoll.OnRequest
	closeFn   cnetpoll.CloseCallback
	flushFn   func()

	// Set by open before OnConnect; read-only until the next open.
	conn   cnetpoll.Connection
	fd     int
	rcap   int
	maxIov int

	sq models.SendQueue

	// holds counts what keeps the session from finalizing: the connection (until netpoll's
	// close callback), a running flush task, the side writer. The last release finalizes.
	holds atomic.Int32
	// fdMu guards use of fd against netpoll closing it (after the close callbacks).
	fdMu   sync.RWMutex
	fdOpen bool
	// counted is the unread bytes already counted as received (handler goroutine only).
	counted int

	inCb      atomic.Bool // the handler goroutine runs a callback of this session
	needFlush atomic.Bool // the writer role is pending (see requestFlush)
	iov       [][]byte    // the writer's
	side      atomic.Pointer[sideWriter]
	draining  atomic.Bool
}

var _ models.Session = (*session)(nil)

func (ss *session) open(c cnetpoll.Connection, cfg models.Config) {
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.conn = c
	ss.fd = c.(cnetpoll.Conn).Fd()
	ss.rcap = cfg.RecvBufferSize
	ss.maxIov = cfg.MaxGather
	ss.counted = 0
	ss.needFlush.Store(false)
	ss.draining.Store(false)
	ss.side.Store(nil)
	ss.fdMu.Lock()
	ss.fdOpen = true
	ss.fdMu.Unlock()
	ss.holds.Store(1)
	ss.Open(c.LocalAddr(), c.RemoteAddr())
}

// Send implements models.Session.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, &ss.svc.counters, p)
	if err != nil {
		return err
	}
	if start {
		ss.requestFlush()
	}
	return nil
}

// requestFlush hands the writer role on: to the handler goroutine if it is inside a callback
// of this session (it checks needFlush after the callback: endCallbacks stores inCb false
// before it swaps needFlush, this stores needFlush before it loads inCb), else to a gopool
// task.
func (ss *session) requestFlush() {
	ss.needFlush.Store(true)
	if ss.inCb.Load() {
		return
	}
	if !ss.hold() {
		return // the session is ending; its queue is closed
	}
	ss.svc.goroutines.Add(1)
	gopool.Go(ss.flushFn)
}

func (ss *session) flushTask() {
	if ss.needFlush.Swap(false) {
		ss.writeOut()
	}
	ss.svc.goroutines.Add(-1)
	ss.release()
}

// hold takes a hold if the session has not finalized.
func (ss *session) hold() bool {
	for {
		n := ss.holds.Load()
		if n <= 0 {
			return false
		}
		if ss.holds.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (ss *session) release() {
	if ss.holds.Add(-1) == 0 {
		ss.finalize()
	}
}

// endCallbacks runs on the handler goroutine after the session's callbacks: the pending
// flush, if any.
func (ss *session) endCallbacks() {
	for {
		ss.inCb.Store(false)
		if !ss.needFlush.Swap(false) {
			return
		}
		ss.inCb.Store(true)
		ss.writeOut()
	}
}

// Kick implements models.Session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.end(r) {
		return
	}
	if r != models.KickRecv0 {
		ss.fdMu.RLock()
		if ss.fdOpen {
			unix.SetsockoptLinger(ss.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
		}
		ss.fdMu.RUnlock()
	}
	ss.conn.Close()
}

// end records r if no reason was, refuses further sends and stops the side writer.
func (ss *session) end(r models.KickReason) bool {
	if !ss.MarkKicked(r) {
		return false
	}
	ss.sq.Close()
	if sw := ss.side.Load(); sw != nil {
		sw.stop()
	}
	return true
}

// clientRequest is the OnRequest of dialled connections (their netpoll context is not ours).
func (ss *session) clientRequest(_ context.Context, c cnetpoll.Connection) error {
	ss.handle(c)
	return nil
}

// handle delivers the unread bytes with the RecvBuffer rules, straight from netpoll's
// LinkBuffer. It runs on netpoll's handler goroutine (one per connection at a time).
func (ss *session) handle(c cnetpoll.Connection) {
	s, h, r := ss.svc, ss.svc.h, c.Reader()
	ss.inCb.Store(true)
	for !ss.Kicked() {
		n := r.Len()
		if n > ss.counted {
			s.counters.Read(n - ss.counted)
		}
		ss.counted = n
		if n == 0 {
			break
		}
		wl := min(n, ss.rcap)
		w, err := r.Peek(wl)
		if err != nil {
			r.Skip(r.Len()) // closed: see below
			break
		}
		k := h.OnRecv(ss, w)
		if k < 0 || k > wl {
			ss.Kick(models.KickPacketError)
			break
		}
		if k == 0 && wl == ss.rcap {
			ss.Kick(models.KickRecvBufferOverFull)
			break
		}
		if k > 0 {
			r.Skip(k)
			ss.counted -= k
		}
		if k == wl || n > wl {
			continue // all consumed, or unread bytes beyond the window: deliver again
		}
		// A partial frame: flush the replies so far, then wait for more bytes (netpoll's
		// handler loop would otherwise call us again at once).
		ss.endCallbacks()
		_, err = r.Peek(n - k + 1)
		ss.inCb.Store(true)
		if err != nil {
			// Closed (by the peer, mid-frame, or by a kick): the partial frame can never
			// complete, so drop it. netpoll's handler loop calls OnRequest again for as
			// long as unread bytes remain, and runs the close callback (which says why the
			// session ended) only when none do: left unread, they would spin this
			// goroutine forever and keep the fd and the pool slot.
			r.Skip(r.Len())
			break
		}
	}
	r.Release()
	ss.endCallbacks()
}

// writeOut is the writer: one writev per turn on the connection's fd until the queue is
// empty; when the socket would block (or netpoll closed the fd after a half-close) the side
// writer takes the role over.
func (ss *session) writeOut() {
	s := ss.svc
	for {
		bufs := ss.sq.Peek(ss.iov[:0], ss.maxIov)
		ss.iov = bufs
		if len(bufs) == 0 {
			if !ss.sq.Advance(0) {
				return
			}
			continue
		}
		total := 0
		for _, b := range bufs {
			total += len(b)
		}
		ss.fdMu.RLock()
		if !ss.fdOpen {
			ss.fdMu.RUnlock()
			clear(ss.iov[:cap(ss.iov)])
			ss.handToSide()
			return
		}
		n, err := writev(ss.fd, bufs)
		ss.fdMu.RUnlock()
		clear(ss.iov[:cap(ss.iov)])
		if n > 0 {
			s.counters.Wrote(n)
			s.h.OnSend(ss, n)
		}
		more := ss.sq.Advance(n)
		if err != nil && err != unix.EAGAIN {
			ss.Kick(models.KickSendError)
			return
		}
		if !more {
			return
		}
		if err == unix.EAGAIN || n < total {
			ss.handToSide()
			return
		}
	}
}

func writev(fd int, bufs [][]byte) (int, error) {
	for {
		n, err := unix.Writev(fd, bufs)
		if err == unix.EINTR {
			continue
		}
		return max(n, 0), err
	}
}

// handToSide gives the writer role (held by the caller, with bytes queued) to the side
// writer, starting it if the fd is still open. Without one (the connection closed without a
// half-close drain) the role is dropped: the session is ending and its queue is closed.
func (ss *session) handToSide() {
	sw := ss.side.Load()
	if sw == nil {
		ss.fdMu.RLock()
		if ss.fdOpen {
			var err error
			if sw, err = ss.newSideWriter(); err != nil {
				ss.fdMu.RUnlock()
				ss.Kick(models.KickSendError)
				return
			}
		}
		ss.fdMu.RUnlock()
	}
	if sw == nil {
		return
	}
	sw.signal()
}

// onClosed is netpoll's close callback: it runs once, after the last OnRequest of the
// connection returned and before netpoll closes the fd.
func (ss *session) onClosed(cnetpoll.Connection) error {
	ss.fdMu.Lock()
	ss.fdOpen = false
	halfClosed := !ss.Kicked() && peerHalfClosed(ss.fd)
	var sw *sideWriter
	if halfClosed && !ss.sq.Idle() {
		sw = ss.side.Load()
		if sw == nil {
			sw, _ = ss.newSideWriter()
		}
	}
	ss.fdMu.Unlock()
	switch {
	case ss.Kicked():
	case sw != nil:
		// The writer hands its role to sw when it finds the fd closed (or already has); sw
		// ends the session with KickRecv0 once the queue is empty.
		ss.svc.drains.Add(1)
		ss.draining.Store(true)
		if ss.sq.Idle() {
			ss.end(models.KickRecv0)
		}
	case halfClosed:
		ss.end(models.KickRecv0)
	case ss.svc.closing.Load():
		ss.end(models.KickShutdown)
	default:
		ss.end(models.KickRecvError)
	}
	ss.release()
	return nil
}

// finalize runs once nothing holds the session: the last callback (OnDisconnect), then the
// slot goes back to the pool.
func (ss *session) finalize() {
	s := ss.svc
	r := ss.Reason()
	if r == models.KickNone {
		r = models.KickUnknown
	}
	s.h.OnDisconnect(ss, r)
	s.counters.Disconnected(r)
	ss.sq.Release()
	if s.opt.Type == models.ServiceClientAutoReconnect && !s.closing.Load() {
		s.goroutines.Add(1)
		go func() {
			defer s.goroutines.Add(-1)
			s.redialLoop()
		}()
	}
	ss.Retire()
	s.pool.Release(ss.slot)
}

// sideWriter owns a dup of the session's fd registered with the Go runtime poller; once
// given the writer role it waits for writability and writes the queue out, and after a peer
// half-close it ends the session with KickRecv0 when the queue is empty. It holds the
// session.
type sideWriter struct {
	ss   *session
	f    *os.File
	rc   syscall.RawConn
	arm  chan struct{}
	quit chan struct{}
	once sync.Once
}

// newSideWriter dups the fd (the caller holds fdMu with fdOpen true) and starts the writer.
func (ss *session) newSideWriter() (*sideWriter, error) {
	fd, err := unix.Dup(ss.fd)
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "netpoll-side") // non-blocking: registered with the runtime poller
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	sw := &sideWriter{ss: ss, f: f, rc: rc, arm: make(chan struct{}, 1), quit: make(chan struct{})}
	if !ss.side.CompareAndSwap(nil, sw) {
		f.Close()
		return ss.side.Load(), nil
	}
	ss.holds.Add(1) // the caller's hold or the connection's keeps the count positive here
	ss.svc.goroutines.Add(1)
	ss.svc.sideWriters.Add(1)
	go sw.run()
	if ss.Kicked() { // a kick that ran before the CompareAndSwap did not see sw
		sw.stop()
	}
	return sw, nil
}

func (sw *sideWriter) signal() {
	select {
	case sw.arm <- struct{}{}:
	default:
	}
}

func (sw *sideWriter) stop() {
	sw.once.Do(func() {
		close(sw.quit)
		sw.f.SetWriteDeadline(time.Unix(1, 0))
	})
}

func (sw *sideWriter) run() {
	ss := sw.ss
	defer func() {
		if ss.Reason() != models.KickRecv0 {
			sw.rc.Control(func(fd uintptr) {
				unix.SetsockoptLinger(int(fd), unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1})
			})
		}
		sw.f.Close()
		ss.svc.goroutines.Add(-1)
		ss.release()
	}()
	for {
		select {
		case <-sw.quit:
			return
		case <-sw.arm:
		}
		if !sw.writeAll() {
			return
		}
		if ss.draining.Load() {
			ss.end(models.KickRecv0)
			return
		}
	}
}

// writeAll writes the queue out through the dup, waiting for writability in the runtime
// poller. It reports false when the session ended.
func (sw *sideWriter) writeAll() bool {
	ss := sw.ss
	s := ss.svc
	var iov [][]byte
	for {
		bufs := ss.sq.Peek(iov[:0], ss.maxIov)
		iov = bufs
		if len(bufs) == 0 {
			if !ss.sq.Advance(0) {
				return !ss.Kicked()
			}
			continue
		}
		var n int
		var werr error
		err := sw.rc.Write(func(fd uintptr) bool {
			n, werr = writev(int(fd), bufs)
			return werr != unix.EAGAIN
		})
		clear(iov[:cap(iov)])
		if n > 0 {
			s.counters.Wrote(n)
			s.h.OnSend(ss, n)
		}
		more := ss.sq.Advance(n)
		if err != nil || werr != nil {
			ss.Kick(models.KickSendError) // no-op if a kick stopped us
			return false
		}
		if !more {
			return !ss.Kicked()
		}
	}
}

// listener is the netpoll.Listener the adapter serves: a Go TCP listener's dup, each fd
// closed exactly once. polled is closed the first time netpoll asks for the fd, which
// EventLoop.Serve does only after it stored its server, holding the EventLoop's lock
// (netpoll v0.7.2: eventLoop.Serve -> server.Run); Listen waits for it (see there).
type listener struct {
	ln       *net.TCPListener
	file     *os.File
	fd       int
	addr     net.Addr
	polled   chan struct{}
	pollOnce sync.Once
	counters *models.Counters // the service's: failed accepts are counted there
	// mu keeps Accept off fd once Close has closed it (netpoll's EMFILE retry goroutine may
	// still call Accept then, and the fd number may belong to another socket by then).
	mu     sync.RWMutex
	closed bool
}

var _ cnetpoll.Listener = (*listener)(nil)

func newListener(addr string) (*listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	tl := l.(*net.TCPListener)
	f, err := tl.File() // a dup; File leaves the listener's own fd non-blocking
	if err != nil {
		tl.Close()
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		tl.Close()
		return nil, err
	}
	fd := -1
	rc.Control(func(u uintptr) { fd = int(u) }) // not f.Fd(): that would make it blocking
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		tl.Close()
		return nil, err
	}
	return &listener{ln: tl, file: f, fd: fd, addr: tl.Addr(), polled: make(chan struct{})}, nil
}

// Accept implements net.Listener the way netpoll's server expects: (nil, nil) when no
// connection is pending.
//
// A failed accept is counted in the service's AcceptErrors. On EMFILE and ENFILE netpoll's
// server detaches the listener and retries from a goroutine with a back-off (10 ms .. 1 s)
// until accepts succeed again; any other error it ignores and, the listener being
// level-triggered, would be called again at once: so ENOBUFS and ENOMEM (also "the process
// is out of a resource") are reported as EMFILE to get the same back-off.
func (l *listener) Accept() (net.Conn, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, net.ErrClosed
	}
	fd, sa, err := accept(l.fd)
	if err != nil {
		if err == unix.EAGAIN || err == unix.EINTR {
			return nil, nil
		}
		if l.counters != nil {
			l.counters.AcceptError()
		}
		switch err {
		case unix.ECONNABORTED:
			return nil, nil // lost before it was accepted: take the next one
		case unix.ENOBUFS, unix.ENOMEM:
			return nil, unix.EMFILE
		}
		return nil, err
	}
	// netpoll sets TCP_NODELAY only on connections of its own listener (it keys on the
	// network name of its netFD); Go net and gnet set it on every TCP connection.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		unix.Close(fd) // reset before we got to it: take the next one
		if l.counters != nil {
			l.counters.AcceptError()
		}
		return nil, nil
	}
	return &acceptedConn{fd: fd, local: l.addr, remote: sockaddrToTCP(sa)}, nil
}

func (l *listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.file.Close()
	if e := l.ln.Close(); err == nil {
		err = e
	}
	return err
}

func (l *listener) Addr() net.Addr { return l.addr }

// Fd implements netpoll.Listener; the first call tells Listen that Serve has registered.
func (l *listener) Fd() int {
	l.pollOnce.Do(func() { close(l.polled) })
	return l.fd
}

func sockaddrToTCP(sa unix.Sockaddr) net.Addr {
	switch a := sa.(type) {
	case *unix.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]).To16(), Port: a.Port}
	case *unix.SockaddrInet6:
		return &net.TCPAddr{IP: net.IP(a.Addr[:]), Port: a.Port}
	}
	return &net.TCPAddr{}
}

// acceptedConn hands an accepted fd to netpoll's server, which copies Fd and the addresses
// into its own connection and never uses this value for I/O.
type acceptedConn struct {
	fd            int
	local, remote net.Addr
}

var _ cnetpoll.Conn = (*acceptedConn)(nil)

func (c *acceptedConn) Fd() int                          { return c.fd }
func (c *acceptedConn) Read(p []byte) (int, error)       { return unix.Read(c.fd, p) }
func (c *acceptedConn) Write(p []byte) (int, error)      { return unix.Write(c.fd, p) }
func (c *acceptedConn) Close() error                     { return unix.Close(c.fd) }
func (c *acceptedConn) LocalAddr() net.Addr              { return c.local }
func (c *acceptedConn) RemoteAddr() net.Addr             { return c.remote }
func (c *acceptedConn) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (c *acceptedConn) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (c *acceptedConn) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }
