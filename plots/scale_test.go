package plots

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/iobench/iobench/results"
)

func scaleSeries(backend string, conns int, rssPerConn float64) series {
	r := &results.Result{Backend: backend, Scenario: results.ScenarioIdle, Conns: conns}
	r.Latency = &results.Latency{P50: results.Val(5e5), P99: results.Val(4e6)}
	r.Scale = &results.Scale{ConnectNs: int64(conns) * 50_000, RSSBytesPerConn: results.Val(rssPerConn),
		SockMemBytesPerConn: results.Val(256)}
	r.Heartbeats = &results.Heartbeats{Due: uint64(conns) * 5, Sent: uint64(conns) * 5, Answered: uint64(conns) * 5}
	return series{label: backend, name: backend, backend: backend, entry: results.Entry{Result: r}}
}

func TestScaleChart(t *testing.T) {
	groups := map[string][]series{}
	for _, n := range []int{1000, 4000, 16000} {
		groups["epoll"] = append(groups["epoll"], scaleSeries("epoll", n, 5000))
		groups["gnet"] = append(groups["gnet"], scaleSeries("gnet", n, 2000))
	}
	c := scaleChart(groups, []string{"epoll", "gnet"})
	if c == nil || len(c.plots) != 1 || len(c.plots[0]) != 3 {
		t.Fatalf("chart %+v: want one row of three panels", c)
	}
	png, svg, err := c.render()
	if err != nil || len(png) == 0 {
		t.Fatalf("render: %v", err)
	}
	for _, want := range []string{"Time to connect everyone", "Memory per connection", "Heartbeat latency"} {
		if !bytes.Contains(svg, []byte(want)) {
			t.Fatalf("the SVG lacks %q", want)
		}
	}
	one := map[string][]series{"epoll": {scaleSeries("epoll", 1000, 5000)}}
	if scaleChart(one, []string{"epoll"}) != nil {
		t.Fatal("a chart from one connection count")
	}
	r := groups["gnet"][0].entry.Result
	if s := scaleHeartbeats(r); !strings.Contains(s, "on time") {
		t.Fatalf("heartbeats text %q", s)
	}
	r.Heartbeats.Late = 3
	if s := scaleHeartbeats(r); !strings.Contains(s, "late 3") {
		t.Fatalf("heartbeats text %q", s)
	}
}

// TestCommittedScaleReportRenders: the committed scale run renders with its scale chart, the
// RSS-per-connection chart across counts and the heartbeat account of every row.
func TestCommittedScaleReportRenders(t *testing.T) {
	body := renderCommitted(t, "linux-scale-20261202")
	for _, want := range []string{`data-plot="scale-idle"`, `data-plot="rss-per-conn-idle"`, "heartbeats: all", "above this machine&#39;s limit"} {
		if !strings.Contains(body, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// renderCommitted renders the run file of the committed results folder dir (only its run
// file: HDR logs are the fixtures' business, and rendering them all is slow under -race) and
// returns the HTML report.
func renderCommitted(t testing.TB, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "results", dir, results.RunFileName))
	if err != nil {
		t.Fatal(err)
	}
	in, out := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(in, results.RunFileName), data, 0o644); err != nil {
		t.Fatal(err)
	}
	html, err := WriteReport(out, in)
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
