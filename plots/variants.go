package plots

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/iobench/iobench/results"
)

// The app variants (logging, crypto) beside their plain counterpart (results/variants.go):
// per run and variant scenario, one row per label and point with the server CPU per message
// of plain framed and of the variant, what the variant adds, and the p99 change, each judged
// by the A/A rule (the A/A twin's own plain result against its base's at that point). This is
// where the report shows whether CPU, not the I/O model, decides.

// variantView is one variant scenario of one run.
type variantView struct {
	ID, Title, Source string
	Note              string
	Rows              []variantRow
	Figures           []figure
}

type variantRow struct {
	Label, Point                string
	CPUPlain, CPUVariant, Added string
	AddedSig                    bool
	AddedWhy                    string
	P99Plain, P99Variant, P99D  string
	P99Sig                      bool
	P99Why                      string
	Log                         string // logging: lines offered / dropped
	AA                          bool
}

var variantNotes = map[string]string{
	results.ScenarioLogging: "framed with one log line appended per message (the seed's FILE_WRITE: io_uring writes on the ring, overlapped WriteFile on the completion port, a writer goroutine elsewhere) against plain framed, in the same rounds at the same offered rates.",
	results.ScenarioCrypto:  "framed sealed per frame with AES-256-GCM under a per-session X25519/HKDF key (the seed's CryptoSession; the load generator opens and verifies every reply) against plain framed, in the same rounds at the same offered rates.",
}

// variantViews builds the variant sections of every source.
func variantViews(m *results.Merged) []variantView {
	var out []variantView
	for _, src := range m.Sources {
		run := src.Run.Run
		byScenario := map[string][]results.VariantPair{}
		for _, p := range results.VariantPairs(run) {
			byScenario[p.Variant.Scenario] = append(byScenario[p.Variant.Scenario], p)
		}
		var scs []string
		for sc := range byScenario {
			scs = append(scs, sc)
		}
		sort.Slice(scs, func(i, j int) bool { return results.ScenarioRank(scs[i]) < results.ScenarioRank(scs[j]) })
		for _, sc := range scs {
			ps := byScenario[sc]
			sort.SliceStable(ps, func(i, j int) bool {
				a, b := ps[i].Variant, ps[j].Variant
				if a.Capacity != b.Capacity {
					return !a.Capacity
				}
				if a.LoadFraction != b.LoadFraction {
					return a.LoadFraction < b.LoadFraction
				}
				return a.Name() < b.Name()
			})
			byScenario[sc] = ps
		}
		// Every variant test of the run (each label, point and metric) is corrected with the
		// others (Holm), as the verdicts are: a run that measures two variants at four points
		// for six labels makes about 100 of them, and some would pass α = 0.05 by chance.
		fam := results.NewFamily("variants")
		for _, sc := range scs {
			for _, p := range byScenario[sc] {
				variantRowOf(run, p, fam)
			}
		}
		fam.Close()
		for _, sc := range scs {
			ps := byScenario[sc]
			k := ps[0].Variant.Family()
			v := variantView{ID: "variant-" + slug(k) + fmt.Sprintf("-%d", len(out)), Source: src.Label,
				Title: fmt.Sprintf("%s beside plain framed — conns=%d size=%d", sc, k.Conns, k.Size), Note: variantNotes[sc]}
			if n := fam.Size(); n > 0 {
				v.Note += fmt.Sprintf(" Each test's p is corrected with the run's other variant tests (Holm over %d tests).", n)
			}
			for _, p := range ps {
				v.Rows = append(v.Rows, variantRowOf(run, p, fam))
			}
			out = append(out, v)
		}
	}
	return out
}

// variantAdjuster adds the test of metric m at pair p to fam and corrects it there.
func variantAdjuster(fam *results.Family, p results.VariantPair, m results.Metric) results.Adjuster {
	key := p.Label + "\x00" + p.Variant.Key().String() + "\x00" + m.Name
	return func(u results.UTest) results.UTest {
		fam.Add(key, u)
		return fam.Adjust(key, u)
	}
}

func variantRowOf(run *results.Run, p results.VariantPair, fam *results.Family) variantRow {
	r := variantRow{Label: p.Label, AA: p.Variant.IsAA()}
	switch {
	case p.Variant.Capacity:
		r.Point = "capacity (closed loop; each label its own load)"
	case p.Variant.LoadFraction > 0:
		r.Point = fmt.Sprintf("%s · %s msgs/s", pct(p.Variant.LoadFraction), si(p.Variant.Rate))
	default:
		r.Point = si(p.Variant.Rate)
	}
	cpu := results.CompareVariant(p, results.MetricServerCPU, results.VariantAA(run, p, results.MetricServerCPU),
		variantAdjuster(fam, p, results.MetricServerCPU))
	r.CPUPlain, r.CPUVariant = nsOrNA(cpu.Plain, p.Plain.Figures.Server != nil), nsOrNA(cpu.Variant, p.Variant.Figures.Server != nil)
	r.Added, r.AddedSig, r.AddedWhy = deltaText(cpu, func(d float64) string { return fmt.Sprintf("%+.0f ns", d) })
	lat := results.CompareVariant(p, results.MetricLatencyP99, results.VariantAA(run, p, results.MetricLatencyP99),
		variantAdjuster(fam, p, results.MetricLatencyP99))
	hasLat := p.Plain.Figures.Latency != nil && p.Variant.Figures.Latency != nil
	r.P99Plain, r.P99Variant = durOrNA(lat.Plain, hasLat), durOrNA(lat.Variant, hasLat)
	r.P99D, r.P99Sig, r.P99Why = deltaText(lat, func(d float64) string {
		if d < 0 {
			return "−" + dur(-d)
		}
		return "+" + dur(d)
	})
	if l := p.Variant.Figures.Log; l != nil {
		r.Log = fmt.Sprintf("%d lines, %d dropped", l.Appended, l.Dropped)
	}
	return r
}

// deltaText renders a variant delta: the added amount and its relative change, whether it is
// significant, and why not.
func deltaText(d results.VariantDelta, abs func(float64) string) (text string, sig bool, why string) {
	if !d.OK || math.IsNaN(d.Rel) {
		return "n/a", false, "not comparable: " + strings.TrimSuffix(d.Why, "; ")
	}
	text = fmt.Sprintf("%s (%+.1f %%)", abs(d.Added()), 100*d.Rel)
	if d.Significant {
		return text, true, "significant"
	}
	return text, false, d.Why
}

func nsOrNA(v float64, ok bool) string {
	if !ok || v == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.0f ns", v)
}

func durOrNA(v float64, ok bool) string {
	if !ok || v == 0 {
		return "n/a"
	}
	return dur(v)
}
