package results

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// This file holds the statistics behind the report's verdicts: who wins a metric at one point
// of a comparison (one offered rate of an equal-load ladder, or one closed-loop workload), the
// A/A calibration that decides what "significant" means on the machine, where two curves
// cross, and whether verdicts of several runs agree. Everything here is a pure function of
// results, so it is tested on fixtures.

// Candidate is one label's measurement of a metric at one point.
type Candidate struct {
	Label     string
	AA        bool      // the A/A twin: shown and used for calibration, never a winner
	Saturated bool      // could not sustain the offered rate: listed as such, never ranked
	Excluded  string    // non-empty: not ranked, and why ("too few samples", "n/a")
	Median    float64   // headline (median of the counted repetitions)
	Values    []float64 // the counted repetitions' values (the Mann–Whitney samples)
}

// Ranked reports whether c takes part in the ranking at its point.
func (c *Candidate) Ranked() bool { return !c.AA && !c.Saturated && c.Excluded == "" }

// CandidateOf is r's candidate for metric m: Excluded "n/a" when r did not measure m, "too few
// samples" when m is a percentile with fewer than MinTailSamples samples beyond it, "failed"
// when r failed.
func CandidateOf(r *Result, m Metric) Candidate {
	c := Candidate{Label: r.Name(), AA: r.IsAA(), Saturated: r.Saturated}
	p := m.Get(&r.Figures)
	switch {
	case r.Error != "":
		c.Excluded = "failed"
	case p == nil:
		c.Excluded = "n/a"
	case TooFewSamples(r, m):
		c.Excluded = "too few samples"
	}
	if p != nil {
		c.Median = *p
	}
	c.Values = m.Samples(r)
	if len(c.Values) == 0 && p != nil {
		c.Values = []float64{*p}
	}
	return c
}

// TailP is the quantile (0.5, 0.99, 0.999) of a latency percentile metric; ok false for other
// metrics.
func TailP(m Metric) (p float64, ok bool) {
	switch m.Name {
	case MetricLatencyP50.Name:
		return 0.5, true
	case MetricLatencyP99.Name:
		return 0.99, true
	case MetricLatencyP999.Name:
		return 0.999, true
	}
	return 0, false
}

// CIOf is the headline confidence interval of percentile metric m in f, or nil.
func CIOf(f *Figures, m Metric) *[2]float64 {
	if f.LatencyCI == nil {
		return nil
	}
	switch m.Name {
	case MetricLatencyP50.Name:
		return f.LatencyCI.P50
	case MetricLatencyP99.Name:
		return f.LatencyCI.P99
	case MetricLatencyP999.Name:
		return f.LatencyCI.P999
	}
	return nil
}

// Beyond is the expected number of samples above quantile p among n: n·(1−p).
func Beyond(n uint64, p float64) float64 { return float64(n) * (1 - p) }

// TooFewSamples reports whether percentile metric m of r has fewer than MinTailSamples
// samples beyond it (n·(1−p) < 100). A result that did not record n (older files) is not
// judged here: readers say "n not recorded".
func TooFewSamples(r *Result, m Metric) bool {
	p, ok := TailP(m)
	if !ok || r.LatencySamples == 0 {
		return false
	}
	return Beyond(r.LatencySamples, p) < MinTailSamples-1e-9
}

// AAPoint is the A/A pair at one point: the twin's relative difference from its base,
// (twin − base) / |base|, and the Mann–Whitney test between them.
type AAPoint struct {
	Present bool // both measured, ranked-able (not saturated, enough samples)
	Rel     float64
	U       UTest
}

// Noisy reports whether the A/A pair itself differed significantly here.
func (a AAPoint) Noisy() bool { return a.Present && a.U.Significant(Alpha) }

// AA is the A/A calibration of one metric over the points of one comparison (the rates of a
// ladder, or the single point of a closed-loop workload).
//
// Spread, the A/A spread, is the largest |relative difference of medians| of the A/A pair
// over the points where both were measured: the noise floor of the machine for that metric,
// taken at its worst point because one point's A/A difference is itself a single noisy draw.
// A difference between two labels is significant only if its p < Alpha AND its relative
// difference exceeds Spread. When the pair itself differs significantly at some point (Noisy),
// the machine was too noisy for any verdict on that metric in that comparison.
type AA struct {
	Base, Twin string
	Points     []AAPoint
	Spread     float64
	Noisy      bool
	NoisyAt    []int // point indices where the pair differed significantly
}

// Present reports whether the pair was measured at any point.
func (a *AA) Present() bool {
	if a == nil {
		return false
	}
	for _, p := range a.Points {
		if p.Present {
			return true
		}
	}
	return false
}

// Adjuster corrects a test for multiplicity (Family.Adjust under a key); nil leaves it as is.
type Adjuster func(UTest) UTest

func (a Adjuster) apply(u UTest) UTest {
	if a == nil {
		return u
	}
	return a(u)
}

// Calibrate builds the A/A calibration from the base label's and its twin's candidates, one
// per point (same length; a point where either is missing has Label ""). adj, when not nil,
// corrects the test at point i for the run's other A/A tests (the pair is "noisy" only when
// the corrected p is below Alpha).
func Calibrate(base, twin []Candidate, adj func(point int, u UTest) UTest) *AA {
	a := &AA{}
	for i := range base {
		if a.Base == "" && base[i].Label != "" {
			a.Base = base[i].Label
		}
		if a.Twin == "" && i < len(twin) && twin[i].Label != "" {
			a.Twin = twin[i].Label
		}
		var pt AAPoint
		if i < len(twin) && usable(base[i]) && usable(twin[i]) && base[i].Median != 0 {
			pt.Present = true
			pt.Rel = (twin[i].Median - base[i].Median) / math.Abs(base[i].Median)
			pt.U = MannWhitneyU(twin[i].Values, base[i].Values)
			if adj != nil {
				pt.U = adj(i, pt.U)
			}
			a.Spread = math.Max(a.Spread, math.Abs(pt.Rel))
			if pt.Noisy() {
				a.Noisy = true
				a.NoisyAt = append(a.NoisyAt, i)
			}
		}
		a.Points = append(a.Points, pt)
	}
	return a
}

func usable(c Candidate) bool { return c.Label != "" && !c.Saturated && c.Excluded == "" }

// AATwinOf is the base label of an A/A twin label ("netstd#aa" -> "netstd"), or "".
func AATwinOf(label string) string {
	if b, ok := strings.CutSuffix(label, AASuffix); ok {
		return b
	}
	return ""
}

// Judgement is the outcome of the significance rule for one difference.
type Judgement struct {
	Significant bool
	Why         string // when not significant: why ("p ≥ 0.05", "within the A/A spread ±3.1 %", ...)
	// Within: p < Alpha, but the difference did not exceed the A/A spread.
	Within bool
}

// Judge applies the verdict rule to a difference rel = (a − b)/|b| tested by u: significant
// only if u.P < Alpha and, when an A/A calibration exists, |rel| > its Spread and the A/A pair
// was not itself significant (then the machine was too noisy for verdicts on that metric).
func Judge(u UTest, rel float64, aa *AA) Judgement {
	switch {
	case aa.Present() && aa.Noisy:
		return Judgement{Why: "A/A pair differed significantly: too noisy for verdicts on this metric"}
	case !u.Significant(Alpha) && u.Adjusted && u.P < Alpha:
		return Judgement{Why: fmt.Sprintf("p=%.3f, but %.3f corrected for the run's %d tests (Holm) ≥ %.2f", u.P, u.PAdj, u.FamilySize, Alpha)}
	case !u.Significant(Alpha):
		return Judgement{Why: fmt.Sprintf("p ≥ %.2f", Alpha)}
	case aa.Present() && math.Abs(rel) <= aa.Spread:
		return Judgement{Why: fmt.Sprintf("within the A/A spread ±%.1f %%", 100*aa.Spread), Within: true}
	}
	return Judgement{Significant: true}
}

// PointVerdict is the winner of one metric at one point: the best ranked candidate against the
// runner-up.
type PointVerdict struct {
	Metric       Metric
	Best, Runner string  // "" when fewer than one / two candidates ranked
	BestMedian   float64 // headline of Best
	RunnerMedian float64
	Rel          float64 // (best − runner)/|runner|
	U            UTest
	Judgement
	Tested    bool     // a test was possible (two ranked candidates)
	Saturated []string // labels saturated here (not ranked)
	Excluded  []string // "label (why)" of candidates not ranked for another reason
}

// ComparePoint ranks the candidates of metric m at one point and tests the best against the
// runner-up with the A/A rule (aa may be nil), the test corrected by adj (nil: uncorrected).
// The A/A twin is never ranked, nor a saturated or excluded candidate.
func ComparePoint(m Metric, cs []Candidate, aa *AA, adj Adjuster) PointVerdict {
	v := PointVerdict{Metric: m}
	var ranked []Candidate
	for _, c := range cs {
		switch {
		case c.AA:
		case c.Saturated:
			v.Saturated = append(v.Saturated, c.Label)
		case c.Excluded != "":
			v.Excluded = append(v.Excluded, c.Label+" ("+c.Excluded+")")
		default:
			ranked = append(ranked, c)
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return better(m, ranked[i].Median, ranked[j].Median) })
	if len(ranked) == 0 {
		return v
	}
	v.Best, v.BestMedian = ranked[0].Label, ranked[0].Median
	if len(ranked) == 1 {
		v.Why = "only one candidate"
		return v
	}
	v.Runner, v.RunnerMedian = ranked[1].Label, ranked[1].Median
	v.Rel = relDiff(v.BestMedian, v.RunnerMedian)
	v.U = adj.apply(MannWhitneyU(ranked[0].Values, ranked[1].Values))
	v.Tested = true
	v.Judgement = Judge(v.U, v.Rel, aa)
	return v
}

// Pairwise judges label a against label b (a's relative difference from b), the test corrected
// by adj (nil: uncorrected).
func Pairwise(a, b Candidate, aa *AA, adj Adjuster) (rel float64, j Judgement, ok bool) {
	if !a.Ranked() || !b.Ranked() {
		return 0, Judgement{}, false
	}
	rel = relDiff(a.Median, b.Median)
	return rel, Judge(adj.apply(MannWhitneyU(a.Values, b.Values)), rel, aa), true
}

func relDiff(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return (a - b) / math.Abs(b)
}

func better(m Metric, a, b float64) bool {
	if m.HigherBetter {
		return a > b
	}
	return a < b
}

// Crossing is where the curves of two labels swap order: between points I and J (consecutive
// points where both were measured) the difference a − b changes sign; X is where its linear
// interpolation is zero.
type Crossing struct {
	I, J int
	X    float64
}

// Crossings finds the sign changes of a − b along xs. a[i] or b[i] NaN: not measured at point
// i (skipped). A zero difference does not change the sign; it is carried across.
func Crossings(xs, a, b []float64) []Crossing {
	var out []Crossing
	prev, prevSign := -1, 0
	for i := range xs {
		if i >= len(a) || i >= len(b) || math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			continue
		}
		d := a[i] - b[i]
		s := 0
		switch {
		case d > 0:
			s = 1
		case d < 0:
			s = -1
		}
		if s != 0 && prevSign != 0 && s != prevSign {
			dp := a[prev] - b[prev]
			x := xs[prev] + (xs[i]-xs[prev])*dp/(dp-d)
			out = append(out, Crossing{I: prev, J: i, X: x})
		}
		if s != 0 {
			prevSign = s
		}
		prev = i
	}
	return out
}

// Outcome is one run's verdict on one question (workload, metric, point).
type Outcome struct {
	Present     bool   // the run answered it
	Winner      string // best label ("" when none ranked)
	Runner      string // the label Winner was tested against ("" when untested)
	Significant bool
	// Confirmed: not significant here among the run's own tests, but this run's single test
	// of the claim another run called significant confirms it (see Confirm).
	Confirmed bool
}

// Agreement is how several runs' outcomes of one verdict relate.
type Agreement string

const (
	Agree         Agreement = "agree"                    // same winner, every run significant
	Confirmed     Agreement = "confirmed"                // significant in some runs, confirmed in the others (Confirm)
	Partly        Agreement = "one significant, one not" // some significant (one winner), the others do not confirm it
	Opposite      Agreement = "opposite"                 // significant in two runs with different winners
	NoneSig       Agreement = "neither significant"      // no run called it
	NotComparable Agreement = "not in every run"         // some run did not measure it
)

// AgreementOf classifies the outcomes of one verdict over several runs.
func AgreementOf(outs []Outcome) Agreement {
	winners := map[string]bool{}
	sig, present, confirmed := 0, 0, 0
	var winner string
	for _, o := range outs {
		if !o.Present {
			continue
		}
		present++
		if o.Significant {
			sig++
			winners[o.Winner] = true
			winner = o.Winner
		}
	}
	for _, o := range outs {
		if o.Present && !o.Significant && o.Confirmed && o.Winner == winner {
			confirmed++
		}
	}
	switch {
	case present == 0 && len(outs) >= 2:
		return NoneSig // no run could rank anyone (e.g. too few samples everywhere)
	case present < len(outs) || present < 2:
		return NotComparable
	case len(winners) > 1:
		return Opposite
	case sig == present:
		return Agree
	case sig > 0 && sig+confirmed == present:
		return Confirmed
	case sig > 0:
		return Partly
	}
	return NoneSig
}

// MaxSpeedRatio is the largest ratio of two runs' speed indices for their verdicts to be put
// side by side as one machine's: indices differing by more than 20 % mean the machine itself
// moved, and the runs are shown side by side, never merged into one verdict.
const MaxSpeedRatio = 1.2

// SpeedRatio is the faster run's speed index over the slower's; ok false when either run did
// not record one.
func SpeedRatio(a, b *Run) (ratio float64, ok bool) {
	if a.Speed == nil || b.Speed == nil || a.Speed.Index <= 0 || b.Speed.Index <= 0 {
		return 0, false
	}
	x, y := a.Speed.Index, b.Speed.Index
	if x < y {
		x, y = y, x
	}
	return x / y, true
}

// SpeedGroups partitions runs of one machine into groups whose speed indices are all within
// MaxSpeedRatio of each other (sorted by index, greedily from the slowest). Runs without a
// speed index form one group of their own, flagged unchecked. Groups keep input order inside.
func SpeedGroups(runs []*Run) (groups [][]int, unchecked []int) {
	var known []int
	for i, r := range runs {
		if r.Speed != nil && r.Speed.Index > 0 {
			known = append(known, i)
		} else {
			unchecked = append(unchecked, i)
		}
	}
	sort.SliceStable(known, func(i, j int) bool { return runs[known[i]].Speed.Index < runs[known[j]].Speed.Index })
	for len(known) > 0 {
		g := []int{known[0]}
		k := 1
		for ; k < len(known); k++ {
			if ratio, _ := SpeedRatio(runs[known[0]], runs[known[k]]); ratio > MaxSpeedRatio {
				break
			}
			g = append(g, known[k])
		}
		sort.Ints(g)
		groups = append(groups, g)
		known = known[k:]
	}
	return groups, unchecked
}
