package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// raiseNofile raises this process's RLIMIT_NOFILE as far as it may (setrlimit(2)): the hard
// limit up to fs.nr_open (allowed only with CAP_SYS_RESOURCE; refused silently otherwise),
// then the soft limit to the hard one. It goes through package syscall, so that Go stops
// restoring the original soft limit in child processes (the servers and load children are
// started with the raised limit). It returns the limits now in force and what the soft limit
// was before.
func raiseNofile() (soft, hard, before uint64, err error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, 0, fmt.Errorf("getrlimit(RLIMIT_NOFILE): %w", err)
	}
	before = rl.Cur
	if nrOpen, err := readUintFile("/proc/sys/fs/nr_open"); err == nil && nrOpen > rl.Max {
		up := syscall.Rlimit{Cur: nrOpen, Max: nrOpen}
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &up) == nil {
			rl = up
		}
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
	}
	// Set it even when unchanged: an explicit Setrlimit is what makes children inherit it.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, before, fmt.Errorf("setrlimit(RLIMIT_NOFILE, %d): %w", rl.Cur, err)
	}
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, 0, before, err
	}
	return rl.Cur, rl.Max, before, nil
}

// openFDs counts this process's open file descriptors (/proc/self/fd).
func openFDs() int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return 0
	}
	return len(es)
}

// fileMaxFree is how many more files the whole system may open: fs.file-max minus the
// allocated count of fs.file-nr (proc_sys_fs(5)); ok is false when unknown.
func fileMaxFree() (free uint64, ok bool) {
	b, err := os.ReadFile("/proc/sys/fs/file-nr")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return 0, false
	}
	used, e1 := strconv.ParseUint(f[0], 10, 64)
	maxN, e2 := strconv.ParseUint(f[2], 10, 64)
	if e1 != nil || e2 != nil || maxN < used {
		return 0, false
	}
	return maxN - used, true
}

// sockstat is the kernel's TCP socket account (/proc/net/sockstat, "TCP: inuse N ... mem
// PAGES"): sockets in use and the memory their buffers hold, in pages.
type sockstat struct {
	Inuse, MemPages uint64
	OK              bool
}

func readSockstat() sockstat {
	b, err := os.ReadFile("/proc/net/sockstat")
	if err != nil {
		return sockstat{}
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		f := strings.Fields(string(line))
		if len(f) == 0 || f[0] != "TCP:" {
			continue
		}
		var s sockstat
		got := 0
		for i := 1; i+1 < len(f); i += 2 {
			v, err := strconv.ParseUint(f[i+1], 10, 64)
			if err != nil {
				continue
			}
			switch f[i] {
			case "inuse":
				s.Inuse, got = v, got+1
			case "mem":
				s.MemPages, got = v, got+1
			}
		}
		s.OK = got == 2
		return s
	}
	return sockstat{}
}

// ephemeralPorts is the size of net.ipv4.ip_local_port_range: the ports one source address
// can use towards one destination.
func ephemeralPorts() (int, error) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0, errors.New("ip_local_port_range: unexpected format")
	}
	lo, e1 := strconv.Atoi(f[0])
	hi, e2 := strconv.Atoi(f[1])
	if e1 != nil || e2 != nil || hi < lo {
		return 0, errors.New("ip_local_port_range: unexpected format")
	}
	return hi - lo + 1, nil
}

func readUintFile(path string) (uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
}
