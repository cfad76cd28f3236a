package results

import (
	"math"
	"testing"
)

// The worked example of Wikipedia's "Spearman's rank correlation coefficient" article (IQ
// against hours of TV per week): ρ = −29/165, p = 0.627188 by the t-distribution.
func TestSpearmanFixture(t *testing.T) {
	iq := []float64{106, 100, 86, 101, 99, 103, 97, 113, 112, 110}
	tv := []float64{7, 27, 2, 50, 28, 29, 20, 12, 6, 17}
	rho, p := Spearman(iq, tv)
	if math.Abs(rho-(-29.0/165)) > 1e-12 {
		t.Errorf("rho = %v, want %v", rho, -29.0/165)
	}
	if math.Abs(p-0.627188) > 5e-6 {
		t.Errorf("p = %v, want 0.627188", p)
	}
}

func TestSpearmanCases(t *testing.T) {
	up := []float64{1, 2, 3, 4, 5, 6, 7, 8}
	for _, tc := range []struct {
		name       string
		xs, ys     []float64
		rho        float64
		pLow, pHig float64
	}{
		{"perfect increase", up, []float64{10, 20, 30, 35, 36, 50, 80, 81}, 1, 0, 0},
		{"perfect decrease", up, []float64{9, 8, 7, 6, 5, 4, 3, 2}, -1, 0, 0},
		// Ties take midranks: ranks of ys are 1.5 1.5 3 4 5 6 7 8, so ρ = 41.5/√(42·41.5).
		{"ties", up, []float64{1, 1, 2, 3, 4, 5, 6, 7}, math.Sqrt(41.5 / 42), 0, 1e-5},
		{"constant series", up, []float64{3, 3, 3, 3, 3, 3, 3, 3}, 0, 1, 1},
		{"too short", []float64{1, 2}, []float64{2, 1}, 0, 1, 1},
		{"unequal lengths", up, []float64{1, 2, 3}, 0, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rho, p := Spearman(tc.xs, tc.ys)
			if math.Abs(rho-tc.rho) > 1e-12 || p < tc.pLow || p > tc.pHig {
				t.Fatalf("Spearman = %v, %v; want rho %v, p in [%v, %v]", rho, p, tc.rho, tc.pLow, tc.pHig)
			}
		})
	}
}

// StudentTwoSidedP against the critical values of a t table and against a numerical
// integration of the t density (an independent computation).
func TestStudentTwoSidedP(t *testing.T) {
	for _, tc := range []struct{ t, df, p float64 }{
		{2.228, 10, 0.05}, {3.169, 10, 0.01}, {12.706, 1, 0.05}, {2.086, 20, 0.05}, {1.96, 1e6, 0.05},
	} {
		if got := StudentTwoSidedP(tc.t, tc.df); math.Abs(got-tc.p) > 2e-4 {
			t.Errorf("StudentTwoSidedP(%v, %v) = %v, want %v", tc.t, tc.df, got, tc.p)
		}
	}
	density := func(x, df float64) float64 {
		lg1, _ := math.Lgamma((df + 1) / 2)
		lg2, _ := math.Lgamma(df / 2)
		return math.Exp(lg1-lg2) / math.Sqrt(df*math.Pi) * math.Pow(1+x*x/df, -(df+1)/2)
	}
	for _, df := range []float64{3, 7, 18} {
		for _, tv := range []float64{0.3, 1.1, 2.5} {
			// P(|T| >= t) = 1 - 2∫_0^t f, Simpson's rule with 2000 intervals.
			const m = 2000
			h := tv / m
			sum := density(0, df) + density(tv, df)
			for i := 1; i < m; i++ {
				w := 2.0
				if i%2 == 1 {
					w = 4
				}
				sum += w * density(float64(i)*h, df)
			}
			want := 1 - 2*sum*h/3
			if got := StudentTwoSidedP(tv, df); math.Abs(got-want) > 1e-8 {
				t.Errorf("StudentTwoSidedP(%v, %v) = %v, integration %v", tv, df, got, want)
			}
		}
	}
}

func TestSteadyOf(t *testing.T) {
	nan := math.NaN()
	flat := []float64{100, 103, 98, 101, 99, 102, 100, 97, 103, 100, 99, 101}
	rising := []float64{80, 84, 85, 88, 90, 91, 95, 96, 99, 100, 104, 108}
	for _, tc := range []struct {
		name       string
		tput, p99  []float64
		ok, tested bool
	}{
		{"flat", flat, flat, true, true},
		{"throughput still rising (warm-up)", rising, flat, false, true},
		{"latency climbing (a queue building)", flat, rising, false, true},
		{"slices without latency are left out", flat, []float64{1, nan, 1.2, 0.9, nan, 1.1, 1, 1, nan, 1.05, 0.95, 1}, true, true},
		{"too few slices", flat[:4], flat[:4], false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := SteadyOf(tc.tput, tc.p99)
			if (st != nil) != tc.tested {
				t.Fatalf("SteadyOf tested = %v, want %v", st != nil, tc.tested)
			}
			if st == nil {
				return
			}
			if st.OK != tc.ok || st.Slices != len(tc.tput) {
				t.Fatalf("SteadyOf = %+v, want ok %v over %d slices", *st, tc.ok, len(tc.tput))
			}
		})
	}
}
