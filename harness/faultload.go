package harness

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// The faults and soak scenarios run their own steady load (steadyLoad), not Load: its
// connections live on a CLIENT_AUTO_RECONNECT service and survive the server's death (each
// logical connection keeps its sequence numbers across sessions and a proto.Ledger of its
// sessions and of what each left unanswered, classified at the end against the kills), and its
// latency goes into one histogram per phase of the window (the faults' quarters, the soak's
// minutes) instead of one per 100 ms slice, which for a 10-minute soak would be thousands of
// histograms. It is open loop (one pacer, the same schedule as Load's: latency from the
// intended send time) and verifies every reply as Load does (sequence + CRC-32C); a message
// due while its connection has no session is not sent and is counted as unsent.

// steadyConfig is one steady load.
type steadyConfig struct {
	Target           string
	Proto            proto.Name
	Conns, Size      int
	Rate             float64 // msgs/s over all connections
	Warmup, Duration time.Duration
	// Phases are the window's phase boundaries (offsets from its start, increasing): phase i
	// holds the messages whose intended send time is in [Phases[i-1], Phases[i]).
	Phases         []time.Duration
	ClientBackend  string
	Loops          int
	ReconnectDelay time.Duration // default 1 ms
	Drain          time.Duration // no reply for this long ends the drain (default 2 s)
	// IdleTimeout, when set, kicks a client session that receives nothing for that long
	// (models.ServiceOptions.IdleTimeout): a session left hanging by a dead server that never
	// reset it (under Wine the killed process's sockets live on in wineserver, whose listening
	// socket still completes handshakes) then ends and reconnects.
	IdleTimeout time.Duration
	// During runs in its own goroutine from the start of the window until it returns (it must
	// return by ctx's end: the window's end cancels ctx).
	During func(ctx context.Context, l *steadyLoad)
	// BeforeTraffic runs once every connection is up, before the first message.
	BeforeTraffic func() error
}

// steadyLoad is one steady load in progress.
type steadyLoad struct {
	cfg     steadyConfig
	conns   []*sconn
	free    chan *sconn
	eng     models.Engine
	svc     models.Service
	shards  []*steadyShard
	winFrom atomic.Int64
	winTo   atomic.Int64
	closing atomic.Bool
	killed  atomic.Bool
	dying   atomic.Bool // between BeginKill and Reaped

	up, downs, early, sent, recv, unsent, corrupt, reordered, dup atomic.Uint64
	lastRecv, pacerLag                                            atomic.Int64
	firstErr                                                      atomic.Pointer[string]

	killMu sync.Mutex
	kills  []int64
}

type steadyShard struct {
	mu     sync.Mutex
	phases []*hdrhistogram.Histogram
	msgs   uint64 // replies to messages sent in the window
}

// sconn is one logical connection: its sequence numbers run on across its sessions.
type sconn struct {
	mu       sync.Mutex
	src      uint32
	codec    proto.Client
	s        models.Session // nil while down
	led      proto.Ledger
	upAt     int64 // when the current session came up
	nextSend uint64
	nextRecv uint64
	times    []int64 // intended send times of this session's messages in flight, FIFO
	// sentAt are the same messages' actual send times (times[i] is when message i was due):
	// the kill rule classifies by when a message really went out, on which session. A
	// lagging pacer sends messages due before a reconnect on the new session; by their due
	// time they would predate it and count as lost.
	sentAt []int64
	head   int
	buf    []byte
	sh     *steadyShard
}

// steadyResult is what a steady load measured.
type steadyResult struct {
	Window     time.Duration
	WindowFrom int64 // ns (nowNs clock)
	Msgs       uint64
	Phases     []*hdrhistogram.Histogram
	Hist       *hdrhistogram.Histogram // the whole window
	Verify     results.Verify
	Unanswered proto.Unanswered
	Unsent     uint64
	Downs      uint64 // sessions that ended before the load's own close
	// DownsBeforeKill of them ended before the first kill; LiveAtEnd connections had a
	// session at the end.
	DownsBeforeKill uint64
	LiveAtEnd       int
	LiveUps         []int64 // when each connection's session alive at the end came up
	Kills           []int64
	Ledgers         []*proto.Ledger
	Live            [][]int64 // per connection, the send times its session up at the end still owes
	PacerLag        time.Duration
	FirstError      string
}

func (l *steadyLoad) fail(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	l.firstErr.CompareAndSwap(nil, &s)
}

// MarkKill records a kill's instant: call it just before the signal, so a kill always
// precedes the disconnects it causes.
func (l *steadyLoad) MarkKill() int64 {
	t := nowNs()
	l.killMu.Lock()
	l.kills = append(l.kills, t)
	l.killMu.Unlock()
	l.killed.Store(true)
	return t
}

// BeginKill marks the signal of a kill and Reaped the end of the dying server: the kill spans
// the two. A session whose life overlaps the span was ended by the kill, even one the dying
// server's kernel accepted after the signal and reset later: OnDisconnect records such a
// session's end as a kill instant too, so its unanswered messages are classified against the
// kill (never lost). The span ends when the new server listens, not when the old process is
// reaped: a killed io_uring server's ring is torn down by a kernel worker after the reap, and
// its listening socket still completes handshakes until then (the new server cannot bind the
// port before it is gone, so only the old server can hold a session during the span).
func (l *steadyLoad) BeginKill() int64 {
	t := l.MarkKill()
	l.dying.Store(true)
	return t
}

// Reaped ends the kill span (see BeginKill).
func (l *steadyLoad) Reaped() int64 {
	l.dying.Store(false)
	return l.MarkKill()
}

// newSteadyLoad is the state of a steady load with shards histogram shards, before its engine.
func newSteadyLoad(cfg steadyConfig, shards int) (*steadyLoad, error) {
	l := &steadyLoad{cfg: cfg, free: make(chan *sconn, cfg.Conns)}
	l.winFrom.Store(1<<62 - 1)
	l.winTo.Store(1<<62 - 1)
	for range max(shards, 1) {
		sh := &steadyShard{}
		for range len(cfg.Phases) + 1 {
			sh.phases = append(sh.phases, newHist())
		}
		l.shards = append(l.shards, sh)
	}
	for i := range cfg.Conns {
		codec, err := proto.NewClient(cfg.Proto, cfg.Size, uint32(i))
		if err != nil {
			return nil, err
		}
		c := &sconn{src: uint32(i), codec: codec, sh: l.shards[i%len(l.shards)]}
		l.conns = append(l.conns, c)
		l.free <- c
	}
	return l, nil
}

// runSteady runs one steady load.
func runSteady(ctx context.Context, cfg steadyConfig) (*steadyResult, error) {
	if cfg.Conns <= 0 || !(cfg.Rate > 0) || cfg.Duration <= 0 || cfg.Warmup < 0 {
		return nil, fmt.Errorf("steady load: bad config conns=%d rate=%v duration=%v", cfg.Conns, cfg.Rate, cfg.Duration)
	}
	if cfg.ReconnectDelay <= 0 {
		cfg.ReconnectDelay = time.Millisecond
	}
	if cfg.Drain <= 0 {
		cfg.Drain = 2 * time.Second
	}
	if cfg.ClientBackend == "" {
		cfg.ClientBackend = DefaultClientBackend()
	}
	ecfg, err := models.Config{Loops: cfg.Loops, PoolSize: cfg.Conns}.WithDefaults()
	if err != nil {
		return nil, err
	}
	l, err := newSteadyLoad(cfg, ecfg.Loops)
	if err != nil {
		return nil, err
	}
	if l.eng, err = models.Open(cfg.ClientBackend, ecfg); err != nil {
		return nil, fmt.Errorf("client backend: %w", err)
	}
	defer l.close()
	opt := models.ServiceOptions{Type: models.ServiceClientAutoReconnect, Conns: cfg.Conns, PoolSize: cfg.Conns,
		ReconnectDelay: cfg.ReconnectDelay, IdleTimeout: cfg.IdleTimeout}
	if l.svc, err = l.eng.Connect(cfg.Target, steadyHandler{l}, opt); err != nil {
		return nil, fmt.Errorf("connect %s: %w", cfg.Target, err)
	}
	deadline := time.Now().Add(DefaultConnectTimeout)
	for l.up.Load() < uint64(cfg.Conns) {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("connect %s: %d of %d connections up after %v", cfg.Target, l.up.Load(), cfg.Conns, DefaultConnectTimeout)
		}
		if !sleepCtx(ctx, 2*time.Millisecond) {
			return nil, ctx.Err()
		}
	}
	if cfg.BeforeTraffic != nil {
		if err := cfg.BeforeTraffic(); err != nil {
			return nil, err
		}
	}
	start := nowNs()
	l.winFrom.Store(start + int64(cfg.Warmup))
	l.winTo.Store(start + int64(cfg.Warmup+cfg.Duration))
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bg.Add(1)
	go func() { defer bg.Done(); l.pace(start, stop) }()
	ok := sleepCtx(ctx, cfg.Warmup)
	var during sync.WaitGroup
	if ok {
		wctx, cancel := context.WithTimeout(ctx, cfg.Duration)
		if cfg.During != nil {
			during.Add(1)
			go func() { defer during.Done(); cfg.During(wctx, l) }()
		}
		ok = sleepCtx(ctx, cfg.Duration)
		cancel()
		during.Wait()
	}
	close(stop)
	bg.Wait()
	l.drain(ctx)
	res := l.collect()
	if !ok {
		return res, ctx.Err()
	}
	return res, nil
}

func (l *steadyLoad) close() {
	l.closing.Store(true)
	if l.svc != nil {
		l.svc.Close()
	}
	l.eng.Close()
}

// pace sends message i at start + i/Rate on connection i mod Conns until stop.
func (l *steadyLoad) pace(start int64, stop <-chan struct{}) {
	p := newPacer(l.cfg.Rate, 1)
	var i uint64
	for {
		select {
		case <-stop:
			return
		default:
		}
		now := nowNs()
		for p.Pace(time.Duration(now-start), i) == 0 {
			due := start + int64(p.Due(i))
			if lag := now - due; lag > l.pacerLag.Load() && due >= l.winFrom.Load() {
				l.pacerLag.Store(lag)
			}
			l.conns[i%uint64(len(l.conns))].send(l, due)
			i++
		}
		if d := p.Pace(time.Duration(nowNs()-start), i); d > 0 {
			time.Sleep(d)
		}
	}
}

// send sends the connection's next message stamped t, or counts it unsent while it is down.
func (c *sconn) send(l *steadyLoad, t int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s == nil {
		l.unsent.Add(1)
		return
	}
	c.buf = c.codec.Append(c.buf[:0], c.nextSend)
	if c.head > 0 && c.head == len(c.times) {
		c.times, c.sentAt, c.head = c.times[:0], c.sentAt[:0], 0
	}
	c.times = append(c.times, t)
	c.sentAt = append(c.sentAt, max(t, nowNs()))
	c.nextSend++
	l.sent.Add(1)
	// A failed send leaves the message owed: the session's end classifies it (in flight at a
	// kill, or lost).
	c.s.Send(c.buf)
}

// drain waits until nothing is owed and every connection has a session (one still coming
// back from a kill), no reply has come for Drain, or 30 s.
func (l *steadyLoad) drain(ctx context.Context) {
	t0 := time.Now()
	l.lastRecv.Store(nowNs())
	for time.Since(t0) < drainCap {
		owed, down := 0, 0
		for _, c := range l.conns {
			c.mu.Lock()
			if c.s != nil {
				owed += len(c.times) - c.head
			} else {
				down++
			}
			c.mu.Unlock()
		}
		if owed == 0 && down == 0 || time.Duration(nowNs()-l.lastRecv.Load()) > max(l.cfg.Drain, 2*l.cfg.IdleTimeout) {
			return
		}
		if !sleepCtx(ctx, 5*time.Millisecond) {
			return
		}
	}
}

// collect freezes the counts: what a live session still owes is lost (no kill ended it), the
// ended sessions' unanswered messages are classified against the kills.
func (l *steadyLoad) collect() *steadyResult {
	l.closing.Store(true)
	l.killMu.Lock()
	kills := append([]int64(nil), l.kills...)
	l.killMu.Unlock()
	res := &steadyResult{Window: l.cfg.Duration, WindowFrom: l.winFrom.Load(), Kills: kills, Hist: newHist(),
		Unsent: l.unsent.Load(), Downs: l.downs.Load(), DownsBeforeKill: l.early.Load(), PacerLag: time.Duration(l.pacerLag.Load())}
	for _, c := range l.conns {
		c.mu.Lock()
		var live []int64
		if c.s != nil {
			live = c.sentAt[c.head:]
			res.LiveAtEnd++
			res.LiveUps = append(res.LiveUps, c.upAt)
		}
		res.Unanswered = res.Unanswered.Add(c.led.Tally(kills, live))
		res.Live = append(res.Live, slices.Clone(live))
		res.Ledgers = append(res.Ledgers, &c.led)
		c.mu.Unlock()
	}
	for i := range len(l.cfg.Phases) + 1 {
		h := newHist()
		for _, sh := range l.shards {
			sh.mu.Lock()
			h.Merge(sh.phases[i])
			if i == 0 {
				res.Msgs += sh.msgs
			}
			sh.mu.Unlock()
		}
		res.Phases = append(res.Phases, h)
		res.Hist.Merge(h)
	}
	res.Verify = results.Verify{Sent: l.sent.Load(), Received: l.recv.Load(), Lost: res.Unanswered.Lost,
		Corrupt: l.corrupt.Load(), Reordered: l.reordered.Load(), Duplicated: l.dup.Load()}
	if p := l.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	return res
}

// phaseOf is the phase of a message intended at t, or -1 outside the window.
func (l *steadyLoad) phaseOf(t int64) int {
	from := l.winFrom.Load()
	if t < from || t >= l.winTo.Load() {
		return -1
	}
	d := time.Duration(t - from)
	for i, b := range l.cfg.Phases {
		if d < b {
			return i
		}
	}
	return len(l.cfg.Phases)
}

type steadyHandler struct{ l *steadyLoad }

func (h steadyHandler) OnConnect(s models.Session) {
	l := h.l
	var c *sconn
	select {
	case c = <-l.free:
	default:
		l.fail("an extra session came up")
		s.Kick(models.KickDisconnect)
		return
	}
	c.mu.Lock()
	c.s = s
	c.upAt = nowNs()
	c.led.Up(c.upAt)
	c.mu.Unlock()
	s.SetUserData(c)
	l.up.Add(1)
}

func (h steadyHandler) OnRecv(s models.Session, w []byte) int {
	c, _ := s.UserData().(*sconn)
	if c == nil {
		return len(w)
	}
	return c.onRecv(h.l, s, w)
}

func (steadyHandler) OnSend(models.Session, int) {}

func (h steadyHandler) OnDisconnect(s models.Session, r models.KickReason) {
	l := h.l
	c, _ := s.UserData().(*sconn)
	if c == nil || l.closing.Load() {
		return
	}
	l.downs.Add(1)
	if !l.killed.Load() {
		l.early.Add(1)
	}
	// The end is read under the connection's lock, so every send on this session (send holds
	// the lock) is stamped before it: a message sent while the disconnect waited for the lock
	// went out on this session, not after its end.
	c.mu.Lock()
	t := nowNs()
	if l.dying.Load() {
		l.killMu.Lock()
		l.kills = append(l.kills, t)
		l.killMu.Unlock()
	}
	c.led.Down(t, c.sentAt[c.head:])
	c.times, c.sentAt, c.head = c.times[:0], c.sentAt[:0], 0
	c.nextRecv = c.nextSend // what the dead session owed will never come
	c.s = nil
	c.mu.Unlock()
	l.free <- c
}

func (c *sconn) onRecv(l *steadyLoad, s models.Session, w []byte) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.s != s {
		return len(w)
	}
	off := 0
	for off < len(w) {
		rep, err := c.codec.Next(w[off:], c.nextRecv)
		if err != nil {
			l.corrupt.Add(1)
			l.fail("connection %d: %v", c.src, err)
			s.Kick(models.KickPacketError)
			return len(w)
		}
		if rep.N == 0 {
			break
		}
		off += rep.N
		now := nowNs()
		l.recv.Add(1)
		l.lastRecv.Store(now)
		switch {
		case rep.Seq == c.nextRecv:
		case rep.Seq < c.nextRecv:
			l.dup.Add(1)
			l.fail("connection %d: duplicate reply %d (expected %d)", c.src, rep.Seq, c.nextRecv)
			continue
		default:
			l.reordered.Add(1)
			l.fail("connection %d: reply %d out of order (expected %d)", c.src, rep.Seq, c.nextRecv)
		}
		c.nextRecv = rep.Seq + 1
		if c.head >= len(c.times) {
			continue
		}
		t := c.times[c.head]
		c.head++
		if ph := l.phaseOf(t); ph >= 0 {
			sh := c.sh
			sh.mu.Lock()
			h := sh.phases[ph]
			h.RecordValue(min(max(now-t, 1), h.HighestTrackableValue()))
			sh.msgs++
			sh.mu.Unlock()
		}
	}
	return off
}

// steadyFigures are the figures of a steady load: throughput and latency of its window.
func (r *steadyResult) figures() results.Figures {
	f := results.Figures{DurationNs: int64(r.Window)}
	v := r.Verify
	f.Verify = &v
	if r.Window > 0 {
		f.MsgsPerSec = results.Val(float64(r.Msgs) / r.Window.Seconds())
	}
	if r.Hist.TotalCount() > 0 {
		q := func(p float64) *float64 { return results.Val(float64(r.Hist.ValueAtQuantile(p))) }
		f.Latency = &results.Latency{P50: q(50), P90: q(90), P99: q(99), P999: q(99.9), Max: results.Val(float64(r.Hist.Max()))}
		f.LatencyCI, f.LatencySamples = results.LatencyCIOf(r.Hist)
	}
	f.Errors = results.Val(0)
	f.Bottleneck = results.BottleneckUnknown
	return f
}

// phaseWindow is phase h's p99 (nil with fewer than MinTailSamples beyond it).
func phaseWindow(h *hdrhistogram.Histogram) *results.Window {
	n := uint64(h.TotalCount())
	w := &results.Window{Samples: n}
	if n > 0 && float64(n)*0.01 >= results.MinTailSamples {
		w.P99Ns = results.Val(float64(h.ValueAtQuantile(99)))
	}
	return w
}
