package harness

import (
	"sync/atomic"

	"github.com/iobench/iobench/models"
)

// leakyApp wraps a server app to leak on purpose (`serve --leak N`): every N-th OnRecv starts
// a goroutine that never ends, holding leakBytes of heap. It exists to prove that the soak
// fails on a server that leaks (its goroutines and RSS grow); never use it to measure.
type leakyApp struct {
	models.Handler
	every uint64
	n     atomic.Uint64
	hold  chan struct{} // never closed
}

// leakBytes is the heap each leaked goroutine holds.
const leakBytes = 4 << 10

func newLeakyApp(h models.Handler, every int) models.Handler {
	if every <= 0 {
		return h
	}
	return &leakyApp{Handler: h, every: uint64(every), hold: make(chan struct{})}
}

func (a *leakyApp) OnRecv(s models.Session, w []byte) int {
	if a.n.Add(1)%a.every == 0 {
		b := make([]byte, leakBytes)
		for i := range b {
			b[i] = byte(i) // touched: resident, not just reserved
		}
		go func() {
			<-a.hold
			_ = b[0]
		}()
	}
	return a.Handler.OnRecv(s, w)
}
