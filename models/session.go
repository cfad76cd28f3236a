package models

import (
	"net"
	"sync"
	"sync/atomic"
)

var sessionIDs atomic.Uint64

// NextSessionID returns a process-wide unique session ID (never 0).
func NextSessionID() uint64 { return sessionIDs.Add(1) }

// SessionCore holds the state every backend's session shares (the seed's IocpObjectSession
// fields: refcount with -1 = unused, connected flag, kick reason). A backend embeds it in its
// session type and adds Send and Kick, which must wake its own loop.
type SessionCore struct {
	id     atomic.Uint64
	reason atomic.Uint32 // first KickReason recorded; 0 = not kicked
	refs   atomic.Int32  // -1 = in the pool, unused
	user   atomic.Pointer[any]
	local  net.Addr
	remote net.Addr

	// idleTick is the idle guard's coarse tick of the session's last progress (see Guard).
	idleTick atomic.Int64
	// kickGate orders a guard's kick of one connection (kickIf) with Open reusing the core
	// for the next: the kick either happens before the reuse or sees the new ID and skips.
	kickGate sync.Mutex
}

func (c *SessionCore) core() *SessionCore { return c }

// kickIf kicks s (whose core is c) with r if it is still the connection with ID id and not
// kicked yet. Backends' Kick methods never wait for a new connection to open, so holding the
// gate across Kick cannot deadlock with Open.
func (c *SessionCore) kickIf(s Session, id uint64, r KickReason) {
	c.kickGate.Lock()
	defer c.kickGate.Unlock()
	if c.id.Load() == id && !c.Kicked() {
		s.Kick(r)
	}
}

// InitCore marks a fresh, pooled session core as unused (refcount -1).
func (c *SessionCore) InitCore() { c.refs.Store(-1) }

// Open prepares the core for a new connection: new ID, addresses, no kick, no user data, and
// a refcount of 1 (the connection's own reference).
func (c *SessionCore) Open(local, remote net.Addr) {
	c.kickGate.Lock()
	c.id.Store(NextSessionID())
	c.reason.Store(0)
	c.kickGate.Unlock()
	c.local, c.remote = local, remote
	c.user.Store(nil)
	c.refs.Store(1)
}

func (c *SessionCore) ID() uint64           { return c.id.Load() }
func (c *SessionCore) LocalAddr() net.Addr  { return c.local }
func (c *SessionCore) RemoteAddr() net.Addr { return c.remote }

func (c *SessionCore) UserData() any {
	if p := c.user.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *SessionCore) SetUserData(v any) { c.user.Store(&v) }

// MarkKicked records r if no reason was recorded yet and reports whether this call did it:
// the caller that gets true performs the close.
func (c *SessionCore) MarkKicked(r KickReason) bool {
	if r == KickNone {
		r = KickUnknown
	}
	return c.reason.CompareAndSwap(0, uint32(r))
}

// Kicked reports whether a kick reason has been recorded.
func (c *SessionCore) Kicked() bool { return c.reason.Load() != 0 }

// Reason is the first kick reason recorded (KickNone if none).
func (c *SessionCore) Reason() KickReason { return KickReason(c.reason.Load()) }

// AddRef takes a reference (an operation in flight, a callback running) and returns the new
// count. It must only be called while the count is positive.
func (c *SessionCore) AddRef() int32 { return c.refs.Add(1) }

// ReleaseRef drops a reference and returns the new count; at 0 the backend may reset the
// session and return it to the pool (the count is then set back to -1 by Close).
func (c *SessionCore) ReleaseRef() int32 { return c.refs.Add(-1) }

// Refs is the current reference count (-1 = unused).
func (c *SessionCore) Refs() int32 { return c.refs.Load() }

// Retire marks the core unused again (refcount -1) when its slot goes back to the pool.
func (c *SessionCore) Retire() { c.refs.Store(-1) }

// Enqueue is the half of Session.Send that every backend shares, so the rule is the same
// everywhere: refuse after a kick (ErrClosed), copy p into q (the one copy Send makes), kick s
// with KickSendQueueFull when p would take q past its bound, and count the Send. start reports
// that no write is in flight: the caller must start one on its writer (loop, goroutine,
// completion port).
func (c *SessionCore) Enqueue(s Session, q *SendQueue, n *Counters, p []byte) (start bool, err error) {
	if c.Kicked() {
		return false, ErrClosed
	}
	start, err = q.Push(p)
	if err != nil {
		if err == ErrSendQueueFull {
			s.Kick(KickSendQueueFull)
		}
		return false, err
	}
	n.Sent()
	return start, nil
}
