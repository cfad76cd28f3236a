//go:build linux || darwin

package netpoll

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"

	cnetpoll "github.com/cloudwego/netpoll"

	"github.com/iobench/iobench/internal/adapter"
	"github.com/iobench/iobench/models"
)

func available() error { return nil }

// pollers tracks netpoll's process-global poller count and the engines using it.
var pollers struct {
	mu    sync.Mutex
	loops int // last count set with SetNumLoops (0: netpoll's default)
	live  int // open engines
}

// Engine is the netpoll engine: the adapter's engine half (job loop, services, Close).
type Engine struct {
	adapter.Engine[*service]
	// staleShutdowns counts service closes whose EventLoop shutdown timed out on netpoll's
	// own stale connection entry after every session had ended (service.Close).
	staleShutdowns atomic.Uint64
}

var _ models.Engine = (*Engine)(nil)

// New builds a netpoll engine and sets netpoll's global poller count to cfg.Loops.
func New(cfg models.Config) (models.Engine, error) {
	e := &Engine{}
	// Callbacks run on netpoll's handler goroutines, under these adapter functions.
	if err := e.Init(cfg, (*service).onPrepare, (*service).onRequest, (*session).clientRequest,
		(*session).onClosed, (*session).flushTask); err != nil {
		return nil, err
	}
	pollers.mu.Lock()
	defer pollers.mu.Unlock()
	if pollers.loops != e.Cfg.Loops {
		if pollers.live > 0 {
			e.CloseEngine(nil)
			return nil, fmt.Errorf("%w: netpoll's pollers are process-global and %d engine(s) with Loops=%d are open; Loops=%d", models.ErrBadConfig, pollers.live, pollers.loops, e.Cfg.Loops)
		}
		if err := cnetpoll.SetNumLoops(e.Cfg.Loops); err != nil {
			e.CloseEngine(nil)
			return nil, models.WrapOp(Name, "SetNumLoops", err)
		}
		pollers.loops = e.Cfg.Loops
	}
	pollers.live++
	quietLogOnce.Do(func() { cnetpoll.Configure(cnetpoll.Config{LoggerOutput: netpollLog{}}) })
	return e, nil
}

var quietLogOnce sync.Once

// quietedLogLines counts the log lines netpollLog kept off stderr.
var quietedLogLines atomic.Uint64

// netpollLog is netpoll's (process-global) logger output. netpoll logs one line per peer
// reset that arrives with unread data ("readall(fd=..) before close: connection reset by
// peer") and one per failed accept or accept retry: under a reset storm or fd exhaustion
// that is a line per connection on stderr. Those events are counted where they belong
// instead (Kicks[recv_error], ServiceStats.AcceptErrors) and their lines are only counted
// here. So is "detach operator failed: no such file or directory": a connection closed in
// OnPrepare (refused: pool full or the service closing; or kicked from OnConnect) was never
// registered with a poller, and netpoll v0.7.2 still tries to detach it (its closeCallback
// checks operator.poll, which is set before registration) and then closes it as usual.
// Every other netpoll line (netpoll's own internal errors) still goes to stderr.
type netpollLog struct{}

func (netpollLog) Write(p []byte) (int, error) {
	for _, noise := range [...]string{"before close", "accept conn failed", "re-accept conn", "detach operator failed: no such file or directory"} {
		if bytes.Contains(p, []byte(noise)) {
			quietedLogLines.Add(1)
			return len(p), nil
		}
	}
	return os.Stderr.Write(p)
}

func (e *Engine) Name() string { return Name }

// Close closes every service and the job loop. netpoll's global pollers stay (see the
// package doc).
func (e *Engine) Close() error {
	return e.CloseEngine(func() {
		pollers.mu.Lock()
		pollers.live--
		pollers.mu.Unlock()
	})
}

// Listen starts a SERVER service: a netpoll EventLoop serving the adapter's listener.
func (e *Engine) Listen(addr string, h models.Handler, opt models.ServiceOptions) (models.Service, error) {
	opt, err := opt.ForServer(e.Cfg)
	if err != nil {
		return nil, err
	}
	ln, err := newListener(addr)
	if err != nil {
		return nil, models.WrapOp(Name, "listen", err)
	}
	s, err := e.newService(opt, h, ln.Addr(), func(s *service) error {
		ln.counters = s.Counters()
		evl, err := cnetpoll.NewEventLoop(s.onRequest, cnetpoll.WithOnPrepare(s.onPrepare))
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
		s.evl = nil
		s.SetupDone()
		s.Close()
		return nil, models.WrapOp(Name, "serve", serveErr)
	}
	s.SetupDone()
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
