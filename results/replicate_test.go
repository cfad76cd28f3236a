package results

import (
	"strings"
	"testing"
)

func TestConfirm(t *testing.T) {
	cand := func(label string, vs ...float64) Candidate {
		return Candidate{Label: label, Median: Median(vs), Values: vs}
	}
	low := []float64{10, 11, 12, 13, 14}  // the claimed winner's CPU (lower is better)
	high := []float64{20, 21, 22, 23, 24} // the runner-up's: no overlap, p = 0.008
	sat := cand("epoll", high...)
	sat.Saturated = true
	aaQuiet := &AA{Points: []AAPoint{{Present: true, Rel: 0.05}}, Spread: 0.05}
	aaWide := &AA{Points: []AAPoint{{Present: true, Rel: 0.9}}, Spread: 0.9}
	aaNoisy := &AA{Points: []AAPoint{{Present: true, Rel: 0.3}}, Spread: 0.3, Noisy: true, NoisyAt: []int{0}}
	cases := []struct {
		name string
		cs   []Candidate
		aa   *AA
		want bool
		why  string
	}{
		{"confirms", []Candidate{cand("uring", low...), cand("epoll", high...)}, aaQuiet, true, ""},
		{"confirms without an A/A pair", []Candidate{cand("uring", low...), cand("epoll", high...)}, nil, true, ""},
		{"another label is best here", []Candidate{cand("uring", low...), cand("epoll", high...), cand("gnet", 1, 2, 3, 4, 5)}, nil, false, "gnet is best here"},
		{"the claimed winner is worse here", []Candidate{cand("uring", high...), cand("epoll", low...)}, nil, false, "epoll is best here"},
		{"equal medians", []Candidate{cand("uring", 10, 20, 20, 20, 30), cand("epoll", 19, 20, 20, 20, 21)}, nil, false, "p ≥ 0.05"},
		{"runner-up saturated here", []Candidate{cand("uring", low...), sat}, nil, false, "not both ranked"},
		{"within the A/A spread", []Candidate{cand("uring", low...), cand("epoll", high...)}, aaWide, false, "within the A/A spread"},
		{"A/A pair noisy", []Candidate{cand("uring", low...), cand("epoll", high...)}, aaNoisy, false, "too noisy"},
		{"p ≥ 0.05", []Candidate{cand("uring", 10, 11, 22, 13, 14), cand("epoll", 20, 12, 21, 23, 24)}, nil, false, "p ≥ 0.05"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cf := Confirm(MetricServerCPU, c.cs, c.aa, "uring", "epoll")
			JudgeConfirmations([]*Confirmation{cf})
			if got := cf.Confirms(); got != c.want {
				t.Fatalf("Confirms = %v (%s), want %v", got, cf.Text(), c.want)
			}
			if !c.want && !strings.Contains(cf.Text(), c.why) {
				t.Errorf("text %q does not say %q", cf.Text(), c.why)
			}
			if c.want && !strings.HasPrefix(cf.Text(), "confirms uring vs epoll") {
				t.Errorf("text %q", cf.Text())
			}
		})
	}
	t.Run("corrected over the confirmations asked", func(t *testing.T) {
		// 4 against 4 with no overlap: p = 0.029, confirmed alone; beside another claim's
		// test (p = 1) Holm makes it 0.057: not confirmed.
		mk := func() *Confirmation {
			return Confirm(MetricServerCPU, []Candidate{cand("uring", 1, 2, 3, 4), cand("epoll", 5, 6, 7, 8)}, nil, "uring", "epoll")
		}
		alone := mk()
		JudgeConfirmations([]*Confirmation{alone})
		if !alone.Confirms() {
			t.Fatalf("alone: %s", alone.Text())
		}
		two, other := mk(), Confirm(MetricServerCPU, []Candidate{cand("uring", 1, 2, 3, 4), cand("epoll", 1, 2, 3, 4)}, nil, "uring", "epoll")
		JudgeConfirmations([]*Confirmation{two, other, nil})
		if two.Confirms() || two.U.FamilySize != 2 || !strings.Contains(two.Text(), "over the 2 confirmations") {
			t.Fatalf("with a second confirmation: %s (family %d)", two.Text(), two.U.FamilySize)
		}
	})
	t.Run("higher is better", func(t *testing.T) {
		cf := Confirm(MetricMsgsPerSec, []Candidate{cand("uring", high...), cand("epoll", low...)}, nil, "uring", "epoll")
		JudgeConfirmations([]*Confirmation{cf})
		if !cf.Confirms() {
			t.Fatalf("throughput: %s", cf.Text())
		}
	})
}
