package models_test

import (
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/iobench/iobench/models"
)

func newPool(tb testing.TB, n int) *models.SessionPool {
	tb.Helper()
	p, err := models.NewSessionPool(n)
	if err != nil {
		tb.Fatalf("NewSessionPool(%d): %v", n, err)
	}
	return p
}

func TestSessionPool(t *testing.T) {
	// Each step: "a" acquires and expects want (-1 = exhausted), "r" releases slot.
	type step struct {
		op   byte
		slot int
	}
	for _, tc := range []struct {
		name  string
		cap   int
		steps []step
		live  int
		alive []int
	}{
		{"fresh pool hands out slots in order", 3,
			[]step{{'a', 0}, {'a', 1}, {'a', 2}}, 3, []int{0, 1, 2}},
		{"exhausted pool refuses", 2,
			[]step{{'a', 0}, {'a', 1}, {'a', -1}, {'a', -1}}, 2, []int{0, 1}},
		{"released slots are reused last, in release order (circular)", 3,
			[]step{{'a', 0}, {'a', 1}, {'a', 2}, {'r', 1}, {'r', 0}, {'a', 1}, {'a', 0}, {'a', -1}}, 3, []int{0, 1, 2}},
		{"free slots queued before a release come first", 3,
			[]step{{'a', 0}, {'r', 0}, {'a', 1}, {'a', 2}, {'a', 0}}, 3, []int{0, 1, 2}},
		{"wraps around many times", 2,
			[]step{{'a', 0}, {'r', 0}, {'a', 1}, {'r', 1}, {'a', 0}, {'r', 0}, {'a', 1}, {'r', 1}, {'a', 0}}, 1, []int{0}},
		{"release after exhaustion serves again", 1,
			[]step{{'a', 0}, {'a', -1}, {'r', 0}, {'a', 0}}, 1, []int{0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, tc.cap)
			if p.Cap() != tc.cap {
				t.Fatalf("Cap() = %d, want %d", p.Cap(), tc.cap)
			}
			for i, s := range tc.steps {
				switch s.op {
				case 'a':
					slot, ok := p.Acquire()
					if want := s.slot >= 0; ok != want || (ok && slot != s.slot) {
						t.Fatalf("step %d: Acquire() = %d, %v; want %d, %v", i, slot, ok, s.slot, want)
					}
				case 'r':
					p.Release(s.slot)
				}
			}
			if p.Live() != tc.live {
				t.Errorf("Live() = %d, want %d", p.Live(), tc.live)
			}
			if got := p.Alive(); !slices.Equal(got, tc.alive) {
				t.Errorf("Alive() = %v, want %v", got, tc.alive)
			}
		})
	}
}

func TestSessionPoolReleasePanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(p *models.SessionPool)
	}{
		{"double release", func(p *models.SessionPool) { s, _ := p.Acquire(); p.Release(s); p.Release(s) }},
		{"release never acquired", func(p *models.SessionPool) { p.Release(1) }},
		{"release out of range", func(p *models.SessionPool) { p.Release(99) }},
		{"release negative", func(p *models.SessionPool) { p.Release(-1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newPool(t, 2)
			defer func() {
				if recover() == nil {
					t.Fatal("no panic: one session could be handed to two connections")
				}
			}()
			tc.do(p)
		})
	}
}

func TestNewSessionPoolBadCapacity(t *testing.T) {
	for _, n := range []int{0, -1, 1<<30 + 1} {
		t.Run("", func(t *testing.T) {
			if _, err := models.NewSessionPool(n); !errors.Is(err, models.ErrBadConfig) {
				t.Errorf("NewSessionPool(%d) = %v, want ErrBadConfig", n, err)
			}
		})
	}
}

// TestSessionPoolConcurrent: no slot is ever held by two goroutines, and everything comes back.
func TestSessionPoolConcurrent(t *testing.T) {
	const capacity, workers, rounds = 8, 16, 2000
	p := newPool(t, capacity)
	var owners [capacity]atomic.Int32
	var refused atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				slot, ok := p.Acquire()
				if !ok {
					refused.Add(1)
					continue
				}
				if !owners[slot].CompareAndSwap(0, int32(w+1)) {
					t.Errorf("slot %d acquired while held by worker %d", slot, owners[slot].Load()-1)
				}
				owners[slot].Store(0)
				p.Release(slot)
			}
		}()
	}
	wg.Wait()
	if p.Live() != 0 || len(p.Alive()) != 0 {
		t.Errorf("after all releases Live() = %d, Alive() = %v", p.Live(), p.Alive())
	}
	for i := range capacity {
		if slot, ok := p.Acquire(); !ok {
			t.Fatalf("acquire %d of %d after the run failed: slots lost", i, capacity)
		} else if owners[slot].Load() != 0 {
			t.Fatalf("slot %d still owned", slot)
		}
	}
	if _, ok := p.Acquire(); ok {
		t.Error("pool handed out more than its capacity")
	}
	t.Logf("%d refusals under contention", refused.Load())
}
