package gnet

import (
	"errors"
	"net"
	"time"

	gnetv2 "github.com/panjf2000/gnet/v2"

	"github.com/iobench/iobench/internal/adapter"
	"github.com/iobench/iobench/models"
)

// Engine is the gnet engine: the adapter's engine half (job loop, services, Close); each
// service has its own gnet client.
type Engine struct {
	adapter.Engine[*service]
}

var _ models.Engine = (*Engine)(nil)

// New builds a gnet engine.
func New(cfg models.Config) (models.Engine, error) {
	e := &Engine{}
	// Callbacks run on gnet's loops, under the EventHandler methods.
	if err := e.Init(cfg, (*service).OnOpen, (*service).OnTraffic, (*service).OnClose); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Engine) Name() string { return Name }

// Close closes every service and the job loop; from a callback or a job it returns at once.
func (e *Engine) Close() error { return e.CloseEngine(nil) }

// gnetOptions are the options every gnet client of this backend gets (tuning
// parity: Loops event loops, level-triggered, the read buffer sized like every RecvBuffer).
func (e *Engine) gnetOptions() []gnetv2.Option {
	return []gnetv2.Option{
		gnetv2.WithNumEventLoop(e.Cfg.Loops),
		gnetv2.WithMulticore(e.Cfg.Loops > 1),
		gnetv2.WithReadBufferCap(e.Cfg.RecvBufferSize),
		gnetv2.WithTCPNoDelay(gnetv2.TCPNoDelay),
		gnetv2.WithReuseAddr(true),
		gnetv2.WithLogger(discardLogger{}),
	}
}

// Listen starts a SERVER service: a Go net listener whose accept loop enrolls every
// connection into the service's own gnet client (see the package doc for why gnet's own
// acceptor is not used).
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.Cfg)
	if err != nil {
		return nil, err
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
		return nil, models.WrapOp(Name, "client start", err)
	}
	s.Go(s.acceptLoop)
	s.SetupDone() // the accept loop holds its own reference
	return s, nil
}

// startClient starts the service's gnet client (its event loops). On failure it drops the
// setup reference and closes the service (and its listener).
func (s *service) startClient() error {
	cli, err := gnetv2.NewClient(s, s.eng.gnetOptions()...)
	if err == nil {
		err = cli.Start() // closes what it opened if it fails
	}
	if err != nil {
		s.SetupDone()
		s.Close()
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
// service.
func (s *service) acceptLoop() {
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
		if s.Closing() || errors.Is(err, net.ErrClosed) {
			return
		}
		s.Counters().AcceptError()
		delay = min(max(2*delay, acceptBackoffMin), acceptBackoffMax)
		select {
		case <-s.Quit:
			return
		case <-time.After(delay):
		}
	}
}

// Connect starts a CLIENT or CLIENT_AUTO_RECONNECT service on its own gnet client.
func (e *Engine) Connect(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	return adapter.ClientService(Name, e.Cfg, addr, opt, func(opt models.ServiceOptions, raddr *net.TCPAddr) (models.Service, func() (int, error), error) {
		s, err := e.newService(opt, h, raddr, nil)
		if err != nil {
			return nil, nil, err
		}
		if err := s.startClient(); err != nil {
			return nil, nil, models.WrapOp(Name, "client start", err)
		}
		return s, func() (int, error) { return s.Connect(s.dial) }, nil
	})
}

// newService builds a service and makes it visible to Engine.Close. prepare (if not nil) sets
// the fields Close reads that exist before setup starts, and the service holds its setup
// reference (adapter.Service) until Listen or Connect has stored the gnet client (or setup
// failed): a Close racing Listen or Connect neither reads a half-built service nor returns
// before the gnet client that setup starts is there to be stopped.
func (e *Engine) newService(opt models.ServiceOptions, h models.Handler, addr net.Addr, prepare func(*service)) (*service, error) {
	s := &service{eng: e}
	if err := s.Init(opt, h, addr, s.dial); err != nil {
		return nil, err
	}
	s.sessions = make([]*session, opt.PoolSize)
	for i := range s.sessions {
		s.sessions[i] = &session{svc: s, slot: i}
		s.sessions[i].InitCore()
		s.sessions[i].writev = s.sessions[i].write
	}
	if prepare != nil {
		prepare(s)
	}
	if err := e.AddService(s); err != nil {
		return nil, err
	}
	return s, nil
}

// discardLogger keeps gnet's logging off the hot path (gnet logs stale events, errors and
// boot lines through it).
type discardLogger struct{}

func (discardLogger) Debugf(string, ...any) {}
func (discardLogger) Infof(string, ...any)  {}
func (discardLogger) Warnf(string, ...any)  {}
func (discardLogger) Errorf(string, ...any) {}
func (discardLogger) Fatalf(string, ...any) {}
