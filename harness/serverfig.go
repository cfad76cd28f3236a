package harness

import (
	"fmt"
	"time"

	"github.com/iobench/iobench/results"
)

// ServerSnapshot is one reading of the server under test at a window edge: the outside view
// of its process (/proc on Linux; fields whose ok flag is false were not read) and its own
// account (the control channel's stats; nil when it did not answer).
type ServerSnapshot struct {
	Proc  procSample
	Stats *ServerStats
}

// WindowProbes are what the server host read around one measured window.
type WindowProbes struct {
	// Idle is the server process before any connection of this load (its RSS is the base of
	// RSS per connection); a zero At means none was taken.
	Idle          procSample
	Before, After ServerSnapshot
	// Syscalls over the window (perf, enabled and disabled at its edges); nil when not
	// counted, with the reason in SyscallsErr.
	Syscalls    *uint64
	SyscallsErr error
	// TCPRetransmits over the window in the server's network namespace (a server agent's;
	// nil where not read: a local server shares its namespace with the load).
	TCPRetransmits *uint64
}

// serverWindow is the server's side of one window: its figures and its CPU utilisation of its
// core share (nil when unknown), for the bottleneck rule.
type serverWindow struct {
	Metrics *results.ServerMetrics
	Util    *float64
	Loops   int // event loops the server reported (0: unknown)
	Notes   []string
}

// cpuViewsAgree is how far the server's own CPU account and /proc's may differ (both read at
// the window edges, /proc in 10 ms ticks) before the figure is flagged.
const cpuViewsTolerance = 20 * time.Millisecond

// serverFigures computes the server-side figures of a window from its probes, a pure function
// of them: msgs is every message the server handled in the window (the per-message divisor),
// conns the connections it held, cores its CPU share (for utilisation), perConnRSS whether the
// idle reading belongs to this load (a fresh server) so that RSS per connection means that.
//
// CPU: the server's own getrusage (ServerStats.CPUNs, microseconds, all threads) when both
// edges have it, else /proc/PID/stat (whole thread group, in 10 ms ticks: up to 2 % of a
// 1 s window at full load); when both exist and disagree by more than 20 ms + 10 % a note says
// so. Context switches: every thread's voluntary + involuntary count (/proc). Syscalls: perf.
// RSS: VmHWM (peak) and (VmRSS after − VmRSS idle) / conns. GC: the server's own counters.
func serverFigures(p WindowProbes, msgs float64, conns int, cores float64, perConnRSS bool) serverWindow {
	var out serverWindow
	b, a := p.Before, p.After
	if !(msgs > 0) || b.Proc.At.IsZero() || a.Proc.At.IsZero() {
		return out
	}
	sm := &results.ServerMetrics{}
	wall := a.Proc.At.Sub(b.Proc.At)
	var cpu time.Duration
	cpuOK := false
	if b.Stats != nil && a.Stats != nil && b.Stats.CPUNs != nil && a.Stats.CPUNs != nil {
		cpu, cpuOK = time.Duration(*a.Stats.CPUNs-*b.Stats.CPUNs), true
		if b.Proc.CPUOK && a.Proc.CPUOK {
			outside := a.Proc.CPU - b.Proc.CPU
			if d := (outside - cpu).Abs(); d > cpuViewsTolerance+cpu/10 {
				out.Notes = append(out.Notes, fmt.Sprintf("server CPU: its own account %v, /proc %v over the window", cpu.Round(time.Microsecond), outside))
			}
		}
	} else if b.Proc.CPUOK && a.Proc.CPUOK {
		cpu, cpuOK = a.Proc.CPU-b.Proc.CPU, true
	}
	if cpuOK {
		sm.CPUNsPerMsg = results.Val(float64(cpu) / msgs)
		if wall > 0 && cores > 0 {
			out.Util = results.Val(float64(cpu) / float64(wall) / cores)
		}
	}
	if b.Proc.CtxSwOK && a.Proc.CtxSwOK {
		sm.CtxSwitchesPerMsg = results.Val(float64(a.Proc.CtxSw-b.Proc.CtxSw) / msgs)
	}
	if p.Syscalls != nil {
		sm.SyscallsPerMsg = results.Val(float64(*p.Syscalls) / msgs)
	}
	if a.Proc.MemOK {
		sm.RSSBytes = results.Val(float64(a.Proc.HWM))
		if perConnRSS && p.Idle.MemOK && conns > 0 {
			sm.RSSBytesPerConn = results.Val((float64(a.Proc.RSS) - float64(p.Idle.RSS)) / float64(conns))
		}
	}
	if b.Stats != nil && a.Stats != nil {
		sm.GCCycles = results.Val(float64(a.Stats.GCCycles - b.Stats.GCCycles))
		sm.GCPauseNs = results.Val(float64(a.Stats.GCPauseNs - b.Stats.GCPauseNs))
		out.Loops = a.Stats.Loops
	}
	out.Metrics = sm
	return out
}
