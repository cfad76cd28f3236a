package resultstest

import (
	"math"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/iobench/iobench/results"
)

// EqualLoadOptions shape a synthetic equal-load run (see EqualLoad).
type EqualLoadOptions struct {
	Seed  uint64
	Start time.Time // zero: 2026-12-02 09:00 UTC
	// SpeedIndex is the run's speed index (0: 100). Costs scale with 100/SpeedIndex and
	// capacities with SpeedIndex/100: a slower machine is slower at everything.
	SpeedIndex float64
	// Interrupted stops the run during the last round of the last ladder point: netstd's
	// repetition there is interrupted and netstd#aa's never ran.
	Interrupted bool
	// Flip swaps the broadcast CPU costs of epoll and uring: a run whose verdicts disagree.
	Flip bool
	// NoisyAA shifts the A/A twin's context switches in pingpong by +12 % with no overlap: the
	// A/A pair comes out significant, so that metric is too noisy for verdicts.
	NoisyAA bool
}

// LadderFractions are the offered rates of the fixture's ladders, as fractions of capacity.
var LadderFractions = []float64{0.2, 0.4, 0.6, 0.8}

// ladderProfile is one label's behaviour on one workload against load fraction f.
type ladderProfile struct {
	label, backend string
	cpu20, cpuExp  float64 // server CPU ns/msg at f = 0.2; cpu(f) = cpu20·(f/0.2)^-cpuExp (batching)
	sys20, sysExp  float64
	ctx20, ctxExp  float64
	p50            float64 // p50 latency at low load, ns
	p99x           float64 // p99 / p50 at low load
	capacity       float64 // closed-loop msgs/s
	clientBound    bool
	saturatesAt    float64 // fraction from which the label cannot sustain the rate (0: never)
	rss            float64 // bytes per connection
	latNoise       float64 // relative spread of its latency across repetitions (0: 1 = 3 %)
}

type ladderWorkload struct {
	scenario, proto    string
	conns, size, depth int
	capacity           float64 // common capacity (msgs/s), limited by LimitedBy
	limitedBy          string
	fanout             float64 // latency samples per offered message (broadcast: room size)
	window             time.Duration
	labels             []ladderProfile
}

func equalLoadWorkloads(flip bool) []ladderWorkload {
	aa := func(p ladderProfile) ladderProfile { p.label = p.backend + results.AASuffix; return p }
	pp := []ladderProfile{
		{label: "epoll", backend: "epoll", cpu20: 9100, cpuExp: 0.55, sys20: 2.3, sysExp: 0.25, ctx20: 0.9, ctxExp: 1.1, p50: 62e3, p99x: 3.0, capacity: 131000, clientBound: true, rss: 4300},
		{label: "uring", backend: "uring", cpu20: 9600, cpuExp: 0.7, sys20: 0.9, sysExp: 0.5, ctx20: 0.8, ctxExp: 1.2, p50: 60e3, p99x: 2.9, capacity: 138000, clientBound: true, rss: 5200},
		{label: "gnet", backend: "gnet", cpu20: 9900, cpuExp: 0.5, sys20: 2.4, sysExp: 0.2, ctx20: 1.0, ctxExp: 1.0, p50: 66e3, p99x: 3.4, capacity: 118000, rss: 4900},
		{label: "netstd", backend: "netstd", cpu20: 11800, cpuExp: 0.35, sys20: 3.1, sysExp: 0.15, ctx20: 1.4, ctxExp: 0.8, p50: 71e3, p99x: 4.2, capacity: 96000, rss: 9800},
	}
	bc := []ladderProfile{
		{label: "epoll", backend: "epoll", cpu20: 90e3, cpuExp: 1.1, sys20: 9.5, sysExp: 0.9, ctx20: 1.6, ctxExp: 1.3, p50: 180e3, p99x: 3.2, capacity: 52000, rss: 4400, latNoise: 0.3},
		{label: "uring", backend: "uring", cpu20: 95e3, cpuExp: 1.25, sys20: 3.2, sysExp: 1.0, ctx20: 1.5, ctxExp: 1.4, p50: 176e3, p99x: 3.1, capacity: 55000, rss: 5300, latNoise: 0.3},
		{label: "gnet", backend: "gnet", cpu20: 92e3, cpuExp: 0.95, sys20: 9.8, sysExp: 0.85, ctx20: 1.8, ctxExp: 1.1, p50: 190e3, p99x: 3.6, capacity: 47000, saturatesAt: 0.8, rss: 5000},
		{label: "netstd", backend: "netstd", cpu20: 80e3, cpuExp: 0.6, sys20: 12.5, sysExp: 0.6, ctx20: 2.6, ctxExp: 0.7, p50: 205e3, p99x: 4.4, capacity: 41000, rss: 9900, latNoise: 2.5},
	}
	if flip {
		bc[0].cpu20, bc[0].cpuExp, bc[1].cpu20, bc[1].cpuExp = bc[1].cpu20, bc[1].cpuExp, bc[0].cpu20, bc[0].cpuExp
	}
	pp = append(pp, aa(pp[3]))
	bc = append(bc, aa(bc[3]))
	return []ladderWorkload{
		{scenario: results.ScenarioPingPong, proto: "echo", conns: 100, size: 64, depth: 1, capacity: 90000,
			limitedBy: "netstd", fanout: 1, window: 2 * time.Second, labels: pp},
		{scenario: results.ScenarioBroadcast, proto: "framed", conns: 64, size: 64, depth: 1, capacity: 40000,
			limitedBy: "netstd", fanout: 8, window: 1200 * time.Millisecond, labels: bc},
	}
}

// EqualLoad builds a SYNTHETIC run as `iobench run` writes it with equal-load ladders: for
// pingpong and broadcast, a common capacity, every label (epoll, uring, gnet, netstd and the
// A/A twin netstd#aa) open loop at 20/40/60/80 % of it, 8 interleaved repetitions each with
// latency CIs and sample counts, and each label's closed-loop capacity result. Built in: gnet
// saturates broadcast at 80 %; netstd's broadcast CPU per message crosses epoll's between 20
// and 40 %; uring at broadcast 60 % is not steady in one repetition; round 3 (index 2) drifted;
// the A/A twin's repetitions interleave in rank with its base (an A/A pair that holds).
func EqualLoad(o EqualLoadOptions) *results.Run {
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	}
	if o.SpeedIndex == 0 {
		o.SpeedIndex = 100
	}
	slow := 100 / o.SpeedIndex
	g := &eqGen{rng: rand.New(rand.NewPCG(o.Seed+11, 7)), slow: slow}
	const reps = 8
	const drifted = 2
	run := &results.Run{
		SchemaVersion: results.SchemaVersion,
		Started:       o.Start,
		Finished:      o.Start.Add(4 * time.Minute),
		Suite:         "quick",
		Interrupted:   o.Interrupted,
		Env: results.Env{OS: "linux", Arch: "amd64", Kernel: "6.18.0-1-amd64",
			CPUModel: "AMD EPYC 7B13", Cores: 2, GoVersion: "go1.26.8", GOMAXPROCS: 1, Loops: 1,
			Pinning:       results.Pinning{ServerCPUs: []int{0}, ClientCPUs: []int{1}},
			IobenchCommit: "fixture", Hostname: "bench-linux", Notes: FixtureNote},
	}
	sp := &results.Speed{}
	var idx []float64
	for k := 0; k < reps; k++ {
		c := results.Calibration{Round: k,
			CPULoopNsBefore: math.Round(g.jit(50e6*slow, 0.01)), PingPongNsBefore: math.Round(g.jit(24e3*slow, 0.02))}
		c.CPULoopNsAfter = math.Round(g.jit(c.CPULoopNsBefore, 0.01))
		c.PingPongNsAfter = math.Round(g.jit(c.PingPongNsBefore, 0.02))
		if k == drifted {
			c.PingPongNsAfter = math.Round(c.PingPongNsBefore * 1.14)
		}
		c.Drift = math.Max(math.Abs(c.CPULoopNsAfter-c.CPULoopNsBefore)/c.CPULoopNsBefore,
			math.Abs(c.PingPongNsAfter-c.PingPongNsBefore)/c.PingPongNsBefore)
		c.Drifted = c.Drift > 0.10
		c.Index = math.Round(100*o.SpeedIndex*2*50e6*slow/(c.CPULoopNsBefore+c.CPULoopNsAfter)) / 100
		idx = append(idx, c.Index)
		sp.Rounds = append(sp.Rounds, c)
	}
	sp.Index = results.Median(idx)
	run.Speed = sp

	wls := equalLoadWorkloads(o.Flip)
	for wi, w := range wls {
		base := results.Result{ClientBackend: "netstd", Scenario: w.scenario, Proto: w.proto,
			Conns: w.conns, Size: w.size, Depth: w.depth}
		capacity := math.Round(w.capacity / slow)
		probe := map[string]float64{}
		for _, p := range w.labels {
			probe[p.label] = math.Round(g.jit(math.Min(p.capacity/slow, capacity*1.4), 0.02))
		}
		probe[w.limitedBy] = capacity
		run.Capacities = append(run.Capacities, results.Capacity{
			Workload:   results.Key{Scenario: w.scenario, Proto: w.proto, Mode: results.ModeOpen, Conns: w.conns, Size: w.size, Depth: w.depth}.String(),
			MsgsPerSec: capacity, LimitedBy: w.limitedBy, PerBackend: probe,
			Fractions: append([]float64(nil), LadderFractions...)})
		// The closed-loop capacity results (run first, before the ladder).
		for _, p := range w.labels {
			r := base
			r.Backend, r.Label, r.Mode, r.Capacity = p.backend, p.label, results.ModeClosed, true
			for k := 0; k < reps; k++ {
				mps := g.jit(p.capacity/slow, 0.015)
				f := g.figures(p, w, mps, 1, 1, 1)
				setLatency(&f, float64(w.conns)/mps*1e9*0.9, p.p99x*0.8, uint64(mps*w.window.Seconds()*w.fanout))
				f.Bottleneck = results.BottleneckServer
				if p.clientBound {
					f.Bottleneck = results.BottleneckClient
				}
				r.Repetitions = append(r.Repetitions, g.rep(k, drifted, f))
			}
			results.Summarize(&r)
			run.Results = append(run.Results, r)
		}
		for fi, frac := range LadderFractions {
			rate := math.Round(capacity * frac)
			last := o.Interrupted && wi == len(wls)-1 && fi == len(LadderFractions)-1
			// Noise per (metric, label, repetition); the A/A twin's draws interleave in rank
			// with its base's, as an A/A pair of one backend should.
			noise := map[string]map[string][]float64{}
			for _, m := range []string{"mps", "cpu", "sys", "ctx", "p50", "p99", "p999"} {
				noise[m] = g.noise(w.labels, reps)
			}
			if o.NoisyAA && w.scenario == results.ScenarioPingPong {
				g.separate(noise["ctx"], w.labels, reps)
			}
			for _, p := range w.labels {
				r := base
				r.Backend, r.Label, r.Mode, r.Rate, r.LoadFraction = p.backend, p.label, results.ModeOpen, rate, frac
				for k := 0; k < reps; k++ {
					if last && k == reps-1 && p.label == w.limitedBy+results.AASuffix {
						break // never ran: the run was stopped during netstd's repetition
					}
					n := func(m string) float64 { return noise[m][p.label][k] }
					sat := p.saturatesAt > 0 && frac >= p.saturatesAt && k != 3
					achieved := rate * (1 + 0.002*n("mps"))
					if sat {
						achieved = rate * (0.88 + 0.02*n("mps"))
					}
					cpuScale := math.Pow(frac/0.2, -p.cpuExp) * (1 + 0.01*n("cpu"))
					sysScale := math.Pow(frac/0.2, -p.sysExp) * (1 + 0.005*n("sys"))
					ctxScale := math.Pow(frac/0.2, -p.ctxExp) * (1 + 0.02*n("ctx"))
					f := g.figures(p, w, achieved, cpuScale, sysScale, ctxScale)
					q := frac / (1 - frac)
					ln := p.latNoise
					if ln == 0 {
						ln = 1
					}
					p50 := p.p50 * slow * (1 + 0.5*q) * (1 + 0.03*ln*n("p50"))
					tail := p.p99x * (1 + 0.35*q) * (1 + 0.04*ln*n("p99")) / (1 + 0.03*ln*n("p50"))
					if sat {
						p50, tail = p50*5, tail*1.6 // queues grow: the window's latency explodes
					}
					samples := uint64(achieved * w.window.Seconds() * w.fanout)
					setLatency(&f, p50, tail, samples)
					f.Saturated = sat
					f.Steady = steady(g, p.label == "uring" && w.scenario == results.ScenarioBroadcast && frac == 0.6 && k == 1)
					rep := g.rep(k, drifted, f)
					if last && k == reps-1 && p.label == w.limitedBy {
						rep.Interrupted = true
						rep.Verify.Received -= 100
						rep.Verify.Lost = 100 // in flight at the signal: not a loss
					}
					r.Repetitions = append(r.Repetitions, rep)
				}
				results.Summarize(&r)
				run.Results = append(run.Results, r)
			}
		}
	}
	return run
}

type eqGen struct {
	rng  *rand.Rand
	slow float64
}

func (g *eqGen) jit(v, sd float64) float64 { return v * (1 + sd*g.rng.NormFloat64()) }

// noise draws standard normal factors per label and repetition; an A/A twin and its base get
// one sorted draw of 2·reps values dealt alternately, then shuffled within each.
func (g *eqGen) noise(ls []ladderProfile, reps int) map[string][]float64 {
	out := map[string][]float64{}
	for _, p := range ls {
		if results.AATwinOf(p.label) != "" {
			continue
		}
		xs := make([]float64, reps)
		for i := range xs {
			xs[i] = g.rng.NormFloat64()
		}
		out[p.label] = xs
	}
	for _, p := range ls {
		b := results.AATwinOf(p.label)
		if b == "" {
			continue
		}
		pool := make([]float64, 2*reps)
		for i := range pool {
			pool[i] = g.rng.NormFloat64()
		}
		sort.Float64s(pool)
		var x, y []float64
		for i, v := range pool {
			if i%2 == 0 {
				x = append(x, v)
			} else {
				y = append(y, v)
			}
		}
		g.rng.Shuffle(len(x), func(i, j int) { x[i], x[j] = x[j], x[i] })
		g.rng.Shuffle(len(y), func(i, j int) { y[i], y[j] = y[j], y[i] })
		out[b], out[p.label] = x, y
	}
	return out
}

// separate pushes every A/A twin's draws 3 sd above its base's (a noisy A/A pair).
func (g *eqGen) separate(noise map[string][]float64, ls []ladderProfile, reps int) {
	for _, p := range ls {
		if b := results.AATwinOf(p.label); b != "" {
			for k := 0; k < reps; k++ {
				noise[p.label][k] = noise[b][k] + 3 + 0.2*float64(k)
			}
		}
	}
}

// figures are one repetition's numbers at mps msgs/s, each cost scaled from the profile.
func (g *eqGen) figures(p ladderProfile, w ladderWorkload, mps, cpu, sys, ctx float64) results.Figures {
	dur := w.window
	f := results.Figures{
		DurationNs: int64(dur),
		MsgsPerSec: results.Val(math.Round(mps)),
		MBPerSec:   results.Val(mps * float64(w.size) / 1e6),
		Server: &results.ServerMetrics{
			CPUNsPerMsg:       results.Val(math.Round(p.cpu20 * g.slow * cpu)),
			SyscallsPerMsg:    results.Val(p.sys20 * sys),
			CtxSwitchesPerMsg: results.Val(p.ctx20 * ctx),
			RSSBytes:          results.Val(math.Round(12e6 + p.rss*float64(w.conns))),
			RSSBytesPerConn:   results.Val(math.Round(g.jit(p.rss, 0.02))),
			GCCycles:          results.Val(0),
			GCPauseNs:         results.Val(0),
		},
		Client:     &results.ClientMetrics{CPUNsPerMsg: results.Val(math.Round(g.jit(2300*g.slow, 0.02)))},
		Bottleneck: results.BottleneckUnknown,
		Errors:     results.Val(0),
	}
	if p.backend == "gnet" || p.backend == "netstd" {
		f.Server.GCCycles = results.Val(math.Round(g.jit(12*dur.Seconds(), 0.1)))
		f.Server.GCPauseNs = results.Val(math.Round(g.jit(0.9e6*dur.Seconds(), 0.1)))
	}
	sent := uint64(mps * dur.Seconds())
	f.Verify = &results.Verify{Sent: sent, Received: sent * uint64(w.fanout)}
	return f
}

// setLatency sets the percentiles from p50 and the p99/p50 ratio, the window's n samples, and
// each percentile's distribution-free 95 % CI as such a window would give it (none when fewer
// than MinTailSamples lie beyond it).
func setLatency(f *results.Figures, p50, p99x float64, n uint64) {
	f.LatencySamples = n
	f.Latency = &results.Latency{P50: results.Val(math.Round(p50)), P90: results.Val(math.Round(p50 * (1 + (p99x-1)*0.45))),
		P99: results.Val(math.Round(p50 * p99x)), P999: results.Val(math.Round(p50 * p99x * 2.1)),
		Max: results.Val(math.Round(p50 * p99x * 4.5))}
	f.LatencyCI = &results.LatencyCI{P50: ci(f.Latency.P50, 0.5, n), P99: ci(f.Latency.P99, 0.99, n),
		P999: ci(f.Latency.P999, 0.999, n)}
}

// ci is the CI of quantile p at value v among n samples, or nil when too few lie beyond it.
func ci(v *float64, p float64, n uint64) *[2]float64 {
	if v == nil || results.Beyond(n, p) < results.MinTailSamples {
		return nil
	}
	h := 1.96 * math.Sqrt(p/(float64(n)*(1-p))) / -math.Log(1-p)
	return &[2]float64{math.Round(*v * (1 - h)), math.Round(*v * (1 + 1.25*h))}
}

func (g *eqGen) rep(k, drifted int, f results.Figures) results.Rep {
	return results.Rep{Index: k, Figures: f, Round: k, SpeedDrifted: k == drifted}
}

func steady(g *eqGen, trend bool) *results.Steady {
	s := &results.Steady{OK: true, Slices: 12, WarmupNs: int64(300 * time.Millisecond),
		ThroughputRho: math.Round(100*0.3*g.rng.NormFloat64()) / 100, ThroughputP: 0.2 + 0.7*g.rng.Float64(),
		LatencyRho: math.Round(100*0.3*g.rng.NormFloat64()) / 100, LatencyP: 0.2 + 0.7*g.rng.Float64()}
	if trend {
		s.OK, s.ThroughputRho, s.ThroughputP = false, -0.79, 0.0023
		s.WarmupNs, s.WarmupLengthened = int64(600*time.Millisecond), true
	}
	return s
}

// EqualLoadFixture is the committed equal-load fixture (plots/testdata/fixtures/equal-load):
// interrupted in its last round, with the pingpong context switches of its A/A pair too
// noisy for verdicts.
func EqualLoadFixture() *results.Run {
	return EqualLoad(EqualLoadOptions{Interrupted: true, NoisyAA: true})
}
