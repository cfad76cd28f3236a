package harness

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
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

// commit is the iobench commit: the vcs stamp of the build (debug.ReadBuildInfo), else
// `git rev-parse HEAD` when the working directory is an iobench clone, with "-dirty" when the
// tree had changes; "unknown" otherwise.
func commit() string {
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
	}
	top, err := exec.Command("git", "rev-parse", "--show-toplevel").Output()
	if err != nil {
		return "unknown"
	}
	gomod, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(top)), "go.mod"))
	if err != nil || !strings.Contains(string(gomod), "module github.com/iobench/iobench") {
		return "unknown"
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(strings.TrimSpace(string(st))) > 0 {
		c += "-dirty"
	}
	return c
}
