package harness

import (
	"errors"
	"time"
)

// Process probes. Each platform file implements:
//
//	selfCPU() (time.Duration, error)           user+sys CPU of this process
//	sampleProc(pid int) (procSample, error)    CPU, context switches and memory of a process
//	pinProcess(pid int, cpus []int) error      restrict a process (every thread) to cpus
//	numCPU() int                               logical CPUs usable for pinning
//
// A probe the platform lacks returns errNA and the figure is reported as null (n/a), never 0.

// errNA: this probe is not available on this platform.
var errNA = errors.New("probe not available on this platform")

// procSample is one reading of a process's counters. Fields with a false ok flag are n/a.
type procSample struct {
	At       time.Time
	CPU      time.Duration // user+system, all threads, dead ones included
	CPUOK    bool
	CtxSw    uint64 // voluntary+involuntary context switches summed over live threads
	CtxSwOK  bool
	RSS      uint64 // resident set now, bytes
	HWM      uint64 // peak resident set, bytes
	MemOK    bool
	CPUUnits time.Duration // resolution of CPU (a clock tick on Linux)
}
