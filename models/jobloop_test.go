package models_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

func TestJobLoop(t *testing.T) {
	for _, tc := range []struct {
		name    string
		posters int
		per     int
	}{
		{"one poster", 1, 1000},
		{"many posters, FIFO in Post order", 8, 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := models.NewJobLoop()
			defer l.Close()
			var orderMu sync.Mutex // makes the order Post returned observable
			next := 0
			var ran []int // only jobs touch it: they run one at a time
			var running, overlap atomic.Int32
			done := make(chan struct{})
			total := tc.posters * tc.per
			var wg sync.WaitGroup
			for range tc.posters {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range tc.per {
						orderMu.Lock()
						seq := next
						next++
						err := l.Post(func() {
							if running.Add(1) != 1 {
								overlap.Add(1)
							}
							ran = append(ran, seq)
							if len(ran) == total {
								close(done)
							}
							running.Add(-1)
						})
						orderMu.Unlock()
						if err != nil {
							t.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatal("jobs did not all run")
			}
			for i, seq := range ran {
				if seq != i {
					t.Fatalf("job %d ran at position %d", seq, i)
				}
			}
			if overlap.Load() != 0 {
				t.Error("jobs overlapped")
			}
		})
	}
}

func TestJobLoopClose(t *testing.T) {
	l := models.NewJobLoop()
	var ran atomic.Int32
	gate := make(chan struct{})
	l.Post(func() { <-gate })
	for range 10 {
		if err := l.Post(func() { ran.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan struct{})
	go func() { l.Close(); close(closed) }()
	close(gate)
	select {
	case <-closed:
	case <-time.After(20 * time.Second):
		t.Fatal("Close hung")
	}
	if n := ran.Load(); n != 10 {
		t.Errorf("%d of 10 queued jobs ran before Close returned", n)
	}
	if err := l.Post(func() { ran.Add(100) }); !errors.Is(err, models.ErrClosed) {
		t.Errorf("Post after Close = %v, want ErrClosed", err)
	}
	l.Close() // idempotent
	if ran.Load() != 10 {
		t.Error("a job posted after Close ran")
	}
	l2 := models.NewJobLoop()
	defer l2.Close()
	if err := l2.Post(nil); !errors.Is(err, models.ErrBadConfig) {
		t.Errorf("Post(nil) = %v, want ErrBadConfig", err)
	}
}
