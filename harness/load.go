package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// The load generator runs on a models CLIENT service, so it is itself an iobench app over a
// selectable client backend (LoadConfig.ClientBackend): in a comparison every server backend
// faces the same client backend and the same client code.
//
// Per connection it keeps the sequence number of the next message to send, the next reply it
// expects and the send time of every message in flight. Every reply is parsed and verified by
// the protocol codec (sequence + CRC-32C, or byte equality for short raw echo messages);
// replies out of order are counted as reordered (ahead of the expected sequence) or duplicated
// (behind it), undecodable replies as corrupt (the connection is then dropped: the stream
// cannot be resynchronised), and what was sent but never came back after the drain as lost.
//
// Closed loop (Depth): Depth messages in flight per connection; each reply sends the next.
// Open loop (Rate): one pacer schedules message i of the whole run at start + i/Rate on
// connection i mod Conns, independently of replies, and latency is measured from that
// intended time. A pacer that wakes late sends every overdue message at once with its own
// intended time, so a server stall (or a late pacer) shows up in the tail instead of being
// hidden by the client waiting politely (coordinated omission).

// Role is what one connection of a load does.
type Role int

const (
	// RoleActive connections carry the measured traffic (closed or open loop).
	RoleActive Role = iota
	// RoleIdle connections only send framed heartbeats every LoadConfig.Heartbeat; their replies
	// are verified but not counted as messages.
	RoleIdle
	// RoleOneShot connections send one message when they connect; its reply completes the
	// connection (latency = connect to reply). With Churn the connection is then closed and the
	// auto-reconnect service opens the next one.
	RoleOneShot
)

// LoadConfig is one load: where, what, how much, for how long.
type LoadConfig struct {
	Target string     // HOST:PORT
	Proto  proto.Name // echo, framed, sockperf
	// Broadcast sends framed TypeBroadcast messages to a `serve --proto broadcast --room Room`
	// server: every message comes back from each of the Room members, in per-source order.
	Broadcast bool
	Room      int
	Conns     int
	Size      int     // bytes per message on the wire
	Depth     int     // closed loop: messages in flight per connection
	Rate      float64 // open loop: total msgs/s over all active connections (0 = closed loop)

	// ConnectTimeout bounds the whole connect phase: every connection up (default 10 s).
	ConnectTimeout time.Duration

	Warmup   time.Duration
	Duration time.Duration
	// Drain bounds the wait for replies in flight after the window (default 5 s).
	Drain time.Duration

	// IdleConns of Conns are RoleIdle (framed only), sending a heartbeat every Heartbeat.
	IdleConns int
	Heartbeat time.Duration
	// OneShot makes every connection RoleOneShot on an auto-reconnect service; Churn closes
	// each connection after its exchange (connect → exchange → close loop).
	OneShot bool
	Churn   bool
	// ReconnectDelay of the auto-reconnect service of one-shot loads (default 1 µs).
	ReconnectDelay time.Duration
	// ExpectDisconnects: connections ended by the server (a restart) are not errors and what
	// they owed is not lost (scenario reconnect).
	ExpectDisconnects bool
	// DuringWindow, when set, runs in its own goroutine at the start of the window; calling
	// mark sets the epoch from which one-shot connections made afterwards measure their
	// latency (scenario reconnect: time from the server restart until each client is back).
	DuringWindow func(mark func())

	ClientBackend string
	// Loops of the client engine (0 = GOMAXPROCS of this process).
	Loops int

	// BeforeWindow and AfterWindow are called at the edges of the measured window (probes of
	// the server); they must be quick. BeforeTraffic is called after every connection is up
	// and before the first message (e.g. to wait for the server to see them all).
	BeforeTraffic func() error
	BeforeWindow  func()
	AfterWindow   func()
	// Progress, when set, receives a line now and then on long loads.
	Progress func(string)
}

// LoadResult is what one load measured. Latency and message counts cover the window only;
// Verify covers the whole load (warm-up and drain included).
type LoadResult struct {
	Config LoadConfig
	Window time.Duration
	Msgs   uint64 // messages completed in the window (broadcast: delivered)
	Bytes  uint64 // their bytes
	// Heartbeats are the idle connections' heartbeat replies in the window: not in Msgs, but
	// work the server and the client did, so the per-message costs divide by Msgs+Heartbeats.
	Heartbeats uint64
	// Intervals (open loop) are the window's latency histograms per TimelineInterval, with
	// StartTimeMs/EndTimeMs set (wall clock).
	Intervals []*hdrhistogram.Histogram
	Hist      *hdrhistogram.Histogram
	Verify    results.Verify
	Errors    uint64        // connect failures and unexpected disconnects
	ClientCPU time.Duration // CPU of this process (user+sys) over the window; <0 unknown
	Connected uint64        // connections that came up
	// PacerLag is the largest delay between a message's intended send time and the moment the
	// open-loop pacer sent it: a load generator that falls behind inflates the latencies it
	// reports (they stay honest, measured from the intended time, but the delay is the
	// client's). 0 in closed loop.
	PacerLag   time.Duration
	FirstError string // first verification or connection error seen
}

// MsgsPerSec is the window's throughput.
func (r *LoadResult) MsgsPerSec() float64 {
	if r.Window <= 0 {
		return 0
	}
	return float64(r.Msgs) / r.Window.Seconds()
}

// OK reports whether verification passed.
func (r *LoadResult) OK() bool { return r.Verify.OK() }

// Figures converts the load's own measurements into a results.Figures (server probes not
// included).
func (r *LoadResult) Figures() results.Figures {
	f := results.Figures{DurationNs: int64(r.Window)}
	v := r.Verify
	f.Verify = &v
	if r.Window > 0 {
		f.MsgsPerSec = results.Val(r.MsgsPerSec())
		f.MBPerSec = results.Val(float64(r.Bytes) / 1e6 / r.Window.Seconds())
	}
	if r.Hist != nil && r.Hist.TotalCount() > 0 {
		q := func(p float64) *float64 { return results.Val(float64(r.Hist.ValueAtPercentile(p))) }
		f.Latency = &results.Latency{P50: q(50), P90: q(90), P99: q(99), P999: q(99.9),
			Max: results.Val(float64(r.Hist.Max()))}
	}
	if r.ClientCPU >= 0 && r.Msgs > 0 {
		f.Client = &results.ClientMetrics{CPUNsPerMsg: results.Val(float64(r.ClientCPU) / float64(r.Msgs+r.Heartbeats))}
	} else {
		f.Client = &results.ClientMetrics{}
	}
	f.Errors = results.Val(float64(r.Errors))
	if r.PacerLag > time.Millisecond {
		f.Note = fmt.Sprintf("open-loop pacer fell behind by up to %v (load generator starved): part of the latency tail is the client's", r.PacerLag.Round(time.Microsecond))
	}
	return f
}

// Validate checks and completes c.
func (c *LoadConfig) Validate() error {
	if c.Target == "" {
		return errors.New("no --target HOST:PORT")
	}
	if _, err := proto.Parse(string(c.Proto)); err != nil {
		return err
	}
	if c.Conns <= 0 {
		return fmt.Errorf("--conns %d must be positive", c.Conns)
	}
	if c.Broadcast {
		if c.Proto != proto.Framed {
			return errors.New("broadcast needs the framed protocol")
		}
		if c.Room <= 0 || c.Conns%c.Room != 0 {
			return fmt.Errorf("broadcast: --conns %d must be a multiple of --room %d", c.Conns, c.Room)
		}
	}
	if c.Size < proto.MinSize(c.Proto) || c.Size > proto.MaxMessageSize {
		return fmt.Errorf("--size %d out of range [%d, %d] for %s", c.Size, proto.MinSize(c.Proto), proto.MaxMessageSize, c.Proto)
	}
	if c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return fmt.Errorf("bad --rate %v", c.Rate)
	}
	if c.Rate > 0 && c.Depth > 0 {
		return errors.New("give --depth (closed loop) or --rate (open loop), not both")
	}
	if c.Rate == 0 && c.Depth <= 0 && !c.OneShot {
		return errors.New("give --depth N (closed loop) or --rate MSGS_PER_SEC (open loop)")
	}
	if c.Duration <= 0 {
		return fmt.Errorf("--duration %v must be positive", c.Duration)
	}
	if c.Warmup < 0 {
		return fmt.Errorf("--warmup %v must not be negative", c.Warmup)
	}
	if c.IdleConns < 0 || c.IdleConns > c.Conns {
		return fmt.Errorf("idle connections %d out of range [0, %d]", c.IdleConns, c.Conns)
	}
	if c.IdleConns > 0 {
		if c.Proto != proto.Framed {
			return errors.New("idle connections send framed heartbeats: use --proto framed")
		}
		if c.Heartbeat <= 0 {
			c.Heartbeat = time.Second
		}
	}
	if c.Drain == 0 {
		c.Drain = 5 * time.Second
	}
	if c.ConnectTimeout < 0 {
		return fmt.Errorf("--connect-timeout %v must not be negative", c.ConnectTimeout)
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.ClientBackend == "" {
		c.ClientBackend = DefaultClientBackend()
	}
	if b, err := models.Lookup(c.ClientBackend); err != nil {
		return fmt.Errorf("--client-backend: %w", err)
	} else if err := b.Available(); err != nil {
		return fmt.Errorf("--client-backend %s: %w", c.ClientBackend, err)
	}
	return nil
}

// abandonBound is how long an aborted connect phase waits for the client engine to close
// before it returns without it. (netpoll's dialer, for one, has its own fixed timeout that
// Close does not cut short.)
const abandonBound = 2 * time.Second

// DefaultConnectTimeout bounds a load's connect phase when LoadConfig.ConnectTimeout is 0.
const DefaultConnectTimeout = 10 * time.Second

// clock is a monotonic nanosecond clock shared by every connection of a load.
var clockBase = time.Now()

func nowNs() int64 { return int64(time.Since(clockBase)) }

// shard is one worker's histogram and window counters (the "per worker" HDR histogram: each
// connection belongs to one shard; shards are merged at the end).
type shard struct {
	mu         sync.Mutex
	hist       *hdrhistogram.Histogram
	msgs       uint64
	bytes      uint64
	heartbeats uint64
}

// intervalHist is one interval's histogram, shared by every connection (its own lock).
type intervalHist struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

// TimelineInterval is the length of the open-loop latency timeline's intervals.
const TimelineInterval = 100 * time.Millisecond

// newHist covers 1 ns .. 100 s at 3 significant digits.
func newHist() *hdrhistogram.Histogram { return results.NewLatencyHistogram() }

type loadGen struct {
	cfg     LoadConfig
	shards  []*shard
	conns   []*conn // by source index (fixed connections only)
	winFrom atomic.Int64
	winTo   atomic.Int64
	stop    atomic.Bool

	sent, recv, corrupt, reordered, dup, deadLost atomic.Uint64
	errorsN, connected                            atomic.Uint64
	nextSrc                                       atomic.Uint32 // one-shot connections
	epoch                                         atomic.Int64  // see LoadConfig.DuringWindow
	pacerLag                                      atomic.Int64  // ns, max over the window
	// Open loop only: latency per TimelineInterval of the window, for the latency-over-time
	// view (a stall shows as a spike) and the HDR interval log.
	intervals    []*intervalHist
	intervalNs   int64
	windowWallMs int64
	firstErr     atomic.Pointer[string]
	deliveries   uint64 // replies expected per message sent
}

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
	sent     atomic.Uint64     // own messages sent
	recv     atomic.Uint64     // replies received (broadcast: deliveries)
	dead     atomic.Bool
	oneShotT int64 // connect time of a one-shot connection
}

func (g *loadGen) fail(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	g.firstErr.CompareAndSwap(nil, &s)
}

// Load runs one load against cfg.Target and returns what it measured. A verification failure
// is not an error here (see LoadResult.OK); errors are setup failures (no connection, bad
// config).
func Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &loadGen{cfg: cfg, deliveries: 1}
	if cfg.Broadcast {
		g.deliveries = uint64(cfg.Room)
	}
	g.winFrom.Store(math.MaxInt64)
	g.winTo.Store(math.MaxInt64)
	nShards := 8
	for range nShards {
		g.shards = append(g.shards, &shard{hist: newHist()})
	}
	if !cfg.OneShot {
		for i := range cfg.Conns {
			c, err := g.newConn(uint32(i))
			if err != nil {
				return nil, err
			}
			if i >= cfg.Conns-cfg.IdleConns {
				c.role = RoleIdle
			}
			g.conns = append(g.conns, c)
		}
	}

	recvBuf := max(models.DefaultRecvBufferSize, 2*cfg.Size+proto.FramedHeaderSize)
	sendLimit := max(models.DefaultSendQueueLimit, 4*cfg.Size*max(cfg.Depth, 1))
	ecfg, err := models.Config{Loops: cfg.Loops, PoolSize: cfg.Conns, RecvBufferSize: recvBuf,
		SendQueueLimit: sendLimit}.WithDefaults()
	if err != nil {
		return nil, err
	}
	eng, err := models.Open(cfg.ClientBackend, ecfg)
	if err != nil {
		return nil, fmt.Errorf("client backend: %w", err)
	}
	defer eng.Close()

	ready := make(chan struct{}) // closed when every fixed connection has a session
	var up atomic.Int64
	opt := models.ServiceOptions{Type: models.ServiceClient, Conns: cfg.Conns, PoolSize: cfg.Conns}
	if cfg.OneShot {
		opt.Type = models.ServiceClientAutoReconnect
		opt.ReconnectDelay = cfg.ReconnectDelay
		if opt.ReconnectDelay <= 0 {
			opt.ReconnectDelay = time.Microsecond
		}
	}
	h := &loadHandler{g: g, up: &up, total: int64(cfg.Conns), ready: ready}
	svc, err := connectPhase(ctx, eng, cfg, h, opt)
	if err != nil {
		return nil, err
	}
	defer svc.Close()
	if cfg.BeforeTraffic != nil {
		if err := cfg.BeforeTraffic(); err != nil {
			return nil, err
		}
	}

	var bg sync.WaitGroup
	bgStop := make(chan struct{})
	start := nowNs()
	if !cfg.OneShot {
		switch {
		case cfg.Rate > 0:
			bg.Add(1)
			go func() { defer bg.Done(); g.pace(start, bgStop) }()
		default:
			for _, c := range g.conns {
				if c.role == RoleActive {
					c.mu.Lock()
					for range cfg.Depth {
						c.sendOne(nowNs())
					}
					c.mu.Unlock()
				}
			}
		}
		if cfg.IdleConns > 0 {
			bg.Add(1)
			go func() { defer bg.Done(); g.heartbeats(bgStop) }()
		}
	} else {
		g.oneShotKick()
	}

	res := &LoadResult{Config: cfg, ClientCPU: -1}
	sleep := func(d time.Duration) bool {
		select {
		case <-time.After(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	aborted := !sleep(cfg.Warmup)
	if !aborted {
		if cfg.BeforeWindow != nil {
			cfg.BeforeWindow()
		}
		cpu0, cpuErr := selfCPU()
		t0 := nowNs()
		if cfg.Rate > 0 {
			n := int(cfg.Duration/TimelineInterval) + 2
			g.intervalNs = int64(TimelineInterval)
			g.windowWallMs = time.Now().UnixMilli()
			g.intervals = make([]*intervalHist, n)
			for i := range g.intervals {
				g.intervals[i] = &intervalHist{h: newHist()}
			}
		}
		g.winFrom.Store(t0)
		if cfg.DuringWindow != nil {
			bg.Add(1)
			go func() { defer bg.Done(); cfg.DuringWindow(func() { g.epoch.Store(nowNs()) }) }()
		}
		if cfg.Progress != nil && cfg.Duration >= 5*time.Second {
			aborted = !g.progress(ctx, t0)
		} else {
			aborted = !sleep(cfg.Duration)
		}
		t1 := nowNs()
		g.winTo.Store(t1)
		cpu1, cpuErr1 := selfCPU()
		if cfg.AfterWindow != nil {
			cfg.AfterWindow()
		}
		res.Window = time.Duration(t1 - t0)
		if cpuErr == nil && cpuErr1 == nil {
			res.ClientCPU = cpu1 - cpu0
		}
	}
	// Drain: stop sending, wait for what is in flight.
	g.stop.Store(true)
	close(bgStop)
	bg.Wait()
	deadline := time.Now().Add(cfg.Drain)
	for g.outstanding() > 0 && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(time.Millisecond)
	}
	// Freeze the counts before closing: the shutdown's disconnects are not losses.
	lost := g.outstanding()
	if !cfg.ExpectDisconnects {
		lost += g.deadLost.Load()
	}
	merged := newHist()
	for _, s := range g.shards {
		s.mu.Lock()
		merged.Merge(s.hist)
		res.Msgs += s.msgs
		res.Bytes += s.bytes
		res.Heartbeats += s.heartbeats
		s.mu.Unlock()
	}
	res.Hist = merged
	for i, ih := range g.intervals {
		from := time.Duration(int64(i) * g.intervalNs)
		if from >= res.Window {
			break
		}
		ih.mu.Lock()
		h := ih.h
		ih.mu.Unlock()
		h.SetStartTimeMs(g.windowWallMs + from.Milliseconds())
		h.SetEndTimeMs(g.windowWallMs + min(from+time.Duration(g.intervalNs), res.Window).Milliseconds())
		res.Intervals = append(res.Intervals, h)
	}
	res.Verify = results.Verify{
		Sent: g.sent.Load(), Received: g.recv.Load(), Lost: lost,
		Corrupt: g.corrupt.Load(), Reordered: g.reordered.Load(), Duplicated: g.dup.Load(),
	}
	g.stop.Store(true)
	h.closing.Store(true)
	res.Errors = g.errorsN.Load()
	res.Connected = g.connected.Load()
	res.PacerLag = time.Duration(g.pacerLag.Load())
	if p := g.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	if aborted {
		return res, ctx.Err()
	}
	return res, nil
}

// connectPhase opens the load's connections within cfg.ConnectTimeout: Connect returns once
// every first attempt has finished, which against a listener whose accept queue is full takes
// the kernel's SYN retries (about two minutes), so it runs in its own goroutine while this one
// watches the deadline and ctx. On either, the engine is closed, which aborts the attempts in
// flight; a backend that still does not return from Connect is abandoned after a bound rather
// than holding the command.
func connectPhase(ctx context.Context, eng models.Engine, cfg LoadConfig, h *loadHandler, opt models.ServiceOptions) (models.Service, error) {
	deadline := time.NewTimer(cfg.ConnectTimeout)
	defer deadline.Stop()
	type outcome struct {
		svc models.Service
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		svc, err := eng.Connect(cfg.Target, h, opt)
		done <- outcome{svc, err}
	}()
	abandon := func(err error) error {
		closed := make(chan struct{})
		go func() { eng.Close(); close(closed) }()
		bound := time.NewTimer(abandonBound)
		defer bound.Stop()
		for done != nil || closed != nil {
			select {
			case o := <-done:
				if o.svc != nil {
					o.svc.Close()
				}
				done = nil
			case <-closed:
				closed = nil
			case <-bound.C:
				return err // the backend's attempt outlives its Close: leave it behind
			}
		}
		return err
	}
	timedOut := func() error {
		return fmt.Errorf("connect %s: timed out after %v with %d of %d connections up", cfg.Target, cfg.ConnectTimeout, h.up.Load(), cfg.Conns)
	}
	var svc models.Service
	select {
	case o := <-done:
		if o.err != nil {
			return nil, fmt.Errorf("connect %s: %w", cfg.Target, o.err)
		}
		svc = o.svc
	case <-deadline.C:
		return nil, abandon(timedOut())
	case <-ctx.Done():
		return nil, abandon(ctx.Err())
	}
	if cfg.OneShot {
		return svc, nil
	}
	// Connect has made every first attempt; a CLIENT service does not retry a failed one.
	poll := time.NewTicker(10 * time.Millisecond)
	defer poll.Stop()
	for {
		select {
		case <-h.ready:
			return svc, nil
		case <-poll.C:
			if st := svc.Stats(); st.ConnectFailed > 0 {
				svc.Close()
				return nil, fmt.Errorf("connect %s: %d of %d connections failed (%s)", cfg.Target, st.ConnectFailed, cfg.Conns, kickSummary(st))
			}
		case <-deadline.C:
			err := fmt.Errorf("%w (%s)", timedOut(), kickSummary(svc.Stats()))
			svc.Close()
			return nil, err
		case <-ctx.Done():
			svc.Close()
			return nil, ctx.Err()
		}
	}
}

// outstanding is the number of replies still expected: K deliveries per message sent, minus
// what arrived and what died with a dropped connection.
func (g *loadGen) outstanding() uint64 {
	want := g.sent.Load()*g.deliveries - g.deadLost.Load()
	got := g.recv.Load()
	if got >= want {
		return 0
	}
	return want - got
}

func (g *loadGen) progress(ctx context.Context, t0 int64) bool {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	end := time.After(g.cfg.Duration)
	for {
		select {
		case <-end:
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			var n uint64
			for _, s := range g.shards {
				s.mu.Lock()
				n += s.msgs
				s.mu.Unlock()
			}
			el := time.Duration(nowNs() - t0)
			g.cfg.Progress(fmt.Sprintf("%v/%v: %.0f msgs/s", el.Round(time.Second), g.cfg.Duration, float64(n)/el.Seconds()))
		}
	}
}

func (g *loadGen) newConn(src uint32) (*conn, error) {
	var codec proto.Client
	var err error
	if g.cfg.Broadcast {
		codec, err = proto.NewBroadcastClient(g.cfg.Size, src)
	} else {
		codec, err = proto.NewClient(g.cfg.Proto, g.cfg.Size, src)
	}
	if err != nil {
		return nil, err
	}
	c := &conn{g: g, src: src, codec: codec, sh: g.shards[int(src)%len(g.shards)]}
	if g.cfg.Broadcast {
		c.srcNext = map[uint32]uint64{}
	}
	return c, nil
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
	}
	if c.head > 0 && c.head == len(c.times) {
		c.times, c.head = c.times[:0], 0
	}
	c.times = append(c.times, t)
	c.nextSend++
	c.sent.Add(1)
	c.g.sent.Add(1)
	if err := c.s.Send(c.buf); err != nil {
		c.g.fail("send on connection %d: %v", c.src, err)
	}
}

// pace is the open-loop scheduler: message i is due at start + i/Rate on active connection
// i mod n, whatever the replies do.
func (g *loadGen) pace(start int64, stop <-chan struct{}) {
	var active []*conn
	for _, c := range g.conns {
		if c.role == RoleActive {
			active = append(active, c)
		}
	}
	if len(active) == 0 {
		return
	}
	interval := 1e9 / g.cfg.Rate
	var i uint64
	for {
		select {
		case <-stop:
			return
		default:
		}
		now := nowNs()
		for {
			due := start + int64(float64(i)*interval)
			if due > now || g.stop.Load() {
				break
			}
			if lag := now - due; lag > g.pacerLag.Load() && due >= g.winFrom.Load() {
				g.pacerLag.Store(lag)
			}
			c := active[i%uint64(len(active))]
			c.mu.Lock()
			c.sendOne(due)
			c.mu.Unlock()
			i++
		}
		next := start + int64(float64(i)*interval)
		if d := time.Duration(next - nowNs()); d > 0 {
			time.Sleep(d)
		}
	}
}

// heartbeats sends one heartbeat per idle connection every Heartbeat, spread evenly over the
// interval (in up to 100 groups) so they do not arrive as one burst.
func (g *loadGen) heartbeats(stop <-chan struct{}) {
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
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// oneShotKick is a no-op: one-shot connections send from OnConnect.
func (g *loadGen) oneShotKick() {}

// loadHandler is the client app.
type loadHandler struct {
	g       *loadGen
	up      *atomic.Int64
	total   int64
	ready   chan struct{}
	slots   atomic.Int64 // next fixed connection to hand out
	closing atomic.Bool
}

func (h *loadHandler) OnConnect(s models.Session) {
	g := h.g
	g.connected.Add(1)
	if g.cfg.OneShot {
		c, err := g.newConn(g.nextSrc.Add(1) - 1)
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
		now := nowNs()
		c.recv.Add(1)
		g.recv.Add(1)
		own := !g.cfg.Broadcast || rep.Src == c.src
		if !own {
			next := c.srcNext[rep.Src]
			switch {
			case rep.Seq == next:
			case rep.Seq < next:
				g.dup.Add(1)
			default:
				g.reordered.Add(1)
			}
			if rep.Seq >= next {
				c.srcNext[rep.Src] = rep.Seq + 1
			}
			c.count(now, -1, rep.N)
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

// countHeartbeat counts a heartbeat reply received at now if inside the window.
func (c *conn) countHeartbeat(now int64) {
	if now < c.g.winFrom.Load() || now >= c.g.winTo.Load() {
		return
	}
	c.sh.mu.Lock()
	c.sh.heartbeats++
	c.sh.mu.Unlock()
}

// count records a completed message received at now with latency lat (<0: none) if now is
// inside the window.
func (c *conn) count(now, lat int64, n int) {
	if now < c.g.winFrom.Load() || now >= c.g.winTo.Load() {
		return
	}
	if lat >= 0 && len(c.g.intervals) > 0 {
		if i := (now - c.g.winFrom.Load()) / c.g.intervalNs; i < int64(len(c.g.intervals)) {
			ih := c.g.intervals[i]
			ih.mu.Lock()
			ih.h.RecordValue(min(max(lat, 1), ih.h.HighestTrackableValue()))
			ih.mu.Unlock()
		}
	}
	sh := c.sh
	sh.mu.Lock()
	sh.msgs++
	sh.bytes += uint64(n)
	if lat >= 0 {
		if lat < 1 {
			lat = 1
		}
		sh.hist.RecordValue(min(lat, sh.hist.HighestTrackableValue()))
	}
	sh.mu.Unlock()
}

// kickSummary describes a client service's connection counters for an error message.
func kickSummary(st models.ServiceStats) string {
	s := fmt.Sprintf("connected %d, connect failed %d, disconnects %d", st.Connected, st.ConnectFailed, st.Disconnects)
	for r, n := range st.Kicks {
		if n > 0 {
			s += fmt.Sprintf(", %v %d", models.KickReason(r), n)
		}
	}
	return s
}
