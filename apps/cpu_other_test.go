//go:build !unix

package apps_test

// cpuNs is unknown here: the benchmarks then report wall time only.
func cpuNs() int64 { return -1 }
