package results

import (
	"errors"
	"fmt"
	"math"
	"sort"
)

// Equal offered load. In closed loop every backend sets its own offered load, and cost per
// message depends on how many messages each wake-up finds, so a slower backend (or a slower
// day) gets bigger batches and looks cheaper. A comparison that holds is made open loop at
// the same offered rates for every backend: a ladder of fractions of the workload's common
// capacity, the lowest sustainable rate among the compared labels and the load generator.

// DefaultLadder are the offered rates of an equal-load ladder as fractions of the common
// capacity.
var DefaultLadder = []float64{0.2, 0.4, 0.6, 0.8}

// MaxLadderFraction bounds a ladder's fractions: beyond the capacity every point saturates,
// and far beyond it the load generator only builds queues.
const MaxLadderFraction = 1.5

// SustainShare is the saturation rule's threshold: a label that delivers less than 95 % of
// the offered rate did not sustain it.
const SustainShare = 0.95

// IsSaturated is the saturation rule: a label could not sustain an offered rate when it
// achieved less than SustainShare of it, or when the point had errors (failed connections,
// requests that never came back). A saturated point is compared as saturated, never averaged
// in with the sustained ones. offered ≤ 0 (closed loop) is never saturated.
func IsSaturated(offered, achieved, errors float64) bool {
	if !(offered > 0) {
		return false
	}
	return errors > 0 || math.IsNaN(achieved) || achieved < SustainShare*offered
}

// ValidateLadder checks a ladder's fractions: at least one, each in (0, MaxLadderFraction],
// strictly increasing.
func ValidateLadder(fractions []float64) error {
	if len(fractions) == 0 {
		return errors.New("empty ladder")
	}
	for i, f := range fractions {
		if !(f > 0 && f <= MaxLadderFraction) {
			return fmt.Errorf("ladder fraction %v out of (0, %v]", f, MaxLadderFraction)
		}
		if i > 0 && f <= fractions[i-1] {
			return fmt.Errorf("ladder fractions must increase: %v after %v", f, fractions[i-1])
		}
	}
	return nil
}

// LadderRates returns the offered rates of a ladder: capacity × each fraction, rounded to
// three significant digits so that rates read cleanly in tables and benchmark names.
func LadderRates(capacity float64, fractions []float64) ([]float64, error) {
	if !(capacity > 0) || math.IsInf(capacity, 0) {
		return nil, fmt.Errorf("capacity %v must be positive", capacity)
	}
	if err := ValidateLadder(fractions); err != nil {
		return nil, err
	}
	out := make([]float64, len(fractions))
	for i, f := range fractions {
		out[i] = roundSig(capacity*f, 3)
	}
	return out, nil
}

func roundSig(v float64, digits int) float64 {
	if v == 0 {
		return 0
	}
	p := math.Pow(10, float64(digits)-math.Ceil(math.Log10(math.Abs(v))))
	return math.Round(v*p) / p
}

// LimitedByClient is Capacity.LimitedBy when the load generator set the common capacity.
const LimitedByClient = "client"

// CommonCapacity is the lowest of the probed capacities: per label (msgs/s) and the load
// generator's (client; ≤ 0 when not probed). limitedBy names what set it, a label or
// LimitedByClient; ties go to the client, then to the first label by name, so the result is
// deterministic. Labels with a non-positive capacity could not be probed and are ignored.
func CommonCapacity(per map[string]float64, client float64) (rate float64, limitedBy string, err error) {
	names := make([]string, 0, len(per))
	for n := range per {
		names = append(names, n)
	}
	sort.Strings(names)
	rate = math.Inf(1)
	for _, n := range names {
		if v := per[n]; v > 0 && v < rate {
			rate, limitedBy = v, n
		}
	}
	if client > 0 && client <= rate {
		rate, limitedBy = client, LimitedByClient
	}
	if math.IsInf(rate, 1) {
		return 0, "", errors.New("no capacity could be probed")
	}
	return rate, limitedBy, nil
}
