package results

// Summarize fills the headline Figures of r from r.Repetitions. The harness calls it once per
// result. Which repetitions count (see [Result.Counted]):
//
//   - a Replaced repetition (its round drifted and was measured again) is excluded from
//     every median but still summed into Verify;
//   - a repetition with an Error (failed) or Interrupted (stopped by a signal) is excluded
//     from every median; an interrupted one is not summed into Verify either, because messages
//     in flight at an interrupt are not losses;
//   - Saturated, on an equal-load ladder, is the majority of the remaining repetitions, a tie
//     counting as saturated (a rate sustained only half of the time is not sustainable); the
//     medians then use only the repetitions in that state, so a saturated repetition is never
//     averaged in with sustained ones.
//
// The headline of each metric is the median over the counted repetitions that measured it (a
// metric none measured stays nil), Verify the sum, Bottleneck the majority ("unknown" on a
// tie), DurationNs the median, Reps the number of repetitions recorded (interrupted and failed
// included) and Spread the min/quartiles/max of the key metrics. LatencySamples is the median
// sample count and each LatencyCI bound the median of the counted repetitions' bounds (each
// repetition's percentile comes from its own window, so its n and its interval are per
// window). Steady is not ok when any counted repetition was not steady; it carries the figures
// of the repetition with the strongest trend. A result with no counted repetition has no
// figures and its Note says why.
func Summarize(r *Result) {
	r.Reps = len(r.Repetitions)
	var live []*Rep
	var verify *Verify
	interrupted := 0
	for i := range r.Repetitions {
		rep := &r.Repetitions[i]
		if rep.Interrupted {
			interrupted++
			continue
		}
		if rep.Verify != nil {
			if verify == nil {
				verify = &Verify{}
			}
			verify.Sent += rep.Verify.Sent
			verify.Received += rep.Verify.Received
			verify.Lost += rep.Verify.Lost
			verify.Corrupt += rep.Verify.Corrupt
			verify.Reordered += rep.Verify.Reordered
			verify.Duplicated += rep.Verify.Duplicated
		}
		if rep.Error == "" && !rep.Replaced {
			live = append(live, rep)
		}
	}
	sat := saturatedMajority(live)
	var ok []*Figures
	for _, rep := range live {
		if rep.Saturated == sat {
			ok = append(ok, &rep.Figures)
		}
	}
	if len(ok) == 0 {
		r.Figures = Figures{Verify: verify}
		r.Spread = nil
		switch {
		case r.Reps == 0:
		case interrupted == r.Reps:
			r.Note = "no figures: every repetition was interrupted"
		case interrupted > 0:
			r.Note = "no figures: every repetition failed or was interrupted"
		default:
			r.Note = "no figures: every repetition failed"
		}
		return
	}
	med := func(get func(*Figures) *float64) *float64 {
		xs := collect(ok, get)
		if len(xs) == 0 {
			return nil
		}
		return Val(Median(xs))
	}
	rng := func(get func(*Figures) *float64) *Range {
		xs := collect(ok, get)
		if len(xs) == 0 {
			return nil
		}
		rg := Summary(xs)
		return &rg
	}
	var durs []float64
	for _, f := range ok {
		durs = append(durs, float64(f.DurationNs))
	}
	h := Figures{
		DurationNs: int64(Median(durs)),
		MsgsPerSec: med(func(f *Figures) *float64 { return f.MsgsPerSec }),
		MBPerSec:   med(func(f *Figures) *float64 { return f.MBPerSec }),
		Errors:     med(func(f *Figures) *float64 { return f.Errors }),
		Verify:     verify,
		Bottleneck: majority(ok),
		Saturated:  sat,
		Steady:     steadyOf(ok),
		Log:        sumLog(r.Repetitions),
	}
	if anyOf(ok, func(f *Figures) bool { return f.Latency != nil }) {
		l := func(get func(*Latency) *float64) *float64 {
			return med(func(f *Figures) *float64 {
				if f.Latency == nil {
					return nil
				}
				return get(f.Latency)
			})
		}
		h.Latency = &Latency{
			P50:  l(func(x *Latency) *float64 { return x.P50 }),
			P90:  l(func(x *Latency) *float64 { return x.P90 }),
			P99:  l(func(x *Latency) *float64 { return x.P99 }),
			P999: l(func(x *Latency) *float64 { return x.P999 }),
			Max:  l(func(x *Latency) *float64 { return x.Max }),
		}
	}
	if n := med(func(f *Figures) *float64 {
		if f.LatencySamples == 0 {
			return nil
		}
		return Val(float64(f.LatencySamples))
	}); n != nil {
		h.LatencySamples = uint64(*n)
	}
	if anyOf(ok, func(f *Figures) bool { return f.LatencyCI != nil }) {
		ci := func(get func(*LatencyCI) *[2]float64) *[2]float64 {
			bound := func(i int) *float64 {
				return med(func(f *Figures) *float64 {
					if f.LatencyCI == nil || get(f.LatencyCI) == nil {
						return nil
					}
					return Val(get(f.LatencyCI)[i])
				})
			}
			lo, hi := bound(0), bound(1)
			if lo == nil || hi == nil {
				return nil
			}
			return &[2]float64{*lo, *hi}
		}
		h.LatencyCI = &LatencyCI{
			P50:  ci(func(c *LatencyCI) *[2]float64 { return c.P50 }),
			P99:  ci(func(c *LatencyCI) *[2]float64 { return c.P99 }),
			P999: ci(func(c *LatencyCI) *[2]float64 { return c.P999 }),
		}
	}
	if anyOf(ok, func(f *Figures) bool { return f.Server != nil }) {
		s := func(get func(*ServerMetrics) *float64) *float64 {
			return med(func(f *Figures) *float64 {
				if f.Server == nil {
					return nil
				}
				return get(f.Server)
			})
		}
		h.Server = &ServerMetrics{
			CPUNsPerMsg:       s(func(x *ServerMetrics) *float64 { return x.CPUNsPerMsg }),
			SyscallsPerMsg:    s(func(x *ServerMetrics) *float64 { return x.SyscallsPerMsg }),
			CtxSwitchesPerMsg: s(func(x *ServerMetrics) *float64 { return x.CtxSwitchesPerMsg }),
			RSSBytes:          s(func(x *ServerMetrics) *float64 { return x.RSSBytes }),
			RSSBytesPerConn:   s(func(x *ServerMetrics) *float64 { return x.RSSBytesPerConn }),
			GCCycles:          s(func(x *ServerMetrics) *float64 { return x.GCCycles }),
			GCPauseNs:         s(func(x *ServerMetrics) *float64 { return x.GCPauseNs }),
		}
	}
	if anyOf(ok, func(f *Figures) bool { return f.Client != nil }) {
		h.Client = &ClientMetrics{CPUNsPerMsg: med(func(f *Figures) *float64 {
			if f.Client == nil {
				return nil
			}
			return f.Client.CPUNsPerMsg
		})}
	}
	summarizeScale(&h, ok)
	r.Figures = h
	r.Spread = &Spread{
		MsgsPerSec:        rng(MetricMsgsPerSec.Get),
		MBPerSec:          rng(MetricMBPerSec.Get),
		LatencyP50:        rng(MetricLatencyP50.Get),
		LatencyP99:        rng(MetricLatencyP99.Get),
		LatencyP999:       rng(MetricLatencyP999.Get),
		ServerCPUNsPerMsg: rng(MetricServerCPU.Get),
		SyscallsPerMsg:    rng(MetricSyscalls.Get),
		CtxSwitchesPerMsg: rng(MetricCtxSwitches.Get),
		RSSBytesPerConn:   rng(MetricRSSPerConn.Get),
	}
}

// Counted reports whether rep enters r's headline medians (see [Summarize]): not failed, not
// interrupted, not replaced by a round measured again, and in the saturation state of the
// headline.
func (r *Result) Counted(rep *Rep) bool {
	return rep.Error == "" && !rep.Interrupted && !rep.Replaced && rep.Saturated == r.Saturated
}

// saturatedMajority is true when at least half of reps were saturated.
func saturatedMajority(reps []*Rep) bool {
	n := 0
	for _, rep := range reps {
		if rep.Saturated {
			n++
		}
	}
	return n > 0 && 2*n >= len(reps)
}

// steadyOf is the headline steady-state test: not ok when any repetition trended, with the
// figures of the repetition whose trend is strongest (smallest p).
func steadyOf(fs []*Figures) *Steady {
	var worst *Steady
	allOK, lengthened := true, false
	for _, f := range fs {
		s := f.Steady
		if s == nil {
			continue
		}
		allOK = allOK && s.OK
		lengthened = lengthened || s.WarmupLengthened
		if worst == nil || minP(s) < minP(worst) {
			worst = s
		}
	}
	if worst == nil {
		return nil
	}
	h := *worst
	h.OK, h.WarmupLengthened = allOK, lengthened
	return &h
}

func minP(s *Steady) float64 {
	if s.ThroughputP < s.LatencyP {
		return s.ThroughputP
	}
	return s.LatencyP
}

func collect(fs []*Figures, get func(*Figures) *float64) []float64 {
	var xs []float64
	for _, f := range fs {
		if p := get(f); p != nil {
			xs = append(xs, *p)
		}
	}
	return xs
}

func anyOf(fs []*Figures, pred func(*Figures) bool) bool {
	for _, f := range fs {
		if pred(f) {
			return true
		}
	}
	return false
}

func majority(fs []*Figures) string {
	count := map[string]int{}
	for _, f := range fs {
		if f.Bottleneck != "" {
			count[f.Bottleneck]++
		}
	}
	best, bestN, tie := "", 0, false
	for _, b := range []string{BottleneckServer, BottleneckClient, BottleneckUnknown} {
		switch n := count[b]; {
		case n > bestN:
			best, bestN, tie = b, n, false
		case n == bestN && n > 0:
			tie = true
		}
	}
	if tie {
		return BottleneckUnknown
	}
	return best
}
