package harness

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/plots"
	"github.com/iobench/iobench/results"
)

// RunConfig is one `iobench run`.
type RunConfig struct {
	Suite     string
	Workloads []Workload // the suite's, after --scenarios filtering
	Backends  []string   // server backends; registered but unavailable ones are recorded skipped
	Out       string
	Reps      int
	// Loops and GOMAXPROCS are given to every server backend alike (tuning parity).
	Loops, GOMAXPROCS int
	ClientBackend     string
	NoPin             bool
	NoReport          bool
	Exe               string // iobench binary for the servers (default os.Executable)
	// Duration and Warmup, when non-zero, override every workload's.
	Duration, Warmup time.Duration
	// SLO, when non-zero, overrides the sweep's p99 objective.
	SLO time.Duration
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
	var backends, scenarios string
	fs.StringVar(&c.Suite, "suite", "quick", "suite: quick (~3 min on 2 cores) or full")
	fs.StringVar(&backends, "backends", "", "comma-separated server backends (default: every registered one; unavailable ones are recorded as skipped)")
	fs.StringVar(&scenarios, "scenarios", "", "comma-separated scenarios of the suite to run (default: all)")
	fs.StringVar(&c.Out, "out", "", "results folder (default results/<timestamp>)")
	fs.IntVar(&c.Reps, "reps", 0, "repetitions per measurement, interleaved across backends (default: the suite's, 5; 5 against 5 is the fewest that a Mann-Whitney test can call significant at 0.05)")
	fs.IntVar(&c.Loops, "loops", 0, "event loops / completion threads of every server backend (0 = GOMAXPROCS)")
	fs.IntVar(&c.GOMAXPROCS, "gomaxprocs", 0, "GOMAXPROCS of every server (0 = the number of CPUs it is pinned to)")
	fs.StringVar(&c.ClientBackend, "client-backend", "", "load generator backend, the same for every server (default: "+DefaultClientBackend()+")")
	fs.BoolVar(&c.NoPin, "no-pin", false, "do not pin the server and the load generator to disjoint CPUs")
	fs.BoolVar(&c.NoReport, "no-report", false, "do not write the HTML report")
	fs.DurationVar(&c.Duration, "duration", 0, "override every workload's measured window (default: the workload's own)")
	fs.DurationVar(&c.Warmup, "warmup", 0, "override every workload's warm-up (default: the workload's own)")
	fs.DurationVar(&c.SLO, "slo", 0, "p99 latency objective of the sweep scenario (default 5ms)")
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
		}
	})
	if len(zero) > 0 {
		return cli.Usagef("refused: %s", strings.Join(zero, "; "))
	}
	suite, ok := Suites[c.Suite]
	if !ok {
		return cli.Usagef("unknown --suite %q (want quick or full)", c.Suite)
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
		seen := map[string]bool{}
		for _, b := range c.Backends {
			if seen[b] {
				return cli.Usagef("--backends lists %s twice: to measure a backend against itself, list its A/A twin %s%s (one backend under two labels, interleaved like the rest)", b, b, results.AASuffix)
			}
			seen[b] = true
		}
	}
	_, err := Run(ctx, c, stdout, stderr)
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

// Run runs the workloads on the backends and writes the results folder. It returns the run
// and an error with exit code 1 if any measurement failed (verification, server crash).
func Run(ctx context.Context, c RunConfig, stdout, stderr io.Writer) (*results.Run, error) {
	if c.Reps < 0 || c.Loops < 0 || c.GOMAXPROCS < 0 || c.Duration < 0 || c.Warmup < 0 || c.SLO < 0 {
		return nil, cli.Usagef("negative --reps, --loops, --gomaxprocs, --duration or --warmup")
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
	if c.ClientBackend == "" {
		c.ClientBackend = DefaultClientBackend()
	}
	if b, err := models.Lookup(c.ClientBackend); err != nil {
		return nil, cli.Usage(err)
	} else if err := b.Available(); err != nil {
		return nil, cli.Usagef("client backend %s: %v", c.ClientBackend, err)
	}
	// Backends: every registered one by default.
	var run, skipped []string
	skipReason := map[string]string{}
	names := c.Backends
	if len(names) == 0 {
		names = models.Names()
	}
	for _, n := range names {
		b, err := models.Lookup(n)
		if err != nil {
			return nil, cli.Usage(err)
		}
		if err := b.Available(); err != nil {
			skipped = append(skipped, n)
			skipReason[n] = err.Error()
			continue
		}
		run = append(run, n)
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
	r := &runner{cfg: c, exe: exe, env: &env, stderr: stderr}
	restore := r.pin()
	defer restore()
	env.GOMAXPROCS = r.serverProcs
	env.Loops = c.Loops // 0: GOMAXPROCS; replaced by what the server reports
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
	total := 0
	for _, w := range c.Workloads {
		total += r.reps(w) * len(run)
	}
	step, done, interrupted := 0, 0, 0
	var failed []string
	for _, w := range c.Workloads {
		if ctx.Err() != nil {
			break
		}
		res := make(map[string]*results.Result, len(run))
		timelines := make(map[string][][]results.TimelinePoint, len(run))
		for _, b := range run {
			res[b] = r.newResult(b, w)
		}
		for rep := 0; rep < r.reps(w) && ctx.Err() == nil; rep++ {
			for _, b := range run { // interleaved: rep k of every backend before rep k+1
				if ctx.Err() != nil {
					break // interrupted: keep what was measured, write it, fail
				}
				step++
				t0 := time.Now()
				rp := r.measure(ctx, b, w, rep)
				res[b].Repetitions = append(res[b].Repetitions, rp.rep)
				if rp.sweep != nil {
					res[b].Sweep = rp.sweep
				}
				timelines[b] = append(timelines[b], rp.timeline)
				if rp.rep.Interrupted {
					interrupted++
				} else {
					done++
				}
				fmt.Fprintf(stderr, "[%d/%d] %s %s rep %d/%d: %s (%.1fs)\n", step, total, b, w.Name(),
					rep+1, r.reps(w), repLine(&rp.rep), time.Since(t0).Seconds())
			}
		}
		for _, b := range run {
			rr := res[b]
			if len(rr.Repetitions) == 0 {
				rr.Skipped = "not measured: the run was interrupted"
				out.Results = append(out.Results, *rr)
				continue
			}
			results.Summarize(rr)
			rr.LatencyTimeline = medianTimeline(rr, timelines[b])
			for _, rep := range rr.Repetitions {
				if rep.Error != "" {
					rr.Error = fmt.Sprintf("repetition %d of %d: %s", rep.Index+1, r.reps(w), rep.Error)
					failed = append(failed, fmt.Sprintf("%s %s: %s", b, w.Name(), rr.Error))
					break
				}
			}
			if rr.Error == "" && rr.Verify != nil && !rr.Verify.OK() {
				rr.Error = "verification failed"
				failed = append(failed, fmt.Sprintf("%s %s: verification failed", b, w.Name()))
			}
			out.Results = append(out.Results, *rr)
		}
		for _, b := range skipped {
			sr := r.newResult(b, w)
			sr.Skipped = skipReason[b]
			out.Results = append(out.Results, *sr)
		}
	}
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
	if out.Interrupted {
		msg := fmt.Sprintf("interrupted: %d of %d repetitions measured", done, total)
		if interrupted > 0 {
			msg += fmt.Sprintf(", %d stopped in flight (recorded as interrupted, not as failures)", interrupted)
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
	return s
}

// runner holds what every measurement of a run shares.
type runner struct {
	cfg         RunConfig
	exe         string
	env         *results.Env
	stderr      io.Writer
	serverCPUs  []int
	clientCPUs  []int
	serverProcs int // GOMAXPROCS given to servers (0 = runtime default)
	pinNote     string
	loops       int // as reported by the servers
}

func (r *runner) reps(w Workload) int {
	if w.Reps > 0 {
		return w.Reps
	}
	return r.cfg.Reps
}

// pin splits the CPUs this process may use: the first half for the server, the rest for the
// load generator (on 2 cores: server CPU 0, client CPU 1), pins this process (the load
// generator) and sets its GOMAXPROCS to its share. Servers are pinned as they start. It
// returns a function restoring the previous affinity and GOMAXPROCS.
func (r *runner) pin() func() {
	r.serverProcs = r.cfg.GOMAXPROCS
	cpus := allowedCPUs()
	noop := func() {}
	switch {
	case r.cfg.NoPin:
		r.pinNote = "not pinned (--no-pin): server and load generator share every CPU; bottleneck verdicts are against all CPUs"
		return noop
	case len(cpus) < 2:
		r.pinNote = fmt.Sprintf("not pinned: %d CPU(s) available, need 2", len(cpus))
		return noop
	}
	half := len(cpus) / 2
	server, client := cpus[:half], cpus[half:]
	if err := pinProcess(0, client); err != nil {
		r.pinNote = "not pinned: " + err.Error()
		return noop
	}
	r.serverCPUs, r.clientCPUs = server, client
	r.env.Pinning = results.Pinning{ServerCPUs: server, ClientCPUs: client}
	if r.serverProcs == 0 {
		r.serverProcs = len(server)
	}
	prev := runtime.GOMAXPROCS(len(client))
	return func() {
		pinProcess(0, cpus)
		runtime.GOMAXPROCS(prev)
	}
}

// cores returns the core share of the server and of the client for utilisation.
func (r *runner) cores() (server, client float64) {
	if len(r.serverCPUs) > 0 {
		return float64(len(r.serverCPUs)), float64(len(r.clientCPUs))
	}
	n := float64(runtime.NumCPU())
	return n, n
}

func (r *runner) newResult(backend string, w Workload) *results.Result {
	res := &results.Result{Backend: backend, ClientBackend: r.cfg.ClientBackend, Scenario: w.Scenario,
		Proto: w.App, Conns: w.Conns, Size: w.Size, Depth: w.Depth, Rate: w.Rate, Mode: w.Mode()}
	if b, err := models.Lookup(backend); err == nil {
		res.BackendNote = b.Note
	}
	return res
}

func (r *runner) serveArgs(backend string, w Workload, addr string) []string {
	a := []string{"--backend", backend, "--proto", w.App, "--addr", addr,
		"--loops", itoa(r.cfg.Loops), "--gomaxprocs", itoa(r.serverProcs)}
	if w.Room > 0 {
		a = append(a, "--room", itoa(w.Room))
	}
	if w.Conns > models.DefaultPoolSize {
		a = append(a, "--pool", itoa(w.Conns))
	}
	if w.Size+64 > models.DefaultRecvBufferSize {
		rb := 2 * w.Size
		a = append(a, "--recv-buffer", itoa(rb), "--max-frame", itoa(rb))
	}
	return a
}

func (r *runner) startServer(ctx context.Context, backend string, w Workload, addr string) (*serverProc, error) {
	p, err := startServer(ctx, r.exe, r.serveArgs(backend, w, addr))
	if err != nil {
		return nil, err
	}
	if len(r.serverCPUs) > 0 {
		if err := pinProcess(p.pid(), r.serverCPUs); err != nil {
			p.kill()
			return nil, fmt.Errorf("pinning the server: %w", err)
		}
	}
	return p, nil
}

type measured struct {
	rep      results.Rep
	sweep    *results.Sweep
	timeline []results.TimelinePoint // open loop
}

// measure runs one repetition of w on backend with a fresh server.
func (r *runner) measure(ctx context.Context, backend string, w Workload, rep int) measured {
	if r.cfg.Duration > 0 {
		w.Duration = r.cfg.Duration
	}
	if r.cfg.Warmup > 0 {
		w.Warmup = r.cfg.Warmup
	}
	if r.cfg.SLO > 0 {
		w.SLO = r.cfg.SLO
	}
	m := measured{rep: results.Rep{Index: rep}}
	fail := func(err error) measured {
		if ctx.Err() != nil {
			return interruptedRep(m)
		}
		m.rep.Error = err.Error()
		if m.rep.Verify == nil {
			m.rep.Verify = &results.Verify{}
		}
		return m
	}
	srv, err := r.startServer(ctx, backend, w, "127.0.0.1:0")
	if err != nil {
		return fail(err)
	}
	var cur struct {
		sync.Mutex
		p *serverProc
	}
	cur.p = srv
	defer func() {
		cur.Lock()
		p := cur.p
		cur.Unlock()
		if p != nil {
			if err := p.stop(); err != nil && m.rep.Error == "" && !m.rep.Interrupted && ctx.Err() == nil {
				m.rep.Error = err.Error()
			}
		}
	}()
	if w.Scenario == results.ScenarioSweep {
		sw, f, err := r.sweep(ctx, srv, w)
		m.sweep = sw
		m.rep.Figures = f
		if err != nil {
			return fail(err)
		}
		return m
	}

	before, _ := sampleProc(srv.pid()) // RSS before any connection
	var pc *syscallCounter
	if w.Scenario != results.ScenarioReconnect {
		pc, _ = startSyscallCounter(srv.pid())
	}
	var (
		s0, s1   procSample
		st0, st1 ServerStats
		stErr    error
		pcErr    error
	)
	lc := LoadConfig{Target: srv.addr, Proto: w.Proto, Broadcast: w.Room > 0, Room: w.Room,
		Conns: w.Conns, Size: w.Size, Depth: w.Depth, Rate: w.Rate, Warmup: w.Warmup,
		Duration: w.Duration, IdleConns: w.Idle, ClientBackend: r.cfg.ClientBackend}
	if len(r.clientCPUs) > 0 {
		lc.Loops = len(r.clientCPUs)
	}
	switch w.Scenario {
	case results.ScenarioChurn:
		lc.OneShot, lc.Churn = true, true
	case results.ScenarioReconnect:
		lc.OneShot, lc.ExpectDisconnects = true, true
		lc.ReconnectDelay = time.Millisecond
		lc.DuringWindow = func(mark func()) {
			cur.Lock()
			old := cur.p
			cur.p = nil
			cur.Unlock()
			old.kill()
			mark()
			p, err := r.startServer(ctx, backend, w, srv.addr)
			if err != nil {
				stErr = fmt.Errorf("restarting the server: %w", err)
				return
			}
			cur.Lock()
			cur.p = p
			cur.Unlock()
		}
	default:
		lc.BeforeTraffic = func() error { return srv.waitReady(w.Conns, 10*time.Second) }
	}
	if w.Scenario != results.ScenarioReconnect {
		lc.BeforeWindow = func() {
			st0, stErr = srv.stats()
			if pc != nil {
				pcErr = pc.enable()
			}
			s0, _ = sampleProc(srv.pid())
		}
		lc.AfterWindow = func() {
			s1, _ = sampleProc(srv.pid())
			if pc != nil && pcErr == nil {
				pcErr = pc.disable()
			}
			var err error
			st1, err = srv.stats()
			if stErr == nil {
				stErr = err
			}
		}
	}
	if w.Duration >= 5*time.Second {
		lc.Progress = func(s string) { fmt.Fprintf(r.stderr, "  %s %s: %s\n", backend, w.Name(), s) }
	}
	res, err := Load(ctx, lc)
	var syscalls uint64
	if pc != nil {
		n, err2 := pc.finish()
		syscalls = n
		if pcErr == nil {
			pcErr = err2
		}
	}
	if res == nil {
		return fail(err)
	}
	m.rep.Figures = res.Figures()
	f := &m.rep.Figures
	if hp, herr := r.writeHDR(backend, w, rep, res); herr == nil {
		m.rep.HDRLog = hp
	}
	if len(res.Intervals) > 0 {
		m.timeline = results.TimelineFromIntervals(res.Intervals[0].StartTimeMs(), res.Intervals)
	}
	var notes []string
	if f.Note != "" {
		notes = append(notes, f.Note)
	}
	if w.Scenario == results.ScenarioReconnect {
		// Every client must be back: one exchange per connection after the restart.
		if res.Msgs < uint64(w.Conns) {
			return fail(fmt.Errorf("only %d of %d clients were back %v after the server restart", res.Msgs, w.Conns, w.Duration))
		}
		notes = append(notes, "latency = time from the server restart (kill + exec) until each client reconnected and exchanged a message; max = all back")
		f.MsgsPerSec, f.MBPerSec, f.Client = nil, nil, nil // one message per client: no rate
		f.Server = nil
		f.Bottleneck = results.BottleneckUnknown
	} else if res.Msgs > 0 && !s0.At.IsZero() && !s1.At.IsZero() {
		msgs := float64(res.Msgs + res.Heartbeats) // every message the server handled
		sm := &results.ServerMetrics{}
		wall := s1.At.Sub(s0.At)
		var su, cu *float64
		sc, cc := r.cores()
		scpu, cpuOK := s1.CPU-s0.CPU, s0.CPUOK && s1.CPUOK
		if !cpuOK && stErr == nil && st0.CPUNs != nil && st1.CPUNs != nil {
			// No trustworthy outside view (e.g. Wine): the server's own account of its CPU.
			scpu, cpuOK = time.Duration(*st1.CPUNs-*st0.CPUNs), true
		}
		if cpuOK {
			sm.CPUNsPerMsg = results.Val(float64(scpu) / msgs)
			if wall > 0 {
				su = results.Val(float64(scpu) / float64(wall) / sc)
			}
		}
		if s0.CtxSwOK && s1.CtxSwOK {
			sm.CtxSwitchesPerMsg = results.Val(float64(s1.CtxSw-s0.CtxSw) / msgs)
		}
		if pc != nil && pcErr == nil {
			sm.SyscallsPerMsg = results.Val(float64(syscalls) / msgs)
		}
		if s1.MemOK {
			sm.RSSBytes = results.Val(float64(s1.HWM))
			if before.MemOK && w.Conns > 0 {
				sm.RSSBytesPerConn = results.Val((float64(s1.RSS) - float64(before.RSS)) / float64(w.Conns))
			}
		}
		if stErr == nil {
			sm.GCCycles = results.Val(float64(st1.GCCycles - st0.GCCycles))
			sm.GCPauseNs = results.Val(float64(st1.GCPauseNs - st0.GCPauseNs))
			if st1.Loops > 0 {
				r.loops = st1.Loops
			}
		}
		f.Server = sm
		if res.ClientCPU >= 0 && res.Window > 0 {
			cu = results.Val(float64(res.ClientCPU) / float64(res.Window) / cc)
		}
		f.Bottleneck = Bottleneck(su, cu)
		if su != nil && cu != nil {
			notes = append(notes, fmt.Sprintf("cpu use: server %.0f%% of %g core(s), client %.0f%% of %g core(s)", *su*100, sc, *cu*100, cc))
		} else if su == nil {
			notes = append(notes, "server CPU n/a on this platform")
		}
	} else {
		f.Bottleneck = results.BottleneckUnknown
	}
	switch w.Scenario {
	case results.ScenarioChurn:
		if f.Server != nil {
			f.Server.RSSBytesPerConn = nil // connections come and go: no per-connection figure
		}
		notes = append(notes, "msgs/s = connections per second (connect, one exchange, close); latency = connect to reply")
	case results.ScenarioIdle:
		notes = append(notes, fmt.Sprintf("%d idle connections (heartbeat every 1 s, spread; %.0f heartbeats/s came back of %d offered) and %d active; rss_bytes_per_conn over all %d; msgs/s and latency of the active ones; per-message costs over active messages + heartbeats",
			w.Idle, float64(res.Heartbeats)/max(res.Window.Seconds(), 1e-9), w.Idle, w.Conns-w.Idle, w.Conns))
	case results.ScenarioBroadcast:
		notes = append(notes, fmt.Sprintf("rooms of %d; msgs/s counts delivered messages; latency = sender's own copy", w.Room))
	}
	if pcErr != nil && pc != nil {
		notes = append(notes, "syscalls n/a: "+pcErr.Error())
	}
	f.Note = strings.Join(notes, "; ")
	if ctx.Err() != nil && res.Verify.Corrupt+res.Verify.Reordered+res.Verify.Duplicated == 0 {
		return interruptedRep(m)
	}
	switch {
	case err != nil:
		return fail(err)
	case stErr != nil && w.Scenario == results.ScenarioReconnect:
		return fail(stErr)
	case !res.OK():
		return fail(errors.New("verification failed: " + verifyText(res.Verify, res.FirstError)))
	case res.Errors > 0:
		return fail(fmt.Errorf("%d connection errors: %s", res.Errors, res.FirstError))
	}
	return m
}

// interruptedRep records a repetition stopped by the run's interruption: what was in flight
// then is not lost (the load was cut short, not the server), so Verify.Lost is cleared and no
// Error is set; the repetition is marked Interrupted and kept out of every median.
func interruptedRep(m measured) measured {
	m.rep.Interrupted = true
	m.rep.Error = ""
	if v := m.rep.Verify; v != nil && v.Lost > 0 {
		m.rep.Note = strings.TrimSpace(m.rep.Note + fmt.Sprintf(" interrupted with %d message(s) in flight (not losses)", v.Lost))
		v.Lost = 0
	}
	return m
}

func (r *runner) writeHDR(backend string, w Workload, rep int, res *LoadResult) (string, error) {
	if res.Hist == nil || res.Hist.TotalCount() == 0 {
		return "", errors.New("empty")
	}
	name := fmt.Sprintf("%s-%s-c%d-s%d-d%d-r%g-rep%d.hlog", backend, w.Scenario, w.Conns, w.Size, w.Depth, w.Rate, rep)
	rel := filepath.Join("hdr", name)
	intervals := res.Intervals // open loop: one histogram per TimelineInterval
	if len(intervals) == 0 {
		h := res.Hist
		end := time.Now()
		h.SetStartTimeMs(end.Add(-res.Window).UnixMilli())
		h.SetEndTimeMs(end.UnixMilli())
		intervals = []*hdrhistogram.Histogram{h}
	}
	if err := results.WriteHDRLogFile(filepath.Join(r.cfg.Out, rel), intervals[0].StartTimeMs(), intervals); err != nil {
		return "", err
	}
	return filepath.ToSlash(rel), nil
}

// medianTimeline is the latency timeline of the repetition whose p99 is the median (open
// loop only; nil otherwise).
func medianTimeline(r *results.Result, tls [][]results.TimelinePoint) []results.TimelinePoint {
	type cand struct {
		p99 float64
		tl  []results.TimelinePoint
	}
	var cs []cand
	for i, rep := range r.Repetitions {
		if i < len(tls) && len(tls[i]) > 0 && rep.Error == "" && !rep.Interrupted && rep.Latency != nil && rep.Latency.P99 != nil {
			cs = append(cs, cand{*rep.Latency.P99, tls[i]})
		}
	}
	if len(cs) == 0 {
		return nil
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].p99 < cs[j].p99 })
	return cs[(len(cs)-1)/2].tl
}
