// Package adapter is the base the backends over Go's runtime (netstd) or over an event-loop
// library (gnet, netpoll) share, so each is its I/O and nothing else: the engine half (a job
// loop for Post, the service set, the goroutines that run callbacks, the once-only Close),
// the service half (models.ServiceCore, the setup reference, event-driven Close, Connect's
// first-attempt fan-out and auto-reconnect) and, on Unix, the side writer: a dup of a
// session's fd on the Go runtime poller that takes the writer's turn over when a loop's
// writev would block, and drains the queue after a peer half-close.
package adapter

import (
	"context"
	"net"
	"sync"

	"github.com/iobench/iobench/models"
)

// Closer is what an engine's service set holds.
type Closer interface {
	comparable
	Close() error
}

// Engine is the engine half of an adapter backend. Embed it and call Init from New.
type Engine[S Closer] struct {
	Cfg models.Config
	// Inside tells whether the caller runs a callback or a job of the engine: under the
	// functions given to Init, the job loop, a goroutine of Service.Go or a side writer.
	Inside models.Inside

	jobs     *models.JobLoop
	services models.ServiceSet[S]
	closer   models.Closer
}

// Init validates cfg and starts the job loop; callbacks are the functions under which the
// backend runs its callbacks (see models.InsideOf).
func (e *Engine[S]) Init(cfg models.Config, callbacks ...any) error {
	cfg, err := cfg.WithDefaults()
	if err != nil {
		return err
	}
	e.Cfg = cfg
	e.jobs = models.NewJobLoop()
	e.Inside = models.InsideOf(append(append(callbacks, (*Service).Go), platformCallbacks()...)...)
	return nil
}

// Post runs job on the engine's job loop (FIFO).
func (e *Engine[S]) Post(job func()) error { return e.jobs.Post(job) }

// AddService makes s visible to Close; ErrClosed once Close has begun.
func (e *Engine[S]) AddService(s S) error { return e.services.Add(s) }

// RemoveService forgets a closed service.
func (e *Engine[S]) RemoveService(s S) { e.services.Remove(s) }

// CloseEngine is Engine.Close: every service, then the job loop, then after (may be nil),
// once; from a callback or a job it returns at once (models.Closer).
func (e *Engine[S]) CloseEngine(after func()) error {
	return e.closer.Close(e.Inside.Current(), func() error {
		_, err := e.services.CloseAll()
		e.jobs.Close()
		if after != nil {
			after()
		}
		return err
	})
}

// Service is the service half of an adapter backend. Embed it; call Init before the service
// is visible to Engine.Close (it takes the setup reference) and SetupDone once the service is
// complete (its listener or library engine stored, or its dialers started).
type Service struct {
	models.ServiceCore
	addr net.Addr
	// Quit is closed when Close begins; Ctx is cancelled then (a dial in progress stops).
	Quit   chan struct{}
	Ctx    context.Context
	cancel context.CancelFunc
	// refs counts the setup reference, the adapter's goroutines (dialers, redialers, side
	// writers, flush tasks) and every open session (Hold at open, Release at its end): Close
	// waits for it, an event, never a poll.
	refs refCount
}

// refCount is a WaitGroup whose Add may race the Wait: a library can open a connection (and
// the adapter Hold it) at any time, so the counter may go up from zero while Close waits.
// TryHold makes that safe: it holds first and then looks at closing, so a session either is
// seen by Close's wait or refuses itself.
type refCount struct {
	mu   sync.Mutex
	n    int
	zero chan struct{}
}

func (r *refCount) add(d int) {
	r.mu.Lock()
	r.n += d
	if r.n == 0 && r.zero != nil {
		close(r.zero)
		r.zero = nil
	}
	r.mu.Unlock()
}

func (r *refCount) wait() {
	r.mu.Lock()
	if r.n == 0 {
		r.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	r.zero = ch
	r.mu.Unlock()
	<-ch
}

// Init sets the service up: options, handler, pool (models.ServiceCore.InitService), the
// address, and the setup reference. Auto-reconnect redials on a goroutine of the service,
// with dial, after the ReconnectDelay.
func (s *Service) Init(opt models.ServiceOptions, h models.Handler, addr net.Addr, dial func() error) error {
	if err := s.InitService(opt, h); err != nil {
		return err
	}
	s.addr = addr
	s.Quit = make(chan struct{})
	s.Ctx, s.cancel = context.WithCancel(context.Background())
	s.SetRedial(func() { s.Go(func() { s.Redial(dial) }) })
	s.refs.add(1)
	return nil
}

// Addr implements models.Service.
func (s *Service) Addr() net.Addr { return s.addr }

// SetAddr sets the address once it is known (a library reports the bound port at boot).
func (s *Service) SetAddr(a net.Addr) { s.addr = a }

// SetupDone drops the setup reference.
func (s *Service) SetupDone() { s.refs.add(-1) }

// Hold and Release count an open session (or any other user) in the references Close waits
// for. Hold is for a caller that already holds one (the accept loop, a dialer); a callback
// of a library calls TryHold.
func (s *Service) Hold()    { s.refs.add(1) }
func (s *Service) Release() { s.refs.add(-1) }

// TryHold holds unless the service is closing (then it holds nothing and reports false).
func (s *Service) TryHold() bool {
	s.refs.add(1)
	if s.Closing() {
		s.refs.add(-1)
		return false
	}
	return true
}

// Go runs f on a goroutine counted in the references.
func (s *Service) Go(f func()) {
	s.refs.add(1)
	go func() {
		defer s.refs.add(-1)
		f()
	}()
}

// Redial is an auto-reconnect slot's retry loop (models.Redial) with dial.
func (s *Service) Redial(dial func() error) {
	models.Redial(s.Quit, s.Options().ReconnectDelay, s.Closing, dial)
}

// Connect starts the first attempt of each of the service's Conns sessions with dial (an
// auto-reconnect service keeps retrying a failed one), drops the setup reference and waits
// for every first attempt. It returns how many connected and the first error.
func (s *Service) Connect(dial func() error) (int, error) {
	var retry func()
	if s.AutoReconnect() {
		retry = func() { s.Redial(dial) }
	}
	wait := models.StartConnects(s.Options().Conns, s.Go, dial, retry)
	s.SetupDone() // every dialer holds its own reference now
	return wait()
}

// CloseService is Service.Close: once, it closes Quit and cancels Ctx, runs stop (close the
// listener), kick (kick every open session once, e.g. models.KickOpen), waits for every
// reference, then runs done (stop the library's engine, leave the engine's set). Called from
// inside the engine (inside: a callback or a job) it does that on another goroutine.
func (s *Service) CloseService(inside bool, stop, kick, done func()) {
	s.CloseOnce(inside, func() {
		close(s.Quit)
		s.cancel()
		if stop != nil {
			stop()
		}
	}, kick, s.refs.wait, done)
}

// ClientService is Engine.Connect of an adapter backend: it completes opt (ForClient),
// resolves addr and has build make the service for the target; build returns the service and
// its first connects (usually svc.Connect with the backend's dial). When none connected, a
// CLIENT service is closed and Connect fails with the first error (an auto-reconnect service
// keeps trying).
func ClientService(backend string, cfg models.Config, addr string, opt models.ServiceOptions,
	build func(models.ServiceOptions, *net.TCPAddr) (models.Service, func() (int, error), error)) (models.Service, error) {
	opt, err := opt.ForClient(cfg)
	if err != nil {
		return nil, err
	}
	raddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, models.WrapOp(backend, "resolve", err)
	}
	svc, connect, err := build(opt, raddr)
	if err != nil {
		return nil, err
	}
	if n, err := connect(); n == 0 && opt.Type == models.ServiceClient {
		svc.Close()
		return nil, models.WrapOp(backend, "connect", err)
	}
	return svc, nil
}
