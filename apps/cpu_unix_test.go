//go:build unix

package apps_test

import "syscall"

// cpuNs is this process's user+system CPU time, ns (getrusage(2), every thread).
func cpuNs() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
