package harness

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

const unavailableBackend = "harnesstest-unavailable"

func init() {
	models.Register(models.Backend{Name: unavailableBackend, Summary: "test: never available",
		Available: func() error { return models.Unsupported(unavailableBackend, "test backend that never runs") },
		New: func(models.Config) (models.Engine, error) {
			return nil, models.Unsupported(unavailableBackend, "never")
		}})
}

// TestRunSmallSuite runs every scenario briefly against real `iobench serve` children and
// checks the results folder: every number measured or null, skipped backends present with
// their reason, verification clean, HDR logs and the benchmark file written.
// steadySpeed is a speed probe that never drifts: the integration tests check a run's shape
// (repetitions, files, report), and a loaded test machine would otherwise have rounds measured
// again (that rule is tested with fakes in TestRunPlanWithFakes).
func steadySpeed() (cpuNs, pingPongNs float64, err error) { return 10e6, 25e3, nil }

func TestRunSmallSuite(t *testing.T) {
	ms := 300 * time.Millisecond
	wls := []Workload{
		{Scenario: results.ScenarioPingPong, App: "echo", Proto: proto.Echo, Conns: 10, Size: 64, Depth: 1, Warmup: 100 * time.Millisecond, Duration: ms},
		{Scenario: results.ScenarioPingPong, App: "echo", Proto: proto.Echo, Conns: 4, Size: 64, Rate: 2000, Warmup: 100 * time.Millisecond, Duration: ms},
		{Scenario: results.ScenarioPipelined, App: "framed", Proto: proto.Framed, Conns: 4, Size: 64, Depth: 8, Warmup: 100 * time.Millisecond, Duration: ms},
		{Scenario: results.ScenarioBroadcast, App: "broadcast", Proto: proto.Framed, Conns: 8, Size: 64, Depth: 1, Room: 4, Warmup: 100 * time.Millisecond, Duration: ms},
		{Scenario: results.ScenarioIdle, App: "framed", Proto: proto.Framed, Conns: 50, Idle: 45, Size: 64, Depth: 1, Warmup: 100 * time.Millisecond, Duration: ms},
		{Scenario: results.ScenarioChurn, App: "echo", Proto: proto.Echo, Conns: 2, Size: 64, Warmup: 100 * time.Millisecond, Duration: ms},
		{Scenario: results.ScenarioReconnect, App: "echo", Proto: proto.Echo, Conns: 5, Size: 64, Warmup: 100 * time.Millisecond, Duration: 1500 * time.Millisecond, Reps: 1},
		{Scenario: results.ScenarioSweep, App: "echo", Proto: proto.Echo, Conns: 4, Size: 64, StartRate: 100, SLO: 2 * time.Second, Warmup: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Reps: 1}, // a first step a loaded machine still meets (the test checks the shape, not a speed)
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	run, err := Run(context.Background(), RunConfig{Suite: "test", Workloads: wls, Reps: 2,
		speedProbe: steadySpeed,
		Backends:   []string{"netstd", unavailableBackend}, Out: out, Exe: testExe, NoReport: true},
		&stdout, &stderr)
	t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	loaded, errs := results.ReadDir(out)
	if len(errs) > 0 || len(loaded) != 1 {
		t.Fatalf("results folder: %v (%d runs)", errs, len(loaded))
	}
	got := loaded[0].Run
	// netstd, its A/A twin netstd#aa (the default twin) and the unavailable backend, skipped.
	if len(got.Results) != 3*len(wls) {
		t.Fatalf("%d results, want %d", len(got.Results), 3*len(wls))
	}
	twins := 0
	for _, r := range got.Results {
		if r.Label == "netstd"+results.AASuffix && r.Backend == "netstd" && r.Skipped == "" {
			twins++
		}
	}
	if twins != len(wls) {
		t.Fatalf("%d results of the A/A twin, want one per workload (%d)", twins, len(wls))
	}
	if got.Speed == nil || len(got.Speed.Rounds) == 0 || got.Speed.Index <= 0 {
		t.Fatalf("no speed calibration: %+v", got.Speed)
	}
	if got.Env.GoVersion == "" || got.Env.Cores == 0 || got.Env.IobenchCommit == "" || got.Env.Kernel == "" {
		t.Fatalf("environment manifest incomplete: %+v", got.Env)
	}
	for _, r := range got.Results {
		name := r.Name() + "/" + r.Scenario
		if r.Backend == unavailableBackend {
			if !strings.Contains(r.Skipped, "never runs") {
				t.Errorf("%s: skipped = %q, want the reason", name, r.Skipped)
			}
			continue
		}
		if r.Error != "" || r.Skipped != "" {
			t.Errorf("%s: error %q skipped %q", name, r.Error, r.Skipped)
			continue
		}
		if (r.Scenario != results.ScenarioReconnect && (r.MsgsPerSec == nil || *r.MsgsPerSec <= 0)) || r.Latency == nil || r.Latency.P99 == nil {
			t.Errorf("%s: throughput or latency missing", name)
		}
		if r.Verify == nil || !r.Verify.OK() || r.Verify.Sent == 0 {
			t.Errorf("%s: verify %+v", name, r.Verify)
		}
		wantReps := 2
		if r.Scenario == results.ScenarioReconnect || r.Scenario == results.ScenarioSweep {
			wantReps = 1
		}
		if r.Reps != wantReps {
			t.Errorf("%s: %d reps, want %d", name, r.Reps, wantReps)
		}
		if r.Bottleneck == "" {
			t.Errorf("%s: no bottleneck verdict", name)
		}
		if r.Mode == results.ModeOpen && r.Scenario != results.ScenarioSweep && len(r.LatencyTimeline) == 0 {
			t.Errorf("%s: open loop without a latency timeline", name)
		}
		switch r.Scenario {
		case results.ScenarioReconnect:
			if r.Latency.Max == nil || *r.Latency.Max <= 0 {
				t.Errorf("%s: no time-until-back", name)
			}
			if r.MsgsPerSec != nil {
				t.Errorf("%s: msgs/s %v for a one-message-per-client scenario", name, *r.MsgsPerSec)
			}
		case results.ScenarioSweep:
			if r.Sweep == nil || len(r.Sweep.Points) == 0 {
				t.Errorf("%s: no sweep points", name)
			}
		default:
			if runtime.GOOS == "linux" {
				if r.Server == nil || r.Server.CPUNsPerMsg == nil || r.Server.CtxSwitchesPerMsg == nil || r.Server.RSSBytes == nil {
					t.Errorf("%s: server probes missing: %+v", name, r.Server)
				} else if perfUsable() == nil && r.Server.SyscallsPerMsg == nil {
					t.Errorf("%s: perf works here but syscalls/msg is null (%s)", name, r.Repetitions[0].Note)
				}
			}
			if r.Client == nil || r.Client.CPUNsPerMsg == nil {
				t.Errorf("%s: client CPU missing", name)
			}
		}
		for _, rep := range r.Repetitions {
			if rep.HDRLog != "" {
				if _, err := results.ReadHDRLogFile(filepath.Join(out, rep.HDRLog)); err != nil {
					t.Errorf("%s: HDR log: %v", name, err)
				}
			}
		}
	}
	if b, err := os.ReadFile(filepath.Join(out, "bench.txt")); err != nil || !bytes.Contains(b, []byte("BenchmarkIO/backend=netstd/scenario=pingpong")) || !bytes.Contains(b, []byte("BenchmarkIO/backend=netstd#aa/scenario=pingpong")) {
		t.Errorf("bench.txt: %v\n%s", err, b)
	}
	s := stdout.String()
	for _, want := range []string{"skipped: ", "pingpong", "results: " + out} {
		if !strings.Contains(s, want) {
			t.Errorf("summary lacks %q", want)
		}
	}
	_ = run
}

// TestRunCmdChild runs the real binary: `iobench run` as a child process with a one-scenario
// suite, and bad usage exits 2.
func TestRunCmdUsage(t *testing.T) {
	cases := []struct {
		name string
		args []string
	}{
		{"bad-suite", []string{"--suite", "nope"}},
		{"bad-backend", []string{"--backends", "nope"}},
		{"bad-scenario", []string{"--scenarios", "nope"}},
		{"negative-reps", []string{"--reps", "-1"}},
		{"zero-reps", []string{"--reps", "0"}},
		{"zero-duration", []string{"--duration", "0s"}},
		{"repeated-backend", []string{"--backends", "netstd,netstd"}},
		{"stray-arg", []string{"extra"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := RunCmd(context.Background(), append(tc.args, "--out", t.TempDir()), &out, &errb)
			if cli.Code(err) != cli.ExitUsage {
				t.Fatalf("exit %d (%v), want %d", cli.Code(err), err, cli.ExitUsage)
			}
		})
	}
}

// An interrupted run writes what it measured and says it was interrupted: the repetition in
// flight at the interrupt is recorded as interrupted, not as a failure of the backend (its
// messages in flight are not losses), and the exit code is 130, not 1.
func TestRunInterrupted(t *testing.T) {
	out := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr bytes.Buffer
	w := Workload{Scenario: results.ScenarioPingPong, App: "echo", Proto: proto.Echo, Conns: 4, Size: 64, Depth: 1,
		Warmup: 100 * time.Millisecond, Duration: 3 * time.Second}
	// Cancel while the first repetition is inside its 3 s window (it starts after the server,
	// the connections and 100 ms of warm-up, well under 1 s).
	time.AfterFunc(1200*time.Millisecond, cancel)
	_, err := Run(ctx, RunConfig{Suite: "test", Reps: 3, Backends: []string{"netstd"}, AA: AANone, Out: out, Exe: testExe,
		speedProbe: steadySpeed,
		NoReport:   true, Workloads: []Workload{w}}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if cli.Code(err) != cli.ExitInterrupted || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("exit %d (%v), want %d saying it was interrupted", cli.Code(err), err, cli.ExitInterrupted)
	}
	loaded, errs := results.ReadDir(out)
	if len(errs) > 0 || len(loaded) != 1 {
		t.Fatalf("results folder after interruption: %v", errs)
	}
	run := loaded[0].Run
	if !run.Interrupted {
		t.Fatal("run.interrupted not set")
	}
	if len(run.Results) != 1 {
		t.Fatalf("%d results, want 1", len(run.Results))
	}
	r := run.Results[0]
	if r.Error != "" {
		t.Fatalf("the backend in flight is blamed: error %q", r.Error)
	}
	if len(r.Repetitions) != 1 {
		t.Fatalf("%d repetitions recorded, want the one in flight", len(r.Repetitions))
	}
	rep := r.Repetitions[0]
	if !rep.Interrupted || rep.Error != "" {
		t.Fatalf("repetition in flight: interrupted %v error %q", rep.Interrupted, rep.Error)
	}
	if rep.Verify == nil || rep.Verify.Lost != 0 || rep.Verify.Sent == 0 {
		t.Fatalf("in-flight messages counted as lost, or nothing sent: %+v", rep.Verify)
	}
	if !strings.Contains(stderr.String(), "rep 1/3: interrupted") {
		t.Fatalf("progress does not say repetition 1/3 was interrupted:\n%s", stderr.String())
	}
}
