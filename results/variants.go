package results

import "math"

// The logging and crypto scenarios measure an app variant beside its plain counterpart: the
// same framed workload on the same backend, in the same rounds, at the same offered rates (one
// common capacity over both apps and every label), once with the variant's app (a log line
// per message; AES-GCM per frame) and once with plain framed. Both results carry the variant's
// Scenario; Proto tells them apart. These are the pairing rules the report uses.

// VariantPlainProto is the app (Result.Proto) of the plain counterpart of every variant.
const VariantPlainProto = "framed"

// Variants maps a variant scenario to its variant app (Result.Proto).
var Variants = map[string]string{ScenarioLogging: "logging", ScenarioCrypto: "crypto"}

// LogCounts are the server log's counters over one load (models.LogStats deltas): every
// message the server received is one line offered (Appended); a line is written or dropped
// and counted (the bounded queue never blocks the network path).
type LogCounts struct {
	Appended uint64 `json:"appended"`
	Written  uint64 `json:"written"`
	Dropped  uint64 `json:"dropped"`
}

// IsVariant reports whether r is the variant side of a variant scenario.
func IsVariant(r *Result) bool {
	app, ok := Variants[r.Scenario]
	return ok && r.Proto == app
}

// PlainKey is the workload key of the plain counterpart of variant result r; ok false when r
// is not a variant.
func PlainKey(r *Result) (Key, bool) {
	if !IsVariant(r) {
		return Key{}, false
	}
	k := r.Key()
	k.Proto = VariantPlainProto
	return k, true
}

// VariantPair is one label's variant and plain result at one point (the same key but Proto).
type VariantPair struct {
	Label          string
	Variant, Plain *Result
}

// VariantPairs pairs every variant result of run with its plain counterpart (same label, same
// key but Proto), in the order of the run's results. A variant without its plain counterpart
// is left out (it cannot be compared).
func VariantPairs(run *Run) []VariantPair {
	type k struct {
		label string
		key   Key
	}
	plain := map[k]*Result{}
	for i := range run.Results {
		r := &run.Results[i]
		if _, ok := Variants[r.Scenario]; ok && r.Proto == VariantPlainProto {
			plain[k{r.Name(), r.Key()}] = r
		}
	}
	var out []VariantPair
	for i := range run.Results {
		r := &run.Results[i]
		pk, ok := PlainKey(r)
		if !ok || r.Skipped != "" {
			continue
		}
		if p := plain[k{r.Name(), pk}]; p != nil && p.Skipped == "" {
			out = append(out, VariantPair{Label: r.Name(), Variant: r, Plain: p})
		}
	}
	return out
}

// VariantDelta is what a variant adds to its plain counterpart for one metric: the medians,
// the relative change (variant − plain)/|plain| and its judgement by the A/A rule (the A/A
// twin's own plain-vs-twin spread at that point). OK is false when either side could not be
// compared (failed, saturated, too few samples, not measured).
type VariantDelta struct {
	Plain, Variant float64
	Rel            float64
	OK             bool
	Judgement
}

// Added is Variant − Plain (e.g. the server CPU ns a log line or a seal costs per message).
func (d VariantDelta) Added() float64 { return d.Variant - d.Plain }

// CompareVariant compares metric m of p's variant against its plain counterpart; aa is the
// calibration at that point (nil: p ≥ Alpha is the only rule) and adj corrects the test for
// the run's other variant tests (nil: uncorrected; the report corrects them together, Holm).
func CompareVariant(p VariantPair, m Metric, aa *AA, adj Adjuster) VariantDelta {
	v, b := CandidateOf(p.Variant, m), CandidateOf(p.Plain, m)
	v.AA, b.AA = false, false // the twin's own pair is compared like any label's
	d := VariantDelta{Plain: b.Median, Variant: v.Median}
	rel, j, ok := Pairwise(v, b, aa, adj)
	d.Rel, d.Judgement, d.OK = rel, j, ok
	if !ok {
		d.Rel = math.NaN()
		d.Why = notComparable("variant", v) + notComparable("plain", b)
	}
	return d
}

// VariantAA is the A/A calibration of metric m for the variant comparison at the key of
// plain result of pair p: the A/A twin's plain result against its base's at the same key.
// nil when the run has no twin measured there.
func VariantAA(run *Run, p VariantPair, m Metric) *AA {
	key := p.Plain.Key()
	var base, twin *Result
	for i := range run.Results {
		r := &run.Results[i]
		if r.Key() != key || r.Skipped != "" {
			continue
		}
		if b := AATwinOf(r.Name()); b != "" {
			twin = r
			for j := range run.Results {
				if q := &run.Results[j]; q.Name() == b && q.Key() == key {
					base = q
				}
			}
		}
	}
	if base == nil || twin == nil {
		return nil
	}
	return Calibrate([]Candidate{CandidateOf(base, m)}, []Candidate{CandidateOf(twin, m)}, nil)
}

// sumLog is the log counters summed over the repetitions that have them (nil: none).
func sumLog(reps []Rep) *LogCounts {
	var s *LogCounts
	for i := range reps {
		if l := reps[i].Log; l != nil {
			if s == nil {
				s = &LogCounts{}
			}
			s.Appended += l.Appended
			s.Written += l.Written
			s.Dropped += l.Dropped
		}
	}
	return s
}

// notComparable says why side c cannot be compared ("" when it can).
func notComparable(side string, c Candidate) string {
	switch {
	case c.Excluded != "":
		return side + ": " + c.Excluded + "; "
	case c.Saturated:
		return side + ": saturated; "
	}
	return ""
}
