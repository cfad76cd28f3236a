package harness

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// userHZ is the unit of utime/stime in /proc/PID/stat: USER_HZ, which the kernel ABI fixes at
// 100 on every architecture Go supports (proc(5)), independent of CONFIG_HZ.
const userHZ = 100

func selfCPU() (time.Duration, error) {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		return 0, err
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// sampleProc reads /proc/PID/stat (utime+stime: the whole thread group, exited threads
// included), /proc/PID/status (VmRSS, VmHWM) and the context switch counters of every thread
// in /proc/PID/task/*/status (the process's own status line counts only its main thread).
func sampleProc(pid int) (procSample, error) {
	s := procSample{At: time.Now(), CPUUnits: time.Second / userHZ}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// comm may contain spaces and parentheses: fields start after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return s, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime 15.
	if len(f) > 13 {
		ut, e1 := strconv.ParseUint(f[11], 10, 64)
		st, e2 := strconv.ParseUint(f[12], 10, 64)
		if e1 == nil && e2 == nil {
			s.CPU = time.Duration(ut+st) * (time.Second / userHZ)
			s.CPUOK = true
		}
	}
	if st, err := readStatus(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		rss, ok1 := st["VmRSS"]
		hwm, ok2 := st["VmHWM"]
		if ok1 && ok2 {
			s.RSS, s.HWM, s.MemOK = rss*1024, hwm*1024, true
		}
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	if err == nil && len(tasks) > 0 {
		var n uint64
		ok := true
		for _, t := range tasks {
			st, err := readStatus(t)
			if err != nil {
				continue // thread exited between glob and read
			}
			v, ok1 := st["voluntary_ctxt_switches"]
			nv, ok2 := st["nonvoluntary_ctxt_switches"]
			if !ok1 || !ok2 {
				ok = false
				break
			}
			n += v + nv
		}
		s.CtxSw, s.CtxSwOK = n, ok
	}
	return s, nil
}

// readStatus parses the numeric "Key: value [kB]" lines of a /proc status file.
func readStatus(path string) (map[string]uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	m := map[string]uint64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		if n, err := strconv.ParseUint(fs[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m, nil
}

// pinProcess sets the affinity of every thread of pid (sched_setaffinity(2) applies to one
// thread; threads created later inherit it from their creator). pid 0 is this process. It
// goes over the thread list twice to catch a thread created during the first pass.
func pinProcess(pid int, cpus []int) error {
	if pid == 0 {
		pid = os.Getpid()
	}
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	for range 2 {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return err
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil {
				continue
			}
			if err := unix.SchedSetaffinity(tid, &set); err != nil && err != unix.ESRCH {
				return fmt.Errorf("sched_setaffinity(%d): %w", tid, err)
			}
		}
	}
	return nil
}

// numCPU is the number of CPUs this process may run on (its affinity mask at start).
func numCPU() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return 0
	}
	return set.Count()
}

// allowedCPUs lists the CPUs of this process's affinity mask.
func allowedCPUs() []int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil
	}
	var out []int
	for i := 0; i < 1024; i++ {
		if set.IsSet(i) {
			out = append(out, i)
		}
	}
	return out
}
