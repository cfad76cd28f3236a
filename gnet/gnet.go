// Package gnet is the gnet backend: an adapter over github.com/panjf2000/gnet/v2 (imported as
// gnetv2), a multi-reactor event-loop library. On Linux and the BSDs/macOS gnet runs its own
// epoll/kqueue loops, one goroutine each; on Windows gnet is a development mode built on Go
// net (a reader goroutine per connection feeding a channel per loop), and Backend.Note says so.
//
// # Model
//
// Every service has its own gnet.Client with Config.Loops event loops (WithNumEventLoop,
// WithMulticore when Loops > 1, level-triggered, no ticker); gnet's defaults are kept where
// the contract says nothing (loops are not locked to OS threads; the raw epoll backend locks
// its own). A CLIENT service dials each connection with Go net (net.Dialer, so Service.Close
// can cancel it); a SERVER service accepts with a Go net listener on one goroutine. Both hand
// the connection to the client with EnrollContext, which dups the fd into the next loop
// (round-robin) and closes the Go net conn: dup+close+epoll_ctl per connection, on the
// connect/accept path only.
//
// Why not gnet's own server (gnet.Run, a main reactor accepting for the loops): in gnet
// v2.9.7 any accept error other than EAGAIN, EINTR, ECONNRESET and ECONNABORTED ends the
// main reactor's poll loop (acceptor_unix.go accept0 returns errors.ErrAcceptSocket, which
// Poller.Polling returns), and that shuts the whole engine down: every session dropped, the
// listener closed, nothing reported but a log line. So one connection storm that runs the
// process out of file descriptors (EMFILE) made the gnet server deaf for good, and no option
// or hook of gnet's changes that. The adapter's accept loop instead counts the error
// (ServiceStats.AcceptErrors), backs off (5 ms doubling to 1 s, as net/http does) and
// accepts again. The cost against gnet.Run is on the accept path only: the accept runs on
// the Go runtime poller (accept4 plus its epoll_ctl) and waits for the loop to register the
// connection, and EnrollContext adds a dup and a close; the message path is gnet's, as
// before. Results of connection-churn scenarios include that accept path.
// gnet's logger is replaced by a discarding one so nothing is written on the hot path.
//
// # Bridges (where gnet's model differs from the contract)
//
//   - Receive buffer ownership. gnet reads (read(2), one per readable event) into one buffer
//     per loop and calls OnTraffic; bytes left unread are copied by gnet into a per-connection
//     ring. The adapter never leaves bytes to gnet (it takes them all with Next(-1), which is
//     zero-copy while gnet's ring is empty, i.e. always). When the session's RecvBuffer is
//     empty the app's OnRecv sees a window straight into gnet's loop buffer (truncated to
//     Config.RecvBufferSize); only a partial frame left at the end of a read is copied into
//     the session's models.RecvBuffer, and the next read appends to it just enough to
//     complete it (see deliver). The window, the consumed-count rule and the overflow rule
//     (a full window of RecvBufferSize with nothing consumed kicks with
//     KickRecvBufferOverFull) are the same as on every backend.
//   - Send path and who flushes. Send copies into the session's models.SendQueue (the one
//     copy every backend makes). The writer is the session's gnet loop: a Send from inside a
//     callback of that session is flushed when the callback returns (so all replies to one
//     read leave in one writev); a Send from elsewhere wakes the loop with Conn.Wake. The loop
//     writes the queue's chunks with one writev(2) per turn straight from the SendQueue on
//     the connection's fd; gnet's own outbound buffer is never used (it would copy).
//   - Backpressure. gnet has no "writable" callback for a connection whose writes the user
//     does itself, so when the loop's writev would block (EAGAIN or a short write) the adapter
//     hands the writer role to a side writer: a dup of the fd registered with the Go runtime
//     poller (created the first time the session is backpressured and kept until it ends: one
//     extra fd and dup+fcntl+epoll_ctl once per such session), whose goroutine writes the
//     rest of the queue with writev, waiting for writability in the runtime poller, until the
//     queue is empty; the next Send gives the role back to the loop. The unsent bytes stay in
//     the SendQueue, so its bound (KickSendQueueFull) is exact and no byte is copied twice.
//     (gnet's own answer, its outbound buffer, would copy the unsent tail and hide it from
//     the bound.) OnSend then runs on the side goroutine, which the contract allows.
//   - Graceful half-close. gnet closes a connection as soon as read returns EOF. If sends are
//     still queued then, the adapter keeps a dup of the fd (taken in OnClose, before gnet
//     closes its own) and the side goroutine writes the queue out from the SendQueue before
//     closing with KickRecv0, as the contract says. Every other kick sets SO_LINGER 0 and
//     closes at once, dropping queued data.
//   - Connection-count limit. gnet has none; the adapter takes a slot from the service's
//     models.SessionPool in OnOpen and refuses (closes, counted as KickPoolExhausted) when it
//     is empty.
//   - Auto-reconnect. gnet has none; an ended CLIENT_AUTO_RECONNECT session redials after
//     ReconnectDelay from a goroutine of the adapter.
//   - Jobs. Engine.Post uses models.JobLoop (gnet's EventLoop.Execute would run jobs on an I/O
//     loop, unlike the other backends).
//
// # Copies per message
//
// Receive: kernel→gnet loop buffer (read), and for a frame that straddles two reads, its head
// (loop buffer→RecvBuffer) and up to max(head, 512) bytes of the next read; netstd and the raw
// backends read straight into the RecvBuffer and memmove a partial frame only when
// compaction needs it, so gnet copies a straddling frame once more than they do and other
// bytes the same. Send: app→SendQueue (Push), SendQueue→kernel (writev): the same as every
// backend.
//
// # Allocations
//
// A wake from another goroutine goes through gnet's task queue (Conn.Wake), which allocates a
// closure and a queue node per wake; a Send made inside the session's own callbacks (echo,
// request/response) wakes nothing and allocates nothing.
//
// # Windows
//
// gnet's Windows build is not an I/O model: an accept goroutine and one reader goroutine per
// connection (from gnet's global ants pool) feed each loop's channel, and writes are blocking
// Go net writes made on the loop (Conn.Writev, which concatenates the buffers into a pooled
// buffer first: one extra copy). So there is no backpressure wait (a slow peer stalls its
// loop) and a half-close drain is a blocking write in OnClose. Under Wine 8 the conformance
// suite passes except, intermittently, close_in_flight, for two gnet-internal reasons seen in
// three runs: (1) 9 of 16 accepted connections had not reached OnOpen when the engine closed
// and were never closed (their peers timed out): gnet's Windows loop stops with their open
// messages still queued in its channel behind reads and closes only the connections it
// opened; (2) reader goroutines go back to gnet's global ants pool idle and are reaped only
// after its 10 s expiry, so the leak check counted 2 idle pool workers. These are gnet's
// Windows internals; the Note says "development mode".
//
// # Close
//
// Service.Close closes the listener (ending the accept loop), kicks every session with
// KickShutdown, waits for every OnDisconnect and for the adapter's goroutines, then stops the
// gnet client (Client.Stop) and waits for its loops to return; the loops' pollers and
// eventfds are closed by gnet. A service is visible to Engine.Close from the start of
// Listen/Connect, holding a setup reference until its gnet client is stored, so an
// Engine.Close racing them waits for that and stops it (see newService). gnet keeps a
// package-level goroutine pool (ants) started at package init; the adapter never submits to
// it on Linux/macOS, so it holds no goroutine of an engine.
package gnet

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	gnetv2 "github.com/panjf2000/gnet/v2"

	"github.com/iobench/iobench/models"
)

// Name is the backend name.
const Name = "gnet"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "gnet v2: event loops (epoll/kqueue) fed by a Go accept loop, one writev per loop turn",
		Available: func() error { return nil },
		New:       New,
		Note:      platformNote,
	})
}

// Engine is the gnet engine: a registry of services, each with its own gnet client.
type Engine struct {
	cfg  models.Config
	jobs *models.JobLoop

	services models.ServiceSet[*service]
}

var _ models.Engine = (*Engine)(nil)

// New builds a gnet engine.
func New(cfg models.Config) (models.Engine, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, jobs: models.NewJobLoop()}, nil
}

func (e *Engine) Name() string { return Name }

func (e *Engine) Post(job func()) error { return e.jobs.Post(job) }

func (e *Engine) addService(s *service) error { return e.services.Add(s) }

func (e *Engine) removeService(s *service) { e.services.Remove(s) }

// Close closes every service and the job loop.
func (e *Engine) Close() error {
	first, err := e.services.CloseAll()
	if !first {
		return nil
	}
	e.jobs.Close()
	return err
}

// gnetOptions are the options every gnet client of this backend gets (tuning
// parity: Loops event loops, level-triggered, the read buffer sized like every RecvBuffer).
func (e *Engine) gnetOptions() []gnetv2.Option {
	return []gnetv2.Option{
		gnetv2.WithNumEventLoop(e.cfg.Loops),
		gnetv2.WithMulticore(e.cfg.Loops > 1),
		gnetv2.WithReadBufferCap(e.cfg.RecvBufferSize),
		gnetv2.WithTCPNoDelay(gnetv2.TCPNoDelay),
		gnetv2.WithReuseAddr(true),
		gnetv2.WithLogger(discardLogger{}),
	}
}

// Listen starts a SERVER service: a Go net listener whose accept loop enrolls every
// connection into the service's own gnet client (see the package doc for why gnet's own
// acceptor is not used).
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", models.ErrBadConfig)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "listen", err)
	}
	s, err := e.newService(opt, h, ln.Addr(), func(s *service) { s.ln = ln })
	if err != nil {
		ln.Close()
		return nil, err
	}
	if err := s.startClient(); err != nil {
		ln.Close()
		return nil, models.WrapOp(Name, "client start", err)
	}
	s.goroutines.Add(1)
	go s.acceptLoop()
	s.goroutines.Add(-1) // the setup reference: the accept loop holds its own
	return s, nil
}

// startClient starts the service's gnet client (its event loops). On failure it releases the
// setup reference and unregisters the service.
func (s *service) startClient() error {
	cli, err := gnetv2.NewClient(s, s.eng.gnetOptions()...)
	if err == nil {
		err = cli.Start() // closes what it opened if it fails
	}
	if err != nil {
		s.eng.removeService(s)
		s.goroutines.Add(-1) // the setup reference
		return err
	}
	s.cli = cli
	s.ready.Store(true)
	return nil
}

// Accept back-off after a failed accept (EMFILE, ENFILE, ENOBUFS...): doubling from
// acceptBackoffMin to acceptBackoffMax, as net/http's Server does.
const (
	acceptBackoffMin = 5 * time.Millisecond
	acceptBackoffMax = time.Second
)

// acceptLoop accepts until the service closes and hands each connection to a loop of the
// service's gnet client (EnrollContext: dup into the loop, close the Go net conn, OnOpen on
// the loop). A failed accept or enroll is counted and backed off; it never stops the
// service. The caller has counted this goroutine in s.goroutines.
func (s *service) acceptLoop() {
	defer s.goroutines.Add(-1)
	var delay time.Duration
	for {
		c, err := s.ln.Accept()
		if err == nil {
			if _, err = s.cli.EnrollContext(c, nil); err != nil {
				c.Close() // closed by gnet on Linux; not on Windows when it fails
			}
		}
		if err == nil {
			delay = 0
			continue
		}
		if s.closing.Load() || errors.Is(err, net.ErrClosed) {
			return
		}
		s.counters.AcceptError()
		delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
		select {
		case <-s.quit:
			return
		case <-time.After(delay):
		}
	}
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service on its own gnet client.
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
	if err := s.startClient(); err != nil {
		return nil, models.WrapOp(Name, "client start", err)
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
// the fields Close reads that exist before setup starts, and the service holds one reference
// in s.goroutines for its setup, which Listen or Connect releases once the gnet client is
// stored (or setup failed). Close waits for s.goroutines to reach 0 before it reads them, so
// a Close racing Listen or Connect neither reads a half-built service nor returns before the
// gnet client that setup starts is there to be stopped.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, prepare func(*service)) (*service, error) {
	pool, err := models.NewSessionPool(opt.PoolSize)
	if err != nil {
		return nil, err
	}
	s := &service{eng: e, opt: opt, h: h, addr: addr, pool: pool,
		sessions: make([]*session, opt.PoolSize), quit: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for i := range s.sessions {
		s.sessions[i] = &session{svc: s, slot: i}
		s.sessions[i].InitCore()
	}
	if prepare != nil {
		prepare(s)
	}
	s.goroutines.Add(1)
	if err := e.addService(s); err != nil {
		return nil, err
	}
	return s, nil
}

// service is one ServiceCoordinator and the gnet.EventHandler of its gnet client.
type service struct {
	gnetv2.BuiltinEventEngine

	eng      *Engine
	opt      models.ServiceOptions
	h        models.Handler
	addr     net.Addr
	pool     *models.SessionPool
	sessions []*session
	counters models.Counters
	ctx      context.Context
	cancel   context.CancelFunc
	quit     chan struct{}
	ready    atomic.Bool // Listen/Connect finished setting the service up
	closing  atomic.Bool
	closeMu  sync.Mutex
	closed   bool
	// goroutines counts the adapter's own goroutines (dialers, redialers, side writers);
	// Close waits for it to reach 0 together with the pool's live count.
	goroutines atomic.Int64
	// sideWriters and drains count side writers started (backpressure or half-close) and
	// half-close drains handed to them: rare paths, counted so tests can see they ran.
	sideWriters, drains atomic.Uint64

	// SERVER: the listener its accept loop serves.
	ln net.Listener
	// The gnet client whose loops serve the sessions (SERVER and CLIENT).
	cli *gnetv2.Client
}

var _ models.Service = (*service)(nil)
var _ gnetv2.EventHandler = (*service)(nil)

func (s *service) Type() models.ServiceType   { return s.opt.Type }
func (s *service) Addr() net.Addr             { return s.addr }
func (s *service) Stats() models.ServiceStats { return s.counters.Snapshot(s.pool.Live()) }

// Close stops accepting/dialling, kicks every session with KickShutdown, waits for every
// OnDisconnect and adapter goroutine, then stops gnet and waits for its loops.
func (s *service) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.closing.Store(true)
	close(s.quit)
	s.cancel()
	if s.ln != nil {
		s.ln.Close() // ends the accept loop
	}
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
	if s.cli != nil {
		err = s.cli.Stop()
	}
	s.eng.removeService(s)
	return models.WrapOp(Name, "stop", err)
}

// OnOpen takes a pooled session for the new connection (or refuses it) and runs OnConnect.
func (s *service) OnOpen(c gnetv2.Conn) ([]byte, gnetv2.Action) {
	tok, _ := c.Context().(*dialToken)
	if s.closing.Load() || !s.ready.Load() {
		return nil, gnetv2.Close
	}
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		return nil, gnetv2.Close
	}
	if s.opt.Type == models.ServiceServer {
		s.counters.Accepted()
	} else {
		s.counters.Connected()
	}
	if tok != nil {
		tok.ok = true
	}
	ss := s.sessions[slot]
	ss.open(c, c.LocalAddr(), s.eng.cfg)
	c.SetContext(ss)
	ss.inLoop.Store(true)
	s.h.OnConnect(ss)
	return nil, ss.endCallbacks(c)
}

// OnTraffic delivers what gnet read (if anything: Conn.Wake calls it with nothing read) and
// runs the session's pending flush.
func (s *service) OnTraffic(c gnetv2.Conn) gnetv2.Action {
	ss, _ := c.Context().(*session)
	if ss == nil {
		return gnetv2.Close
	}
	if ss.Kicked() {
		return ss.closeAction(c)
	}
	ss.inLoop.Store(true)
	if buf, _ := c.Next(-1); len(buf) > 0 {
		s.counters.Read(len(buf))
		ss.deliver(buf)
	}
	return ss.endCallbacks(c)
}

// OnClose ends the session's connection: it records why (EOF, error, shutdown) and, after a
// peer half-close with sends still queued, hands the fd's dup to the side writer to drain.
func (s *service) OnClose(c gnetv2.Conn, err error) gnetv2.Action {
	ss, _ := c.Context().(*session)
	if ss == nil {
		return gnetv2.None
	}
	c.SetContext(nil)
	ss.connOpen.Store(false)
	if !ss.Kicked() {
		switch {
		case errors.Is(err, io.EOF):
			if !ss.sq.Idle() && ss.drainAfterEOF(c) {
				break // the side writer ends the session with KickRecv0 once drained
			}
			ss.end(models.KickRecv0)
		case err == nil:
			if s.closing.Load() {
				ss.end(models.KickShutdown)
			} else {
				ss.end(models.KickIOError)
			}
		default:
			var se *os.SyscallError
			if errors.As(err, &se) && (se.Syscall == "write" || se.Syscall == "writev") {
				ss.end(models.KickSendError)
			} else {
				ss.end(models.KickRecvError)
			}
		}
	}
	if ss.ReleaseRef() == 0 {
		ss.finalize()
	}
	return gnetv2.None
}

// dialToken lets OnOpen tell a dialler whether its connection got a session.
type dialToken struct{ ok bool }

func (s *service) dial() error {
	var d net.Dialer
	c, err := d.DialContext(s.ctx, "tcp", s.addr.String())
	if err != nil {
		s.counters.ConnectFailed()
		return err
	}
	tok := &dialToken{}
	if _, err := s.cli.EnrollContext(c, tok); err != nil { // EnrollContext closes c
		s.counters.ConnectFailed()
		return err
	}
	if !tok.ok {
		if s.closing.Load() {
			return models.ErrClosed
		}
		return models.ErrPoolExhausted
	}
	return nil
}

// redialLoop reconnects one auto-reconnect session slot until it succeeds or the service
// closes. The caller has counted this goroutine in s.goroutines.
func (s *service) redialLoop() {
	models.Redial(s.quit, s.opt.ReconnectDelay, s.closing.Load, s.dial)
}

// session is one pooled connection.
type session struct {
	models.SessionCore
	svc  *service
	slot int

	// Set by open on the session's loop before OnConnect; read-only until the next open.
	conn   gnetv2.Conn
	fd     int
	maxIov int

	rb models.RecvBuffer // partial frames only (see deliver)
	sq models.SendQueue

	// inLoop is true while the session's loop runs a callback of this session; needFlush is
	// true when the writer role is pending (a Push returned start, or the side goroutine saw
	// the socket writable) and the loop must run flush. See requestFlush.
	inLoop    atomic.Bool
	needFlush atomic.Bool
	connOpen  atomic.Bool
	parked    bool     // loop only: the side writer holds the writer role
	iov       [][]byte // loop only
	side      atomic.Pointer[sideWriter]
}

var _ models.Session = (*session)(nil)

func (ss *session) open(c gnetv2.Conn, local net.Addr, cfg models.Config) {
	if ss.rb.Cap() != cfg.RecvBufferSize {
		ss.rb.Init(make([]byte, cfg.RecvBufferSize))
	}
	ss.rb.Reset()
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.conn = c
	ss.fd = connFd(c)
	ss.maxIov = cfg.MaxGather
	ss.parked = false
	ss.needFlush.Store(false)
	ss.side.Store(nil)
	ss.connOpen.Store(true)
	ss.Open(local, c.RemoteAddr())
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

// requestFlush hands the writer role to the session's loop. If the loop is inside a callback
// of this session it sees needFlush when the callback returns (endCallbacks stores inLoop
// false before it swaps needFlush, and this stores needFlush before it loads inLoop, so one of
// the two sees the other); otherwise the loop is woken.
func (ss *session) requestFlush() {
	ss.needFlush.Store(true)
	if !ss.inLoop.Load() {
		ss.wake()
	}
}

func (ss *session) wake() {
	if ss.connOpen.Load() {
		ss.conn.Wake(nil) // an error means the loop is gone: the session is ending anyway
	}
}

// Kick implements models.Session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.end(r) {
		return
	}
	if !ss.inLoop.Load() {
		ss.wake() // OnTraffic sees Kicked and closes on the loop
	}
}

// end records r as the session's reason if none was, refuses further sends and stops the
// side writer. It reports whether this call recorded the reason.
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

// endCallbacks runs on the loop after the session's callbacks: it runs pending flushes and
// closes a kicked session.
func (ss *session) endCallbacks(c gnetv2.Conn) gnetv2.Action {
	for {
		ss.inLoop.Store(false)
		if ss.Kicked() {
			return ss.closeAction(c)
		}
		if !ss.needFlush.Swap(false) {
			return gnetv2.None
		}
		ss.inLoop.Store(true)
		ss.parked = false
		ss.flush()
	}
}

// closeAction closes a kicked session from its loop: abortively (SO_LINGER 0, queued data
// dropped) unless the peer half-closed.
func (ss *session) closeAction(c gnetv2.Conn) gnetv2.Action {
	if ss.Reason() != models.KickRecv0 {
		_ = c.SetLinger(0)
	}
	return gnetv2.Close
}

// flush writes the SendQueue from the loop, one gather write per turn, until it is empty, the
// socket would block (then the side writer is armed) or the write fails.
func (ss *session) flush() {
	if ss.parked {
		return
	}
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
		n, err, blocked := ss.writeLoop(bufs)
		clear(ss.iov[:cap(ss.iov)])
		if n > 0 {
			s.counters.Wrote(n)
			s.h.OnSend(ss, n)
		}
		more := ss.sq.Advance(n)
		if err != nil {
			ss.Kick(models.KickSendError)
			return
		}
		if !more {
			return
		}
		if blocked || n < total {
			ss.park()
			return
		}
	}
}

// slowStep bounds the first copy into the RecvBuffer when a partial frame is pending: enough
// to complete a small frame, so the rest of the read can again be delivered in place.
const slowStep = 512

// deliver hands bytes gnet read to the app with the RecvBuffer's window, consumed-count and
// overflow rules.
//
// Fast path (no partial frame pending): the window is gnet's loop buffer itself, truncated to
// the RecvBuffer's size; unconsumed bytes stay there for the next window, and only a partial
// frame at the very end of the read is copied into the RecvBuffer.
//
// Slow path (a partial frame of P bytes pending in the RecvBuffer): new bytes are appended
// and the RecvBuffer's window is delivered. The first append of a read is at most
// max(P, slowStep) bytes; once the app has consumed the pending P bytes, the copy is dropped
// and delivery goes back to the fast path at the first unconsumed byte of the read, so a
// straddling frame costs one extra copy of its head and of at most max(P, slowStep) bytes.
func (ss *session) deliver(data []byte) {
	h, rb := ss.svc.h, &ss.rb
	step := true // the first slow-path append of this read is bounded
	for len(data) > 0 && !ss.Kicked() {
		if rb.Len() == 0 {
			w := data[:min(len(data), rb.Cap())]
			n := h.OnRecv(ss, w)
			switch {
			case n < 0 || n > len(w):
				ss.Kick(models.KickPacketError)
				return
			case n == 0 && len(w) == rb.Cap():
				ss.Kick(models.KickRecvBufferOverFull)
				return
			case n == len(w) || len(data) > len(w):
				data = data[n:] // unconsumed bytes are shown again with what follows
				continue
			}
			rest := data[n:] // a partial frame at the end of the read
			copy(rb.Free(), rest)
			rb.Commit(len(rest))
			return
		}
		pending := rb.Len()
		free := rb.Free()
		m := min(len(data), len(free))
		if step {
			m = min(m, max(pending, slowStep))
			step = false
		}
		copy(free, data[:m])
		rb.Commit(m)
		w := rb.Window()
		k := h.OnRecv(ss, w)
		switch {
		case k < 0 || k > len(w):
			ss.Kick(models.KickPacketError)
			return
		case k >= pending:
			// The pending frame is consumed: drop the copy and go on from the read itself.
			rb.Reset()
			data = data[k-pending:]
			continue
		}
		rb.Consume(k)
		data = data[m:]
		if rb.Full() {
			ss.Kick(models.KickRecvBufferOverFull)
			return
		}
	}
}

// finalize runs once the connection and the side writer are done with the session: the last
// callback (OnDisconnect), then the slot goes back to the pool.
func (ss *session) finalize() {
	s := ss.svc
	r := ss.Reason()
	if r == models.KickNone { // unreachable: every path records a reason first
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

// discardLogger keeps gnet's logging off the hot path (gnet logs stale events, errors and
// boot lines through it).
type discardLogger struct{}

func (discardLogger) Debugf(string, ...any) {}
func (discardLogger) Infof(string, ...any)  {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Fatalf(string, ...any) {}
