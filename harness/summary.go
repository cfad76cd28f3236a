package harness

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/iobench/iobench/results"
)

// PrintSummary prints one table per workload, and per rate of an equal-load ladder: each
// figure is the median of the repetitions with its [min–max] range, p99 with its 95 %
// confidence interval (a percentile with fewer than 100 samples beyond it says so instead of
// a number), a client-bound throughput is labelled so, a saturated point, a window that was
// not steady and repetitions of a round whose machine speed drifted are marked, skipped
// labels say why, and after each table the labels are ranked and the pairs whose ranges
// overlap are listed: their difference is not significant.
func PrintSummary(w io.Writer, run *results.Run) {
	type group struct {
		key  results.Key
		rows []*results.Result
	}
	var groups []*group
	idx := map[string]*group{}
	for i := range run.Results {
		r := &run.Results[i]
		k := r.Key()
		ks := k.String()
		if r.Skipped != "" { // skipped results carry the workload too
			ks = results.Key{Scenario: r.Scenario, Proto: r.Proto, Mode: r.Mode, Conns: r.Conns,
				Size: r.Size, Depth: r.Depth, Rate: r.Rate}.String()
		}
		g := idx[ks]
		if g == nil {
			g = &group{key: k}
			idx[ks] = g
			groups = append(groups, g)
		}
		g.rows = append(g.rows, r)
	}
	e := run.Env
	pin := "not pinned"
	if len(e.Pinning.ServerCPUs) > 0 {
		pin = fmt.Sprintf("server CPUs %v, load generator CPUs %v", e.Pinning.ServerCPUs, e.Pinning.ClientCPUs)
	}
	fmt.Fprintf(w, "iobench %s suite on %s: %s, %d cores, %s %s, %s; GOMAXPROCS %d, loops %d; %s\n",
		run.Suite, e.Label(), e.CPUModel, e.Cores, e.OS, e.Kernel, e.GoVersion, e.GOMAXPROCS, e.Loops, pin)
	if e.UnderWine {
		fmt.Fprintln(w, "WINE: these figures were measured under Wine on Linux; they are not Windows numbers.")
	}
	if e.Notes != "" {
		fmt.Fprintf(w, "note: %s\n", e.Notes)
	}
	if run.Interrupted {
		fmt.Fprintln(w, "INTERRUPTED: the run was stopped before it finished; repetitions in flight are marked interrupted and left out.")
	}
	if sp := run.Speed; sp != nil {
		drifted := 0
		for _, c := range sp.Rounds {
			if c.Drifted {
				drifted++
			}
		}
		fmt.Fprintf(w, "Machine speed index %.1f (median of %d rounds; higher = faster; compare runs only if within 20 %%)", sp.Index, len(sp.Rounds))
		if drifted > 0 {
			fmt.Fprintf(w, "; %d round(s) drifted more than %.0f%% between their start and end: their repetitions are marked \"drift\"", drifted, results.SpeedDriftLimit*100)
		}
		fmt.Fprintln(w, ".")
	}
	fmt.Fprintln(w, "Each figure: median of the repetitions [min-max]; p99 with its 95% confidence interval; n/a = not measured here; \"few\" = fewer than 100 samples beyond that percentile.")
	fmt.Fprintf(w, "Bottleneck: server/client = that process used >= %.0f%% of its pinned CPUs and the other did not (client = the throughput is a lower bound of the server's); unknown = both or neither (neither: latency-bound, or the CPUs were shared with other load).\n", Saturation*100)
	fmt.Fprintf(w, "Equal load: verdicts come from the open-loop ladder points (every label offered the same rate); SATURATED = achieved < %.0f%% of offered or errors (compared as saturated, never ranked); the closed-loop capacity is secondary.\n", results.SustainShare*100)
	for _, g := range groups {
		first := g.rows[0]
		fmt.Fprintf(w, "\n== %s%s (client backend %s)\n", g.key, groupTitle(run, first), first.ClientBackend)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "label\tmsgs/s\tMB/s\tp50\tp99 [95% CI]\tp99.9\tserver ns/msg\tsyscalls/msg\tctxsw/msg\tRSS/conn\tclient ns/msg\tstatus\t")
		for _, r := range g.rows {
			if r.Skipped != "" {
				continue // listed under the table
			}
			if r.Reps == 0 || (r.MsgsPerSec == nil && r.Error != "") {
				fmt.Fprintf(tw, "%s\tFAILED: %s\t\t\t\t\t\t\t\t\t\t\t\n", r.Name(), oneLine(r.Error))
				continue
			}
			tput := withRange(r.MsgsPerSec, spr(r.Spread, func(s *results.Spread) *results.Range { return s.MsgsPerSec }), 0)
			if r.ClientBound() {
				tput += " (client-bound)"
			}
			if r.Scenario == results.ScenarioReconnect {
				tput = "n/a (see latency: time until back)"
			}
			if r.Scenario == results.ScenarioSweep && r.Sweep != nil {
				tput = "max " + fmtNum(r.Sweep.MaxRateMeetingSLO, 0) + fmt.Sprintf(" at p99<=%s", fmtNs(&r.Sweep.SLONs))
			}
			var cpu, sys, ctx, rss *float64
			if r.Server != nil {
				cpu, sys, ctx, rss = r.Server.CPUNsPerMsg, r.Server.SyscallsPerMsg, r.Server.CtxSwitchesPerMsg, r.Server.RSSBytesPerConn
			}
			var ccpu *float64
			if r.Client != nil {
				ccpu = r.Client.CPUNsPerMsg
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Name(), tput, fmtNum(r.MBPerSec, 1),
				fmtPercentile(r, 0.5), fmtPercentile(r, 0.99), fmtPercentile(r, 0.999),
				withRange(cpu, spr(r.Spread, func(s *results.Spread) *results.Range { return s.ServerCPUNsPerMsg }), 0),
				withRange(sys, spr(r.Spread, func(s *results.Spread) *results.Range { return s.SyscallsPerMsg }), 2),
				withRange(ctx, spr(r.Spread, func(s *results.Spread) *results.Range { return s.CtxSwitchesPerMsg }), 3),
				fmtBytes(rss), fmtNum(ccpu, 0), status(r))
		}
		tw.Flush()
		for _, r := range g.rows {
			if r.Skipped != "" {
				fmt.Fprintf(w, "  %s skipped: %s\n", r.Name(), r.Skipped)
			}
		}
		var sat []string
		for _, r := range g.rows {
			if r.Saturated && r.Skipped == "" {
				sat = append(sat, r.Name())
			}
		}
		if len(sat) > 0 {
			fmt.Fprintf(w, "  saturated at this rate (not ranked): %s\n", strings.Join(sat, ", "))
		}
		for _, l := range rankings(g.rows) {
			fmt.Fprintln(w, "  "+l)
		}
		for _, l := range overlaps(g.rows) {
			fmt.Fprintln(w, "  "+l)
		}
		for _, r := range g.rows {
			if r.Note != "" && r.Skipped == "" && r == g.rows[0] {
				fmt.Fprintf(w, "  note (%s): %s\n", r.Name(), r.Note)
			}
		}
	}
}

// groupTitle says what a table of an equal-load workload is: a ladder point (its fraction of
// the common capacity) or the closed-loop capacity, with the common capacity and what set it.
func groupTitle(run *results.Run, r *results.Result) string {
	var cp *results.Capacity
	fam := results.Key{Scenario: r.Scenario, Proto: r.Proto, Mode: results.ModeOpen, Conns: r.Conns, Size: r.Size, Depth: r.Depth}.String()
	for i := range run.Capacities {
		if run.Capacities[i].Workload == fam {
			cp = &run.Capacities[i]
		}
	}
	capText := ""
	if cp != nil {
		capText = fmt.Sprintf("common capacity %.0f msgs/s, limited by %s", cp.MsgsPerSec, cp.LimitedBy)
	}
	switch {
	case r.LoadFraction > 0:
		s := fmt.Sprintf(": EQUAL LOAD %.0f%%", r.LoadFraction*100)
		if capText != "" {
			s += " of the " + capText
		}
		return s
	case r.Capacity:
		s := ": CAPACITY (closed loop, each label sets its own load: secondary, not a verdict)"
		if capText != "" {
			s += "; " + capText
		}
		return s
	}
	return ""
}

// fmtPercentile prints the headline p-quantile of r: its median, for p99 with the median
// CI, or "few" when its windows hold fewer than MinTailSamples beyond it.
func fmtPercentile(r *results.Result, p float64) string {
	if r.Latency == nil {
		return "n/a"
	}
	var v *float64
	var ci *[2]float64
	switch p {
	case 0.5:
		v = r.Latency.P50
	case 0.99:
		v = r.Latency.P99
		if r.LatencyCI != nil {
			ci = r.LatencyCI.P99
		}
	case 0.999:
		v = r.Latency.P999
	}
	if v == nil {
		return "n/a"
	}
	if n := r.LatencySamples; n > 0 && !results.EnoughTailSamples(n, p) {
		return fmt.Sprintf("few (n=%d)", n)
	}
	s := fmtNs(v)
	if ci != nil {
		s += " [" + fmtNs(&ci[0]) + "-" + fmtNs(&ci[1]) + "]"
	}
	return s
}

// status is a result's bottleneck and its marks: failure, saturation, steady state, drifted
// or interrupted repetitions.
func status(r *results.Result) string {
	parts := []string{r.Bottleneck}
	if r.Saturated {
		parts = append(parts, "SATURATED")
	}
	if r.Steady != nil && !r.Steady.OK {
		parts = append(parts, "not steady")
	}
	drift, intr, replaced := 0, 0, 0
	for _, rep := range r.Repetitions {
		switch {
		case rep.Replaced:
			replaced++
		case rep.SpeedDrifted:
			drift++
		}
		if rep.Interrupted {
			intr++
		}
	}
	if replaced > 0 {
		parts = append(parts, fmt.Sprintf("remeasured %d/%d", replaced, len(r.Repetitions)))
	}
	if drift > 0 {
		parts = append(parts, fmt.Sprintf("drift %d/%d", drift, len(r.Repetitions)))
	}
	if intr > 0 {
		parts = append(parts, fmt.Sprintf("interrupted %d/%d", intr, len(r.Repetitions)))
	}
	if r.Error != "" {
		parts = append(parts, "FAILED: "+oneLine(r.Error))
	}
	return strings.TrimSpace(strings.Join(parts, " "))
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 120 {
		s = s[:120] + "..."
	}
	return s
}

func spr(s *results.Spread, get func(*results.Spread) *results.Range) *results.Range {
	if s == nil {
		return nil
	}
	return get(s)
}

func withRange(v *float64, rg *results.Range, prec int) string {
	if v == nil {
		return "n/a"
	}
	s := fmt.Sprintf("%.*f", prec, *v)
	if rg != nil && rg.N > 1 {
		s += fmt.Sprintf(" [%.*f-%.*f]", prec, rg.Min, prec, rg.Max)
	}
	return s
}

func fmtBytes(p *float64) string {
	if p == nil {
		return "n/a"
	}
	v := *p
	switch {
	case v >= 1<<20 || v <= -(1<<20):
		return fmt.Sprintf("%.1fMiB", v/(1<<20))
	case v >= 1<<10 || v <= -(1<<10):
		return fmt.Sprintf("%.1fKiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0fB", v)
}

// overlaps says, for throughput and server CPU per message, which backends cannot be told
// apart: their [min, max] ranges over the repetitions intersect.
func overlaps(rows []*results.Result) []string {
	ok := ranked(rows)
	var out []string
	check := func(title string, get func(*results.Spread) *results.Range) {
		var same []string
		for i := 0; i < len(ok); i++ {
			for j := i + 1; j < len(ok); j++ {
				a, b := get(ok[i].Spread), get(ok[j].Spread)
				if a == nil || b == nil {
					continue
				}
				if results.Overlap(*a, *b) {
					same = append(same, ok[i].Name()+"~"+ok[j].Name())
				}
			}
		}
		if len(same) > 0 {
			sort.Strings(same)
			out = append(out, fmt.Sprintf("not significant (%s ranges overlap): %s", title, strings.Join(same, ", ")))
		}
	}
	if equalLoad(rows) {
		check("p99", func(s *results.Spread) *results.Range { return s.LatencyP99 })
	} else {
		check("msgs/s", func(s *results.Spread) *results.Range { return s.MsgsPerSec })
	}
	check("server ns/msg", func(s *results.Spread) *results.Range { return s.ServerCPUNsPerMsg })
	return out
}

// equalLoad reports whether rows are a point of an equal-load ladder: every label was offered
// the same rate, so throughput says nothing and p99 is ranked instead.
func equalLoad(rows []*results.Result) bool { return len(rows) > 0 && rows[0].LoadFraction > 0 }

// rankings orders the backends by median server CPU per message (lower first) and by msgs/s
// (higher first); between neighbours "<" / ">" means their [min, max] ranges are disjoint and
// "~" that they overlap (no significant difference).
func rankings(rows []*results.Result) []string {
	ok := ranked(rows)
	if len(ok) < 2 {
		return nil
	}
	rank := func(title string, val func(*results.Result) *float64, rng func(*results.Spread) *results.Range, lowerBetter, labelBound bool, format func(*float64) string) string {
		var rs []*results.Result
		for _, r := range ok {
			if val(r) != nil && rng(r.Spread) != nil {
				rs = append(rs, r)
			}
		}
		if len(rs) < 2 {
			return ""
		}
		sort.SliceStable(rs, func(i, j int) bool {
			if lowerBetter {
				return *val(rs[i]) < *val(rs[j])
			}
			return *val(rs[i]) > *val(rs[j])
		})
		var b strings.Builder
		b.WriteString(title + ": ")
		for i, r := range rs {
			if i > 0 {
				switch {
				case results.Overlap(*rng(rs[i-1].Spread), *rng(r.Spread)):
					b.WriteString(" ~ ")
				case lowerBetter:
					b.WriteString(" < ")
				default:
					b.WriteString(" > ")
				}
			}
			fmt.Fprintf(&b, "%s %s", r.Name(), format(val(r)))
			if labelBound && r.ClientBound() {
				b.WriteString(" (client-bound)")
			}
		}
		return b.String()
	}
	var out []string
	if l := rank("server ns/msg, lower is better", func(r *results.Result) *float64 {
		if r.Server == nil {
			return nil
		}
		return r.Server.CPUNsPerMsg
	}, func(s *results.Spread) *results.Range { return s.ServerCPUNsPerMsg }, true, false, num0); l != "" {
		out = append(out, l)
	}
	if equalLoad(rows) {
		if l := rank("p99, lower is better", func(r *results.Result) *float64 {
			if r.Latency == nil || (r.LatencySamples > 0 && !results.EnoughTailSamples(r.LatencySamples, 0.99)) {
				return nil // too few samples: not a number to rank
			}
			return r.Latency.P99
		}, func(s *results.Spread) *results.Range { return s.LatencyP99 }, true, false, fmtNs); l != "" {
			out = append(out, l)
		}
		return out
	}
	if l := rank("msgs/s, higher is better", func(r *results.Result) *float64 { return r.MsgsPerSec },
		func(s *results.Spread) *results.Range { return s.MsgsPerSec }, false, true, num0); l != "" {
		out = append(out, l)
	}
	return out
}

func num0(p *float64) string { return fmtNum(p, 0) }

// ranked are the rows that take part in rankings: measured, not failed, not saturated.
func ranked(rows []*results.Result) []*results.Result {
	var ok []*results.Result
	for _, r := range rows {
		if r.Skipped == "" && r.Error == "" && r.Spread != nil && !r.Saturated {
			ok = append(ok, r)
		}
	}
	return ok
}
