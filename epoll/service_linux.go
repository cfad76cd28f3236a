package epoll

import (
	"net"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// service is one Listen or Connect (the seed's ServiceCoordinator): a SessionPool whose slots
// index the sessions array, and for a SERVER one listening socket per loop.
type service struct {
	models.ServiceCore
	eng      *Engine
	id       int // index in the engine's service table, the service field of every tag
	family   int
	addr     net.Addr       // bound listen address (SERVER) or target (CLIENT)
	local    net.Addr       // SERVER bound to a specific IP: every session's local address
	lfds     []atomic.Int32 // SERVER: listening socket of loop i (-1 closed); swapped to -1 by its closer
	sessions []session
	// recvPool holds the sessions' lazy RecvBuffers; with RecvEnv=resident every slot that
	// opened once keeps its own, counted in slotBufs.
	recvPool *models.RecvPool
	slotBufs atomic.Int64

	acks atomic.Int32 // loops that have not yet closed their part
	done chan struct{}

	tmu     sync.Mutex // timers: reconnect delays and accept back-offs
	timers  map[*time.Timer]struct{}
	timerWG sync.WaitGroup
}

var (
	_ models.Service          = (*service)(nil)
	_ models.ResidentReporter = (*service)(nil)
)

func newService(e *Engine, opt models.ServiceOptions, h models.Handler) (*service, error) {
	s := &service{eng: e, done: make(chan struct{}), timers: map[*time.Timer]struct{}{}}
	if err := s.InitService(opt, h); err != nil {
		return nil, err
	}
	if !e.residentRecv {
		var err error
		if s.recvPool, err = models.NewRecvPool(e.cfg.RecvBufferSize); err != nil {
			return nil, err
		}
	}
	s.sessions = make([]session, opt.PoolSize)
	for i := range s.sessions {
		ss := &s.sessions[i]
		ss.svc, ss.slot, ss.fd = s, int32(i), -1
		ss.InitCore()
	}
	// A session that ended redials on the next loop (round-robin, as first connects spread).
	s.SetRedial(func() {
		s.redialLater(e.loops[int(e.redials.Add(1))%len(e.loops)])
	})
	return s, nil
}

func (s *service) Addr() net.Addr { return s.addr }

// Resident implements models.ResidentReporter: lazily (the default) a session holds a
// RecvBuffer only while a partial frame is pending; with RecvEnv=resident each slot that
// opened once keeps its own.
func (s *service) Resident() models.Resident {
	return models.ResidentOf(s.Pool().Live(), s.recvPool, int(s.slotBufs.Load()), s.queues)
}

// queues yields every session's SendQueue (safe from any goroutine: the queues lock).
func (s *service) queues(yield func(*models.SendQueue) bool) {
	for i := range s.sessions {
		if !yield(&s.sessions[i].sq) {
			return
		}
	}
}

// Close stops accepting and reconnecting and asks every loop to close its listener and kick
// its sessions of this service with KickShutdown; it returns when every loop has done so
// (every OnDisconnect has returned). Called from a loop thread it does not wait.
func (s *service) Close() error {
	s.CloseOnce(s.eng.onLoop(), s.stopTimers, s.closeOnLoops, func() {
		<-s.done
		s.timerWG.Wait()
	}, nil)
	return nil
}

// closeOnLoops asks every loop to close its listener and sessions of s; the last ack closes
// s.done.
func (s *service) closeOnLoops() {
	s.acks.Store(int32(len(s.eng.loops)))
	for _, l := range s.eng.loops {
		if err := l.post(task{kind: taskFunc, fn: func() { l.closeService(s); s.ack() }}); err != nil {
			s.ack() // the loop has stopped: it owns nothing of this service any more
		}
	}
}

func (s *service) ack() {
	if s.acks.Add(-1) == 0 {
		s.eng.removeService(s)
		close(s.done)
	}
}

// after runs fn on loop l after d, unless the service closes first.
func (s *service) after(l *loop, d time.Duration, fn func()) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.Closing() {
		return
	}
	s.timerWG.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer s.timerWG.Done()
		s.tmu.Lock()
		delete(s.timers, t)
		s.tmu.Unlock()
		l.post(task{kind: taskFunc, fn: fn}) // ErrClosed: the engine is gone, nothing to do
	})
	s.timers[t] = struct{}{}
}

func (s *service) stopTimers() {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	for t := range s.timers {
		if t.Stop() {
			s.timerWG.Done()
		}
		delete(s.timers, t)
	}
}

// redialLater schedules a reconnect of one CLIENT_AUTO_RECONNECT session on loop l.
func (s *service) redialLater(l *loop) {
	if !s.AutoReconnect() || s.Closing() {
		return
	}
	s.after(l, s.Options().ReconnectDelay, func() { l.dial(s, nil) })
}

// sockaddr is the CLIENT target as a fresh unix.Sockaddr.
func (s *service) sockaddr() (unix.Sockaddr, error) {
	_, sa, err := sock.Sockaddr(s.addr.(*net.TCPAddr))
	return sa, err
}
