package plots

import (
	"fmt"
	"sort"
	"strings"

	"github.com/iobench/iobench/results"
)

// analysis is every verdict of a merged set, computed once, before anything is drawn: the
// ladders of each family per run, the verdicts of the other workloads per run, and each run's
// verdicts as questions for the comparison across runs.
type analysis struct {
	m         *results.Merged
	rp        *report
	ladders   map[results.Key][]*ladder         // per family: one ladder per run that has it
	capacity  map[*ladder]*verdict              // closed-loop capacity verdict of a ladder
	plain     map[results.Key]map[int][]verdict // per workload, per source
	questions map[int][]question                // per source, in page order
	multi     map[int]*multi                    // per source: its families of tests
}

func analyse(m *results.Merged) *analysis {
	// Two passes: the first adds every test of each run to that run's families, the second
	// judges every test on its p corrected for the family (results.Family, Holm).
	mts := map[int]*multi{}
	analyseWith(m, mts)
	for _, mt := range mts {
		mt.verdicts.Close()
		mt.aa.Close()
	}
	a := analyseWith(m, mts)
	a.multi = mts
	return a
}

func analyseWith(m *results.Merged, mts map[int]*multi) *analysis {
	a := &analysis{m: m, rp: newReport(m), ladders: map[results.Key][]*ladder{},
		capacity: map[*ladder]*verdict{}, plain: map[results.Key]map[int][]verdict{},
		questions: map[int][]question{}}
	mt := func(si int) *multi {
		if mts[si] == nil {
			mts[si] = newMulti()
		}
		return mts[si]
	}
	for _, fam := range m.Families {
		bySrc := splitSources(a.rp.seriesOf(m.FamilyOf(fam)))
		for _, si := range sortedKeys(bySrc) {
			l := newLadder(fam, m.Sources[si], si, bySrc[si], mt(si))
			a.ladders[fam] = append(a.ladders[fam], l)
			a.questions[si] = append(a.questions[si], l.questions()...)
			if v, ok := metricVerdict(results.MetricMsgsPerSec, capacityMetric, byName(l.capRes), mt(si),
				"capacity\x00"+results.FamilyTitle(fam)); ok {
				v.questions = []question{v.question(results.FamilyTitle(fam), results.MetricMsgsPerSec)}
				a.capacity[l] = &v
				a.questions[si] = append(a.questions[si], v.questions...)
			}
		}
	}
	for _, k := range m.Workloads {
		bySrc := splitSources(a.rp.seriesOf(m.Of(k)))
		a.plain[k] = map[int][]verdict{}
		for _, si := range sortedKeys(bySrc) {
			vs := verdicts(k, byName(bySrc[si]), mt(si))
			a.plain[k][si] = vs
			for _, v := range vs {
				a.questions[si] = append(a.questions[si], v.questions...)
			}
		}
	}
	return a
}

// multi is one run's two families of tests (results.Family): the verdicts (best against
// runner-up, every metric at every point of every workload) and the A/A pair's tests. Each
// is corrected by Holm's method over its own tests, so that a run of identical backends makes
// a false verdict, and an A/A pair looks different, in at most about 5 % of runs rather than
// in most of them.
type multi struct {
	verdicts, aa *results.Family
}

func newMulti() *multi {
	return &multi{verdicts: results.NewFamily("verdicts"), aa: results.NewFamily("A/A")}
}

// text says what the families corrected for ("" when the run made no test).
func (mt *multi) text() string {
	if mt == nil || mt.verdicts.Size()+mt.aa.Size() == 0 {
		return ""
	}
	s := fmt.Sprintf("verdicts: %d tests corrected together (Holm)", mt.verdicts.Size())
	if n := mt.verdicts.Left; n > 0 {
		s += fmt.Sprintf(", %d more that could not be significant left out", n)
	}
	if n := mt.aa.Size(); n > 0 {
		s += fmt.Sprintf("; A/A pair: %d tests corrected together", n)
	}
	return s + "."
}

// verdict is the adjuster of the verdict test under key.
func (mt *multi) verdict(key string) results.Adjuster {
	if mt == nil {
		return nil
	}
	return func(u results.UTest) results.UTest {
		mt.verdicts.Add(key, u)
		return mt.verdicts.Adjust(key, u)
	}
}

// aaTest is the adjuster of the A/A tests of one metric under key, one per point (named by
// point; nil: a single point).
func (mt *multi) aaTest(key string, point func(int) string) func(int, results.UTest) results.UTest {
	if mt == nil {
		return nil
	}
	return func(i int, u results.UTest) results.UTest {
		k := key
		if point != nil {
			k += "\x00" + point(i)
		}
		mt.aa.Add(k, u)
		return mt.aa.Adjust(k, u)
	}
}

// pairwise is the adjuster of a test outside the family (a crossing's sides): Bonferroni over
// the verdict family's size, never less strict than the verdicts themselves.
func (mt *multi) pairwise() results.Adjuster {
	if mt == nil {
		return nil
	}
	return func(u results.UTest) results.UTest { return mt.verdicts.Adjust("\x00pairwise", u) }
}

func splitSources(ss []series) map[int][]series {
	out := map[int][]series{}
	for _, s := range ss {
		out[s.srcIdx] = append(out[s.srcIdx], s)
	}
	return out
}

func sortedKeys(m map[int][]series) []int {
	var ks []int
	for k := range m {
		ks = append(ks, k)
	}
	sort.Ints(ks)
	return ks
}

// byName relabels series of one run by their result label alone (the run is the section).
func byName(ss []series) []series {
	out := append([]series(nil), ss...)
	for i := range out {
		out[i].label = out[i].name
	}
	return out
}

// acrossView compares the runs of one machine verdict by verdict.
type acrossView struct {
	Host   string
	Groups []acrossGroup
	Apart  []string // runs not compared with the others, and why
}

// acrossGroup is a set of runs whose verdicts are put side by side: their speed indices are
// within 20 % of each other (or none recorded one).
type acrossGroup struct {
	Runs     []string
	Note     string
	Rows     []acrossRow
	Counts   map[results.Agreement]int
	Verdict  string // the one-line conclusion
	Replicat bool   // every verdict that any run calls significant agrees
}

type acrossRow struct {
	Workload, Metric, Point string
	Cells                   []string
	Agreement               results.Agreement
}

// Class is the CSS class of the row's agreement.
func (r acrossRow) Class() string {
	switch r.Agreement {
	case results.Agree, results.Confirmed:
		return "sig"
	case results.Partly, results.Opposite:
		return "err"
	}
	return "nsig"
}

// agreementOrder is how the counts are listed.
var agreementOrder = []results.Agreement{results.Agree, results.Confirmed, results.Partly, results.Opposite, results.NoneSig, results.NotComparable}

// across compares the runs of every machine that has several: per speed group, each verdict's
// outcome in every run and whether they agree (results.AgreementOf). Runs whose speed indices
// differ by more than 20 % are never put into one comparison: they are listed apart with the
// reason (their sections stay side by side in the report).
func (a *analysis) across() []acrossView {
	var out []acrossView
	for _, h := range a.m.Hosts {
		var srcs []int
		var runs []*results.Run
		for si, s := range a.m.Sources {
			if s.Host == h.Label {
				srcs = append(srcs, si)
				runs = append(runs, s.Run.Run)
			}
		}
		if len(srcs) < 2 {
			continue
		}
		av := acrossView{Host: h.Label}
		groups, unchecked := results.SpeedGroups(runs)
		compared := map[int]bool{}
		add := func(g []int, note string) {
			var gs []int
			for _, i := range g {
				gs = append(gs, srcs[i])
				compared[i] = true
			}
			grp := a.group(gs)
			if note != "" {
				grp.Note = note
			}
			av.Groups = append(av.Groups, grp)
		}
		for _, g := range groups {
			if len(g) >= 2 {
				add(g, "")
			}
		}
		if len(unchecked) >= 2 {
			add(unchecked, "speed index not recorded by these runs: whether the machine moved between them is unchecked")
		}
		for i := range runs {
			if !compared[i] {
				av.Apart = append(av.Apart, a.apartReason(srcs, runs, i))
			}
		}
		out = append(out, av)
	}
	return out
}

// apartReason says why run i of a machine is not compared with its other runs.
func (a *analysis) apartReason(srcs []int, runs []*results.Run, i int) string {
	me := a.m.Sources[srcs[i]].Label
	if runs[i].Speed == nil || runs[i].Speed.Index <= 0 {
		return me + " recorded no speed index: not compared with the runs that did (shown side by side)"
	}
	ref, best := -1, 0.0
	for j := range runs {
		if ratio, ok := results.SpeedRatio(runs[i], runs[j]); ok && j != i && (ref < 0 || ratio < best) {
			ref, best = j, ratio
		}
	}
	if ref < 0 {
		return me + ": no other run recorded a speed index: not compared (shown side by side)"
	}
	return fmt.Sprintf("%s (speed index %s) is not compared with %s (speed index %s), its nearest: the indices differ by %.0f %% (more than %.0f %%), the machine itself moved; its verdicts are shown side by side, never merged",
		me, trim(runs[i].Speed.Index), a.m.Sources[srcs[ref]].Label, trim(runs[ref].Speed.Index),
		100*(best-1), 100*(results.MaxSpeedRatio-1))
}

// group builds the comparison of the given sources.
func (a *analysis) group(srcs []int) acrossGroup {
	g := acrossGroup{Counts: map[results.Agreement]int{}}
	var speeds []string
	for _, si := range srcs {
		s := a.m.Sources[si]
		g.Runs = append(g.Runs, s.Label)
		if sp := s.Run.Run.Speed; sp != nil {
			speeds = append(speeds, s.Label+" "+trim(sp.Index))
		}
	}
	if len(speeds) == len(srcs) {
		g.Note = "speed indices " + strings.Join(speeds, ", ") + ": within 20 %, comparable"
	}
	type row struct {
		q    question
		outs map[int]question
	}
	var keys []string
	rows := map[string]*row{}
	for _, si := range srcs {
		for _, q := range a.questions[si] {
			k := q.key()
			if rows[k] == nil {
				rows[k] = &row{q: q, outs: map[int]question{}}
				keys = append(keys, k)
			}
			rows[k].outs[si] = q
		}
	}
	// A verdict significant in some runs is put to the others as a claim (results.Confirm):
	// each such run tests the named pair once, and those tests are corrected together.
	type pending struct {
		row int
		si  int
		c   *results.Confirmation
	}
	var conf []pending
	var all []*results.Confirmation
	for ri, k := range keys {
		r := rows[k]
		var claim *results.Outcome
		for _, si := range srcs {
			if q, ok := r.outs[si]; ok && q.out.Significant && q.out.Runner != "" {
				claim = &q.out
				break
			}
		}
		if claim == nil {
			continue
		}
		for _, si := range srcs {
			if q, ok := r.outs[si]; ok && q.out.Present && !q.out.Significant {
				c := q.confirm(*claim)
				conf = append(conf, pending{ri, si, c})
				all = append(all, c)
			}
		}
	}
	results.JudgeConfirmations(all)
	confOf := map[[2]int]*results.Confirmation{}
	for _, p := range conf {
		confOf[[2]int{p.row, p.si}] = p.c
		if p.c.Confirms() {
			q := rows[keys[p.row]].outs[p.si]
			q.out.Confirmed = true
			rows[keys[p.row]].outs[p.si] = q
		}
	}
	for ri, k := range keys {
		r := rows[k]
		ar := acrossRow{Workload: r.q.workload, Metric: r.q.metric, Point: r.q.point}
		var outs []results.Outcome
		for _, si := range srcs {
			q, ok := r.outs[si]
			outs = append(outs, q.out)
			if !ok {
				ar.Cells = append(ar.Cells, "not measured")
				continue
			}
			t := q.text
			if q.out.Significant {
				t = "✔ " + t
			}
			if c := confOf[[2]int{ri, si}]; c != nil {
				t += " — " + c.Text()
			}
			ar.Cells = append(ar.Cells, t)
		}
		ar.Agreement = results.AgreementOf(outs)
		g.Counts[ar.Agreement]++
		g.Rows = append(g.Rows, ar)
	}
	var parts []string
	for _, ag := range agreementOrder {
		if n := g.Counts[ag]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, ag))
		}
	}
	g.Replicat = g.Counts[results.Partly] == 0 && g.Counts[results.Opposite] == 0
	aaText := a.aaAcross(srcs)
	if g.Counts[results.Confirmed] > 0 {
		tested := 0
		for _, c := range all {
			if c.Tested {
				tested++
			}
		}
		for i, p := range parts {
			if strings.HasSuffix(p, " "+string(results.Confirmed)) {
				parts[i] = p + fmt.Sprintf(" (significant among one run's own tests, and in the other the single test of the same pair, Holm-corrected over the %d confirmations tested, confirms it)", tested)
			}
		}
	}
	if g.Replicat {
		g.Verdict = fmt.Sprintf("The runs agree on every verdict that either calls significant (%d verdicts: %s).",
			len(g.Rows), strings.Join(parts, ", "))
	} else {
		g.Verdict = fmt.Sprintf("%d verdict(s) do not replicate across these runs (%d verdicts: %s): a verdict that holds in one run only is not one to act on.",
			g.Counts[results.Partly]+g.Counts[results.Opposite], len(g.Rows), strings.Join(parts, ", "))
	}
	if aaText != "" {
		g.Verdict += " " + aaText
	}
	return g
}

// aaAcross says whether the A/A pair differed significantly (corrected) in any of the runs.
func (a *analysis) aaAcross(srcs []int) string {
	var sizes, noisy []string
	for _, si := range srcs {
		mt := a.multi[si]
		if mt == nil || mt.aa.Size() == 0 {
			return ""
		}
		sizes = append(sizes, fmt.Sprint(mt.aa.Size()))
		if sig := mt.aa.Significant(); len(sig) > 0 {
			var where []string
			for _, k := range sig {
				where = append(where, strings.Join(strings.Split(k, "\x00"), " / "))
			}
			noisy = append(noisy, fmt.Sprintf("%s at %s", a.m.Sources[si].Label, strings.Join(where, "; ")))
		}
	}
	if len(noisy) == 0 {
		return fmt.Sprintf("The A/A pair was never significant (%s tests per run, corrected together).", strings.Join(sizes, ", "))
	}
	return "The A/A pair differed significantly in " + strings.Join(noisy, ", ") + ": those metrics were too noisy for verdicts there."
}
