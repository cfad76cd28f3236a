package plots

import (
	"fmt"
	"strings"

	"github.com/iobench/iobench/results"
)

// verdict is the recommendation for one metric of one workload in one run: on a ladder, at
// which rates who wins; otherwise the best label against the runner-up. Significance is the
// two-sided Mann–Whitney U at α = 0.05 over repetitions (as benchstat) AND, when the run has
// an A/A pair, a relative difference beyond the A/A spread (see the package doc).
type verdict struct {
	Metric      string
	Significant bool
	Noisy       bool   // the A/A pair itself differed significantly: no verdict on this metric
	Text        string // the full sentence
	Short       string // for the summary table cell
	best        string // the winner ("" when none)
	runner      string // the label best was tested against
	questions   []question
	cands       []results.Candidate // the candidates compared (for another run's confirmation)
	aa          *results.AA
}

// question is one verdict as an answer another run of the same machine can give too.
type question struct {
	workload, metric, point string
	out                     results.Outcome
	text                    string // this run's answer, short
	// What another run's claim is tested on here (results.Confirm): the metric, this run's
	// candidates at the point and its A/A calibration of the metric.
	m     results.Metric
	cands []results.Candidate
	aa    *results.AA
}

// confirm is this run's test of the claim another run made significantly on the same question.
func (q question) confirm(claim results.Outcome) *results.Confirmation {
	return results.Confirm(q.m, q.cands, q.aa, claim.Winner, claim.Runner)
}

func (q question) key() string { return q.workload + "\x00" + q.metric + "\x00" + q.point }

// summaryColumns are the metric titles of the summary table of workloads without a ladder.
var summaryColumns = []string{results.MetricMsgsPerSec.Title, results.MetricLatencyP50.Title,
	results.MetricLatencyP99.Title, results.MetricServerCPU.Title, results.MetricSyscalls.Title,
	results.MetricCtxSwitches.Title, results.MetricRSSPerConn.Title, sweepMetric}

// ladderColumns are the metric titles of the summary table of equal-load ladders.
var ladderColumns = append(metricTitles(ladderMetrics), capacityMetric)

func metricTitles(ms []results.Metric) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Title)
	}
	return out
}

const (
	sweepMetric    = "max rate meeting the p99 SLO"
	capacityMetric = "capacity (closed loop)"
)

// verdicts computes the recommendation of each metric over the series of one run.
func verdicts(k results.Key, ss []series, mt *multi) []verdict {
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
		if v, ok := metricVerdict(m, m.Title, ss, mt, k.String()); ok {
			v.questions = []question{v.question(k.String(), m)}
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

func (v verdict) outcome() results.Outcome {
	return results.Outcome{Present: v.best != "", Winner: v.best, Runner: v.runner, Significant: v.Significant}
}

// question is v as the across-run view asks it of workload.
func (v verdict) question(workload string, m results.Metric) question {
	return question{workload: workload, metric: v.Metric, text: v.Short, out: v.outcome(),
		m: m, cands: v.cands, aa: v.aa}
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

// aaOf is the A/A calibration of metric m over one point: an A/A twin among ss against its
// base; nil when there is none.
func aaOf(m results.Metric, ss []series, adj func(int, results.UTest) results.UTest) *results.AA {
	for _, t := range ss {
		b := results.AATwinOf(t.name)
		if b == "" {
			continue
		}
		for _, s := range ss {
			if s.name == b {
				a := results.Calibrate([]results.Candidate{results.CandidateOf(s.entry.Result, m)},
					[]results.Candidate{results.CandidateOf(t.entry.Result, m)}, adj)
				if a.Present() {
					return a
				}
			}
		}
	}
	return nil
}

// metricVerdict compares metric m (titled title) over the series of one point.
// mt is the run's families of tests (nil: uncorrected) and workload names the test in them.
func metricVerdict(m results.Metric, title string, ss []series, mt *multi, workload string) (verdict, bool) {
	v := verdict{Metric: title}
	var cs []results.Candidate
	var na []string
	byLabel := map[string]series{}
	for _, s := range ss {
		r := s.entry.Result
		if r.Error != "" {
			continue
		}
		c := results.CandidateOf(r, m)
		c.Label = s.label
		byLabel[s.label] = s
		if c.Excluded == "n/a" {
			na = append(na, s.label)
			continue
		}
		cs = append(cs, c)
	}
	if len(cs) == 0 {
		if len(na) == 0 {
			return v, false
		}
		v.Text = fmt.Sprintf("%s: not measured for any backend here (n/a: %s)", title, strings.Join(na, ", "))
		v.Short = "n/a (not measured)"
		return v, true
	}
	key := workload + "\x00" + title
	aa := aaOf(m, ss, mt.aaTest(key, nil))
	pv := results.ComparePoint(m, cs, aa, mt.verdict(key))
	v.cands, v.aa, v.runner = cs, aa, pv.Runner
	naText := ""
	if len(na) > 0 {
		naText = " (n/a for " + strings.Join(na, ", ") + ")"
	}
	if len(pv.Excluded) > 0 {
		naText += " (not ranked: " + strings.Join(pv.Excluded, ", ") + ")"
	}
	v.best = pv.Best
	if pv.Best == "" {
		v.Text = fmt.Sprintf("%s: no label could be ranked%s", title, naText)
		v.Short = "no candidate"
		return v, true
	}
	val := func(label string, v float64) string {
		if _, tail := results.TailP(m); tail {
			return tailText(byLabel[label].entry.Result, m) // a percentile always with its CI
		}
		return fmtMetric(m, v)
	}
	bestVal := val(pv.Best, pv.BestMedian)
	if !pv.Tested {
		v.Text = fmt.Sprintf("%s: only %s measured it (%s)%s", title, pv.Best, bestVal, naText)
		v.Short = pv.Best + " (only one measured)"
		return v, true
	}
	margin := ""
	if pv.RunnerMedian != 0 {
		margin = fmt.Sprintf("%+.1f%%", 100*pv.Rel)
	}
	u := pv.U
	v.Significant = pv.Significant
	clientBound := m.Name == results.MetricMsgsPerSec.Name &&
		(byLabel[pv.Best].entry.Result.ClientBound() || byLabel[pv.Runner].entry.Result.ClientBound())
	cmp := fmt.Sprintf("%s %s vs %s %s (%s)", pv.Best, bestVal, pv.Runner, val(pv.Runner, pv.RunnerMedian), margin)
	stat := fmt.Sprintf("Mann–Whitney U %s, n=%d vs %d", pText(u), u.N1, u.N2)
	switch {
	case aa.Present() && aa.Noisy:
		v.Noisy = true
		p := aa.Points[0]
		v.Short = fmt.Sprintf("too noisy (A/A %s)", pText(p.U))
		v.Text = fmt.Sprintf("%s: the A/A pair %s / %s differed significantly (%+.1f %%, %s): the machine was too noisy for verdicts on this metric (%s, %s)",
			title, aa.Base, aa.Twin, 100*p.Rel, pText(p.U), cmp, stat)
	case v.Significant:
		v.Text = fmt.Sprintf("%s: best %s — significant (%s)", title, cmp, stat)
		v.Short = fmt.Sprintf("%s %s, %s", pv.Best, margin, pText(u))
	default:
		v.Short = fmt.Sprintf("no sig. difference (%s %s, %s)", pv.Best, margin, pText(u))
		why := "; " + pv.Why
		if minP := results.MinExactP(u.N1, u.N2); minP >= results.Alpha {
			why = fmt.Sprintf("; with %d vs %d repetitions p cannot go below %.2f: run ≥4 each", u.N1, u.N2, minP)
		} else if u.Adjusted && minP*float64(u.FamilySize) >= results.Alpha {
			why = fmt.Sprintf("; with %d vs %d repetitions and the run's %d tests even a complete separation (p=%.4f) is not significant once corrected: run ≥%d each",
				u.N1, u.N2, u.FamilySize, minP, results.RepsFor(u.FamilySize))
		}
		v.Text = fmt.Sprintf("%s: no significant difference between %s (%s%s)", title, cmp, stat, why)
	}
	if aa.Present() && !aa.Noisy {
		v.Text += fmt.Sprintf(" [A/A %s / %s: %+.1f %%, %s]", aa.Base, aa.Twin, 100*aa.Points[0].Rel, pText(aa.Points[0].U))
	}
	if clientBound {
		v.Text += " — client-bound: the load generator saturated, these are lower bounds of server throughput"
		v.Short += " — client-bound"
	}
	v.Text += naText
	return v, true
}

// pText is a test's p as the report shows it: the raw p, and when the test was corrected for
// its run's family, the corrected p that significance is judged on.
func pText(u results.UTest) string {
	if u.Adjusted && u.PAdj != u.P {
		return fmt.Sprintf("p=%.3f, Holm %.3f", u.P, u.PAdj)
	}
	return fmt.Sprintf("p=%.3f", u.P)
}

func sweepVerdict(ss []series) (verdict, bool) {
	v := verdict{Metric: sweepMetric}
	type c struct {
		s    series
		rate float64
	}
	var cs []c
	var na []string
	for _, s := range ss {
		sw := s.entry.Result.Sweep
		if sw == nil || s.aa {
			continue
		}
		if sw.MaxRateMeetingSLO == nil {
			na = append(na, s.label+" (never met the SLO)")
			continue
		}
		cs = append(cs, c{s, *sw.MaxRateMeetingSLO})
	}
	if len(cs) == 0 {
		if len(na) == 0 {
			return v, false
		}
		v.Text = v.Metric + ": no backend met the SLO at any offered rate"
		v.Short = "none met the SLO"
		return v, true
	}
	best := 0
	for i := range cs {
		if cs[i].rate > cs[best].rate {
			best = i
		}
	}
	b := cs[best]
	cs = append(cs[:best:best], cs[best+1:]...)
	v.best = b.s.label
	bestVal := si(b.rate) + " msgs/s"
	if len(cs) > 0 {
		run := cs[0]
		for _, x := range cs {
			if x.rate > run.rate {
				run = x
			}
		}
		margin := ""
		if run.rate != 0 {
			margin = fmt.Sprintf("%+.1f%%", 100*(b.rate-run.rate)/run.rate)
		}
		v.Text = fmt.Sprintf("%s: best %s %s vs %s %s (%s) — one sweep per backend, the step size bounds the resolution; no significance test",
			v.Metric, b.s.label, bestVal, run.s.label, si(run.rate)+" msgs/s", margin)
		v.Short = fmt.Sprintf("%s %s (%s), untested", b.s.label, bestVal, margin)
	} else {
		v.Text = fmt.Sprintf("%s: %s %s", v.Metric, b.s.label, bestVal)
		v.Short = b.s.label + " " + bestVal
	}
	if len(na) > 0 {
		v.Text += "; " + strings.Join(na, ", ")
	}
	return v, true
}
