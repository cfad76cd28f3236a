package harness

import (
	"math"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/results"
)

// shardResult is a LoadResult of one shard with the given latencies spread over its slices.
func shardResult(tb testing.TB, window time.Duration, lat [][]int64) *LoadResult {
	tb.Helper()
	r := &LoadResult{Window: window, Hist: newHist()}
	for i, vs := range lat {
		h := newHist()
		h.SetStartTimeMs(int64(i) * 100)
		h.SetEndTimeMs(int64(i+1) * 100)
		for _, v := range vs {
			h.RecordValue(v)
		}
		r.Hist.Merge(h)
		r.Intervals = append(r.Intervals, h)
		r.SliceMsgs = append(r.SliceMsgs, uint64(len(vs)))
		r.Msgs += uint64(len(vs))
		r.Verify.Sent += uint64(len(vs))
		r.Verify.Received += uint64(len(vs))
	}
	return r
}

// Two shards of one load merge exactly: the merged percentiles are those of every sample in
// one histogram, also after an encode/decode round trip (how agents on other hosts will ship
// them), and counts add slice by slice.
func TestLoadResultMerge(t *testing.T) {
	a := shardResult(t, 300*time.Millisecond, [][]int64{{100, 200, 300}, {400, 500}, {600}})
	b := shardResult(t, 310*time.Millisecond, [][]int64{{150}, {250, 350, 450, 5000}})
	b.Verify.Lost, b.Errors, b.PacerLag, b.ClientCPU = 2, 1, time.Millisecond, 5*time.Millisecond
	a.ClientCPU, a.FirstError, b.FirstError = 3*time.Millisecond, "", "b's error"

	enc, err := b.Hist.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := hdrhistogram.Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	b.Hist = dec

	a.Merge(b)
	all := newHist()
	for _, v := range []int64{100, 200, 300, 400, 500, 600, 150, 250, 350, 450, 5000} {
		all.RecordValue(v)
	}
	for _, q := range []float64{50, 90, 99, 100} {
		if got, want := a.Hist.ValueAtQuantile(q), all.ValueAtQuantile(q); got != want {
			t.Errorf("merged p%v = %d, want %d", q, got, want)
		}
	}
	if a.Msgs != 11 || a.Verify.Sent != 11 || a.Verify.Lost != 2 || a.Errors != 1 {
		t.Errorf("counts: msgs %d verify %+v errors %d", a.Msgs, a.Verify, a.Errors)
	}
	if got := []uint64{4, 6, 1}; len(a.SliceMsgs) != 3 || a.SliceMsgs[0] != got[0] || a.SliceMsgs[1] != got[1] || a.SliceMsgs[2] != got[2] {
		t.Errorf("slices %v, want %v", a.SliceMsgs, got)
	}
	if a.Intervals[1].TotalCount() != 6 {
		t.Errorf("slice 1 histogram holds %d, want 6", a.Intervals[1].TotalCount())
	}
	if a.Window != 310*time.Millisecond || a.PacerLag != time.Millisecond || a.ClientCPU != 8*time.Millisecond || a.FirstError != "b's error" {
		t.Errorf("window %v lag %v cpu %v first %q", a.Window, a.PacerLag, a.ClientCPU, a.FirstError)
	}
	unknown := shardResult(t, time.Second, nil)
	unknown.ClientCPU = -1
	a.Merge(unknown)
	if a.ClientCPU != -1 {
		t.Errorf("client CPU %v after merging a shard that could not measure it", a.ClientCPU)
	}
}

func TestSliceSeriesAndFigures(t *testing.T) {
	r := shardResult(t, 340*time.Millisecond, [][]int64{{1000, 2000}, {}, {3000}, {9}})
	tput, p99 := r.SliceSeries()
	// The last slice covers 40 ms of 100: left out.
	if len(tput) != 3 || tput[0] != 20 || tput[1] != 0 || tput[2] != 10 {
		t.Fatalf("throughput series %v", tput)
	}
	if p99[0] != float64(r.Intervals[0].ValueAtQuantile(99)) || !math.IsNaN(p99[1]) {
		t.Fatalf("p99 series %v", p99)
	}
	f := r.Figures()
	if f.LatencySamples != 4 || f.LatencyCI == nil || f.LatencyCI.P99 == nil {
		t.Fatalf("figures carry no CI: samples %d ci %+v", f.LatencySamples, f.LatencyCI)
	}
	if ci, n := results.LatencyCIOf(r.Hist); n != f.LatencySamples || *ci.P50 != *f.LatencyCI.P50 {
		t.Fatalf("figures' CI differs from the histogram's")
	}
}
