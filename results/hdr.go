package results

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// HDR histogram logs (the HdrHistogram interval log format, version 1.3, as written by
// HdrHistogram's HistogramLogWriter in every language) keep the full latency distribution of a
// run, one histogram per interval, so percentiles of any depth and latency over time can be
// recomputed later. Values are nanoseconds. Result.HDRLog / Rep.HDRLog hold the path relative
// to the run file's folder.

// NewLatencyHistogram returns the histogram shape iobench records latencies in: 1 ns to 100 s,
// 3 significant digits.
func NewLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(1, 100e9, 3)
}

// WriteHDRLog writes intervals (each with StartTimeMs/EndTimeMs set, absolute ms since the
// epoch) as an HDR interval log with a header relative to startMs.
func WriteHDRLog(w io.Writer, startMs int64, intervals []*hdrhistogram.Histogram) error {
	lw := hdrhistogram.NewHistogramLogWriter(w)
	if err := lw.OutputLogFormatVersion(); err != nil {
		return err
	}
	if err := lw.OutputStartTime(startMs); err != nil {
		return err
	}
	if err := lw.OutputBaseTime(startMs); err != nil {
		return err
	}
	lw.SetBaseTime(startMs)
	if err := lw.OutputLegend(); err != nil {
		return err
	}
	for _, h := range intervals {
		if err := lw.OutputIntervalHistogram(h); err != nil {
			return err
		}
	}
	return nil
}

// WriteHDRLogFile writes an HDR log to path.
func WriteHDRLogFile(path string, startMs int64, intervals []*hdrhistogram.Histogram) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := WriteHDRLog(f, startMs, intervals); err != nil {
		f.Close()
		return fmt.Errorf("%s: %w", path, err)
	}
	return f.Close()
}

// ReadHDRLog reads every interval histogram of an HDR log.
func ReadHDRLog(r io.Reader) ([]*hdrhistogram.Histogram, error) {
	lr := hdrhistogram.NewHistogramLogReader(r)
	var out []*hdrhistogram.Histogram
	for {
		h, err := lr.NextIntervalHistogram()
		if err != nil {
			return out, err
		}
		if h == nil {
			break
		}
		out = append(out, h)
	}
	if len(out) == 0 {
		return nil, errors.New("HDR log holds no interval histogram")
	}
	return out, nil
}

// ReadHDRLogFile reads an HDR log file; errors name the file.
func ReadHDRLogFile(path string) ([]*hdrhistogram.Histogram, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	hs, err := ReadHDRLog(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return hs, nil
}

// MergeHistograms adds intervals into one histogram of the whole run.
func MergeHistograms(intervals []*hdrhistogram.Histogram) *hdrhistogram.Histogram {
	all := NewLatencyHistogram()
	for _, h := range intervals {
		all.Merge(h)
	}
	return all
}

// SpectrumPoint is one point of a latency percentile spectrum.
type SpectrumPoint struct {
	Percentile float64 // 0..100
	ValueNs    float64
}

// SpectrumPercentiles are the percentiles a spectrum samples: log-spaced in "nines"
// (1/(1-p)) from the median to 99.999.
func SpectrumPercentiles() []float64 {
	var ps []float64
	for i := 0; i <= 40; i++ { // nines from 0.30103 (p50) to 5 (p99.999)
		nines := math.Log10(2) + (5-math.Log10(2))*float64(i)/40
		ps = append(ps, 100*(1-math.Pow(10, -nines)))
	}
	return ps
}

// Spectrum samples the percentile spectrum of h; percentiles beyond what the sample count
// supports (p such that fewer than one sample lies above it) are omitted.
func Spectrum(h *hdrhistogram.Histogram) []SpectrumPoint {
	n := float64(h.TotalCount())
	if n == 0 {
		return nil
	}
	var out []SpectrumPoint
	for _, p := range SpectrumPercentiles() {
		if (1-p/100)*n < 1 && len(out) > 0 {
			break
		}
		out = append(out, SpectrumPoint{p, float64(h.ValueAtQuantile(p))})
	}
	out = append(out, SpectrumPoint{100, float64(h.Max())})
	return out
}

// TimelineFromIntervals turns the interval histograms of an HDR log into a latency timeline
// relative to startMs.
func TimelineFromIntervals(startMs int64, intervals []*hdrhistogram.Histogram) []TimelinePoint {
	var out []TimelinePoint
	for _, h := range intervals {
		if h.TotalCount() == 0 {
			continue
		}
		out = append(out, TimelinePoint{
			TNs:   (h.EndTimeMs() - startMs) * 1e6,
			P50Ns: float64(h.ValueAtQuantile(50)),
			P99Ns: float64(h.ValueAtQuantile(99)),
			MaxNs: float64(h.Max()),
			Count: uint64(h.TotalCount()),
		})
	}
	return out
}
