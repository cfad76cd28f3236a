package harness

import (
	"math/bits"
	"os"
	"time"

	"golang.org/x/sys/windows"
)

func filetimeDur(f windows.Filetime) time.Duration {
	return time.Duration((int64(f.HighDateTime)<<32 | int64(f.LowDateTime)) * 100)
}

func processCPU(h windows.Handle) (time.Duration, error) {
	var c, e, k, u windows.Filetime
	if err := windows.GetProcessTimes(h, &c, &e, &k, &u); err != nil {
		return 0, err
	}
	return filetimeDur(k) + filetimeDur(u), nil
}

func selfCPU() (time.Duration, error) { return processCPU(windows.CurrentProcess()) }

// sampleProc reads the process times (GetProcessTimes) and the working set
// (GetProcessMemoryInfo: WorkingSetSize as RSS, PeakWorkingSetSize as the peak). Context
// switches are n/a on Windows.
func sampleProc(pid int) (procSample, error) {
	s := procSample{At: time.Now(), CPUUnits: 100 * time.Nanosecond}
	h, err := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
	if err != nil {
		return s, err
	}
	defer windows.CloseHandle(h)
	// Wine answers GetProcessTimes for another process with the caller's own times (measured:
	// server and load generator CPU came out identical), so under Wine another process's CPU
	// is n/a rather than a wrong number.
	if d, err := processCPU(h); err == nil && (pid == os.Getpid() || !underWine()) {
		s.CPU, s.CPUOK = d, true
	}
	var mc processMemoryCounters
	if err := getProcessMemoryInfo(h, &mc); err == nil {
		s.RSS, s.HWM, s.MemOK = uint64(mc.WorkingSetSize), uint64(mc.PeakWorkingSetSize), true
	}
	return s, nil
}

// pinProcess restricts a whole process with SetProcessAffinityMask. pid 0 is this process.
func pinProcess(pid int, cpus []int) error {
	var mask uintptr
	for _, c := range cpus {
		mask |= 1 << uint(c)
	}
	h := windows.CurrentProcess()
	if pid != 0 {
		var err error
		h, err = windows.OpenProcess(windows.PROCESS_SET_INFORMATION|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(pid))
		if err != nil {
			return err
		}
		defer windows.CloseHandle(h)
	}
	return setProcessAffinityMask(h, mask)
}

func numCPU() int { return len(allowedCPUs()) }

func allowedCPUs() []int {
	m, _, err := getProcessAffinityMask(windows.CurrentProcess())
	if err != nil {
		return nil
	}
	var out []int
	for i := 0; i < bits.UintSize; i++ {
		if m&(1<<uint(i)) != 0 {
			out = append(out, i)
		}
	}
	return out
}
