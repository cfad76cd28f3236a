package harness

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// The heartbeat driver (LoadConfig.IdleDriver) is the load generator of the scale suite:
// every connection is idle and sends one framed heartbeat per period, and every reply is
// verified. It runs no goroutine per connection: a small fixed set of workers (one per client
// CPU), each owning an epoll instance and its share of the sockets, drives them from a timer
// ring, and connections are opened with bind(2) before connect(2) from several source
// addresses of 127.0.0.0/8 (sourceAddrs), so that the ephemeral ports of one address never
// run out.
//
// The schedule is a pure function of time, like the open-loop pacer's: connection j of N
// (over the whole load) is due at t0 + j·P/N + s·P for s = 0, 1, ... (P = the period), so
// the heartbeats of a load are spread evenly over the period, and the due time of a
// connection's heartbeat s is known without storing it. Every connection of a worker has the
// same period, so the worker's timer wheel never reorders: its slots are the worker's
// connections in due order and one cursor walks them round after round (O(1) a heartbeat).
// A worker that wakes late sends every overdue heartbeat at once; its latency is measured
// from the due time (coordinated omission corrected) and the lag is recorded, so a load
// generator that cannot keep its schedule shows as late heartbeats and a client-bound
// result, never as a silent shortfall.

// idleDriverName is the client recorded for results measured by the heartbeat driver.
const idleDriverName = "idle-epoll"

// hbSchedule is the heartbeat schedule of one load.
type hbSchedule struct {
	t0     int64 // ns (nowNs clock): the traffic started
	period int64 // ns
	conns  int   // connections of the whole load (the schedule's spread)
}

// phase is connection j's offset from t0 of its first heartbeat.
func (s hbSchedule) phase(j int) int64 { return int64(j) * s.period / int64(s.conns) }

// due is the intended send time of heartbeat seq of connection j.
func (s hbSchedule) due(j int, seq uint64) int64 {
	return s.t0 + s.phase(j) + int64(seq)*s.period
}

// dueIn is the number of heartbeats of connection j due in [from, to).
func (s hbSchedule) dueIn(j int, from, to int64) uint64 {
	first := func(t int64) int64 { // the first seq due at or after t
		d := t - s.t0 - s.phase(j)
		if d <= 0 {
			return 0
		}
		return (d + s.period - 1) / s.period
	}
	lo, hi := first(from), first(to)
	if hi <= lo {
		return 0
	}
	return uint64(hi - lo)
}

// dueInAll sums dueIn over the connections of the load.
func (s hbSchedule) dueInAll(from, to int64) uint64 {
	var n uint64
	for j := range s.conns {
		n += s.dueIn(j, from, to)
	}
	return n
}

// sourceAddrs spreads n connections towards target over source addresses, perAddr on each:
// target's own address first, then the next addresses of 127.0.0.0/8 (every one of them is
// the loopback interface's on Linux). A target outside 127.0.0.0/8 gets no spread (nil:
// bind to no address) when n fits in perAddr, and an error otherwise.
func sourceAddrs(target netip.Addr, n, perAddr int) ([]netip.Addr, error) {
	if perAddr <= 0 {
		return nil, fmt.Errorf("source addresses: %d connections per address", perAddr)
	}
	k := (n + perAddr - 1) / perAddr
	loop := netip.MustParsePrefix("127.0.0.0/8")
	if !target.Is4() || !loop.Contains(target) {
		if k > 1 {
			return nil, fmt.Errorf("%d connections to %v need %d source addresses of %d ports each: only a target in 127.0.0.0/8 spreads over source addresses", n, target, k, perAddr)
		}
		return nil, nil
	}
	out := make([]netip.Addr, 0, k)
	a := target
	for len(out) < k {
		if !loop.Contains(a) {
			return nil, fmt.Errorf("%d connections: 127.0.0.0/8 has too few addresses after %v", n, target)
		}
		b := a.As4()
		if b[3] != 0 && b[3] != 255 { // skip network and broadcast-looking addresses
			out = append(out, a)
		}
		a = a.Next()
	}
	return out, nil
}

// validateIdleDriver checks and completes a heartbeat-driver load (LoadConfig.IdleDriver).
func (c *LoadConfig) validateIdleDriver() error {
	if c.Target == "" {
		return errors.New("no --target HOST:PORT")
	}
	if c.Proto != proto.Framed {
		return errors.New("idle connections send framed heartbeats: use --proto framed")
	}
	if c.Conns <= 0 {
		return fmt.Errorf("--conns %d must be positive", c.Conns)
	}
	if c.IdleConns != c.Conns || c.Rate != 0 || c.Depth != 0 || c.Broadcast || c.OneShot {
		return errors.New("the heartbeat driver drives idle connections only: every connection idle, no rate, depth, broadcast or one-shot")
	}
	if c.Size < proto.FramedHeaderSize || c.Size > proto.MaxMessageSize {
		return fmt.Errorf("--size %d out of range [%d, %d] for framed", c.Size, proto.FramedHeaderSize, proto.MaxMessageSize)
	}
	if c.Duration <= 0 {
		return fmt.Errorf("--duration %v must be positive", c.Duration)
	}
	if c.Warmup < 0 || c.Drain < 0 || c.ConnectTimeout < 0 || c.Heartbeat < 0 || c.SrcPerAddr < 0 {
		return errors.New("negative warm-up, drain, connect timeout, heartbeat period or connections per source address")
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = time.Second
	}
	if c.Drain == 0 {
		c.Drain = 5 * time.Second
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	c.ClientBackend = idleDriverName
	return nil
}

// mergeIdle adds the heartbeat account of o, another shard of the same idle load: counts add,
// the lag, the connect time and the source addresses (the most one process used) are the
// larger.
func (r *LoadResult) mergeIdle(o *LoadResult) {
	r.ConnectTime = max(r.ConnectTime, o.ConnectTime)
	r.SourceAddrs = max(r.SourceAddrs, o.SourceAddrs) // shares on one host share addresses
	if o.HB == nil {
		return
	}
	if r.HB == nil {
		r.HB = &results.Heartbeats{PeriodNs: o.HB.PeriodNs}
	}
	h := r.HB
	h.Due += o.HB.Due
	h.Sent += o.HB.Sent
	h.Answered += o.HB.Answered
	h.Late += o.HB.Late
	h.LateSent += o.HB.LateSent
	h.MaxSendLagNs = max(h.MaxSendLagNs, o.HB.MaxSendLagNs)
}
