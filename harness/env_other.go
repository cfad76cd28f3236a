//go:build !windows

package harness

func cpuModelOS() string      { return "unknown" }
func kernelVersionOS() string { return "unknown" }
func underWine() bool         { return false }
