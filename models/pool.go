package models

import "sync"

// SessionPool is the seed's SessionPool: an array-backed circular queue of free slot indexes
// (pop index / push index) over a fixed number of pre-built sessions, plus the alive set used
// to clean up on reset. Backends keep their session objects in an array indexed by slot, so a
// slot index (plus a generation) can serve as an IOCP completion key or io_uring user_data
// without hiding a Go pointer in an integer.
//
// An exhausted pool refuses instead of allocating: Acquire reports false and the backend
// refuses the connection with KickPoolExhausted, counted in its ServiceStats.
type SessionPool struct {
	mu    sync.Mutex
	free  []int32 // circular queue of free slot indexes
	pop   int     // next index of free to acquire from
	n     int     // free slots queued
	alive []bool  // alive[i]: slot i is acquired
	live  int
}

// NewSessionPool builds a pool of capacity slots, all free.
func NewSessionPool(capacity int) (*SessionPool, error) {
	if capacity <= 0 || capacity > 1<<30 {
		return nil, badConfig("SessionPool capacity %d", capacity)
	}
	p := &SessionPool{free: make([]int32, capacity), alive: make([]bool, capacity), n: capacity}
	for i := range p.free {
		p.free[i] = int32(i)
	}
	return p, nil
}

// Cap is the pool's fixed capacity.
func (p *SessionPool) Cap() int { return len(p.free) }

// Acquire takes the next free slot (FIFO, so a released slot is reused last, which spreads
// reuse and makes stale completions for a slot rare).
func (p *SessionPool) Acquire() (slot int, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n == 0 {
		return -1, false
	}
	slot = int(p.free[p.pop])
	p.pop = (p.pop + 1) % len(p.free)
	p.n--
	p.alive[slot] = true
	p.live++
	return slot, true
}

// Release returns an acquired slot. Releasing a slot that is not alive panics: it would
// hand one session to two connections.
func (p *SessionPool) Release(slot int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if slot < 0 || slot >= len(p.alive) || !p.alive[slot] {
		panic("models.SessionPool: release of a slot that is not acquired")
	}
	p.alive[slot] = false
	p.live--
	push := (p.pop + p.n) % len(p.free)
	p.free[push] = int32(slot)
	p.n++
}

// Live is the number of acquired slots.
func (p *SessionPool) Live() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.live
}

// Alive returns the acquired slots (the alive set), e.g. to kick them all on shutdown.
func (p *SessionPool) Alive() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]int, 0, p.live)
	for i, a := range p.alive {
		if a {
			out = append(out, i)
		}
	}
	return out
}
