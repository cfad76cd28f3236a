package deploy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseNetem checks a netem spec of the form tc-netem(8) takes ("delay 20ms [2ms]",
// "loss 0.1%", both in any order) and returns its words for `tc qdisc ... netem`. Only the
// parameters the harness records are accepted, so a typo is an error, not a silent no-op.
func ParseNetem(spec string) ([]string, error) {
	w := strings.Fields(spec)
	if len(w) == 0 {
		return nil, fmt.Errorf("--netem %q: empty spec (want e.g. \"delay 20ms 2ms loss 0.1%%\")", spec)
	}
	seen := map[string]bool{}
	for i := 0; i < len(w); i++ {
		key := w[i]
		if seen[key] {
			return nil, fmt.Errorf("--netem %q: %s given twice", spec, key)
		}
		seen[key] = true
		switch key {
		case "delay":
			if i+1 >= len(w) {
				return nil, fmt.Errorf("--netem %q: delay needs a duration", spec)
			}
			if err := netemDuration(w[i+1]); err != nil {
				return nil, fmt.Errorf("--netem %q: delay: %v", spec, err)
			}
			i++
			if i+1 < len(w) && netemDuration(w[i+1]) == nil { // optional jitter
				i++
			}
		case "loss":
			if i+1 >= len(w) {
				return nil, fmt.Errorf("--netem %q: loss needs a percentage", spec)
			}
			p, err := strconv.ParseFloat(strings.TrimSuffix(w[i+1], "%"), 64)
			if err != nil || !strings.HasSuffix(w[i+1], "%") || p < 0 || p > 100 {
				return nil, fmt.Errorf("--netem %q: loss %q is not a percentage 0%%-100%%", spec, w[i+1])
			}
			i++
		default:
			return nil, fmt.Errorf("--netem %q: unknown parameter %q (want delay D [JITTER], loss P%%)", spec, key)
		}
	}
	return w, nil
}

func netemDuration(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration such as 20ms", s)
	}
	if d < 0 || d > time.Minute {
		return fmt.Errorf("%q out of range 0-1m", s)
	}
	return nil
}
