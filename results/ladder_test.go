package results

import (
	"math"
	"testing"
)

func TestIsSaturated(t *testing.T) {
	for _, tc := range []struct {
		name                    string
		offered, achieved, errs float64
		want                    bool
	}{
		{"sustained", 10000, 9990, 0, false},
		{"exactly 95 %", 10000, 9500, 0, false},
		{"just below 95 %", 10000, 9499, 0, true},
		{"far below", 10000, 4000, 0, true},
		{"errors saturate whatever the rate", 10000, 10000, 1, true},
		{"nothing measured", 10000, math.NaN(), 0, true},
		{"closed loop is never saturated", 0, 5000, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := IsSaturated(tc.offered, tc.achieved, tc.errs); got != tc.want {
				t.Fatalf("IsSaturated(%v, %v, %v) = %v, want %v", tc.offered, tc.achieved, tc.errs, got, tc.want)
			}
		})
	}
}

func TestLadderRates(t *testing.T) {
	got, err := LadderRates(123456, DefaultLadder)
	if err != nil {
		t.Fatal(err)
	}
	want := []float64{24700, 49400, 74100, 98800} // 0.2..0.8 × 123456, 3 significant digits
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("LadderRates = %v, want %v", got, want)
		}
	}
	for _, tc := range []struct {
		name      string
		capacity  float64
		fractions []float64
	}{
		{"no capacity", 0, DefaultLadder},
		{"infinite capacity", math.Inf(1), DefaultLadder},
		{"empty ladder", 1000, nil},
		{"not increasing", 1000, []float64{0.4, 0.2}},
		{"repeated", 1000, []float64{0.2, 0.2}},
		{"zero fraction", 1000, []float64{0, 0.5}},
		{"beyond the bound", 1000, []float64{0.5, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LadderRates(tc.capacity, tc.fractions); err == nil {
				t.Fatalf("LadderRates(%v, %v) accepted", tc.capacity, tc.fractions)
			}
		})
	}
}

func TestCommonCapacity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		per     map[string]float64
		client  float64
		rate    float64
		limited string
		err     bool
	}{
		{"slowest backend", map[string]float64{"epoll": 120e3, "netstd": 90e3, "netstd#aa": 95e3}, 0, 90e3, "netstd", false},
		{"load generator below every backend", map[string]float64{"epoll": 120e3, "netstd": 90e3}, 80e3, 80e3, LimitedByClient, false},
		{"a tie goes to the client", map[string]float64{"epoll": 80e3}, 80e3, 80e3, LimitedByClient, false},
		{"a tie between labels goes to the first name", map[string]float64{"uring": 80e3, "epoll": 80e3}, 0, 80e3, "epoll", false},
		{"unprobed labels are ignored", map[string]float64{"epoll": 0, "gnet": 70e3}, 0, 70e3, "gnet", false},
		{"nothing probed", map[string]float64{"epoll": 0}, 0, 0, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rate, by, err := CommonCapacity(tc.per, tc.client)
			if (err != nil) != tc.err || rate != tc.rate || by != tc.limited {
				t.Fatalf("CommonCapacity = %v, %q, %v; want %v, %q, err %v", rate, by, err, tc.rate, tc.limited, tc.err)
			}
		})
	}
}
