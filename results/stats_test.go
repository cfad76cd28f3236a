package results

import (
	"math"
	"testing"
)

func TestQuantiles(t *testing.T) {
	cases := []struct {
		name             string
		xs               []float64
		median, q1, q3   float64
		min, max, iqrLen float64
	}{
		{"odd", []float64{3, 1, 2}, 2, 1.5, 2.5, 1, 3, 1},
		{"even", []float64{4, 1, 3, 2}, 2.5, 1.75, 3.25, 1, 4, 1.5},
		{"single", []float64{7}, 7, 7, 7, 7, 7, 0},
		// numpy.percentile([1,2,3,4,5,6,7,8,9,10],[25,50,75]) = 3.25, 5.5, 7.75
		{"ten", []float64{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, 5.5, 3.25, 7.75, 1, 10, 4.5},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Summary(c.xs)
			if r.Median != c.median || r.Q1 != c.q1 || r.Q3 != c.q3 || r.Min != c.min || r.Max != c.max || r.IQR() != c.iqrLen {
				t.Fatalf("Summary(%v) = %+v, want median %v q1 %v q3 %v min %v max %v iqr %v",
					c.xs, r, c.median, c.q1, c.q3, c.min, c.max, c.iqrLen)
			}
			if Median(c.xs) != c.median {
				t.Fatalf("Median = %v", Median(c.xs))
			}
		})
	}
	if !math.IsNaN(Median(nil)) {
		t.Fatal("Median(nil) should be NaN")
	}
}

func TestMannWhitneyU(t *testing.T) {
	cases := []struct {
		name  string
		x, y  []float64
		u, p  float64
		tol   float64
		exact bool
	}{
		// R: wilcox.test(c(1,2,3), c(4,5,6)) -> W = 0, p-value = 0.1
		{"3v3 separated", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 0.1, 1e-12, true},
		// R: wilcox.test(c(1,2,3,4), c(5,6,7,8)) -> W = 0, p-value = 0.02857
		{"4v4 separated", []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 0, 2.0 / 70, 1e-12, true},
		// R's ?wilcox.test example (one-sided p 0.1272): W = 35, two-sided p = 0.2544
		{"R example", []float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46},
			[]float64{1.15, 0.88, 0.90, 0.74, 1.21}, 35, 0.2544, 5e-5, true},
		{"identical", []float64{5, 5, 5}, []float64{5, 5, 5}, 4.5, 1, 1e-12, true},
		// R: wilcox.test(1:30, 11:40, exact=FALSE) -> W = 200, p-value = 0.0002245
		{"normal approx with ties", seq(1, 30), seq(11, 40), 200, 0.00022448, 1e-7, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := MannWhitneyU(c.x, c.y)
			if got.U != c.u || math.Abs(got.P-c.p) > c.tol || got.Exact != c.exact {
				t.Fatalf("MannWhitneyU = %+v, want U %v p %v exact %v", got, c.u, c.p, c.exact)
			}
			// Symmetric in its p-value.
			if r := MannWhitneyU(c.y, c.x); math.Abs(r.P-got.P) > 1e-12 {
				t.Fatalf("p not symmetric: %v vs %v", r.P, got.P)
			}
		})
	}
	if got := MannWhitneyU(nil, []float64{1}); got.P != 1 {
		t.Fatalf("empty sample: p = %v, want 1", got.P)
	}
	if MannWhitneyU([]float64{1, 2, 3}, []float64{4, 5, 6}).Significant(Alpha) {
		t.Fatal("3v3 must not be significant at 0.05")
	}
	if !MannWhitneyU([]float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}).Significant(Alpha) {
		t.Fatal("4v4 separated must be significant at 0.05")
	}
}

// TestMannWhitneyExactTiesBruteForce checks the dynamic-programming exact p against direct
// enumeration of every split, with ties.
func TestMannWhitneyExactTiesBruteForce(t *testing.T) {
	cases := []struct {
		name string
		x, y []float64
	}{
		{"ties across", []float64{1, 2, 2, 3, 5}, []float64{2, 3, 3, 4, 6, 6}},
		{"ties within", []float64{1, 1, 1, 2}, []float64{2, 3, 3}},
		{"no ties", []float64{1.5, 2.5, 9}, []float64{3, 4, 5, 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := MannWhitneyU(c.x, c.y)
			want := bruteP(c.x, c.y)
			if math.Abs(got.P-want) > 1e-12 {
				t.Fatalf("p = %v, brute force %v", got.P, want)
			}
		})
	}
}

func bruteP(x, y []float64) float64 {
	pool := append(append([]float64(nil), x...), y...)
	u := func(a, b []float64) float64 {
		s := 0.0
		for _, p := range a {
			for _, q := range b {
				switch {
				case p > q:
					s++
				case p == q:
					s += 0.5
				}
			}
		}
		return s
	}
	mu := float64(len(x)*len(y)) / 2
	obs := math.Abs(u(x, y) - mu)
	n, k := len(pool), len(x)
	var hit, all float64
	for mask := 0; mask < 1<<n; mask++ {
		var a, b []float64
		for i := 0; i < n; i++ {
			if mask&(1<<i) != 0 {
				a = append(a, pool[i])
			} else {
				b = append(b, pool[i])
			}
		}
		if len(a) != k {
			continue
		}
		all++
		if math.Abs(u(a, b)-mu) >= obs-1e-9 {
			hit++
		}
	}
	return hit / all
}

func seq(lo, hi int) []float64 {
	var xs []float64
	for i := lo; i <= hi; i++ {
		xs = append(xs, float64(i))
	}
	return xs
}

func TestOverlap(t *testing.T) {
	cases := []struct {
		name      string
		a, b      Range
		full, iqr bool
	}{
		{"disjoint", Summary([]float64{1, 2, 3}), Summary([]float64{4, 5, 6}), false, false},
		{"touching", Summary([]float64{1, 2, 3}), Summary([]float64{3, 4, 5}), true, false},
		{"nested", Summary([]float64{1, 5, 9}), Summary([]float64{4, 5, 6}), true, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if Overlap(c.a, c.b) != c.full || Overlap(c.b, c.a) != c.full {
				t.Fatalf("Overlap = %v, want %v", Overlap(c.a, c.b), c.full)
			}
			if OverlapIQR(c.a, c.b) != c.iqr {
				t.Fatalf("OverlapIQR = %v, want %v", OverlapIQR(c.a, c.b), c.iqr)
			}
		})
	}
}
