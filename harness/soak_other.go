//go:build !linux

package harness

// countFDs is n/a outside Linux (no /proc/PID/fd): the soak's fds series is null there.
func countFDs(pid int) (int, bool) { return 0, false }
