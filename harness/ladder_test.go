package harness

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// A run with equal-load ladders against real `iobench serve` children: the capacity probe
// gives every label's closed-loop capacity and the common capacity, and every label is then
// measured open loop at the same rates, each point its own result with its fraction, latency
// samples, confidence intervals, steady-state test, saturation verdict and round.
func TestRunLadder(t *testing.T) {
	ladder := []float64{0.3, 0.6}
	wls := []Workload{
		{Scenario: results.ScenarioPingPong, App: "echo", Proto: proto.Echo, Conns: 4, Size: 64, Depth: 1, Ladder: true,
			Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, MaxDuration: 800 * time.Millisecond, ProbeDuration: 300 * time.Millisecond},
		{Scenario: results.ScenarioBroadcast, App: "broadcast", Proto: proto.Framed, Conns: 8, Size: 64, Depth: 1, Room: 4, Ladder: true,
			Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond, MaxDuration: 800 * time.Millisecond, ProbeDuration: 300 * time.Millisecond},
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	run, err := Run(context.Background(), RunConfig{Suite: "test", Workloads: wls, Reps: 2, Ladder: ladder,
		speedProbe: steadySpeed,
		Backends:   []string{"netstd"}, Out: out, Exe: testExe, NoReport: true}, &stdout, &stderr)
	t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if len(run.Capacities) != len(wls) {
		t.Fatalf("%d capacities, want %d", len(run.Capacities), len(wls))
	}
	rounds := map[int]bool{}
	for _, c := range run.Speed.Rounds {
		rounds[c.Round] = true
	}
	for wi, w := range wls {
		cp := run.Capacities[wi]
		fam := results.Key{Scenario: w.Scenario, Proto: w.App, Mode: results.ModeOpen, Conns: w.Conns, Size: w.Size, Depth: w.Depth}.String()
		if cp.Workload != fam || cp.PerBackend["netstd"] <= 0 || cp.PerBackend["netstd#aa"] <= 0 || cp.LimitedBy == "" {
			t.Fatalf("capacity %+v, want %q probed on both labels", cp, fam)
		}
		if low := min(cp.PerBackend["netstd"], cp.PerBackend["netstd#aa"]); cp.MsgsPerSec > low {
			t.Fatalf("common capacity %v above the lowest probed %v", cp.MsgsPerSec, low)
		}
		rates, _ := results.LadderRates(cp.MsgsPerSec, ladder)
		points, caps := 0, 0
		for _, r := range run.Results {
			if r.Scenario != w.Scenario {
				continue
			}
			name := r.Name() + "/" + r.Scenario
			if r.Error != "" || r.Skipped != "" {
				t.Errorf("%s: error %q skipped %q", name, r.Error, r.Skipped)
				continue
			}
			if r.Capacity {
				caps++
				if r.Mode != results.ModeClosed || r.Rate != 0 || len(r.Repetitions) != 2 {
					t.Errorf("%s capacity: mode %s rate %v reps %d", name, r.Mode, r.Rate, len(r.Repetitions))
				}
				continue
			}
			points++
			i := 0
			if r.LoadFraction == ladder[1] {
				i = 1
			}
			if r.LoadFraction != ladder[i] || r.Rate != rates[i] || r.Mode != results.ModeOpen {
				t.Errorf("%s: fraction %v rate %v mode %s, want %v at %v open", name, r.LoadFraction, r.Rate, r.Mode, ladder[i], rates[i])
			}
			if !r.Saturated && (r.MsgsPerSec == nil || *r.MsgsPerSec < results.SustainShare*r.Rate) {
				t.Errorf("%s: not saturated but achieved %v of %v", name, r.MsgsPerSec, r.Rate)
			}
			for _, rep := range r.Repetitions {
				if rep.LatencySamples == 0 || rep.LatencyCI == nil || rep.LatencyCI.P50 == nil {
					t.Errorf("%s rep %d: samples %d CI %+v", name, rep.Index, rep.LatencySamples, rep.LatencyCI)
				}
				if rep.Steady == nil || rep.Steady.Slices < results.MinSteadySlices {
					t.Errorf("%s rep %d: no steady-state test: %+v", name, rep.Index, rep.Steady)
				}
				if !rounds[rep.Round] {
					t.Errorf("%s rep %d: round %d has no calibration", name, rep.Index, rep.Round)
				}
				if rep.Verify == nil || !rep.Verify.OK() {
					t.Errorf("%s rep %d: verify %+v", name, rep.Index, rep.Verify)
				}
			}
		}
		if caps != 2 || points != 2*len(ladder) {
			t.Fatalf("%s: %d capacity results and %d ladder points, want 2 and %d", w.Scenario, caps, points, 2*len(ladder))
		}
	}
	s := stdout.String()
	for _, want := range []string{"EQUAL LOAD 30%", "EQUAL LOAD 60%", "CAPACITY (closed loop", "netstd#aa", "Machine speed index"} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
}
