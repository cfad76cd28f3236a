package plots

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/iobench/iobench/results"
)

// The main figures of an equal-load ladder: each metric against offered rate, one line per
// label (and run), saturated points hollow and cut from the line, the saturation point marked
// by a dashed vertical line in the label's colour, latency with its 95 % CI as whiskers.

// curveValue is one point's value: y, and a CI [lo, hi] when ci is set; ok false: not drawn.
type curveValue func(r *results.Result) (y, lo, hi float64, ci, ok bool)

func metricCurve(m results.Metric, scale float64) curveValue {
	return func(r *results.Result) (float64, float64, float64, bool, bool) {
		v := m.Get(&r.Figures)
		if v == nil || results.TooFewSamples(r, m) {
			return 0, 0, 0, false, false
		}
		if c := results.CIOf(&r.Figures, m); c != nil {
			return *v * scale, c[0] * scale, c[1] * scale, true, true
		}
		return *v * scale, 0, 0, false, true
	}
}

func achievedCurve(r *results.Result) (float64, float64, float64, bool, bool) {
	if r.MsgsPerSec == nil || r.Rate <= 0 {
		return 0, 0, 0, false, false
	}
	return 100 * *r.MsgsPerSec / r.Rate, 0, 0, false, true
}

// whiskers draws vertical CI bars with caps.
type whiskers struct {
	xs, lo, hi []float64
	color      color.Color
}

func (w *whiskers) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	st := draw.LineStyle{Color: w.color, Width: vg.Points(1)}
	for i := range w.xs {
		x, y0, y1 := trX(w.xs[i]), trY(w.lo[i]), trY(w.hi[i])
		c.StrokeLine2(st, x, y0, x, y1)
		c.StrokeLine2(st, x-2.5, y0, x+2.5, y0)
		c.StrokeLine2(st, x-2.5, y1, x+2.5, y1)
	}
}

func (w *whiskers) DataRange() (xmin, xmax, ymin, ymax float64) {
	xmin, ymin = math.Inf(1), math.Inf(1)
	xmax, ymax = math.Inf(-1), math.Inf(-1)
	for i := range w.xs {
		xmin, xmax = math.Min(xmin, w.xs[i]), math.Max(xmax, w.xs[i])
		ymin, ymax = math.Min(ymin, w.lo[i]), math.Max(ymax, w.hi[i])
	}
	return
}

// vline marks an x position over the whole height of the data area.
type vline struct {
	x      float64
	color  color.Color
	dashes []vg.Length
}

func (v *vline) Plot(c draw.Canvas, p *plot.Plot) {
	trX, _ := p.Transforms(&c)
	x := trX(v.x)
	c.StrokeLine2(draw.LineStyle{Color: v.color, Width: vg.Points(1.1), Dashes: v.dashes}, x, c.Min.Y, x, c.Max.Y)
}

// hline marks a y position over the whole width of the data area.
type hline struct {
	y     float64
	color color.Color
}

func (h *hline) Plot(c draw.Canvas, p *plot.Plot) {
	_, trY := p.Transforms(&c)
	y := trY(h.y)
	c.StrokeLine2(draw.LineStyle{Color: h.color, Width: vg.Points(1.1), Dashes: []vg.Length{vg.Points(5), vg.Points(3)}}, c.Min.X, y, c.Max.X, y)
}

func (h *hline) DataRange() (xmin, xmax, ymin, ymax float64) {
	return math.Inf(1), math.Inf(-1), h.y, h.y
}

// curveSeries is one line of a curve chart: a label of one ladder.
type curveSeries struct {
	l     *ladder
	label string
	pts   []*series
	dodge float64 // relative x offset so whiskers of labels at one rate do not overlap
}

func curveSet(ls []*ladder) []curveSeries {
	var out []curveSeries
	for _, l := range ls {
		for _, lbl := range l.labels {
			out = append(out, curveSeries{l: l, label: lbl, pts: l.pts[lbl]})
		}
	}
	for i := range out {
		out[i].dodge = 0.012 * (float64(i) - float64(len(out)-1)/2)
	}
	return out
}

func (cs curveSeries) first() series {
	for _, s := range cs.pts {
		if s != nil {
			return *s
		}
	}
	return series{}
}

// legendName is the label, marked when it is the A/A twin or saturates.
func (cs curveSeries) legendName() string {
	name := cs.first().label
	if results.AATwinOf(cs.label) != "" {
		name += " (A/A twin)"
	}
	if i := cs.l.firstSaturated(cs.label); i >= 0 {
		name += " — saturated from " + si(cs.l.rates[i]) + "/s"
	}
	return name
}

// curvePanel draws one metric of every curve series against offered rate.
func curvePanel(title, ylabel string, set []curveSeries, val curveValue, logY, legend bool) (*plot.Plot, bool) {
	p := plot.New()
	styleplot(p)
	p.Title.Text = title
	p.X.Label.Text = "offered rate (msgs/s)"
	p.Y.Label.Text = ylabel
	p.X.Tick.Marker = siTicks()
	if logY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = logDurTicks{}
	} else {
		p.Y.Tick.Marker = fmtTicks{plot.DefaultTicks{}, tickNum}
	}
	any, anySat, anyCI, maxX := false, false, false, 0.0
	for _, cs := range set {
		s0 := cs.first()
		col := colorOf(s0)
		dashes := dashesFor(s0.srcIdx)
		if s0.aa && dashes == nil {
			dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		var seg, filled, hollow plotter.XYs
		var wk whiskers
		wk.color = col
		var lines []*plotter.Line
		flush := func() {
			if len(seg) > 1 {
				if ln, err := plotter.NewLine(seg); err == nil {
					ln.Color, ln.Width, ln.Dashes = col, vg.Points(1.6), dashes
					lines = append(lines, ln)
				}
			}
			seg = nil
		}
		for i, s := range cs.pts {
			if s == nil {
				flush()
				continue
			}
			r := s.entry.Result
			y, lo, hi, ci, ok := val(r)
			if !ok || (logY && y <= 0) {
				flush()
				continue
			}
			x := cs.l.rates[i] * (1 + cs.dodge)
			maxX = math.Max(maxX, x)
			pt := plotter.XY{X: x, Y: y}
			if r.Saturated {
				flush()
				hollow = append(hollow, pt)
			} else {
				seg = append(seg, pt)
				filled = append(filled, pt)
			}
			if ci && (!logY || lo > 0) {
				wk.xs, wk.lo, wk.hi = append(wk.xs, x), append(wk.lo, lo), append(wk.hi, hi)
			}
		}
		flush()
		if len(filled)+len(hollow) == 0 {
			continue
		}
		any = true
		for _, ln := range lines {
			p.Add(ln)
		}
		if len(wk.xs) > 0 {
			anyCI = true
			p.Add(&wk)
		}
		var thumbs []plot.Thumbnailer
		if len(lines) > 0 {
			thumbs = append(thumbs, lines[0])
		}
		if len(filled) > 0 {
			if sc, err := plotter.NewScatter(filled); err == nil {
				sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(2.6), Shape: draw.CircleGlyph{}}
				p.Add(sc)
				thumbs = append(thumbs, sc)
			}
		}
		if len(hollow) > 0 {
			anySat = true
			if sc, err := plotter.NewScatter(hollow); err == nil {
				sc.GlyphStyle = draw.GlyphStyle{Color: col, Radius: vg.Points(3.4), Shape: draw.RingGlyph{}}
				p.Add(sc)
			}
		}
		if i := cs.l.firstSaturated(cs.label); i >= 0 {
			p.Add(&vline{x: cs.l.rates[i] * (1 + cs.dodge), color: col, dashes: []vg.Length{vg.Points(3), vg.Points(3)}})
		}
		if legend {
			p.Legend.Add(cs.legendName(), thumbs...)
		}
	}
	if !any {
		return nil, false
	}
	if legend {
		grey := color.RGBA{0x44, 0x44, 0x44, 0xff}
		if anySat {
			if sc, err := plotter.NewScatter(plotter.XYs{{}}); err == nil {
				sc.GlyphStyle = draw.GlyphStyle{Color: grey, Radius: vg.Points(3.4), Shape: draw.RingGlyph{}}
				p.Legend.Add("hollow: saturated, not compared", sc)
			}
			if ln, err := plotter.NewLine(plotter.XYs{{}}); err == nil {
				ln.Color, ln.Dashes = grey, []vg.Length{vg.Points(3), vg.Points(3)}
				p.Legend.Add("dashed: saturation point", ln)
			}
		}
		if anyCI {
			p.Legend.Add("whiskers: 95 % CI (median rep)", &whiskers{xs: []float64{0}, lo: []float64{0}, hi: []float64{0}, color: grey})
		}
	}
	p.X.Min, p.X.Max = 0, maxX*1.06
	// Head room, so a marker at the top is not cut by the frame.
	if logY {
		p.Y.Min, p.Y.Max = p.Y.Min/1.15, p.Y.Max*1.25
	} else {
		p.Y.Min, p.Y.Max = 0, p.Y.Max*1.06
	}
	return p, true
}

// Thumbnail lets whiskers stand in the legend.
func (w *whiskers) Thumbnail(c *draw.Canvas) {
	x := (c.Min.X + c.Max.X) / 2
	st := draw.LineStyle{Color: w.color, Width: vg.Points(1)}
	c.StrokeLine2(st, x, c.Min.Y, x, c.Max.Y)
	c.StrokeLine2(st, x-2.5, c.Min.Y, x+2.5, c.Min.Y)
	c.StrokeLine2(st, x-2.5, c.Max.Y, x+2.5, c.Max.Y)
}

const curveLegendW = 270

// latencyCurves: p99 and p50 against offered rate.
func latencyCurves(fam results.Key, ls []*ladder) *chart {
	set := curveSet(ls)
	title := results.FamilyTitle(fam)
	p99, ok1 := curvePanel("p99 latency — "+shortFamily(fam), "p99 latency (median of reps)", set,
		metricCurve(results.MetricLatencyP99, 1), true, true)
	p50, ok2 := curvePanel("p50 latency", "p50 latency (median of reps)", set,
		metricCurve(results.MetricLatencyP50, 1), true, !ok1)
	if !ok1 && !ok2 {
		return nil
	}
	row := []*plot.Plot{}
	legendOf := p99
	if ok1 {
		row = append(row, p99)
	} else {
		legendOf = p50
	}
	if ok2 {
		row = append(row, p50)
	}
	c := &chart{name: "latency-vs-rate-" + familySlug(fam),
		caption: "Latency against offered rate (equal offered load), " + title +
			". Points with fewer than 100 samples beyond the percentile are not drawn (too few samples).",
		plots: [][]*plot.Plot{row}, w: vg.Length(420 * len(row)), h: 440}
	c.legendOutside(legendOf, curveLegendW).legend.Padding = vg.Points(2.5)
	return c
}

// costCurves: server CPU, syscalls and context switches per message, and achieved/offered,
// against offered rate.
func costCurves(fam results.Key, ls []*ladder) *chart {
	set := curveSet(ls)
	title := results.FamilyTitle(fam)
	cpu, ok := curvePanel("server CPU per message — "+shortFamily(fam), "server CPU µs/msg (median of reps)", set,
		metricCurve(results.MetricServerCPU, 1e-3), false, true)
	if !ok {
		return nil
	}
	grid := [][]*plot.Plot{{cpu, nil}, {nil, nil}}
	if p, ok := curvePanel("syscalls per message", "syscalls/msg (median)", set,
		metricCurve(results.MetricSyscalls, 1), false, false); ok {
		grid[0][1] = p
	}
	if p, ok := curvePanel("context switches per message", "context switches/msg (median)", set,
		metricCurve(results.MetricCtxSwitches, 1), false, false); ok {
		grid[1][0] = p
	}
	if p, ok := curvePanel("achieved / offered", "achieved, % of offered (median)", set, achievedCurve, false, false); ok {
		p.Add(&hline{y: 95, color: color.RGBA{0xcc, 0, 0, 0xff}})
		lo := 80.0
		for _, cs := range set {
			for _, s := range cs.pts {
				if s != nil {
					if y, _, _, _, ok := achievedCurve(s.entry.Result); ok {
						lo = math.Min(lo, 10*math.Floor(y/10))
					}
				}
			}
		}
		p.Y.Min, p.Y.Max = lo, 102
		grid[1][1] = p
	}
	c := &chart{name: "cost-vs-rate-" + familySlug(fam),
		caption: "Server cost per message and achieved rate against offered rate (equal offered load), " + title +
			". Below the red line (95 % of offered) a label is saturated.",
		plots: grid, w: 840, h: 760}
	c.legendOutside(cpu, curveLegendW).legend.Padding = vg.Points(2.5)
	return c
}

// shortFamily names a family in a panel title: "broadcast framed, 64 conns".
func shortFamily(k results.Key) string {
	s := k.Scenario
	if k.Proto != "" {
		s += " " + k.Proto
	}
	return fmt.Sprintf("%s, %d conns", s, k.Conns)
}

// tickNum labels a linear axis tick without trailing zeros: 80, 2.5, 0.25.
func tickNum(v float64) string { return strconv.FormatFloat(v, 'g', 4, 64) }

// familySlug is the file-name id of a ladder family.
func familySlug(k results.Key) string {
	k.Mode = "ladder"
	return slug(k)
}

// capacityChart: the closed-loop capacity of each label, secondary to the ladder.
func capacityChart(fam results.Key, ss, skipped []series) *chart {
	if len(ss) == 0 {
		return nil
	}
	title := results.FamilyTitle(fam)
	return barThroughput("capacity-"+familySlug(fam), "Capacity (closed loop) — "+title,
		fmt.Sprintf("Capacity (closed loop, secondary: not a verdict at equal load), %s", title), ss, skipped)
}
