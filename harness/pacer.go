package harness

import (
	"math"
	"time"
)

// pacer is the open-loop schedule, a pure function of time: event i (Burst messages on one
// connection) is due Due(i) after the start, at a constant interval Burst/Rate, whatever the
// replies do. Like vegeta's Pacer it only answers "how long until the next event, given how
// many were sent", so a test drives it with a fake clock and no sockets, and a pacer that
// wakes late finds every overdue event due at once (each keeps its own intended time: the
// coordinated-omission correction).
type pacer struct {
	interval float64 // ns between events
}

// newPacer paces rate messages per second in events of burst messages.
func newPacer(rate float64, burst int) pacer {
	return pacer{interval: 1e9 * float64(max(burst, 1)) / rate}
}

// Due is the intended time of event i, relative to the start.
func (p pacer) Due(i uint64) time.Duration {
	return time.Duration(math.Round(float64(i) * p.interval))
}

// Pace returns how long to wait, elapsed after the start and with sent events sent, before
// event sent is due: 0 means it is due now (send it and ask again).
func (p pacer) Pace(elapsed time.Duration, sent uint64) time.Duration {
	if d := p.Due(sent) - elapsed; d > 0 {
		return d
	}
	return 0
}

// pace runs the pacer from start (ns) until the drain: event i goes to active connection
// i mod n with Burst messages, each stamped with the event's intended time. It sleeps between
// events and records the largest lag of an event sent inside the window.
func (g *loadGen) pace(start int64) {
	var active []*conn
	for _, c := range g.conns {
		if c.role == RoleActive {
			active = append(active, c)
		}
	}
	if len(active) == 0 {
		return
	}
	p := newPacer(g.cfg.Rate, g.cfg.Burst)
	var i uint64
	for {
		select {
		case <-g.bgStop:
			return
		default:
		}
		now := nowNs()
		for !g.stop.Load() {
			if p.Pace(time.Duration(now-start), i) > 0 {
				break
			}
			due := start + int64(p.Due(i))
			if lag := now - due; lag > g.pacerLag.Load() && due >= g.winFrom.Load() {
				g.pacerLag.Store(lag)
			}
			c := active[i%uint64(len(active))]
			c.mu.Lock()
			for range g.cfg.Burst {
				c.sendOne(due)
			}
			c.mu.Unlock()
			i++
		}
		if d := p.Pace(time.Duration(nowNs()-start), i); d > 0 {
			time.Sleep(d)
		}
	}
}

// heartbeats sends one heartbeat per idle connection every Heartbeat, spread evenly over the
// interval (in up to 100 groups) so they do not arrive as one burst.
func (g *loadGen) heartbeats() {
	var idle []*conn
	for _, c := range g.conns {
		if c.role == RoleIdle {
			idle = append(idle, c)
		}
	}
	groups := min(len(idle), 100)
	if groups == 0 {
		return
	}
	t := time.NewTicker(g.cfg.Heartbeat / time.Duration(groups))
	defer t.Stop()
	for k := 0; ; k = (k + 1) % groups {
		for i := k; i < len(idle); i += groups {
			if g.stop.Load() {
				return
			}
			c := idle[i]
			c.mu.Lock()
			c.sendOne(nowNs())
			c.mu.Unlock()
		}
		select {
		case <-g.bgStop:
			return
		case <-t.C:
		}
	}
}
