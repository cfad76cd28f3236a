package harness

import (
	"bytes"
	"strings"
	"testing"

	"github.com/iobench/iobench/results"
)

// The summary marks overlapping ranges as not significant and labels client-bound throughput.
func TestSummaryRankingAndLabels(t *testing.T) {
	mk := func(backend string, cpu []float64, tput []float64, bottleneck string) results.Result {
		r := results.Result{Backend: backend, ClientBackend: "netstd", Scenario: results.ScenarioPingPong,
			Proto: "echo", Conns: 100, Size: 64, Depth: 1, Mode: results.ModeClosed}
		for i := range cpu {
			r.Repetitions = append(r.Repetitions, results.Rep{Index: i, Figures: results.Figures{
				MsgsPerSec: results.Val(tput[i]), Bottleneck: bottleneck,
				Server: &results.ServerMetrics{CPUNsPerMsg: results.Val(cpu[i])}}})
		}
		results.Summarize(&r)
		return r
	}
	run := &results.Run{Suite: "test", Results: []results.Result{
		mk("a", []float64{5000, 5100, 5200}, []float64{140e3, 141e3, 142e3}, results.BottleneckClient),
		mk("b", []float64{5150, 5300, 5400}, []float64{139e3, 140e3, 143e3}, results.BottleneckClient),
		mk("c", []float64{7000, 7100, 7200}, []float64{100e3, 101e3, 102e3}, results.BottleneckServer),
		{Backend: "d", Scenario: results.ScenarioPingPong, Proto: "echo", Conns: 100, Size: 64, Depth: 1,
			Mode: results.ModeClosed, Skipped: "d: unsupported: not here"},
	}}
	var out bytes.Buffer
	PrintSummary(&out, run)
	s := out.String()
	for _, want := range []string{
		"server ns/msg, lower is better: a 5100 ~ b 5300 < c 7100",
		"141000 [140000-142000] (client-bound)",
		"msgs/s, higher is better: a 141000 (client-bound) ~ b 140000 (client-bound) > c 101000",
		"not significant (msgs/s ranges overlap): a~b",
		"d skipped: d: unsupported: not here",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
}

// Figures measured under Wine must say they are not Windows numbers, in the summary too.
func TestSummaryLabelsWine(t *testing.T) {
	for _, tc := range []struct {
		name string
		wine bool
	}{{"native", false}, {"wine", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			PrintSummary(&out, &results.Run{Suite: "test", Env: results.Env{OS: "windows", UnderWine: tc.wine}})
			if got := strings.Contains(out.String(), "not Windows numbers"); got != tc.wine {
				t.Fatalf("under_wine=%v but label shown=%v:\n%s", tc.wine, got, out.String())
			}
		})
	}
}

// A ladder point's table: p99 with its CI, a tail with too few samples, a saturated label left
// out of the ranking, a label that was not steady, drifted and interrupted repetitions, and the
// title naming the fraction of the common capacity.
func TestSummaryLadderPoint(t *testing.T) {
	ci := func(lo, hi float64) *[2]float64 { return &[2]float64{lo, hi} }
	mk := func(label string, cpu float64, saturated, steady bool, drift int) results.Result {
		r := results.Result{Backend: strings.TrimSuffix(label, results.AASuffix), Label: label, ClientBackend: "gnet",
			Scenario: results.ScenarioBroadcast, Proto: "broadcast", Conns: 64, Size: 64, Depth: 1,
			Mode: results.ModeOpen, Rate: 19200, LoadFraction: 0.4}
		for i := range 3 {
			f := results.Figures{MsgsPerSec: results.Val(19100 + float64(i)), Saturated: saturated,
				Latency:        &results.Latency{P50: results.Val(250e3), P99: results.Val(2e6 + float64(i)), P999: results.Val(5e6)},
				LatencyCI:      &results.LatencyCI{P99: ci(1.8e6, 2.3e6)},
				LatencySamples: 12000,
				Server:         &results.ServerMetrics{CPUNsPerMsg: results.Val(cpu + float64(i))},
				Steady:         &results.Steady{OK: steady, Slices: 10}}
			r.Repetitions = append(r.Repetitions, results.Rep{Index: i, Figures: f, SpeedDrifted: i < drift})
		}
		results.Summarize(&r)
		// What the report side's Summarize carries into the headline (older ones do not).
		r.LatencyCI, r.LatencySamples, r.Saturated = &results.LatencyCI{P99: ci(1.8e6, 2.3e6)}, 12000, saturated
		r.Steady = &results.Steady{OK: steady, Slices: 10}
		return r
	}
	run := &results.Run{Suite: "test", Speed: &results.Speed{Index: 101.5, Rounds: []results.Calibration{{Index: 101.5, Drifted: true}}},
		Capacities: []results.Capacity{{Workload: "broadcast broadcast conns=64 size=64 depth=1 open", MsgsPerSec: 48000, LimitedBy: "netstd"}},
		Results: []results.Result{mk("epoll", 3000, false, true, 0), mk("netstd", 4000, false, false, 1),
			mk("netstd#aa", 4100, false, true, 0), mk("gnet", 2000, true, true, 0), mk("uring", 3500, false, true, 0)}}
	run.Results[4].LatencySamples = 5000 // 50 beyond p99: shown as "few", not ranked on p99
	var out bytes.Buffer
	PrintSummary(&out, run)
	s := out.String()
	for _, want := range []string{
		"EQUAL LOAD 40% of the common capacity 48000 msgs/s, limited by netstd",
		"2.00ms [1.80ms-2.30ms]",
		"few (n=12000)", // p99.9 of 12 000 samples has 12 beyond it
		"saturated at this rate (not ranked): gnet",
		"server ns/msg, lower is better: epoll 3001 < uring 3501 < netstd 4001 < netstd#aa 4101",
		"not steady drift 1/3",
		"Machine speed index 101.5",
		"1 round(s) drifted",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "gnet 2001") {
		t.Errorf("the saturated label is ranked:\n%s", s)
	}
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "p99, lower is better") && strings.Contains(l, "uring") {
			t.Errorf("a p99 of too few samples is ranked: %s", l)
		}
	}
	if !strings.Contains(s, "few (n=5000)") {
		t.Errorf("the thin p99 is not shown as few:\n%s", s)
	}
}
