package plots

import (
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"

	"github.com/iobench/iobench/results"
)

// faultsChart: the faults scenario per label: the steady connections' p99 before, during and
// after the client resets (a line over the three quarters), and the time to recover from the
// server's kill (first and last connection back).
func faultsChart(k results.Key, ss []series) *chart {
	lat := plot.New()
	styleplot(lat)
	lat.Title.Text = "Steady connections' p99 around client resets — " + k.String()
	lat.X.Label.Text = "quarter of the window"
	lat.Y.Label.Text = "p99 latency"
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = logDurTicks{}
	lat.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "before"}, {Value: 1, Label: "resets"}, {Value: 2, Label: "after"}})
	rec := plot.New()
	styleplot(rec)
	rec.Title.Text = "Recovery from SIGKILL + restart (first, last connection back)"
	rec.X.Label.Text = "connections back (first → last)"
	rec.Y.Label.Text = "time since the kill"
	rec.Y.Scale = plot.LogScale{}
	rec.Y.Tick.Marker = logDurTicks{}
	rec.X.Tick.Marker = plot.ConstantTicks([]plot.Tick{{Value: 0, Label: "first"}, {Value: 1, Label: "last"}})
	any := false
	for _, s := range ss {
		f := s.entry.Result.Faults
		if f == nil {
			continue
		}
		any = true
		if rs := f.Resets; rs != nil {
			var xys plotter.XYs
			for i, w := range []*results.Window{rs.Before, rs.During, rs.After} {
				if w != nil && w.P99Ns != nil && *w.P99Ns > 0 {
					xys = append(xys, plotter.XY{X: float64(i), Y: *w.P99Ns})
				}
			}
			line(lat, xys, s, 1.5, dashesFor(s.srcIdx), s.label, true)
		}
		if r := f.RecoveryNs; r != nil && r.First > 0 && r.Last > 0 {
			line(rec, plotter.XYs{{X: 0, Y: float64(r.First)}, {X: 1, Y: float64(r.Last)}}, s, 1.5, dashesFor(s.srcIdx), "", true)
		}
	}
	if !any {
		return nil
	}
	c := &chart{name: "faults-" + slug(k), caption: "Faults: p99 around client resets and recovery from a server kill, " + k.String(),
		plots: [][]*plot.Plot{{lat, rec}}, w: 1000, h: 460}
	return c.legendOutside(lat, 220)
}
