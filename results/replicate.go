package results

import (
	"fmt"
	"sort"
)

// This file holds the rule by which one run confirms a verdict another run of the same machine
// called significant. A run's verdicts are discoveries: each is one of the run's ~50 tests,
// corrected together (Holm), so a real but moderate difference (say −15 % context switches per
// message) can clear that bar in one run and miss it in the next (raw p 0.005 against a
// corrected threshold near 0.001). Asking the second run to rediscover it among its own 50
// tests is the wrong question: the first run already named the claim ("netpoll below epoll,
// pingpong at 40 %"), so the second run tests that one named pair, as a replication study
// tests the findings of a discovery study (same direction, p < α corrected only over the
// claims being replicated; NCI-NHGRI Working Group on Replication in Association Studies
// (2007): "Replicating genotype–phenotype associations", Nature 447, 655–660). A run confirms
// a claim when, at the same point, the claimed winner is its best too, the difference has the
// claimed sign, and the Mann–Whitney test of the same two labels, Holm-corrected over every
// confirmation of the comparison, passes the A/A rule of that run (Judge). A run that fails
// any of these leaves the verdict "one significant, one not": not one to act on.

// Confirmation is one run's test of a claim made significantly by another run: that Winner
// is better than Runner on Metric at the same point.
type Confirmation struct {
	Metric         Metric
	Winner, Runner string
	Tested         bool    // both labels were ranked at this point in this run
	Best           string  // this run's best ranked label at the point
	Rel            float64 // (winner − runner)/|runner| in this run
	U              UTest   // winner against runner; corrected by JudgeConfirmations
	Judgement
	aa *AA
}

// Confirm sets up the test in one run (its candidates cs at the point and its A/A calibration
// aa of the metric, nil when none) of the claim that winner beats runner on m. It is judged
// only together with the comparison's other confirmations (JudgeConfirmations).
func Confirm(m Metric, cs []Candidate, aa *AA, winner, runner string) *Confirmation {
	c := &Confirmation{Metric: m, Winner: winner, Runner: runner, aa: aa}
	var w, r *Candidate
	var ranked []Candidate
	for i := range cs {
		if !cs[i].Ranked() || cs[i].Label == "" {
			continue
		}
		ranked = append(ranked, cs[i])
		switch cs[i].Label {
		case winner:
			w = &cs[i]
		case runner:
			r = &cs[i]
		}
	}
	sort.SliceStable(ranked, func(i, j int) bool { return better(m, ranked[i].Median, ranked[j].Median) })
	if len(ranked) > 0 {
		c.Best = ranked[0].Label
	}
	if w == nil || r == nil {
		c.Why = "not both ranked here"
		return c
	}
	c.Tested = true
	c.Rel = relDiff(w.Median, r.Median)
	c.U = MannWhitneyU(w.Values, r.Values)
	return c
}

// JudgeConfirmations corrects the tested confirmations of one comparison together (Holm over
// their p) and judges each (Confirms). The family is only the claims being replicated, not
// the run's other tests: each is a single question named in advance by another run.
func JudgeConfirmations(cs []*Confirmation) {
	var tested []*Confirmation
	var ps []float64
	for _, c := range cs {
		if c != nil && c.Tested {
			tested = append(tested, c)
			ps = append(ps, c.U.P)
		}
	}
	for i, a := range Holm(ps) {
		c := tested[i]
		c.U.PAdj, c.U.Adjusted, c.U.FamilySize = a, true, len(tested)
		c.Judgement = Judge(c.U, c.Rel, c.aa)
		switch {
		case !c.Significant && c.U.P < Alpha && c.U.PAdj >= Alpha && !c.Within:
			c.Why = fmt.Sprintf("p=%.3f, but %.3f corrected over the %d confirmations (Holm) ≥ %.2f", c.U.P, c.U.PAdj, len(tested), Alpha)
		case !c.Significant:
		case c.Best != c.Winner:
			c.Judgement = Judgement{Why: fmt.Sprintf("%s is best here, not %s", c.Best, c.Winner)}
		case !c.favours():
			c.Judgement = Judgement{Why: "the difference has the other sign here"}
		}
	}
}

// Confirms reports whether this run confirms the claim (after JudgeConfirmations).
func (c *Confirmation) Confirms() bool {
	return c != nil && c.Tested && c.Significant && c.Best == c.Winner && c.favours()
}

// favours reports whether the difference here has the claimed sign.
func (c *Confirmation) favours() bool { return better(c.Metric, c.Rel, 0) }

// Text is the confirmation as a report cell adds it.
func (c *Confirmation) Text() string {
	claim := fmt.Sprintf("%s vs %s", c.Winner, c.Runner)
	if !c.Tested {
		return "does not confirm " + claim + ": " + c.Why
	}
	stat := fmt.Sprintf("%+.1f %%, p=%.3f", 100*c.Rel, c.U.P)
	if c.U.Adjusted && c.U.FamilySize > 1 {
		stat += fmt.Sprintf(", Holm %.3f over %d confirmations", c.U.PAdj, c.U.FamilySize)
	}
	if c.Confirms() {
		return fmt.Sprintf("confirms %s (%s)", claim, stat)
	}
	return fmt.Sprintf("does not confirm %s (%s): %s", claim, stat, c.Why)
}
