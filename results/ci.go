package results

import (
	"math"
	"sort"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Confidence of a latency percentile, distribution-free: the p-quantile of n samples lies
// between the order statistics of ranks n·p ∓ z·√(n·p·(1−p)) with about 95 % probability for
// z = 1.96 (the normal approximation of the binomial count of samples below the true
// quantile; Conover, Practical Nonparametric Statistics, §3.2). It needs no assumption about
// the shape of the distribution, which latency tails never honour, and it says plainly how
// little a p99.9 of 2 000 samples knows.

// ciZ is the standard normal quantile of a two-sided 95 % interval.
const ciZ = 1.959963984540054

// PercentileCIRanks returns the 1-based ranks [lo, hi] of the order statistics that bound the
// p-quantile (0 < p < 1) of n samples at 95 %: ⌊n·p − z·√(n·p·(1−p))⌋ and
// ⌈n·p + z·√(n·p·(1−p))⌉, clamped to [1, n]. ok is false for n = 0 or p outside (0, 1).
func PercentileCIRanks(n uint64, p float64) (lo, hi uint64, ok bool) {
	if n == 0 || !(p > 0 && p < 1) {
		return 0, 0, false
	}
	nf := float64(n)
	mid := nf * p
	half := ciZ * math.Sqrt(nf*p*(1-p))
	clamp := func(r float64) uint64 {
		switch {
		case r < 1:
			return 1
		case r > nf:
			return n
		}
		return uint64(r)
	}
	return clamp(math.Floor(mid - half)), clamp(math.Ceil(mid + half)), true
}

// TailSamples is the number of the n samples that lie beyond the p-quantile: n·(1−p).
func TailSamples(n uint64, p float64) float64 { return float64(n) * (1 - p) }

// EnoughTailSamples reports whether the p-quantile of n samples has at least MinTailSamples
// samples beyond it, so that it may be shown as a number.
func EnoughTailSamples(n uint64, p float64) bool { return TailSamples(n, p) >= MinTailSamples }

// ValuesAtRanks reads the values of the given 1-based ranks from h, in the order given: the
// rank-th smallest recorded value, reported as the highest value equivalent to its bucket
// (the convention of hdrhistogram's ValueAtQuantile, so an interval and the point estimate
// it brackets are read the same way). A rank beyond the total count reads the largest value.
func ValuesAtRanks(h *hdrhistogram.Histogram, ranks []uint64) []float64 {
	out := make([]float64, len(ranks))
	if h == nil || h.TotalCount() == 0 || len(ranks) == 0 {
		return out
	}
	order := make([]int, len(ranks))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return ranks[order[a]] < ranks[order[b]] })
	var cum uint64
	k := 0
	last := 0.0
	for _, bar := range h.Distribution() {
		if bar.Count == 0 {
			continue
		}
		cum += uint64(bar.Count)
		last = float64(bar.To)
		for k < len(order) && ranks[order[k]] <= cum {
			out[order[k]] = last
			k++
		}
		if k == len(order) {
			return out
		}
	}
	for ; k < len(order); k++ {
		out[order[k]] = last
	}
	return out
}

// LatencyCIOf computes the 95 % confidence intervals of p50, p99 and p99.9 from a window's
// merged histogram, and the sample count n they rest on. A nil histogram or an empty one
// gives (nil, 0).
func LatencyCIOf(h *hdrhistogram.Histogram) (*LatencyCI, uint64) {
	if h == nil || h.TotalCount() <= 0 {
		return nil, 0
	}
	n := uint64(h.TotalCount())
	ps := []float64{0.50, 0.99, 0.999}
	var ranks []uint64
	for _, p := range ps {
		lo, hi, _ := PercentileCIRanks(n, p)
		ranks = append(ranks, lo, hi)
	}
	v := ValuesAtRanks(h, ranks)
	iv := func(i int) *[2]float64 { return &[2]float64{v[2*i], v[2*i+1]} }
	return &LatencyCI{P50: iv(0), P99: iv(1), P999: iv(2)}, n
}
