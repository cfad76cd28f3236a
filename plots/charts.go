package plots

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"os"
	"path/filepath"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/iobench/iobench/results"
)

// chart is one figure: a grid of plots rendered to <name>.png and <name>.svg.
type chart struct {
	name    string // file base name
	caption string
	plots   [][]*plot.Plot
	w, h    vg.Length
	// legend, when set, is drawn in a column of width legendW right of the plots so it never
	// hides data (gonum draws a plot's own legend inside the data area).
	legend  *plot.Legend
	legendW vg.Length
}

// legendOutside moves p's legend entries into the chart's side legend.
func (c *chart) legendOutside(p *plot.Plot, w vg.Length) *chart {
	lg := p.Legend
	lg.Top, lg.Left = true, true
	lg.XOffs = vg.Points(6)
	lg.YOffs = -vg.Points(30)
	c.legend = &lg
	c.legendW = w
	c.w += w
	p.Legend = plot.NewLegend()
	return c
}

// dpi is fixed so PNGs are byte-for-byte reproducible (golden tests); fonts are gonum's
// embedded Liberation fonts, so no system font is involved.
const dpi = 96

func styleplot(p *plot.Plot) {
	p.Title.TextStyle.Font.Size = 13
	p.X.Label.TextStyle.Font.Size = 11
	p.Y.Label.TextStyle.Font.Size = 11
	p.X.Tick.Label.Font.Size = 9
	p.Y.Tick.Label.Font.Size = 9
	p.Legend.TextStyle.Font.Size = 9
	p.Legend.Top = true
	p.Legend.Left = false
	p.Add(plotter.NewGrid())
}

// canvases draws the chart on a PNG and an SVG canvas.
func (c *chart) render() (png, svg []byte, err error) {
	img := vgimg.NewWith(vgimg.UseWH(c.w, c.h), vgimg.UseDPI(dpi), vgimg.UseBackgroundColor(color.White))
	sv := vgsvg.NewWith(vgsvg.UseWH(c.w, c.h))
	for _, cv := range []vg.CanvasSizer{img, sv} {
		if cv == vg.CanvasSizer(sv) {
			// white background for the SVG too, so it reads the same on a dark page
			dc := draw.New(cv)
			dc.FillPolygon(color.White, []vg.Point{{X: 0, Y: 0}, {X: c.w, Y: 0}, {X: c.w, Y: c.h}, {X: 0, Y: c.h}})
		}
		dc := draw.New(cv)
		if c.legend != nil {
			c.legend.Draw(draw.Crop(dc, c.w-c.legendW, 0, 0, 0))
			dc = draw.Crop(dc, 0, -c.legendW, 0, 0)
		}
		rows, cols := len(c.plots), len(c.plots[0])
		tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
			PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
		cs := plot.Align(c.plots, tiles, dc)
		for i := range c.plots {
			for j := range c.plots[i] {
				if c.plots[i][j] != nil {
					c.plots[i][j].Draw(cs[i][j])
				}
			}
		}
	}
	var pb, sb bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&pb); err != nil {
		return nil, nil, err
	}
	if _, err := sv.WriteTo(&sb); err != nil {
		return nil, nil, err
	}
	return pb.Bytes(), sb.Bytes(), nil
}

// writeChart renders c into dir and returns the PNG (for embedding).
func writeChart(dir string, c *chart) ([]byte, error) {
	png, svg, err := c.render()
	if err != nil {
		return nil, fmt.Errorf("plot %s: %w", c.name, err)
	}
	if err := os.WriteFile(filepath.Join(dir, c.name+".png"), png, 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, c.name+".svg"), svg, 0o644); err != nil {
		return nil, err
	}
	return png, nil
}

// --- tick markers -------------------------------------------------------------------------

// fmtTicks relabels gonum's default ticks with a formatter (SI, durations, bytes).
type fmtTicks struct {
	base plot.Ticker
	f    func(float64) string
}

func (t fmtTicks) Ticks(min, max float64) []plot.Tick {
	ts := t.base.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = t.f(ts[i].Value)
		}
	}
	return ts
}

func siTicks() plot.Ticker { return fmtTicks{plot.DefaultTicks{}, si} }

// logDurTicks are 1-2-5 ticks per decade on a log axis of nanoseconds.
type logDurTicks struct{}

func (logDurTicks) Ticks(min, max float64) []plot.Tick {
	var ts []plot.Tick
	for d := math.Floor(math.Log10(min)); d <= math.Ceil(math.Log10(max)); d++ {
		for _, m := range []float64{1, 2, 5} {
			v := m * math.Pow(10, d)
			if v < min || v > max {
				continue
			}
			ts = append(ts, plot.Tick{Value: v, Label: dur(v)})
		}
		for m := 3.0; m <= 9; m++ {
			if v := m * math.Pow(10, d); v >= min && v <= max && m != 5 {
				ts = append(ts, plot.Tick{Value: v})
			}
		}
	}
	return ts
}

// ninesTicks label the percentile axis, whose coordinate is the number of nines
// -log10(1 - p/100): 50, 90, 99, 99.9, 99.99, 99.999.
type ninesTicks struct{}

func (ninesTicks) Ticks(min, max float64) []plot.Tick {
	labels := []string{"0", "90", "99", "99.9", "99.99", "99.999", "99.9999"}
	ts := []plot.Tick{{Value: math.Log10(2), Label: "50"}}
	for n := 1; n <= 6; n++ {
		if float64(n) <= max+1e-9 {
			ts = append(ts, plot.Tick{Value: float64(n), Label: labels[n]})
		}
	}
	return ts
}

func nines(p float64) float64 { return -math.Log10(1 - p/100) }

func dashesFor(srcIdx int) []vg.Length {
	switch srcIdx % 3 {
	case 1:
		return []vg.Length{vg.Points(6), vg.Points(3)}
	case 2:
		return []vg.Length{vg.Points(2), vg.Points(2)}
	}
	return nil
}

func line(p *plot.Plot, xys plotter.XYs, s series, width float64, dashes []vg.Length, legend string, points bool) {
	if len(xys) == 0 {
		return
	}
	l, err := plotter.NewLine(xys)
	if err != nil {
		return
	}
	l.Color = colorOf(s)
	l.Width = vg.Points(width)
	l.Dashes = dashes
	p.Add(l)
	if points {
		sc, err := plotter.NewScatter(xys)
		if err == nil {
			sc.GlyphStyle.Color = colorOf(s)
			sc.GlyphStyle.Radius = vg.Points(2.5)
			sc.GlyphStyle.Shape = draw.CircleGlyph{}
			p.Add(sc)
			if legend != "" {
				p.Legend.Add(legend, l, sc)
			}
			return
		}
	}
	if legend != "" {
		p.Legend.Add(legend, l)
	}
}

func barHeight(n int) vg.Length { return vg.Length(110 + 26*n) }

// --- the charts ---------------------------------------------------------------------------

// throughputChart: median msgs/s per backend with min–max whiskers over repetitions;
// client-bound bars hatched and labelled; skipped backends shown as text rows.
func throughputChart(k results.Key, ss []series, skipped []series) *chart {
	return barThroughput("throughput-"+slug(k), "Throughput — "+k.String(), "Throughput, "+k.String(), ss, skipped)
}

// barThroughput is the throughput bar chart under a name, title and caption.
func barThroughput(name, title, caption string, ss []series, skipped []series) *chart {
	var bars []bar
	for _, s := range ss {
		r := s.entry.Result
		b := bar{label: s.label, color: colorOf(s)}
		if r.MsgsPerSec == nil {
			b.text = "n/a"
		} else {
			b.ok, b.value = true, *r.MsgsPerSec
			b.text = si(b.value) + " msgs/s"
			if sp := r.Spread; sp != nil && sp.MsgsPerSec != nil && sp.MsgsPerSec.N > 1 {
				b.spread, b.lo, b.hi = true, sp.MsgsPerSec.Min, sp.MsgsPerSec.Max
			}
			if r.ClientBound() {
				b.hatched = true
				b.text += "  client-bound (lower bound)"
			}
			if r.Error != "" {
				b.text += "  FAILED"
			}
		}
		bars = append(bars, b)
	}
	for _, s := range skipped {
		bars = append(bars, bar{label: s.label, text: "skipped: " + shorten(s.entry.Result.Skipped, 70)})
	}
	p := barPlot(title, "msgs/s (median, whiskers: min–max of repetitions)", bars, siTicks())
	return &chart{name: name, caption: caption, plots: [][]*plot.Plot{{p}}, w: 900, h: barHeight(len(bars))}
}

func shorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// efficiencyChart: server CPU µs/msg, syscalls/msg and context switches/msg side by side;
// unmeasured values are drawn as "n/a".
func efficiencyChart(k results.Key, ss []series) *chart {
	type metric struct {
		m     results.Metric
		title string
		scale float64
		f     func(float64) string
	}
	ms := []metric{
		{results.MetricServerCPU, "server CPU µs/msg", 1e-3, func(v float64) string { return trim(v) + " µs" }},
		{results.MetricSyscalls, "syscalls/msg", 1, trim},
		{results.MetricCtxSwitches, "context switches/msg", 1, trim},
		{results.MetricRSSPerConn, "RSS KiB/connection", 1.0 / 1024, func(v float64) string { return trim(v) + " KiB" }},
	}
	var row []*plot.Plot
	for _, m := range ms {
		var bars []bar
		for _, s := range ss {
			r := s.entry.Result
			b := bar{label: s.label, color: colorOf(s), text: "n/a"}
			if v := m.m.Get(&r.Figures); v != nil {
				b.ok, b.value, b.text = true, *v*m.scale, m.f(*v*m.scale)
				if rg := spreadOf(r, m.m); rg != nil && rg.N > 1 {
					b.spread, b.lo, b.hi = true, rg.Min*m.scale, rg.Max*m.scale
				}
			}
			bars = append(bars, b)
		}
		row = append(row, barPlot(m.title, m.title+" (server, lower is better)", bars, nil))
	}
	return &chart{name: "efficiency-" + slug(k), caption: "Server cost per message and memory per connection, " + k.String(),
		plots: [][]*plot.Plot{row[:2], row[2:]}, w: 1100, h: 2*barHeight(len(ss)) + 40}
}

func spreadOf(r *results.Result, m results.Metric) *results.Range {
	if r.Spread == nil {
		return nil
	}
	switch m.Name {
	case results.MetricServerCPU.Name:
		return r.Spread.ServerCPUNsPerMsg
	case results.MetricSyscalls.Name:
		return r.Spread.SyscallsPerMsg
	case results.MetricCtxSwitches.Name:
		return r.Spread.CtxSwitchesPerMsg
	case results.MetricRSSPerConn.Name:
		return r.Spread.RSSBytesPerConn
	}
	return nil
}

// spectrumChart: latency by percentile on a "nines" axis, the HdrHistogram way. From the HDR
// log when there is one (full distribution), otherwise from the stored percentiles (points).
func spectrumChart(k results.Key, ss []series, warn func(string)) *chart {
	p := plot.New()
	styleplot(p)
	p.Title.Text = "Latency by percentile — " + k.String()
	p.X.Label.Text = "percentile"
	p.Y.Label.Text = "latency"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logDurTicks{}
	p.X.Tick.Marker = ninesTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	any := false
	for _, s := range ss {
		xys, fromLog := spectrumOf(s, warn)
		if len(xys) == 0 {
			continue
		}
		any = true
		name := s.label
		if !fromLog {
			name += " (percentiles only)"
		}
		if s.entry.Result.ClientBound() {
			name += " [client-bound]"
		}
		line(p, xys, s, 1.6, dashesFor(s.srcIdx), name, !fromLog)
	}
	if !any {
		return nil
	}
	p.X.Min = math.Log10(2)
	c := &chart{name: "latency-spectrum-" + slug(k), caption: "Latency percentile spectrum, " + k.String(),
		plots: [][]*plot.Plot{{p}}, w: 900, h: 480}
	return c.legendOutside(p, 260)
}

func spectrumOf(s series, warn func(string)) (plotter.XYs, bool) {
	r := s.entry.Result
	var paths []string
	if r.HDRLog != "" {
		paths = []string{r.HDRLog}
	} else {
		for _, rep := range r.Repetitions {
			if rep.HDRLog != "" {
				paths = append(paths, rep.HDRLog)
			}
		}
	}
	all := results.NewLatencyHistogram()
	for _, rel := range paths {
		hs, err := results.ReadHDRLogFile(s.entry.HDRPath(rel))
		if err != nil {
			warn(fmt.Sprintf("%s %s: HDR log: %v (using stored percentiles)", s.label, r.Key(), err))
			all = nil
			break
		}
		for _, h := range hs {
			all.Merge(h)
		}
	}
	if all != nil && all.TotalCount() > 0 {
		var xys plotter.XYs
		for _, pt := range results.Spectrum(all) {
			if pt.Percentile >= 100 || pt.ValueNs <= 0 {
				continue
			}
			xys = append(xys, plotter.XY{X: nines(pt.Percentile), Y: pt.ValueNs})
		}
		return xys, true
	}
	l := r.Latency
	if l == nil {
		return nil, false
	}
	var xys plotter.XYs
	for _, q := range []struct {
		p float64
		v *float64
	}{{50, l.P50}, {90, l.P90}, {99, l.P99}, {99.9, l.P999}} {
		if q.v != nil && *q.v > 0 {
			xys = append(xys, plotter.XY{X: nines(q.p), Y: *q.v})
		}
	}
	return xys, false
}

// timelineChart: open-loop latency over time, p99 and max per interval in two panels, so GC
// pauses and stalls show as spikes.
func timelineChart(k results.Key, ss []series) *chart {
	mk := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		styleplot(p)
		p.Title.Text = title
		p.X.Label.Text = "time since start of measurement (s)"
		p.Y.Label.Text = ylabel
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logDurTicks{}
		return p
	}
	top := mk("Latency over time (open loop), p99 per interval — "+k.String(), "p99 latency per interval")
	bottom := mk("max per interval (stalls, GC pauses)", "max latency per interval")
	any := false
	for _, s := range ss {
		tl := timelineOf(s)
		if len(tl) == 0 {
			continue
		}
		any = true
		var p99, mx plotter.XYs
		for _, pt := range tl {
			t := float64(pt.TNs) / 1e9
			if pt.P99Ns > 0 {
				p99 = append(p99, plotter.XY{X: t, Y: pt.P99Ns})
			}
			if pt.MaxNs > 0 {
				mx = append(mx, plotter.XY{X: t, Y: pt.MaxNs})
			}
		}
		name := s.label
		if s.entry.Result.GCNote() != "" {
			name += " (" + s.entry.Result.GCNote() + ")"
		}
		line(top, p99, s, 1.5, dashesFor(s.srcIdx), name, false)
		line(bottom, mx, s, 1.1, dashesFor(s.srcIdx), "", false)
	}
	if !any {
		return nil
	}
	c := &chart{name: "latency-timeline-" + slug(k), caption: "Latency over time, " + k.String(),
		plots: [][]*plot.Plot{{top}, {bottom}}, w: 900, h: 720}
	return c.legendOutside(top, 260)
}

// timelineOf is the result's recorded timeline, or one derived from its HDR log when that
// holds several intervals.
func timelineOf(s series) []results.TimelinePoint {
	r := s.entry.Result
	if len(r.LatencyTimeline) > 0 {
		return r.LatencyTimeline
	}
	rel := r.HDRLog
	if rel == "" {
		for _, rep := range r.Repetitions {
			if rep.HDRLog != "" {
				rel = rep.HDRLog
				break
			}
		}
	}
	if rel == "" {
		return nil
	}
	hs, err := results.ReadHDRLogFile(s.entry.HDRPath(rel))
	if err != nil || len(hs) < 2 {
		return nil
	}
	return results.TimelineFromIntervals(hs[0].StartTimeMs(), hs)
}

// rssChart: RSS per connection against connection count, one line per (host, backend),
// from every result that measured it in the given scenario.
func rssChart(scenario string, groups map[string][]series, order []string) *chart {
	p := plot.New()
	styleplot(p)
	p.Title.Text = "Server RSS per connection — scenario " + scenario
	p.X.Label.Text = "connections"
	p.Y.Label.Text = "RSS per connection (median)"
	p.X.Scale = plot.LogScale{}
	p.Y.Label.Text = "RSS per connection, KiB (median)"
	any := false
	conns := map[int]bool{}
	for _, lbl := range order {
		ss := groups[lbl]
		sort.Slice(ss, func(i, j int) bool { return ss[i].entry.Result.Conns < ss[j].entry.Result.Conns })
		var xys plotter.XYs
		for _, s := range ss {
			if v := results.MetricRSSPerConn.Get(&s.entry.Result.Figures); v != nil && s.entry.Result.Conns > 0 {
				xys = append(xys, plotter.XY{X: float64(s.entry.Result.Conns), Y: *v / 1024})
				conns[s.entry.Result.Conns] = true
			}
		}
		if len(xys) == 0 {
			continue
		}
		any = true
		line(p, xys, ss[0], 1.6, dashesFor(ss[0].srcIdx), lbl, true)
	}
	if !any {
		return nil
	}
	p.Y.Min = 0
	var ticks []plot.Tick
	for n := range conns {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: si(float64(n))})
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Value < ticks[j].Value })
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	c := &chart{name: "rss-per-conn-" + scenario, caption: "RSS per connection against connection count (" + scenario + ")",
		plots: [][]*plot.Plot{{p}}, w: 900, h: 480}
	return c.legendOutside(p, 260)
}

// sweepChart: p99 against offered rate, with the SLO as a horizontal line.
func sweepChart(k results.Key, ss []series) *chart {
	p := plot.New()
	styleplot(p)
	p.Title.Text = "Rate sweep: p99 against offered rate — " + k.String()
	p.X.Label.Text = "offered rate (msgs/s)"
	p.Y.Label.Text = "p99 latency"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = logDurTicks{}
	p.X.Tick.Marker = siTicks()
	p.Legend.Left, p.Legend.Top = true, true
	slo, maxX, any := 0.0, 0.0, false
	for _, s := range ss {
		sw := s.entry.Result.Sweep
		if sw == nil {
			continue
		}
		var xys plotter.XYs
		for _, pt := range sw.Points {
			if pt.P99Ns != nil && *pt.P99Ns > 0 {
				xys = append(xys, plotter.XY{X: pt.OfferedRate, Y: *pt.P99Ns})
				maxX = math.Max(maxX, pt.OfferedRate)
			}
		}
		if len(xys) == 0 {
			continue
		}
		any = true
		slo = math.Max(slo, sw.SLONs)
		name := s.label
		if sw.MaxRateMeetingSLO != nil {
			name += fmt.Sprintf(" (meets SLO up to %s/s)", si(*sw.MaxRateMeetingSLO))
		} else {
			name += " (never meets SLO)"
		}
		line(p, xys, s, 1.6, dashesFor(s.srcIdx), name, true)
	}
	if !any {
		return nil
	}
	if slo > 0 {
		sl, err := plotter.NewLine(plotter.XYs{{X: 0, Y: slo}, {X: maxX * 1.02, Y: slo}})
		if err == nil {
			sl.Color = color.RGBA{0xcc, 0, 0, 0xff}
			sl.Width = vg.Points(1.2)
			sl.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
			p.Add(sl)
			p.Legend.Add("SLO p99 ≤ "+dur(slo), sl)
		}
	}
	p.X.Min = 0
	c := &chart{name: "sweep-" + slug(k), caption: "Rate sweep, " + k.String(),
		plots: [][]*plot.Plot{{p}}, w: 900, h: 480}
	return c.legendOutside(p, 330)
}
