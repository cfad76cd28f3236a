package plots

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/iobench/iobench/results"
)

// verdict is the recommendation for one metric of one workload on one host: the best backend,
// its margin over the runner-up, and whether the difference is significant across repetitions
// (two-sided Mann–Whitney U at α = 0.05, as benchstat).
type verdict struct {
	Metric      string
	Best        string
	Runner      string
	BestVal     string
	RunnerVal   string
	Margin      string // e.g. "+12.4%" (best relative to runner-up)
	P           float64
	N1, N2      int
	Significant bool
	Tested      bool // a test was possible (>=1 sample each)
	ClientBound bool // throughput of best or runner-up is a client-bound lower bound
	NA          []string
	Text        string // the full sentence
	Short       string // for the summary table cell
}

// summaryColumns are the metric titles of the summary table, in order.
var summaryColumns = []string{results.MetricMsgsPerSec.Title, results.MetricLatencyP50.Title,
	results.MetricLatencyP99.Title, results.MetricServerCPU.Title, results.MetricSyscalls.Title,
	results.MetricCtxSwitches.Title, results.MetricRSSPerConn.Title, sweepMetric}

const sweepMetric = "max rate meeting the p99 SLO"

type candidate struct {
	s       series
	median  float64
	samples []float64
}

// verdicts computes the recommendation of each metric over the series of one host.
func verdicts(k results.Key, ss []series) []verdict {
	ms := []results.Metric{results.MetricMsgsPerSec, results.MetricLatencyP50, results.MetricLatencyP99,
		results.MetricServerCPU, results.MetricSyscalls, results.MetricCtxSwitches, results.MetricRSSPerConn}
	if k.Mode == results.ModeOpen {
		ms = ms[1:] // open-loop throughput is the offered rate: not a comparison
	}
	if k.Scenario == results.ScenarioSweep {
		ms = nil
	}
	var out []verdict
	for _, m := range ms {
		if v, ok := metricVerdict(m, ss); ok {
			out = append(out, v)
		}
	}
	if k.Scenario == results.ScenarioSweep {
		if v, ok := sweepVerdict(ss); ok {
			out = append(out, v)
		}
	}
	return out
}

func fmtMetric(m results.Metric, v float64) string {
	switch m.Unit {
	case "ns":
		return dur(v)
	case "bytes":
		return bytesIEC(v)
	case "msgs/s":
		return si(v) + " msgs/s"
	}
	return trim(v)
}

func metricVerdict(m results.Metric, ss []series) (verdict, bool) {
	v := verdict{Metric: m.Title}
	var cs []candidate
	for _, s := range ss {
		r := s.entry.Result
		if r.Error != "" {
			continue
		}
		p := m.Get(&r.Figures)
		if p == nil {
			v.NA = append(v.NA, s.label)
			continue
		}
		samples := m.Samples(r)
		if len(samples) == 0 {
			samples = []float64{*p}
		}
		cs = append(cs, candidate{s: s, median: *p, samples: samples})
	}
	if len(cs) == 0 {
		if len(v.NA) == 0 {
			return v, false
		}
		v.Text = fmt.Sprintf("%s: not measured for any backend here (n/a: %s)", m.Title, strings.Join(v.NA, ", "))
		v.Short = "n/a (not measured)"
		return v, true
	}
	sort.SliceStable(cs, func(i, j int) bool {
		if m.HigherBetter {
			return cs[i].median > cs[j].median
		}
		return cs[i].median < cs[j].median
	})
	best := cs[0]
	v.Best, v.BestVal = best.s.label, fmtMetric(m, best.median)
	na := ""
	if len(v.NA) > 0 {
		na = " (n/a for " + strings.Join(v.NA, ", ") + ")"
	}
	if len(cs) == 1 {
		v.Text = fmt.Sprintf("%s: only %s measured it (%s)%s", m.Title, v.Best, v.BestVal, na)
		v.Short = v.Best + " (only one measured)"
		return v, true
	}
	run := cs[1]
	v.Runner, v.RunnerVal = run.s.label, fmtMetric(m, run.median)
	if run.median != 0 {
		v.Margin = fmt.Sprintf("%+.1f%%", 100*(best.median-run.median)/math.Abs(run.median))
	}
	u := results.MannWhitneyU(best.samples, run.samples)
	v.P, v.N1, v.N2, v.Tested = u.P, u.N1, u.N2, true
	v.Significant = u.Significant(results.Alpha)
	v.ClientBound = m.Name == results.MetricMsgsPerSec.Name && (best.s.entry.Result.ClientBound() || run.s.entry.Result.ClientBound())
	cmp := fmt.Sprintf("%s %s vs %s %s (%s)", v.Best, v.BestVal, v.Runner, v.RunnerVal, v.Margin)
	stat := fmt.Sprintf("Mann–Whitney U p=%.3f, n=%d vs %d", u.P, u.N1, u.N2)
	if v.Significant {
		v.Text = fmt.Sprintf("%s: best %s — significant (%s)", m.Title, cmp, stat)
		v.Short = fmt.Sprintf("%s %s, p=%.3f", v.Best, v.Margin, u.P)
	} else {
		v.Short = fmt.Sprintf("no sig. difference (%s %s, p=%.2f)", v.Best, v.Margin, u.P)
		why := ""
		if minP := minExactP(u.N1, u.N2); minP >= results.Alpha {
			why = fmt.Sprintf("; with %d vs %d repetitions p cannot go below %.2f: run ≥4 each", u.N1, u.N2, minP)
		}
		v.Text = fmt.Sprintf("%s: no significant difference between %s (%s%s)", m.Title, cmp, stat, why)
	}
	if v.ClientBound {
		v.Text += " — client-bound: the load generator saturated, these are lower bounds of server throughput"
		v.Short += " — client-bound"
	}
	v.Text += na
	return v, true
}

// minExactP is the smallest two-sided p the exact test can give for n1 vs n2 samples:
// 2 / C(n1+n2, n1).
func minExactP(n1, n2 int) float64 {
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

func sweepVerdict(ss []series) (verdict, bool) {
	v := verdict{Metric: sweepMetric}
	type c struct {
		s    series
		rate float64
	}
	var cs []c
	for _, s := range ss {
		sw := s.entry.Result.Sweep
		if sw == nil {
			continue
		}
		if sw.MaxRateMeetingSLO == nil {
			v.NA = append(v.NA, s.label+" (never met the SLO)")
			continue
		}
		cs = append(cs, c{s, *sw.MaxRateMeetingSLO})
	}
	if len(cs) == 0 {
		if len(v.NA) == 0 {
			return v, false
		}
		v.Text = v.Metric + ": no backend met the SLO at any offered rate"
		v.Short = "none met the SLO"
		return v, true
	}
	sort.SliceStable(cs, func(i, j int) bool { return cs[i].rate > cs[j].rate })
	v.Best, v.BestVal = cs[0].s.label, si(cs[0].rate)+" msgs/s"
	if len(cs) > 1 {
		v.Runner, v.RunnerVal = cs[1].s.label, si(cs[1].rate)+" msgs/s"
		if cs[1].rate != 0 {
			v.Margin = fmt.Sprintf("%+.1f%%", 100*(cs[0].rate-cs[1].rate)/cs[1].rate)
		}
		v.Text = fmt.Sprintf("%s: best %s %s vs %s %s (%s) — one sweep per backend, the step size bounds the resolution; no significance test",
			v.Metric, v.Best, v.BestVal, v.Runner, v.RunnerVal, v.Margin)
		v.Short = fmt.Sprintf("%s %s (%s), untested", v.Best, v.BestVal, v.Margin)
	} else {
		v.Text = fmt.Sprintf("%s: %s %s", v.Metric, v.Best, v.BestVal)
		v.Short = v.Best + " " + v.BestVal
	}
	if len(v.NA) > 0 {
		v.Text += "; " + strings.Join(v.NA, ", ")
	}
	return v, true
}
