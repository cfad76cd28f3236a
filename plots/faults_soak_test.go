package plots

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/results"
)

// TestReportFaultsAndSoak: a run with a faults and a soak result gets the faults chart (p99
// around the resets, recovery) and the soak chart (every series against time) in its report.
func TestReportFaultsAndSoak(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	win := func(p99 float64) *results.Window { return &results.Window{P99Ns: v(p99), Samples: 12000} }
	faults := &results.Faults{Conns: 100, RecoveryNs: &results.Recovery{First: 20e6, Last: 45e6}, Back: 100, InFlight: 3,
		Resets: &results.Resets{Conns: 25, Injected: 3000, Before: win(2e6), During: win(5e6), After: win(2.5e6)}}
	soak := &results.Soak{RateMsgsPerSec: 5000, IntervalNs: int64(time.Second)}
	for i := range 120 {
		soak.Samples = append(soak.Samples, results.SoakSample{TNs: int64(time.Duration(i) * time.Second),
			RSSBytes: 20e6 + float64(i%7)*1e6, FDs: 108, Goroutines: 210, HeapBytes: 4e6, GCCycles: float64(i / 3)})
	}
	soak.P99PerMinute = []results.Window{*win(1e6), *win(1.2e6)}
	soak.Judge()
	fig := results.Figures{DurationNs: int64(8 * time.Second), MsgsPerSec: v(5990), Latency: &results.Latency{P50: v(3e5), P99: v(4e6)},
		Verify: &results.Verify{Sent: 48000, Received: 47997}}
	run := &results.Run{SchemaVersion: results.SchemaVersion, Started: time.Now().UTC(), Finished: time.Now().UTC(), Suite: "faults",
		Env: results.Env{Hostname: "test", OS: "linux", Cores: 2}}
	for _, b := range []string{"epoll", "netstd"} {
		run.Results = append(run.Results,
			results.Result{Backend: b, Label: b, Scenario: results.ScenarioFaults, Proto: "echo", Conns: 100, Size: 64, Rate: 6000,
				Mode: results.ModeOpen, Reps: 1, Figures: fig, Faults: faults, Repetitions: []results.Rep{{Figures: fig, Faults: faults}}},
			results.Result{Backend: b, Label: b, Scenario: results.ScenarioSoak, Proto: "echo", Conns: 100, Size: 64, Rate: 5000,
				Mode: results.ModeOpen, Reps: 1, Figures: fig, Soak: soak, Repetitions: []results.Rep{{Figures: fig, Soak: soak}}})
	}
	in, out := t.TempDir(), t.TempDir()
	if err := results.WriteRun(in, run); err != nil {
		t.Fatal(err)
	}
	path, err := WriteReport(out, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-plot="faults-`, `data-plot="soak-`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report has no %s figure", want)
		}
	}
}
