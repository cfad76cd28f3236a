package harness

import (
	"testing"
	"time"
)

// The pacer is driven by a fake clock: no sockets, no sleeping.
func TestPacer(t *testing.T) {
	t.Run("schedule", func(t *testing.T) {
		p := newPacer(1000, 1) // one message per ms
		for i, want := range []time.Duration{0, time.Millisecond, 2 * time.Millisecond} {
			if got := p.Due(uint64(i)); got != want {
				t.Fatalf("Due(%d) = %v, want %v", i, got, want)
			}
		}
		if w := p.Pace(0, 0); w != 0 {
			t.Fatalf("the first event waits %v", w)
		}
		if w := p.Pace(300*time.Microsecond, 1); w != 700*time.Microsecond {
			t.Fatalf("Pace(300µs, 1) = %v, want 700µs", w)
		}
	})
	t.Run("bursts keep the rate", func(t *testing.T) {
		p := newPacer(8000, 8) // 8 messages per event, one event per ms
		if got := p.Due(3); got != 3*time.Millisecond {
			t.Fatalf("Due(3) = %v, want 3ms", got)
		}
	})
	// A loop as pace runs it, on a clock that advances irregularly and stalls once: it sends
	// exactly the events due by each instant, never one early, and after the stall every
	// overdue event at once, each with its own intended time.
	t.Run("fake clock with a stall", func(t *testing.T) {
		p := newPacer(10000, 1) // 100 µs apart
		var sent uint64
		var late []time.Duration
		steps := []time.Duration{0, 30 * time.Microsecond, 250 * time.Microsecond, 260 * time.Microsecond,
			20 * time.Millisecond /* stall */, 20*time.Millisecond + 50*time.Microsecond, time.Second}
		for _, now := range steps {
			for p.Pace(now, sent) == 0 {
				if d := p.Due(sent); d > now {
					t.Fatalf("event %d due %v sent early at %v", sent, d, now)
				} else {
					late = append(late, now-d)
				}
				sent++
			}
			if want := uint64(now/(100*time.Microsecond)) + 1; sent != want {
				t.Fatalf("at %v: %d events sent, want %d", now, sent, want)
			}
			if w := p.Pace(now, sent); w <= 0 || w > 100*time.Microsecond {
				t.Fatalf("at %v the next event waits %v", now, w)
			}
		}
		// The stall left events 3..199 overdue: the first of them by 19.7 ms.
		var worst time.Duration
		for _, l := range late {
			worst = max(worst, l)
		}
		if worst < 19*time.Millisecond {
			t.Fatalf("largest lag %v: the stall's overdue events were not sent late with their own times", worst)
		}
	})
}
