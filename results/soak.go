package results

import (
	"fmt"
	"math"
	"sort"
)

// Soak is what the soak scenario measured on one backend: a steady open-loop rate at half of
// the common capacity for the whole window, the server sampled every second.
type Soak struct {
	RateMsgsPerSec float64 `json:"rate_msgs_per_sec"` // offered
	IntervalNs     int64   `json:"interval_ns"`       // between samples
	// RSS, FDs and Goroutines are the trend tests of those series (nil: not measured on this
	// platform, e.g. fds outside Linux). A growing one fails the soak (Growing names it).
	RSS        *Trend `json:"rss"`
	FDs        *Trend `json:"fds"`
	Goroutines *Trend `json:"goroutines"`
	// Heap is the Go heap in use: reported, not judged (the RSS is what the machine pays).
	Heap    *Trend   `json:"heap,omitempty"`
	Growing []string `json:"growing,omitempty"`
	// Samples are the per-second samples; P99PerMinute the p99 latency of each minute (the
	// last one may be shorter) for drift.
	Samples      []SoakSample `json:"samples"`
	P99PerMinute []Window     `json:"p99_per_minute"`
}

// SoakSample is one sample of the server during a soak. A value the platform does not give
// is -1.
type SoakSample struct {
	TNs        int64   `json:"t_ns"` // from the start of the window
	RSSBytes   float64 `json:"rss_bytes"`
	FDs        float64 `json:"fds"`
	Goroutines float64 `json:"goroutines"`
	HeapBytes  float64 `json:"heap_bytes"`
	GCCycles   float64 `json:"gc_cycles"`
	GCPauseNs  float64 `json:"gc_pause_ns"`
}

// Trend is the trend test of one series (TrendOf).
type Trend struct {
	SlopePerMin float64 `json:"slope_per_min"` // Theil–Sen slope, units per minute
	// SlopeLow and SlopeHigh are its 95 % confidence interval (Sen 1968).
	SlopeLow  float64 `json:"slope_low"`
	SlopeHigh float64 `json:"slope_high"`
	Median    float64 `json:"median"`    // of the judged samples
	Tolerance float64 `json:"tolerance"` // growth over the judged span that is still flat
	Samples   int     `json:"samples"`   // judged (after the warm-up)
	Flat      bool    `json:"flat"`
}

// Trend rule. A leak is a series that keeps growing; a healthy server's series are flat after a
// warm-up (heap growth to its working set, pools filling) and move in a GC sawtooth. The rule:
//
//  1. the first SoakWarmupShare of the samples (at least SoakMinWarmup of them) are warm-up and
//     not judged;
//  2. the slope is the Theil–Sen estimator (the median of the slopes of all pairs of samples):
//     a sawtooth's teeth cancel out in the median, and a few outliers (one GC at its peak)
//     cannot move it, unlike least squares;
//  3. the series grows when the lower bound of the slope's 95 % confidence interval (Sen's,
//     from Kendall's tau: ranks (N ∓ 1.96·√(n(n−1)(2n+5)/18))/2 of the N pair slopes) is
//     above 0 AND the growth it implies over the judged span (slope × span) exceeds the
//     tolerance: max(floor, share × median) (SoakTolerance). Both are needed: a
//     significant creep of a few kilobytes is not a leak worth failing for, and a large
//     noisy drift that is not significant is not shown to be one.
//
// A series with fewer than SoakMinSamples judged samples is flat (nothing to judge).
const (
	SoakWarmupShare = 0.2
	SoakMinWarmup   = 5
	SoakMinSamples  = 8
)

// SoakTolerance is each judged series' tolerance: absolute floor and share of its median.
var SoakTolerance = map[string]struct{ Floor, Share float64 }{
	"rss":        {Floor: 8 << 20, Share: 0.10},
	"fds":        {Floor: 2, Share: 0.01},
	"goroutines": {Floor: 2, Share: 0.01},
	"heap":       {Floor: 8 << 20, Share: 0.10},
}

// TrendOf runs the trend rule on a series sampled at ts (ns, increasing) with the tolerance
// of series name (SoakTolerance). Negative values (not measured) make it nil.
func TrendOf(name string, ts []int64, vs []float64) *Trend {
	if len(ts) != len(vs) || len(vs) == 0 {
		return nil
	}
	for _, v := range vs {
		if v < 0 || math.IsNaN(v) {
			return nil
		}
	}
	skip := max(int(math.Ceil(SoakWarmupShare*float64(len(vs)))), SoakMinWarmup)
	tr := &Trend{Flat: true}
	if len(vs)-skip < SoakMinSamples {
		tr.Samples = max(len(vs)-skip, 0)
		return tr
	}
	ts, vs = ts[skip:], vs[skip:]
	n := len(vs)
	tr.Samples = n
	tr.Median = Median(vs)
	slopes := make([]float64, 0, n*(n-1)/2)
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			if dt := float64(ts[j] - ts[i]); dt > 0 {
				slopes = append(slopes, (vs[j]-vs[i])/dt*60e9)
			}
		}
	}
	if len(slopes) == 0 {
		return tr
	}
	sort.Float64s(slopes)
	N := float64(len(slopes))
	tr.SlopePerMin = quantileSorted(slopes, 0.5)
	c := 1.96 * math.Sqrt(float64(n)*float64(n-1)*float64(2*n+5)/18)
	lo := int(math.Floor((N - c) / 2))
	hi := int(math.Ceil((N + c) / 2))
	tr.SlopeLow = slopes[min(max(lo, 0), len(slopes)-1)]
	tr.SlopeHigh = slopes[min(max(hi, 0), len(slopes)-1)]
	tol := SoakTolerance[name]
	tr.Tolerance = max(tol.Floor, tol.Share*math.Abs(tr.Median))
	span := float64(ts[n-1]-ts[0]) / 60e9
	tr.Flat = !(tr.SlopeLow > 0 && tr.SlopePerMin*span > tr.Tolerance)
	return tr
}

func quantileSorted(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(xs)-1)
	i := int(pos)
	if i+1 >= len(xs) {
		return xs[len(xs)-1]
	}
	return xs[i] + (pos-float64(i))*(xs[i+1]-xs[i])
}

// Judge runs the trend tests on s.Samples and fills the trends and Growing.
func (s *Soak) Judge() {
	ts := make([]int64, len(s.Samples))
	series := map[string][]float64{}
	for i, x := range s.Samples {
		ts[i] = x.TNs
		series["rss"] = append(series["rss"], x.RSSBytes)
		series["fds"] = append(series["fds"], x.FDs)
		series["goroutines"] = append(series["goroutines"], x.Goroutines)
		series["heap"] = append(series["heap"], x.HeapBytes)
	}
	s.RSS = TrendOf("rss", ts, series["rss"])
	s.FDs = TrendOf("fds", ts, series["fds"])
	s.Goroutines = TrendOf("goroutines", ts, series["goroutines"])
	s.Heap = TrendOf("heap", ts, series["heap"])
	s.Growing = nil
	for _, g := range []struct {
		name string
		t    *Trend
	}{{"rss", s.RSS}, {"fds", s.FDs}, {"goroutines", s.Goroutines}} {
		if g.t != nil && !g.t.Flat {
			s.Growing = append(s.Growing, fmt.Sprintf("%s grows %.4g/min (95%% CI %.4g..%.4g; tolerance %.4g over the soak)",
				g.name, g.t.SlopePerMin, g.t.SlopeLow, g.t.SlopeHigh, g.t.Tolerance))
		}
	}
}

// SummarizeSoak sets r.Soak to its (first counted) repetition's: a soak runs once per label.
func SummarizeSoak(r *Result) {
	for i := range r.Repetitions {
		if rep := &r.Repetitions[i]; rep.Soak != nil && !rep.Interrupted {
			s := *rep.Soak
			r.Soak = &s
			return
		}
	}
}
