package plots

import (
	"fmt"
	"math"

	"github.com/iobench/iobench/results"
)

// tailText is how a latency percentile of r is shown everywhere (HTML, Markdown, chart
// legends): its value with the distribution-free 95 % confidence interval in the value's unit,
// "1.23ms [1.20–1.27]"; "too few samples (36 beyond p99.9)" when fewer than
// results.MinTailSamples samples lie beyond it (never a bare number then); and for results
// that did not record their sample count (older runs) the value marked "(no CI)".
func tailText(r *results.Result, m results.Metric) string {
	v := m.Get(&r.Figures)
	if v == nil {
		return na
	}
	if results.TooFewSamples(r, m) {
		p, _ := results.TailP(m)
		return fmt.Sprintf("too few samples (%.0f beyond %s)", math.Floor(results.Beyond(r.LatencySamples, p)), pName(p))
	}
	ci := results.CIOf(&r.Figures, m)
	if ci == nil {
		return dur(*v) + " (no CI)"
	}
	return durRange(*v, ci[0], ci[1])
}

// samplesText is the latency sample count n of r ("36.0k"), or "not recorded".
func samplesText(r *results.Result) string {
	if r.LatencySamples == 0 {
		if r.Latency == nil {
			return na
		}
		return "not recorded"
	}
	return si(float64(r.LatencySamples))
}

func pName(p float64) string {
	switch p {
	case 0.5:
		return "p50"
	case 0.99:
		return "p99"
	case 0.999:
		return "p99.9"
	}
	return fmt.Sprintf("p%g", 100*p)
}

// durRange formats v and its interval in v's unit: "1.23ms [1.20–1.27]".
func durRange(v, lo, hi float64) string {
	scale, unit := 1.0, "ns"
	switch a := v; {
	case a >= 1e9:
		scale, unit = 1e9, "s"
	case a >= 1e6:
		scale, unit = 1e6, "ms"
	case a >= 1e3:
		scale, unit = 1e3, "µs"
	}
	return fmt.Sprintf("%s%s [%s–%s]", trim(v/scale), unit, trim(lo/scale), trim(hi/scale))
}
