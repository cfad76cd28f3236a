package harness

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// label is one compared series of a run: a backend under its name, or the same backend again
// as its A/A twin ("netstd#aa"), measured exactly like any other label (its own server
// processes, interleaved with the rest) so that the difference between the two says how far
// this machine moves a figure between two labels that are the same.
type label struct {
	Name    string // results.Result.Label
	Backend string
	// App and Proto, when set, replace the workload's (the plain side of a variant scenario).
	App   string
	Proto proto.Name
}

// AANone disables the A/A twin (--aa none).
const AANone = "none"

// planLabels turns --backends and --aa into the run's labels: names lists backends and
// explicit twins ("x#aa", which needs x listed too); aa names the backend to twin ("" picks
// one: netstd when it runs here, else the first available; AANone: no twin). Unavailable
// backends are returned apart with their reason; they are recorded as skipped.
func planLabels(names []string, aa string) (run []label, skipped []label, reasons map[string]string, err error) {
	if len(names) == 0 {
		names = models.Names()
	}
	reasons = map[string]string{}
	seen := map[string]bool{}
	var twins []string
	for _, n := range names {
		if seen[n] {
			return nil, nil, nil, cli.Usagef("--backends lists %s twice: to measure a backend against itself, list its A/A twin %s%s (one backend under two labels, interleaved like the rest)", n, strings.TrimSuffix(n, results.AASuffix), results.AASuffix)
		}
		seen[n] = true
		if b, ok := strings.CutSuffix(n, results.AASuffix); ok {
			twins = append(twins, b)
			continue
		}
		b, err := models.Lookup(n)
		if err != nil {
			return nil, nil, nil, cli.Usage(err)
		}
		if err := b.Available(); err != nil {
			skipped = append(skipped, label{Name: n, Backend: n})
			reasons[n] = err.Error()
			continue
		}
		run = append(run, label{Name: n, Backend: n})
	}
	has := func(b string) bool {
		for _, l := range run {
			if l.Backend == b {
				return true
			}
		}
		return false
	}
	switch {
	case len(twins) > 1:
		return nil, nil, nil, cli.Usagef("--backends lists %d A/A twins (%s): one is the calibration", len(twins), strings.Join(twins, ", "))
	case len(twins) == 1:
		if aa != "" && aa != twins[0] {
			return nil, nil, nil, cli.Usagef("--aa %s contradicts %s%s in --backends", aa, twins[0], results.AASuffix)
		}
		aa = twins[0]
		if !seen[aa] {
			return nil, nil, nil, cli.Usagef("%s%s is the A/A twin of %s: list %s in --backends too", aa, results.AASuffix, aa, aa)
		}
	case aa == AANone:
		return run, skipped, reasons, nil
	case aa == "":
		if has("netstd") {
			aa = "netstd"
		} else if len(run) > 0 {
			aa = run[0].Backend
		}
	}
	if aa == "" || aa == AANone {
		return run, skipped, reasons, nil
	}
	if !has(aa) {
		if _, err := models.Lookup(aa); err != nil {
			return nil, nil, nil, cli.Usagef("--aa: %v", err)
		}
		if r, ok := reasons[aa]; ok {
			skipped = append(skipped, label{Name: aa + results.AASuffix, Backend: aa})
			reasons[aa+results.AASuffix] = r
			return run, skipped, reasons, nil
		}
		return nil, nil, nil, cli.Usagef("--aa %s: not among the measured backends", aa)
	}
	run = append(run, label{Name: aa + results.AASuffix, Backend: aa})
	return run, skipped, reasons, nil
}

// parseLadder reads --ladder: comma-separated fractions of the common capacity.
func parseLadder(s string) ([]float64, error) {
	var out []float64
	for _, f := range splitList(s) {
		v, err := strconv.ParseFloat(f, 64)
		if err != nil || math.IsNaN(v) {
			return nil, fmt.Errorf("--ladder: %q is not a number", f)
		}
		out = append(out, v)
	}
	if err := results.ValidateLadder(out); err != nil {
		return nil, fmt.Errorf("--ladder %s: %w", s, err)
	}
	return out, nil
}

// cell is one measurement of a workload on one server: its own closed- or open-loop load as
// the workload says, a workload's closed-loop capacity (capacity), or a point of its
// equal-load ladder (rate, fraction).
type cell struct {
	rate     float64 // offered msgs/s in the results' units (broadcast: deliveries); 0 closed loop
	fraction float64 // of the common capacity; 0 off the ladder
	capacity bool
}

func (c cell) String() string {
	switch {
	case c.capacity:
		return "capacity (closed loop)"
	case c.fraction > 0:
		return fmt.Sprintf("%.0f%% = %s msgs/s", c.fraction*100, strconv.FormatFloat(c.rate, 'f', -1, 64))
	}
	return ""
}

// rotate returns xs rotated left by k: round k starts with element k mod len, so each label
// (and each ladder point) runs first in some round and drift of the machine spreads evenly.
func rotate[T any](xs []T, k int) []T {
	if len(xs) == 0 {
		return nil
	}
	k %= len(xs)
	return append(append([]T(nil), xs[k:]...), xs[:k]...)
}
