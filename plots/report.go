package plots

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"html/template"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/results"
)

// Report file names inside the output folder.
const (
	HTMLName     = "report.html"
	MarkdownName = "report.md"
)

// WriteReport renders the runs found in inputs (results folders or run files) into outDir:
// report.html (self-contained: plots embedded as PNG data URIs, tables, environment
// manifests), report.md (summary), and every plot as <name>.png and <name>.svg.
//
// Bad input — an unreadable path, a folder without run files, a file of an unknown schema
// version, a result with NaN or a missing field — is reported once per file (the error names
// it) and the remaining inputs still render. Then the returned error is a usage error
// (cli.Code 2) joining every problem, and htmlPath is still set when something was rendered.
// With no readable run at all nothing is written. `iobench run` calls this at its end.
func WriteReport(outDir string, inputs ...string) (htmlPath string, err error) {
	if len(inputs) == 0 {
		return "", cli.Usagef("report: no results folder given")
	}
	var runs []results.LoadedRun
	var bad []error
	for _, in := range inputs {
		rs, errs := results.ReadPath(in)
		bad = append(bad, errs...)
		for _, lr := range rs {
			if err := measured(lr.Run); err != nil {
				bad = append(bad, &results.FileError{Path: lr.Path, Err: err})
				continue
			}
			runs = append(runs, lr)
		}
	}
	if len(runs) == 0 {
		return "", cli.Usage(fmt.Errorf("report: nothing to render:\n%w", errors.Join(bad...)))
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", err
	}
	page, err := build(outDir, inputs, runs, bad)
	if err != nil {
		return "", err
	}
	htmlPath = filepath.Join(outDir, HTMLName)
	var hb, mb bytes.Buffer
	if err := htmlTmpl.Execute(&hb, page); err != nil {
		return "", fmt.Errorf("report: html: %w", err)
	}
	if err := mdTmpl.Execute(&mb, page); err != nil {
		return "", fmt.Errorf("report: markdown: %w", err)
	}
	if err := os.WriteFile(htmlPath, hb.Bytes(), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(outDir, MarkdownName), mb.Bytes(), 0o644); err != nil {
		return "", err
	}
	if len(bad) > 0 {
		return htmlPath, cli.Usage(fmt.Errorf("report: %d bad input(s), rendered the rest into %s:\n%w",
			len(bad), htmlPath, errors.Join(bad...)))
	}
	return htmlPath, nil
}

// measured is nil when run holds at least one result that was measured (not skipped), else
// the reason there is nothing to report.
func measured(run *results.Run) error {
	skipped := 0
	for i := range run.Results {
		if run.Results[i].Skipped == "" {
			return nil
		}
		skipped++
	}
	if skipped == 0 {
		return results.ErrNoResults
	}
	return fmt.Errorf("%w: all %d were skipped (e.g. %s %s: %s)", results.ErrNoResults, skipped,
		run.Results[0].Backend, run.Results[0].Scenario, run.Results[0].Skipped)
}

// page is what the templates render.
type page struct {
	Inputs        []string
	Problems      []string // bad input files
	Warnings      []string // e.g. unreadable HDR log; merge notes
	Interrupted   []string // runs stopped by a signal: shown prominently
	Hosts         []hostView
	Runs          []runView
	Skipped       []skipView
	LadderSummary []summaryRow // equal-load recommendations, one per ladder and run
	Families      []familyView
	Variants      []variantView // logging, crypto beside plain framed (variants.go)
	Across        []acrossView
	Workloads     []workloadView
	Extra         []figure // cross-workload figures (RSS against connections)
	Summary       []summaryRow
	Figures       []figure // every figure written, in page order
	Synthetic     bool
}

// runView is one run (source) in the runs table.
type runView struct {
	Label, Path, Suite, When, Speed string
	Tests                           string // how many tests its verdicts were corrected for
	Drift                           []string
	Interrupted                     bool
}

// familyView is the section of one equal-load ladder family: one ladder per run.
type familyView struct {
	ID, Title  string
	Sections   []ladderSection
	Figures    []figure
	CapFigures []figure
}

type hostView struct {
	Label string
	Env   results.Env
	Runs  []string // run file: started – finished, suite
}

type skipView struct{ Host, Backend, Scenario, Reason string }

type workloadView struct {
	ID, Title string
	Hosts     []hostTable
	Figures   []figure
}

type hostTable struct {
	Host     string
	Rows     []row
	Verdicts []verdict
}

type row struct {
	Backend, Note                             string
	Msgs, Spread, Bottleneck                  string
	ClientBound, Unsteady                     bool
	P50, P99, P999, N, CPU, Sys, Ctx, RSS, GC string
	Verify, Steady, Reps                      string
	Skipped, Error                            string
}

type figure struct {
	Name, Caption string
	Img           template.HTML // <img> with the PNG as a data URI
	MDLine        string
}

type summaryRow struct {
	Workload, WorkloadID, Host string
	Verdicts                   []verdict
	Cells                      []summaryCell // one per summaryColumns
}

type summaryCell struct {
	Short, Text        string
	Significant, Noisy bool
	Present            bool
}

func build(outDir string, inputs []string, runs []results.LoadedRun, bad []error) (*page, error) {
	m := results.Merge(runs)
	a := analyse(m)
	rp := a.rp
	pg := &page{Inputs: inputs, Warnings: append([]string(nil), m.Notes...)}
	for _, e := range bad {
		pg.Problems = append(pg.Problems, e.Error())
	}
	warn := func(s string) { pg.Warnings = append(pg.Warnings, s) }
	for _, h := range m.Hosts {
		hv := hostView{Label: h.Label, Env: h.Env}
		for _, lr := range h.Runs {
			hv.Runs = append(hv.Runs, fmt.Sprintf("%s: suite %q, %s – %s", lr.Path, lr.Run.Suite,
				lr.Run.Started.UTC().Format("2006-01-02 15:04:05Z"), lr.Run.Finished.UTC().Format("15:04:05Z")))
			if strings.Contains(lr.Run.Env.Notes, "SYNTHETIC") {
				pg.Synthetic = true
			}
		}
		pg.Hosts = append(pg.Hosts, hv)
	}
	for si, src := range m.Sources {
		rv := runViewOf(src)
		rv.Tests = a.multi[si].text()
		if rv.Interrupted {
			pg.Interrupted = append(pg.Interrupted, fmt.Sprintf("%s (%s) was INTERRUPTED before it finished: its last measurements are missing or partial; interrupted repetitions are excluded from every median, never counted as failures",
				src.Label, src.Run.Path))
		}
		pg.Runs = append(pg.Runs, rv)
	}
	for _, e := range m.Skipped {
		pg.Skipped = append(pg.Skipped, skipView{m.Sources[e.Source].Label, e.Result.Name(), e.Result.Scenario, e.Result.Skipped})
	}
	add := func(c *chart) (figure, bool, error) {
		if c == nil {
			return figure{}, false, nil
		}
		png, err := writeChart(outDir, c)
		if err != nil {
			return figure{}, false, err
		}
		// Built by hand: html/template would entity-escape every '+' of the base64.
		img := fmt.Sprintf(`<img src="data:image/png;base64,%s" alt="%s" data-plot="%s">`,
			base64.StdEncoding.EncodeToString(png), html.EscapeString(c.caption), html.EscapeString(c.name))
		f := figure{Name: c.name, Caption: c.caption, Img: template.HTML(img),
			MDLine: fmt.Sprintf("![%s](%s.png) ([SVG](%s.svg))", c.caption, c.name, c.name)}
		pg.Figures = append(pg.Figures, f)
		return f, true, nil
	}
	addAll := func(dst *[]figure, cs ...*chart) error {
		for _, c := range cs {
			f, ok, err := add(c)
			if err != nil {
				return err
			}
			if ok {
				*dst = append(*dst, f)
			}
		}
		return nil
	}
	for _, fam := range m.Families {
		title := results.FamilyTitle(fam)
		fv := familyView{ID: familySlug(fam), Title: title + " — equal offered load"}
		ls := a.ladders[fam]
		var capSeries []series
		for _, l := range ls {
			sec := l.section()
			sec.CapVerdict = a.capacity[l]
			fv.Sections = append(fv.Sections, sec)
			capSeries = append(capSeries, l.capRes...)
			vs := append([]verdict(nil), sec.Summary...)
			if sec.CapVerdict != nil {
				vs = append(vs, *sec.CapVerdict)
			}
			pg.LadderSummary = append(pg.LadderSummary, summaryOf(title, fv.ID, l.src.Label, vs, ladderColumns))
		}
		if err := addAll(&fv.Figures, latencyCurves(fam, ls), costCurves(fam, ls)); err != nil {
			return nil, err
		}
		if err := addAll(&fv.CapFigures, capacityChart(fam, capSeries, nil)); err != nil {
			return nil, err
		}
		pg.Families = append(pg.Families, fv)
	}
	for _, k := range m.Workloads {
		ss := rp.seriesOf(m.Of(k))
		sk := rp.seriesOf(m.SkippedFor(k))
		wv := workloadView{ID: slug(k), Title: k.String()}
		bySrc := splitSources(ss)
		for _, si := range sortedKeys(bySrc) {
			src := m.Sources[si]
			ht := hostTable{Host: src.Label, Verdicts: a.plain[k][si]}
			for _, s := range bySrc[si] {
				ht.Rows = append(ht.Rows, rowOf(s))
			}
			for _, s := range sk {
				if s.srcIdx == si {
					ht.Rows = append(ht.Rows, row{Backend: s.name, Skipped: s.entry.Result.Skipped,
						Note: s.entry.Result.BackendNote})
				}
			}
			wv.Hosts = append(wv.Hosts, ht)
			pg.Summary = append(pg.Summary, summaryOf(wv.Title, wv.ID, src.Label, ht.Verdicts, summaryColumns))
		}
		var charts []*chart
		switch {
		case k.Scenario == results.ScenarioSweep:
			charts = append(charts, sweepChart(k, ss))
		case k.Scenario == results.ScenarioSoak && k.Mode == results.ModeOpen:
			charts = append(charts, soakChart(k, ss), spectrumChart(k, ss, warn))
		case k.Scenario == results.ScenarioFaults:
			charts = append(charts, faultsChart(k, ss), spectrumChart(k, ss, warn))
		case k.Scenario == results.ScenarioIdle:
			// memory is the point of idle: RSS/conn in the efficiency chart, and across
			// connection counts below when several were measured
			charts = append(charts, spectrumChart(k, ss, warn), efficiencyChart(k, ss))
		default:
			if k.Mode == results.ModeClosed {
				charts = append(charts, throughputChart(k, ss, sk))
			}
			charts = append(charts, spectrumChart(k, ss, warn))
			if k.Mode == results.ModeOpen {
				charts = append(charts, timelineChart(k, ss))
			}
			charts = append(charts, efficiencyChart(k, ss))
		}
		if err := addAll(&wv.Figures, charts...); err != nil {
			return nil, err
		}
		pg.Workloads = append(pg.Workloads, wv)
	}
	pg.Across = a.across()
	pg.Variants = variantViews(m)
	// RSS per connection against connection count, per scenario that varied conns.
	byScenario := map[string]map[string][]series{}
	orders := map[string][]string{}
	for _, s := range rp.seriesOf(m.Entries) {
		if s.entry.Result.OnLadder() {
			continue
		}
		sc := s.entry.Result.Scenario
		if byScenario[sc] == nil {
			byScenario[sc] = map[string][]series{}
		}
		if _, ok := byScenario[sc][s.label]; !ok {
			orders[sc] = append(orders[sc], s.label)
		}
		byScenario[sc][s.label] = append(byScenario[sc][s.label], s)
	}
	var scs []string
	for sc := range byScenario {
		scs = append(scs, sc)
	}
	sort.Slice(scs, func(i, j int) bool { return results.ScenarioRank(scs[i]) < results.ScenarioRank(scs[j]) })
	for _, sc := range scs {
		if !variesConns(byScenario[sc]) {
			continue
		}
		order := orders[sc]
		sort.SliceStable(order, func(i, j int) bool {
			a, b := byScenario[sc][order[i]][0], byScenario[sc][order[j]][0]
			if a.srcIdx != b.srcIdx {
				return a.srcIdx < b.srcIdx
			}
			return a.name < b.name
		})
		if err := addAll(&pg.Extra, rssChart(sc, byScenario[sc], order), scaleChart(byScenario[sc], order)); err != nil {
			return nil, err
		}
	}
	return pg, nil
}

// summaryOf is a row of a recommendations table: one cell per column title.
func summaryOf(workload, id, source string, vs []verdict, columns []string) summaryRow {
	sr := summaryRow{Workload: workload, WorkloadID: id, Host: source, Verdicts: vs}
	for _, col := range columns {
		c := summaryCell{Short: "—"}
		for _, v := range vs {
			if v.Metric == col {
				c = summaryCell{Short: v.Short, Text: v.Text, Significant: v.Significant, Noisy: v.Noisy, Present: true}
			}
		}
		sr.Cells = append(sr.Cells, c)
	}
	return sr
}

// runViewOf describes one run: when, its speed index and any drifted round.
func runViewOf(src results.Source) runView {
	r := src.Run.Run
	rv := runView{Label: src.Label, Path: src.Run.Path, Suite: r.Suite, Interrupted: r.Interrupted,
		When: r.Started.UTC().Format("2006-01-02 15:04:05Z") + " – " + r.Finished.UTC().Format("15:04:05Z")}
	if r.Speed == nil {
		rv.Speed = "not recorded"
		return rv
	}
	rv.Speed = fmt.Sprintf("%s (%d rounds)", trim(r.Speed.Index), len(r.Speed.Rounds))
	for _, c := range r.Speed.Rounds {
		if c.Drifted {
			rv.Drift = append(rv.Drift, fmt.Sprintf("round %d drifted %.0f %% (calibration before vs after): its repetitions are flagged", c.Round+1, 100*c.Drift))
		}
	}
	return rv
}

func variesConns(groups map[string][]series) bool {
	for _, ss := range groups {
		seen := map[int]bool{}
		for _, s := range ss {
			if results.MetricRSSPerConn.Get(&s.entry.Result.Figures) != nil {
				seen[s.entry.Result.Conns] = true
			}
		}
		if len(seen) > 1 {
			return true
		}
	}
	return false
}

const na = "n/a"

func opt(p *float64, f func(float64) string) string {
	if p == nil {
		return na
	}
	return f(*p)
}

func rowOf(s series) row {
	r := s.entry.Result
	w := row{Backend: s.name, Note: r.BackendNote, Reps: repsText(r), Error: r.Error,
		Bottleneck: r.Bottleneck, ClientBound: r.ClientBound()}
	if r.Note != "" {
		w.Note = strings.TrimSpace(w.Note + " " + r.Note)
	}
	if w.Bottleneck == "" {
		w.Bottleneck = "unknown"
	}
	w.Msgs = opt(r.MsgsPerSec, si)
	if r.Spread != nil && r.Spread.MsgsPerSec != nil && r.Spread.MsgsPerSec.N > 1 {
		sp := r.Spread.MsgsPerSec
		w.Spread = fmt.Sprintf("%s–%s", si(sp.Min), si(sp.Max))
	}
	get := func(m results.Metric, f func(float64) string) string { return opt(m.Get(&r.Figures), f) }
	w.P50 = tailText(r, results.MetricLatencyP50)
	w.P99 = tailText(r, results.MetricLatencyP99)
	w.P999 = tailText(r, results.MetricLatencyP999)
	w.N = samplesText(r)
	w.CPU = get(results.MetricServerCPU, func(v float64) string { return trim(v/1e3) + " µs" })
	w.Sys = get(results.MetricSyscalls, trim)
	w.Ctx = get(results.MetricCtxSwitches, trim)
	w.RSS = get(results.MetricRSSPerConn, bytesIEC)
	w.Steady, w.Unsteady = steadyText(r)
	w.GC = na
	if r.Server != nil && r.Server.GCCycles != nil {
		w.GC = trim(*r.Server.GCCycles)
		if r.Server.GCPauseNs != nil {
			w.GC += " / " + dur(*r.Server.GCPauseNs)
		}
	}
	w.Verify = na
	if v := r.Verify; v != nil {
		if v.OK() {
			w.Verify = fmt.Sprintf("ok (%s msgs)", si(float64(v.Received)))
		} else {
			w.Verify = fmt.Sprintf("FAILED: lost %d, corrupt %d, reordered %d, duplicated %d",
				v.Lost, v.Corrupt, v.Reordered, v.Duplicated)
		}
	}
	if hb := scaleHeartbeats(r); hb != "" { // scale suite (scale.go)
		w.Verify += "; " + hb
	}
	return w
}

var funcs = template.FuncMap{
	"columns":       func() []string { return summaryColumns },
	"ladderColumns": func() []string { return ladderColumns },
	"method":        func() string { return method },
	"join":          strings.Join,
	"pct":           func(p float64) string { return fmt.Sprintf("%.3f", p) },
	"cpus":          cpuList,
	"mdrow":         func(s string) string { return strings.ReplaceAll(s, "|", "\\|") },
}

func cpuList(cs []int) string {
	if len(cs) == 0 {
		return "not pinned"
	}
	var ss []string
	for _, c := range cs {
		ss = append(ss, fmt.Sprint(c))
	}
	return strings.Join(ss, ",")
}
