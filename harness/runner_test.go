package harness

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// fakeLab stands behind both seams of a run: its servers answer at once with fixed probes and
// its loads return what a label with a given capacity would deliver, so the run's plan (probe,
// common capacity, ladder, rotation, saturation, steady-state retries) is tested without a
// socket. It records every load in order.
type fakeLab struct {
	mu       sync.Mutex
	capacity map[string]float64 // backend → msgs/s it sustains
	client   float64            // open-loop msgs/s the load generator sustains (0: any)
	loads    []string           // "backend cell", in run order
	trend    map[string]int     // "backend rate" → windows still to return with a trend
	started  int
}

type fakeServer struct {
	lab     *fakeLab
	backend string
	probes  WindowProbes
}

func (l *fakeLab) Start(ctx context.Context, spec ServerSpec) (Server, error) {
	l.mu.Lock()
	l.started++
	l.mu.Unlock()
	return &fakeServer{lab: l, backend: spec.Backend}, nil
}

func (s *fakeServer) Addr() string                       { return "fake:" + s.backend }
func (s *fakeServer) WaitReady(int, time.Duration) error { return nil }
func (s *fakeServer) PrepareWindow(bool)                 {}
func (s *fakeServer) BeginWindow()                       {}
func (s *fakeServer) EndWindow()                         {}
func (s *fakeServer) Crash(context.Context) error        { return nil }
func (s *fakeServer) Stop() error                        { return nil }
func (s *fakeServer) Window() WindowProbes {
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	cpu := func(d time.Duration) *int64 { v := int64(d); return &v }
	return WindowProbes{
		Before: ServerSnapshot{Proc: procSample{At: t0}, Stats: &ServerStats{CPUNs: cpu(0)}},
		After:  ServerSnapshot{Proc: procSample{At: t0.Add(time.Second)}, Stats: &ServerStats{CPUNs: cpu(400 * time.Millisecond)}},
	}
}

func (l *fakeLab) Load(ctx context.Context, cfg LoadConfig) (*LoadResult, error) {
	backend := strings.TrimPrefix(cfg.Target, "fake:")
	offered := cfg.Rate
	if cfg.Broadcast {
		offered *= float64(cfg.Room)
	}
	achieved := l.capacity[backend]
	if offered > 0 {
		achieved = min(offered, achieved)
		if l.client > 0 {
			achieved = min(achieved, l.client)
		}
	}
	key := fmt.Sprintf("%s %g", backend, offered)
	l.mu.Lock()
	l.loads = append(l.loads, key)
	trend := l.trend[key] > 0
	if trend {
		l.trend[key]--
	}
	l.mu.Unlock()
	r := &LoadResult{Config: cfg, Window: cfg.Duration, Hist: newHist(), ClientCPU: 100 * time.Millisecond}
	for i := 0; time.Duration(i)*SliceInterval < cfg.Duration; i++ {
		n := uint64(achieved * SliceInterval.Seconds())
		base := int64(100e3)
		if trend {
			base *= int64(1 + i) // latency still climbing: not in steady state
		}
		h := newHist()
		for j := uint64(0); j < n; j++ {
			h.RecordValue(base + int64(j%1000))
		}
		r.Intervals = append(r.Intervals, h)
		r.SliceMsgs = append(r.SliceMsgs, n)
		r.Hist.Merge(h)
		r.Msgs += n
	}
	r.Bytes = r.Msgs * uint64(cfg.Size)
	r.Verify = results.Verify{Sent: r.Msgs, Received: r.Msgs}
	return r, nil
}

func TestRunPlanWithFakes(t *testing.T) {
	// netstd and its twin sustain 40 000 msgs/s: the ladder's 120 % point saturates.
	lab := &fakeLab{capacity: map[string]float64{"netstd": 40000}, trend: map[string]int{}}
	ladder := []float64{0.5, 1.2}
	w := Workload{Scenario: results.ScenarioPingPong, App: "echo", Proto: proto.Echo, Conns: 10, Size: 64, Depth: 1,
		Ladder: true, Warmup: 10 * time.Millisecond, MaxWarmup: 100 * time.Millisecond,
		Duration: 600 * time.Millisecond, ProbeDuration: 500 * time.Millisecond}
	// The ladder's 50 % point (20 000 msgs/s) trends in its first window: it is measured again
	// after a longer warm-up.
	lab.trend["netstd 20000"] = 1
	calls := 0
	probe := func() (float64, float64, error) {
		calls++
		if calls == 8 { // the end of round 3 (probe rounds 0 and 1, ladder rounds 2-4): slower
			return 13e6, 25e3, nil
		}
		return 10e6, 25e3, nil
	}
	var stdout, stderr bytes.Buffer
	run, err := Run(context.Background(), RunConfig{Suite: "test", Workloads: []Workload{w}, Reps: 3, Ladder: ladder,
		Backends: []string{"netstd"}, Out: t.TempDir(), NoPin: true, NoReport: true, Exe: "unused",
		Servers: lab, Loads: lab, speedProbe: probe}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	// Probe: 2 rounds × 2 labels closed loop, the load generator's probe at the common
	// capacity, then 3 rounds × 2 labels × 2 points, one of them measured twice, and the
	// drifted round 3 measured again (round 5).
	if want := 2*2 + 1 + 3*2*2 + 1 + 2*2; len(lab.loads) != want {
		t.Fatalf("%d loads, want %d: %v", len(lab.loads), want, lab.loads)
	}
	cp := run.Capacities
	if len(cp) != 1 || cp[0].MsgsPerSec != 40000 || cp[0].PerBackend["netstd#aa"] != 40000 {
		t.Fatalf("capacities %+v", cp)
	}
	// Ladder round k measures the points in an order rotated by k: 50 % first (and again,
	// for its trend), then 120 %; the next round starts with 120 %.
	ladderLoads := lab.loads[5:]
	if ladderLoads[0] != "netstd 20000" || ladderLoads[1] != "netstd 20000" || ladderLoads[2] != "netstd 48000" ||
		ladderLoads[5] != "netstd 48000" || ladderLoads[9] != "netstd 20000" {
		t.Fatalf("ladder order %v", ladderLoads)
	}
	if len(run.Speed.Rounds) != 6 || !run.Speed.Rounds[3].Drifted || run.Speed.Rounds[2].Drifted || run.Speed.Rounds[5].Drifted {
		t.Fatalf("speed rounds %+v, want 6 with round 3 alone drifted", run.Speed.Rounds)
	}
	if !strings.Contains(stderr.String(), "round 4 drifted 30 % (speed calibration before vs after): measured again (1 of at most 2 extra rounds)") {
		t.Error("stderr does not say the drifted round is measured again")
	}
	for _, r := range run.Results {
		if r.Capacity {
			continue
		}
		if len(r.Repetitions) != 4 {
			t.Errorf("%s at %v: %d repetitions, want 3 and the drifted one", r.Name(), r.LoadFraction, len(r.Repetitions))
		}
		counted := 0
		for i := range r.Repetitions {
			rep := &r.Repetitions[i]
			if r.Counted(rep) {
				counted++
			}
			if rep.Replaced != (rep.Round == 3) {
				t.Errorf("%s round %d: replaced %v", r.Name(), rep.Round, rep.Replaced)
			}
		}
		if counted != 3 || len(results.MetricServerCPU.Samples(&r)) != 3 {
			t.Errorf("%s at %v: %d counted repetitions, want 3 (the drifted round's replaced)", r.Name(), r.LoadFraction, counted)
		}
		for _, rep := range r.Repetitions {
			if rep.Saturated != (r.LoadFraction == 1.2) {
				t.Errorf("%s at %v of its capacity: saturated %v", r.Name(), r.LoadFraction, rep.Saturated)
			}
			if rep.SpeedDrifted != (rep.Round == 3) {
				t.Errorf("%s round %d: drifted %v", r.Name(), rep.Round, rep.SpeedDrifted)
			}
			if rep.Steady == nil {
				t.Errorf("%s round %d: no steady-state test", r.Name(), rep.Round)
				continue
			}
			lengthened := r.Name() == "netstd" && r.LoadFraction == 0.5 && rep.Index == 0
			if rep.Steady.WarmupLengthened != lengthened || !rep.Steady.OK {
				t.Errorf("%s %v rep %d: steady %+v, lengthened want %v", r.Name(), r.LoadFraction, rep.Index, *rep.Steady, lengthened)
			}
			if lengthened && rep.Steady.WarmupNs != int64(min(2*w.Warmup+SliceInterval, w.MaxWarmup)) {
				t.Errorf("lengthened warm-up %v", time.Duration(rep.Steady.WarmupNs))
			}
		}
	}
	if want := 2*2 + 1 + 4*2; lab.started != want {
		t.Errorf("%d servers started, want one per label and round (and one for the load generator's probe): %d", lab.started, want)
	}
}
