package results

import (
	"strings"
	"testing"
	"time"
)

// Runs of one machine in different topologies are different hosts of a merge: never pooled
// into one verdict; a local run keeps the label it had before topologies were recorded.
func TestTopologiesNeverMerged(t *testing.T) {
	netns := &Topology{Kind: TopologyNetns, Engine: "netns", Link: "veth-bridge",
		Netem: &Netem{Spec: "delay 5ms", Impl: NetemTUN, DelayNs: int64(5 * time.Millisecond)},
		Hosts: []TopoHost{{Role: RoleCoordinator}, {Role: RoleServer, Hostname: "vm", Addr: "10.0.0.1", CPUs: 1}, {Role: RoleLoad}, {Role: RoleLoad}}}
	noNetem := *netns
	noNetem.Netem = nil
	local := &Topology{Kind: TopologyLocal, Engine: "process", Link: "loopback"}
	mk := func(path string, tp *Topology) LoadedRun {
		return LoadedRun{Path: path, Run: &Run{SchemaVersion: SchemaVersion, Env: Env{Hostname: "vm", OS: "linux", Topology: tp}}}
	}
	m := Merge([]LoadedRun{mk("a", nil), mk("b", local), mk("c", netns), mk("d", &noNetem), mk("e", netns)})
	if len(m.Hosts) != 3 {
		var labels []string
		for _, h := range m.Hosts {
			labels = append(labels, h.Label)
		}
		t.Fatalf("%d hosts %q, want 3: local (with and without a recorded topology), netns with netem, netns without", len(m.Hosts), labels)
	}
	if m.Hosts[0].Label != "vm (linux)" || len(m.Hosts[0].Runs) != 2 {
		t.Fatalf("local label %q with %d runs", m.Hosts[0].Label, len(m.Hosts[0].Runs))
	}
	if l := m.Hosts[1].Label; !strings.Contains(l, "netns") || !strings.Contains(l, "netem delay 5ms") || !strings.Contains(l, "2 loader(s)") || len(m.Hosts[1].Runs) != 2 {
		t.Fatalf("netns label %q with %d runs", l, len(m.Hosts[1].Runs))
	}
	if d := netns.Describe(); !strings.Contains(d, "server vm 10.0.0.1 1 cpu") || !strings.Contains(d, "netem delay 5ms each way (tun-userspace)") {
		t.Fatalf("describe %q", d)
	}
	if d := (*Topology)(nil).Describe(); d != "local (not recorded)" {
		t.Fatalf("nil topology: %q", d)
	}
}
