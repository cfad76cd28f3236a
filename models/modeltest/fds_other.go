//go:build !linux

package modeltest

// openFDs is only counted on Linux (/proc/self/fd); elsewhere the leak check covers
// goroutines only.
func openFDs() (int, bool) { return 0, false }

func listFDs() string { return "" }
