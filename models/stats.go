package models

import "sync/atomic"

// ServiceStats is a snapshot of one service's counters.
type ServiceStats struct {
	Accepted      uint64 // connections accepted and given a session (SERVER)
	Connected     uint64 // connect attempts that succeeded (CLIENT), reconnects included
	ConnectFailed uint64 // connect attempts that failed (CLIENT)
	Refused       uint64 // connections refused because the pool was exhausted
	// AcceptErrors counts failed accepts of a SERVER (EMFILE, ENFILE, ENOBUFS, ENOMEM, or a
	// connection lost between accept and its session): the listener backs off and accepts
	// again instead of stopping, and this says how often it had to.
	AcceptErrors uint64
	Disconnects  uint64 // OnDisconnect calls
	Live         int    // sessions alive now
	Sends        uint64 // successful Session.Send calls
	Writes       uint64 // gather writes issued (writev / WSASend / sendmsg)
	Reads        uint64 // reads completed with data
	BytesSent    uint64
	BytesRecv    uint64
	Kicks        [NumKickReasons]uint64 // OnDisconnect reasons, refusals included
}

// Counters are the atomics behind ServiceStats; every backend updates them at the same points,
// so the counts compare across backends.
type Counters struct {
	accepted, connected, connectFailed, refused, disconnects atomic.Uint64
	acceptErrors                                             atomic.Uint64
	sends, writes, reads, bytesSent, bytesRecv               atomic.Uint64
	kicks                                                    [NumKickReasons]atomic.Uint64
}

func (c *Counters) Accepted()      { c.accepted.Add(1) }
func (c *Counters) Connected()     { c.connected.Add(1) }
func (c *Counters) ConnectFailed() { c.connectFailed.Add(1) }

// AcceptError counts one failed accept (the listener keeps accepting after a back-off).
func (c *Counters) AcceptError() { c.acceptErrors.Add(1) }

// Refused counts a connection refused for an exhausted pool.
func (c *Counters) Refused() {
	c.refused.Add(1)
	c.kicks[KickPoolExhausted].Add(1)
}

// Disconnected counts one OnDisconnect with its reason.
func (c *Counters) Disconnected(r KickReason) {
	c.disconnects.Add(1)
	if r < NumKickReasons {
		c.kicks[r].Add(1)
	}
}

// Sent counts one successful Send call.
func (c *Counters) Sent() { c.sends.Add(1) }

// Wrote counts one gather write of n bytes.
func (c *Counters) Wrote(n int) {
	c.writes.Add(1)
	c.bytesSent.Add(uint64(n))
}

// Read counts one read of n bytes.
func (c *Counters) Read(n int) {
	c.reads.Add(1)
	c.bytesRecv.Add(uint64(n))
}

// Snapshot returns the counters with live sessions set to live.
func (c *Counters) Snapshot(live int) ServiceStats {
	s := ServiceStats{
		Accepted: c.accepted.Load(), Connected: c.connected.Load(),
		ConnectFailed: c.connectFailed.Load(), Refused: c.refused.Load(),
		AcceptErrors: c.acceptErrors.Load(),
		Disconnects:  c.disconnects.Load(), Live: live,
		Sends: c.sends.Load(), Writes: c.writes.Load(), Reads: c.reads.Load(),
		BytesSent: c.bytesSent.Load(), BytesRecv: c.bytesRecv.Load(),
	}
	for i := range s.Kicks {
		s.Kicks[i] = c.kicks[i].Load()
	}
	return s
}
