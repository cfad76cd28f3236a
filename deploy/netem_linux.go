package deploy

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// netemQdisc says whether this kernel has the netem queueing discipline (tc-netem(8)), which
// the host-side link emulation of a stack needs: CONFIG_NET_SCH_NETEM in /proc/config.gz, or
// else the sch_netem module loaded or installed. It never changes the machine.
func netemQdisc() error {
	missing := fmt.Errorf("this kernel has no netem qdisc (sch_netem, CONFIG_NET_SCH_NETEM): --netem cannot be applied to the containers' links")
	if f, err := os.Open("/proc/config.gz"); err == nil {
		defer f.Close()
		if z, err := gzip.NewReader(f); err == nil {
			cfg, err := io.ReadAll(io.LimitReader(z, 16<<20))
			if err == nil {
				if bytes.Contains(cfg, []byte("\nCONFIG_NET_SCH_NETEM=y")) || bytes.Contains(cfg, []byte("\nCONFIG_NET_SCH_NETEM=m")) {
					return nil
				}
				return missing
			}
		}
	}
	if _, err := os.Stat("/sys/module/sch_netem"); err == nil {
		return nil
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		rel := unix.ByteSliceToString(u.Release[:])
		if m, _ := filepath.Glob(filepath.Join("/lib/modules", rel, "kernel/net/sched/sch_netem.ko*")); len(m) > 0 {
			return nil
		}
	}
	return missing
}
