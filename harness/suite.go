package harness

import (
	"fmt"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// Workload is one named, parameterised scenario configuration of a suite.
type Workload struct {
	Scenario string     // results.Scenario*
	App      string     // `serve --proto`: echo, framed, sockperf, broadcast
	Proto    proto.Name // wire protocol of the load generator
	Conns    int
	Size     int
	Depth    int     // closed loop
	Rate     float64 // open loop (0 = closed)
	Room     int     // broadcast room size
	Idle     int     // idle connections (of Conns), heartbeat every second
	Warmup   time.Duration
	Duration time.Duration
	Reps     int // repetitions (0 = the run's --reps)
	// SLO is the sweep's p99 objective; StartRate its first offered rate.
	SLO       time.Duration
	StartRate float64

	// Ladder compares the workload at equal offered load: a closed-loop capacity probe of
	// ProbeDuration windows on every label (the capacity results), then every label open loop
	// at the same ladder of fractions of the common capacity, each point's window lengthened
	// from Duration up to MaxDuration to collect TailTarget latency samples.
	Ladder        bool
	ProbeDuration time.Duration
	MaxDuration   time.Duration
	// MaxWarmup bounds the warm-up when a window is not in steady state and is measured again
	// (0: never lengthened).
	MaxWarmup time.Duration
	// ServeArgs are extra `serve` flags (tests: --leak).
	ServeArgs []string
	// Plain, for a variant scenario (logging, crypto), is the app of its plain counterpart:
	// every label then runs both apps in the same rounds and ladder (see variants.go).
	Plain string
	// Scale: measured by the heartbeat driver with the scale figures (scale.go); Skip, when
	// set, is why it is not run (above this machine's connection ceiling).
	Scale bool
	Skip  string
}

// Mode is closed or open.
func (w Workload) Mode() string {
	if w.Rate > 0 || w.Scenario == results.ScenarioSweep {
		return results.ModeOpen
	}
	return results.ModeClosed
}

// Name is a short label for progress lines.
func (w Workload) Name() string {
	s := fmt.Sprintf("%s conns=%d size=%d", w.Scenario, w.Conns, w.Size)
	if w.Depth > 0 {
		s += fmt.Sprintf(" depth=%d", w.Depth)
	}
	if w.Rate > 0 {
		s += fmt.Sprintf(" rate=%g", w.Rate)
	}
	return s
}

// Suites. The quick suite is what `iobench run` does with no arguments: about 6.5 minutes for
// five backends and the A/A twin on 2 cores. pingpong and broadcast are compared at equal
// offered load (Ladder): a capacity probe (2 closed-loop rounds of 0.5 s per label), one
// open-loop probe of the load generator, then 3 ladder points per label in each of 8 rounds,
// each point's window long enough for TailTarget latency samples (0.5 s at least, 2 s at
// most: a capacity of 30 000 msgs/s still gives its 20 % point 100 samples beyond p99). idle (memory per connection) and churn (connection rate) have no message rate to
// equalise and run as before. Pipelined is in the full suite only: at equal offered load it
// is pingpong with bursts of Depth, and its 120 more measurements would make the quick suite
// 6 minutes. The suite runs 8 repetitions: the report corrects the p-values of a run's
// verdicts together (Holm's method over about 45 tests in this suite, results.Family), so a
// difference is significant only if its p is below about 0.05/45 ≈ 0.001. The smallest
// two-sided Mann–Whitney p of n against n is 2/C(2n, n): 0.008 for 5 against 5 (never enough),
// 0.00058 for 7 (only a complete separation), 0.00016 for 8, where a separation with one or
// two swapped pairs still counts (a single outlier does not undo a verdict). A round whose
// speed calibration drifted is measured again (results.Rep.Replaced), up to 4 extra rounds
// per workload. About 7 minutes on 2 cores (measured 2026-12-02: 6 min 26 s without a round
// measured again); 5 repetitions took 4 minutes but called verdicts that the next run did not
// repeat.
//
// logging and crypto (app variants beside plain framed, every label twice) are in the full suite
// only: on the quick suite's ladder they would add about 5 minutes each.
//
// The full suite measures five ladder workloads with 1.5–3 s windows and the closed-loop
// ones (idle with 10 000 connections, churn, bulk, reconnect) and the sweep: planned at about
// 35 minutes on 2 cores (per ladder workload ≈ 120 points × 2.1 s + its probes ≈ 300 s), and
// faults (3 repetitions of about 9 s per label: 3 minutes more), and logging and crypto
// (each ladder with its labels doubled: ≈ 2 × 300 s each, 20 minutes more).
//
// The scale suite (scale.go) is the idle scenario at 1 000, 4 000, 16 000 and 100 000
// connections (--conns sets them), up to the machine's ceiling, one repetition by default
// (memory per connection and heartbeat delivery, not a close comparison of rates): about 3
// minutes for five backends on 2 cores.
var Suites = map[string][]Workload{
	"quick": {
		{Scenario: results.ScenarioPingPong, App: "echo", Proto: proto.Echo, Conns: 100, Size: 64, Depth: 1, Ladder: true,
			Warmup: 200 * time.Millisecond, Duration: 500 * time.Millisecond, MaxDuration: 2 * time.Second,
			ProbeDuration: 500 * time.Millisecond, MaxWarmup: 500 * time.Millisecond},
		{Scenario: results.ScenarioBroadcast, App: "broadcast", Proto: proto.Framed, Conns: 64, Size: 64, Depth: 1, Room: 8, Ladder: true,
			Warmup: 200 * time.Millisecond, Duration: 500 * time.Millisecond, MaxDuration: 2 * time.Second,
			ProbeDuration: 500 * time.Millisecond, MaxWarmup: 500 * time.Millisecond},
		{Scenario: results.ScenarioIdle, App: "framed", Proto: proto.Framed, Conns: 1000, Idle: 990, Size: 64, Depth: 1, Warmup: 200 * time.Millisecond, Duration: 600 * time.Millisecond},
		{Scenario: results.ScenarioChurn, App: "echo", Proto: proto.Echo, Conns: 10, Size: 64, Warmup: 200 * time.Millisecond, Duration: 600 * time.Millisecond},
	},
	"scale": scaleWorkloads(DefaultScaleConns), // scale.go
	"full": {
		ladderFull(Workload{Scenario: results.ScenarioPingPong, App: "echo", Proto: proto.Echo, Conns: 100, Size: 64, Depth: 1}),
		ladderFull(Workload{Scenario: results.ScenarioPingPong, App: "framed", Proto: proto.Framed, Conns: 100, Size: 64, Depth: 1}),
		ladderFull(Workload{Scenario: results.ScenarioPipelined, App: "echo", Proto: proto.Echo, Conns: 100, Size: 64, Depth: 8}),
		ladderFull(Workload{Scenario: results.ScenarioPipelined, App: "echo", Proto: proto.Echo, Conns: 1000, Size: 64, Depth: 4}),
		ladderFull(Workload{Scenario: results.ScenarioBroadcast, App: "broadcast", Proto: proto.Framed, Conns: 256, Size: 64, Depth: 1, Room: 16}),
		{Scenario: results.ScenarioIdle, App: "framed", Proto: proto.Framed, Conns: 10000, Idle: 9900, Size: 64, Depth: 1, Warmup: time.Second, Duration: 3 * time.Second},
		{Scenario: results.ScenarioChurn, App: "echo", Proto: proto.Echo, Conns: 50, Size: 64, Warmup: 500 * time.Millisecond, Duration: 3 * time.Second},
		{Scenario: results.ScenarioBulk, App: "echo", Proto: proto.Echo, Conns: 8, Size: 64 << 10, Depth: 2, Warmup: 500 * time.Millisecond, Duration: 3 * time.Second},
		{Scenario: results.ScenarioReconnect, App: "echo", Proto: proto.Echo, Conns: 200, Size: 64, Warmup: 500 * time.Millisecond, Duration: 3 * time.Second},
		ladderFull(Workload{Scenario: results.ScenarioLogging, App: "logging", Plain: "framed", Proto: proto.Framed, Conns: 100, Size: 64, Depth: 1}),
		ladderFull(Workload{Scenario: results.ScenarioCrypto, App: "crypto", Plain: "framed", Proto: protoCrypto, Conns: 100, Size: 64, Depth: 1}),
		{Scenario: results.ScenarioSweep, App: "echo", Proto: proto.Echo, Conns: 100, Size: 64, StartRate: 1000, SLO: 5 * time.Millisecond, Warmup: 300 * time.Millisecond, Duration: time.Second, Reps: 1},
		withReps(faultsWorkload, 3),
	},
	// faults: server kill + restart and client resets during a steady load (faults.go);
	// 3 repetitions of about 10 s per label.
	"faults": {faultsWorkload},
	// soak: every label in turn at half of the common capacity for --duration (default 10
	// minutes; soak.go), after a 1 s capacity probe per label; no A/A twin unless asked.
	"soak": {{Scenario: results.ScenarioSoak, App: "echo", Proto: proto.Echo, Conns: 100, Size: 64, Depth: 1,
		Warmup: 2 * time.Second, Duration: 10 * time.Minute, Reps: 1}},
}

// faultsWorkload is the faults scenario: 100 echo connections at 6 000 msgs/s open loop,
// four 2 s quarters (12 000 latency samples each: enough for a p99 per quarter).
var faultsWorkload = Workload{Scenario: results.ScenarioFaults, App: "echo", Proto: proto.Echo, Conns: 100, Size: 64,
	Rate: 6000, Warmup: 500 * time.Millisecond, Duration: 8 * time.Second}

func withReps(w Workload, n int) Workload {
	w.Reps = n
	return w
}

// ladderFull is w compared at equal load with the full suite's windows.
func ladderFull(w Workload) Workload {
	w.Ladder = true
	w.Warmup, w.MaxWarmup = 500*time.Millisecond, 2*time.Second
	w.Duration, w.MaxDuration, w.ProbeDuration = 1500*time.Millisecond, 3*time.Second, 1500*time.Millisecond
	return w
}

// SuiteLadder is a suite's default ladder when --ladder is not given (results.DefaultLadder
// otherwise). The quick suite leaves out the 20 % point: at low load every backend costs about
// the same (each wake-up finds one message), its windows are the longest of the ladder (the
// fewest messages per second for the same tail samples), and without it the suite keeps to
// about 4 minutes on 2 cores (5 min 39 s with it, measured 2026-12-02). The verdicts that
// matter for production are from half of capacity upward; the full suite keeps all four.
var SuiteLadder = map[string][]float64{"quick": {0.4, 0.6, 0.8}}

// SuiteReps is the default number of repetitions per suite.
var SuiteReps = map[string]int{"quick": 8, "full": 8, "faults": 3, "soak": 1, "scale": 1}

// SuiteCapacityReps is the number of capacity-probe rounds of a ladder workload per suite
// (the closed-loop capacity results have that many repetitions). The quick suite's 2 give
// the common capacity but can never make a capacity difference significant (the report says
// so); the full suite's 5 can.
var SuiteCapacityReps = map[string]int{"quick": 2, "full": 5}
