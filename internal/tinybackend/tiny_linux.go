package tinybackend

import (
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

func available() error { return nil }

// Engine is the engine: a job loop for Post, the goroutines that run callbacks, the services.
type Engine struct {
	cfg      models.Config
	jobs     *models.JobLoop
	inside   models.Inside
	closer   models.Closer
	services models.ServiceSet[*service]
}

var _ models.Engine = (*Engine)(nil)

// New builds an engine.
func New(cfg models.Config) (models.Engine, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, jobs: models.NewJobLoop(),
		inside: models.InsideOf((*session).read, (*session).turn, (*service).spawn)}
	return e, nil
}

func (e *Engine) Name() string          { return Name }
func (e *Engine) Post(job func()) error { return e.jobs.Post(job) }

// Close closes every service, then the job loop; from a callback or job it returns at once.
func (e *Engine) Close() error {
	return e.closer.Close(e.inside.Current(), func() error {
		_, err := e.services.CloseAll()
		e.jobs.Close()
		return err
	})
}

type service struct {
	models.ServiceCore
	eng      *Engine
	addr     net.Addr
	lfd      int // SERVER: the listening socket
	sessions []*session
	quit     chan struct{}
	wg       sync.WaitGroup // the setup reference, accept loop, dialers, sessions
}

func (s *service) Addr() net.Addr { return s.addr }

func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, lfd int) (*service, error) {
	s := &service{eng: e, addr: addr, lfd: lfd, quit: make(chan struct{})}
	if err := s.InitService(opt, h); err != nil {
		return nil, err
	}
	s.sessions = make([]*session, opt.PoolSize)
	for i := range s.sessions {
		s.sessions[i] = &session{svc: s, slot: i}
		s.sessions[i].InitCore()
		s.sessions[i].cond.L = &s.sessions[i].mu
	}
	s.SetRedial(func() { s.spawn(func() { models.Redial(s.quit, opt.ReconnectDelay, s.Closing, s.dial) }) })
	s.wg.Add(1) // the setup reference, dropped once Listen or Connect has started its goroutines
	if err := e.services.Add(s); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *service) spawn(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

// Close stops accepting and dialling, kicks the open sessions once and waits for all.
func (s *service) Close() error {
	s.CloseOnce(s.eng.inside.Current(), func() {
		close(s.quit)
		if s.lfd >= 0 {
			unix.Shutdown(s.lfd, unix.SHUT_RDWR) // wakes the blocked accept(2)
		}
	}, func() { models.KickOpen(&s.ServiceCore, s.sessions) }, s.wg.Wait, func() { s.eng.services.Remove(s) })
	return nil
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
	family, sa, err := sock.Sockaddr(ta)
	if err != nil {
		return nil, err
	}
	if err := sock.PortFree(family, sa); ta.Port != 0 && err != nil {
		return nil, models.WrapOp(Name, "bind", err)
	}
	lfd, op, err := sock.Listen(family, sa, 0) // blocking
	if err != nil {
		return nil, models.WrapOp(Name, op, err)
	}
	bound, err := unix.Getsockname(lfd)
	if err != nil {
		unix.Close(lfd)
		return nil, models.WrapOp(Name, "getsockname", err)
	}
	s, err := e.newService(opt, h, sock.TCPAddr(bound), lfd)
	if err != nil {
		unix.Close(lfd)
		return nil, err
	}
	go s.acceptLoop() // owns the setup reference
	return s, nil
}

func (s *service) acceptLoop() {
	defer s.wg.Done()
	defer unix.Close(s.lfd)
	for {
		fd, rsa, err := unix.Accept4(s.lfd, unix.SOCK_CLOEXEC)
		switch {
		case s.Closing():
			if err == nil {
				unix.Close(fd)
			}
			return
		case err == unix.EINTR:
			continue
		case err != nil: // EMFILE and kin: count, and rest instead of spinning on the pending connection
			s.Counters().AcceptError()
			if err != unix.ECONNABORTED {
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		slot, ok := s.Pool().Acquire()
		if !ok {
			s.Counters().Refused()
			unix.Close(fd)
			continue
		}
		s.Counters().Accepted()
		local := s.addr
		if sa, err := unix.Getsockname(fd); err == nil {
			local = sock.TCPAddr(sa)
		}
		s.start(slot, fd, local, sock.TCPAddr(rsa))
	}
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service.
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForClient(e.cfg)
	if err != nil {
		return nil, err
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	s, err := e.newService(opt, h, ta, -1)
	if err != nil {
		return nil, err
	}
	var retry func()
	if s.AutoReconnect() {
		retry = func() { models.Redial(s.quit, opt.ReconnectDelay, s.Closing, s.dial) }
	}
	wait := models.StartConnects(opt.Conns, s.spawn, s.dial, retry)
	s.wg.Done() // the setup reference: every dialer holds its own now
	if connected, err := wait(); connected == 0 && opt.Type == models.ServiceClient {
		s.Close()
		return nil, models.WrapOp(Name, "connect", err)
	}
	return s, nil
}

// dial is one blocking connect(2) attempt.
func (s *service) dial() error {
	family, sa, err := sock.Sockaddr(s.addr.(*net.TCPAddr))
	if err != nil {
		return err
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err == nil {
		err = unix.Connect(fd, sa)
		if err != nil {
			unix.Close(fd)
		}
	}
	if err != nil {
		s.Counters().ConnectFailed()
		return err
	}
	slot, ok := s.Pool().Acquire()
	if !ok {
		s.Counters().Refused()
		unix.Close(fd)
		return models.ErrPoolExhausted
	}
	s.Counters().Connected()
	local, remote := &net.TCPAddr{}, s.addr.(*net.TCPAddr)
	if sa, err := unix.Getsockname(fd); err == nil {
		local = sock.TCPAddr(sa)
	}
	s.start(slot, fd, local, remote)
	return nil
}

// session is one pooled connection. mu guards writers, ended and the close of fd.
type session struct {
	models.SessionCore
	svc    *service
	slot   int
	fd     int
	rb     models.RecvBuffer
	sq     models.SendQueue
	iov    [][]byte
	writev models.GatherWriter
	kicked chan struct{} // closed by the first Kick

	mu      sync.Mutex
	cond    sync.Cond // writers reached 0
	writers int       // writer's turns running
	ended   bool      // the reader is past its wait: no new turn may start
}

func (s *service) start(slot, fd int, local, remote net.Addr) {
	ss, cfg := s.sessions[slot], s.eng.cfg
	sock.SetNoDelay(fd)
	if ss.rb.Cap() != cfg.RecvBufferSize {
		ss.rb.Init(make([]byte, cfg.RecvBufferSize))
		ss.iov = make([][]byte, 0, cfg.MaxGather)
		ss.writev = ss.write
	}
	ss.rb.Reset()
	ss.sq.Reset(cfg.SendQueueLimit)
	ss.fd, ss.kicked, ss.ended = fd, make(chan struct{}), false
	ss.Open(local, remote)
	s.wg.Add(1)
	s.Opened(ss)
	go ss.read()
}

// Send implements models.Session: one copy into the queue; the caller that becomes the
// writer starts a goroutine for the writer's turn (a blocking writev must not block Send).
func (ss *session) Send(p []byte) error {
	start, err := ss.Enqueue(ss, &ss.sq, ss.svc.Counters(), p)
	if err != nil || !start {
		return err
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.ended {
		return nil // the session ended meanwhile: the queue is dropped with it
	}
	ss.writers++
	go ss.turn()
	return nil
}

func (ss *session) turn() {
	s := ss.svc
	ss.Flush(ss, s.Handler(), s.Counters(), &ss.sq, ss.iov, ss.writev)
	ss.mu.Lock()
	ss.writers--
	ss.cond.Broadcast()
	ss.mu.Unlock()
}

// write is the GatherWriter: a blocking writev(2), repeated over a partial write.
func (ss *session) write(bufs [][]byte) (int, bool, error) {
	total := 0
	for len(bufs) > 0 {
		n, err := unix.Writev(ss.fd, bufs)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, false, err
		}
		total += n
		for len(bufs) > 0 && n >= len(bufs[0]) {
			n -= len(bufs[0])
			bufs = bufs[1:]
		}
		if len(bufs) > 0 {
			bufs = append([][]byte{bufs[0][n:]}, bufs[1:]...)
		}
	}
	return total, false, nil
}

// Kick implements models.Session: the first reason wins; shutdown(2) wakes the blocked
// read (and a blocked writev, if a turn runs); SO_LINGER 0 makes the close abortive.
func (ss *session) Kick(r models.KickReason) {
	if !ss.MarkKicked(r) {
		return
	}
	ss.sq.Close()
	ss.mu.Lock()
	if r != models.KickRecv0 {
		sock.SetAbortive(ss.fd)
	}
	how := unix.SHUT_RD // no FIN: the abortive close's RST is what the peer must see
	if ss.writers > 0 {
		how = unix.SHUT_RDWR // wakes a writev blocked on a peer that does not read
	}
	unix.Shutdown(ss.fd, how)
	ss.mu.Unlock()
	close(ss.kicked) // after the shutdown: read closes the fd only once this is closed
}

// read is the session's goroutine: the receive rule until the session is kicked (a peer EOF
// waits for the drain's KickRecv0), then the end of the session.
func (ss *session) read() {
	s, h := ss.svc, ss.svc.Handler()
	h.OnConnect(ss)
	for !ss.Kicked() {
		n, err := unix.Read(ss.fd, ss.rb.Free())
		if err == unix.EINTR {
			continue
		}
		if !ss.Recv(ss, h, s.Counters(), &ss.rb, &ss.sq, max(n, 0), err) {
			break
		}
	}
	<-ss.kicked
	ss.mu.Lock()
	for ss.writers > 0 {
		ss.cond.Wait()
	}
	ss.ended = true
	unix.Close(ss.fd)
	ss.mu.Unlock()
	s.EndSession(ss, &ss.SessionCore, &ss.sq, ss.slot)
	s.wg.Done()
}
