package results

// Summarize fills the headline Figures of r from r.Repetitions: the median of each metric
// across the repetitions that measured it (a metric no repetition measured stays nil), Verify
// summed, Bottleneck the majority ("unknown" on a tie), DurationNs the median, Reps the count,
// and Spread the min/quartiles/max of the key metrics. Repetitions with an Error are excluded
// from the medians but still counted in Verify. The harness calls it once per result.
func Summarize(r *Result) {
	var ok []*Figures
	var verify *Verify
	for i := range r.Repetitions {
		rep := &r.Repetitions[i]
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
		if rep.Error == "" {
			ok = append(ok, &rep.Figures)
		}
	}
	r.Reps = len(r.Repetitions)
	if len(ok) == 0 {
		r.Verify = verify
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
