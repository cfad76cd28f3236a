package plots

import (
	"fmt"
	"hash/fnv"
	"image/color"
	"math"
	"strings"

	"github.com/iobench/iobench/results"
)

// series is one bar / line of a chart: one label (a backend, or its A/A twin) of one run for
// one workload.
type series struct {
	label   string // "epoll", or "epoll · bench-linux (linux)" when the report has several runs
	name    string // the result's label: "epoll", "netstd#aa"
	backend string
	aa      bool // the A/A twin
	host    string
	srcIdx  int // index of its run in Merged.Sources: colour shade and dashes
	entry   results.Entry
}

// report is everything rendered, derived once from the merged inputs.
type report struct {
	merged *results.Merged
	multi  bool // several runs: series are labelled with their run
}

func newReport(m *results.Merged) *report {
	return &report{merged: m, multi: len(m.Sources) > 1}
}

func (r *report) seriesOf(es []results.Entry) []series {
	out := make([]series, 0, len(es))
	for _, e := range es {
		out = append(out, series{label: r.label(e), name: e.Result.Name(), backend: e.Result.Backend,
			aa: e.Result.IsAA(), host: e.Host, srcIdx: e.Source, entry: e})
	}
	return out
}

func (r *report) label(e results.Entry) string {
	if !r.multi {
		return e.Result.Name()
	}
	return e.Result.Name() + " · " + r.merged.Sources[e.Source].Label // "hostname (os)" or "hostname run 2"
}

// backendColors are fixed so a backend has the same colour in every chart and every report.
var backendColors = map[string]color.RGBA{
	"netstd":  {0x55, 0x55, 0x55, 0xff},
	"epoll":   {0x1f, 0x77, 0xb4, 0xff},
	"uring":   {0x2c, 0xa0, 0x2c, 0xff},
	"gnet":    {0xff, 0x7f, 0x0e, 0xff},
	"netpoll": {0x94, 0x67, 0xbd, 0xff},
	"iocp":    {0xd6, 0x27, 0x28, 0xff},
	"rio":     {0x8c, 0x56, 0x4b, 0xff},
}

var extraColors = []color.RGBA{
	{0x17, 0xbe, 0xcf, 0xff}, {0xbc, 0xbd, 0x22, 0xff}, {0xe3, 0x77, 0xc2, 0xff}, {0x7f, 0x7f, 0x7f, 0xff},
}

// colorOf is the backend's colour, darkened for the second run and so on, so the same
// backend on two machines is told apart (the label and line dashes say it too). The A/A twin
// has its backend's colour, lightened.
func colorOf(s series) color.RGBA {
	c, ok := backendColors[s.backend]
	if !ok {
		h := fnv.New32a()
		h.Write([]byte(s.backend))
		c = extraColors[h.Sum32()%uint32(len(extraColors))]
	}
	f := math.Pow(0.72, float64(s.srcIdx))
	c = color.RGBA{uint8(float64(c.R) * f), uint8(float64(c.G) * f), uint8(float64(c.B) * f), 0xff}
	if s.aa {
		l := func(v uint8) uint8 { return uint8(float64(v) + (255-float64(v))*0.45) }
		c = color.RGBA{l(c.R), l(c.G), l(c.B), 0xff}
	}
	return c
}

// slug makes a file-name-safe id of a workload.
func slug(k results.Key) string {
	s := fmt.Sprintf("%s-%s-c%d-s%d-d%d-%s", k.Scenario, k.Proto, k.Conns, k.Size, k.Depth, k.Mode)
	if k.Mode == results.ModeOpen && k.Rate > 0 {
		s += fmt.Sprintf("-r%g", k.Rate)
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.':
			return r
		}
		return '_'
	}, s)
}

// si formats v with an SI suffix: 412000 -> "412k".
func si(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 1e9:
		return trim(v/1e9) + "G"
	case a >= 1e6:
		return trim(v/1e6) + "M"
	case a >= 1e3:
		return trim(v/1e3) + "k"
	}
	return trim(v)
}

func trim(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a == 0:
		return "0"
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	}
	return fmt.Sprintf("%.3g", v)
}

// dur formats nanoseconds for humans: 212000 -> "212µs".
func dur(ns float64) string {
	a := math.Abs(ns)
	switch {
	case a >= 1e9:
		return trim(ns/1e9) + "s"
	case a >= 1e6:
		return trim(ns/1e6) + "ms"
	case a >= 1e3:
		return trim(ns/1e3) + "µs"
	}
	return trim(ns) + "ns"
}

// bytesIEC formats bytes: 4300 -> "4.20KiB".
func bytesIEC(b float64) string {
	a := math.Abs(b)
	switch {
	case a >= 1<<30:
		return trim(b/(1<<30)) + "GiB"
	case a >= 1<<20:
		return trim(b/(1<<20)) + "MiB"
	case a >= 1<<10:
		return trim(b/(1<<10)) + "KiB"
	}
	return trim(b) + "B"
}
