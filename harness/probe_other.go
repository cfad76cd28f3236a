//go:build !linux && !windows

package harness

import "time"

func selfCPU() (time.Duration, error)        { return 0, errNA }
func sampleProc(pid int) (procSample, error) { return procSample{At: time.Now()}, nil }
func pinProcess(pid int, cpus []int) error   { return errNA }
func numCPU() int                            { return 0 }
func allowedCPUs() []int                     { return nil }
