//go:build unix

package modeltest

import (
	"syscall"
	"time"
)

// processCPU is this process's user+system CPU time (getrusage(2) RUSAGE_SELF).
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// lowerOpenFileLimit sets this process's soft RLIMIT_NOFILE to n (getrlimit(2)). The Go
// runtime raises the soft limit to the hard one at start and restores the original for
// processes it execs, so a child has to lower its own.
func lowerOpenFileLimit(n uint64) error {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return err
	}
	rl.Cur = min(n, rl.Max)
	return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// makeFIFO creates a named pipe at path (mkfifo(3)), the log suite's disk that cannot keep up.
func makeFIFO(path string) error { return syscall.Mkfifo(path, 0o600) }
