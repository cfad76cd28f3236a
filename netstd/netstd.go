// Package netstd is the Go net backend: a reader and a writer goroutine per connection on the
// runtime's network poller (epoll on Linux, kqueue on BSD/macOS, IOCP on Windows inside
// internal/poll). It is the baseline every raw backend is measured against: what a Go game
// server gets without writing its own I/O loop.
//
// Model: the reader goroutine reads into the session's RecvBuffer and calls OnRecv; Send
// copies into the SendQueue and wakes the writer goroutine, which writes everything queued
// with one writev (net.Buffers) per turn. Config.Loops has no meaning here: the runtime
// scheduler is the loop, and its size is GOMAXPROCS, which the harness sets from the same
// flag.
//
// Copies per message: one kernel→RecvBuffer (read), one app→SendQueue (Send), one
// SendQueue→kernel (writev): the same as every other backend.
package netstd

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/iobench/iobench/models"
)

// Name is the backend name.
const Name = "netstd"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "Go net: goroutine per connection on the runtime poller (epoll/kqueue/IOCP inside)",
		Available: func() error { return nil },
		New:       New,
	})
}

// Engine is the Go net engine.
type Engine struct {
	cfg  models.Config
	jobs *models.JobLoop

	services models.ServiceSet[*service]
}

var _ models.Engine = (*Engine)(nil)

// New builds a Go net engine.
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

// Listen starts a SERVER service.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
	h = opt.Guard(h) // the idle timeout, if set (models.ServiceOptions.Guard)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "listen", err)
	}
	s, err := e.newService(opt, h, ln.Addr(), ln)
	if err != nil {
		ln.Close()
		return nil, err
	}
	go s.acceptLoop() // owns the setup reference newService took
	return s, nil
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service.
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
	s, err := e.newService(opt, h, raddr, nil)
	if err != nil {
		return nil, err
	}
	var retry func()
	if opt.Type == models.ServiceClientAutoReconnect {
		retry = s.redialLoop
	}
	spawn := func(f func()) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			f()
		}()
	}
	wait := models.StartConnects(opt.Conns, spawn, s.dial, retry)
	s.wg.Done() // the setup reference: every dialer holds its own now
	connected, err := wait()
	if connected == 0 && opt.Type == models.ServiceClient {
		s.Close()
		return nil, models.WrapOp(Name, "connect", err)
	}
	return s, nil
}

// newService builds a service and makes it visible to Engine.Close. Everything Close reads is
// set before that, and the service holds one wg reference for its setup (released by the
// accept loop, or by Connect once its dialers hold their own), so a Close racing Listen or
// Connect neither misses the listener nor sees the group empty while dialers are still
// being added.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, ln net.Listener) (*service, error) {
	pool, err := models.NewSessionPool(opt.PoolSize)
	if err != nil {
		return nil, err
	}
	s := &service{eng: e, opt: opt, h: h, addr: addr, ln: ln, pool: pool,
		sessions: make([]*session, opt.PoolSize), quit: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for i := range s.sessions {
		s.sessions[i] = &session{svc: s, slot: i}
		s.sessions[i].InitCore()
	}
	s.wg.Add(1)
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
	ln       net.Listener
	pool     *models.SessionPool
	sessions []*session
	counters models.Counters
	ctx      context.Context
	cancel   context.CancelFunc
	quit     chan struct{}
	closing  atomic.Bool
	closeMu  sync.Mutex
	wg       sync.WaitGroup // accept loop, dialers, session goroutines
}

var _ models.Service = (*service)(nil)

func (s *service) Type() models.ServiceType   { return s.opt.Type }
func (s *service) Addr() net.Addr             { return s.addr }
func (s *service) Stats() models.ServiceStats { return s.counters.Snapshot(s.pool.Live()) }

func (s *service) Close() error {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closing.Swap(true) {
		return nil
	}
	close(s.quit)
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
	}
	// Kick until nothing is alive: a dialer may still be handing out a session.
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, slot := range s.pool.Alive() {
			if ss := s.sessions[slot]; ss.Refs() > 0 { // opened (Open publishes conn)
				ss.Kick(models.KickShutdown)
			}
		}
		select {
		case <-done:
			s.eng.removeService(s)
			return nil
		case <-tick.C:
		}
	}
}

func (s *service) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (EMFILE, ECONNABORTED): count it and back off briefly as net/http does.
			s.counters.AcceptError()
			time.Sleep(5 * time.Millisecond)
			continue
		}
		slot, ok := s.pool.Acquire()
		if !ok {
			s.counters.Refused()
			c.Close()
			continue
		}
		s.counters.Accepted()
		s.start(slot, c)
	}
}

func (s *service) dial() error {
	var d net.Dialer
	c, err := d.DialContext(s.ctx, "tcp", s.addr.String())
	if err != nil {
		s.counters.ConnectFailed()
		return err
	}
	slot, ok := s.pool.Acquire()
	if !ok {
		s.counters.Refused()
		c.Close()
		return models.ErrPoolExhausted
	}
	s.counters.Connected()
	s.start(slot, c)
	return nil
}

// redialLoop reconnects one auto-reconnect session slot until it succeeds or the service
// closes.
func (s *service) redialLoop() {
	models.Redial(s.quit, s.opt.ReconnectDelay, s.closing.Load, s.dial)
}

func (s *service) start(slot int, c net.Conn) {
	ss := s.sessions[slot]
	ss.open(c, s.eng.cfg)
	s.wg.Add(1)
	if s.closing.Load() {
		ss.Kick(models.KickShutdown)
	}
	go ss.readLoop()
}

type session struct {
	models.SessionCore
	svc      *service
	slot     int
	conn     net.Conn
	rb       models.RecvBuffer
	sq       models.SendQueue
	wake     chan struct{}
	done     chan struct{}
	draining atomic.Bool
	iov      [][]byte
	maxIov   int
}

var _ models.Session = (*session)(nil)

func (ss *session) open(c net.Conn, cfg models.Config) {
	if ss.rb.Cap() != cfg.RecvBufferSize {
		ss.rb.Init(make([]byte, cfg.RecvBufferSize))
	}
	ss.rb.Reset()
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.conn = c
	ss.wake = make(chan struct{}, 1)
	ss.done = make(chan struct{})
	ss.draining.Store(false)
	ss.maxIov = cfg.MaxGather
	ss.Open(c.LocalAddr(), c.RemoteAddr())
}

// Send implements models.Session.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, &ss.svc.counters, p)
	if err != nil {
		return err
	}
	if start {
		select {
		case ss.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Kick implements models.Session.
func (ss *session) Kick(r models.KickReason) {
	if !ss.MarkKicked(r) {
		return
	}
	ss.sq.Close()
	close(ss.done)
	if r != models.KickRecv0 {
		// Abortive: drop unsent data as the contract says.
		if tc, ok := ss.conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
	}
	ss.conn.Close()
}

func (ss *session) readLoop() {
	s := ss.svc
	h := s.h
	writerDone := make(chan struct{})
	go ss.writeLoop(writerDone)
	h.OnConnect(ss)
	for !ss.Kicked() {
		free := ss.rb.Free()
		n, err := ss.conn.Read(free)
		if n > 0 {
			ss.rb.Commit(n)
			s.counters.Read(n)
			if k := ss.rb.Deliver(h, ss); k != models.KickNone {
				ss.Kick(k)
				break
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				ss.draining.Store(true)
				if ss.sq.Idle() {
					ss.Kick(models.KickRecv0)
				}
			} else {
				ss.Kick(models.KickRecvError)
			}
			break
		}
	}
	<-ss.done
	<-writerDone
	r := ss.Reason()
	h.OnDisconnect(ss, r)
	s.counters.Disconnected(r)
	ss.sq.Release()
	ss.Retire()
	s.pool.Release(ss.slot)
	if s.opt.Type == models.ServiceClientAutoReconnect && !s.closing.Load() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.redialLoop()
		}()
	}
	s.wg.Done()
}

func (ss *session) writeLoop(done chan struct{}) {
	defer close(done)
	s := ss.svc
	for {
		select {
		case <-ss.done:
			return
		case <-ss.wake:
		}
		for {
			bufs := ss.sq.Peek(ss.iov[:0], ss.maxIov)
			ss.iov = bufs
			if len(bufs) == 0 {
				if !ss.sq.Advance(0) {
					break
				}
				continue
			}
			nb := net.Buffers(bufs)
			n, err := nb.WriteTo(ss.conn)
			clear(ss.iov[:cap(ss.iov)])
			if n > 0 {
				s.counters.Wrote(int(n))
				s.h.OnSend(ss, int(n))
			}
			more := ss.sq.Advance(int(n))
			if err != nil {
				ss.Kick(models.KickSendError)
				return
			}
			if !more {
				break
			}
		}
		if ss.draining.Load() {
			ss.Kick(models.KickRecv0)
			return
		}
	}
}
