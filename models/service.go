package models

import (
	"sync"
	"sync/atomic"
)

// ServiceCore is the state every backend's service shares (the seed's ServiceCoordinator
// fields): its options, handler, SessionPool, counters and closing flag, and the one end of a
// session (EndSession). A backend embeds it in its service type, calls InitService from Listen
// and Connect, and adds Addr and Close, which are its own I/O.
type ServiceCore struct {
	opt      ServiceOptions
	h        Handler
	pool     *SessionPool
	counters Counters
	closing  atomic.Bool
	redial   func()
	closeMu  sync.Mutex
	closed   chan struct{} // closed when CloseOnce's first call finished
}

// InitService validates h, puts the service's guards around it (ServiceOptions.Guard: the idle
// timeout) and builds the SessionPool of opt.PoolSize slots. opt must come from ForServer or
// ForClient. A nil Handler is refused with ErrBadConfig on every backend (it would otherwise
// fail on the first connection, on a loop thread).
func (sc *ServiceCore) InitService(opt ServiceOptions, h Handler) error {
	if h == nil {
		return badConfig("nil Handler")
	}
	pool, err := NewSessionPool(opt.PoolSize)
	if err != nil {
		return err
	}
	sc.opt, sc.h, sc.pool = opt, opt.Guard(h), pool
	return nil
}

// SetRedial sets what EndSession starts after an auto-reconnect session ended while the
// service is open: the backend's reconnect of one slot (a timer, a goroutine, a loop task).
func (sc *ServiceCore) SetRedial(f func()) { sc.redial = f }

func (sc *ServiceCore) Type() ServiceType       { return sc.opt.Type }
func (sc *ServiceCore) Options() ServiceOptions { return sc.opt }
func (sc *ServiceCore) Handler() Handler        { return sc.h }
func (sc *ServiceCore) Pool() *SessionPool      { return sc.pool }
func (sc *ServiceCore) Counters() *Counters     { return &sc.counters }
func (sc *ServiceCore) Stats() ServiceStats     { return sc.counters.Snapshot(sc.pool.Live()) }
func (sc *ServiceCore) Closing() bool           { return sc.closing.Load() }
func (sc *ServiceCore) AutoReconnect() bool     { return sc.opt.Type == ServiceClientAutoReconnect }

// BeginClose marks the service closing and reports whether this call did it: the caller that
// gets true stops accepting or dialling and kicks the open sessions (KickOpen).
func (sc *ServiceCore) BeginClose() bool { return sc.closing.CompareAndSwap(false, true) }

// CloseOnce is the shape of every Service.Close, event-driven: the first call marks the
// service closing, runs stop (stop accepting and dialling), then kick (KickOpen, or the
// backend's way of kicking every session once) and wait (the backend's completion signal:
// a WaitGroup, acknowledgements from its loops), then done; later calls wait for the first
// one to finish. Called from inside the engine (inside true: a callback or a Post job, where
// waiting would wait for the caller) it does all that on another goroutine and returns.
func (sc *ServiceCore) CloseOnce(inside bool, stop, kick, wait, done func()) {
	if inside {
		go sc.CloseOnce(false, stop, kick, wait, done)
		return
	}
	sc.closeMu.Lock()
	if sc.closed == nil {
		sc.closed = make(chan struct{})
	}
	finished := sc.closed
	first := sc.BeginClose()
	sc.closeMu.Unlock()
	if !first {
		<-finished
		return
	}
	for _, f := range []func(){stop, kick, wait, done} {
		if f != nil {
			f()
		}
	}
	close(finished)
}

// Opened is the end of a backend's open path, after SessionCore.Open: if the service began
// closing, the session is kicked with KickShutdown. With KickOpen this makes one pass of
// Service.Close enough: Close stores closing before it reads the reference counts and Opened
// reads closing after Open stored the count, so one of the two sees the other and no session
// opened during Close is missed (no re-kick poll).
func (sc *ServiceCore) Opened(s Session) {
	if sc.closing.Load() {
		s.Kick(KickShutdown)
	}
}

// Kickable is a backend session as KickOpen sees it.
type Kickable interface {
	Kick(KickReason)
	Refs() int32
}

// KickOpen kicks, with KickShutdown, every session of the service's pool that is open (its
// SessionCore holds references): the event-driven half of Service.Close. The caller then
// waits for the sessions' ends on its own completion signal (a WaitGroup, a channel), never
// by polling.
func KickOpen[S Kickable](sc *ServiceCore, sessions []S) {
	for _, slot := range sc.pool.Alive() {
		if ss := sessions[slot]; ss.Refs() > 0 {
			ss.Kick(KickShutdown)
		}
	}
}

// EndSession is the one end of a session, in the one order every backend follows, once the
// session's connection is closed and no other callback of it can run:
//
//  1. the reason: the first kick recorded (KickNone, an end without a recorded kick, becomes
//     KickUnknown);
//  2. the count (Counters.Disconnected), before the callback, so whoever sees OnDisconnect
//     sees the count;
//  3. OnDisconnect, the session's last callback;
//  4. the send queue's chunks go back to their pool (q may be nil: a backend without one);
//  5. the core is retired (refcount -1);
//  6. the slot goes back to the SessionPool;
//  7. for an auto-reconnect service that is not closing, the redial set by SetRedial.
//
// It reports whether it started a redial.
func (sc *ServiceCore) EndSession(s Session, c *SessionCore, q *SendQueue, slot int) (redialed bool) {
	c.MarkKicked(KickUnknown) // no-op when a reason was recorded
	r := c.Reason()
	sc.counters.Disconnected(r)
	sc.h.OnDisconnect(s, r)
	if q != nil {
		q.Release()
	}
	c.Retire()
	sc.pool.Release(slot)
	if sc.redial != nil && sc.opt.Type == ServiceClientAutoReconnect && !sc.closing.Load() {
		sc.redial()
		return true
	}
	return false
}
