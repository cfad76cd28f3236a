package results

import (
	"math"
	"strings"
	"testing"
)

func cand(label string, vals ...float64) Candidate {
	return Candidate{Label: label, AA: AATwinOf(label) != "", Values: vals, Median: Median(vals)}
}

var (
	low  = []float64{100, 101, 102, 103, 104}
	high = []float64{110, 111, 112, 113, 114} // ~ +9.7 %, fully separated: p = 0.008
)

func TestJudgeAARule(t *testing.T) {
	sep := MannWhitneyU(low, high) // p = 0.008
	mixed := MannWhitneyU([]float64{1, 3, 5, 7, 9}, []float64{2, 4, 6, 8, 10})
	quiet := &AA{Points: []AAPoint{{Present: true, Rel: 0.03, U: mixed}}, Spread: 0.03}
	wide := &AA{Points: []AAPoint{{Present: true, Rel: 0.12, U: mixed}}, Spread: 0.12}
	noisy := &AA{Points: []AAPoint{{Present: true, Rel: 0.02, U: sep}}, Spread: 0.02, Noisy: true, NoisyAt: []int{0}}
	cases := []struct {
		name string
		u    UTest
		rel  float64
		aa   *AA
		sig  bool
		why  string
	}{
		{"no A/A: p alone", sep, 0.01, nil, true, ""},
		{"beyond the A/A spread", sep, -0.097, quiet, true, ""},
		{"within the A/A spread, whatever its p", sep, -0.097, wide, false, "within the A/A spread ±12.0 %"},
		{"equal to the spread is within", sep, 0.03, quiet, false, "within the A/A spread"},
		{"p too large", mixed, 0.5, quiet, false, "p ≥ 0.05"},
		{"noisy A/A: no verdict", sep, 0.5, noisy, false, "too noisy"},
		{"absent A/A points: p alone", sep, 0.01, &AA{Points: []AAPoint{{}}}, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := Judge(c.u, c.rel, c.aa)
			if j.Within != strings.Contains(c.why, "within") {
				t.Errorf("Within = %v", j.Within)
			}
			if j.Significant != c.sig || !strings.Contains(j.Why, c.why) {
				t.Fatalf("Judge = %+v, want significant %v, why containing %q", j, c.sig, c.why)
			}
		})
	}
}

func TestCalibrate(t *testing.T) {
	base := []Candidate{cand("netstd", 100, 102, 104, 106, 108), cand("netstd", 200, 202, 204, 206, 208), {}, cand("netstd", 50)}
	twin := []Candidate{cand("netstd#aa", 101, 103, 105, 107, 109), cand("netstd#aa", 214, 215, 216, 217, 218),
		cand("netstd#aa", 1), {Label: "netstd#aa", Saturated: true, Median: 80, Values: []float64{80}}}
	a := Calibrate(base, twin, nil)
	if a.Base != "netstd" || a.Twin != "netstd#aa" {
		t.Fatalf("pair %q/%q", a.Base, a.Twin)
	}
	if !a.Points[0].Present || !a.Points[1].Present || a.Points[2].Present || a.Points[3].Present {
		t.Fatalf("present = %v %v %v %v: a point without both, or with one saturated, is absent",
			a.Points[0].Present, a.Points[1].Present, a.Points[2].Present, a.Points[3].Present)
	}
	if want := (216.0 - 204) / 204; math.Abs(a.Spread-want) > 1e-12 {
		t.Errorf("Spread = %v, want the largest |relative difference| %v", a.Spread, want)
	}
	if a.Points[0].Noisy() || !a.Points[1].Noisy() || !a.Noisy || len(a.NoisyAt) != 1 || a.NoisyAt[0] != 1 {
		t.Errorf("noisy = %v at %v, want the separated point 1 only", a.Noisy, a.NoisyAt)
	}
	var nilAA *AA
	if nilAA.Present() || Calibrate([]Candidate{{}}, []Candidate{{}}, nil).Present() {
		t.Error("an A/A without points is not present")
	}
}

func TestComparePointWinner(t *testing.T) {
	cpu := MetricServerCPU // lower is better
	cases := []struct {
		name       string
		m          Metric
		cs         []Candidate
		best, run  string
		sig, test  bool
		sat, excl  []string
		aa         *AA
		wantRelNeg bool
	}{
		{"lowest wins", cpu, []Candidate{cand("netstd", high...), cand("epoll", low...)}, "epoll", "netstd", true, true, nil, nil, nil, true},
		{"highest wins when higher is better", MetricMsgsPerSec, []Candidate{cand("netstd", high...), cand("epoll", low...)}, "netstd", "epoll", true, true, nil, nil, nil, false},
		{"the A/A twin is never the winner", cpu, []Candidate{cand("netstd#aa", 1, 1, 1, 1, 1), cand("netstd", high...), cand("epoll", low...)},
			"epoll", "netstd", true, true, nil, nil, nil, true},
		{"saturated is listed, not ranked", cpu, []Candidate{{Label: "gnet", Saturated: true, Median: 1, Values: []float64{1}}, cand("netstd", high...), cand("epoll", low...)},
			"epoll", "netstd", true, true, []string{"gnet"}, nil, nil, true},
		{"too few samples is not ranked", cpu, []Candidate{{Label: "uring", Excluded: "too few samples", Median: 1}, cand("netstd", high...), cand("epoll", low...)},
			"epoll", "netstd", true, true, nil, []string{"uring (too few samples)"}, nil, true},
		{"only one sustained", cpu, []Candidate{{Label: "gnet", Saturated: true}, cand("epoll", low...)}, "epoll", "", false, false, []string{"gnet"}, nil, nil, false},
		{"A/A spread too wide", cpu, []Candidate{cand("netstd", high...), cand("epoll", low...)}, "epoll", "netstd", false, true, nil, nil,
			&AA{Points: []AAPoint{{Present: true, Rel: 0.2}}, Spread: 0.2}, true},
		{"nobody", cpu, []Candidate{{Label: "gnet", Saturated: true}}, "", "", false, false, []string{"gnet"}, nil, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := ComparePoint(c.m, c.cs, c.aa, nil)
			if v.Best != c.best || v.Runner != c.run || v.Significant != c.sig || v.Tested != c.test {
				t.Fatalf("got best %q runner %q sig %v tested %v (%s), want %q %q %v %v", v.Best, v.Runner, v.Significant, v.Tested, v.Why,
					c.best, c.run, c.sig, c.test)
			}
			if strings.Join(v.Saturated, ",") != strings.Join(c.sat, ",") || strings.Join(v.Excluded, ",") != strings.Join(c.excl, ",") {
				t.Errorf("saturated %v excluded %v, want %v %v", v.Saturated, v.Excluded, c.sat, c.excl)
			}
			if v.Tested && (v.Rel < 0) != c.wantRelNeg {
				t.Errorf("Rel = %v", v.Rel)
			}
		})
	}
}

func TestCrossings(t *testing.T) {
	nan := math.NaN()
	xs := []float64{0.2, 0.4, 0.6, 0.8}
	cases := []struct {
		name string
		a, b []float64
		want []Crossing
	}{
		{"none", []float64{1, 2, 3, 4}, []float64{2, 3, 4, 5}, nil},
		{"one, interpolated", []float64{80, 52, 41, 35}, []float64{90, 42, 27, 19}, []Crossing{{I: 0, J: 1, X: 0.2 + 0.2*10.0/20}}},
		{"twice", []float64{1, 3, 1, 3}, []float64{2, 2, 2, 2}, []Crossing{{0, 1, 0.3}, {1, 2, 0.5}, {2, 3, 0.7}}},
		{"a missing point is skipped", []float64{1, nan, 3, 3}, []float64{2, 0, 2, 2}, []Crossing{{I: 0, J: 2, X: 0.4}}},
		{"a tie does not cross by itself", []float64{1, 2, 1, 1}, []float64{2, 2, 2, 2}, nil},
		{"a tie carried across", []float64{1, 2, 3, 3}, []float64{2, 2, 2, 2}, []Crossing{{I: 1, J: 2, X: 0.4}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Crossings(xs, c.a, c.b)
			if len(got) != len(c.want) {
				t.Fatalf("Crossings = %+v, want %+v", got, c.want)
			}
			for i := range got {
				if got[i].I != c.want[i].I || got[i].J != c.want[i].J || math.Abs(got[i].X-c.want[i].X) > 1e-9 {
					t.Fatalf("Crossings = %+v, want %+v", got, c.want)
				}
			}
		})
	}
}

func TestAgreementOf(t *testing.T) {
	o := func(w string, sig bool) Outcome { return Outcome{Present: true, Winner: w, Significant: sig} }
	c := func(w string) Outcome { return Outcome{Present: true, Winner: w, Confirmed: true} }
	cases := []struct {
		name string
		outs []Outcome
		want Agreement
	}{
		{"same winner, both significant", []Outcome{o("epoll", true), o("epoll", true)}, Agree},
		{"one significant, one not", []Outcome{o("epoll", true), o("epoll", false)}, Partly},
		{"one significant, the other favours another", []Outcome{o("epoll", true), o("netstd", false)}, Partly},
		{"one significant, confirmed in the other", []Outcome{o("epoll", true), c("epoll")}, Confirmed},
		{"confirmed in one of two others", []Outcome{o("epoll", true), c("epoll"), o("epoll", false)}, Partly},
		{"confirmed, but another winner", []Outcome{o("epoll", true), c("netstd")}, Partly},
		{"a confirmation never outweighs an opposite verdict", []Outcome{o("epoll", true), c("epoll"), o("netstd", true)}, Opposite},
		{"opposite", []Outcome{o("epoll", true), o("netstd", true)}, Opposite},
		{"opposite among three", []Outcome{o("epoll", true), o("epoll", false), o("netstd", true)}, Opposite},
		{"neither", []Outcome{o("epoll", false), o("netstd", false)}, NoneSig},
		{"missing in one run", []Outcome{o("epoll", true), {}}, NotComparable},
		{"no run ranked anyone", []Outcome{{}, {}}, NoneSig},
		{"a single run", []Outcome{o("epoll", true)}, NotComparable},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := AgreementOf(c.outs); got != c.want {
				t.Fatalf("AgreementOf = %q, want %q", got, c.want)
			}
		})
	}
}

func TestSpeedGroups(t *testing.T) {
	run := func(idx float64) *Run {
		if idx == 0 {
			return &Run{}
		}
		return &Run{Speed: &Speed{Index: idx}}
	}
	if r, ok := SpeedRatio(run(100), run(80)); !ok || r != 1.25 {
		t.Fatalf("SpeedRatio = %v %v", r, ok)
	}
	if _, ok := SpeedRatio(run(100), run(0)); ok {
		t.Fatal("a run without a speed index has no ratio")
	}
	cases := []struct {
		name      string
		idx       []float64
		groups    [][]int
		unchecked []int
	}{
		{"within 20 %", []float64{100, 110, 95}, [][]int{{0, 1, 2}}, nil},
		{"exactly 20 % is within", []float64{100, 120}, [][]int{{0, 1}}, nil},
		{"one run moved", []float64{100, 60, 104}, [][]int{{1}, {0, 2}}, nil},
		{"speed unknown", []float64{100, 0, 101, 0}, [][]int{{0, 2}}, []int{1, 3}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var runs []*Run
			for _, x := range c.idx {
				runs = append(runs, run(x))
			}
			g, u := SpeedGroups(runs)
			if fmtInts(g) != fmtInts(c.groups) || fmtInts([][]int{u}) != fmtInts([][]int{c.unchecked}) {
				t.Fatalf("SpeedGroups = %v %v, want %v %v", g, u, c.groups, c.unchecked)
			}
		})
	}
}

func fmtInts(g [][]int) string {
	var b strings.Builder
	for _, xs := range g {
		b.WriteString("[")
		for _, x := range xs {
			b.WriteString(string(rune('0' + x)))
		}
		b.WriteString("]")
	}
	return b.String()
}

func TestCandidateTails(t *testing.T) {
	r := &Result{Backend: "epoll", Figures: Figures{Latency: &Latency{P50: Val(1), P99: Val(2), P999: Val(3)}, LatencySamples: 50_000}}
	cases := []struct {
		m    Metric
		few  bool
		excl string
	}{
		{MetricLatencyP50, false, ""},
		{MetricLatencyP99, false, ""},                // 500 beyond
		{MetricLatencyP999, true, "too few samples"}, // 50 beyond
		{MetricServerCPU, false, "n/a"},
	}
	for _, c := range cases {
		if got := TooFewSamples(r, c.m); got != c.few {
			t.Errorf("%s: TooFewSamples = %v, want %v", c.m.Name, got, c.few)
		}
		if got := CandidateOf(r, c.m); got.Excluded != c.excl {
			t.Errorf("%s: Excluded = %q, want %q", c.m.Name, got.Excluded, c.excl)
		}
	}
	if TooFewSamples(&Result{Figures: Figures{LatencySamples: 10_000}}, MetricLatencyP99) {
		t.Error("exactly 100 beyond p99 is enough")
	}
	if TooFewSamples(&Result{Figures: Figures{Latency: &Latency{P999: Val(1)}}}, MetricLatencyP999) {
		t.Error("n not recorded: not judged here")
	}
}
