package harness

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/results"
)

// runner holds what every measurement of a run shares, and its progress.
type runner struct {
	cfg         RunConfig
	exe         string
	env         *results.Env
	stderr      io.Writer
	labels      []label
	servers     ServerHost
	loads       LoadHost
	serverCPUs  []int
	clientCPUs  []int
	serverProcs int // GOMAXPROCS given to servers (0 = runtime default)
	pinNote     string
	loops       int       // as reported by the servers
	scale       *scaleRun // the scale suite's limits (scale.go)

	step, total, done, interrupted int
	failures                       []string
	calibrations                   []results.Calibration
	round                          int                          // the next round's number (Calibration.Round, Rep.Round)
	logN                           int                          // logging servers started (their log files)
	logSeen                        map[Server]results.LogCounts // a logging server's log counters after its last load
}

func (r *runner) reps(w Workload) int {
	if w.Reps > 0 {
		return w.Reps
	}
	return r.cfg.Reps
}

// capacityReps is the number of rounds of a ladder workload's capacity probe.
func (r *runner) capacityReps(w Workload) int {
	n := SuiteCapacityReps[r.cfg.Suite]
	if n == 0 {
		n = 2
	}
	return min(n, r.reps(w))
}

// planned is the number of repetitions w will take (for the progress count).
func (r *runner) planned(w Workload) int {
	n := len(r.labels)
	if w.Scenario == results.ScenarioSoak {
		return 2 * n // the capacity probe and the soak
	}
	if w.Plain != "" {
		n *= 2 // every label runs the variant and its plain counterpart
	}
	if !w.Ladder {
		return r.reps(w) * n
	}
	return r.capacityReps(w)*n + 1 + r.reps(w)*n*len(r.cfg.Ladder)
}

func (r *runner) failed() []string { return r.failures }

// speedProbe runs the machine-speed probes (a test may replace them: RunConfig.speedProbe).
func (r *runner) speedProbe() (cpuNs, pingPongNs float64, err error) {
	if r.cfg.speedProbe != nil {
		return r.cfg.speedProbe()
	}
	return speedProbe()
}

// override applies the run's --duration, --warmup and --slo to w.
func (r *runner) override(w Workload) Workload {
	if r.cfg.Duration > 0 {
		w.Duration = r.cfg.Duration
		w.ProbeDuration = r.cfg.Duration
		w.MaxDuration = max(w.MaxDuration, r.cfg.Duration)
	}
	if r.cfg.Warmup > 0 || r.cfg.WarmupSet {
		w.Warmup = r.cfg.Warmup
		w.MaxWarmup = max(w.MaxWarmup, r.cfg.Warmup)
	}
	if r.cfg.SLO > 0 {
		w.SLO = r.cfg.SLO
	}
	if r.cfg.Rate > 0 && w.Rate > 0 {
		w.Rate = r.cfg.Rate
	}
	return w
}

// pin splits the CPUs this process may use: the first half for the server, the rest for the
// load generator (on 2 cores: server CPU 0, client CPU 1), pins this process (the load
// generator) and sets its GOMAXPROCS to its share. Servers are pinned as they start. It
// returns a function restoring the previous affinity and GOMAXPROCS.
func (r *runner) pin() func() {
	r.serverProcs = r.cfg.GOMAXPROCS
	cpus := allowedCPUs()
	noop := func() {}
	switch {
	case r.cfg.NoPin:
		r.pinNote = "not pinned (--no-pin): server and load generator share every CPU; bottleneck verdicts are against all CPUs"
		return noop
	case len(cpus) < 2:
		r.pinNote = fmt.Sprintf("not pinned: %d CPU(s) available, need 2", len(cpus))
		return noop
	}
	half := len(cpus) / 2
	server, client := cpus[:half], cpus[half:]
	if err := pinProcess(0, client); err != nil {
		r.pinNote = "not pinned: " + err.Error()
		return noop
	}
	r.serverCPUs, r.clientCPUs = server, client
	r.env.Pinning = results.Pinning{ServerCPUs: server, ClientCPUs: client}
	if r.serverProcs == 0 {
		r.serverProcs = len(server)
	}
	// One P more than the load generator's CPUs (its threads still run only on them): the
	// client engine's loops (LoadConfig.Loops = len(client)) can hold a P for a whole
	// scheduling quantum (Go preempts a running goroutine after 10 ms), and with no spare P
	// the open-loop pacer and its timers wait behind them, so messages go out late and the
	// latency measured from their intended send time is the client's. Measured 2026-12-02,
	// gnet client pinned to one CPU at 35 000 msgs/s against epoll: p99 14.4–15.1 ms with
	// GOMAXPROCS 1, 1.0–1.5 ms with 2.
	prev := runtime.GOMAXPROCS(len(client) + 1)
	return func() {
		pinProcess(0, cpus)
		runtime.GOMAXPROCS(prev)
	}
}

// cores returns the core share of the server and of the client for utilisation.
func (r *runner) cores() (server, client float64) {
	if s, c, ok := r.remoteCores(); ok {
		return s, c
	}
	if len(r.serverCPUs) > 0 {
		return float64(len(r.serverCPUs)), float64(len(r.clientCPUs))
	}
	n := float64(runtime.NumCPU())
	return n, n
}

// newResult is the empty result of label l on workload w: its own load (cell zero), its
// closed-loop capacity or a point of its ladder.
func (r *runner) newResult(l label, w Workload, c ...cell) *results.Result {
	res := &results.Result{Backend: l.Backend, Label: l.Name, ClientBackend: r.cfg.ClientBackend,
		Scenario: w.Scenario, Proto: w.App, Conns: w.Conns, Size: w.Size, Depth: w.Depth, Rate: w.Rate,
		Mode: w.Mode()}
	if len(c) > 0 {
		switch {
		case c[0].capacity:
			res.Capacity, res.Rate, res.Mode = true, 0, results.ModeClosed
		case c[0].fraction > 0:
			res.Rate, res.LoadFraction, res.Mode = c[0].rate, c[0].fraction, results.ModeOpen
		}
	}
	if b, err := models.Lookup(l.Backend); err == nil {
		res.BackendNote = b.Note
	}
	return res
}

// serveArgs are the `serve` flags of w (every backend alike).
func (r *runner) serveArgs(w Workload) []string {
	a := []string{"--proto", w.App, "--loops", itoa(r.cfg.Loops), "--gomaxprocs", itoa(r.serverProcs)}
	if w.Room > 0 {
		a = append(a, "--room", itoa(w.Room))
	}
	a = append(a, r.logArgs(w)...)
	if w.Conns > models.DefaultPoolSize {
		a = append(a, "--pool", itoa(w.Conns))
	}
	if w.Size+64 > models.DefaultRecvBufferSize {
		rb := 2 * w.Size
		a = append(a, "--recv-buffer", itoa(rb), "--max-frame", itoa(rb))
	}
	return append(a, w.ServeArgs...)
}

// runWorkload measures w on every label: as it is (one cell), or, for a workload compared at
// equal offered load, its capacity probe (the closed-loop capacity results) and then its
// ladder. It returns the results and the workload's common capacity (nil off the ladder).
func (r *runner) runWorkload(ctx context.Context, w Workload) ([]results.Result, *results.Capacity) {
	w = r.override(w)
	if w.Scenario == results.ScenarioSoak {
		return r.runSoak(ctx, w)
	}
	if w.Plain != "" {
		defer r.pairLabels(w)()
	}
	if !w.Ladder {
		return r.rounds(ctx, w, []cell{{rate: w.Rate}}, r.reps(w)), nil
	}
	probe := w
	if w.ProbeDuration > 0 {
		probe.Duration = w.ProbeDuration
	}
	capRes := r.rounds(ctx, probe, []cell{{capacity: true}}, r.capacityReps(w))
	if ctx.Err() != nil {
		return capRes, nil
	}
	per := map[string]float64{}
	strongest, best := "", 0.0
	for i := range capRes {
		v := countedMedian(&capRes[i], results.MetricMsgsPerSec)
		if v > 0 {
			per[capKey(&capRes[i])] = v
			if v > best {
				strongest, best = capKey(&capRes[i]), v
			}
		}
	}
	c0, _, err := results.CommonCapacity(per, 0)
	if err != nil {
		r.failures = append(r.failures, fmt.Sprintf("%s: no equal-load ladder: %v", w.Name(), err))
		return capRes, nil
	}
	// Can the load generator offer c0 open loop? Ask it against the label with the most
	// headroom; if it cannot, its sustained rate is the limit.
	client := 0.0
	if achieved, ok := r.clientProbe(ctx, probe, strongest, c0); ok && achieved < results.SustainShare*c0 {
		client = achieved
		per[results.LimitedByClient] = achieved
	}
	capacity, by, _ := results.CommonCapacity(per, client)
	rates, err := results.LadderRates(capacity, r.cfg.Ladder)
	if err != nil {
		r.failures = append(r.failures, fmt.Sprintf("%s: no equal-load ladder: %v", w.Name(), err))
		return capRes, nil
	}
	cells := make([]cell, len(rates))
	for i := range rates {
		cells[i] = cell{rate: rates[i], fraction: r.cfg.Ladder[i]}
	}
	fmt.Fprintf(r.stderr, "  %s: common capacity %.0f msgs/s (limited by %s); ladder %v msgs/s\n", w.Name(), capacity, by, rates)
	cp := &results.Capacity{
		Workload: results.Key{Scenario: w.Scenario, Proto: w.App, Mode: results.ModeOpen, Conns: w.Conns,
			Size: w.Size, Depth: w.Depth}.String(),
		MsgsPerSec: capacity, LimitedBy: by, PerBackend: per, Fractions: append([]float64(nil), r.cfg.Ladder...)}
	return append(capRes, r.rounds(ctx, w, cells, r.reps(w))...), cp
}

// countedMedian is the median of metric m over r's repetitions that count (no error, not
// interrupted); 0 without any.
func countedMedian(r *results.Result, m results.Metric) float64 {
	var xs []float64
	for i := range r.Repetitions {
		rep := &r.Repetitions[i]
		if rep.Error != "" || rep.Interrupted {
			continue
		}
		if v := m.Get(&rep.Figures); v != nil {
			xs = append(xs, *v)
		}
	}
	if len(xs) == 0 {
		return 0
	}
	return results.Median(xs)
}

// clientProbe offers rate open loop to a fresh server of label name for a probe window and
// returns the rate achieved.
func (r *runner) clientProbe(ctx context.Context, w Workload, name string, rate float64) (float64, bool) {
	var l label
	for _, x := range r.labels {
		if x.key() == name {
			l = x
		}
	}
	w = l.workload(w)
	r.step++
	t0 := time.Now()
	srv, err := r.servers.Start(ctx, ServerSpec{Backend: l.Backend, Args: r.serveArgs(w), Addr: "127.0.0.1:0"})
	if err != nil {
		fmt.Fprintf(r.stderr, "[%d/%d] load generator probe: %v\n", r.step, r.total, err)
		return 0, false
	}
	m := r.measure(ctx, srv, l, w, cell{rate: rate, fraction: 1}, 0, -1, true)
	r.stopServer(srv)
	fmt.Fprintf(r.stderr, "[%d/%d] load generator probe: %s open loop at %.0f msgs/s: %s (%.1fs)\n",
		r.step, r.total, l.Name, rate, repLine(&m.rep), time.Since(t0).Seconds())
	if m.rep.Error != "" || m.rep.Interrupted || m.rep.MsgsPerSec == nil {
		return 0, false
	}
	return *m.rep.MsgsPerSec, true
}

// rounds measures cells of w on every label for reps interleaved rounds: in round k every
// label runs once (on a fresh server that measures every cell, the cells in an order rotated
// by k), the labels in an order rotated by k, with the machine's speed probed before and
// after. It returns one result per (label, cell).
func (r *runner) rounds(ctx context.Context, w Workload, cells []cell, reps int) []results.Result {
	type key struct{ l, c int }
	res := map[key]*results.Result{}
	timelines := map[key][][]results.TimelinePoint{}
	for li, l := range r.labels {
		for ci, c := range cells {
			res[key{li, ci}] = r.newResult(l, l.workload(w), c)
		}
	}
	li := make([]int, len(r.labels))
	for i := range li {
		li[i] = i
	}
	ci := make([]int, len(cells))
	for i := range ci {
		ci[i] = i
	}
	// A round whose speed calibration drifted (the machine changed speed while it ran) is
	// measured again, up to MaxRemeasured(reps) extra rounds per workload: its repetitions stay
	// in the results flagged (SpeedDrifted, Replaced) and out of every median and test, so that
	// each label keeps reps repetitions taken at one speed. Past the bound, drifted rounds are
	// kept, flagged.
	target, extra := reps, 0
	var pending []key // repetitions of a drifted round, replaced once the extra round has run
	for rep := 0; rep < target && ctx.Err() == nil; rep++ {
		round := r.round
		r.round++
		cpu0, pp0, calErr := r.speedProbe()
		var ran []key
		for _, l := range rotate(li, rep) {
			if ctx.Err() != nil {
				break
			}
			lb := r.labels[l]
			lw := lb.workload(w)
			srv, err := r.servers.Start(ctx, ServerSpec{Backend: lb.Backend, Args: r.serveArgs(lw), Addr: "127.0.0.1:0"})
			var last key
			for n, c := range rotate(ci, rep) {
				k := key{l, c}
				r.step++
				t0 := time.Now()
				var m measured
				if err != nil {
					m = failedRep(ctx, rep, round, err)
				} else {
					m = r.measureSteady(ctx, srv, lb, lw, cells[c], rep, round, n == 0)
				}
				res[k].Repetitions = append(res[k].Repetitions, m.rep)
				timelines[k] = append(timelines[k], m.timeline)
				if m.sweep != nil {
					res[k].Sweep = m.sweep
				}
				ran, last = append(ran, k), k
				if m.rep.Interrupted {
					r.interrupted++
				} else {
					r.done++
				}
				what := w.Name()
				if s := cells[c].String(); s != "" {
					what += " " + s
				}
				fmt.Fprintf(r.stderr, "[%d/%d] %s %s rep %d/%d: %s (%.1fs)\n", r.step, r.total, lb.key(), what,
					rep+1, target, repLine(&m.rep), time.Since(t0).Seconds())
				if ctx.Err() != nil {
					break
				}
			}
			if err == nil {
				if err := r.stopServer(srv); err != nil && ctx.Err() == nil {
					reps := res[last].Repetitions
					if rp := &reps[len(reps)-1]; rp.Error == "" && !rp.Interrupted {
						rp.Error = err.Error()
					}
				}
			}
		}
		cpu1, pp1, calErr1 := r.speedProbe()
		if calErr == nil && calErr1 == nil {
			cal := results.NewCalibration(round, cpu0, cpu1, pp0, pp1)
			r.calibrations = append(r.calibrations, cal)
			if ctx.Err() == nil && len(pending) > 0 {
				// The extra round ran to its end: the drifted one it stands for is replaced.
				for _, k := range pending {
					for i := range res[k].Repetitions {
						if rp := &res[k].Repetitions[i]; rp.SpeedDrifted && !rp.Replaced && rp.Index < rep {
							rp.Replaced = true
							break
						}
					}
				}
				pending = nil
			}
			if cal.Drifted {
				for _, k := range ran {
					reps := res[k].Repetitions
					reps[len(reps)-1].SpeedDrifted = true
				}
				if remeasurable(w) && extra < MaxRemeasured(reps) && ctx.Err() == nil {
					extra++
					target++
					pending = append([]key(nil), ran...)
					r.total += len(ran)
					fmt.Fprintf(r.stderr, "  round %d drifted %.0f %% (speed calibration before vs after): measured again (%d of at most %d extra rounds)\n",
						round+1, 100*cal.Drift, extra, MaxRemeasured(reps))
				}
			}
		} else {
			fmt.Fprintf(r.stderr, "  round %d: no speed calibration: %v\n", round+1, errors.Join(calErr, calErr1))
		}
	}
	var out []results.Result
	for l := range r.labels {
		for c := range cells {
			k := key{l, c}
			rr := res[k]
			if len(rr.Repetitions) == 0 {
				rr.Skipped = "not measured: the run was interrupted"
				out = append(out, *rr)
				continue
			}
			results.Summarize(rr)
			results.SummarizeFaults(rr)
			results.SummarizeSoak(rr)
			if rr.Mode == results.ModeOpen {
				rr.LatencyTimeline = medianTimeline(rr, timelines[k])
			}
			r.judge(rr, w, cells[c], reps)
			out = append(out, *rr)
		}
	}
	return out
}

// MaxRemeasured is the most extra rounds a workload of reps repetitions spends measuring
// drifted rounds again: half of reps, rounded up.
func MaxRemeasured(reps int) int { return (reps + 1) / 2 }

// remeasurable reports whether w's drifted rounds are measured again: the comparisons (ladders
// and closed-loop workloads), not faults, soak or scale, whose repetitions are accounts of one
// long episode rather than samples of a test (a second faults episode would only add another
// chance of a ledger flake, not a better verdict).
func remeasurable(w Workload) bool {
	return !w.Scale && w.Scenario != results.ScenarioFaults && w.Scenario != results.ScenarioSoak
}

// judge records a result's failures: a failed repetition, or failed verification.
func (r *runner) judge(rr *results.Result, w Workload, c cell, reps int) {
	what := rr.Name() + " " + w.Name()
	if s := c.String(); s != "" {
		what += " " + s
	}
	for _, rep := range rr.Repetitions {
		if rep.Error != "" {
			rr.Error = fmt.Sprintf("repetition %d of %d: %s", rep.Index+1, reps, rep.Error)
			r.failures = append(r.failures, what+": "+rr.Error)
			return
		}
	}
	if rr.Verify != nil && !rr.Verify.OK() {
		rr.Error = "verification failed"
		r.failures = append(r.failures, what+": verification failed")
	}
}
