package proto

import (
	"reflect"
	"testing"
	"time"
)

func TestClassifyUnanswered(t *testing.T) {
	for _, tc := range []struct {
		name     string
		up, down int64
		sent     []int64
		kills    []int64
		want     Unanswered
	}{
		{"killed", 0, 100, []int64{10, 40, 49, 50, 60, 99}, []int64{50}, Unanswered{InFlight: 3, AfterKill: 3}},
		{"kill_at_down", 0, 100, []int64{10, 99}, []int64{100}, Unanswered{InFlight: 2}},
		{"kill_at_up", 50, 100, []int64{50, 60}, []int64{50}, Unanswered{AfterKill: 2}},
		{"ended_before_kill", 0, 40, []int64{10, 30}, []int64{50}, Unanswered{Lost: 2}},
		{"up_after_kill", 60, 100, []int64{70}, []int64{50}, Unanswered{Lost: 1}},
		{"no_kill", 0, 100, []int64{1, 2, 3}, nil, Unanswered{Lost: 3}},
		{"first_kill_counts", 0, 100, []int64{20, 40, 80}, []int64{70, 30}, Unanswered{InFlight: 1, AfterKill: 2}},
		{"sent_outside_session", 10, 100, []int64{5, 20, 101, 150}, []int64{50}, Unanswered{InFlight: 1, Lost: 3}},
		// A coarse clock (Windows, Wine) stamps a send and the session's end in one step.
		{"sent_at_down", 10, 100, []int64{100}, []int64{50}, Unanswered{AfterKill: 1}},
		{"sent_at_down_no_kill", 10, 100, []int64{100}, nil, Unanswered{Lost: 1}},
		{"nothing_unanswered", 0, 100, nil, []int64{50}, Unanswered{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ClassifyUnanswered(tc.up, tc.down, tc.sent, tc.kills); got != tc.want {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestLedger plays three connections through a kill at 50 and reconnects: one in flight at
// the kill, reconnected at 80 with one message unanswered after the drain (lost); one that
// ended before the kill with a message unanswered (lost) and came back at 70; one never back.
func TestLedger(t *testing.T) {
	kills := []int64{50}
	var a, b, c Ledger
	a.Up(0)
	a.Down(55, []int64{20, 45, 52})
	a.Up(80)
	b.Up(0)
	b.Down(30, []int64{25})
	b.Up(70)
	b.Down(90, nil) // ended later with nothing owed: nothing stored
	c.Up(5)
	c.Down(51, []int64{49})

	for _, tc := range []struct {
		name string
		l    *Ledger
		live []int64
		want Unanswered
	}{
		{"a", &a, []int64{90}, Unanswered{InFlight: 2, AfterKill: 1, Lost: 1}},
		{"b", &b, nil, Unanswered{Lost: 1}},
		{"c", &c, nil, Unanswered{InFlight: 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.Tally(kills, tc.live); got != tc.want {
				t.Fatalf("Tally = %+v, want %+v", got, tc.want)
			}
		})
	}
	if got := a.Tally(kills, nil).Add(b.Tally(kills, nil)).Add(c.Tally(kills, nil)); got != (Unanswered{InFlight: 3, AfterKill: 1, Lost: 1}) {
		t.Errorf("sum %+v", got)
	}
	// LostSessions names exactly the messages Tally counts lost.
	for _, tc := range []struct {
		name string
		l    *Ledger
		live []int64
		want []LostSession
	}{
		{"a", &a, []int64{90}, []LostSession{{Up: 80, Open: true, Sent: []int64{90}}}},
		{"b", &b, nil, []LostSession{{Up: 0, Down: 30, Sent: []int64{25}}}},
		{"c", &c, nil, nil},
	} {
		t.Run("lost_"+tc.name, func(t *testing.T) {
			got := tc.l.LostSessions(kills, tc.live)
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("LostSessions = %+v, want %+v", got, tc.want)
			}
			n := 0
			for _, s := range got {
				n += len(s.Sent)
			}
			if lost := tc.l.Tally(kills, tc.live).Lost; uint64(n) != lost {
				t.Errorf("LostSessions hold %d messages, Tally counts %d lost", n, lost)
			}
		})
	}
	if u, ok := a.FirstUpAfter(50); !ok || u != 80 {
		t.Errorf("a.FirstUpAfter(50) = %d, %v; want 80", u, ok)
	}
	if _, ok := c.FirstUpAfter(50); ok {
		t.Error("c never came back, FirstUpAfter says it did")
	}
	first, last, back := Recovery(50, []*Ledger{&a, &b, &c})
	if first != 20*time.Nanosecond || last != 30*time.Nanosecond || back != 2 {
		t.Errorf("Recovery = %v, %v, %d; want 20ns, 30ns, 2", first, last, back)
	}
	if first, last, back := Recovery(100, []*Ledger{&a, &b, &c}); first != 0 || last != 0 || back != 0 {
		t.Errorf("Recovery after every up = %v, %v, %d; want zeros", first, last, back)
	}
	var d Ledger // a Down without an Up (a connection whose OnConnect was not recorded)
	d.Down(60, []int64{10})
	if got := d.Tally(kills, nil); got != (Unanswered{InFlight: 1}) {
		t.Errorf("Down without Up: %+v", got)
	}
}
