package harness

import (
	"sync"
	"sync/atomic"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// conn is one connection's state. mu serialises the send side (pacer or OnRecv) with the
// receive side; counters that OnDisconnect reads are atomics, so OnDisconnect never waits.
type conn struct {
	mu       sync.Mutex
	g        *loadGen
	src      uint32
	role     Role
	codec    proto.Client
	s        models.Session
	sh       *shard
	nextSend uint64
	nextRecv uint64
	times    []int64 // send (closed) or intended (open) time of own messages in flight, FIFO
	head     int
	buf      []byte
	srcNext  map[uint32]uint64 // broadcast: next sequence expected from each source
	sendLog  *sendLog          // broadcast: send times of recent messages, for their receivers
	sent     atomic.Uint64     // own messages sent
	recv     atomic.Uint64     // replies received (broadcast: deliveries)
	dead     atomic.Bool
	oneShotT int64 // connect time of a one-shot connection
	// Room probes (joinRooms): the latest probe round seen and how many members' probes of
	// it arrived.
	probeRound uint64
	probeGot   int
	crypto     *proto.CryptoClient // the crypto protocol's codec: handshake first
}

func (g *loadGen) newConn(src uint32) (*conn, error) {
	var codec proto.Client
	var err error
	var cc *proto.CryptoClient
	switch {
	case g.cfg.Broadcast:
		codec, err = proto.NewBroadcastClient(g.cfg.Size, src)
	case g.cfg.Proto == protoCrypto:
		cc, err = proto.NewCryptoClient(g.cfg.Size, src)
		codec = cc
	default:
		codec, err = proto.NewClient(g.cfg.Proto, g.cfg.Size, src)
	}
	if err != nil {
		return nil, err
	}
	c := &conn{g: g, src: src, codec: codec, crypto: cc, sh: g.shards[int(src)%len(g.shards)]}
	if g.cfg.Broadcast {
		c.srcNext = map[uint32]uint64{}
		c.sendLog = &sendLog{}
	}
	return c, nil
}

// sendLog keeps the send (intended) times of a broadcast source's last sendLogSize messages,
// so that every member receiving one can take its latency from the same instant as the
// sender: a broadcast's latency is send to each delivery, and a room of K gives K samples
// per message. Its lock is a leaf: receivers take it while holding their own.
type sendLog struct {
	mu sync.Mutex
	e  [sendLogSize]struct {
		seq uint64
		t   int64
	}
}

// sendLogSize bounds the messages of one source in flight whose delivery latency is known
// (at 1 000 msgs/s per connection, 4 s of them).
const sendLogSize = 4096

func (l *sendLog) put(seq uint64, t int64) {
	l.mu.Lock()
	e := &l.e[seq%sendLogSize]
	e.seq, e.t = seq, t
	l.mu.Unlock()
}

// at returns the send time of message seq, or -1 when it is no longer (or not) logged.
func (l *sendLog) at(seq uint64) int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.e[seq%sendLogSize]; e.seq == seq && e.t != 0 {
		return e.t
	}
	return -1
}

// sentAt is the send time of message seq of source src, when src is a connection of this
// load (a shard knows only its own sources); -1 otherwise.
func (g *loadGen) sentAt(src uint32, seq uint64) int64 {
	i := int64(src) - int64(g.cfg.SrcBase)
	if i < 0 || i >= int64(len(g.conns)) || g.conns[i].sendLog == nil {
		return -1
	}
	return g.conns[i].sendLog.at(seq)
}

// sendOne sends the next message with send time t (the intended time in open loop). c.mu held.
func (c *conn) sendOne(t int64) {
	if c.dead.Load() || c.s == nil {
		return
	}
	if c.role == RoleIdle {
		c.buf = proto.AppendFramed(c.buf[:0], proto.TypeHeartbeat, c.src, c.nextSend, c.codec.Size())
	} else {
		c.buf = c.codec.Append(c.buf[:0], c.nextSend)
		if len(c.buf) == 0 { // the crypto codec before its handshake or with its key used up
			c.g.fail("connection %d: %v", c.src, c.crypto.Err())
			return
		}
	}
	if c.head > 0 && c.head == len(c.times) {
		c.times, c.head = c.times[:0], 0
	}
	c.times = append(c.times, t)
	if c.sendLog != nil {
		c.sendLog.put(c.nextSend, t)
	}
	c.nextSend++
	c.sent.Add(1)
	c.g.sent.Add(1)
	if err := c.s.Send(c.buf); err != nil {
		c.g.fail("send on connection %d: %v", c.src, err)
	}
}

// loadHandler is the client app.
type loadHandler struct {
	g       *loadGen
	up      atomic.Int64
	total   int64
	ready   chan struct{} // closed when every fixed connection has a session
	slots   atomic.Int64  // next fixed connection to hand out
	closing atomic.Bool
}

func (h *loadHandler) OnConnect(s models.Session) {
	g := h.g
	g.connected.Add(1)
	if g.cfg.OneShot {
		c, err := g.newConn(g.cfg.SrcBase + g.nextSrc.Add(1) - 1)
		if err != nil {
			g.fail("%v", err)
			s.Kick(models.KickDisconnect)
			return
		}
		c.role = RoleOneShot
		c.s = s
		c.oneShotT = nowNs()
		s.SetUserData(c)
		if g.stop.Load() {
			return
		}
		c.mu.Lock()
		c.sendOne(c.oneShotT)
		c.mu.Unlock()
		return
	}
	i := h.slots.Add(1) - 1
	if i >= int64(len(g.conns)) {
		g.fail("unexpected extra connection")
		s.Kick(models.KickDisconnect)
		return
	}
	c := g.conns[i]
	c.mu.Lock()
	c.s = s
	c.mu.Unlock()
	s.SetUserData(c)
	if c.crypto != nil {
		if err := s.Send(c.crypto.Hello()); err != nil {
			g.fail("hello on connection %d: %v", c.src, err)
		}
		return // up once the server's hello is accepted (onRecv)
	}
	h.connUp()
}

// connUp counts a fixed connection ready for traffic.
func (h *loadHandler) connUp() {
	if h.up.Add(1) == h.total {
		close(h.ready)
	}
}

func (h *loadHandler) OnRecv(s models.Session, w []byte) int {
	c, _ := s.UserData().(*conn)
	if c == nil {
		return len(w)
	}
	return c.onRecv(w)
}

func (h *loadHandler) OnSend(models.Session, int) {}

func (h *loadHandler) OnDisconnect(s models.Session, r models.KickReason) {
	c, _ := s.UserData().(*conn)
	if c == nil {
		return
	}
	c.dead.Store(true)
	g := h.g
	// What this connection still owed can never arrive now.
	owed := c.sent.Load()*g.deliveries - min(c.recv.Load(), c.sent.Load()*g.deliveries)
	if g.cfg.Broadcast {
		owed = 0 // deliveries to a broadcast member are owed by the others; counted globally
	}
	g.deadLost.Add(owed)
	if h.closing.Load() || g.stop.Load() && owed == 0 || g.cfg.ExpectDisconnects {
		return
	}
	if c.role == RoleOneShot && r == models.KickDisconnect {
		return // churn: we closed it ourselves after the exchange
	}
	g.errorsN.Add(1)
	g.fail("connection %d ended: %v", c.src, r)
}

// onRecv parses and verifies every complete reply in w.
func (c *conn) onRecv(w []byte) int {
	g := c.g
	c.mu.Lock()
	defer c.mu.Unlock()
	off := 0
	if c.crypto != nil && !c.crypto.Established() {
		if len(w) < proto.CryptoHelloSize {
			return 0
		}
		if err := c.crypto.Accept(w[:proto.CryptoHelloSize]); err != nil {
			g.corrupt.Add(1)
			g.fail("connection %d: %v", c.src, err)
			c.dead.Store(true)
			c.s.Kick(models.KickPacketError)
			return len(w)
		}
		off = proto.CryptoHelloSize
		g.h.connUp()
	}
	for off < len(w) {
		rep, err := c.codec.Next(w[off:], c.nextRecv)
		if err != nil {
			g.corrupt.Add(1)
			g.fail("connection %d: %v", c.src, err)
			c.dead.Store(true)
			c.s.Kick(models.KickPacketError)
			return len(w)
		}
		if rep.N == 0 {
			break
		}
		off += rep.N
		if g.cfg.Broadcast && rep.Seq >= probeSeqBase {
			c.gotProbe(rep.Seq - probeSeqBase)
			continue // a room probe: not a message, never counted or verified as one
		}
		now := nowNs()
		c.recv.Add(1)
		g.recv.Add(1)
		g.lastRecv.Store(now)
		own := !g.cfg.Broadcast || rep.Src == c.src
		if !own {
			next := c.srcNext[rep.Src]
			switch {
			case rep.Seq == next:
			case rep.Seq < next:
				g.dup.Add(1)
				g.fail("connection %d: duplicate message %d from source %d (expected %d)", c.src, rep.Seq, rep.Src, next)
			default:
				g.reordered.Add(1)
				g.fail("connection %d: message %d from source %d out of order (expected %d)", c.src, rep.Seq, rep.Src, next)
			}
			if rep.Seq >= next {
				c.srcNext[rep.Src] = rep.Seq + 1
			}
			lat := int64(-1)
			if t := g.sentAt(rep.Src, rep.Seq); t >= 0 {
				lat = now - t
			}
			c.count(now, lat, rep.N)
			continue
		}
		switch {
		case rep.Seq == c.nextRecv:
		case rep.Seq < c.nextRecv:
			g.dup.Add(1)
			g.fail("connection %d: duplicate reply %d (expected %d)", c.src, rep.Seq, c.nextRecv)
		default:
			g.reordered.Add(1)
			g.fail("connection %d: reply %d out of order (expected %d)", c.src, rep.Seq, c.nextRecv)
		}
		if rep.Seq >= c.nextRecv {
			c.nextRecv = rep.Seq + 1
		}
		var t int64 = -1
		if c.head < len(c.times) {
			t = c.times[c.head]
			c.head++
		}
		switch c.role {
		case RoleIdle:
			c.countHeartbeat(now) // verified, counted apart from the measured messages
			continue
		case RoleOneShot:
			from := c.oneShotT
			if e := g.epoch.Load(); e > 0 {
				if from < e {
					continue // connected before the epoch: not part of the measurement
				}
				from = e
			}
			c.count(now, now-from, rep.N)
			if g.cfg.Churn {
				c.s.Kick(models.KickDisconnect)
			}
			continue
		}
		if t >= 0 {
			c.count(now, now-t, rep.N)
		}
		if g.cfg.Rate == 0 && !g.stop.Load() {
			c.sendOne(now)
		}
	}
	return off
}

// inWindow reports whether now is inside the measured window.
func (g *loadGen) inWindow(now int64) bool { return now >= g.winFrom.Load() && now < g.winTo.Load() }

// countHeartbeat counts a heartbeat reply received at now if inside the window.
func (c *conn) countHeartbeat(now int64) {
	if !c.g.inWindow(now) {
		return
	}
	c.sh.mu.Lock()
	c.sh.heartbeats++
	c.sh.mu.Unlock()
}

// count records a completed message received at now with latency lat (<0: none) in its slice
// of the window, if now is inside the window.
func (c *conn) count(now, lat int64, n int) {
	g := c.g
	if !g.inWindow(now) {
		return
	}
	sh := c.sh
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(sh.slices) == 0 {
		return
	}
	i := min(int((now-g.winFrom.Load())/int64(SliceInterval)), len(sh.slices)-1)
	sl := &sh.slices[i]
	sl.msgs++
	sh.bytes += uint64(n)
	if lat >= 0 {
		if sl.hist == nil {
			sl.hist = newHist()
		}
		sl.hist.RecordValue(min(max(lat, 1), sl.hist.HighestTrackableValue()))
	}
}
