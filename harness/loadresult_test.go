package harness

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/proto"
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
	bc1, bc2 := shardResult(t, time.Second, nil), shardResult(t, time.Second, nil)
	bc1.Config, bc2.Config = LoadConfig{Broadcast: true, Room: 8}, LoadConfig{Broadcast: true, Room: 8}
	bc1.Verify = results.Verify{Sent: 10, Received: 90, Lost: 0}  // received some of bc2's deliveries
	bc2.Verify = results.Verify{Sent: 10, Received: 69, Lost: 11} // and bc2 some of bc1's
	bc1.Merge(bc2)
	if bc1.Verify.Lost != 1 {
		t.Errorf("broadcast shards: lost %d over the merge, want 160 - 159 = 1", bc1.Verify.Lost)
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

// Two shards of one open-loop load, started for one instant against one server, measure the
// same window and merge into the whole load's result.
func TestLoadShards(t *testing.T) {
	addr := startAppServer(t, "framed", apps.Options{})
	start := time.Now().Add(300 * time.Millisecond)
	shard := func(base uint32) LoadConfig {
		return LoadConfig{Target: addr, Proto: proto.Framed, Conns: 4, Size: 64, Rate: 2000, SrcBase: base,
			StartAt: start, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, ClientBackend: "netstd"}
	}
	var wg sync.WaitGroup
	res := make([]*LoadResult, 2)
	errs := make([]error, 2)
	for i := range res {
		wg.Add(1)
		go func() { defer wg.Done(); res[i], errs[i] = Load(context.Background(), shard(uint32(4*i))) }()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || !res[i].OK() || res[i].Msgs == 0 {
			t.Fatalf("shard %d: %v %+v", i, err, res[i])
		}
	}
	if d := res[0].Intervals[0].StartTimeMs() - res[1].Intervals[0].StartTimeMs(); d < -20 || d > 20 {
		t.Fatalf("the shards' windows start %d ms apart", d)
	}
	if from := res[0].Intervals[0].StartTimeMs(); from < start.UnixMilli() {
		t.Fatalf("window started %d ms before StartAt", start.UnixMilli()-from)
	}
	total := res[0].Msgs + res[1].Msgs
	res[0].Merge(res[1])
	if res[0].Msgs != total || uint64(res[0].Hist.TotalCount()) != total || res[0].Connected != 8 || !res[0].OK() {
		t.Fatalf("merged: msgs %d (want %d) samples %d connected %d verify %+v", res[0].Msgs, total, res[0].Hist.TotalCount(), res[0].Connected, res[0].Verify)
	}
}
