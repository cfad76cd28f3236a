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
		runs = append(runs, rs...)
		bad = append(bad, errs...)
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

// page is what the templates render.
type page struct {
	Inputs    []string
	Problems  []string // bad input files
	Warnings  []string // e.g. unreadable HDR log; merge notes
	Hosts     []hostView
	Skipped   []skipView
	Workloads []workloadView
	Extra     []figure // cross-workload figures (RSS against connections)
	Summary   []summaryRow
	Figures   []figure // every figure written, in page order
	Synthetic bool
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
	Backend, Note                                  string
	Msgs, Spread, Bottleneck                       string
	ClientBound                                    bool
	P50, P99, P999, CPU, Sys, Ctx, RSS, GC, Verify string
	Reps                                           int
	Skipped, Error                                 string
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
	Short, Text string
	Significant bool
	Present     bool
}

func build(outDir string, inputs []string, runs []results.LoadedRun, bad []error) (*page, error) {
	m := results.Merge(runs)
	rp := newReport(m)
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
	for _, e := range m.Skipped {
		pg.Skipped = append(pg.Skipped, skipView{e.Host, e.Result.Backend, e.Result.Scenario, e.Result.Skipped})
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
	for _, k := range m.Workloads {
		ss := rp.seriesOf(m.Of(k))
		sk := rp.seriesOf(m.SkippedFor(k))
		wv := workloadView{ID: slug(k), Title: k.String()}
		for _, h := range m.Hosts {
			var hs, hsk []series
			for _, s := range ss {
				if s.host == h.Label {
					hs = append(hs, s)
				}
			}
			for _, s := range sk {
				if s.host == h.Label {
					hsk = append(hsk, s)
				}
			}
			if len(hs) == 0 {
				continue
			}
			ht := hostTable{Host: h.Label, Verdicts: verdicts(k, byBackend(hs))}
			for _, s := range hs {
				ht.Rows = append(ht.Rows, rowOf(s))
			}
			for _, s := range hsk {
				ht.Rows = append(ht.Rows, row{Backend: s.entry.Result.Backend, Skipped: s.entry.Result.Skipped,
					Note: s.entry.Result.BackendNote})
			}
			wv.Hosts = append(wv.Hosts, ht)
			sr := summaryRow{Workload: wv.Title, WorkloadID: wv.ID, Host: h.Label, Verdicts: ht.Verdicts}
			for _, col := range summaryColumns {
				c := summaryCell{Short: "—"}
				for _, v := range ht.Verdicts {
					if v.Metric == col {
						c = summaryCell{Short: v.Short, Text: v.Text, Significant: v.Significant, Present: true}
					}
				}
				sr.Cells = append(sr.Cells, c)
			}
			pg.Summary = append(pg.Summary, sr)
		}
		var charts []*chart
		switch {
		case k.Scenario == results.ScenarioSweep:
			charts = append(charts, sweepChart(k, ss))
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
		for _, c := range charts {
			f, ok, err := add(c)
			if err != nil {
				return nil, err
			}
			if ok {
				wv.Figures = append(wv.Figures, f)
			}
		}
		pg.Workloads = append(pg.Workloads, wv)
	}
	// RSS per connection against connection count, per scenario that varied conns.
	byScenario := map[string]map[string][]series{}
	orders := map[string][]string{}
	for _, s := range rp.seriesOf(m.Entries) {
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
			if a.hostIdx != b.hostIdx {
				return a.hostIdx < b.hostIdx
			}
			return a.backend < b.backend
		})
		f, ok, err := add(rssChart(sc, byScenario[sc], order))
		if err != nil {
			return nil, err
		}
		if ok {
			pg.Extra = append(pg.Extra, f)
		}
	}
	return pg, nil
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
	w := row{Backend: s.entry.Result.Backend, Note: r.BackendNote, Reps: r.Reps, Error: r.Error,
		Bottleneck: r.Bottleneck, ClientBound: r.ClientBound()}
	if w.Bottleneck == "" {
		w.Bottleneck = "unknown"
	}
	w.Msgs = opt(r.MsgsPerSec, si)
	if r.Spread != nil && r.Spread.MsgsPerSec != nil && r.Spread.MsgsPerSec.N > 1 {
		sp := r.Spread.MsgsPerSec
		w.Spread = fmt.Sprintf("%s–%s", si(sp.Min), si(sp.Max))
	}
	get := func(m results.Metric, f func(float64) string) string { return opt(m.Get(&r.Figures), f) }
	w.P50 = get(results.MetricLatencyP50, dur)
	w.P99 = get(results.MetricLatencyP99, dur)
	w.P999 = get(results.MetricLatencyP999, dur)
	w.CPU = get(results.MetricServerCPU, func(v float64) string { return trim(v/1e3) + " µs" })
	w.Sys = get(results.MetricSyscalls, trim)
	w.Ctx = get(results.MetricCtxSwitches, trim)
	w.RSS = get(results.MetricRSSPerConn, bytesIEC)
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
	return w
}

var funcs = template.FuncMap{
	"columns": func() []string { return summaryColumns },
	"join":    strings.Join,
	"pct":     func(p float64) string { return fmt.Sprintf("%.3f", p) },
	"cpus":    cpuList,
	"mdrow":   func(s string) string { return strings.ReplaceAll(s, "|", "\\|") },
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

// byBackend relabels series of one host by backend name alone (the host is the section).
func byBackend(ss []series) []series {
	out := append([]series(nil), ss...)
	for i := range out {
		out[i].label = out[i].backend
	}
	return out
}
