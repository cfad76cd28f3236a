package epoll

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// available: epoll exists on every Linux kernel Go supports.
func available() error { return nil }

// Engine is the epoll engine: Config.Loops event loops, each a goroutine with its own epoll
// instance and eventfd.
type Engine struct {
	cfg          models.Config
	loops        []*loop
	loopWG       sync.WaitGroup
	lockThreads  bool // LockEnv: each loop goroutine locked to its OS thread
	residentRecv bool // RecvEnv=resident: read into each session's own RecvBuffer

	inside  models.Inside // under the loops\' run: callbacks and Post jobs
	closer  models.Closer
	redials atomic.Uint32 // round-robin loop choice for redials

	mu     sync.Mutex
	closed bool

	// svcs is the service table indexed by service id (the service field of a tag),
	// copy-on-write so loops read it without a lock; nil entries are free ids.
	svcs atomic.Pointer[[]*service]
}

var _ models.Engine = (*Engine)(nil)

func newEngine(cfg models.Config) (models.Engine, error) {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return nil, err
	}
	cfg.MaxGather = min(cfg.MaxGather, 1024) // IOV_MAX
	e := &Engine{cfg: cfg, lockThreads: os.Getenv(LockEnv) == "1", inside: models.InsideOf((*loop).run)}
	switch mode := os.Getenv(RecvEnv); mode {
	case "", "lazy":
	case "resident":
		e.residentRecv = true
	default:
		return nil, fmt.Errorf("%w: %s=%q, want lazy or resident", models.ErrBadConfig, RecvEnv, mode)
	}
	e.svcs.Store(new([]*service))
	for i := range cfg.Loops {
		l, err := newLoop(e, i)
		if err != nil {
			for _, l := range e.loops {
				l.closeFDs()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	e.loopWG.Add(len(e.loops))
	for _, l := range e.loops {
		go l.run()
	}
	return e, nil
}

func (e *Engine) Name() string { return Name }

// Post queues job on loop 0's task queue (woken through its eventfd): jobs run one at a time,
// in the order Post returned, on loop 0's thread between its I/O batches.
func (e *Engine) Post(job func()) error {
	if job == nil {
		return fmt.Errorf("%w: nil job", models.ErrBadConfig)
	}
	return e.loops[0].post(task{kind: taskFunc, fn: job})
}

// onLoop reports whether the caller is one of the engine's loop goroutines. Only the rare,
// blocking calls (Close, Connect) ask: they must not wait for a loop from that loop.
func (e *Engine) onLoop() bool { return e.inside.Current() }

// service returns the service with id, or nil.
func (e *Engine) service(id int) *service {
	v := *e.svcs.Load()
	if id < len(v) {
		return v[id]
	}
	return nil
}

func (e *Engine) addService(s *service) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return models.ErrClosed
	}
	old := *e.svcs.Load()
	id := -1
	for i, x := range old {
		if x == nil {
			id = i
			break
		}
	}
	if id < 0 {
		if len(old) >= maxServices {
			return fmt.Errorf("%w: more than %d services open on one engine", models.ErrBadConfig, maxServices)
		}
		id = len(old)
	}
	next := make([]*service, max(len(old), id+1))
	copy(next, old)
	s.id = id
	next[id] = s
	e.svcs.Store(&next)
	return nil
}

func (e *Engine) removeService(s *service) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := *e.svcs.Load()
	if s.id >= len(old) || old[s.id] != s {
		return
	}
	next := make([]*service, len(old))
	copy(next, old)
	next[s.id] = nil
	e.svcs.Store(&next)
}

// Close closes every service (kicking every session with KickShutdown), stops the loops and
// closes every fd. Called from a loop thread (a callback or a job) it starts all that and
// returns without waiting, since the loop cannot wait for itself (models.Closer).
func (e *Engine) Close() error {
	return e.closer.Close(e.onLoop(), func() error {
		e.mu.Lock()
		e.closed = true
		svcs := *e.svcs.Load()
		e.mu.Unlock()
		for _, s := range svcs {
			if s != nil {
				s.Close()
			}
		}
		for _, l := range e.loops {
			l.post(task{kind: taskStop})
		}
		e.loopWG.Wait()
		return nil
	})
}

// Listen starts a SERVER service: one SO_REUSEPORT listening socket per loop, all bound to
// the same address, so the kernel spreads incoming connections over the loops and each loop
// accepts only on its own socket (no thundering herd, no cross-thread handoff).
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.cfg)
	if err != nil {
		return nil, err
	}
	if err := checkService(opt); err != nil {
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
	if ta.Port != 0 {
		if err := sock.PortFree(family, sa); err != nil {
			return nil, models.WrapOp(Name, "bind", err)
		}
	}
	s, err := newService(e, opt, h)
	if err != nil {
		return nil, err
	}
	s.family = family
	s.lfds = make([]atomic.Int32, len(e.loops))
	for i := range s.lfds {
		s.lfds[i].Store(-1)
	}
	closeAll := func() {
		for i := range s.lfds {
			if fd := s.lfds[i].Swap(-1); fd >= 0 {
				unix.Close(int(fd))
			}
		}
	}
	for i := range s.lfds {
		fd, op, err := sock.Listen(family, sa, unix.SOCK_NONBLOCK)
		if err != nil {
			closeAll()
			return nil, models.WrapOp(Name, op, err)
		}
		s.lfds[i].Store(int32(fd))
		if i == 0 {
			bound, err := unix.Getsockname(fd)
			if err != nil {
				closeAll()
				return nil, models.WrapOp(Name, "getsockname", err)
			}
			s.addr = sock.TCPAddr(bound)
			sa = bound // port 0 resolved: the other loops bind the same port
		}
	}
	if ip := s.addr.(*net.TCPAddr).IP; ip != nil && !ip.IsUnspecified() {
		s.local = s.addr // every accepted connection has this local address
	}
	if err := e.addService(s); err != nil {
		closeAll()
		return nil, err
	}
	// Each loop registers its own listener, so registration is ordered with the loop's
	// closeService (Engine.Close may run concurrently).
	var wg sync.WaitGroup
	var regErr atomic.Pointer[error]
	for i, l := range e.loops {
		wg.Add(1)
		err := l.post(task{kind: taskFunc, fn: func() {
			defer wg.Done()
			if err := l.addListener(s); err != nil {
				regErr.CompareAndSwap(nil, &err)
			}
		}})
		if err != nil { // the loop has stopped: nobody else will close its listener
			if fd := s.lfds[i].Swap(-1); fd >= 0 {
				unix.Close(int(fd))
			}
			regErr.CompareAndSwap(nil, &err)
			wg.Done()
		}
	}
	if e.onLoop() {
		return s, nil // a loop cannot wait for itself; a failed registration closes that listener
	}
	wg.Wait()
	if err := regErr.Load(); err != nil {
		s.Close()
		return nil, models.WrapOp(Name, "epoll_ctl", *err)
	}
	return s, nil
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service: each session is a non-blocking
// connect(2) registered for EPOLLOUT on its loop (sessions spread round-robin over the
// loops); the connect completes when the socket turns writable and SO_ERROR is 0.
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForClient(e.cfg)
	if err != nil {
		return nil, err
	}
	if err := checkService(opt); err != nil {
		return nil, err
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	family, _, err := sock.Sockaddr(ta)
	if err != nil {
		return nil, err
	}
	s, err := newService(e, opt, h)
	if err != nil {
		return nil, err
	}
	s.family = family
	s.addr = ta
	if err := e.addService(s); err != nil {
		return nil, err
	}
	cw := &connectWait{}
	cw.wg.Add(opt.Conns)
	for i := range opt.Conns {
		l := e.loops[i%len(e.loops)]
		if err := l.post(task{kind: taskFunc, fn: func() { l.dial(s, cw) }}); err != nil {
			cw.done(err)
		}
	}
	if e.onLoop() {
		return s, nil // a loop cannot wait for itself; the attempts complete after return
	}
	cw.wg.Wait()
	if cw.ok.Load() == 0 && opt.Type == models.ServiceClient {
		s.Close()
		return nil, models.WrapOp(Name, "connect", cw.firstErr())
	}
	return s, nil
}

func checkService(opt models.ServiceOptions) error {
	if opt.PoolSize > maxSlots {
		return fmt.Errorf("%w: PoolSize %d > %d", models.ErrBadConfig, opt.PoolSize, maxSlots)
	}
	return nil
}

// connectWait collects the first connect attempt of each session of one Connect call.
type connectWait struct {
	wg  sync.WaitGroup
	ok  atomic.Int32
	mu  sync.Mutex
	err error
}

func (c *connectWait) done(err error) {
	if err == nil {
		c.ok.Add(1)
	} else {
		c.mu.Lock()
		if c.err == nil {
			c.err = err
		}
		c.mu.Unlock()
	}
	c.wg.Done()
}

func (c *connectWait) firstErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		return models.ErrClosed
	}
	return c.err
}
