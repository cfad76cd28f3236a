package results

import (
	"math"
	"testing"
)

func variantResult(label, scenario, proto string, frac float64, cpu ...float64) Result {
	r := Result{Backend: label, Label: label, Scenario: scenario, Proto: proto, Mode: ModeOpen, Conns: 100, Size: 64,
		Depth: 1, Rate: 1000, LoadFraction: frac}
	for i, c := range cpu {
		r.Repetitions = append(r.Repetitions, Rep{Index: i, Figures: Figures{MsgsPerSec: Val(1000),
			Server: &ServerMetrics{CPUNsPerMsg: Val(c)}, Log: &LogCounts{Appended: 10, Written: 9, Dropped: 1}}})
	}
	Summarize(&r)
	return r
}

func TestVariantPairs(t *testing.T) {
	run := &Run{Results: []Result{
		variantResult("epoll", ScenarioLogging, "logging", 0.5, 1300, 1310, 1320, 1330, 1340),
		variantResult("epoll", ScenarioLogging, "framed", 0.5, 1000, 1010, 1020, 1030, 1040),
		variantResult("netstd", ScenarioLogging, "logging", 0.5, 2000, 2010, 2020, 2030, 2040),
		variantResult("netstd", ScenarioLogging, "framed", 0.5, 1990, 2000, 2010, 2020, 2030),
		variantResult("netstd#aa", ScenarioLogging, "framed", 0.5, 1980, 1990, 2000, 2010, 2020),
		variantResult("uring", ScenarioLogging, "logging", 0.5, 900), // no plain side: not paired
		variantResult("epoll", ScenarioPingPong, "framed", 0.5, 1000),
	}}
	ps := VariantPairs(run)
	var got []string
	for _, p := range ps {
		got = append(got, p.Label)
	}
	if len(ps) != 2 || got[0] != "epoll" || got[1] != "netstd" {
		t.Fatalf("pairs %v", got)
	}
	if l := run.Results[0].Figures.Log; l == nil || *l != (LogCounts{50, 45, 5}) {
		t.Fatalf("summed log counts %+v", l)
	}
	cases := []struct {
		name   string
		pair   VariantPair
		added  float64
		signif bool
	}{
		{"log lines cost 300 ns/msg on epoll", ps[0], 300, true},
		{"netstd's 10 ns/msg is within the A/A spread", ps[1], 10, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			aa := VariantAA(run, tc.pair, MetricServerCPU)
			if aa == nil || math.Abs(aa.Spread-0.005) > 1e-3 {
				t.Fatalf("A/A %+v", aa)
			}
			d := CompareVariant(tc.pair, MetricServerCPU, aa, nil)
			if !d.OK || d.Added() != tc.added || d.Significant != tc.signif {
				t.Fatalf("delta %+v added %v", d, d.Added())
			}
		})
	}
}
