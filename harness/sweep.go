package harness

import (
	"context"
	"fmt"
	"time"

	"github.com/iobench/iobench/results"
)

// sweep raises the open-loop rate step by step (×1.5 from w.StartRate) against one server
// until p99 exceeds w.SLO, errors or verification failures appear, or the delivered rate
// falls below 90 % of the offered one, and reports the highest offered rate that met the
// SLO. The headline figures are those of that step.
func (r *runner) sweep(ctx context.Context, srv Server, w Workload) (*results.Sweep, results.Figures, error) {
	slo := w.SLO
	if slo <= 0 {
		slo = 5 * time.Millisecond
	}
	rate := w.StartRate
	if rate <= 0 {
		rate = 1000
	}
	sw := &results.Sweep{SLONs: float64(slo)}
	var best results.Figures
	for step := 0; step < 16 && ctx.Err() == nil; step++ {
		if step > 0 {
			if err := srv.WaitReady(0, 10*time.Second); err != nil {
				return sw, best, err
			}
		}
		lc := LoadConfig{Target: srv.Addr(), Proto: w.Proto, Conns: w.Conns, Size: w.Size, Rate: rate,
			Warmup: w.Warmup, Duration: w.Duration, ClientBackend: r.cfg.ClientBackend}
		if len(r.clientCPUs) > 0 {
			lc.Loops = len(r.clientCPUs)
		}
		res, err := r.loads.Load(ctx, lc)
		if res == nil {
			return sw, best, err
		}
		f := res.Figures()
		pt := results.SweepPoint{OfferedRate: rate, AchievedRate: res.MsgsPerSec(),
			Errors: res.Errors + res.Verify.Lost + res.Verify.Corrupt + res.Verify.Reordered + res.Verify.Duplicated}
		if f.Latency != nil {
			pt.P99Ns = f.Latency.P99
		}
		sw.Points = append(sw.Points, pt)
		fmt.Fprintf(r.stderr, "  sweep %s: offered %.0f/s delivered %.0f/s p99 %s errors %d\n",
			srv.Addr(), rate, pt.AchievedRate, fmtNs(pt.P99Ns), pt.Errors)
		met := err == nil && pt.Errors == 0 && pt.P99Ns != nil && *pt.P99Ns <= float64(slo) &&
			pt.AchievedRate >= 0.9*rate
		if !met {
			break
		}
		sw.MaxRateMeetingSLO = results.Val(rate)
		best = f
		rate *= 1.5
	}
	if sw.MaxRateMeetingSLO == nil {
		best.Note = fmt.Sprintf("no offered rate met p99 <= %v", slo)
	} else {
		best.Note = fmt.Sprintf("figures of the highest rate meeting p99 <= %v: %.0f msgs/s offered", slo, *sw.MaxRateMeetingSLO)
	}
	best.Bottleneck = results.BottleneckUnknown
	return sw, best, nil
}
