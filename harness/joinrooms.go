package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/iobench/iobench/proto"
)

// Room probes. A broadcast server puts a session into its room in OnConnect, and a member
// that joins after its room-mates started sending misses their first messages. The harness
// waits until the server's app has every session (BeforeTraffic); a load that cannot ask the
// server (`iobench load` against any `serve --proto broadcast`) probes instead: in round r
// every connection sends one probe, a broadcast frame whose sequence is probeSeqBase+r, and
// the round succeeds when every connection has received exactly Room probes of it. A member
// missing from its room at any point of the round (it receives nothing, or its probe reaches
// nobody, or it misses a probe sent before it joined) leaves some connection short, so a
// complete round means every room was complete before the round's first probe was relayed;
// every later message then reaches the whole room. Probes of earlier rounds arriving late are
// ignored, and no probe is counted as a message, a delivery or a verification error.

// probeSeqBase is the first sequence number of a room probe: a source's messages never get
// there (2^62 messages).
const probeSeqBase = 1 << 62

// probeRoundWait bounds one round's wait for its probes. All rounds together are bounded by
// the load's ConnectTimeout (a server that never completes the rooms, e.g. one whose --room
// differs from the load's, is reported, not waited for forever).
const probeRoundWait = 100 * time.Millisecond

// gotProbe records a probe of round r. c.mu held.
func (c *conn) gotProbe(r uint64) {
	switch {
	case r == c.probeRound:
		c.probeGot++
	case r > c.probeRound:
		c.probeRound, c.probeGot = r, 1
	}
}

// sendProbe sends this connection's probe of round r. c.mu held.
func (c *conn) sendProbe(r uint64) {
	if c.dead.Load() || c.s == nil {
		return
	}
	c.buf = proto.AppendFramed(c.buf[:0], proto.TypeBroadcast, c.src, probeSeqBase+r, c.codec.Size())
	if err := c.s.Send(c.buf); err != nil {
		c.g.fail("send on connection %d: %v", c.src, err)
	}
}

// joinRooms probes the rooms (see above) until a round is complete, ctx ends or the load's
// ConnectTimeout passes.
func (g *loadGen) joinRooms(ctx context.Context) error {
	t0 := time.Now()
	joinTimeout := g.cfg.ConnectTimeout
	if joinTimeout <= 0 {
		joinTimeout = DefaultConnectTimeout
	}
	for r := uint64(0); ; r++ {
		for _, c := range g.conns {
			c.mu.Lock()
			c.sendProbe(r)
			c.mu.Unlock()
		}
		until := time.Now().Add(probeRoundWait)
		for {
			short, over := g.probeCounts(r)
			if short == 0 && over == 0 {
				return nil
			}
			if time.Now().After(until) {
				if time.Since(t0) >= joinTimeout {
					return fmt.Errorf("broadcast: rooms not complete after %v of probing (%d rounds): %d of %d connections received fewer than %d probes of one round, %d more (is the server `serve --proto broadcast --room %d`?)",
						joinTimeout, r+1, short, len(g.conns), g.cfg.Room, over, g.cfg.Room)
				}
				break
			}
			if !sleepCtx(ctx, time.Millisecond) {
				return ctx.Err()
			}
		}
	}
}

// probeCounts counts the connections that received fewer, and more, than Room probes of
// round r.
func (g *loadGen) probeCounts(r uint64) (short, over int) {
	for _, c := range g.conns {
		c.mu.Lock()
		got := 0
		if c.probeRound == r {
			got = c.probeGot
		}
		c.mu.Unlock()
		switch {
		case got < g.cfg.Room:
			short++
		case got > g.cfg.Room:
			over++
		}
	}
	return short, over
}
