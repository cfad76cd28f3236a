package harness

import (
	"fmt"
	"os"
)

// countFDs counts the open file descriptors of pid: the entries of /proc/PID/fd (proc(5)).
func countFDs(pid int) (int, bool) {
	es, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, false
	}
	return len(es), true
}
