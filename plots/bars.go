package plots

import (
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/font"
	"gonum.org/v1/plot/text"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// bar is one horizontal bar: a median with its spread across repetitions. A bar without a
// value (ok false) is drawn as its text ("n/a", "skipped: …") at the axis, never as a zero.
type bar struct {
	label   string
	value   float64
	ok      bool
	lo, hi  float64 // spread (min..max of repetitions); hasSpread false when one sample
	spread  bool
	color   color.Color
	hatched bool   // client-bound: hatched, and annotated
	text    string // annotation right of the bar (value, "client-bound"), or the n/a text
}

// hbars is a gonum/plot Plotter drawing bars horizontally, category i at y = n-1-i (first bar
// on top). gonum's BarChart has one colour and no hatching, hence this.
type hbars struct {
	bars  []bar
	width vg.Length
}

var _ plot.Plotter = (*hbars)(nil)
var _ plot.DataRanger = (*hbars)(nil)

func (h *hbars) y(i int) float64 { return float64(len(h.bars) - 1 - i) }

func textStyle(size vg.Length, c color.Color, xa text.XAlignment) text.Style {
	return text.Style{Color: c, Font: font.From(plot.DefaultFont, size), XAlign: xa,
		YAlign: draw.YCenter, Handler: plot.DefaultTextHandler}
}

func (h *hbars) Plot(c draw.Canvas, p *plot.Plot) {
	trX, trY := p.Transforms(&c)
	x0 := trX(math.Max(p.X.Min, 0))
	half := h.width / 2
	outline := draw.LineStyle{Color: color.Black, Width: vg.Points(0.5)}
	for i, b := range h.bars {
		y := trY(h.y(i))
		if !b.ok {
			c.FillText(textStyle(9, color.RGBA{0x99, 0x1b, 0x1b, 0xff}, draw.XLeft), vg.Point{X: x0 + 4, Y: y}, b.text)
			continue
		}
		x1 := trX(b.value)
		rect := []vg.Point{{X: x0, Y: y - half}, {X: x1, Y: y - half}, {X: x1, Y: y + half}, {X: x0, Y: y + half}}
		fill := b.color
		if b.hatched {
			fill = lighten(b.color, 0.6)
		}
		c.FillPolygon(fill, c.ClipPolygonXY(rect))
		if b.hatched {
			hs := draw.LineStyle{Color: b.color, Width: vg.Points(1)}
			hgt := 2 * half
			for t := x0 - hgt; t < x1; t += 5 {
				s0 := math.Max(0, float64(x0-t))
				s1 := math.Min(float64(hgt), float64(x1-t))
				if s1 <= s0 {
					continue
				}
				c.StrokeLine2(hs, t+vg.Length(s0), y-half+vg.Length(s0), t+vg.Length(s1), y-half+vg.Length(s1))
			}
		}
		c.StrokeLines(outline, append(rect, rect[0]))
		end := x1
		if b.spread {
			lo, hi := trX(b.lo), trX(b.hi)
			ws := draw.LineStyle{Color: color.Black, Width: vg.Points(1.2)}
			c.StrokeLine2(ws, lo, y, hi, y)
			c.StrokeLine2(ws, lo, y-half/2, lo, y+half/2)
			c.StrokeLine2(ws, hi, y-half/2, hi, y+half/2)
			end = vg.Length(math.Max(float64(end), float64(hi)))
		}
		if b.text != "" {
			c.FillText(textStyle(9, color.Black, draw.XLeft), vg.Point{X: end + 4, Y: y}, b.text)
		}
	}
}

// DataRange leaves 45% room right of the longest bar for its annotation.
func (h *hbars) DataRange() (xmin, xmax, ymin, ymax float64) {
	for _, b := range h.bars {
		if b.ok {
			xmax = math.Max(xmax, b.value)
			if b.spread {
				xmax = math.Max(xmax, b.hi)
			}
		}
	}
	if xmax == 0 {
		xmax = 1
	}
	return 0, xmax * 1.45, -0.6, float64(len(h.bars)) - 0.4
}

func lighten(c color.Color, f float64) color.Color {
	r, g, b, _ := c.RGBA()
	l := func(v uint32) uint8 { return uint8(float64(v>>8) + (255-float64(v>>8))*f) }
	return color.RGBA{l(r), l(g), l(b), 0xff}
}

// barPlot makes a plot of bars with the categories as y tick labels.
func barPlot(title, xlabel string, bars []bar, xticks plot.Ticker) *plot.Plot {
	p := plot.New()
	styleplot(p)
	p.Title.Text = title
	p.X.Label.Text = xlabel
	h := &hbars{bars: bars, width: 14}
	p.Add(h)
	var names []string
	for i := len(bars) - 1; i >= 0; i-- {
		names = append(names, bars[i].label)
	}
	p.NominalY(names...)
	p.Y.Min, p.Y.Max = -0.6, float64(len(bars))-0.4
	p.X.Min = 0
	if xticks == nil {
		xticks = fmtTicks{plot.DefaultTicks{}, trim}
	}
	p.X.Tick.Marker = xticks
	return p
}
