package results

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

func TestTrendOf(t *testing.T) {
	const n = 120 // two minutes of one sample a second
	rng := rand.New(rand.NewPCG(1, 2))
	series := func(f func(i int) float64) ([]int64, []float64) {
		ts, vs := make([]int64, n), make([]float64, n)
		for i := range ts {
			ts[i] = int64(time.Duration(i) * time.Second)
			vs[i] = f(i)
		}
		return ts, vs
	}
	cases := []struct {
		name   string
		series string
		f      func(i int) float64
		flat   bool
	}{
		{"constant fds", "fds", func(int) float64 { return 105 }, true},
		{"gc sawtooth rss", "rss", func(i int) float64 { return 30e6 + float64(i%7)*2e6 }, true},
		{"warm-up then flat", "rss", func(i int) float64 {
			if i < 15 {
				return 10e6 + float64(i)*2e6
			}
			return 40e6 + rng.Float64()*1e6
		}, true},
		{"noise around a level", "goroutines", func(int) float64 { return 200 + float64(rng.IntN(5)) }, true},
		{"significant creep under tolerance", "rss", func(i int) float64 { return 30e6 + float64(i)*1e3 }, true},
		{"leaking goroutines", "goroutines", func(i int) float64 { return 200 + float64(i)/2 }, false},
		{"leaking fds", "fds", func(i int) float64 { return 105 + float64(i/10) }, false},
		{"leaking rss with sawtooth", "rss", func(i int) float64 { return 30e6 + float64(i)*0.5e6 + float64(i%7)*2e6 }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts, vs := series(tc.f)
			tr := TrendOf(tc.series, ts, vs)
			if tr == nil {
				t.Fatal("nil trend")
			}
			if tr.Flat != tc.flat {
				t.Errorf("flat = %v, want %v (slope %.4g/min CI [%.4g, %.4g], tolerance %.4g)", tr.Flat, tc.flat, tr.SlopePerMin, tr.SlopeLow, tr.SlopeHigh, tr.Tolerance)
			}
			if tr.SlopeLow > tr.SlopePerMin || tr.SlopePerMin > tr.SlopeHigh {
				t.Errorf("slope %.4g outside its interval [%.4g, %.4g]", tr.SlopePerMin, tr.SlopeLow, tr.SlopeHigh)
			}
			if skip := int(math.Ceil(SoakWarmupShare * n)); tr.Samples != n-skip {
				t.Errorf("judged %d samples, want %d (warm-up left out)", tr.Samples, n-skip)
			}
		})
	}
	t.Run("slope is per minute", func(t *testing.T) {
		ts, vs := series(func(i int) float64 { return float64(i) }) // +1 per second
		if tr := TrendOf("goroutines", ts, vs); math.Abs(tr.SlopePerMin-60) > 1e-9 {
			t.Errorf("slope %v/min, want 60", tr.SlopePerMin)
		}
	})
	t.Run("unmeasured series", func(t *testing.T) {
		ts, vs := series(func(int) float64 { return -1 })
		if tr := TrendOf("fds", ts, vs); tr != nil {
			t.Errorf("trend of an unmeasured series: %+v", tr)
		}
	})
	t.Run("too short to judge", func(t *testing.T) {
		ts, vs := series(func(i int) float64 { return float64(i) * 1e3 })
		if tr := TrendOf("goroutines", ts[:10], vs[:10]); tr == nil || !tr.Flat {
			t.Errorf("10 samples judged: %+v", tr)
		}
	})
}

func TestSoakJudge(t *testing.T) {
	s := &Soak{}
	for i := range 60 {
		s.Samples = append(s.Samples, SoakSample{TNs: int64(time.Duration(i) * time.Second), RSSBytes: 20e6,
			FDs: -1, Goroutines: float64(10 + i), HeapBytes: 5e6})
	}
	s.Judge()
	if s.FDs != nil {
		t.Errorf("fds judged without samples: %+v", s.FDs)
	}
	if s.RSS == nil || !s.RSS.Flat {
		t.Errorf("rss: %+v, want flat", s.RSS)
	}
	if len(s.Growing) != 1 || !strings.HasPrefix(s.Growing[0], "goroutines grows") {
		t.Errorf("growing = %q, want the goroutines", s.Growing)
	}
}
