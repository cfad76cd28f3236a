// Package harness is what iobench measures with: the server apps (written once against
// models), `iobench serve`, the load generator (`iobench load`) and the suite runner
// (`iobench run`) with its process probes.
//
// # How `iobench run` measures
//
// For every workload of the suite, every repetition and every backend — interleaved, so
// repetition k of every backend runs before repetition k+1 of any, and slow drift of the
// machine spreads over all backends instead of favouring one — it starts a fresh
// `iobench serve --control` child (os.Executable), pins it, connects the load generator, waits
// until the server sees every connection, warms up, measures a window, drains, and stops the
// server.
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
//     histograms (1 ns–100 s, 3 digits), one per worker shard, merged. Open loop measures
//     from each message's intended send time (coordinated omission corrected) and also
//     keeps one histogram per 100 ms for the latency timeline.
//   - Server CPU per message: utime+stime of /proc/PID/stat (whole thread group, exited
//     threads included; resolution 10 ms, i.e. ≤ 1 % of a 2 s window at full load) over the
//     window, divided by the messages of the window (idle scenario: plus heartbeats).
//   - Load generator CPU per message: getrusage(RUSAGE_SELF) over the window.
//   - Syscalls per message: perf stat -e raw_syscalls:sys_enter attached to the server,
//     enabled and disabled through its control pipes exactly at the window edges; null when
//     `perf stat -e raw_syscalls:sys_enter true` does not work here. The tracepoint adds a
//     little to the server's CPU (counting mode, no samples).
//   - Context switches per message: voluntary+nonvoluntary of every thread
//     (/proc/PID/task/*/status; the process's own status counts only its main thread).
//   - Memory: VmHWM (peak) and (VmRSS at the end of the window − VmRSS before any
//     connection) / connections.
//   - Go GC: cycles and pause total from the server's own "stats" control command at the
//     window edges.
//   - Bottleneck: see Bottleneck; the rule uses each process's CPU over the window against
//     the CPUs it is pinned to.
//   - Verification: every reply is checked (sequence + CRC-32C, or byte equality); any lost,
//     duplicated, reordered or corrupt message fails the repetition and the run (exit 1).
//
// Every figure of a result is the median of its repetitions, with [min, max] kept in the
// result's spread; the summary lists the backend pairs whose ranges overlap (not
// significant). A metric that was not measured is null (n/a), never 0.
package harness
