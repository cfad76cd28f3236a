package results

import (
	"math"
	"sort"
)

// Steady state: a window is cut into slices (harness: 100 ms), and a monotone trend of
// throughput or of p99 latency across them says the window was not in steady state (warm-up
// still running, a queue building, the machine changing speed under it). The test is
// Spearman's rank correlation against the slice index: distribution-free, blind to the scale
// of the figures, and sensitive to any monotone drift, not only a linear one.

// SteadyAlpha is the significance level of the steady-state trend test: a window is "not
// steady" when either trend has p < SteadyAlpha. It is stricter than Alpha because every
// repetition is tested twice and a false alarm costs a re-measurement.
const SteadyAlpha = 0.01

// MinSteadySlices is the fewest slices the trend test is run on (fewer: Steady stays nil).
// With 5 slices only a near-perfect monotone trend (|ρ| > 0.96) reaches SteadyAlpha, with 10
// one of |ρ| > 0.77, with 20 one of |ρ| > 0.56: short windows catch only strong drifts.
const MinSteadySlices = 5

// Spearman returns Spearman's rank correlation of xs and ys (midranks for ties: the Pearson
// correlation of the ranks) and its two-sided p-value from Student's t with n−2 degrees of
// freedom, t = ρ·√((n−2)/(1−ρ²)), as scipy.stats.spearmanr does. Fewer than 3 pairs, unequal
// lengths or a constant series give ρ = 0, p = 1 (no evidence of a trend).
func Spearman(xs, ys []float64) (rho, p float64) {
	n := len(xs)
	if n < 3 || n != len(ys) {
		return 0, 1
	}
	rx, ry := midranks(xs), midranks(ys)
	mx, my := float64(n+1)/2, float64(n+1)/2
	var sxy, sxx, syy float64
	for i := range rx {
		dx, dy := rx[i]-mx, ry[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return 0, 1
	}
	rho = sxy / math.Sqrt(sxx*syy)
	rho = math.Max(-1, math.Min(1, rho))
	df := float64(n - 2)
	if 1-rho*rho <= 0 {
		return rho, 0
	}
	t := rho * math.Sqrt(df/(1-rho*rho))
	return rho, StudentTwoSidedP(t, df)
}

// midranks returns the 1-based ranks of xs, ties sharing the mean of their ranks.
func midranks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	r := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		mid := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = mid
		}
		i = j + 1
	}
	return r
}

// StudentTwoSidedP is P(|T| ≥ |t|) for Student's t with df degrees of freedom:
// I_{df/(df+t²)}(df/2, 1/2), the regularized incomplete beta function.
func StudentTwoSidedP(t, df float64) float64 {
	if math.IsNaN(t) || df <= 0 {
		return math.NaN()
	}
	if math.IsInf(t, 0) {
		return 0
	}
	return RegIncBeta(df/(df+t*t), df/2, 0.5)
}

// RegIncBeta is the regularized incomplete beta function I_x(a, b) for a, b > 0 and x in
// [0, 1], evaluated by its continued fraction (modified Lentz), on the side of the symmetry
// I_x(a, b) = 1 − I_{1−x}(b, a) where the fraction converges fast.
func RegIncBeta(x, a, b float64) float64 {
	switch {
	case math.IsNaN(x) || a <= 0 || b <= 0:
		return math.NaN()
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a)
	lb, _ := math.Lgamma(b)
	lab, _ := math.Lgamma(a + b)
	front := math.Exp(lab - la - lb + a*math.Log(x) + b*math.Log1p(-x))
	if x < (a+1)/(a+b+2) {
		return front * betaFraction(x, a, b) / a
	}
	return 1 - front*betaFraction(1-x, b, a)/b
}

// betaFraction evaluates the continued fraction of the incomplete beta function.
func betaFraction(x, a, b float64) float64 {
	const eps, tiny = 1e-15, 1e-300
	fix := func(v float64) float64 {
		if math.Abs(v) < tiny {
			return tiny
		}
		return v
	}
	c, d := 1.0, 1/fix(1-(a+b)*x/(a+1))
	h := d
	for m := 1; m <= 500; m++ {
		mf := float64(m)
		// Even step.
		num := mf * (b - mf) * x / ((a + 2*mf - 1) * (a + 2*mf))
		d = 1 / fix(1+num*d)
		c = fix(1 + num/c)
		h *= d * c
		// Odd step.
		num = -(a + mf) * (a + b + mf) * x / ((a + 2*mf) * (a + 2*mf + 1))
		d = 1 / fix(1+num*d)
		c = fix(1 + num/c)
		del := d * c
		h *= del
		if math.Abs(del-1) < eps {
			break
		}
	}
	return h
}

// SteadyOf runs the trend test on a window's slices: throughput (messages per slice, or per
// second: only ranks matter) and p99 latency of each slice, in time order. A NaN p99 (a slice
// without a latency sample) is left out of the latency test. It returns nil when fewer than
// MinSteadySlices slices are given. WarmupNs and WarmupLengthened are the caller's.
func SteadyOf(throughput, p99 []float64) *Steady {
	if len(throughput) < MinSteadySlices {
		return nil
	}
	st := &Steady{Slices: len(throughput), OK: true}
	st.ThroughputRho, st.ThroughputP = Spearman(sliceIndexes(len(throughput)), throughput)
	var li, lv []float64
	for i, v := range p99 {
		if !math.IsNaN(v) {
			li = append(li, float64(i))
			lv = append(lv, v)
		}
	}
	st.LatencyRho, st.LatencyP = 0, 1
	if len(lv) >= MinSteadySlices {
		st.LatencyRho, st.LatencyP = Spearman(li, lv)
	}
	st.OK = st.ThroughputP >= SteadyAlpha && st.LatencyP >= SteadyAlpha
	return st
}

func sliceIndexes(n int) []float64 {
	xs := make([]float64, n)
	for i := range xs {
		xs[i] = float64(i)
	}
	return xs
}
