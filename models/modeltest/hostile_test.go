package modeltest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSpinCheck: the mid-frame cases' spin check rejects a full core's worth of CPU and
// accepts an idle process's, and the process CPU clock it reads advances while goroutines
// spin (so the check is not vacuous on this platform: under Wine too).
func TestSpinCheck(t *testing.T) {
	if spinError(spinWindow) == nil || spinError(spinBudget+time.Millisecond) == nil {
		t.Error("spinError accepts a process that used more than its budget")
	}
	if err := spinError(spinBudget / 10); err != nil {
		t.Errorf("spinError rejects an idle process: %v", err)
	}
	c0, ok := processCPU()
	if !ok {
		t.Skip("no process CPU time on this platform: the spin check is skipped there")
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; !stop.Load(); n++ {
			}
		}()
	}
	defer func() { stop.Store(true); wg.Wait() }()
	const want = 100 * time.Millisecond
	deadline := time.Now().Add(waitTimeout)
	for {
		c1, _ := processCPU()
		if c1-c0 >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process CPU time advanced %v in %v with two goroutines spinning: the clock does not measure this process", c1-c0, waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
