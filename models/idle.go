package models

import (
	"sync"
	"sync/atomic"
	"time"
)

// idleTicks is how many coarse ticks make one IdleTimeout: the sweep runs every
// IdleTimeout/idleTicks and kicks a session idleTicks+1 ticks after its last progress, so a
// kick comes between 1x and 1.25x IdleTimeout after the last completed frame (plus timer
// latency), never before.
const idleTicks = 4

// minIdleTick bounds the sweep period from below, so a tiny IdleTimeout cannot make the
// sweep spin.
const minIdleTick = time.Millisecond

// Guard wraps h with the service's guards against hostile peers (today the idle timeout,
// o.IdleTimeout > 0). Every backend calls it once in Listen and in Connect, on the completed
// options, and gives the result to its sessions. With no guard set it returns h itself, so a
// benchmark pays nothing.
func (o ServiceOptions) Guard(h Handler) Handler {
	if o.IdleTimeout <= 0 || h == nil {
		return h
	}
	tick := max(o.IdleTimeout/idleTicks, minIdleTick)
	g := &idleGuard{inner: h, tick: tick, sessions: map[Session]uint64{}}
	g.timer = time.AfterFunc(time.Hour, g.sweep)
	g.timer.Stop()
	return g
}

// idleGuard is the idle/handshake timeout: a session whose OnRecv consumed nothing (no
// complete frame) since OnConnect or since the last call that consumed bytes is kicked with
// KickIdleTimeout. One timer per service does the work, and only while the service has
// sessions: no goroutine per session, no goroutine at all while the service has none (so
// nothing is left once its sessions are gone), and no clock read per OnRecv (the timer
// advances a coarse tick counter that OnRecv copies into the session's core).
type idleGuard struct {
	inner Handler
	tick  time.Duration
	now   atomic.Int64 // coarse clock: sweeps so far

	mu       sync.Mutex
	sessions map[Session]uint64 // live sessions and their IDs
	armed    bool               // the timer is pending or a sweep will decide whether to re-arm
	timer    *time.Timer
}

var _ Handler = (*idleGuard)(nil)

// coreOf returns the SessionCore every backend's session embeds.
func coreOf(s Session) *SessionCore {
	if c, ok := s.(interface{ core() *SessionCore }); ok {
		return c.core()
	}
	return nil
}

func (g *idleGuard) OnConnect(s Session) {
	if c := coreOf(s); c != nil {
		c.idleTick.Store(g.now.Load())
		g.mu.Lock()
		g.sessions[s] = s.ID()
		if !g.armed {
			g.armed = true
			g.timer.Reset(g.tick)
		}
		g.mu.Unlock()
	}
	g.inner.OnConnect(s)
}

func (g *idleGuard) OnRecv(s Session, w []byte) int {
	n := g.inner.OnRecv(s, w)
	if n > 0 {
		if c := coreOf(s); c != nil {
			if now := g.now.Load(); c.idleTick.Load() != now {
				c.idleTick.Store(now)
			}
		}
	}
	return n
}

func (g *idleGuard) OnSend(s Session, n int) { g.inner.OnSend(s, n) }

func (g *idleGuard) OnDisconnect(s Session, r KickReason) {
	g.mu.Lock()
	delete(g.sessions, s)
	if len(g.sessions) == 0 && g.armed && g.timer.Stop() {
		g.armed = false
	}
	g.mu.Unlock()
	g.inner.OnDisconnect(s, r)
}

// sweep advances the coarse clock and kicks the sessions idle for more than idleTicks ticks.
// The kicks run outside the guard's lock (a backend may run OnDisconnect inside Kick) and
// through the session core's gate, so a session that ended and was reused meanwhile is not
// kicked by mistake.
func (g *idleGuard) sweep() {
	g.mu.Lock()
	now := g.now.Add(1)
	type victim struct {
		s  Session
		id uint64
	}
	var idle []victim
	for s, id := range g.sessions {
		if c := coreOf(s); c != nil && now-c.idleTick.Load() > idleTicks {
			idle = append(idle, victim{s, id})
		}
	}
	if len(g.sessions) > 0 {
		g.timer.Reset(g.tick)
	} else {
		g.armed = false
	}
	g.mu.Unlock()
	for _, v := range idle {
		coreOf(v.s).kickIf(v.s, v.id, KickIdleTimeout)
	}
}
