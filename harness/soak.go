package harness

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/iobench/iobench/results"
)

// The soak scenario (`iobench run --suite soak`, results.Soak): a short closed-loop capacity
// probe of every label (soakProbe, one round), then each label in turn on a fresh server for
// the whole window (--duration, default 10 minutes) at half of the common capacity, open
// loop (steadyLoad), its server sampled every second: RSS, open fds (Linux), goroutines and
// Go heap and GC (the server's own "stats"). The trend rule (results.TrendOf) judges RSS, fds
// and goroutines; a growing one fails the soak. Latency is kept per minute for drift.
//
// The labels run one after the other, not interleaved in rounds as every other workload is:
// a soak asks whether one server's series stay flat over a long time, not which of two
// servers is faster, and cutting its window into interleaved slices would restart the
// server (or leave it idle) between slices, resetting exactly the growth the soak looks for.
// Nothing is compared between labels here except at the same offered rate.

// soakProbe is the soak's capacity probe window per label.
const soakProbe = time.Second

// soakInterval is the sampling interval of the server.
const soakInterval = time.Second

// soakSampler is a server that can be sampled for the soak (LocalServers' can).
type soakSampler interface {
	soakSample() (results.SoakSample, error)
}

// soakSample reads the server's RSS (its process counters), fds (/proc/PID/fd where there is
// one; -1 elsewhere) and its own goroutines, heap and GC (control "stats").
func (s *localServer) soakSample() (results.SoakSample, error) {
	p := s.proc()
	if p == nil {
		return results.SoakSample{}, errors.New("server down")
	}
	x := results.SoakSample{RSSBytes: -1, FDs: -1, Goroutines: -1, HeapBytes: -1, GCCycles: -1, GCPauseNs: -1}
	if ps, err := sampleProc(p.pid()); err == nil && ps.MemOK {
		x.RSSBytes = float64(ps.RSS)
	}
	if n, ok := countFDs(p.pid()); ok {
		x.FDs = float64(n)
	}
	st, err := p.stats()
	if err != nil {
		return x, err
	}
	x.Goroutines, x.HeapBytes = float64(st.Goroutines), float64(st.HeapInuse)
	x.GCCycles, x.GCPauseNs = float64(st.GCCycles), float64(st.GCPauseNs)
	return x, nil
}

// runSoak is the soak workload: the probe, then each label's soak at half of the common
// capacity.
func (r *runner) runSoak(ctx context.Context, w Workload) ([]results.Result, *results.Capacity) {
	probe := w
	probe.Scenario, probe.Rate, probe.Depth = results.ScenarioPingPong, 0, max(w.Depth, 1)
	probe.Duration, probe.Warmup = soakProbe, min(w.Warmup, 200*time.Millisecond)
	capRes := r.rounds(ctx, probe, []cell{{capacity: true}}, 1)
	for i := range capRes {
		// Kept as the soak's closed-loop results (not a ladder's capacity: the soak has one
		// open-loop point, off any ladder).
		capRes[i].Scenario, capRes[i].Capacity = results.ScenarioSoak, false
		capRes[i].Note = strings.TrimSpace("soak capacity probe (closed loop, " + soakProbe.String() + "); " + capRes[i].Note)
	}
	if ctx.Err() != nil {
		return capRes, nil
	}
	per := map[string]float64{}
	for i := range capRes {
		if v := countedMedian(&capRes[i], results.MetricMsgsPerSec); v > 0 {
			per[capRes[i].Name()] = v
		}
	}
	capacity, by, err := results.CommonCapacity(per, 0)
	if err != nil {
		r.failures = append(r.failures, fmt.Sprintf("%s: no soak rate: %v", w.Name(), err))
		return capRes, nil
	}
	rate, why := float64(int(capacity*SoakShare/10))*10, "half of it"
	if r.cfg.Rate > 0 {
		rate, why = r.cfg.Rate, "--rate"
	}
	fmt.Fprintf(r.stderr, "  %s: common capacity %.0f msgs/s (limited by %s); soak at %.0f msgs/s (%s) for %v per label, one label after the other\n",
		w.Name(), capacity, by, rate, why, w.Duration)
	cp := &results.Capacity{Workload: results.Key{Scenario: w.Scenario, Proto: w.App, Mode: results.ModeOpen, Conns: w.Conns,
		Size: w.Size, Depth: w.Depth}.String(), MsgsPerSec: capacity, LimitedBy: by, PerBackend: per, Fractions: []float64{SoakShare}}
	w.Rate = rate // an open-loop result at this rate, off any ladder
	return append(capRes, r.rounds(ctx, w, []cell{{rate: rate}}, 1)...), cp
}

// SoakShare is the soak's offered rate as a share of the common capacity.
const SoakShare = 0.5

// measureSoak runs the soak of one label on srv at c.rate.
func (r *runner) measureSoak(ctx context.Context, srv Server, w Workload, c cell, index, round int) measured {
	m := measured{rep: results.Rep{Index: index, Round: round}}
	var phases []time.Duration
	for t := time.Minute; t < w.Duration; t += time.Minute {
		phases = append(phases, t)
	}
	cfg := steadyConfig{Target: srv.Addr(), Proto: w.Proto, Conns: w.Conns, Size: w.Size, Rate: c.rate,
		Warmup: w.Warmup, Duration: w.Duration, Phases: phases, ClientBackend: r.cfg.ClientBackend}
	if len(r.clientCPUs) > 0 {
		cfg.Loops = len(r.clientCPUs)
	}
	cfg.BeforeTraffic = func() error { return srv.WaitReady(w.Conns, 10*time.Second) }
	soak := &results.Soak{RateMsgsPerSec: c.rate, IntervalNs: int64(soakInterval)}
	var sampleErr error
	cfg.During = func(ctx context.Context, l *steadyLoad) {
		sm, ok := srv.(soakSampler)
		if !ok {
			sampleErr = errors.New("this server host cannot be sampled")
			return
		}
		from := l.winFrom.Load()
		progress := time.Now()
		for i := 0; ; i++ {
			if !sleepCtx(ctx, time.Duration(from+int64(time.Duration(i)*soakInterval)-nowNs())) {
				return
			}
			x, err := sm.soakSample()
			x.TNs = nowNs() - from
			if err != nil && sampleErr == nil {
				sampleErr = err
			}
			soak.Samples = append(soak.Samples, x)
			if time.Since(progress) >= time.Minute {
				progress = time.Now()
				fmt.Fprintf(r.stderr, "  soak %v: rss %.1f MiB, fds %.0f, goroutines %.0f\n",
					time.Duration(x.TNs).Round(time.Second), x.RSSBytes/(1<<20), x.FDs, x.Goroutines)
			}
		}
	}
	res, err := runSteady(ctx, cfg)
	if res != nil {
		m.rep.Figures = res.figures()
		for _, h := range res.Phases {
			soak.P99PerMinute = append(soak.P99PerMinute, *phaseWindow(h))
		}
		soak.Judge()
		m.rep.Soak = soak
		m.rep.Figures.Note = soakNote(soak)
		if c.rate > 0 && m.rep.MsgsPerSec != nil {
			m.rep.Saturated = results.IsSaturated(c.rate, *m.rep.MsgsPerSec, 0)
		}
	}
	if ctx.Err() != nil {
		return interruptedRep(m)
	}
	var problems []string
	switch {
	case err != nil:
		problems = append(problems, err.Error())
	case !res.Verify.OK():
		v := res.Verify
		problems = append(problems, fmt.Sprintf("verification failed: %d lost, %d corrupt, %d reordered, %d duplicated: %s", v.Lost, v.Corrupt, v.Reordered, v.Duplicated, res.FirstError))
	case res.Downs > 0:
		problems = append(problems, fmt.Sprintf("%d sessions ended during the soak", res.Downs))
	}
	if sampleErr != nil {
		problems = append(problems, "sampling the server: "+sampleErr.Error())
	}
	if len(soak.Growing) > 0 {
		problems = append(problems, "soak: "+strings.Join(soak.Growing, "; "))
	}
	if len(problems) > 0 {
		m.rep.Error = strings.Join(problems, "; ")
		if m.rep.Verify == nil {
			m.rep.Verify = &results.Verify{}
		}
	}
	return m
}

func soakNote(s *results.Soak) string {
	var parts []string
	for _, t := range []struct {
		name string
		tr   *results.Trend
	}{{"rss", s.RSS}, {"fds", s.FDs}, {"goroutines", s.Goroutines}} {
		switch {
		case t.tr == nil:
			parts = append(parts, t.name+" n/a")
		case t.tr.Flat:
			parts = append(parts, fmt.Sprintf("%s flat (%.3g/min)", t.name, t.tr.SlopePerMin))
		default:
			parts = append(parts, fmt.Sprintf("%s GROWS %.3g/min", t.name, t.tr.SlopePerMin))
		}
	}
	return fmt.Sprintf("soak at %.0f msgs/s, %d samples: %s", s.RateMsgsPerSec, len(s.Samples), strings.Join(parts, ", "))
}
