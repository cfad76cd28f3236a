package harness

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// serverFigures is a pure function of the probes: fixtures in, figures out.
func TestServerFigures(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	ns := func(d time.Duration) *int64 { v := int64(d); return &v }
	snap := func(at time.Duration, procCPU, selfCPU time.Duration, ctxsw, rss, hwm uint64, gc uint32, pause uint64) ServerSnapshot {
		return ServerSnapshot{
			Proc:  procSample{At: t0.Add(at), CPU: procCPU, CPUOK: true, CtxSw: ctxsw, CtxSwOK: true, RSS: rss, HWM: hwm, MemOK: true},
			Stats: &ServerStats{CPUNs: ns(selfCPU), GCCycles: gc, GCPauseNs: pause, Loops: 1},
		}
	}
	syscalls := uint64(150000)
	base := WindowProbes{
		Idle:     procSample{At: t0, RSS: 10 << 20, MemOK: true},
		Before:   snap(time.Second, 2*time.Second, 2*time.Second+3*time.Millisecond, 1000, 11<<20, 11<<20, 3, 1000),
		After:    snap(2*time.Second, 2*time.Second+500*time.Millisecond, 2*time.Second+503*time.Millisecond+400*time.Microsecond, 21000, 12<<20, 13<<20, 5, 4000),
		Syscalls: &syscalls,
	}
	t.Run("every probe", func(t *testing.T) {
		sw := serverFigures(base, 100000, 100, 1, true)
		m := sw.Metrics
		// CPU from the server's own account: 500.4 ms over 100 000 messages.
		if m == nil || m.CPUNsPerMsg == nil || *m.CPUNsPerMsg != 5004 {
			t.Fatalf("cpu/msg %v, want 5004 (the server's own µs account)", m.CPUNsPerMsg)
		}
		if sw.Util == nil || *sw.Util < 0.5003 || *sw.Util > 0.5005 {
			t.Fatalf("utilisation %v, want 0.5004 of one core", sw.Util)
		}
		if *m.CtxSwitchesPerMsg != 0.2 || *m.SyscallsPerMsg != 1.5 {
			t.Fatalf("ctxsw %v syscalls %v", *m.CtxSwitchesPerMsg, *m.SyscallsPerMsg)
		}
		if *m.RSSBytes != 13<<20 || *m.RSSBytesPerConn != float64(2<<20)/100 {
			t.Fatalf("rss %v per conn %v", *m.RSSBytes, *m.RSSBytesPerConn)
		}
		if *m.GCCycles != 2 || *m.GCPauseNs != 3000 || sw.Loops != 1 || len(sw.Notes) != 0 {
			t.Fatalf("gc %v pause %v loops %d notes %v", *m.GCCycles, *m.GCPauseNs, sw.Loops, sw.Notes)
		}
	})
	t.Run("no own account: /proc", func(t *testing.T) {
		p := base
		p.Before.Stats, p.After.Stats = nil, nil
		sw := serverFigures(p, 100000, 100, 1, true)
		if *sw.Metrics.CPUNsPerMsg != 5000 || sw.Metrics.GCCycles != nil {
			t.Fatalf("cpu/msg %v gc %v, want /proc's 5000 and no GC figure", *sw.Metrics.CPUNsPerMsg, sw.Metrics.GCCycles)
		}
	})
	t.Run("views disagree", func(t *testing.T) {
		p := base
		p.After.Proc.CPU += 200 * time.Millisecond
		sw := serverFigures(p, 100000, 100, 1, true)
		if len(sw.Notes) != 1 || !strings.Contains(sw.Notes[0], "/proc") {
			t.Fatalf("notes %v, want one saying the two views disagree", sw.Notes)
		}
	})
	t.Run("not measurable", func(t *testing.T) {
		p := base
		p.Before.Proc.CPUOK, p.After.Proc.CPUOK, p.Before.Proc.CtxSwOK = false, false, false
		p.Before.Stats, p.After.Stats = nil, nil
		p.Syscalls, p.SyscallsErr = nil, errors.New("no perf")
		sw := serverFigures(p, 100000, 100, 1, false)
		m := sw.Metrics
		if m.CPUNsPerMsg != nil || sw.Util != nil || m.CtxSwitchesPerMsg != nil || m.SyscallsPerMsg != nil || m.RSSBytesPerConn != nil {
			t.Fatalf("n/a figures must be nil, not 0: %+v util %v", *m, sw.Util)
		}
	})
	t.Run("no messages or no window", func(t *testing.T) {
		if sw := serverFigures(base, 0, 100, 1, true); sw.Metrics != nil {
			t.Fatal("figures without messages")
		}
		p := base
		p.After = ServerSnapshot{}
		if sw := serverFigures(p, 100, 100, 1, true); sw.Metrics != nil {
			t.Fatal("figures without the after probe")
		}
	})
}
