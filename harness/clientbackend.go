package harness

import (
	"runtime"

	"github.com/iobench/iobench/models"
)

// ClientPreference is the order in which the load generator picks its client backend when
// --client-backend is not given: the cheapest client (load generator CPU per message) first,
// filtered by what models.Available() reports here. netstd is always available and is the
// fallback; a platform where the clients were not measured uses netstd.
//
// The order is a measurement, not a guess (scripts/loadgen-cost.sh: netstd echo server pinned
// to CPU 0, `iobench load --loops 1` pinned to CPU 1, 100 connections, 64 B, 3 interleaved
// 2 s runs, median [min-max] client ns/msg; 2-core AMD EPYC VM, Linux 6.18, shared machine):
//
//	client   depth 1              depth 8
//	gnet     8766 [8176-9023]     1366 [1321-1767]
//	epoll    9654 [9539-9792]     1479 [1402-1766]
//	uring    9847 [9068-9880]     1460 [1132-1751]
//	netstd   10529 [10399-10616]  1751 [1584-1935]
//
// gnet is cheapest at depth 1 with a range disjoint from netstd's; epoll and uring overlap
// each other. Rerun the script when a backend changes.
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
