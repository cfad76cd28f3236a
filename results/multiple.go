package results

import (
	"math"
	"sort"
)

// This file holds the multiple-comparison rule of the report. One run's report makes about
// fifty tests (every metric at every rate of every workload, best against runner-up). Tested
// one by one at α = 0.05, a run of identical backends would show one or two "significant"
// differences by chance (1 − 0.968^50 ≈ 80 % of runs with 5 against 5 repetitions), and two
// runs of one machine would disagree on them. So the tests of one run are corrected together,
// as a family, by Holm's step-down method, which bounds the chance of any false verdict in
// the run (the family-wise error rate) by α under any dependence between the tests. The A/A
// pair's tests are a family of their own: "the A/A pair differed" is then a statement about
// the run, not one draw in fifty.
//
// Holm, S. (1979): "A simple sequentially rejective multiple test procedure", Scandinavian
// Journal of Statistics 6(2), 65–70. Tests that could not be significant even uncorrected
// (their smallest possible p is not below α, e.g. 2 against 2 repetitions) are left out of
// the count, a simplified form of Tarone's rule for discrete tests (Tarone, R. E. (1990): "A
// modified Bonferroni method for discrete data", Biometrics 46(2), 515–522): they cannot
// produce a false verdict, so they need no share of α.

// Holm returns Holm's adjusted p-values of ps, in the same order: the k-th smallest p (k from
// 1) is multiplied by m − k + 1, capped at 1 and made non-decreasing in k. A test is
// significant at level α for the family iff its adjusted p < α. NaN is treated as 1.
func Holm(ps []float64) []float64 {
	m := len(ps)
	idx := make([]int, m)
	for i := range idx {
		idx[i] = i
	}
	p := func(i int) float64 {
		if math.IsNaN(ps[i]) {
			return 1
		}
		return ps[i]
	}
	sort.SliceStable(idx, func(a, b int) bool { return p(idx[a]) < p(idx[b]) })
	out := make([]float64, m)
	run := 0.0
	for k, i := range idx {
		a := math.Min(1, float64(m-k)*p(i))
		run = math.Max(run, a)
		out[i] = run
	}
	return out
}

// MinExactP is the smallest two-sided p the exact Mann–Whitney test can give for n1 against n2
// samples: 2 / C(n1+n2, n1) (1 when either is empty).
func MinExactP(n1, n2 int) float64 {
	if n1 <= 0 || n2 <= 0 {
		return 1
	}
	c := 1.0
	for i := 1; i <= n1; i++ {
		c = c * float64(n2+i) / float64(i)
	}
	return math.Min(1, 2/c)
}

// Family is a set of tests whose p-values are corrected together (Holm). Tests are added
// under a key; once Close is called, Adjust gives each test's adjusted p. A Family is filled
// and read by one goroutine.
type Family struct {
	Name   string
	keys   []string
	raw    map[string]float64
	adj    map[string]float64
	closed bool
	// Left is the number of added tests left out of the count because their smallest
	// possible p was not below Alpha (they can never be significant).
	Left int
}

// NewFamily returns an empty family.
func NewFamily(name string) *Family {
	return &Family{Name: name, raw: map[string]float64{}, adj: map[string]float64{}}
}

// Add records test u under key (a key added twice keeps its first test). A test whose
// smallest possible p is not below Alpha is counted in Left, not in the family.
func (f *Family) Add(key string, u UTest) {
	if f == nil || f.closed {
		return
	}
	if _, dup := f.raw[key]; dup {
		return
	}
	if MinExactP(u.N1, u.N2) >= Alpha && u.P >= Alpha {
		f.raw[key] = math.NaN()
		f.Left++
		return
	}
	f.raw[key] = u.P
	f.keys = append(f.keys, key)
}

// Close computes the adjusted p-values; later Adds are ignored.
func (f *Family) Close() {
	if f == nil || f.closed {
		return
	}
	f.closed = true
	ps := make([]float64, len(f.keys))
	for i, k := range f.keys {
		ps[i] = f.raw[k]
	}
	for i, a := range Holm(ps) {
		f.adj[f.keys[i]] = a
	}
}

// Significant is the keys whose adjusted p is below Alpha, in the order they were added
// (none before Close).
func (f *Family) Significant() []string {
	if f == nil || !f.closed {
		return nil
	}
	var out []string
	for _, k := range f.keys {
		if f.adj[k] < Alpha {
			out = append(out, k)
		}
	}
	return out
}

// Size is the number of tests the family corrects for (Left not included).
func (f *Family) Size() int {
	if f == nil {
		return 0
	}
	return len(f.keys)
}

// Adjust returns u with its family-adjusted p set (UTest.Adjusted). Before Close, or for a key
// the family does not hold, u's p is multiplied by the family's size (Bonferroni: never less
// strict than Holm). A nil family leaves u as it is.
func (f *Family) Adjust(key string, u UTest) UTest {
	if f == nil {
		return u
	}
	if a, ok := f.adj[key]; ok && f.closed {
		u.PAdj, u.Adjusted, u.FamilySize = a, true, f.Size()
		return u
	}
	m := f.Size()
	if m < 1 {
		m = 1
	}
	u.PAdj, u.Adjusted, u.FamilySize = math.Min(1, u.P*float64(m)), true, m
	return u
}

// RepsFor is the fewest repetitions per label (n against n) with which a complete separation
// is significant in a family of m tests corrected by Holm or Bonferroni: the smallest n with
// 2 / C(2n, n) · m < Alpha.
func RepsFor(m int) int {
	if m < 1 {
		m = 1
	}
	for n := 1; ; n++ {
		if MinExactP(n, n)*float64(m) < Alpha {
			return n
		}
	}
}
