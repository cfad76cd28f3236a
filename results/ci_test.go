package results

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestPercentileCIRanks(t *testing.T) {
	cases := []struct {
		name   string
		n      uint64
		p      float64
		lo, hi uint64
		ok     bool
	}{
		// n·p ∓ 1.96·√(n·p·(1−p)), rounded outward.
		{"p99 of 10000", 10000, 0.99, 9880, 9920, true},        // 9900 ∓ 19.50
		{"median of 1000", 1000, 0.5, 469, 531, true},          // 500 ∓ 30.99
		{"p99.9 of 100000", 100000, 0.999, 99880, 99920, true}, // 99900 ∓ 19.59
		{"p99.9 of 100: clamped to n", 100, 0.999, 99, 100, true},
		{"p50 of 1: clamped to 1", 1, 0.5, 1, 1, true},
		{"no samples", 0, 0.99, 0, 0, false},
		{"p out of range", 100, 1, 0, 0, false},
		{"p NaN", 100, math.NaN(), 0, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lo, hi, ok := PercentileCIRanks(tc.n, tc.p)
			if lo != tc.lo || hi != tc.hi || ok != tc.ok {
				t.Fatalf("PercentileCIRanks(%d, %v) = %d, %d, %v; want %d, %d, %v", tc.n, tc.p, lo, hi, ok, tc.lo, tc.hi, tc.ok)
			}
		})
	}
}

func TestEnoughTailSamples(t *testing.T) {
	for _, tc := range []struct {
		n    uint64
		p    float64
		want bool
	}{{10000, 0.99, true}, {9999, 0.99, false}, {100000, 0.999, true}, {50000, 0.999, false}, {200, 0.5, true}} {
		if got := EnoughTailSamples(tc.n, tc.p); got != tc.want {
			t.Errorf("EnoughTailSamples(%d, %v) = %v, want %v", tc.n, tc.p, got, tc.want)
		}
	}
}

// Values below 2048 are exact in a 3-digit histogram: rank k of 1..1000 is k.
func TestValuesAtRanksAndLatencyCI(t *testing.T) {
	h := NewLatencyHistogram()
	for v := int64(1000); v >= 1; v-- {
		h.RecordValue(v)
	}
	got := ValuesAtRanks(h, []uint64{1000, 1, 500, 1001, 990})
	want := []float64{1000, 1, 500, 1000, 990}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ValuesAtRanks = %v, want %v", got, want)
		}
	}
	ci, n := LatencyCIOf(h)
	if n != 1000 || ci == nil {
		t.Fatalf("LatencyCIOf: n %d ci %v", n, ci)
	}
	for _, tc := range []struct {
		name   string
		iv     *[2]float64
		lo, hi float64
		point  float64
	}{
		{"p50", ci.P50, 469, 531, float64(h.ValueAtQuantile(50))},
		{"p99", ci.P99, 983, 997, float64(h.ValueAtQuantile(99))},       // 990 ∓ 6.17
		{"p99.9", ci.P999, 997, 1000, float64(h.ValueAtQuantile(99.9))}, // 999 ∓ 1.96, clamped
	} {
		if tc.iv == nil || tc.iv[0] != tc.lo || tc.iv[1] != tc.hi {
			t.Errorf("%s CI = %v, want [%v, %v]", tc.name, tc.iv, tc.lo, tc.hi)
		} else if tc.point < tc.iv[0] || tc.point > tc.iv[1] {
			t.Errorf("%s point estimate %v outside its CI %v", tc.name, tc.point, *tc.iv)
		}
	}
	if ci, n := LatencyCIOf(NewLatencyHistogram()); ci != nil || n != 0 {
		t.Errorf("empty histogram: %v, %d", ci, n)
	}
}

// The interval covers the true p99 of an exponential distribution in about 95 % of samples
// (seeded, so the count is fixed; the bounds allow for the histogram's 0.1 % buckets).
func TestLatencyCICoverage(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const trials, n, scale = 400, 3000, 1e6
	truth := -math.Log(1-0.99) * scale
	covered := 0
	for range trials {
		h := NewLatencyHistogram()
		for range n {
			h.RecordValue(int64(rng.ExpFloat64()*scale) + 1)
		}
		ci, _ := LatencyCIOf(h)
		if ci.P99[0] <= truth*1.001 && truth <= ci.P99[1]*1.001 {
			covered++
		}
	}
	t.Logf("covered %d of %d", covered, trials)
	if share := float64(covered) / trials; share < 0.90 || share > 0.99 {
		t.Fatalf("p99 CI covered the true value in %.1f%% of %d samples, want about 95%%", share*100, trials)
	}
}
