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
