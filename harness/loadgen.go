package harness

import (
	"context"
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

// clock is a monotonic nanosecond clock shared by every connection of a load.
var clockBase = time.Now()

func nowNs() int64 { return int64(time.Since(clockBase)) }

// newHist covers 1 ns .. 100 s at 3 significant digits.
func newHist() *hdrhistogram.Histogram { return results.NewLatencyHistogram() }

// shard is one worker's window counters (the "per worker" HDR histograms: each connection
// belongs to one shard, one per client loop; shards are merged at the end). Its slices are
// the window's SliceInterval slices, each histogram allocated on its first sample.
type shard struct {
	mu         sync.Mutex
	slices     []slice
	bytes      uint64
	heartbeats uint64
}

type slice struct {
	hist *hdrhistogram.Histogram
	msgs uint64
}

// drainCap bounds the drain phase however steadily replies keep arriving.
const drainCap = 30 * time.Second

// loadGen is one load in progress; its phases are its methods, in the order Load calls them.
type loadGen struct {
	cfg     LoadConfig
	shards  []*shard
	conns   []*conn // by source index - SrcBase (fixed connections only)
	eng     models.Engine
	svc     models.Service
	h       *loadHandler
	winFrom atomic.Int64
	winTo   atomic.Int64
	stop    atomic.Bool

	sent, recv, corrupt, reordered, dup, deadLost atomic.Uint64
	errorsN, connected                            atomic.Uint64
	lastRecv                                      atomic.Int64  // ns, for the drain
	nextSrc                                       atomic.Uint32 // one-shot connections
	epoch                                         atomic.Int64  // see LoadConfig.DuringWindow
	pacerLag                                      atomic.Int64  // ns, max over the window
	firstErr                                      atomic.Pointer[string]
	deliveries                                    uint64 // replies expected per message sent

	bg         sync.WaitGroup // pacer, heartbeats, DuringWindow
	bgStop     chan struct{}
	trafficT0  int64 // ns: the traffic started
	windowWall int64 // ms since the epoch: the window started
	clientCPU  time.Duration
}

func (g *loadGen) fail(format string, a ...any) {
	s := fmt.Sprintf(format, a...)
	g.firstErr.CompareAndSwap(nil, &s)
}

// newLoadGen prepares a load: its connections' state and its client engine.
func newLoadGen(cfg LoadConfig) (*loadGen, error) {
	g := &loadGen{cfg: cfg, deliveries: 1, bgStop: make(chan struct{}), clientCPU: -1}
	if cfg.Broadcast {
		g.deliveries = uint64(cfg.Room)
	}
	g.winFrom.Store(math.MaxInt64)
	g.winTo.Store(math.MaxInt64)
	recvBuf := max(models.DefaultRecvBufferSize, 2*cfg.Size+proto.FramedHeaderSize)
	sendLimit := max(models.DefaultSendQueueLimit, 4*cfg.Size*max(cfg.Depth, cfg.Burst, 1))
	ecfg, err := models.Config{Loops: cfg.Loops, PoolSize: cfg.Conns, RecvBufferSize: recvBuf,
		SendQueueLimit: sendLimit}.WithDefaults()
	if err != nil {
		return nil, err
	}
	for range ecfg.Loops {
		g.shards = append(g.shards, &shard{})
	}
	if !cfg.OneShot {
		for i := range cfg.Conns {
			c, err := g.newConn(cfg.SrcBase + uint32(i))
			if err != nil {
				return nil, err
			}
			if i >= cfg.Conns-cfg.IdleConns {
				c.role = RoleIdle
			}
			g.conns = append(g.conns, c)
		}
	}
	eng, err := models.Open(cfg.ClientBackend, ecfg)
	if err != nil {
		return nil, fmt.Errorf("client backend: %w", err)
	}
	g.eng = eng
	return g, nil
}

// close ends the load: its service (closing every connection) and its engine.
func (g *loadGen) close() {
	if g.h != nil {
		g.h.closing.Store(true)
	}
	g.stop.Store(true)
	if g.svc != nil {
		g.svc.Close()
	}
	g.eng.Close()
}

// connect is the connect phase: every fixed connection up within ConnectTimeout.
func (g *loadGen) connect(ctx context.Context) error {
	cfg := g.cfg
	opt := models.ServiceOptions{Type: models.ServiceClient, Conns: cfg.Conns, PoolSize: cfg.Conns}
	if cfg.OneShot {
		opt.Type = models.ServiceClientAutoReconnect
		opt.ReconnectDelay = cfg.ReconnectDelay
		if opt.ReconnectDelay <= 0 {
			opt.ReconnectDelay = time.Microsecond
		}
	}
	g.h = &loadHandler{g: g, total: int64(cfg.Conns), ready: make(chan struct{})}
	svc, err := connectPhase(ctx, g.eng, cfg, g.h, opt)
	if err != nil {
		return err
	}
	g.svc = svc
	return nil
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

// abandonBound is how long an aborted connect phase waits for the client engine to close
// before it returns without it. (netpoll's dialer, for one, has its own fixed timeout that
// Close does not cut short.)
const abandonBound = 2 * time.Second

// waitStart waits for cfg.StartAt, if set (a shard starting with the others).
func (g *loadGen) waitStart(ctx context.Context) error {
	if g.cfg.StartAt.IsZero() {
		return nil
	}
	if d := time.Until(g.cfg.StartAt); d > 0 && !sleepCtx(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// start is the start phase: the traffic begins (open-loop pacer, Depth messages per closed-
// loop connection, heartbeats of the idle connections; one-shot connections send from
// OnConnect).
func (g *loadGen) start() {
	cfg := g.cfg
	g.trafficT0 = nowNs()
	if cfg.OneShot {
		return
	}
	switch {
	case cfg.Rate > 0:
		g.bg.Add(1)
		go func() { defer g.bg.Done(); g.pace(g.trafficT0) }()
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
		g.bg.Add(1)
		go func() { defer g.bg.Done(); g.heartbeats() }()
	}
}

// warmup is the warm-up phase: traffic runs, nothing is counted. It reports false if ctx
// ended.
func (g *loadGen) warmup(ctx context.Context) bool { return sleepCtx(ctx, g.cfg.Warmup) }

// window is the measured phase: the server is probed at its edges (BeforeWindow/AfterWindow)
// and this process's CPU read. It reports false if ctx ended it early (the window then covers
// what ran).
func (g *loadGen) window(ctx context.Context) bool {
	cfg := g.cfg
	if cfg.BeforeWindow != nil {
		cfg.BeforeWindow()
	}
	cpu0, cpuErr := selfCPU()
	n := int(cfg.Duration/SliceInterval) + 2
	for _, s := range g.shards {
		s.mu.Lock()
		s.slices = make([]slice, n)
		s.mu.Unlock()
	}
	g.windowWall = time.Now().UnixMilli()
	t0 := nowNs()
	g.winFrom.Store(t0)
	if cfg.DuringWindow != nil {
		g.bg.Add(1)
		go func() { defer g.bg.Done(); cfg.DuringWindow(func() { g.epoch.Store(nowNs()) }) }()
	}
	var ok bool
	if cfg.Progress != nil && cfg.Duration >= 5*time.Second {
		ok = g.progress(ctx, t0)
	} else {
		ok = sleepCtx(ctx, cfg.Duration)
	}
	g.winTo.Store(nowNs())
	cpu1, cpuErr1 := selfCPU()
	if cfg.AfterWindow != nil {
		cfg.AfterWindow()
	}
	if cpuErr == nil && cpuErr1 == nil {
		g.clientCPU = cpu1 - cpu0
	}
	return ok
}

// drain is the drain phase: stop sending and wait for the replies in flight, while they keep
// arriving (a saturated server still delivers its queue; a lost message never comes).
func (g *loadGen) drain(ctx context.Context) {
	g.stop.Store(true)
	close(g.bgStop)
	g.bg.Wait()
	start := time.Now()
	g.lastRecv.Store(nowNs())
	for g.outstanding() > 0 && ctx.Err() == nil && time.Since(start) < drainCap &&
		time.Duration(nowNs()-g.lastRecv.Load()) < g.cfg.Drain {
		time.Sleep(time.Millisecond)
	}
}

// collect is the collect phase: the counts are frozen (the shutdown's disconnects that follow
// are not losses) and the shards' histograms merged, slice by slice.
func (g *loadGen) collect() *LoadResult {
	cfg := g.cfg
	res := &LoadResult{Config: cfg, ClientCPU: g.clientCPU, Hist: newHist()}
	lost := g.outstanding()
	if !cfg.ExpectDisconnects {
		lost += g.deadLost.Load()
	}
	if from, to := g.winFrom.Load(), g.winTo.Load(); from != math.MaxInt64 && to != math.MaxInt64 {
		res.Window = time.Duration(to - from)
	}
	nSlices := 0
	if res.Window > 0 {
		nSlices = int((res.Window + SliceInterval - 1) / SliceInterval)
	}
	for i := range nSlices {
		from := time.Duration(i) * SliceInterval
		h := newHist()
		h.SetStartTimeMs(g.windowWall + from.Milliseconds())
		h.SetEndTimeMs(g.windowWall + min(from+SliceInterval, res.Window).Milliseconds())
		res.Intervals = append(res.Intervals, h)
		res.SliceMsgs = append(res.SliceMsgs, 0)
	}
	for _, s := range g.shards {
		s.mu.Lock()
		for i, sl := range s.slices {
			res.Msgs += sl.msgs
			if i < nSlices {
				res.SliceMsgs[i] += sl.msgs
				if sl.hist != nil {
					res.Intervals[i].Merge(sl.hist)
				}
			} else if sl.hist != nil {
				res.Hist.Merge(sl.hist) // a reply stamped at the very end of the window
			}
		}
		res.Bytes += s.bytes
		res.Heartbeats += s.heartbeats
		s.mu.Unlock()
	}
	for _, h := range res.Intervals {
		res.Hist.Merge(h)
	}
	res.Verify = results.Verify{
		Sent: g.sent.Load(), Received: g.recv.Load(), Lost: lost,
		Corrupt: g.corrupt.Load(), Reordered: g.reordered.Load(), Duplicated: g.dup.Load(),
	}
	g.h.closing.Store(true)
	res.Errors = g.errorsN.Load()
	res.Connected = g.connected.Load()
	res.PacerLag = time.Duration(g.pacerLag.Load())
	if p := g.firstErr.Load(); p != nil {
		res.FirstError = *p
	}
	return res
}

// sleepCtx sleeps d and reports true, or false as soon as ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
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

// progress sleeps through a long window, reporting the throughput every 5 s.
func (g *loadGen) progress(ctx context.Context, t0 int64) bool {
	tick := time.NewTicker(5 * time.Second)
	defer tick.Stop()
	end := time.NewTimer(g.cfg.Duration)
	defer end.Stop()
	for {
		select {
		case <-end.C:
			return true
		case <-ctx.Done():
			return false
		case <-tick.C:
			var n uint64
			for _, s := range g.shards {
				s.mu.Lock()
				for _, sl := range s.slices {
					n += sl.msgs
				}
				s.mu.Unlock()
			}
			el := time.Duration(nowNs() - t0)
			g.cfg.Progress(fmt.Sprintf("%v/%v: %.0f msgs/s", el.Round(time.Second), g.cfg.Duration, float64(n)/el.Seconds()))
		}
	}
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
