package modeltest

import (
	"os"
	"strings"
)

// openFDs counts this process's open file descriptors (/proc/self/fd, see proc(5)).
func openFDs() (int, bool) {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0, false
	}
	return len(ents), true
}

// listFDs names the open descriptors, for a leak report.
func listFDs() string {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		b.WriteString("\n  " + e.Name() + " -> " + target)
	}
	return b.String()
}
