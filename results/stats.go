package results

import (
	"math"
	"sort"
)

// Median returns the median of xs (mean of the two middle values for even n); NaN if empty.
func Median(xs []float64) float64 { return Quantile(xs, 0.5) }

// Quantile returns the q-quantile of xs by linear interpolation between order statistics
// (Hyndman & Fan type 7, the R and NumPy default); NaN if empty.
func Quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := sorted(xs)
	h := q * float64(len(s)-1)
	lo := math.Floor(h)
	i := int(lo)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (h-lo)*(s[i+1]-s[i])
}

// Summary returns the Range (n, min, quartiles, median, max) of xs.
func Summary(xs []float64) Range {
	if len(xs) == 0 {
		return Range{}
	}
	s := sorted(xs)
	return Range{N: len(s), Min: s[0], Q1: Quantile(s, 0.25), Median: Quantile(s, 0.5),
		Q3: Quantile(s, 0.75), Max: s[len(s)-1]}
}

// IQR is the interquartile range Q3-Q1.
func (r Range) IQR() float64 { return r.Q3 - r.Q1 }

func sorted(xs []float64) []float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s
}

// Alpha is the significance level of the report's comparisons (benchstat's default).
const Alpha = 0.05

// UTest is the outcome of a two-sided Mann–Whitney U test.
type UTest struct {
	N1, N2 int
	U      float64 // U statistic of the first sample: #(x>y) + #(x==y)/2
	P      float64 // two-sided p-value
	Exact  bool    // exact (conditional) distribution rather than the normal approximation
	// Adjusted: PAdj is P corrected for the other tests of its family (Family.Adjust, Holm's
	// method over FamilySize tests); significance is then judged on PAdj.
	Adjusted   bool
	PAdj       float64
	FamilySize int
}

// Decisive is the p that significance is judged on: PAdj when adjusted, else P.
func (t UTest) Decisive() float64 {
	if t.Adjusted {
		return t.PAdj
	}
	return t.P
}

// Significant reports whether the decisive p (Decisive) < alpha.
func (t UTest) Significant(alpha float64) bool { return t.Decisive() < alpha }

// exactLimit is the pooled sample size up to which the exact distribution is used (as
// benchstat's moremath does for small samples); above it the normal approximation with tie
// and continuity correction is accurate.
const exactLimit = 50

// MannWhitneyU tests whether x and y come from the same distribution (two-sided), as benchstat
// does to decide whether two sets of benchmark repetitions differ. For n1+n2 <= 50 the p-value
// is exact: the permutation distribution of the rank sum, conditional on the observed ties
// (midranks), computed by dynamic programming. Above that it uses the normal approximation
// with tie correction and continuity correction (as R's wilcox.test with exact=FALSE).
// Either sample empty: P is 1 (no evidence). Note: with 3 vs 3 samples the smallest possible
// p is 0.1, so nothing is significant at 0.05; 4 vs 4 reaches 0.029.
func MannWhitneyU(x, y []float64) UTest {
	n1, n2 := len(x), len(y)
	t := UTest{N1: n1, N2: n2, P: 1}
	if n1 == 0 || n2 == 0 {
		return t
	}
	type obs struct {
		v     float64
		first bool
	}
	all := make([]obs, 0, n1+n2)
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	n := n1 + n2
	// Doubled midranks are integers: rank r (1-based) doubled is 2r; a tie group spanning
	// ranks a..b has midrank (a+b)/2, doubled a+b.
	rank2 := make([]int, n)
	tieTerm := 0.0 // sum over tie groups of t^3 - t
	for i := 0; i < n; {
		j := i
		for j+1 < n && all[j+1].v == all[i].v {
			j++
		}
		for k := i; k <= j; k++ {
			rank2[k] = (i + 1) + (j + 1)
		}
		g := float64(j - i + 1)
		tieTerm += g*g*g - g
		i = j + 1
	}
	r1x2 := 0
	for k := range all {
		if all[k].first {
			r1x2 += rank2[k]
		}
	}
	t.U = float64(r1x2)/2 - float64(n1*(n1+1))/2
	mu := float64(n1*n2) / 2
	if n <= exactLimit {
		t.Exact = true
		t.P = exactP(rank2, n1, r1x2)
		return t
	}
	nf := float64(n)
	sigma2 := float64(n1*n2) / 12 * ((nf + 1) - tieTerm/(nf*(nf-1)))
	if sigma2 <= 0 { // every value equal
		return t
	}
	d := math.Abs(t.U-mu) - 0.5
	if d < 0 {
		d = 0
	}
	z := d / math.Sqrt(sigma2)
	t.P = math.Min(1, math.Erfc(z/math.Sqrt2))
	return t
}

// exactP is the two-sided p-value of the doubled rank sum obs of a size-k subset drawn from
// the doubled ranks: P(|S - E[S]| >= |obs - E[S]|) over all C(n, k) equally likely subsets.
func exactP(rank2 []int, k, obs int) float64 {
	total := 0
	for _, r := range rank2 {
		total += r
	}
	// ways[j][s]: number of j-subsets of the items seen so far with doubled rank sum s.
	ways := make([][]float64, k+1)
	for j := range ways {
		ways[j] = make([]float64, total+1)
	}
	ways[0][0] = 1
	for _, r := range rank2 {
		for j := k; j >= 1; j-- {
			prev, cur := ways[j-1], ways[j]
			for s := total; s >= r; s-- {
				cur[s] += prev[s-r]
			}
		}
	}
	// E[S] doubled*2 to stay in integers: 2*E[S] = 2*k*total/n; compare 2*n*S - 2*k*total.
	n := len(rank2)
	dev := func(s int) int {
		d := n*s - k*total
		if d < 0 {
			d = -d
		}
		return d
	}
	od := dev(obs)
	var hit, all float64
	for s, w := range ways[k] {
		if w == 0 {
			continue
		}
		all += w
		if dev(s) >= od {
			hit += w
		}
	}
	return math.Min(1, hit/all)
}

// Overlap reports whether the [Min, Max] ranges of two spreads intersect: overlapping ranges
// across repetitions are a warning sign that a difference may be noise.
func Overlap(a, b Range) bool { return a.Min <= b.Max && b.Min <= a.Max }

// OverlapIQR reports whether the interquartile ranges intersect.
func OverlapIQR(a, b Range) bool { return a.Q1 <= b.Q3 && b.Q1 <= a.Q3 }
