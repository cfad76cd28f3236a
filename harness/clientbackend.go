package harness

import "github.com/iobench/iobench/models"

// ClientPreference is the order in which the load generator picks its client backend when
// --client-backend is not given: the cheapest client (load generator CPU per message, measured
// with BenchmarkLoadgen) first, filtered by what models.Available() reports here. netstd is
// always available and is the fallback.
//
// The order is a measurement, not a guess: a backend goes ahead of netstd only once
// BenchmarkLoadgen has shown it cheaper as a client on the reference machine (see the
// README's load generator cost table).
var ClientPreference = []string{"netstd"}

// DefaultClientBackend is the first available backend of ClientPreference (netstd if none).
func DefaultClientBackend() string {
	avail := map[string]bool{}
	for _, n := range models.Available() {
		avail[n] = true
	}
	for _, n := range ClientPreference {
		if avail[n] {
			return n
		}
	}
	return "netstd"
}
