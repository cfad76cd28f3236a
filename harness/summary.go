package harness

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/iobench/iobench/results"
)

// PrintSummary prints one table per workload: each figure is the median of the repetitions
// with its [min–max] range, a client-bound throughput is labelled so, skipped backends say
// why, and after each table the pairs of backends whose ranges overlap are listed: their
// difference is not significant.
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
	fmt.Fprintln(w, "Each figure: median of the repetitions [min-max]. n/a = not measured here.")
	fmt.Fprintf(w, "Bottleneck: server/client = that process used >= %.0f%% of its pinned CPUs and the other did not (client = the throughput is a lower bound of the server's); unknown = both or neither (neither: latency-bound, or the CPUs were shared with other load).\n", Saturation*100)
	for _, g := range groups {
		fmt.Fprintf(w, "\n== %s (client backend %s)\n", g.key, g.rows[0].ClientBackend)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "backend\tmsgs/s\tMB/s\tp50\tp99\tp99.9\tserver ns/msg\tsyscalls/msg\tctxsw/msg\tRSS/conn\tclient ns/msg\tbottleneck\t")
		for _, r := range g.rows {
			if r.Skipped != "" {
				continue // listed under the table
			}
			if r.Reps == 0 || (r.MsgsPerSec == nil && r.Error != "") {
				fmt.Fprintf(tw, "%s\tFAILED: %s\t\t\t\t\t\t\t\t\t\t\t\n", r.Backend, oneLine(r.Error))
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
			var p50, p99, p999 *float64
			if r.Latency != nil {
				p50, p99, p999 = r.Latency.P50, r.Latency.P99, r.Latency.P999
			}
			var cpu, sys, ctx, rss *float64
			if r.Server != nil {
				cpu, sys, ctx, rss = r.Server.CPUNsPerMsg, r.Server.SyscallsPerMsg, r.Server.CtxSwitchesPerMsg, r.Server.RSSBytesPerConn
			}
			var ccpu *float64
			if r.Client != nil {
				ccpu = r.Client.CPUNsPerMsg
			}
			status := r.Bottleneck
			if r.Error != "" {
				status += " FAILED: " + oneLine(r.Error)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.Backend, tput, fmtNum(r.MBPerSec, 1),
				fmtNs(p50), fmtNs(p99), fmtNs(p999),
				withRange(cpu, spr(r.Spread, func(s *results.Spread) *results.Range { return s.ServerCPUNsPerMsg }), 0),
				withRange(sys, spr(r.Spread, func(s *results.Spread) *results.Range { return s.SyscallsPerMsg }), 2),
				withRange(ctx, spr(r.Spread, func(s *results.Spread) *results.Range { return s.CtxSwitchesPerMsg }), 3),
				fmtBytes(rss), fmtNum(ccpu, 0), status)
		}
		tw.Flush()
		for _, r := range g.rows {
			if r.Skipped != "" {
				fmt.Fprintf(w, "  %s skipped: %s\n", r.Backend, r.Skipped)
			}
		}
		for _, l := range rankings(g.rows) {
			fmt.Fprintln(w, "  "+l)
		}
		for _, l := range overlaps(g.rows) {
			fmt.Fprintln(w, "  "+l)
		}
		for _, r := range g.rows {
			if r.Note != "" && r.Skipped == "" && r == g.rows[0] {
				fmt.Fprintf(w, "  note (%s): %s\n", r.Backend, r.Note)
			}
		}
	}
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
	var ok []*results.Result
	for _, r := range rows {
		if r.Skipped == "" && r.Error == "" && r.Spread != nil {
			ok = append(ok, r)
		}
	}
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
					same = append(same, ok[i].Backend+"~"+ok[j].Backend)
				}
			}
		}
		if len(same) > 0 {
			sort.Strings(same)
			out = append(out, fmt.Sprintf("not significant (%s ranges overlap): %s", title, strings.Join(same, ", ")))
		}
	}
	check("msgs/s", func(s *results.Spread) *results.Range { return s.MsgsPerSec })
	check("server ns/msg", func(s *results.Spread) *results.Range { return s.ServerCPUNsPerMsg })
	return out
}

// rankings orders the backends by median server CPU per message (lower first) and by msgs/s
// (higher first); between neighbours "<" / ">" means their [min, max] ranges are disjoint and
// "~" that they overlap (no significant difference).
func rankings(rows []*results.Result) []string {
	var ok []*results.Result
	for _, r := range rows {
		if r.Skipped == "" && r.Error == "" && r.Spread != nil {
			ok = append(ok, r)
		}
	}
	if len(ok) < 2 {
		return nil
	}
	rank := func(title string, val func(*results.Result) *float64, rng func(*results.Spread) *results.Range, lowerBetter, labelBound bool, prec int) string {
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
			fmt.Fprintf(&b, "%s %.*f", r.Backend, prec, *val(r))
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
	}, func(s *results.Spread) *results.Range { return s.ServerCPUNsPerMsg }, true, false, 0); l != "" {
		out = append(out, l)
	}
	if l := rank("msgs/s, higher is better", func(r *results.Result) *float64 { return r.MsgsPerSec },
		func(s *results.Spread) *results.Range { return s.MsgsPerSec }, false, true, 0); l != "" {
		out = append(out, l)
	}
	return out
}
