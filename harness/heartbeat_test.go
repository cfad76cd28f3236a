package harness

import (
	"net/netip"
	"testing"
	"time"
)

func TestHeartbeatSchedule(t *testing.T) {
	s := hbSchedule{t0: 1000, period: int64(time.Second), conns: 4}
	if got := []int64{s.phase(0), s.phase(1), s.phase(3)}; got[0] != 0 || got[1] != int64(250*time.Millisecond) || got[2] != int64(750*time.Millisecond) {
		t.Fatalf("phases %v: want the connections spread evenly over the period", got)
	}
	if d := s.due(1, 2); d != 1000+int64(2250*time.Millisecond) {
		t.Fatalf("due(1, 2) = %d", d)
	}
	cases := []struct {
		name     string
		from, to int64
		want     uint64
	}{
		{"one period from t0", 1000, 1000 + int64(time.Second), 4},
		{"three periods", 1000 + int64(500*time.Millisecond), 1000 + int64(3500*time.Millisecond), 12},
		{"before t0", 0, 1000, 0},
		{"empty", 5000, 5000, 0},
		{"half open: a due time at to is outside", 1000, 1000 + int64(250*time.Millisecond), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := s.dueInAll(tc.from, tc.to); got != tc.want {
				t.Fatalf("dueInAll = %d, want %d", got, tc.want)
			}
			// The closed form agrees with walking the schedule.
			var walk uint64
			for j := range s.conns {
				for seq := uint64(0); seq < 10; seq++ {
					if d := s.due(j, seq); d >= tc.from && d < tc.to {
						walk++
					}
				}
			}
			if walk != tc.want {
				t.Fatalf("walking the schedule finds %d", walk)
			}
		})
	}
}

func TestSourceAddrs(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name    string
		target  netip.Addr
		n, per  int
		want    []string
		wantErr bool
	}{
		{"fits one address", lo, 100, 1000, []string{"127.0.0.1"}, false},
		{"spread", lo, 2500, 1000, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}, false},
		{"skips .255 and .0", netip.MustParseAddr("127.0.0.254"), 3, 1, []string{"127.0.0.254", "127.0.1.1", "127.0.1.2"}, false},
		{"not loopback, fits", netip.MustParseAddr("10.0.0.1"), 10, 100, nil, false},
		{"not loopback, too many", netip.MustParseAddr("10.0.0.1"), 1000, 100, nil, true},
		{"bad per-address count", lo, 10, 0, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sourceAddrs(tc.target, tc.n, tc.per)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			for i := range got {
				if got[i].String() != tc.want[i] {
					t.Fatalf("got %v, want %v", got, tc.want)
				}
			}
		})
	}
}
