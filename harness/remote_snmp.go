package harness

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// TCPRetransSegs is the TCP RetransSegs counter of this process's network namespace
// (/proc/net/snmp, Linux; see proc_net_snmp in proc(5)): the segments TCP sent again. On a
// host (not a namespace of its own) it counts every connection of the host. An error where
// there is no /proc/net/snmp.
func TCPRetransSegs() (uint64, error) {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0, err
	}
	return parseRetransSegs(string(b))
}

// parseRetransSegs reads RetransSegs from /proc/net/snmp's two "Tcp:" lines (names, values).
func parseRetransSegs(s string) (uint64, error) {
	var names []string
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || f[0] != "Tcp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RetransSegs" && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
		break
	}
	return 0, fmt.Errorf("/proc/net/snmp: no Tcp RetransSegs")
}
