package plots

import (
	"testing"

	"github.com/iobench/iobench/results"
)

// TestTailText: a percentile is shown with its CI, or as "too few samples" — never bare.
func TestTailText(t *testing.T) {
	lat := &results.Latency{P50: results.Val(212e3), P99: results.Val(1.234e6), P999: results.Val(3.1e6)}
	ci := &results.LatencyCI{P50: &[2]float64{210e3, 214e3}, P99: &[2]float64{1.2e6, 1.27e6}}
	cases := []struct {
		name string
		f    results.Figures
		m    results.Metric
		want string
	}{
		{"with CI", results.Figures{Latency: lat, LatencyCI: ci, LatencySamples: 50_000}, results.MetricLatencyP99, "1.23ms [1.20–1.27]"},
		{"p50 in µs", results.Figures{Latency: lat, LatencyCI: ci, LatencySamples: 50_000}, results.MetricLatencyP50, "212µs [210–214]"},
		{"too few beyond p99.9", results.Figures{Latency: lat, LatencyCI: ci, LatencySamples: 50_000}, results.MetricLatencyP999, "too few samples (50 beyond p99.9)"},
		{"too few even with a CI", results.Figures{Latency: lat, LatencyCI: ci, LatencySamples: 9_999}, results.MetricLatencyP99, "too few samples (99 beyond p99)"},
		{"enough but no CI", results.Figures{Latency: lat, LatencySamples: 500_000}, results.MetricLatencyP999, "3.10ms (no CI)"},
		{"n not recorded (older runs)", results.Figures{Latency: lat}, results.MetricLatencyP99, "1.23ms (no CI)"},
		{"not measured", results.Figures{}, results.MetricLatencyP99, "n/a"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &results.Result{Figures: c.f}
			if got := tailText(r, c.m); got != c.want {
				t.Fatalf("tailText = %q, want %q", got, c.want)
			}
		})
	}
	if got := samplesText(&results.Result{Figures: results.Figures{Latency: lat}}); got != "not recorded" {
		t.Errorf("samplesText = %q", got)
	}
}
