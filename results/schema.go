// Package results is the on-disk form of an iobench run: a versioned JSON schema (one file per
// run inside a results folder), codecs (JSON, Go benchmark format for benchstat, HDR histogram
// logs), merging of several folders, and the statistics the report uses (median, IQR,
// Mann–Whitney U).
//
// Every field is documented with its unit in SCHEMA.md. Two rules hold everywhere:
//   - A metric that could not be measured is JSON null (a nil pointer here), never 0: a zero
//     would be read as "free" in a table. Use [Val] to set a measured value.
//   - The headline figures of a Result are the MEDIAN of its repetitions; every repetition's
//     own figures are kept in Result.Repetitions and their spread in Result.Spread
//     ([Summarize] computes both).
package results

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"time"
)

// SchemaVersion names this schema. A reader refuses any other version rather than guessing.
const SchemaVersion = "iobench/results/v1"

// Scenario names (Result.Scenario).
const (
	ScenarioPingPong  = "pingpong"  // one request in flight per connection, echo
	ScenarioPipelined = "pipelined" // Depth requests in flight per connection
	ScenarioBroadcast = "broadcast" // one message fanned out to every connection
	ScenarioIdle      = "idle"      // many mostly idle connections (memory per connection)
	ScenarioChurn     = "churn"     // connect, exchange, disconnect in a loop
	ScenarioBulk      = "bulk"      // large messages, bandwidth bound
	ScenarioReconnect = "reconnect" // CLIENT_AUTO_RECONNECT behaviour after server kicks
	ScenarioSweep     = "sweep"     // open-loop rate sweep against a latency SLO
	ScenarioFaults    = "faults"    // server killed and restarted, client resets, mid-load (Faults)
	ScenarioSoak      = "soak"      // minutes at half of capacity, server sampled every second (Soak)
	ScenarioLogging   = "logging"   // framed + one log line per message, beside plain framed (variants.go)
	ScenarioCrypto    = "crypto"    // framed sealed with AES-GCM per frame, beside plain framed (variants.go)
)

// Scenarios lists the known scenario names in report order.
var Scenarios = []string{ScenarioPingPong, ScenarioPipelined, ScenarioBroadcast, ScenarioIdle,
	ScenarioChurn, ScenarioBulk, ScenarioReconnect, ScenarioSweep, ScenarioFaults, ScenarioSoak,
	ScenarioLogging, ScenarioCrypto}

// Load modes (Result.Mode).
const (
	ModeClosed = "closed" // next request sent when the reply arrives: maximum throughput
	ModeOpen   = "open"   // requests paced at Rate; latency from the intended send time
)

// Bottleneck values (Figures.Bottleneck).
const (
	BottleneckServer  = "server"  // the server under test saturated first: a server number
	BottleneckClient  = "client"  // the load generator saturated first: a lower bound only
	BottleneckUnknown = "unknown" // could not be told apart
)

// Run is one results file: one invocation of the suite on one machine.
type Run struct {
	SchemaVersion string    `json:"schema_version"` // always SchemaVersion
	Started       time.Time `json:"started"`        // RFC 3339, UTC
	Finished      time.Time `json:"finished"`       // RFC 3339, UTC
	Suite         string    `json:"suite"`          // suite name, e.g. "default", "quick"
	Env           Env       `json:"env"`            // the machine and build that produced Results
	Results       []Result  `json:"results"`

	// Interrupted says the run was stopped (SIGINT/SIGTERM) before it finished: repetitions in
	// flight then are marked Rep.Interrupted, excluded from medians, never counted as failures.
	Interrupted bool `json:"interrupted,omitempty"`
	// Speed is the machine-speed calibration of the run (see Calibration): runs whose speed
	// indices differ by more than 20 % are never merged into one verdict.
	Speed *Speed `json:"speed,omitempty"`
	// Capacities are the common capacities the equal-load ladders were built on, one per
	// workload that has a ladder.
	Capacities []Capacity `json:"capacities,omitempty"`
}

// Speed is the machine-speed calibration of a run: a short fixed CPU-bound loop and a fixed
// count of loopback ping-pongs, run before and after every round of interleaved repetitions.
type Speed struct {
	// Index is the run's speed index: the median over Rounds of each round's Index. Higher is
	// faster; only ratios between runs mean anything (the unit is arbitrary but fixed).
	Index  float64       `json:"index"`
	Rounds []Calibration `json:"rounds"`
}

// Calibration is one round's speed measurement, before and after the round.
type Calibration struct {
	Round int `json:"round"` // 0-based round (repetition) number
	// CPULoopNs and PingPongNs are the wall times of the fixed CPU loop and of one loopback
	// ping-pong round trip (median of the fixed count), before and after the round, ns.
	CPULoopNsBefore  float64 `json:"cpu_loop_ns_before"`
	CPULoopNsAfter   float64 `json:"cpu_loop_ns_after"`
	PingPongNsBefore float64 `json:"pingpong_ns_before"`
	PingPongNsAfter  float64 `json:"pingpong_ns_after"`
	Index            float64 `json:"index"` // speed index of the round (before and after combined)
	// Drift is |after-before|/before of the worse of the two calibrations; Drifted is set when
	// it exceeds 10 %: the round's figures are flagged.
	Drift   float64 `json:"drift"`
	Drifted bool    `json:"drifted,omitempty"`
}

// Capacity is the common capacity of one workload: the lowest sustainable rate among the
// compared backends and the load generator, found by a short probe before the ladder.
type Capacity struct {
	Workload string `json:"workload"` // Key.String() of the workload without its rate
	// MsgsPerSec is the common capacity the ladder's fractions multiply, msgs/s.
	MsgsPerSec float64 `json:"msgs_per_sec"`
	// LimitedBy names what set it: a backend's label, or "client" for the load generator.
	LimitedBy string `json:"limited_by"`
	// PerBackend is each label's probed capacity, msgs/s.
	PerBackend map[string]float64 `json:"per_backend,omitempty"`
	// Fractions are the ladder's offered rates as fractions of MsgsPerSec.
	Fractions []float64 `json:"fractions"`
}

// Env is the environment manifest of a run: everything needed to judge whether two runs
// compare. Runs from different hosts are never averaged together.
type Env struct {
	OS            string  `json:"os"`             // GOOS of the server process: linux, windows
	Arch          string  `json:"arch"`           // GOARCH
	Kernel        string  `json:"kernel"`         // uname -r, or the Windows build
	CPUModel      string  `json:"cpu_model"`      // /proc/cpuinfo model name
	Cores         int     `json:"cores"`          // logical CPUs of the machine
	GoVersion     string  `json:"go_version"`     // runtime.Version()
	GOMAXPROCS    int     `json:"gomaxprocs"`     // of the server process
	Loops         int     `json:"loops"`          // event loops / completion threads of the backend
	Pinning       Pinning `json:"pinning"`        // CPU sets, empty when unpinned
	IobenchCommit string  `json:"iobench_commit"` // git describe of the iobench tree
	Hostname      string  `json:"hostname"`
	UnderWine     bool    `json:"under_wine"` // Windows backends run under Wine: not Windows numbers
	Notes         string  `json:"notes,omitempty"`
	// Topology is where the run's processes ran (nil in runs before it was recorded: local).
	Topology *Topology `json:"topology,omitempty"`
}

// Pinning records the CPU sets the server and the load generator were pinned to (taskset /
// SetProcessAffinityMask). Empty lists mean not pinned.
type Pinning struct {
	ServerCPUs []int `json:"server_cpus"`
	ClientCPUs []int `json:"client_cpus"`
}

// Label is the host label the report uses for a run: "hostname (os)", plus "wine" when
// applicable. Results of different labels are shown side by side, never merged.
func (e Env) Label() string {
	h := e.Hostname
	if h == "" {
		h = "unknown-host"
	}
	os := e.OS
	if e.UnderWine {
		os += ", wine"
	}
	if t := e.Topology.Label(); t != "" {
		os = strings.TrimPrefix(os+", "+t, ", ")
	}
	if os == "" {
		return h
	}
	return h + " (" + os + ")"
}

// Result is one (backend, workload) cell: the median of its repetitions in the embedded
// Figures, every repetition in Repetitions.
type Result struct {
	Backend string `json:"backend"` // server backend folder name: netstd, epoll, iocp...
	// Label tells two results of one backend apart: the backend's name, or "<backend>#aa" for
	// the A/A twin that calibrates significance. Empty means Backend (older files).
	Label         string  `json:"label,omitempty"`
	BackendNote   string  `json:"backend_note,omitempty"` // caveat shown with every number of this backend
	ClientBackend string  `json:"client_backend"`         // backend of the load generator
	Scenario      string  `json:"scenario"`               // one of Scenarios
	Proto         string  `json:"proto"`                  // server app protocol, e.g. "echo", "frame"
	Conns         int     `json:"conns"`                  // concurrent connections
	Size          int     `json:"size"`                   // message payload, bytes
	Depth         int     `json:"depth"`                  // requests in flight per connection
	Rate          float64 `json:"rate"`                   // open loop offered msgs/s total; 0 closed loop
	Mode          string  `json:"mode"`                   // ModeClosed or ModeOpen
	Reps          int     `json:"reps"`                   // number of repetitions measured
	// LoadFraction is, for a point of an equal-load ladder, its offered Rate as a fraction of
	// the workload's common capacity (Run.Capacities); 0 otherwise.
	LoadFraction float64 `json:"load_fraction,omitempty"`
	// Capacity marks the closed-loop maximum-throughput result of a workload that also has a
	// ladder: a secondary "capacity" figure, never the basis of a verdict.
	Capacity bool `json:"capacity,omitempty"`

	// Figures holds the headline: the median over Repetitions of each metric (Verify is the
	// sum over repetitions, Bottleneck the majority).
	Figures

	Repetitions     []Rep           `json:"repetitions,omitempty"`
	Spread          *Spread         `json:"spread,omitempty"`
	Sweep           *Sweep          `json:"sweep,omitempty"`            // scenario sweep only
	Faults          *Faults         `json:"faults,omitempty"`           // scenario faults: the median repetition's
	Soak            *Soak           `json:"soak,omitempty"`             // scenario soak: the repetition's (one)
	LatencyTimeline []TimelinePoint `json:"latency_timeline,omitempty"` // open loop, median rep
	HDRLog          string          `json:"hdr_log,omitempty"`          // relative to the run file's folder
	Skipped         string          `json:"skipped,omitempty"`          // why not run; non-empty => no figures
	Error           string          `json:"error,omitempty"`            // the run failed (verification etc.)
}

// Figures are the measured numbers of one repetition, or the medians of a Result. A nil pointer
// means "not measured" (n/a).
type Figures struct {
	DurationNs int64          `json:"duration_ns"`          // measured interval (warm-up excluded), ns
	MsgsPerSec *float64       `json:"msgs_per_sec"`         // messages echoed/delivered per second
	MBPerSec   *float64       `json:"mb_per_sec"`           // payload megabytes (1e6 B) per second
	Latency    *Latency       `json:"latency_ns"`           // round-trip latency, ns
	Server     *ServerMetrics `json:"server"`               // probes of the server process
	Client     *ClientMetrics `json:"client"`               // probes of the load generator
	Bottleneck string         `json:"bottleneck,omitempty"` // server, client or unknown
	Verify     *Verify        `json:"verify"`               // message verification counts
	Errors     *float64       `json:"errors,omitempty"`     // failed connects/requests, count
	Note       string         `json:"note,omitempty"`       // free text about this repetition

	// LatencyCI is the distribution-free 95 % confidence interval of each headline percentile
	// (order statistics: ranks n·p ± 1.96·√(n·p·(1−p))), ns. LatencySamples is n, the latencies
	// recorded in the window. A percentile with fewer than MinTailSamples beyond it is "too few
	// samples": readers show no bare number for it.
	LatencyCI      *LatencyCI `json:"latency_ci_ns,omitempty"`
	LatencySamples uint64     `json:"latency_samples,omitempty"`
	// Saturated says the backend could not sustain the offered rate (achieved < 95 % of
	// offered, or errors): compared as saturated, never averaged in.
	Saturated bool `json:"saturated,omitempty"`
	// Steady is the steady-state test over the window's ~100 ms slices (nil: not tested).
	Steady *Steady `json:"steady,omitempty"`
	// Log is the server's log counters over this repetition's load (scenario logging).
	Log *LogCounts `json:"log,omitempty"`
	// Heartbeats and Scale: the scale suite's heartbeat delivery and per-count figures (scale.go).
	Heartbeats *Heartbeats `json:"heartbeats,omitempty"`
	Scale      *Scale      `json:"scale,omitempty"`
	// Agents are the load agents' shares of a repetition run by several (nil otherwise).
	Agents []AgentShare `json:"agents,omitempty"`
	// ServerTCPRetransmits are the TCP segments the server agent's network namespace sent
	// again over the window (nil for a local run or where unknown).
	ServerTCPRetransmits *uint64 `json:"server_tcp_retransmits,omitempty"`
}

// MinTailSamples is the fewest samples beyond a percentile for it to be shown as a number.
const MinTailSamples = 100

// LatencyCI holds [low, high] bounds, ns; a nil entry could not be computed.
type LatencyCI struct {
	P50  *[2]float64 `json:"p50,omitempty"`
	P99  *[2]float64 `json:"p99,omitempty"`
	P999 *[2]float64 `json:"p999,omitempty"`
}

// Steady is the trend test over a window cut into slices: Spearman's rank correlation of
// throughput and of p99 latency against slice index, with its two-sided p. OK is false when
// either shows a significant trend (p < 0.01): the window was not in steady state.
type Steady struct {
	OK               bool    `json:"ok"`
	Slices           int     `json:"slices"`
	ThroughputRho    float64 `json:"throughput_rho"`
	ThroughputP      float64 `json:"throughput_p"`
	LatencyRho       float64 `json:"latency_rho"`
	LatencyP         float64 `json:"latency_p"`
	WarmupNs         int64   `json:"warmup_ns"` // the warm-up actually used (it may be lengthened)
	WarmupLengthened bool    `json:"warmup_lengthened,omitempty"`
}

// Latency percentiles of round-trip time in nanoseconds (open loop: from the intended send
// time, coordinated omission corrected).
type Latency struct {
	P50  *float64 `json:"p50"`
	P90  *float64 `json:"p90"`
	P99  *float64 `json:"p99"`
	P999 *float64 `json:"p999"`
	Max  *float64 `json:"max"`
}

// ServerMetrics are the per-message costs of the server under test. Per-message values divide
// by messages delivered in the measured interval.
type ServerMetrics struct {
	CPUNsPerMsg       *float64 `json:"cpu_ns_per_msg"`       // user+system CPU ns per message
	SyscallsPerMsg    *float64 `json:"syscalls_per_msg"`     // null when perf/strace unavailable
	CtxSwitchesPerMsg *float64 `json:"ctx_switches_per_msg"` // voluntary+involuntary per message
	RSSBytes          *float64 `json:"rss_bytes"`            // peak resident set, bytes
	RSSBytesPerConn   *float64 `json:"rss_bytes_per_conn"`   // (peak RSS - idle RSS) / conns, bytes
	GCCycles          *float64 `json:"gc_cycles"`            // Go GC cycles in the interval
	GCPauseNs         *float64 `json:"gc_pause_ns"`          // total stop-the-world pause, ns
}

// ClientMetrics are the costs of the load generator (to tell a client-bound result apart).
type ClientMetrics struct {
	CPUNsPerMsg *float64 `json:"cpu_ns_per_msg"` // user+system CPU ns per message
}

// Verify counts message verification (sequence number + checksum on every message). Any
// non-zero Lost, Corrupt, Reordered or Duplicated fails the run.
type Verify struct {
	Sent       uint64 `json:"sent"`
	Received   uint64 `json:"received"`
	Lost       uint64 `json:"lost"`
	Corrupt    uint64 `json:"corrupt"`
	Reordered  uint64 `json:"reordered"`
	Duplicated uint64 `json:"duplicated"`
}

// OK reports whether verification found nothing wrong.
func (v *Verify) OK() bool {
	return v == nil || v.Lost+v.Corrupt+v.Reordered+v.Duplicated == 0
}

// Rep is one repetition of a Result.
type Rep struct {
	Index   int    `json:"index"` // 0-based repetition number
	Figures        // this repetition's own numbers
	HDRLog  string `json:"hdr_log,omitempty"` // relative path of this repetition's HDR log
	Error   string `json:"error,omitempty"`
	// Interrupted: the run was stopped during this repetition; it is excluded from medians
	// and is not a failure (Error is empty).
	Interrupted bool `json:"interrupted,omitempty"`
	// Round is the interleaving round this repetition ran in (Run.Speed.Rounds[Round]);
	// SpeedDrifted copies that round's flag.
	Round        int  `json:"round,omitempty"`
	SpeedDrifted bool `json:"speed_drifted,omitempty"`
	// Replaced: its round drifted and was measured again; this repetition is kept in the file
	// but enters no median and no test (a failed verification still fails the result).
	Replaced bool `json:"replaced,omitempty"`
	// Faults and Soak are the faults and soak scenarios' own accounts of this repetition.
	Faults *Faults `json:"faults,omitempty"`
	Soak   *Soak   `json:"soak,omitempty"`
}

// Name is r's label: Label, or Backend when Label is empty.
func (r *Result) Name() string {
	if r.Label != "" {
		return r.Label
	}
	return r.Backend
}

// AASuffix marks the A/A twin's label: "netstd#aa" is netstd measured a second time.
const AASuffix = "#aa"

// IsAA reports whether r is the A/A twin of its backend.
func (r *Result) IsAA() bool { return strings.HasSuffix(r.Label, AASuffix) }

// Spread is the dispersion of key metrics across repetitions. Nil entries: not measured.
type Spread struct {
	MsgsPerSec        *Range `json:"msgs_per_sec,omitempty"`
	MBPerSec          *Range `json:"mb_per_sec,omitempty"`
	LatencyP50        *Range `json:"latency_p50_ns,omitempty"`
	LatencyP99        *Range `json:"latency_p99_ns,omitempty"`
	LatencyP999       *Range `json:"latency_p999_ns,omitempty"`
	ServerCPUNsPerMsg *Range `json:"server_cpu_ns_per_msg,omitempty"`
	SyscallsPerMsg    *Range `json:"syscalls_per_msg,omitempty"`
	CtxSwitchesPerMsg *Range `json:"ctx_switches_per_msg,omitempty"`
	RSSBytesPerConn   *Range `json:"rss_bytes_per_conn,omitempty"`
}

// Range summarises n samples: min, max, quartiles and median.
type Range struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Q1     float64 `json:"q1"`
	Median float64 `json:"median"`
	Q3     float64 `json:"q3"`
	Max    float64 `json:"max"`
}

// Sweep is the open-loop rate sweep of scenario "sweep".
type Sweep struct {
	SLONs             float64      `json:"slo_ns"`               // p99 latency objective, ns
	MaxRateMeetingSLO *float64     `json:"max_rate_meeting_slo"` // highest offered msgs/s with p99 <= SLO; null if none
	Points            []SweepPoint `json:"points"`
}

// SweepPoint is one step of a rate sweep.
type SweepPoint struct {
	OfferedRate  float64  `json:"offered_rate"`  // msgs/s offered
	AchievedRate float64  `json:"achieved_rate"` // msgs/s delivered
	P99Ns        *float64 `json:"p99_ns"`        // p99 latency at this rate, ns
	Errors       uint64   `json:"errors"`        // failed/timed-out requests
}

// TimelinePoint is one interval of an open-loop run's latency over time.
type TimelinePoint struct {
	TNs   int64   `json:"t_ns"`   // interval end, ns since the measured interval started
	P50Ns float64 `json:"p50_ns"` // latency percentiles within this interval, ns
	P99Ns float64 `json:"p99_ns"`
	MaxNs float64 `json:"max_ns"`
	Count uint64  `json:"count,omitempty"` // messages completed in the interval
}

// Val returns a pointer to v: a measured value.
func Val(v float64) *float64 { return &v }

// Key identifies the workload of a Result (everything but the backend): results with the same
// Key compare.
type Key struct {
	Scenario, Proto, Mode string
	Conns, Size, Depth    int
	Rate                  float64
}

// Key returns the workload identity of r. A sweep's Rate (its highest offered rate) is not
// part of its identity: sweeps of different backends compare whatever range they covered.
func (r *Result) Key() Key {
	k := Key{Scenario: r.Scenario, Proto: r.Proto, Mode: r.Mode, Conns: r.Conns, Size: r.Size,
		Depth: r.Depth, Rate: r.Rate}
	if r.Scenario == ScenarioSweep {
		k.Rate = 0
	}
	return k
}

// String renders the workload as "pingpong echo conns=100 size=64 depth=1 closed".
func (k Key) String() string {
	s := fmt.Sprintf("%s", k.Scenario)
	if k.Proto != "" {
		s += " " + k.Proto
	}
	s += fmt.Sprintf(" conns=%d size=%d depth=%d %s", k.Conns, k.Size, k.Depth, k.Mode)
	if k.Mode == ModeOpen && k.Rate > 0 {
		s += fmt.Sprintf(" rate=%g", k.Rate)
	}
	return s
}

// ClientBound reports whether the headline throughput is a client (load generator) limit.
func (r *Result) ClientBound() bool { return r.Bottleneck == BottleneckClient }

// FieldError is a validation error naming the offending field by its JSON path.
type FieldError struct {
	Field string // e.g. "results[2].repetitions[0].latency_ns.p99"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Validate checks a run: known schema version, every result has a backend and a known
// scenario and mode, no NaN or Inf anywhere, enums are known. It returns all problems joined
// (each a *FieldError).
func (r *Run) Validate() error {
	var errs []error
	add := func(field, format string, a ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, a...)})
	}
	if r.SchemaVersion != SchemaVersion {
		add("schema_version", "unknown schema version %q (want %q)", r.SchemaVersion, SchemaVersion)
		return errors.Join(errs...) // the rest of the shape is unknown: do not guess
	}
	for i := range r.Results {
		res := &r.Results[i]
		p := fmt.Sprintf("results[%d]", i)
		if res.Backend == "" {
			add(p+".backend", "missing")
		}
		if res.Scenario == "" {
			add(p+".scenario", "missing")
		} else if !known(Scenarios, res.Scenario) {
			add(p+".scenario", "unknown scenario %q (want one of %s)", res.Scenario, strings.Join(Scenarios, ", "))
		}
		if res.Skipped == "" && res.Mode != ModeClosed && res.Mode != ModeOpen {
			add(p+".mode", "unknown mode %q (want closed or open)", res.Mode)
		}
		checkBottleneck(add, p, res.Bottleneck)
		for j := range res.Repetitions {
			checkBottleneck(add, fmt.Sprintf("%s.repetitions[%d]", p, j), res.Repetitions[j].Bottleneck)
		}
	}
	walkFloats(reflect.ValueOf(r).Elem(), "", func(path string, v float64) {
		switch {
		case math.IsNaN(v):
			add(path, "NaN")
		case math.IsInf(v, 0):
			add(path, "%v", v)
		}
	})
	return errors.Join(errs...)
}

func checkBottleneck(add func(string, string, ...any), p, b string) {
	switch b {
	case "", BottleneckServer, BottleneckClient, BottleneckUnknown:
	default:
		add(p+".bottleneck", "unknown bottleneck %q (want server, client or unknown)", b)
	}
}

func known(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// walkFloats calls f for every float64 reachable from v, with its JSON path.
func walkFloats(v reflect.Value, path string, f func(string, float64)) {
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		f(path, v.Float())
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkFloats(v.Elem(), path, f)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			walkFloats(v.Index(i), fmt.Sprintf("%s[%d]", path, i), f)
		}
	case reflect.Struct:
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			if !sf.IsExported() {
				continue
			}
			name := strings.Split(sf.Tag.Get("json"), ",")[0]
			p := path
			if !sf.Anonymous || name != "" { // embedded structs are inlined in JSON
				if name == "" {
					name = sf.Name
				}
				if p != "" {
					p += "."
				}
				p += name
			}
			walkFloats(v.Field(i), p, f)
		}
	}
}

// GCNote summarises the Go GC activity of the server ("12 GCs, 3.2ms pause") or "" when the
// backend did no GC or it was not measured.
func (r *Result) GCNote() string {
	if r.Server == nil || r.Server.GCCycles == nil || *r.Server.GCCycles == 0 {
		return ""
	}
	s := fmt.Sprintf("%.0f GCs", *r.Server.GCCycles)
	if r.Server.GCPauseNs != nil {
		s += fmt.Sprintf(", %.1fms pause", *r.Server.GCPauseNs/1e6)
	}
	return s
}
