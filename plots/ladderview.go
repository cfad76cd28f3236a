package plots

import (
	"fmt"
	"strings"

	"github.com/iobench/iobench/results"
)

// ladderSection is what the templates render of one ladder (one family, one run).
type ladderSection struct {
	Source     string
	Capacity   string   // the common capacity line
	Points     []string // column headers: "20 % · 18k msgs/s"
	Rows       []ladderRow
	Verdicts   []cellRow // per metric, per point: who wins
	AA         []cellRow // per metric, per point: the A/A difference and p
	AANote     string
	Summary    []verdict // per metric, the sentence
	CapRows    []row     // closed-loop capacity results
	CapVerdict *verdict  // the capacity comparison (secondary)
	Flags      []string  // not steady, saturated, interrupted, drifted
}

type ladderRow struct {
	Label, Offered, Achieved            string
	Saturated, AA, Unsteady             bool
	P50, P99, P999, N, CPU, Sys, Ctx    string
	Steady, Reps, Verify, Error, Note   string
	TooFew50, TooFew99, TooFew999, Miss bool
}

type cellRow struct {
	Metric string
	Cells  []cell
	Extra  string // A/A: the spread
	Bad    bool   // A/A: noisy
}

type cell struct {
	Text string
	Sig  bool
	Bad  bool
}

func pct(f float64) string { return fmt.Sprintf("%.0f %%", 100*f) }

// pointName is "40 %" (with the rate when known): the column header of a ladder point.
func (l *ladder) pointName(i int) string {
	return fmt.Sprintf("%s · %s msgs/s", pct(l.fracs[i]), si(l.rates[i]))
}

func (l *ladder) section() ladderSection {
	sec := ladderSection{Source: l.src.Label}
	if c := l.capacity; c != nil {
		var probed []string
		for _, lbl := range l.labels {
			if v, ok := c.PerBackend[lbl]; ok {
				probed = append(probed, lbl+" "+si(v))
			}
		}
		if v, ok := c.PerBackend["client"]; ok {
			probed = append(probed, "client "+si(v))
		}
		sec.Capacity = fmt.Sprintf("common capacity %s msgs/s, limited by %s (short probe: %s); every label offered %s of it, open loop, interleaved",
			si(c.MsgsPerSec), c.LimitedBy, strings.Join(probed, ", "), fracList(l.fracs))
	} else {
		sec.Capacity = "common capacity not recorded; ladder at " + fracList(l.fracs) + " of it"
	}
	for i := range l.fracs {
		sec.Points = append(sec.Points, l.pointName(i))
	}
	for _, lbl := range l.labels {
		for i, s := range l.pts[lbl] {
			sec.Rows = append(sec.Rows, l.row(lbl, i, s))
		}
	}
	for _, lm := range l.metrics {
		vr := cellRow{Metric: lm.m.Title}
		for _, pv := range lm.verdicts {
			vr.Cells = append(vr.Cells, pointCell(lm, pv))
		}
		sec.Verdicts = append(sec.Verdicts, vr)
		if lm.aa != nil {
			ar := cellRow{Metric: lm.m.Title, Extra: fmt.Sprintf("±%.1f %%", 100*lm.aa.Spread), Bad: lm.aa.Noisy}
			for _, p := range lm.aa.Points {
				c := cell{Text: "—"}
				if p.Present {
					c = cell{Text: fmt.Sprintf("%+.1f %%, %s", 100*p.Rel, pText(p.U)), Bad: p.Noisy()}
					if p.Noisy() {
						c.Text += " — significant: too noisy"
					}
				}
				ar.Cells = append(ar.Cells, c)
			}
			sec.AA = append(sec.AA, ar)
			if sec.AANote == "" {
				sec.AANote = fmt.Sprintf("A/A pair: %s and %s (the same backend measured twice, interleaved).", lm.aa.Base, lm.aa.Twin)
			}
		}
		sec.Summary = append(sec.Summary, l.summary(lm))
	}
	if sec.AANote == "" {
		sec.AANote = "No A/A pair in this run: significance is p < α alone, not calibrated against the machine's noise."
	}
	for _, s := range l.capRes {
		sec.CapRows = append(sec.CapRows, rowOf(s))
	}
	sec.Flags = l.flags()
	return sec
}

func fracList(fs []float64) string {
	var ps []string
	for _, f := range fs {
		ps = append(ps, fmt.Sprintf("%.0f", 100*f))
	}
	return strings.Join(ps, ", ") + " %"
}

func (l *ladder) row(lbl string, i int, s *series) ladderRow {
	w := ladderRow{Label: lbl, Offered: l.pointName(i), AA: results.AATwinOf(lbl) != ""}
	if s == nil {
		w.Miss = true
		w.Achieved = "not measured"
		return w
	}
	r := s.entry.Result
	w.Achieved = opt(r.MsgsPerSec, si)
	if r.MsgsPerSec != nil && r.Rate > 0 {
		w.Achieved += fmt.Sprintf(" (%.0f %%)", 100**r.MsgsPerSec/r.Rate)
	}
	w.Saturated = r.Saturated
	w.P50, w.TooFew50 = tailText(r, results.MetricLatencyP50), results.TooFewSamples(r, results.MetricLatencyP50)
	w.P99, w.TooFew99 = tailText(r, results.MetricLatencyP99), results.TooFewSamples(r, results.MetricLatencyP99)
	w.P999, w.TooFew999 = tailText(r, results.MetricLatencyP999), results.TooFewSamples(r, results.MetricLatencyP999)
	w.N = samplesText(r)
	base := rowOf(*s)
	w.CPU, w.Sys, w.Ctx, w.Verify, w.Error, w.Note = base.CPU, base.Sys, base.Ctx, base.Verify, r.Error, r.Note
	w.Steady, w.Unsteady = steadyText(r)
	w.Reps = repsText(r)
	return w
}

// steadyText says whether the result's windows were in steady state.
func steadyText(r *results.Result) (string, bool) {
	if r.Steady == nil {
		return "not tested", false
	}
	n, bad := 0, 0
	for i := range r.Repetitions {
		rep := &r.Repetitions[i]
		if r.Counted(rep) && rep.Steady != nil {
			n++
			if !rep.Steady.OK {
				bad++
			}
		}
	}
	if r.Steady.OK {
		return "yes", false
	}
	s := fmt.Sprintf("steady: false (trend ρ=%.2f p=%.3g", r.Steady.ThroughputRho, r.Steady.ThroughputP)
	if r.Steady.LatencyP < r.Steady.ThroughputP {
		s = fmt.Sprintf("steady: false (p99 trend ρ=%.2f p=%.3g", r.Steady.LatencyRho, r.Steady.LatencyP)
	}
	if n > 0 {
		s += fmt.Sprintf("; %d of %d reps", bad, n)
	}
	return s + ")", true
}

// repsText is the repetition count with what was left out of the medians and why.
func repsText(r *results.Result) string {
	counted, interrupted, failed, other, drifted, replaced := 0, 0, 0, 0, 0, 0
	for i := range r.Repetitions {
		rep := &r.Repetitions[i]
		switch {
		case rep.Interrupted:
			interrupted++
		case rep.Error != "":
			failed++
		case rep.Replaced:
			replaced++
		case rep.Saturated != r.Saturated:
			other++
		default:
			counted++
		}
		if rep.SpeedDrifted && r.Counted(rep) {
			drifted++
		}
	}
	s := fmt.Sprint(len(r.Repetitions))
	if counted == len(r.Repetitions) && drifted == 0 {
		return s
	}
	var why []string
	if interrupted > 0 {
		why = append(why, fmt.Sprintf("%d interrupted", interrupted))
	}
	if failed > 0 {
		why = append(why, fmt.Sprintf("%d failed", failed))
	}
	if other > 0 {
		state := "sustained"
		if !r.Saturated {
			state = "saturated"
		}
		why = append(why, fmt.Sprintf("%d %s, not averaged in", other, state))
	}
	if replaced > 0 {
		why = append(why, fmt.Sprintf("%d in a drifted round, measured again", replaced))
	}
	if drifted > 0 {
		why = append(why, fmt.Sprintf("%d in a drifted round", drifted))
	}
	if counted < len(r.Repetitions) {
		s = fmt.Sprintf("%d of %s", counted, s)
	}
	return s + " (" + strings.Join(why, ", ") + ")"
}

// pointCell is the verdict at one point, for the per-rate table.
func pointCell(lm ladderMetric, pv results.PointVerdict) cell {
	c := cell{Text: pointText(lm.m, pv), Sig: pv.Significant}
	if lm.aa != nil && lm.aa.Noisy {
		c.Bad = true
	}
	return c
}

func pointText(m results.Metric, pv results.PointVerdict) string {
	var s string
	switch {
	case pv.Best == "" && allTooFew(pv):
		s = "too few samples for every label"
	case pv.Best == "":
		s = "no candidate"
	case !pv.Tested:
		s = pv.Best + " only"
	case pv.Significant:
		s = fmt.Sprintf("%s %+.1f %% vs %s, %s", pv.Best, 100*pv.Rel, pv.Runner, pText(pv.U))
	default:
		s = fmt.Sprintf("n.s.: %s %+.1f %% vs %s, %s (%s)", pv.Best, 100*pv.Rel, pv.Runner, pText(pv.U), pv.Why)
	}
	if len(pv.Saturated) > 0 {
		s += "; saturated: " + strings.Join(pv.Saturated, ", ")
	}
	if len(pv.Excluded) > 0 {
		s += "; not ranked: " + strings.Join(pv.Excluded, ", ")
	}
	return s
}

// allTooFew: nothing was ranked because every label had too few samples beyond the percentile.
func allTooFew(pv results.PointVerdict) bool {
	if len(pv.Excluded) == 0 || len(pv.Saturated) > 0 {
		return false
	}
	for _, e := range pv.Excluded {
		if !strings.HasSuffix(e, "(too few samples)") {
			return false
		}
	}
	return true
}

// summary is the sentence of one metric along the ladder: at which rates each label wins
// (significantly), where nothing is significant, and where curves cross.
func (l *ladder) summary(lm ladderMetric) verdict {
	v := verdict{Metric: lm.m.Title}
	dir := "lowest"
	if lm.m.HigherBetter {
		dir = "highest"
	}
	if lm.aa != nil && lm.aa.Noisy {
		i := lm.aa.NoisyAt[0]
		p := lm.aa.Points[i]
		v.Noisy = true
		v.Short = fmt.Sprintf("too noisy (A/A %s at %s)", pText(p.U), pct(l.fracs[i]))
		v.Text = fmt.Sprintf("%s: the A/A pair %s / %s differed significantly at %s (%+.1f %%, %s): the machine was too noisy for verdicts on this metric",
			lm.m.Title, lm.aa.Base, lm.aa.Twin, pct(l.fracs[i]), 100*p.Rel, pText(p.U))
		return v
	}
	var order []string
	wins := map[string][]int{}
	var ns, within, only, few []int
	for i, pv := range lm.verdicts {
		switch {
		case pv.Best == "" && allTooFew(pv):
			few = append(few, i)
		case pv.Significant:
			if wins[pv.Best] == nil {
				order = append(order, pv.Best)
			}
			wins[pv.Best] = append(wins[pv.Best], i)
		case pv.Tested:
			ns = append(ns, i)
			if pv.Within {
				within = append(within, i)
			}
		case pv.Best != "":
			only = append(only, i)
		}
	}
	var short, long []string
	for _, lbl := range order {
		short = append(short, lbl+" "+l.pointRange(wins[lbl]))
		long = append(long, fmt.Sprintf("%s %s, significantly, at %s of capacity", lbl, dir, l.pointRange(wins[lbl])))
	}
	if len(ns) > 0 {
		short = append(short, "n.s. "+l.pointRange(ns))
		s := "no significant difference at " + l.pointRange(ns)
		if len(within) > 0 {
			s += " (at " + l.pointRange(within) + " p < 0.05, but the difference is within the A/A spread)"
		}
		long = append(long, s)
	}
	if len(only) > 0 {
		var who []string
		for _, i := range only {
			who = append(who, lm.verdicts[i].Best+" at "+pct(l.fracs[i]))
		}
		short = append(short, "only one sustained at "+l.pointRange(only))
		long = append(long, "only one label ranked ("+strings.Join(who, ", ")+"; the others saturated or without enough samples)")
	}
	if len(few) > 0 {
		short = append(short, "too few samples "+l.pointRange(few))
		long = append(long, "too few samples beyond the percentile at "+l.pointRange(few)+" (fewer than 100: no number, no verdict)")
	}
	var xs []string
	quiet := 0
	for _, c := range lm.crossings {
		if !c.sig {
			quiet++
			continue
		}
		short = append(short, fmt.Sprintf("%s×%s ≈%s", c.a, c.b, pct(c.frac)))
		xs = append(xs, fmt.Sprintf("%s and %s cross at ≈ %s of capacity (≈ %s msgs/s, between %s and %s), significantly apart on both sides",
			c.a, c.b, pct(c.frac), si(c.rate), pct(l.fracs[c.c.I]), pct(l.fracs[c.c.J])))
	}
	if len(xs) > 0 {
		long = append(long, "curves: "+strings.Join(xs, "; "))
	}
	if quiet > 0 {
		long = append(long, fmt.Sprintf("%d more crossing(s) within noise", quiet))
	}
	if len(short) == 0 {
		v.Short, v.Text = "no data", lm.m.Title+": not measured at any rate"
		return v
	}
	v.Significant = len(order) > 0
	v.Short = strings.Join(short, "; ")
	v.Text = lm.m.Title + ": " + strings.Join(long, "; ")
	if lm.aa != nil {
		v.Text += fmt.Sprintf(" (A/A spread ±%.1f %%)", 100*lm.aa.Spread)
	} else {
		v.Text += " (no A/A pair: not calibrated)"
	}
	return v
}

// pointRange renders point indices as fractions, consecutive runs joined: "40–80 %", "20 %, 60 %".
func (l *ladder) pointRange(idx []int) string {
	var parts []string
	for k := 0; k < len(idx); {
		j := k
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if j == k {
			parts = append(parts, pct(l.fracs[idx[k]]))
		} else {
			parts = append(parts, fmt.Sprintf("%.0f–%s", 100*l.fracs[idx[k]], pct(l.fracs[idx[j]])))
		}
		k = j + 1
	}
	return strings.Join(parts, ", ")
}

// flags lists what a reader must know about this ladder's figures.
func (l *ladder) flags() []string {
	var out []string
	for _, lbl := range l.labels {
		if i := l.firstSaturated(lbl); i >= 0 {
			out = append(out, fmt.Sprintf("%s saturated from %s (achieved < 95 %% of offered, or errors): compared as saturated, never averaged in", lbl, l.pointName(i)))
		}
		for i, s := range l.pts[lbl] {
			if s == nil {
				out = append(out, fmt.Sprintf("%s at %s: not measured", lbl, l.pointName(i)))
				continue
			}
			if txt, bad := steadyText(s.entry.Result); bad {
				out = append(out, fmt.Sprintf("%s at %s: %s", lbl, l.pointName(i), txt))
			}
		}
	}
	return out
}

// questions are this ladder's verdicts as answers to questions another run can answer too:
// per metric and load fraction (runs of different days have different capacities, so a point
// is matched by its fraction), and the closed-loop capacity.
func (l *ladder) questions() []question {
	var qs []question
	title := results.FamilyTitle(l.fam)
	for _, lm := range l.metrics {
		for i, pv := range lm.verdicts {
			q := question{workload: title, metric: lm.m.Title, point: pct(l.fracs[i]),
				out: results.Outcome{Present: pv.Best != "", Winner: pv.Best, Runner: pv.Runner,
					Significant: pv.Significant},
				text: pointText(lm.m, pv), m: lm.m, cands: lm.cands[i], aa: lm.aa}
			if lm.aa != nil && lm.aa.Noisy {
				q.text = "too noisy (A/A significant): " + q.text
			}
			qs = append(qs, q)
		}
	}
	return qs
}
