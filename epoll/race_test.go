//go:build race

package epoll

// raceEnabled: the race detector makes sync.Pool drop a quarter of its Puts, so the
// SendQueue's chunk pool allocates and allocation counts mean nothing.
const raceEnabled = true
