package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/plots"
	"github.com/iobench/iobench/results"
)

// RunConfig is one `iobench run`.
type RunConfig struct {
	Suite     string
	Workloads []Workload // the suite's, after --scenarios filtering
	// Backends are the server backends to compare, and at most one A/A twin "x#aa" (x listed
	// too); registered but unavailable ones are recorded skipped. Empty: every registered one.
	Backends []string
	// AA names the backend measured twice, as itself and as its A/A twin: "" picks netstd
	// when it runs here (else the first available backend), AANone disables the twin.
	AA  string
	Out string
	// Reps is the number of interleaved rounds per measurement (0: the suite's).
	Reps int
	// Ladder are the equal-load ladder's offered rates as fractions of each workload's common
	// capacity (nil: results.DefaultLadder).
	Ladder []float64
	// Loops and GOMAXPROCS are given to every server backend alike (tuning parity).
	Loops, GOMAXPROCS int
	ClientBackend     string
	NoPin             bool
	NoReport          bool
	KeepLogs          bool   // keep the logging scenario's server log files (logs/) after their lines are counted
	Exe               string // iobench binary for the servers (default os.Executable)
	// Duration and Warmup, when non-zero (WarmupSet for an explicit zero warm-up), override
	// every workload's.
	Duration, Warmup time.Duration
	WarmupSet        bool
	// SLO, when non-zero, overrides the sweep's p99 objective.
	SLO time.Duration
	// Rate, when non-zero, overrides the fixed open-loop rate of the workloads that have one
	// (faults), e.g. for a slower platform.
	Rate float64
	// ScaleConns, when set, are the scale suite's connection counts (--conns; scale.go).
	ScaleConns []int

	// Servers is where the servers under test run and are probed, Loads where the load runs
	// (nil: LocalServers with Exe, pinned to the server CPUs; LocalLoad).
	Servers ServerHost
	Loads   LoadHost
	// Topology records where they are (nil: local processes; see remoteEnv).
	Topology *results.Topology

	speedProbe func() (cpuNs, pingPongNs float64, err error) // tests only
}

// Saturation is the CPU share (of the cores a process is pinned to) at which the bottleneck
// rule calls a process saturated.
const Saturation = 0.90

// Bottleneck is the verdict rule, from each process's CPU over the window divided by the wall
// time and by its core share (the CPUs it is pinned to; unpinned, every CPU):
//
//   - server ≥ 90 % and client < 90 %: "server" (the number is the server's);
//   - client ≥ 90 % and server < 90 %: "client" (the number is a lower bound of the server;
//     every table labels it client-bound);
//   - both or neither saturated, or a utilisation unknown: "unknown".
func Bottleneck(serverUtil, clientUtil *float64) string {
	if serverUtil == nil || clientUtil == nil {
		return results.BottleneckUnknown
	}
	s, c := *serverUtil >= Saturation, *clientUtil >= Saturation
	switch {
	case s && !c:
		return results.BottleneckServer
	case c && !s:
		return results.BottleneckClient
	}
	return results.BottleneckUnknown
}

// RunCmd is `iobench run`.
func RunCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlagSet("run", stderr)
	var c RunConfig
	var backends, scenarios, ladder, conns string
	fs.StringVar(&c.Suite, "suite", "quick", "suite: quick (~7 min on 2 cores), full (~90 min), faults (~1 min per backend), soak (--duration per backend, default 10 min) or scale (idle connections up to this machine's limit)")
	fs.StringVar(&conns, "conns", "", "scale suite: comma-separated connection counts (default 1000,4000,16000,100000; counts above this machine's limit are refused)")
	fs.StringVar(&backends, "backends", "", "comma-separated server backends, and optionally one A/A twin such as netstd#aa (default: every registered one; unavailable ones are recorded as skipped)")
	fs.StringVar(&c.AA, "aa", "", "backend measured a second time as its A/A twin BACKEND#aa, to calibrate what a significant difference is here (default: netstd, or the first available backend; none: no twin)")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios of the suite to run (default: all)")
	fs.StringVar(&ladder, "ladder", "", "offered rates of the equal-load ladders as fractions of each workload's common capacity (default: quick 0.4,0.6,0.8; other suites 0.2,0.4,0.6,0.8)")
	fs.StringVar(&c.Out, "out", "", "results folder (default results/<timestamp>)")
	fs.IntVar(&c.Reps, "reps", 0, "repetitions per measurement, interleaved across backends (default: the suite's, 8 for quick and full: the report corrects a run's verdicts for each other (Holm), and with fewer than 7 against 7 no difference survives that in a quick suite's 45 tests)")
	fs.IntVar(&c.Loops, "loops", 0, "event loops / completion threads of every server backend (0 = GOMAXPROCS)")
	fs.IntVar(&c.GOMAXPROCS, "gomaxprocs", 0, "GOMAXPROCS of every server (0 = the number of CPUs it is pinned to)")
	fs.StringVar(&c.ClientBackend, "client-backend", "", "load generator backend, the same for every server (default: "+DefaultClientBackend()+")")
	fs.BoolVar(&c.NoPin, "no-pin", false, "do not pin the server and the load generator to disjoint CPUs")
	fs.BoolVar(&c.NoReport, "no-report", false, "do not write the HTML report")
	fs.BoolVar(&c.KeepLogs, "keep-logs", false, "keep the logging scenario's server log files (OUT/logs) after their lines are counted")
	fs.DurationVar(&c.Duration, "duration", 0, "override every workload's measured window (default: the workload's own)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "override every workload's warm-up, 0s for none (default: the workload's own)")
	fs.DurationVar(&c.SLO, "slo", 0, "p99 latency objective of the sweep scenario (default 5ms)")
	fs.Float64Var(&c.Rate, "rate", 0, "override the fixed open-loop rate (msgs/s) of the workloads that have one (faults) and the soak's rate (default: the workload's; soak: half of the probed capacity)")
	var remote remoteFlags
	remote.register(fs)
	if err := cli.Parse(fs, args, false); err != nil {
		return err
	}
	var zero []string // flags given explicitly as 0, which would silently mean "the default"
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "reps":
			if c.Reps == 0 {
				zero = append(zero, "--reps 0 (give 1 or more)")
			}
		case "duration":
			if c.Duration == 0 {
				zero = append(zero, "--duration 0 (a window must be positive)")
			}
		case "warmup":
			c.WarmupSet = true
		}
	})
	if len(zero) > 0 {
		return cli.Usagef("refused: %s", strings.Join(zero, "; "))
	}
	suite, ok := Suites[c.Suite]
	if !ok {
		return cli.Usagef("unknown --suite %q (want quick, full, faults, soak or scale)", c.Suite)
	}
	if conns != "" {
		if c.Suite != "scale" {
			return cli.Usagef("--conns sets the scale suite's connection counts: use it with --suite scale")
		}
		n, err := parseConns(conns)
		if err != nil {
			return cli.Usage(err)
		}
		c.ScaleConns, suite = n, scaleWorkloads(n)
	}
	if scenarios != "" {
		want := splitList(scenarios)
		for _, s := range want {
			if !contains(results.Scenarios, s) {
				return cli.Usagef("unknown scenario %q (want %s)", s, strings.Join(results.Scenarios, ", "))
			}
		}
		for _, w := range suite {
			if contains(want, w.Scenario) {
				c.Workloads = append(c.Workloads, w)
			}
		}
		if len(c.Workloads) == 0 {
			return cli.Usagef("suite %s has none of the scenarios %s", c.Suite, scenarios)
		}
	} else {
		c.Workloads = suite
	}
	if backends != "" {
		c.Backends = splitList(backends)
	}
	if ladder != "" {
		l, err := parseLadder(ladder)
		if err != nil {
			return cli.Usage(err)
		}
		c.Ladder = l
	}
	cleanup, err := remote.apply(ctx, &c, stderr)
	if err != nil {
		return err
	}
	defer cleanup()
	_, err = Run(ctx, c, stdout, stderr)
	return err
}

func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Run runs the workloads on the labels and writes the results folder. It returns the run
// and an error: exit 1 if any measurement failed (verification, a server crash), 130 if ctx
// ended the run (the results measured so far are written and reported all the same).
func Run(ctx context.Context, c RunConfig, stdout, stderr io.Writer) (*results.Run, error) {
	if c.Reps < 0 || c.Loops < 0 || c.GOMAXPROCS < 0 || c.Duration < 0 || c.Warmup < 0 || c.SLO < 0 || c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) {
		return nil, cli.Usagef("negative --reps, --loops, --gomaxprocs, --duration, --warmup or --rate")
	}
	if c.Suite == "" {
		c.Suite = "quick"
	}
	if len(c.Workloads) == 0 {
		c.Workloads = Suites[c.Suite]
	}
	if c.Reps == 0 {
		c.Reps = SuiteReps[c.Suite]
		if c.Reps == 0 {
			c.Reps = 3
		}
	}
	if c.Ladder == nil {
		c.Ladder = SuiteLadder[c.Suite]
		if c.Ladder == nil {
			c.Ladder = results.DefaultLadder
		}
	}
	if err := results.ValidateLadder(c.Ladder); err != nil {
		return nil, cli.Usagef("ladder: %v", err)
	}
	if c.ClientBackend == "" {
		c.ClientBackend = DefaultClientBackend()
	}
	if b, err := models.Lookup(c.ClientBackend); err != nil {
		return nil, cli.Usage(err)
	} else if err := b.Available(); err != nil {
		return nil, cli.Usagef("client backend %s: %v", c.ClientBackend, err)
	}
	if c.Suite == "soak" && c.AA == "" && !strings.Contains(strings.Join(c.Backends, ","), results.AASuffix) {
		c.AA = AANone // a soak compares nothing: its twin would only add a window
	}
	labels, skipped, reasons, err := planLabels(c.Backends, c.AA)
	if err != nil {
		return nil, err
	}
	var scale *scaleRun
	if hasScale(c.Workloads) {
		if scale, err = prepareScale(&c, len(c.ScaleConns) > 0, stderr); err != nil {
			return nil, err
		}
	}
	exe, err := serverExe(c.Exe)
	if err != nil {
		return nil, cli.Failure(fmt.Errorf("finding the iobench binary: %w", err))
	}
	if c.Out == "" {
		c.Out = filepath.Join("results", time.Now().UTC().Format("20060102-150405"))
	}
	if err := os.MkdirAll(filepath.Join(c.Out, "hdr"), 0o755); err != nil {
		return nil, cli.Failure(err)
	}

	env := environment()
	r := &runner{cfg: c, exe: exe, env: &env, stderr: stderr, labels: labels, loads: c.Loads, scale: scale}
	restore := func() {}
	if !c.remote() { // servers and load elsewhere: nothing to share out here
		restore = r.pin()
	}
	defer restore()
	r.servers = c.Servers
	if r.servers == nil {
		r.servers = &LocalServers{Exe: exe, CPUs: r.serverCPUs}
	}
	if r.loads == nil {
		r.loads = LocalLoad{}
	}
	env.GOMAXPROCS = r.serverProcs
	env.Loops = c.Loops // 0: GOMAXPROCS; replaced by what the server reports
	r.remoteEnv(&env)
	if r.pinNote != "" {
		env.Notes = r.pinNote
	}
	if la, err := os.ReadFile("/proc/loadavg"); err == nil {
		// Other processes on the pinned CPUs distort every figure: say how busy the machine was.
		f := strings.Fields(string(la))
		if len(f) >= 3 {
			env.Notes = strings.TrimSpace(env.Notes + fmt.Sprintf(" load average at start %s %s %s (1/5/15 min) on %d CPUs.", f[0], f[1], f[2], runtime.NumCPU()))
		}
	}
	if perfUsable() != nil {
		env.Notes = strings.TrimSpace(env.Notes + " syscalls/msg n/a: " + perfUsable().Error())
	}

	out := &results.Run{SchemaVersion: results.SchemaVersion, Started: time.Now().UTC(), Suite: c.Suite, Env: env}
	for _, w := range c.Workloads {
		if w.Skip == "" {
			r.total += r.planned(w)
		}
	}
	for _, w := range c.Workloads {
		if ctx.Err() != nil {
			break
		}
		if w.Skip != "" { // above this machine's ceiling (scale.go)
			out.Results = append(out.Results, r.skippedScale(w, skipped, reasons)...)
			continue
		}
		rs, capacity := r.runWorkload(ctx, w)
		out.Results = append(out.Results, scaleClient(w, rs)...)
		if capacity != nil {
			out.Capacities = append(out.Capacities, *capacity)
		}
		for _, l := range skipped {
			sr := r.newResult(l, w)
			sr.Skipped = reasons[l.Name]
			out.Results = append(out.Results, *sr)
		}
	}
	out.Speed = results.NewSpeed(r.calibrations)
	if r.loops > 0 {
		out.Env.Loops = r.loops
	}
	if ctx.Err() != nil {
		out.Interrupted = true
		out.Env.Notes = strings.TrimSpace(out.Env.Notes + " interrupted: incomplete run")
	}
	out.Finished = time.Now().UTC()
	if err := results.WriteRun(c.Out, out); err != nil {
		return out, cli.Failure(err)
	}
	if err := writeBenchFile(filepath.Join(c.Out, "bench.txt"), out); err != nil {
		return out, cli.Failure(err)
	}
	PrintSummary(stdout, out)
	if !c.NoReport {
		if p, err := plots.WriteReport(c.Out, c.Out); err != nil {
			fmt.Fprintf(stderr, "report: %v\n", err)
		} else {
			fmt.Fprintf(stdout, "report: %s\n", p)
		}
	}
	fmt.Fprintf(stdout, "results: %s\n", c.Out)
	failed := r.failed()
	if out.Interrupted {
		msg := fmt.Sprintf("interrupted: %d of %d repetitions measured", r.done, r.total)
		if r.interrupted > 0 {
			msg += fmt.Sprintf(", %d stopped in flight (recorded as interrupted, not as failures)", r.interrupted)
		}
		msg += "; the results so far are in " + c.Out
		if len(failed) > 0 {
			msg += fmt.Sprintf("; before that %d measurement(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  "))
		}
		return out, cli.Interrupted(errors.New(msg))
	}
	if len(failed) > 0 {
		return out, cli.Failure(fmt.Errorf("%d measurement(s) failed:\n  %s", len(failed), strings.Join(failed, "\n  ")))
	}
	return out, nil
}

func writeBenchFile(path string, run *results.Run) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := results.WriteBench(f, run); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// repLine is a repetition's progress line.
func repLine(rep *results.Rep) string {
	if rep.Interrupted {
		return "interrupted (not measured to the end; excluded)"
	}
	if rep.Error != "" {
		return "FAILED: " + rep.Error
	}
	s := fmtNum(rep.MsgsPerSec, 0) + " msgs/s"
	if rep.Latency != nil {
		s += " p99 " + fmtNs(rep.Latency.P99)
	}
	if rep.Server != nil && rep.Server.CPUNsPerMsg != nil {
		s += " server " + fmtNum(rep.Server.CPUNsPerMsg, 0) + " ns/msg"
	}
	if rep.Bottleneck != "" {
		s += " [" + rep.Bottleneck + "]"
	}
	if rep.Saturated {
		s += " SATURATED"
	}
	if rep.Steady != nil && !rep.Steady.OK {
		s += " not steady"
	}
	return s
}
