// Package harness is what iobench measures with: `iobench serve` (the server apps of package
// apps on one backend), the load generator (`iobench load`) and the suite runner (`iobench
// run`) with its process probes.
//
// # How `iobench run` measures
//
// A run compares labels: every backend available here under its own name, and one of them
// a second time as its A/A twin ("netstd#aa"; --aa picks it, default netstd, --aa none
// disables it). The twin is measured exactly like every other label, with its own server
// processes, interleaved with the rest: the difference between a backend and its twin is how
// far this machine moves a figure between two labels that are the same, and no difference
// between backends smaller than that is a verdict (the report applies the rule).
//
// Workloads are measured in rounds. In round k every label runs once, on a fresh `iobench
// serve --control` child (os.Executable) that serves every measurement of the round in
// turn; the order of the labels, and of a ladder's points, is rotated by k, so that each
// label and each point is first in some round and slow drift of the machine spreads over all
// of them instead of favouring one.
//
// Equal offered load. pingpong, pipelined and broadcast are throughput and latency
// comparisons, and in closed loop every backend sets its own offered load: cost per message
// depends on how many messages a wake-up finds, so a slower backend (or a slower day) gets
// bigger batches and looks cheaper. These workloads are compared open loop at the same
// offered rates instead:
//
//  1. Capacity probe: SuiteCapacityReps rounds of the closed-loop workload (ProbeDuration
//     windows) on every label; each label's capacity is its median msgs/s. These are the
//     workload's capacity results (Result.Capacity): the secondary "maximum throughput"
//     figure, labelled client-bound where it is, never a verdict.
//  2. The load generator's probe: one open-loop load at the lowest label capacity against the
//     label with the most headroom; if it delivers less than 95 % of it, what it delivered is
//     the load generator's limit.
//  3. The common capacity is the lowest of these (results.CommonCapacity; Run.Capacities
//     records it, each probed value and what set it), and the ladder is a list of fractions of
//     it (--ladder; default 0.2, 0.4, 0.6, 0.8, the quick suite 0.4, 0.6, 0.8: SuiteLadder;
//     rates rounded to three digits).
//  4. Every label runs every ladder point open loop in each of the run's rounds: each point is
//     its own result (mode open, rate, LoadFraction). A pipelined point sends its Depth
//     messages back to back per pacer event (LoadConfig.Burst). Broadcast rates count
//     delivered messages, like its msgs/s (the load generator paces sends: rate / room size).
//
// The scale suite (scale.go) runs the idle scenario at growing connection counts up to the
// machine's ceiling (RLIMIT_NOFILE raised as far as allowed; a count above it stops with one
// line naming the limit), on the heartbeat driver (heartbeat.go: epoll workers and a timer
// ring, no goroutine per connection, source addresses spread over 127.0.0.0/8), and records
// per count the connect time, RSS per connection (total and above the empty server), the
// kernel's socket memory and the heartbeats' delivery (due, sent, answered, late).
//
// idle (memory per connection with heartbeats), churn (connection rate), bulk (bandwidth),
// reconnect (time until back) and sweep (its own open-loop search for the rate meeting a p99
// objective) have no offered message rate to equalise and run as their workloads say. faults
// (server kill and restart, client resets: faults.go) and soak (each label alone for minutes
// at half of the common capacity, the server sampled every second: soak.go) run their own
// steady open-loop load on auto-reconnect connections (faultload.go).
//
// A point is saturated (Figures.Saturated, results.IsSaturated) when the label delivered less
// than 95 % of the offered rate or had connection errors there: it is compared as saturated,
// never ranked or averaged in with sustained points.
//
// Each measurement: the load generator connects (within --connect-timeout), waits until the
// server's app has every session through OnConnect (ServerStats.Ready; a broadcast room is
// then complete), warms up, measures a window, drains (stops sending; waits while replies
// still arrive, up to 5 s without one and 30 s in all) and the server is probed at the
// window's edges.
//
//   - Pinning: the CPUs this process may use are split in two halves, the first for the
//     server, the rest for the load generator (2 cores: server CPU 0, client CPU 1), with
//     sched_setaffinity on every thread (Linux) or SetProcessAffinityMask (Windows). The
//     server's GOMAXPROCS defaults to its CPU count, the load generator's is set to its own.
//     --loops and --gomaxprocs are given to every server backend alike and recorded.
//   - Load generator: in this process, on a models CLIENT service of one client backend for
//     the whole run (--client-backend; the default is the cheapest measured, see
//     ClientPreference), so every server backend faces the same client.
//   - Throughput and latency: messages completed inside the window; latency in HDR
//     histograms (1 ns–100 s, 3 digits), one set per client loop, merged. Open loop measures
//     from each message's intended send time (coordinated omission corrected).
//   - Tails with their confidence: each window's merged histogram gives its sample count n
//     and, for p50, p99 and p99.9, a distribution-free 95 % interval: the values at ranks
//     n·p ∓ 1.96·√(n·p·(1−p)) (results.LatencyCIOf). A percentile with fewer than 100
//     samples beyond it is "too few samples", never a bare number. A ladder point's window is
//     lengthened from Duration up to MaxDuration to hold TailTarget (12 000) samples, 120
//     beyond p99; p99.9 needs 100 000 and has them only at high rates or in the full suite.
//   - Steady state: each window is cut into 100 ms slices (messages and p99 of each); a
//     Spearman rank correlation of either against time with p < 0.01 (t approximation,
//     results.SteadyOf, at least 5 slices) marks the window not steady. A window that is
//     neither steady nor saturated is measured again with a longer warm-up (2× + 100 ms, up
//     to the workload's MaxWarmup, at most twice), recorded in Steady.WarmupNs and
//     WarmupLengthened.
//   - Machine speed: before and after every round this process runs a fixed CPU loop (2^21
//     xorshift rounds, median of 5) and 2 000 loopback TCP ping-pongs of 64 bytes (median
//     round trip), pinned like the load generator. The speed index is
//     100·√((10 ms / cpu loop)·(25 µs / ping-pong)), the geometric mean of the two speed
//     ratios against fixed reference times (higher = faster; only ratios between runs mean
//     anything); a round's uses the geometric mean of its before and after times, the run's
//     (Run.Speed.Index) is the median of its rounds'. A round whose probes moved more than
//     10 % from its start to its end is flagged, and so are its repetitions
//     (Rep.SpeedDrifted).
//   - Server CPU per message: the server's own getrusage (all threads, microseconds) read
//     through its control channel at the window edges, else utime+stime of /proc/PID/stat
//     (10 ms ticks); a note says when the two disagree by more than 20 ms + 10 %. Divided by
//     the messages of the window (idle scenario: plus heartbeats). serverFigures computes
//     every server figure from the window's probes alone.
//   - Load generator CPU per message: getrusage(RUSAGE_SELF) over the window.
//   - Syscalls per message: perf stat -e raw_syscalls:sys_enter attached to the server,
//     enabled and disabled through its control pipes exactly at the window edges; null when
//     `perf stat -e raw_syscalls:sys_enter true` does not work here. The tracepoint adds a
//     little to the server's CPU (counting mode, no samples).
//   - Context switches per message: voluntary+nonvoluntary of every thread
//     (/proc/PID/task/*/status; the process's own status counts only its main thread).
//   - Memory: VmHWM (peak) and (VmRSS at the end of the window − VmRSS before any
//     connection) / connections, on a server's first load only.
//   - Go GC: cycles and pause total from the server's own "stats" control command at the
//     window edges.
//   - Bottleneck: see Bottleneck; the rule uses each process's CPU over the window against
//     the CPUs it is pinned to.
//   - Verification: every reply is checked (sequence + CRC-32C, or byte equality); any lost,
//     duplicated, reordered or corrupt message fails the repetition and the run (exit 1). An
//     interrupt (SIGINT/SIGTERM) is not a failure: the repetition in flight is recorded as
//     interrupted (its messages in flight are not losses), the results so far are written
//     and reported, and the run exits 130 (143 for SIGTERM).
//
// Every figure of a result is the median of its counted repetitions, with [min, max] kept in
// the result's spread; the summary lists the label pairs whose ranges overlap (not
// significant). A metric that was not measured is null (n/a), never 0.
//
// # What a suite costs
//
// The quick suite (5 backends and the A/A twin, 8 rounds): for pingpong and broadcast 2 probe
// rounds of 6 labels, the load generator's probe and 8 rounds × 6 labels × 3 points of 0.2 s
// warm-up and 0.5–2 s windows (about 0.9 s each where the capacity is 60 000 msgs/s or
// more); idle and churn 8 × 6 × 0.9 s; about 6.5 minutes on 2 cores, more when rounds are
// measured again after a speed drift, windows again for steady state, or the machine is slow
// (a lower capacity means longer windows). The full suite (five ladder workloads with 1.5–3 s
// windows, idle with 10 000 connections, churn, bulk, reconnect, sweep, faults, and the
// logging and crypto variants
// with every label doubled) is planned for about 60 minutes; see Suites.
//
// # Seams
//
// Run reaches the servers under test only through ServerHost/Server (LocalServers: child
// processes of this one) and the load only through LoadHost (LocalLoad: this process). A
// load is phases over a LoadConfig that can describe one shard of a larger load (SrcBase,
// StartAt), and LoadResult.Merge adds shards exactly, so load agents on other hosts and a
// server agent fit behind the same interfaces.
package harness
