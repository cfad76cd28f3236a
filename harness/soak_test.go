package harness

import (
	"bytes"
	"context"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// TestSoakFailsOnALeak: a server whose app leaks (serve --leak: a goroutine and 4 KiB every
// 20th receive) fails a 15 s soak, and the failure names the growing series.
func TestSoakFailsOnALeak(t *testing.T) {
	t.Parallel()
	h := &LocalServers{Exe: testExe}
	srv, err := h.Start(context.Background(), ServerSpec{Backend: "netstd", Args: []string{"--proto", "echo", "--leak", "20"}, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop() })
	r := &runner{cfg: RunConfig{ClientBackend: "netstd"}, stderr: io.Discard}
	w := Workload{Scenario: results.ScenarioSoak, App: "echo", Proto: proto.Echo, Conns: 10, Size: 64,
		Warmup: 200 * time.Millisecond, Duration: 15 * time.Second}
	m := r.measureSoak(context.Background(), srv, w, cell{rate: 2000, fraction: SoakShare}, 0, 0)
	s := m.rep.Soak
	if s == nil {
		t.Fatalf("no soak account: %+v", m.rep)
	}
	if s.Goroutines == nil || s.Goroutines.Flat || s.Goroutines.SlopePerMin < 100 {
		t.Errorf("goroutines %+v: want a growing trend", s.Goroutines)
	}
	if !strings.Contains(m.rep.Error, "goroutines grows") {
		t.Errorf("error %q: want the soak failed on its goroutines", m.rep.Error)
	}
	if len(s.Samples) < 13 {
		t.Errorf("%d samples in 15 s, want one a second", len(s.Samples))
	}
}

// TestRunSoakSuite runs a short real soak (20 s) through Run: the capacity probe, the soak at
// half of it, one sample a second with every series measured (fds on Linux), flat trends and
// a p99 for the minute.
func TestRunSoakSuite(t *testing.T) {
	out := t.TempDir()
	w := Suites["soak"][0]
	w.Conns = 20
	var stdout, stderr bytes.Buffer
	run, err := Run(context.Background(), RunConfig{Suite: "soak", Workloads: []Workload{w}, Duration: 20 * time.Second,
		Backends: []string{"netstd"}, Out: out, Exe: testExe, NoReport: true, ClientBackend: "netstd"}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var soak *results.Result
	for i := range run.Results {
		r := &run.Results[i]
		if r.Label == "netstd"+results.AASuffix {
			t.Errorf("an A/A twin in a soak by default: %s", r.Label)
		}
		if r.Soak != nil {
			soak = r
		}
	}
	if soak == nil || len(run.Capacities) != 1 {
		t.Fatalf("no soak result or capacity: %+v", run.Results)
	}
	s := soak.Soak
	if want := run.Capacities[0].MsgsPerSec * SoakShare; s.RateMsgsPerSec > want || s.RateMsgsPerSec < want-10 {
		t.Errorf("soak rate %v, want half of the capacity %v", s.RateMsgsPerSec, run.Capacities[0].MsgsPerSec)
	}
	if len(s.Samples) < 18 || len(s.P99PerMinute) != 1 || s.P99PerMinute[0].Samples == 0 {
		t.Errorf("%d samples, p99 per minute %+v", len(s.Samples), s.P99PerMinute)
	}
	for name, tr := range map[string]*results.Trend{"rss": s.RSS, "goroutines": s.Goroutines, "fds": s.FDs} {
		if tr == nil {
			if name == "fds" && runtime.GOOS != "linux" {
				continue
			}
			t.Errorf("%s not measured", name)
			continue
		}
		if !tr.Flat {
			t.Errorf("%s grows on a healthy server: %+v", name, tr)
		}
	}
	if soak.Error != "" || !soak.Verify.OK() {
		t.Errorf("soak failed: %s %+v", soak.Error, soak.Verify)
	}
}
