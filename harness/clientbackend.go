package harness

import (
	"runtime"

	"github.com/iobench/iobench/models"
)

// ClientPreference is the order in which the load generator picks its client backend when
// --client-backend is not given: the cheapest client (load generator CPU per message) first,
// filtered by what models.Available() reports here. netstd is always available and is the
// fallback; a platform where the clients were not measured uses netstd.
// The measurement behind the order is in the README ("Load generator: which client").
var ClientPreference = map[string][]string{
	"linux": {"gnet", "epoll", "uring", "netstd"},
}

// DefaultClientBackend is the first available backend of ClientPreference for this OS
// (netstd if none).
func DefaultClientBackend() string {
	avail := map[string]bool{}
	for _, n := range models.Available() {
		avail[n] = true
	}
	for _, n := range ClientPreference[runtime.GOOS] {
		if avail[n] {
			return n
		}
	}
	return "netstd"
}
