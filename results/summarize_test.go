package results

import (
	"strings"
	"testing"
)

func rep(i int, mps float64, mod func(*Rep)) Rep {
	r := Rep{Index: i, Figures: Figures{MsgsPerSec: Val(mps), Verify: &Verify{Sent: 100, Received: 100},
		Server: &ServerMetrics{CPUNsPerMsg: Val(mps / 10)}}}
	if mod != nil {
		mod(&r)
	}
	return r
}

func interrupted(r *Rep) {
	r.Interrupted = true
	r.Verify = &Verify{Sent: 100, Received: 60, Lost: 40} // in flight at the signal
}

func saturated(r *Rep) { r.Saturated = true }

func TestSummarizeExcludesInterrupted(t *testing.T) {
	r := Result{Repetitions: []Rep{rep(0, 10, nil), rep(1, 20, nil), rep(2, 1000, interrupted),
		rep(3, 30, nil), rep(4, 5000, func(r *Rep) { r.Error = "boom" })}}
	Summarize(&r)
	if r.Reps != 5 {
		t.Errorf("Reps = %d, want 5 (every recorded repetition)", r.Reps)
	}
	if *r.MsgsPerSec != 20 {
		t.Errorf("median = %v, want 20 (interrupted and failed excluded)", *r.MsgsPerSec)
	}
	if r.Spread.MsgsPerSec.N != 3 || r.Spread.MsgsPerSec.Max != 30 {
		t.Errorf("spread = %+v, want 3 samples up to 30", r.Spread.MsgsPerSec)
	}
	if r.Verify.Lost != 0 || r.Verify.Sent != 400 {
		t.Errorf("verify = %+v: an interrupted repetition's in-flight messages are not losses", r.Verify)
	}
	if got := MetricMsgsPerSec.Samples(&r); len(got) != 3 {
		t.Errorf("Samples = %v, want the 3 counted repetitions", got)
	}
}

func TestSummarizeNoCountedRepetition(t *testing.T) {
	cases := []struct {
		name string
		reps []Rep
		note string
	}{
		{"all interrupted", []Rep{rep(0, 10, interrupted), rep(1, 20, interrupted)}, "every repetition was interrupted"},
		{"all failed", []Rep{rep(0, 10, func(r *Rep) { r.Error = "x" })}, "every repetition failed"},
		{"failed and interrupted", []Rep{rep(0, 10, func(r *Rep) { r.Error = "x" }), rep(1, 1, interrupted)}, "failed or was interrupted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Result{Repetitions: c.reps}
			r.MsgsPerSec = Val(99) // stale headline must not survive
			Summarize(&r)
			if r.MsgsPerSec != nil || r.Server != nil || r.Spread != nil {
				t.Fatalf("figures present: %+v", r.Figures)
			}
			if !strings.Contains(r.Note, c.note) {
				t.Fatalf("note %q lacks %q", r.Note, c.note)
			}
		})
	}
}

func TestSummarizeSaturatedMajority(t *testing.T) {
	cases := []struct {
		name    string
		sat     []bool
		want    bool
		median  float64
		samples int
	}{
		{"3 of 5 saturated", []bool{true, false, true, false, true}, true, 30, 3},
		{"2 of 5 saturated", []bool{true, false, true, false, false}, false, 40, 3},
		{"tie counts as saturated", []bool{true, false, true, false}, true, 20, 2},
		{"none", []bool{false, false, false}, false, 20, 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var r Result
			for i, s := range c.sat {
				mod := func(*Rep) {}
				if s {
					mod = saturated
				}
				r.Repetitions = append(r.Repetitions, rep(i, float64(10*(i+1)), mod))
			}
			Summarize(&r)
			if r.Saturated != c.want {
				t.Fatalf("Saturated = %v, want %v", r.Saturated, c.want)
			}
			if *r.MsgsPerSec != c.median {
				t.Errorf("median = %v, want %v (only repetitions in the headline's state)", *r.MsgsPerSec, c.median)
			}
			if n := len(MetricMsgsPerSec.Samples(&r)); n != c.samples {
				t.Errorf("%d samples, want %d", n, c.samples)
			}
		})
	}
}

func TestSummarizeTailsAndSteady(t *testing.T) {
	withTail := func(n uint64, lo, hi float64, st *Steady) func(*Rep) {
		return func(r *Rep) {
			r.Latency = &Latency{P99: Val((lo + hi) / 2)}
			r.LatencySamples = n
			r.LatencyCI = &LatencyCI{P99: &[2]float64{lo, hi}}
			r.Steady = st
		}
	}
	ok := &Steady{OK: true, ThroughputP: 0.5, LatencyP: 0.6}
	bad := &Steady{OK: false, ThroughputP: 0.002, ThroughputRho: -0.8, LatencyP: 0.4}
	r := Result{Repetitions: []Rep{
		rep(0, 1, withTail(1000, 10, 20, ok)),
		rep(1, 1, withTail(3000, 30, 40, bad)),
		rep(2, 1, withTail(2000, 20, 30, ok)),
	}}
	Summarize(&r)
	if r.LatencySamples != 2000 {
		t.Errorf("LatencySamples = %d, want the median 2000", r.LatencySamples)
	}
	if r.LatencyCI == nil || r.LatencyCI.P99 == nil || *r.LatencyCI.P99 != [2]float64{20, 30} {
		t.Errorf("CI = %+v, want the median bounds [20 30]", r.LatencyCI)
	}
	if r.LatencyCI.P50 != nil {
		t.Error("a CI no repetition had must stay nil")
	}
	if r.Steady == nil || r.Steady.OK || r.Steady.ThroughputRho != -0.8 {
		t.Errorf("Steady = %+v, want not ok with the trending repetition's figures", r.Steady)
	}
	all := Result{Repetitions: []Rep{rep(0, 1, withTail(10, 1, 2, ok))}}
	Summarize(&all)
	if !all.Steady.OK {
		t.Error("every repetition steady: headline must be steady")
	}
	none := Result{Repetitions: []Rep{rep(0, 1, nil)}}
	Summarize(&none)
	if none.Steady != nil || none.LatencyCI != nil || none.LatencySamples != 0 {
		t.Error("untested figures must stay absent")
	}
}
