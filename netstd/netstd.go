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
	"errors"
	"net"
	"time"

	"github.com/iobench/iobench/internal/adapter"
	"github.com/iobench/iobench/models"
)

// Engine is the Go net engine: the adapter's engine half (job loop, services, Close).
type Engine struct {
	adapter.Engine[*service]
}

var _ models.Engine = (*Engine)(nil)

// New builds a Go net engine.
func New(cfg models.Config) (models.Engine, error) {
	e := &Engine{}
	if err := e.Init(cfg, (*session).readLoop, (*session).writeLoop); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) Name() string { return Name }

// Close closes every service and the job loop; from a callback or a job it returns at once.
func (e *Engine) Close() error { return e.CloseEngine(nil) }

// Listen starts a SERVER service.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.Cfg)
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
	go s.acceptLoop() // owns the setup reference
	return s, nil
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service.
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	return adapter.ClientService(Name, e.Cfg, addr, opt, func(opt models.ServiceOptions, raddr *net.TCPAddr) (models.Service, func() (int, error), error) {
		s, err := e.newService(opt, h, raddr, nil)
		if err != nil {
			return nil, nil, err
		}
		return s, func() (int, error) { return s.Connect(s.dial) }, nil
	})
}

// newService builds a service and makes it visible to Engine.Close, complete but for the
// setup reference (the accept loop's, or Connect's until its dialers hold their own).
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, ln net.Listener) (*service, error) {
	s := &service{eng: e, ln: ln}
	if err := s.Init(opt, h, addr, s.dial); err != nil {
		return nil, err
	}
	s.sessions = make([]*session, opt.PoolSize)
	for i := range s.sessions {
		s.sessions[i] = &session{svc: s, slot: i}
		s.sessions[i].InitCore()
	}
	if err := e.AddService(s); err != nil {
		return nil, err
	}
	return s, nil
}

type service struct {
	adapter.Service
	eng      *Engine
	ln       net.Listener
	sessions []*session
}

var _ models.Service = (*service)(nil)

// Close stops accepting and dialling, kicks every open session once (a session opening
// concurrently kicks itself, see models.ServiceCore.Opened) and waits for the accept loop,
// the dialers and every session's end.
func (s *service) Close() error {
	s.CloseService(s.eng.Inside.Current(), func() {
		if s.ln != nil {
			s.ln.Close()
		}
	}, func() { models.KickOpen(&s.ServiceCore, s.sessions) }, func() { s.eng.RemoveService(s) })
	return nil
}

func (s *service) acceptLoop() {
	defer s.SetupDone()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if s.Closing() || errors.Is(err, net.ErrClosed) {
				return
			}
			// Transient (EMFILE, ECONNABORTED): count it and back off briefly as net/http does.
			s.Counters().AcceptError()
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
	c, err := d.DialContext(s.Ctx, "tcp", s.Addr().String())
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

func (s *service) start(slot int, c net.Conn) {
	ss := s.sessions[slot]
	ss.open(c, s.eng.Cfg)
	s.Hold()
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
	s.Release()
}

// writeLoop is the session's writer goroutine: one models Flush (a net.Buffers writev per
// turn) whenever a Send made it the writer.
func (ss *session) writeLoop(done chan struct{}) {
	defer close(done)
	s := ss.svc
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
