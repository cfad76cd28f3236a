package uring

import (
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
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
	acceptBackoff = 5 * time.Millisecond // re-arm delay after EMFILE and similar accept errors
	bufGroup      = 0                    // buffer group id: one group per ring, so the same id on every loop
)

// Engine is the io_uring engine.
type Engine struct {
	cfg    models.Config
	direct bool // receive mode "direct": single-shot recv into the RecvBuffer, no buffer ring
	loops  []*loop
	next   atomic.Uint32 // round-robin loop choice for client sessions

	inside models.Inside // under the loops\' run: callbacks and Post jobs
	closer models.Closer

	mu       sync.RWMutex
	closed   bool
	services map[*service]struct{}
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
	e := &Engine{cfg: cfg, services: map[*service]struct{}{}, inside: models.InsideOf((*loop).run)}
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
// first), waiting for every in-flight request and freeing the rings. Called from a loop (a
// callback or a Post job) it starts that and returns (models.Closer): a loop cannot wait for
// itself.
func (e *Engine) Close() error {
	return e.closer.Close(e.onLoop(), func() error {
		e.mu.Lock()
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
		return nil
	})
}

// onLoop reports whether the caller is one of the engine's loops, where the blocking calls
// (Close, Service.Close, Connect) must not wait for a loop.
func (e *Engine) onLoop() bool { return e.inside.Current() }

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
	taddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(Name, "resolve", err)
	}
	family, sa, err := sock.Sockaddr(taddr)
	if err != nil {
		return nil, err
	}
	if taddr.Port != 0 {
		if err := sock.PortFree(family, sa); err != nil {
			return nil, models.WrapOp(Name, "bind", err)
		}
	}
	// Sockets first, so the service is complete when Engine.Close can first see it.
	fds := make([]int, 0, len(e.loops))
	var bound net.Addr
	for i := range e.loops {
		fd, op, err := sock.Listen(family, sa, 0)
		if err == nil && i == 0 {
			var a unix.Sockaddr
			if a, err = unix.Getsockname(fd); err != nil {
				unix.Close(fd)
				op = "getsockname"
			} else {
				bound, sa = sock.TCPAddr(a), a // port 0 resolved: the other loops bind the same port
			}
		}
		if err != nil {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, models.WrapOp(Name, op, err)
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
	if e.onLoop() {
		return s, nil // a loop cannot wait for itself; the attempts complete after return
	}
	first.Wait()
	if ok.Load() == 0 && opt.Type == models.ServiceClient {
		s.Close()
		return nil, models.WrapOp(Name, "connect", *firstErr.Load())
	}
	return s, nil
}
