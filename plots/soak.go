package plots

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/iobench/iobench/results"
)

// soakChart: the soak's server series against time, one line per label: RSS, Go heap, open
// fds, goroutines, GC cycles (cumulative) and the p99 of each minute. A flat line is the
// healthy shape; the trend verdict of each judged series is in its legend.
func soakChart(k results.Key, ss []series) *chart {
	type panel struct {
		title, ylabel string
		trend         func(*results.Soak) *results.Trend
		value         func(results.SoakSample) float64
	}
	panels := []panel{
		{"Server RSS", "MiB", func(s *results.Soak) *results.Trend { return s.RSS }, func(x results.SoakSample) float64 { return x.RSSBytes / (1 << 20) }},
		{"Go heap in use", "MiB", func(s *results.Soak) *results.Trend { return s.Heap }, func(x results.SoakSample) float64 { return x.HeapBytes / (1 << 20) }},
		{"Open file descriptors", "fds", func(s *results.Soak) *results.Trend { return s.FDs }, func(x results.SoakSample) float64 { return x.FDs }},
		{"Goroutines", "goroutines", func(s *results.Soak) *results.Trend { return s.Goroutines }, func(x results.SoakSample) float64 { return x.Goroutines }},
		{"GC cycles (cumulative)", "cycles", nil, func(x results.SoakSample) float64 { return x.GCCycles }},
	}
	var plots []*plot.Plot
	mk := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		styleplot(p)
		p.Title.Text = title
		p.X.Label.Text = "minutes into the soak"
		p.Y.Label.Text = ylabel
		return p
	}
	for range panels {
		plots = append(plots, nil)
	}
	p99 := mk("p99 latency per minute", "p99")
	p99.Y.Scale = plot.LogScale{}
	p99.Y.Tick.Marker = logDurTicks{}
	any, anyP99 := false, false
	for i, pn := range panels {
		p := mk(pn.title, pn.ylabel)
		plots[i] = p
		for _, s := range ss {
			sk := s.entry.Result.Soak
			if sk == nil {
				continue
			}
			var xys plotter.XYs
			for _, x := range sk.Samples {
				if v := pn.value(x); v >= 0 {
					xys = append(xys, plotter.XY{X: float64(x.TNs) / 60e9, Y: v})
				}
			}
			if len(xys) == 0 {
				continue
			}
			any = true
			legend := s.label
			if pn.trend != nil {
				if tr := pn.trend(sk); tr != nil {
					verdict := "flat"
					if !tr.Flat {
						verdict = "GROWS"
					}
					legend += " " + verdict + " " + si(tr.SlopePerMin) + "/min"
				}
			}
			line(p, xys, s, 1.3, dashesFor(s.srcIdx), legend, false)
		}
	}
	for _, s := range ss {
		sk := s.entry.Result.Soak
		if sk == nil {
			continue
		}
		var xys plotter.XYs
		for i, w := range sk.P99PerMinute {
			if w.P99Ns != nil && *w.P99Ns > 0 {
				xys = append(xys, plotter.XY{X: float64(i) + 0.5, Y: *w.P99Ns})
			}
		}
		if len(xys) > 0 {
			anyP99 = true
			line(p99, xys, s, 1.5, dashesFor(s.srcIdx), s.label, true)
		}
	}
	if !any {
		return nil
	}
	grid := [][]*plot.Plot{{plots[0], plots[1]}, {plots[2], plots[3]}, {plots[4], p99}}
	if !anyP99 {
		grid[2][1] = mk("p99 latency per minute: too few samples", "p99")
	}
	return &chart{name: "soak-" + slug(k), caption: "Soak: server series against time, " + k.String(),
		plots: grid, w: 1100, h: 1100}
}
