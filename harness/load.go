package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
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
// Open loop (Rate): one pacer schedules the sends of the whole load independently of replies
// (see pacer), and latency is measured from each message's intended time. A pacer that wakes
// late sends every overdue message at once with its own intended time, so a server stall (or
// a late pacer) shows up in the tail instead of being hidden by the client waiting politely
// (coordinated omission).
//
// A load runs as phases, each its own function (loadgen.go): connect (every connection up
// within ConnectTimeout), start (the traffic: pacer, closed-loop window of Depth, heartbeats),
// warm-up, window (the measured interval, cut into SliceInterval slices), drain (stop sending,
// wait for what is in flight) and collect (freeze the counts, merge the histograms). Every
// phase stops when ctx ends.

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

// LoadConfig is one load: where, what, how much, for how long. It can also describe one shard
// of a larger load run by several processes or hosts (SrcBase, StartAt): each shard opens its
// own connections at its own share of the rate, and their results merge exactly
// (LoadResult.Merge).
type LoadConfig struct {
	Target string     // HOST:PORT
	Proto  proto.Name // echo, framed, sockperf
	// Broadcast sends framed TypeBroadcast messages to a `serve --proto broadcast --room Room`
	// server: every message comes back from each of the Room members, in per-source order.
	// Its latency is send to each delivery (the sender's own copy included), so a message
	// gives Room samples.
	Broadcast bool
	Room      int
	// JoinCheck (broadcast) probes the rooms before the traffic starts, until every
	// connection receives one probe from each member of its room, all sent in one round
	// (joinRooms). A load that cannot ask the server whether its app has every session
	// (BeforeTraffic: the harness's wait) needs it: the server joins a session to its room in
	// OnConnect, which may run after its room-mates' first messages (netstd runs it in the
	// session's goroutine), and the member would miss them: a loss the verification reports.
	JoinCheck bool
	Conns     int
	Size      int     // bytes per message on the wire
	Depth     int     // closed loop: messages in flight per connection
	Rate      float64 // open loop: total msgs/s over all active connections (0 = closed loop)
	// Burst (open loop) is the number of messages each pacer event sends back to back on one
	// connection (default 1): a client that sends several packets per tick. Events come every
	// Burst/Rate seconds, so the offered rate stays Rate.
	Burst int

	// ConnectTimeout bounds the whole connect phase: every connection up (default 10 s).
	ConnectTimeout time.Duration

	Warmup   time.Duration
	Duration time.Duration
	// Drain bounds the wait for replies in flight after the window: it ends when nothing is
	// owed, when no reply has arrived for Drain (default 5 s), or after drainCap in all.
	Drain time.Duration

	// SrcBase is the source number of the first connection (sequence streams are per source,
	// so the shards of one broadcast load need disjoint ranges). StartAt, when set, is the
	// wall-clock instant the traffic starts (after connecting): shards started at one instant
	// pace one schedule and measure the same window.
	SrcBase uint32
	StartAt time.Time

	// IdleConns of Conns are RoleIdle (framed only), sending a heartbeat every Heartbeat.
	IdleConns int
	Heartbeat time.Duration
	// IdleDriver runs the load on the heartbeat driver (heartbeat.go: every connection idle,
	// epoll workers and a timer ring, no goroutine per connection; Linux) instead of a client
	// backend. SrcPerAddr is its connections per source address (0: half the ephemeral port
	// range); ServerSessions, when set, reports the server's sessions so that connecting
	// keeps at most ConnectWindow connections ahead of what the server accepted.
	// ScheduleConns is the connections of the whole load when this one is a share of it (0:
	// Conns): share connection j is the load's connection SrcBase+j, and the heartbeats of
	// all shares are spread over the period as one schedule.
	IdleDriver     bool
	SrcPerAddr     int
	ServerSessions func() (int, error)
	ConnectWindow  int
	ScheduleConns  int
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

// DefaultConnectTimeout bounds a load's connect phase when LoadConfig.ConnectTimeout is 0.
const DefaultConnectTimeout = 10 * time.Second

// SliceInterval is the length of the slices a window is cut into: the latency timeline, the
// HDR interval log and the steady-state test use them.
const SliceInterval = 100 * time.Millisecond

// TimelineInterval is the length of the latency timeline's intervals: the slices.
const TimelineInterval = SliceInterval

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
	// Intervals are the window's latency histograms per SliceInterval (the last one may be
	// shorter), with StartTimeMs/EndTimeMs set (wall clock); SliceMsgs the messages completed
	// in each (the same slices). Hist is the whole window's: the merge of Intervals.
	Intervals []*hdrhistogram.Histogram
	SliceMsgs []uint64
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
	// Heartbeat driver only (LoadConfig.IdleDriver): the window's heartbeat account, the time
	// from the first connect until the server had every session (BeforeTraffic returned) and
	// the source addresses the connections came from.
	HB          *results.Heartbeats
	ConnectTime time.Duration
	SourceAddrs int
	// Shares are the load agents' parts of a load RemoteLoads ran (nil for a local load).
	Shares []results.AgentShare
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

// Merge adds o, another shard of the same load (same workload, windows started at one
// instant), into r. Counts and verification counts add, histograms merge exactly (HDR counts
// add, so percentiles of the merge are those of all the samples), slices merge by index, the
// window and the pacer lag are the larger, client CPU adds (unknown if either is), and r's
// first error is kept before o's. A broadcast load whose rooms span shards delivers one
// shard's messages to the others, so its loss is only known over the merge: Lost becomes
// Sent × Room − Received.
func (r *LoadResult) Merge(o *LoadResult) {
	r.Window = max(r.Window, o.Window)
	r.Msgs += o.Msgs
	r.Bytes += o.Bytes
	r.Heartbeats += o.Heartbeats
	r.Errors += o.Errors
	r.Connected += o.Connected
	v := &r.Verify
	v.Sent += o.Verify.Sent
	v.Received += o.Verify.Received
	v.Lost += o.Verify.Lost
	v.Corrupt += o.Verify.Corrupt
	v.Reordered += o.Verify.Reordered
	v.Duplicated += o.Verify.Duplicated
	if r.ClientCPU < 0 || o.ClientCPU < 0 {
		r.ClientCPU = -1
	} else {
		r.ClientCPU += o.ClientCPU
	}
	if r.Config.Broadcast && r.Config.Room > 0 {
		v.Lost = 0
		if want := v.Sent * uint64(r.Config.Room); v.Received < want {
			v.Lost = want - v.Received
		}
	}
	r.PacerLag = max(r.PacerLag, o.PacerLag)
	r.mergeIdle(o)
	if r.FirstError == "" {
		r.FirstError = o.FirstError
	}
	if r.Hist == nil {
		r.Hist = newHist()
	}
	if o.Hist != nil {
		r.Hist.Merge(o.Hist)
	}
	for i, h := range o.Intervals {
		if i == len(r.Intervals) {
			c := newHist()
			c.SetStartTimeMs(h.StartTimeMs())
			c.SetEndTimeMs(h.EndTimeMs())
			r.Intervals = append(r.Intervals, c)
		}
		r.Intervals[i].Merge(h)
	}
	for i, n := range o.SliceMsgs {
		if i == len(r.SliceMsgs) {
			r.SliceMsgs = append(r.SliceMsgs, 0)
		}
		r.SliceMsgs[i] += n
	}
}

// SliceSeries returns the window's slices as the steady-state test reads them: messages per
// second and p99 latency (NaN for a slice without a latency sample) of each full slice; a
// last slice shorter than half a slice is left out.
func (r *LoadResult) SliceSeries() (throughput, p99 []float64) {
	for i, n := range r.SliceMsgs {
		from := time.Duration(i) * SliceInterval
		d := min(SliceInterval, r.Window-from)
		if d < SliceInterval/2 {
			break
		}
		throughput = append(throughput, float64(n)/d.Seconds())
		v := math.NaN()
		if i < len(r.Intervals) && r.Intervals[i].TotalCount() > 0 {
			v = float64(r.Intervals[i].ValueAtQuantile(99))
		}
		p99 = append(p99, v)
	}
	return throughput, p99
}

// Figures converts the load's own measurements into a results.Figures (server probes not
// included): throughput, latency percentiles with their confidence intervals and sample
// count, client CPU, errors, verification.
func (r *LoadResult) Figures() results.Figures {
	f := results.Figures{DurationNs: int64(r.Window)}
	v := r.Verify
	f.Verify = &v
	if r.Window > 0 {
		f.MsgsPerSec = results.Val(r.MsgsPerSec())
		f.MBPerSec = results.Val(float64(r.Bytes) / 1e6 / r.Window.Seconds())
	}
	if r.Hist != nil && r.Hist.TotalCount() > 0 {
		q := func(p float64) *float64 { return results.Val(float64(r.Hist.ValueAtQuantile(p))) }
		f.Latency = &results.Latency{P50: q(50), P90: q(90), P99: q(99), P999: q(99.9),
			Max: results.Val(float64(r.Hist.Max()))}
		f.LatencyCI, f.LatencySamples = results.LatencyCIOf(r.Hist)
	}
	if r.ClientCPU >= 0 && r.Msgs > 0 {
		f.Client = &results.ClientMetrics{CPUNsPerMsg: results.Val(float64(r.ClientCPU) / float64(r.Msgs+r.Heartbeats))}
	} else {
		f.Client = &results.ClientMetrics{}
	}
	f.Errors = results.Val(float64(r.Errors))
	f.Agents = r.Shares
	if r.PacerLag > time.Millisecond {
		f.Note = fmt.Sprintf("open-loop pacer fell behind by up to %v (load generator starved): part of the latency tail is the client's", r.PacerLag.Round(time.Microsecond))
	}
	return f
}

// Validate checks and completes c.
func (c *LoadConfig) Validate() error {
	if c.IdleDriver {
		return c.validateIdleDriver()
	}
	if c.Target == "" {
		return errors.New("no --target HOST:PORT")
	}
	if c.Proto == protoCrypto {
		if c.OneShot || c.IdleConns > 0 || c.Broadcast {
			return errors.New("the crypto protocol drives fixed connections only (no churn, idle or broadcast)")
		}
	} else if _, err := proto.Parse(string(c.Proto)); err != nil {
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
	if c.Size < loadMinSize(c.Proto) || c.Size > proto.MaxMessageSize {
		return fmt.Errorf("--size %d out of range [%d, %d] for %s", c.Size, loadMinSize(c.Proto), proto.MaxMessageSize, c.Proto)
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
	if c.Burst < 0 {
		return fmt.Errorf("--burst %d must not be negative", c.Burst)
	}
	if c.Burst == 0 {
		c.Burst = 1
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
	if c.Drain < 0 {
		return fmt.Errorf("drain %v must not be negative", c.Drain)
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

// Load runs one load against cfg.Target and returns what it measured. A verification failure
// is not an error here (see LoadResult.OK); errors are setup failures (no connection, bad
// config) and ctx's end: a load stopped by ctx after its traffic started returns what it
// measured so far with ctx's error.
func Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.IdleDriver {
		return loadIdle(ctx, cfg)
	}
	g, err := newLoadGen(cfg)
	if err != nil {
		return nil, err
	}
	defer g.close()
	if err := g.connect(ctx); err != nil {
		return nil, err
	}
	if cfg.BeforeTraffic != nil {
		if err := cfg.BeforeTraffic(); err != nil {
			return nil, err
		}
	}
	if cfg.JoinCheck && cfg.Broadcast {
		if err := g.joinRooms(ctx); err != nil {
			return nil, err
		}
	}
	if err := g.waitStart(ctx); err != nil {
		return nil, err
	}
	g.start()
	ok := g.warmup(ctx) && g.window(ctx)
	g.drain(ctx)
	res := g.collect()
	if !ok {
		return res, ctx.Err()
	}
	return res, nil
}
