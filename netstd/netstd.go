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
	"net"
	"sync"
	"time"

	"github.com/iobench/iobench/models"
)

// Engine is the Go net engine.
type Engine struct {
	cfg    models.Config
	jobs   *models.JobLoop
	g      models.Goroutines // the job loop and every session goroutine
	closer models.Closer

	services models.ServiceSet[*service]
}

var _ models.Engine = (*Engine)(nil)

// New builds a Go net engine.
func New(cfg models.Config) (models.Engine, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg}
	e.jobs = models.NewJobLoopIn(&e.g)
	return e, nil
}

func (e *Engine) Name() string { return Name }

func (e *Engine) Post(job func()) error { return e.jobs.Post(job) }

func (e *Engine) addService(s *service) error { return e.services.Add(s) }

func (e *Engine) removeService(s *service) { e.services.Remove(s) }

// Close closes every service and the job loop. Called from a callback or a Post job it
// starts that and returns (models.Closer).
func (e *Engine) Close() error {
	return e.closer.Close(e.g.Current(), func() error {
		_, err := e.services.CloseAll()
		e.jobs.Close()
		return err
	})
}

// Listen starts a SERVER service.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
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
	s := &service{eng: e, addr: addr, ln: ln, quit: make(chan struct{})}
	if err := s.InitService(opt, h); err != nil {
		return nil, err
	}
	s.sessions = make([]*session, opt.PoolSize)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for i := range s.sessions {
		s.sessions[i] = &session{svc: s, slot: i}
		s.sessions[i].InitCore()
	}
	s.SetRedial(func() {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.redialLoop()
		}()
	})
	s.wg.Add(1)
	if err := e.addService(s); err != nil {
		return nil, err
	}
	return s, nil
}

type service struct {
	models.ServiceCore
	eng      *Engine
	addr     net.Addr
	ln       net.Listener
	sessions []*session
	ctx      context.Context
	cancel   context.CancelFunc
	quit     chan struct{}
	wg       sync.WaitGroup // accept loop, dialers, session goroutines
}

var _ models.Service = (*service)(nil)

func (s *service) Addr() net.Addr { return s.addr }

// Close stops accepting and dialling, kicks every open session once (a session opening
// concurrently kicks itself, see models.ServiceCore.Opened) and waits for the accept loop,
// the dialers and every session's end.
func (s *service) Close() error {
	s.CloseOnce(s.eng.g.Current(), s.stop, func() { models.KickOpen(&s.ServiceCore, s.sessions) },
		s.wg.Wait, func() { s.eng.removeService(s) })
	return nil
}

func (s *service) stop() {
	close(s.quit)
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
	}
}

func (s *service) acceptLoop() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.Closing() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (EMFILE, ECONNABORTED): back off briefly as net/http does.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		slot, ok := s.Pool().Acquire()
		if !ok {
			s.Counters().Refused()
			c.Close()
			continue
		}
		s.Counters().Accepted()
		s.start(slot, c)
	}
}

func (s *service) dial() error {
	var d net.Dialer
	c, err := d.DialContext(s.ctx, "tcp", s.addr.String())
	if err != nil {
		s.Counters().ConnectFailed()
		return err
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		c.Close()
		return models.ErrPoolExhausted
	}
	s.Counters().Connected()
	s.start(slot, c)
	return nil
}

// redialLoop reconnects one auto-reconnect session slot until it succeeds or the service
// closes.
func (s *service) redialLoop() {
	models.Redial(s.quit, s.Options().ReconnectDelay, s.Closing, s.dial)
}

func (s *service) start(slot int, c net.Conn) {
	ss := s.sessions[slot]
	ss.open(c, s.eng.cfg)
	s.wg.Add(1)
	s.Opened(ss)
	go ss.readLoop()
}

type session struct {
	models.SessionCore
	svc    *service
	slot   int
	conn   net.Conn
	rb     models.RecvBuffer
	sq     models.SendQueue
	wake   chan struct{}
	done   chan struct{}
	iov    [][]byte
	writev models.GatherWriter
}

var _ models.Session = (*session)(nil)

func (ss *session) open(c net.Conn, cfg models.Config) {
	if ss.rb.Cap() != cfg.RecvBufferSize {
		ss.rb.Init(make([]byte, cfg.RecvBufferSize))
	}
	if cap(ss.iov) != cfg.MaxGather {
		ss.iov = make([][]byte, 0, cfg.MaxGather)
		ss.writev = ss.write
	}
	ss.rb.Reset()
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.conn = c
	ss.wake = make(chan struct{}, 1)
	ss.done = make(chan struct{})
	ss.Open(c.LocalAddr(), c.RemoteAddr())
}

// Send implements models.Session.
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, ss.svc.Counters(), p)
	if err != nil {
		return err
	}
	if start {
		ss.signal()
	}
	return nil
}

func (ss *session) signal() {
	select {
	case ss.wake <- struct{}{}:
	default:
	}
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

// readLoop is the session's reader goroutine: the receive rule over blocking reads, then the
// end of the session once the writer has exited.
func (ss *session) readLoop() {
	s := ss.svc
	defer s.eng.g.Add()()
	h := s.Handler()
	writerDone := make(chan struct{})
	go ss.writeLoop(writerDone)
	h.OnConnect(ss)
	for !ss.Kicked() {
		n, err := ss.conn.Read(ss.rb.Free())
		if !ss.Recv(ss, h, s.Counters(), &ss.rb, &ss.sq, n, err) {
			break
		}
	}
	if ss.Draining() {
		ss.signal() // the writer ends the drain (or sees the kick)
	}
	<-ss.done
	<-writerDone
	s.EndSession(ss, &ss.SessionCore, &ss.sq, ss.slot)
	s.wg.Done()
}

// writeLoop is the session's writer goroutine: one models Flush (a net.Buffers writev per
// turn) whenever a Send made it the writer.
func (ss *session) writeLoop(done chan struct{}) {
	defer close(done)
	s := ss.svc
	defer s.eng.g.Add()()
	for {
		select {
		case <-ss.done:
			return
		case <-ss.wake:
		}
		if ss.Flush(ss, s.Handler(), s.Counters(), &ss.sq, ss.iov, ss.writev) == models.FlushKicked {
			return
		}
	}
}

// write is one gather write; net.Buffers.WriteTo is writev(2) on a TCP connection and blocks
// until everything is written, so it never reports blocked.
func (ss *session) write(bufs [][]byte) (int, bool, error) {
	nb := net.Buffers(bufs)
	n, err := nb.WriteTo(ss.conn)
	return int(n), false, err
}
