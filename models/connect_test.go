package models_test

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

func TestStartConnects(t *testing.T) {
	refused := errors.New("refused")
	for _, tc := range []struct {
		name          string
		n, failEvery  int // attempt i fails when failEvery > 0 && i%failEvery == 0
		withRetry     bool
		wantConnected int
		wantErr       error
	}{
		{name: "all connect", n: 8, wantConnected: 8},
		{name: "some fail", n: 8, failEvery: 2, wantConnected: 4, wantErr: refused},
		{name: "all fail, retried", n: 3, failEvery: 1, withRetry: true, wantConnected: 0, wantErr: refused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var wg sync.WaitGroup
			var spawned, attempts, retries atomic.Int32
			spawn := func(f func()) {
				spawned.Add(1)
				wg.Add(1)
				go func() { defer wg.Done(); f() }()
			}
			attempt := func() error {
				if i := int(attempts.Add(1)); tc.failEvery > 0 && i%tc.failEvery == 0 {
					return refused
				}
				return nil
			}
			var retry func()
			if tc.withRetry {
				retry = func() { retries.Add(1) }
			}
			connected, err := models.StartConnects(tc.n, spawn, attempt, retry)()
			wg.Wait()
			if connected != tc.wantConnected || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("connected %d err %v; want %d %v", connected, err, tc.wantConnected, tc.wantErr)
			}
			if int(spawned.Load()) != tc.n {
				t.Fatalf("spawned %d goroutines, want %d", spawned.Load(), tc.n)
			}
			if want := map[bool]int32{true: int32(tc.n - tc.wantConnected)}[tc.withRetry]; retries.Load() != want {
				t.Fatalf("retries %d, want %d (one per failed attempt, only with retry)", retries.Load(), want)
			}
		})
	}
}

func TestRedial(t *testing.T) {
	refused := errors.New("refused")
	for _, tc := range []struct {
		name      string
		failures  int  // dials that fail before one succeeds
		closeAt   int  // closing reports true from this dial on (0: never)
		quit      bool // quit closed before Redial runs
		wantDials int
	}{
		{name: "retries until connected", failures: 3, wantDials: 4},
		{name: "stops when the service closes", failures: 100, closeAt: 2, wantDials: 2},
		{name: "quit before the first attempt", failures: 100, quit: true, wantDials: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			quit := make(chan struct{})
			if tc.quit {
				close(quit)
			}
			dials := 0
			closing := func() bool { return tc.closeAt > 0 && dials >= tc.closeAt }
			dial := func() error {
				dials++
				if dials <= tc.failures {
					return refused
				}
				return nil
			}
			models.Redial(quit, time.Millisecond, closing, dial)
			if dials != tc.wantDials {
				t.Fatalf("dialed %d times, want %d", dials, tc.wantDials)
			}
		})
	}
}
