package results

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestHolm(t *testing.T) {
	cases := []struct {
		name string
		in   []float64
		want []float64
	}{
		{"empty", nil, []float64{}},
		{"one test is not corrected", []float64{0.03}, []float64{0.03}},
		// Sorted 0.01, 0.02, 0.04: ×3, ×2, ×1 = 0.03, 0.04, 0.04 (kept non-decreasing).
		{"step-down", []float64{0.04, 0.01, 0.02}, []float64{0.04, 0.03, 0.04}},
		// 0.001×4 = 0.004, 0.02×3 = 0.06, 0.03×2 = 0.06 (monotone), 0.5×1 = 0.5.
		{"monotone", []float64{0.5, 0.03, 0.001, 0.02}, []float64{0.5, 0.06, 0.004, 0.06}},
		{"capped at 1", []float64{0.6, 0.7}, []float64{1, 1}},
		{"NaN counts as 1", []float64{math.NaN(), 0.01}, []float64{1, 0.02}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Holm(c.in)
			if len(got) != len(c.want) {
				t.Fatalf("Holm(%v) = %v", c.in, got)
			}
			for i := range got {
				if math.Abs(got[i]-c.want[i]) > 1e-12 {
					t.Fatalf("Holm(%v) = %v, want %v", c.in, got, c.want)
				}
			}
		})
	}
}

// TestHolmBoundsFalseVerdicts draws runs of 50 tests of identical labels (5 and 8
// repetitions each, normal noise): uncorrected, most runs call something significant; with
// Holm, at most about α of them.
func TestHolmBoundsFalseVerdicts(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func(n int) []float64 {
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = 100 + 5*rng.NormFloat64()
		}
		return xs
	}
	const runs, tests = 400, 50
	for _, n := range []int{5, 8} {
		rawRuns, holmRuns := 0, 0
		for range runs {
			ps := make([]float64, tests)
			raw := false
			for i := range ps {
				ps[i] = MannWhitneyU(draw(n), draw(n)).P
				raw = raw || ps[i] < Alpha
			}
			holm := false
			for _, a := range Holm(ps) {
				holm = holm || a < Alpha
			}
			if raw {
				rawRuns++
			}
			if holm {
				holmRuns++
			}
		}
		if rawRuns < runs/2 {
			t.Errorf("n=%d: uncorrected, only %d of %d null runs called something significant (expected most)", n, rawRuns, runs)
		}
		// The family-wise rate is at most α = 5 % (20 of 400); allow sampling error.
		if holmRuns > 2*runs/20 {
			t.Errorf("n=%d: with Holm, %d of %d null runs called something significant (want ≤ about 5 %%)", n, holmRuns, runs)
		}
	}
}

func TestMinExactPAndRepsFor(t *testing.T) {
	cases := []struct {
		n1, n2 int
		want   float64
	}{{5, 5, 2.0 / 252}, {8, 8, 2.0 / 12870}, {2, 2, 1.0 / 3}, {0, 5, 1}}
	for _, c := range cases {
		if got := MinExactP(c.n1, c.n2); math.Abs(got-c.want) > 1e-12 {
			t.Errorf("MinExactP(%d, %d) = %v, want %v", c.n1, c.n2, got, c.want)
		}
		// The exact test reaches it for a complete separation.
		if c.n1 > 0 && c.n2 > 0 {
			x, y := make([]float64, c.n1), make([]float64, c.n2)
			for i := range x {
				x[i] = float64(i)
			}
			for i := range y {
				y[i] = float64(100 + i)
			}
			if p := MannWhitneyU(x, y).P; math.Abs(p-c.want) > 1e-9 {
				t.Errorf("complete separation %d vs %d: p = %v, want %v", c.n1, c.n2, p, c.want)
			}
		}
	}
	for _, c := range []struct{ m, want int }{{1, 4}, {6, 5}, {7, 6}, {50, 7}, {85, 7}, {86, 8}} {
		if got := RepsFor(c.m); got != c.want {
			t.Errorf("RepsFor(%d) = %d, want %d", c.m, got, c.want)
		}
	}
}

func TestFamily(t *testing.T) {
	sep := MannWhitneyU(low, high) // p = 0.0079
	mixed := MannWhitneyU([]float64{1, 3, 5, 7, 9}, []float64{2, 4, 6, 8, 10})
	two := MannWhitneyU([]float64{1, 2}, []float64{3, 4}) // can never be significant

	t.Run("one test: as uncorrected", func(t *testing.T) {
		f := NewFamily("v")
		f.Add("a", sep)
		f.Close()
		u := f.Adjust("a", sep)
		if !u.Adjusted || u.PAdj != sep.P || u.FamilySize != 1 || !u.Significant(Alpha) {
			t.Fatalf("Adjust = %+v", u)
		}
	})
	t.Run("many tests: a lone separation of 5 vs 5 is no longer significant", func(t *testing.T) {
		f := NewFamily("v")
		f.Add("a", sep)
		for i := range 9 {
			f.Add(strings.Repeat("m", i+1), mixed)
		}
		f.Add("a", mixed) // a key added twice keeps its first test
		f.Close()
		u := f.Adjust("a", sep)
		if f.Size() != 10 || math.Abs(u.PAdj-10*sep.P) > 1e-12 || u.Significant(Alpha) {
			t.Fatalf("size %d, Adjust = %+v", f.Size(), u)
		}
		j := Judge(u, 0.5, nil)
		if j.Significant || !strings.Contains(j.Why, "Holm") {
			t.Fatalf("Judge = %+v", j)
		}
		if sep.Significant(Alpha) != true {
			t.Fatal("the uncorrected test must be unchanged")
		}
	})
	t.Run("tests that can never be significant take no share", func(t *testing.T) {
		f := NewFamily("v")
		f.Add("a", sep)
		f.Add("cap1", two)
		f.Add("cap2", two)
		f.Close()
		if f.Size() != 1 || f.Left != 2 {
			t.Fatalf("size %d left %d", f.Size(), f.Left)
		}
		if u := f.Adjust("a", sep); !u.Significant(Alpha) {
			t.Fatalf("Adjust = %+v", u)
		}
	})
	t.Run("before Close and unknown keys: Bonferroni over the size", func(t *testing.T) {
		f := NewFamily("v")
		f.Add("a", sep)
		f.Add("b", sep)
		if u := f.Adjust("a", sep); math.Abs(u.PAdj-2*sep.P) > 1e-12 {
			t.Fatalf("before Close: %+v", u)
		}
		f.Close()
		f.Add("c", sep) // ignored after Close
		if u := f.Adjust("zzz", sep); f.Size() != 2 || math.Abs(u.PAdj-2*sep.P) > 1e-12 {
			t.Fatalf("unknown key: size %d, %+v", f.Size(), u)
		}
	})
	t.Run("nil family leaves the test alone", func(t *testing.T) {
		var f *Family
		f.Add("a", sep)
		f.Close()
		if u := f.Adjust("a", sep); u.Adjusted || f.Size() != 0 {
			t.Fatalf("%+v", u)
		}
	})
	t.Run("A/A calibration judged on corrected p", func(t *testing.T) {
		f := NewFamily("aa")
		for i := range 20 {
			f.Add(strings.Repeat("k", i+1), mixed)
		}
		f.Add("pt", sep)
		f.Close()
		a := Calibrate([]Candidate{cand("netstd", low...)}, []Candidate{cand("netstd#aa", high...)},
			func(int, UTest) UTest { return f.Adjust("pt", sep) })
		if a.Noisy {
			t.Fatalf("one separation among 21 A/A tests must not make the pair noisy: %+v", a.Points[0].U)
		}
		b := Calibrate([]Candidate{cand("netstd", low...)}, []Candidate{cand("netstd#aa", high...)}, nil)
		if !b.Noisy {
			t.Fatal("uncorrected, the separation is significant")
		}
	})
}
