package plots

import (
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/iobench/iobench/results"
)

// scaleChart: the scale suite against connection count, one line per (host, backend): the
// time to connect everyone, the server's RSS per connection in total (above the empty server
// is the RSS chart's) with the kernel's socket memory beside it, and the heartbeats' latency,
// p50 dashed and p99 solid. nil when fewer than two counts have scale figures.
func scaleChart(groups map[string][]series, order []string) *chart {
	mk := func(title, ylabel string) *plot.Plot {
		p := plot.New()
		styleplot(p)
		p.Title.Text = title
		p.X.Label.Text = "connections"
		p.Y.Label.Text = ylabel
		p.X.Scale = plot.LogScale{}
		return p
	}
	connect := mk("Time to connect everyone", "seconds")
	mem := mk("Memory per connection", "KiB: server RSS total (solid), kernel sockets (dotted)")
	lat := mk("Heartbeat latency from its due time", "p99 (solid), p50 (dashed)")
	lat.Y.Scale = plot.LogScale{}
	lat.Y.Tick.Marker = logDurTicks{}
	conns := map[int]bool{}
	counts := 0
	dashed := []vg.Length{vg.Points(5), vg.Points(3)}
	dotted := []vg.Length{vg.Points(1.5), vg.Points(2)}
	for _, lbl := range order {
		ss := append([]series(nil), groups[lbl]...)
		sort.Slice(ss, func(i, j int) bool { return ss[i].entry.Result.Conns < ss[j].entry.Result.Conns })
		var ct, rss, sock, p50, p99 plotter.XYs
		for _, s := range ss {
			r := s.entry.Result
			sc := r.Scale
			if sc == nil || r.Conns <= 0 {
				continue
			}
			x := float64(r.Conns)
			conns[r.Conns] = true
			if sc.ConnectNs > 0 {
				ct = append(ct, plotter.XY{X: x, Y: float64(sc.ConnectNs) / 1e9})
			}
			if sc.RSSBytesPerConn != nil {
				rss = append(rss, plotter.XY{X: x, Y: *sc.RSSBytesPerConn / 1024})
			}
			if sc.SockMemBytesPerConn != nil {
				sock = append(sock, plotter.XY{X: x, Y: *sc.SockMemBytesPerConn / 1024})
			}
			if l := r.Latency; l != nil && l.P50 != nil && l.P99 != nil && *l.P50 > 0 {
				p50 = append(p50, plotter.XY{X: x, Y: *l.P50})
				p99 = append(p99, plotter.XY{X: x, Y: *l.P99})
			}
		}
		if len(ct) == 0 {
			continue
		}
		counts = max(counts, len(ct))
		s := ss[0]
		line(connect, ct, s, 1.6, dashesFor(s.srcIdx), lbl, true)
		line(mem, rss, s, 1.6, dashesFor(s.srcIdx), "", true)
		line(mem, sock, s, 1.2, dotted, "", false)
		line(lat, p99, s, 1.6, dashesFor(s.srcIdx), "", true)
		line(lat, p50, s, 1.2, dashed, "", false)
	}
	if counts < 2 {
		return nil
	}
	var ticks []plot.Tick
	for n := range conns {
		ticks = append(ticks, plot.Tick{Value: float64(n), Label: si(float64(n))})
	}
	sort.Slice(ticks, func(i, j int) bool { return ticks[i].Value < ticks[j].Value })
	for _, p := range []*plot.Plot{connect, mem, lat} {
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	connect.Y.Min, mem.Y.Min = 0, 0
	c := &chart{name: "scale-idle", caption: "Scale suite: connect time, memory per connection and heartbeat latency against connection count",
		plots: [][]*plot.Plot{{connect, mem, lat}}, w: 1250, h: 420}
	return c.legendOutside(connect, 200)
}

// scaleHeartbeats is the heartbeat account of a scale result for its table row ("" when the
// result has none): due = answered with none late reads "all on time".
func scaleHeartbeats(r *results.Result) string {
	h := r.Heartbeats
	if h == nil {
		return ""
	}
	if h.OnTime() {
		return "heartbeats: all " + si(float64(h.Due)) + " on time"
	}
	return "heartbeats: due " + si(float64(h.Due)) + ", sent " + si(float64(h.Sent)) + ", answered " +
		si(float64(h.Answered)) + ", late " + si(float64(h.Late))
}
