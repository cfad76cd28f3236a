package harness

import (
	"bufio"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/iobench/iobench/results"
)

// environment builds the manifest of this machine and build. GOMAXPROCS and Loops are those
// given to the server processes; pinning is filled by the caller.
func environment() results.Env {
	e := results.Env{
		OS: runtime.GOOS, Arch: runtime.GOARCH, Kernel: kernelVersion(), CPUModel: cpuModel(),
		Cores: runtime.NumCPU(), GoVersion: runtime.Version(), IobenchCommit: commit(),
		UnderWine: underWine(),
	}
	e.Hostname, _ = os.Hostname()
	return e
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return cpuModelOS()
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return cpuModelOS()
}

func kernelVersion() string {
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		return strings.TrimSpace(string(b))
	}
	return kernelVersionOS()
}

// commit is the iobench commit: `git rev-parse HEAD` of the working tree when run from a
// clone (with "-dirty" if it has changes), else the vcs stamp of the build.
func commit() string {
	if out, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		c := strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
			c += "-dirty"
		}
		return c
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, mod string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				mod = s.Value
			}
		}
		if rev != "" {
			if mod == "true" {
				rev += "-dirty"
			}
			return rev
		}
		return bi.Main.Version
	}
	return "unknown"
}
