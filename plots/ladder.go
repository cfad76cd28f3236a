package plots

import (
	"math"
	"sort"

	"github.com/iobench/iobench/results"
)

// ladderMetrics are compared at every offered rate of an equal-load ladder.
var ladderMetrics = []results.Metric{results.MetricLatencyP50, results.MetricLatencyP99,
	results.MetricLatencyP999, results.MetricServerCPU, results.MetricSyscalls, results.MetricCtxSwitches}

// ladder is one equal-load ladder of one run: every label at the same offered rates (and each
// label's closed-loop capacity result), with the verdicts of every metric at every rate.
type ladder struct {
	fam      results.Key
	src      results.Source
	srcIdx   int
	capacity *results.Capacity // the common capacity, nil when the run did not record it
	fracs    []float64         // load fractions of the points, ascending
	rates    []float64         // offered msgs/s of each point
	labels   []string          // label order: by name, a twin after its base
	pts      map[string][]*series
	capRes   []series // closed-loop capacity results
	metrics  []ladderMetric
	mt       *multi // the run's families of tests (nil: uncorrected)
}

// ladderMetric is one metric along the ladder.
type ladderMetric struct {
	m         results.Metric
	cands     [][]results.Candidate // [point][label], Label "" where the label has no point
	aa        *results.AA           // nil: no A/A pair in the run
	verdicts  []results.PointVerdict
	crossings []crossing
}

// crossing is where two labels' curves swap order (see results.Crossings). sig: the two labels
// differ significantly (A/A rule included) at the points on both sides, so the curves really
// swap rather than touch within noise.
type crossing struct {
	a, b string
	c    results.Crossing
	rate float64 // interpolated offered rate of the crossing
	frac float64 // the same as a fraction of capacity
	sig  bool
}

// newLadder analyses the series of one family from one run (ladder points and capacity
// results mixed).
func newLadder(fam results.Key, src results.Source, srcIdx int, ss []series, mt *multi) *ladder {
	l := &ladder{fam: fam, src: src, srcIdx: srcIdx, capacity: src.Run.Run.CapacityOf(fam),
		pts: map[string][]*series{}, mt: mt}
	fracSet := map[float64]float64{}
	for _, s := range ss {
		r := s.entry.Result
		if r.Capacity {
			l.capRes = append(l.capRes, s)
			continue
		}
		if _, ok := fracSet[r.LoadFraction]; !ok {
			fracSet[r.LoadFraction] = r.Rate
		}
	}
	for f := range fracSet {
		l.fracs = append(l.fracs, f)
	}
	sort.Float64s(l.fracs)
	for _, f := range l.fracs {
		l.rates = append(l.rates, fracSet[f])
	}
	for i := range ss {
		s := &ss[i]
		r := s.entry.Result
		if r.Capacity {
			continue
		}
		if l.pts[s.name] == nil {
			l.pts[s.name] = make([]*series, len(l.fracs))
			l.labels = append(l.labels, s.name)
		}
		l.pts[s.name][sort.SearchFloat64s(l.fracs, r.LoadFraction)] = s
	}
	sort.Strings(l.labels) // "netstd" < "netstd#aa": a twin follows its base
	for _, m := range ladderMetrics {
		l.metrics = append(l.metrics, l.analyse(m))
	}
	return l
}

func (l *ladder) analyse(m results.Metric) ladderMetric {
	lm := ladderMetric{m: m, cands: make([][]results.Candidate, len(l.fracs))}
	for i := range l.fracs {
		for _, lbl := range l.labels {
			var c results.Candidate
			if s := l.pts[lbl][i]; s != nil {
				c = results.CandidateOf(s.entry.Result, m)
			}
			lm.cands[i] = append(lm.cands[i], c)
		}
	}
	lm.aa = l.calibrate(lm.cands, l.mt.aaTest(results.FamilyTitle(l.fam)+"\x00"+m.Title, func(i int) string { return pct(l.fracs[i]) }))
	for i := range l.fracs {
		var cs []results.Candidate
		for _, c := range lm.cands[i] {
			if c.Label != "" {
				cs = append(cs, c)
			}
		}
		q := question{workload: results.FamilyTitle(l.fam), metric: m.Title, point: pct(l.fracs[i])}
		lm.verdicts = append(lm.verdicts, results.ComparePoint(m, cs, lm.aa, l.mt.verdict(q.key())))
	}
	lm.crossings = l.crossings(lm)
	return lm
}

// calibrate is the A/A calibration of one metric: the twin against its base at every point.
// With several twins (not a suite's shape) the noisiest, then widest, calibration is used.
func (l *ladder) calibrate(cands [][]results.Candidate, adj func(int, results.UTest) results.UTest) *results.AA {
	var best *results.AA
	for ti, twin := range l.labels {
		base := results.AATwinOf(twin)
		bi := indexOf(l.labels, base)
		if base == "" || bi < 0 {
			continue
		}
		var bs, ts []results.Candidate
		for i := range cands {
			bs, ts = append(bs, cands[i][bi]), append(ts, cands[i][ti])
		}
		a := results.Calibrate(bs, ts, adj)
		if !a.Present() {
			continue
		}
		if best == nil || (a.Noisy && !best.Noisy) || (a.Noisy == best.Noisy && a.Spread > best.Spread) {
			best = a
		}
	}
	return best
}

func indexOf(xs []string, x string) int {
	for i, s := range xs {
		if s == x {
			return i
		}
	}
	return -1
}

// crossings finds, for every pair of ranked labels, where their medians swap order.
func (l *ladder) crossings(lm ladderMetric) []crossing {
	var out []crossing
	med := func(li int) []float64 {
		ys := make([]float64, len(l.fracs))
		for i := range l.fracs {
			c := lm.cands[i][li]
			ys[i] = math.NaN()
			if c.Label != "" && c.Ranked() {
				ys[i] = c.Median
			}
		}
		return ys
	}
	for ai, a := range l.labels {
		for bi := ai + 1; bi < len(l.labels); bi++ {
			b := l.labels[bi]
			if results.AATwinOf(a) != "" || results.AATwinOf(b) != "" {
				continue
			}
			for _, c := range results.Crossings(l.fracs, med(ai), med(bi)) {
				_, j1, _ := results.Pairwise(lm.cands[c.I][ai], lm.cands[c.I][bi], lm.aa, l.mt.pairwise())
				_, j2, _ := results.Pairwise(lm.cands[c.J][ai], lm.cands[c.J][bi], lm.aa, l.mt.pairwise())
				x := crossing{a: a, b: b, c: c, frac: c.X, sig: j1.Significant && j2.Significant}
				// The rate at the crossing, interpolated like the fraction.
				t := (c.X - l.fracs[c.I]) / (l.fracs[c.J] - l.fracs[c.I])
				x.rate = l.rates[c.I] + t*(l.rates[c.J]-l.rates[c.I])
				out = append(out, x)
			}
		}
	}
	return out
}

// firstSaturated is the index of the first point at which label is saturated, or -1.
func (l *ladder) firstSaturated(label string) int {
	for i, s := range l.pts[label] {
		if s != nil && s.entry.Result.Saturated {
			return i
		}
	}
	return -1
}
