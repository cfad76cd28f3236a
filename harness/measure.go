package harness

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// TailTarget is the number of latency samples an equal-load ladder point's window is sized
// for, up to the workload's MaxDuration: 120 beyond its p99 (results.MinTailSamples is 100,
// with room for a point that achieves a little less than it was offered).
const TailTarget = 12000

type measured struct {
	rep      results.Rep
	sweep    *results.Sweep
	timeline []results.TimelinePoint // open loop
}

// failedRep is a repetition that could not run (its server did not start): failed, or
// interrupted when the run's context ended.
func failedRep(ctx context.Context, index, round int, err error) measured {
	m := measured{rep: results.Rep{Index: index, Round: round}}
	if ctx.Err() != nil {
		m.rep.Interrupted = true
		return m
	}
	m.rep.Error = err.Error()
	m.rep.Verify = &results.Verify{}
	return m
}

// interruptedRep records a repetition stopped by the run's interruption: what was in flight
// then is not lost (the load was cut short, not the server), so Verify.Lost is cleared and no
// Error is set; the repetition is marked Interrupted and kept out of every median.
func interruptedRep(m measured) measured {
	m.rep.Interrupted = true
	m.rep.Error = ""
	if v := m.rep.Verify; v != nil && v.Lost > 0 {
		m.rep.Note = strings.TrimSpace(m.rep.Note + fmt.Sprintf(" interrupted with %d message(s) in flight (not losses)", v.Lost))
		v.Lost = 0
	}
	return m
}

// pointWindow is the window of an open-loop load offering ownRate latency samples per second:
// long enough for TailTarget samples, at least base, at most maxD (≤ base: base), in whole
// slices.
func pointWindow(ownRate float64, base, maxD time.Duration) time.Duration {
	if maxD <= base || !(ownRate > 0) {
		return base
	}
	need := time.Duration(math.Ceil(TailTarget / ownRate * 1e9))
	d := min(max(need, base), maxD)
	return (d + SliceInterval - 1) / SliceInterval * SliceInterval
}

// loadConfig is the load of cell c of w against addr.
func (r *runner) loadConfig(w Workload, c cell, addr string) LoadConfig {
	lc := LoadConfig{Target: addr, Proto: w.Proto, Broadcast: w.Room > 0, Room: w.Room,
		Conns: w.Conns, Size: w.Size, Depth: w.Depth, Rate: w.Rate, Warmup: w.Warmup,
		Duration: w.Duration, IdleConns: w.Idle, ClientBackend: r.cfg.ClientBackend}
	if w.Proto == protoCrypto {
		lc.Size += proto.CryptoOverhead // the same framed frame inside, sealed
	}
	if len(r.clientCPUs) > 0 {
		lc.Loops = len(r.clientCPUs)
	}
	if c.rate > 0 {
		// Open loop. A ladder point of a pipelined workload sends its Depth messages back to
		// back (a burst per pacer event); broadcast rates count deliveries, the load paces sends.
		lc.Depth, lc.Rate, lc.Burst = 0, c.rate, max(w.Depth, 1)
		if w.Room > 0 {
			lc.Rate = c.rate / float64(w.Room)
		}
		lc.Duration = pointWindow(lc.Rate, w.Duration, w.MaxDuration)
	}
	return lc
}

// measureSteady measures cell c and, when its window was not in steady state (and not
// saturated: a queue that builds is the finding there), measures it again with a longer
// warm-up, up to w.MaxWarmup, at most twice.
func (r *runner) measureSteady(ctx context.Context, srv Server, l label, w Workload, c cell, index, round int, fresh bool) measured {
	m := r.measure(ctx, srv, l, w, c, index, round, fresh)
	for tries := 0; tries < 2 && ctx.Err() == nil && w.Warmup < w.MaxWarmup; tries++ {
		st := m.rep.Steady
		if st == nil || st.OK || m.rep.Saturated || m.rep.Error != "" || m.rep.Interrupted {
			break
		}
		w.Warmup = min(2*w.Warmup+SliceInterval, w.MaxWarmup)
		fmt.Fprintf(r.stderr, "  %s %s: not steady (throughput rho %.2f p %.2g, p99 rho %.2f p %.2g): again after %v of warm-up\n",
			l.Name, w.Name(), st.ThroughputRho, st.ThroughputP, st.LatencyRho, st.LatencyP, w.Warmup)
		m = r.measure(ctx, srv, l, w, c, index, round, false)
		if m.rep.Steady != nil {
			m.rep.Steady.WarmupLengthened = true
		}
	}
	return m
}

// failing returns the failure of the repetition m so far: interrupted when ctx ended (not a
// failure), else failed with err.
func failing(ctx context.Context, m *measured) func(error) measured {
	return func(err error) measured {
		if ctx.Err() != nil {
			return interruptedRep(*m)
		}
		m.rep.Error = err.Error()
		if m.rep.Verify == nil {
			m.rep.Verify = &results.Verify{}
		}
		return *m
	}
}

// measure runs one repetition of cell c of w on srv, as label l; fresh says srv has served no
// load before this one.
func (r *runner) measure(ctx context.Context, srv Server, l label, w Workload, c cell, index, round int, fresh bool) measured {
	m := measured{rep: results.Rep{Index: index, Round: round}}
	fail := failing(ctx, &m)
	if !fresh {
		if err := srv.WaitReady(0, 10*time.Second); err != nil {
			return fail(fmt.Errorf("the previous load's sessions did not end: %w", err))
		}
	}
	if w.Scenario == results.ScenarioSweep {
		sw, f, err := r.sweep(ctx, srv, w)
		m.sweep = sw
		m.rep.Figures = f
		if err != nil {
			return fail(err)
		}
		return m
	}
	if w.Scale {
		return r.measureScale(ctx, srv, l, w, index, round, fresh)
	}
	switch w.Scenario {
	case results.ScenarioFaults:
		return r.measureFaults(ctx, srv, w, index, round)
	case results.ScenarioSoak:
		return r.measureSoak(ctx, srv, w, c, index, round)
	}
	reconnect := w.Scenario == results.ScenarioReconnect
	srv.PrepareWindow(!reconnect && perfUsable() == nil)
	lc := r.loadConfig(w, c, srv.Addr())
	var crashErr error
	switch w.Scenario {
	case results.ScenarioChurn:
		lc.OneShot, lc.Churn = true, true
	case results.ScenarioReconnect:
		lc.OneShot, lc.ExpectDisconnects = true, true
		lc.ReconnectDelay = time.Millisecond
		lc.DuringWindow = func(mark func()) {
			mark()
			crashErr = srv.Crash(ctx)
		}
	default:
		lc.BeforeTraffic = func() error { return srv.WaitReady(w.Conns, 10*time.Second) }
	}
	if !reconnect {
		lc.BeforeWindow, lc.AfterWindow = srv.BeginWindow, srv.EndWindow
	}
	if lc.Duration >= 5*time.Second {
		lc.Progress = func(s string) { fmt.Fprintf(r.stderr, "  %s %s: %s\n", l.Name, w.Name(), s) }
	}
	res, err := r.loads.Load(ctx, lc)
	probes := srv.Window()
	if res == nil {
		return fail(err)
	}
	m.rep.Figures = res.Figures()
	f := &m.rep.Figures
	f.ServerTCPRetransmits = probes.TCPRetransmits
	if round >= 0 { // not a probe outside the rounds (the load generator's)
		if hp, herr := r.writeHDR(l, w, c, index, res); herr == nil {
			m.rep.HDRLog = hp
		}
	}
	if lc.Rate > 0 && len(res.Intervals) > 0 {
		m.timeline = results.TimelineFromIntervals(res.Intervals[0].StartTimeMs(), res.Intervals)
	}
	var notes []string
	if f.Note != "" {
		notes = append(notes, f.Note)
	}
	if reconnect {
		// Every client must be back: one exchange per connection after the restart.
		if res.Msgs < uint64(w.Conns) {
			return fail(fmt.Errorf("only %d of %d clients were back %v after the server restart", res.Msgs, w.Conns, w.Duration))
		}
		notes = append(notes, "latency = time from the server restart (kill + exec) until each client reconnected and exchanged a message; max = all back")
		f.MsgsPerSec, f.MBPerSec, f.Client = nil, nil, nil // one message per client: no rate
		f.Server = nil
		f.Bottleneck = results.BottleneckUnknown
	} else if res.Msgs > 0 {
		sc, cc := r.cores()
		sw := serverFigures(probes, float64(res.Msgs+res.Heartbeats), w.Conns, sc, fresh)
		f.Server = sw.Metrics
		notes = append(notes, sw.Notes...)
		if sw.Loops > 0 {
			r.loops = sw.Loops
		}
		var cu *float64
		if res.ClientCPU >= 0 && res.Window > 0 {
			cu = results.Val(float64(res.ClientCPU) / float64(res.Window) / cc)
		}
		if len(res.Shares) > 0 { // load agents: as saturated as the busiest
			cu = results.MaxAgentUtil(res.Shares)
		}
		f.Bottleneck = Bottleneck(sw.Util, cu)
		switch {
		case sw.Util != nil && cu != nil:
			notes = append(notes, fmt.Sprintf("cpu use: server %.0f%% of %g core(s), client %.0f%% of %g core(s)", *sw.Util*100, sc, *cu*100, cc))
		case sw.Util == nil:
			notes = append(notes, "server CPU n/a on this platform")
		}
		if probes.SyscallsErr != nil {
			notes = append(notes, "syscalls n/a: "+probes.SyscallsErr.Error())
		}
	} else {
		f.Bottleneck = results.BottleneckUnknown
	}
	switch w.Scenario {
	case results.ScenarioChurn:
		if f.Server != nil {
			f.Server.RSSBytesPerConn = nil // connections come and go: no per-connection figure
		}
		notes = append(notes, "msgs/s = connections per second (connect, one exchange, close); latency = connect to reply")
	case results.ScenarioIdle:
		notes = append(notes, fmt.Sprintf("%d idle connections (heartbeat every 1 s, spread; %.0f heartbeats/s came back of %d offered) and %d active; rss_bytes_per_conn over all %d; msgs/s and latency of the active ones; per-message costs over active messages + heartbeats",
			w.Idle, float64(res.Heartbeats)/max(res.Window.Seconds(), 1e-9), w.Idle, w.Conns-w.Idle, w.Conns))
	case results.ScenarioBroadcast:
		notes = append(notes, fmt.Sprintf("rooms of %d; msgs/s and rates count delivered messages (%d per send); latency = send to each delivery", w.Room, w.Room))
	}
	if c.rate > 0 {
		achieved := 0.0
		if f.MsgsPerSec != nil {
			achieved = *f.MsgsPerSec
		}
		f.Saturated = results.IsSaturated(c.rate, achieved, float64(res.Errors))
		if c.fraction > 0 {
			notes = append(notes, fmt.Sprintf("open loop at %.0f%% of the common capacity, %.0f msgs/s offered, %.0f achieved", c.fraction*100, c.rate, achieved))
		}
		if c.fraction > 0 && res.Errors > 0 {
			notes = append(notes, fmt.Sprintf("%d connection errors at this rate, counted as saturation: %s", res.Errors, res.FirstError))
		}
	}
	if st := results.SteadyOf(res.SliceSeries()); st != nil {
		st.WarmupNs = int64(lc.Warmup)
		f.Steady = st
	}
	f.Note = strings.Join(notes, "; ")
	if ctx.Err() != nil && res.Verify.Corrupt+res.Verify.Reordered+res.Verify.Duplicated == 0 {
		return interruptedRep(m)
	}
	if lerr := r.logCounts(srv, w, res, f); lerr != nil && err == nil && res.OK() {
		err = lerr
	}
	switch {
	case err != nil:
		return fail(err)
	case crashErr != nil:
		return fail(crashErr)
	case !res.OK():
		return fail(errors.New("verification failed: " + verifyText(res.Verify, res.FirstError)))
	case res.Errors > 0 && c.fraction == 0:
		return fail(fmt.Errorf("%d connection errors: %s", res.Errors, res.FirstError))
	}
	return m
}

// hdrName is the HDR log file of one repetition: label (its '#' would end a URL in the
// report), workload, cell and the repetition numbered from 1, as everywhere a user reads it.
func hdrName(l label, w Workload, c cell, index int) string {
	name := strings.ReplaceAll(l.Name, "#", "-")
	s := fmt.Sprintf("%s-%s-c%d-s%d-d%d", name, w.Scenario, w.Conns, w.Size, w.Depth)
	switch {
	case c.capacity:
		s += "-capacity"
	case c.rate > 0:
		s += fmt.Sprintf("-r%g", c.rate)
	}
	return fmt.Sprintf("%s-rep%d.hlog", s, index+1)
}

func (r *runner) writeHDR(l label, w Workload, c cell, index int, res *LoadResult) (string, error) {
	if res.Hist == nil || res.Hist.TotalCount() == 0 {
		return "", errors.New("empty")
	}
	rel := filepath.Join("hdr", hdrName(l, w, c, index))
	intervals := res.Intervals // one histogram per slice
	if len(intervals) == 0 {
		h := res.Hist
		end := time.Now()
		h.SetStartTimeMs(end.Add(-res.Window).UnixMilli())
		h.SetEndTimeMs(end.UnixMilli())
		intervals = []*hdrhistogram.Histogram{h}
	}
	if err := results.WriteHDRLogFile(filepath.Join(r.cfg.Out, rel), intervals[0].StartTimeMs(), intervals); err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

// medianTimeline is the latency timeline of the repetition whose p99 is the median (open
// loop only; nil otherwise).
func medianTimeline(r *results.Result, tls [][]results.TimelinePoint) []results.TimelinePoint {
	type cand struct {
		p99 float64
		tl  []results.TimelinePoint
	}
	var cs []cand
	for i, rep := range r.Repetitions {
		if i < len(tls) && len(tls[i]) > 0 && rep.Error == "" && !rep.Interrupted && rep.Latency != nil && rep.Latency.P99 != nil {
			cs = append(cs, cand{*rep.Latency.P99, tls[i]})
		}
	}
	if len(cs) == 0 {
		return nil
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].p99 < cs[j].p99 })
	return cs[(len(cs)-1)/2].tl
}
