package results

import (
	"math"
	"sort"
)

// Machine speed. The same machine ran pingpong at 140 k msgs/s one day and 55 k another, same
// code: absolute figures of two runs compare only if the machine ran at the same speed. The
// harness measures two fixed probes before and after every round of interleaved repetitions
// (harness/doc.go describes them): a CPU-bound loop of a fixed number of iterations, and a
// fixed count of loopback TCP ping-pongs. Each gives a time; the speed index turns the pair
// into one number.
//
// Speed index (higher = faster):
//
//	index = 100 · √( (SpeedRefCPULoopNs / cpuLoopNs) · (SpeedRefPingPongNs / pingPongNs) )
//
// the geometric mean of the two speed ratios against fixed reference times, so a machine
// twice as fast at both scores twice as high, and either probe halving moves it by √2. The
// reference times are constants (roughly this project's 2-core development VM), so only
// ratios between runs mean anything. A round's index uses the geometric mean of its before
// and after times; the run's index is the median of its rounds'.

// Reference times of the speed index, ns.
const (
	SpeedRefCPULoopNs  = 10e6
	SpeedRefPingPongNs = 25e3
)

// SpeedDriftLimit is the largest relative change of either probe between the start and the
// end of a round for its repetitions to count as measured on one machine speed.
const SpeedDriftLimit = 0.10

// SpeedIndexOf is the speed index of one pair of probe times (see the formula above); 0 when
// either is not positive.
func SpeedIndexOf(cpuLoopNs, pingPongNs float64) float64 {
	if !(cpuLoopNs > 0 && pingPongNs > 0) {
		return 0
	}
	return 100 * math.Sqrt(SpeedRefCPULoopNs/cpuLoopNs*SpeedRefPingPongNs/pingPongNs)
}

// NewCalibration combines a round's probes taken before and after it: its index from the
// geometric means, its drift as the larger relative change |after − before| / before of the
// two probes, Drifted when that exceeds SpeedDriftLimit.
func NewCalibration(round int, cpuBefore, cpuAfter, ppBefore, ppAfter float64) Calibration {
	c := Calibration{Round: round, CPULoopNsBefore: cpuBefore, CPULoopNsAfter: cpuAfter,
		PingPongNsBefore: ppBefore, PingPongNsAfter: ppAfter}
	c.Index = SpeedIndexOf(math.Sqrt(cpuBefore*cpuAfter), math.Sqrt(ppBefore*ppAfter))
	rel := func(b, a float64) float64 {
		if b <= 0 {
			return 0
		}
		return math.Abs(a-b) / b
	}
	c.Drift = math.Max(rel(cpuBefore, cpuAfter), rel(ppBefore, ppAfter))
	c.Drifted = c.Drift > SpeedDriftLimit
	return c
}

// NewSpeed is a run's speed: its rounds and the median of their indices (nil without rounds).
func NewSpeed(rounds []Calibration) *Speed {
	if len(rounds) == 0 {
		return nil
	}
	xs := make([]float64, len(rounds))
	for i, r := range rounds {
		xs[i] = r.Index
	}
	sort.Float64s(xs)
	return &Speed{Index: Median(xs), Rounds: rounds}
}
