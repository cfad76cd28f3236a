package models

import (
	"testing"
	"time"
)

// idleSession is a Session whose Kick records the reason (and, like every backend, records
// it on its core first).
type idleSession struct {
	SessionCore
	kicks chan KickReason
}

func newIdleSession() *idleSession {
	s := &idleSession{kicks: make(chan KickReason, 4)}
	s.InitCore()
	s.Open(nil, nil)
	return s
}

func (s *idleSession) Send([]byte) error { return nil }
func (s *idleSession) Kick(r KickReason) {
	if s.MarkKicked(r) {
		s.kicks <- r
	}
}

func (s *idleSession) kicked() (KickReason, bool) {
	select {
	case r := <-s.kicks:
		return r, true
	default:
		return KickNone, false
	}
}

func TestGuardOff(t *testing.T) {
	h := &struct{ HandlerFuncs }{}
	if g := (ServiceOptions{}).Guard(h); g != Handler(h) {
		t.Errorf("Guard with IdleTimeout 0 = %T, want the handler itself", g)
	}
	if g := (ServiceOptions{IdleTimeout: time.Second}).Guard(nil); g != nil {
		t.Errorf("Guard(nil) = %T, want nil", g)
	}
	for _, o := range []ServiceOptions{{IdleTimeout: -1}, {Type: ServiceClient, IdleTimeout: -1}} {
		var err error
		if o.Type == ServiceClient {
			_, err = o.ForClient(Config{})
		} else {
			_, err = o.ForServer(Config{})
		}
		if err == nil {
			t.Errorf("%+v accepted, want ErrBadConfig", o)
		}
	}
}

// TestIdleGuardRule drives the sweep by hand (the timer is an hour away): a session is kicked
// on the idleTicks+1-th sweep after its last progress, an OnRecv that consumed nothing is no
// progress, and one that consumed bytes is.
func TestIdleGuardRule(t *testing.T) {
	consume := 0
	g := ServiceOptions{IdleTimeout: 4 * time.Hour}.Guard(HandlerFuncs{
		Recv: func(Session, []byte) int { return consume },
	}).(*idleGuard)
	silent, trickle, active := newIdleSession(), newIdleSession(), newIdleSession()
	for _, s := range []*idleSession{silent, trickle, active} {
		g.OnConnect(s)
	}
	for i := 1; i <= idleTicks; i++ {
		consume = 0
		g.OnRecv(trickle, []byte{1}) // a partial frame: nothing consumed
		consume = 1
		g.OnRecv(active, []byte{1})
		g.sweep()
		for _, s := range []*idleSession{silent, trickle, active} {
			if r, ok := s.kicked(); ok {
				t.Fatalf("sweep %d: a session kicked (%v) before idleTicks+1 sweeps", i, r)
			}
		}
	}
	g.OnRecv(active, []byte{1})
	g.sweep()
	for name, s := range map[string]*idleSession{"silent": silent, "trickle": trickle} {
		if r, ok := s.kicked(); !ok || r != KickIdleTimeout {
			t.Errorf("%s session: kick %v (kicked %v), want idle_timeout", name, r, ok)
		}
	}
	if r, ok := active.kicked(); ok {
		t.Errorf("active session kicked (%v)", r)
	}
	for _, s := range []*idleSession{silent, trickle, active} {
		g.OnDisconnect(s, s.Reason())
	}
	g.mu.Lock()
	armed, n := g.armed, len(g.sessions)
	g.mu.Unlock()
	if armed || n != 0 {
		t.Errorf("after every OnDisconnect: armed %v, %d sessions; want the timer stopped and none", armed, n)
	}
}

// TestIdleGuardReusedSession: a kick decided for one connection is not applied to the next
// connection of the same pooled session.
func TestIdleGuardReusedSession(t *testing.T) {
	s := newIdleSession()
	old := s.ID()
	s.MarkKicked(KickRecv0) // the old connection ended...
	s.Open(nil, nil)        // ...and its slot serves a new one
	s.kickIf(s, old, KickIdleTimeout)
	if r, ok := s.kicked(); ok || s.Kicked() {
		t.Errorf("the new connection was kicked (%v) by a kick meant for the old one", r)
	}
	s.kickIf(s, s.ID(), KickIdleTimeout)
	if r, ok := s.kicked(); !ok || r != KickIdleTimeout {
		t.Errorf("kickIf of the current connection: %v %v, want idle_timeout", r, ok)
	}
}

// TestIdleGuardTimer: with the real timer, a silent session is kicked, never before the
// timeout, and the guard stops its timer once the session is gone.
func TestIdleGuardTimer(t *testing.T) {
	const timeout = 40 * time.Millisecond
	g := ServiceOptions{IdleTimeout: timeout}.Guard(HandlerFuncs{}).(*idleGuard)
	s := newIdleSession()
	start := time.Now()
	g.OnConnect(s)
	select {
	case r := <-s.kicks:
		if r != KickIdleTimeout {
			t.Fatalf("kick %v, want idle_timeout", r)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("a silent session was not kicked")
	}
	if d := time.Since(start); d < timeout {
		t.Errorf("kicked after %v, before the %v timeout", d, timeout)
	}
	g.OnDisconnect(s, KickIdleTimeout)
	deadline := time.Now().Add(20 * time.Second)
	for {
		g.mu.Lock()
		armed := g.armed
		g.mu.Unlock()
		if !armed {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the guard's timer still runs with no session left")
		}
		time.Sleep(time.Millisecond)
	}
}
