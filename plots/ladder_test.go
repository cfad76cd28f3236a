package plots

import (
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/results"
	"github.com/iobench/iobench/results/resultstest"
)

// analyseRuns merges runs held in memory (no files) and analyses them.
func analyseRuns(t testing.TB, runs ...*results.Run) *analysis {
	t.Helper()
	var lrs []results.LoadedRun
	for i, r := range runs {
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		lrs = append(lrs, results.LoadedRun{Path: string(rune('a'+i)) + "/run.json", Dir: string(rune('a' + i)), Run: r})
	}
	return analyse(results.Merge(lrs))
}

func ladderOf(t testing.TB, a *analysis, scenario string, src int) *ladder {
	t.Helper()
	for fam, ls := range a.ladders {
		if fam.Scenario != scenario {
			continue
		}
		for _, l := range ls {
			if l.srcIdx == src {
				return l
			}
		}
	}
	t.Fatalf("no %s ladder for source %d", scenario, src)
	return nil
}

func metricOf(t testing.TB, l *ladder, m results.Metric) ladderMetric {
	t.Helper()
	for _, lm := range l.metrics {
		if lm.m.Name == m.Name {
			return lm
		}
	}
	t.Fatalf("no metric %s", m.Name)
	return ladderMetric{}
}

// TestLadderVerdicts checks the per-rate winner logic, the crossing detection and the A/A rule
// on the equal-load fixture, whose shape is known (see resultstest.EqualLoad).
func TestLadderVerdicts(t *testing.T) {
	a := analyseRuns(t, resultstest.EqualLoadFixture())
	bc := ladderOf(t, a, results.ScenarioBroadcast, 0)
	if len(bc.fracs) != 4 || bc.fracs[0] != 0.2 || bc.rates[3] != 32000 {
		t.Fatalf("ladder points %v at %v", bc.fracs, bc.rates)
	}
	if len(bc.capRes) != 5 {
		t.Fatalf("%d capacity results, want one per label", len(bc.capRes))
	}
	cpu := metricOf(t, bc, results.MetricServerCPU)
	t.Run("per-rate winner", func(t *testing.T) {
		want := []string{"netstd", "uring", "uring", "uring"}
		for i, pv := range cpu.verdicts {
			if pv.Best != want[i] || !pv.Significant {
				t.Errorf("%s: best %q significant %v (%s), want %q significant", pct(bc.fracs[i]), pv.Best, pv.Significant, pv.Why, want[i])
			}
		}
		if top := cpu.verdicts[3]; strings.Join(top.Saturated, ",") != "gnet" {
			t.Errorf("at 80 %% saturated %v, want gnet listed and not ranked", top.Saturated)
		}
	})
	t.Run("crossings", func(t *testing.T) {
		var found *crossing
		for i, c := range cpu.crossings {
			if c.a == "epoll" && c.b == "netstd" {
				found = &cpu.crossings[i]
			}
		}
		if found == nil || found.c.I != 0 || found.c.J != 1 || !found.sig {
			t.Fatalf("epoll/netstd crossing = %+v, want a significant one between 20 %% and 40 %%", found)
		}
		if found.frac <= 0.2 || found.frac >= 0.4 || found.rate <= 8000 || found.rate >= 16000 {
			t.Errorf("crossing at %v (%v msgs/s), want inside (20 %%, 40 %%)", found.frac, found.rate)
		}
		s := bc.summary(cpu)
		if !strings.Contains(s.Text, "epoll and netstd cross at ≈") || !strings.Contains(s.Short, "epoll×netstd") {
			t.Errorf("summary does not say where the curves cross: %q / %q", s.Text, s.Short)
		}
		if !strings.Contains(s.Short, "netstd 20 %") || !strings.Contains(s.Short, "uring 40–80 %") {
			t.Errorf("summary does not say at which rates who wins: %q", s.Short)
		}
	})
	t.Run("the A/A twin never wins", func(t *testing.T) {
		for _, l := range []*ladder{bc, ladderOf(t, a, results.ScenarioPingPong, 0)} {
			for _, lm := range l.metrics {
				for _, pv := range lm.verdicts {
					if results.AATwinOf(pv.Best) != "" || results.AATwinOf(pv.Runner) != "" {
						t.Errorf("%s %s: A/A twin ranked (%s vs %s)", l.fam.Scenario, lm.m.Name, pv.Best, pv.Runner)
					}
				}
			}
		}
	})
	t.Run("noisy A/A: no verdict on that metric", func(t *testing.T) {
		pp := ladderOf(t, a, results.ScenarioPingPong, 0)
		ctx := metricOf(t, pp, results.MetricCtxSwitches)
		if ctx.aa == nil || !ctx.aa.Noisy {
			t.Fatalf("pingpong ctx switches A/A = %+v, want noisy (the fixture shifts the twin)", ctx.aa)
		}
		for i, pv := range ctx.verdicts {
			if pv.Significant {
				t.Errorf("%s: significant despite a noisy A/A pair", pct(pp.fracs[i]))
			}
		}
		if s := pp.summary(ctx); !s.Noisy || !strings.Contains(s.Text, "too noisy for verdicts on this metric") {
			t.Errorf("summary %q does not say the machine was too noisy", s.Text)
		}
		if cpu := metricOf(t, pp, results.MetricServerCPU); cpu.aa == nil || cpu.aa.Noisy || cpu.aa.Spread <= 0 {
			t.Errorf("pingpong CPU A/A = %+v, want a quiet calibration with a spread", cpu.aa)
		}
	})
	t.Run("too few samples are never a verdict", func(t *testing.T) {
		pp := ladderOf(t, a, results.ScenarioPingPong, 0)
		p999 := metricOf(t, pp, results.MetricLatencyP999)
		if pv := p999.verdicts[0]; pv.Best != "" || len(pv.Excluded) != 4 {
			t.Errorf("p99.9 at 20 %%: best %q excluded %v, want nobody ranked (36 samples beyond)", pv.Best, pv.Excluded)
		}
		if s := pp.summary(p999); !strings.Contains(s.Short, "too few samples 20–40 %") {
			t.Errorf("summary %q does not say where there were too few samples", s.Short)
		}
	})
}

func TestLadderSectionFlags(t *testing.T) {
	a := analyseRuns(t, resultstest.EqualLoadFixture())
	sec := ladderOf(t, a, results.ScenarioBroadcast, 0).section()
	flags := strings.Join(sec.Flags, "\n")
	for _, want := range []string{"gnet saturated from 80 %", "uring at 60 % · 24.0k msgs/s: steady: false"} {
		if !strings.Contains(flags, want) {
			t.Errorf("flags lack %q:\n%s", want, flags)
		}
	}
	var interrupted, tooFew, sat bool
	for _, r := range sec.Rows {
		if r.Label == "netstd" && strings.HasPrefix(r.Offered, "80 %") {
			interrupted = strings.Contains(r.Reps, "7 of 8 (1 interrupted")
		}
		if r.TooFew999 {
			tooFew = true
			if !strings.HasPrefix(r.P999, "too few samples") {
				t.Errorf("%s %s: p99.9 shown as %q with too few samples", r.Label, r.Offered, r.P999)
			}
		}
		if r.Label == "gnet" && strings.HasPrefix(r.Offered, "80 %") {
			sat = r.Saturated
		}
	}
	if !interrupted || !tooFew || !sat {
		t.Errorf("interrupted rep shown %v, too-few row present %v, gnet saturated row %v", interrupted, tooFew, sat)
	}
	if len(sec.AA) != len(ladderMetrics) || !strings.Contains(sec.AANote, "netstd and netstd#aa") {
		t.Errorf("A/A table has %d rows (%s)", len(sec.AA), sec.AANote)
	}
}

// TestAcrossRuns compares fixture runs of one machine.
func TestAcrossRuns(t *testing.T) {
	later := time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)
	base := func() *results.Run { return resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 1}) }
	find := func(g acrossGroup, workload, metric, point string) acrossRow {
		t.Helper()
		for _, r := range g.Rows {
			if strings.HasPrefix(r.Workload, workload) && r.Metric == metric && r.Point == point {
				return r
			}
		}
		t.Fatalf("no row %s / %s / %s", workload, metric, point)
		return acrossRow{}
	}
	cpu := results.MetricServerCPU.Title
	t.Run("agree", func(t *testing.T) {
		av := analyseRuns(t, base(), resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later, SpeedIndex: 104})).across()
		if len(av) != 1 || len(av[0].Groups) != 1 || len(av[0].Apart) != 0 {
			t.Fatalf("across = %+v, want one machine, one group of two runs", av)
		}
		g := av[0].Groups[0]
		if len(g.Runs) != 2 || !strings.Contains(g.Note, "within 20 %") {
			t.Fatalf("group %v note %q", g.Runs, g.Note)
		}
		if g.Counts[results.Opposite] != 0 {
			t.Errorf("%d opposite verdicts between two runs of the same shape", g.Counts[results.Opposite])
		}
		for _, p := range []string{"40 %", "60 %", "80 %"} {
			if r := find(g, "broadcast", cpu, p); r.Agreement != results.Agree {
				t.Errorf("broadcast CPU at %s: %q (%v), want agree", p, r.Agreement, r.Cells)
			}
		}
		t.Logf("%s", g.Verdict)
	})
	t.Run("disagree", func(t *testing.T) {
		flipped := resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later, Flip: true})
		g := analyseRuns(t, base(), flipped).across()[0].Groups[0]
		r := find(g, "broadcast", cpu, "80 %")
		if r.Agreement != results.Opposite || !strings.Contains(r.Cells[0], "uring") || !strings.Contains(r.Cells[1], "epoll") {
			t.Fatalf("broadcast CPU at 80 %%: %q %v, want opposite (uring, then epoll)", r.Agreement, r.Cells)
		}
		if g.Replicat || !strings.Contains(g.Verdict, "do not replicate") {
			t.Errorf("verdict %q", g.Verdict)
		}
	})
	t.Run("one significant, one not", func(t *testing.T) {
		noisy := resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later, NoisyAA: true})
		g := analyseRuns(t, base(), noisy).across()[0].Groups[0]
		// The second run's A/A pair is noisy on pingpong context switches: no verdict there.
		r := find(g, "pingpong", results.MetricCtxSwitches.Title, "80 %")
		if r.Agreement != results.Partly {
			t.Fatalf("pingpong ctx switches at 80 %%: %q %v, want one significant, one not", r.Agreement, r.Cells)
		}
	})
	t.Run("significant in one, confirmed in the other", func(t *testing.T) {
		// The second run's uring is still cheaper than epoll at 80 %, but one repetition
		// overlaps: p=0.007, not significant among its own 47 tests, and the single test of
		// the first run's claim (uring vs epoll) confirms it.
		weak := resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later})
		weaken(t, weak, results.ScenarioBroadcast, 0.8, "uring", "epoll", 7)
		g := analyseRuns(t, base(), weak).across()[0].Groups[0]
		r := find(g, "broadcast", cpu, "80 %")
		if r.Agreement != results.Confirmed || !strings.HasPrefix(r.Cells[0], "✔") ||
			strings.HasPrefix(r.Cells[1], "✔") || !strings.Contains(r.Cells[1], "confirms uring vs epoll") {
			t.Fatalf("broadcast CPU at 80 %%: %q %v, want confirmed by the second run", r.Agreement, r.Cells)
		}
		if !strings.Contains(g.Verdict, "confirmed (significant among one run's own tests") {
			t.Errorf("verdict %q does not explain the confirmations", g.Verdict)
		}
		// The same claim against a second run that favours it less (p ≥ 0.05) is not confirmed.
		weaker := resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later})
		weaken(t, weaker, results.ScenarioBroadcast, 0.8, "uring", "epoll", 16)
		r = find(analyseRuns(t, base(), weaker).across()[0].Groups[0], "broadcast", cpu, "80 %")
		if r.Agreement != results.Partly || !strings.Contains(r.Cells[1], "does not confirm uring vs epoll") {
			t.Fatalf("broadcast CPU at 80 %%, weaker second run: %q %v, want one significant, one not", r.Agreement, r.Cells)
		}
	})
	t.Run("speed mismatch", func(t *testing.T) {
		slow := resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later, SpeedIndex: 70})
		av := analyseRuns(t, base(), slow).across()
		if len(av) != 1 || len(av[0].Groups) != 0 || len(av[0].Apart) != 2 {
			t.Fatalf("across = %+v, want no comparison and both runs apart", av)
		}
		for _, s := range av[0].Apart {
			if !strings.Contains(s, "differ by 4") || !strings.Contains(s, "never merged") {
				t.Errorf("reason %q does not give the speed difference", s)
			}
		}
	})
	t.Run("speed not recorded", func(t *testing.T) {
		a, b := base(), resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later})
		a.Speed, b.Speed = nil, nil
		av := analyseRuns(t, a, b).across()
		if len(av[0].Groups) != 1 || !strings.Contains(av[0].Groups[0].Note, "unchecked") {
			t.Fatalf("across = %+v, want one group flagged unchecked", av)
		}
	})
	t.Run("other machines stay apart", func(t *testing.T) {
		other := resultstest.EqualLoad(resultstest.EqualLoadOptions{Seed: 2, Start: later})
		other.Env.Hostname = "elsewhere"
		if av := analyseRuns(t, base(), other).across(); len(av) != 0 {
			t.Fatalf("across = %+v: runs of different machines are never compared", av)
		}
	})
}

// weaken makes label's server CPU at frac of scenario in run only a little better than
// runner's, with overlap: u pairs of repetitions (one of each) in the wrong order, so the
// difference keeps its sign at a chosen strength.
func weaken(t testing.TB, run *results.Run, scenario string, frac float64, label, runner string, u int) {
	t.Helper()
	var w, r *results.Result
	for i := range run.Results {
		res := &run.Results[i]
		if res.Scenario != scenario || res.LoadFraction != frac {
			continue
		}
		switch res.Name() {
		case label:
			w = res
		case runner:
			r = res
		}
	}
	if w == nil || r == nil {
		t.Fatalf("no %s / %s at %v of %s", label, runner, frac, scenario)
	}
	rv := results.MetricServerCPU.Samples(r)
	sort.Float64s(rv)
	n := len(rv)
	for k := range w.Repetitions {
		beats := min(u, n) // runner-up repetitions this one is above
		u -= beats
		v := rv[0] * (0.95 - 0.001*float64(k))
		switch {
		case beats == n:
			v = rv[n-1] * (1.01 + 0.001*float64(k))
		case beats > 0:
			v = (rv[beats-1] + rv[beats]) / 2
		}
		*results.MetricServerCPU.Get(&w.Repetitions[k].Figures) = v
	}
	results.Summarize(w)
}
