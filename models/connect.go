package models

import (
	"sync"
	"sync/atomic"
	"time"
)

// StartConnects starts the first connect attempt of each of n client sessions at once; the
// returned wait blocks until all of them finished, as Engine.Connect must, and says how many
// connected and the first error. spawn starts one goroutine under the service's own
// accounting (its wait group), so Close waits for dialers; attempt dials one session; after a
// failed attempt that goroutine goes on with retry when retry is not nil
// (CLIENT_AUTO_RECONNECT keeps trying). Between StartConnects and wait the caller may drop
// its setup reference: every dialer holds its own by then.
func StartConnects(n int, spawn func(func()), attempt func() error, retry func()) (wait func() (connected int, first error)) {
	var wg sync.WaitGroup
	var ok atomic.Int32
	var firstErr atomic.Pointer[error]
	for range n {
		wg.Add(1)
		spawn(func() {
			err := attempt()
			if err == nil {
				ok.Add(1)
			} else {
				firstErr.CompareAndSwap(nil, &err)
			}
			wg.Done()
			if err != nil && retry != nil {
				retry()
			}
		})
	}
	return func() (int, error) {
		wg.Wait()
		var first error
		if p := firstErr.Load(); p != nil {
			first = *p
		}
		return int(ok.Load()), first
	}
}

// Redial is an auto-reconnect session's retry loop (CLIENT_AUTO_RECONNECT): after each delay
// it dials again, until a dial succeeds, quit is closed or closing reports true.
func Redial(quit <-chan struct{}, delay time.Duration, closing func() bool, dial func() error) {
	for {
		select {
		case <-quit:
			return
		case <-time.After(delay):
		}
		if closing() || dial() == nil {
			return
		}
	}
}
