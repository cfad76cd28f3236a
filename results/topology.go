package results

import (
	"fmt"
	"strings"
)

// Topology kinds (Topology.Kind).
const (
	// TopologyLocal: server and load generator are processes of one machine (loopback).
	TopologyLocal = "local"
	// TopologyAgents: a server agent and load agents given by address (--server-agent,
	// --load-agents), on whatever hosts those are.
	TopologyAgents = "agents"
	// TopologyNetns: the agents in network namespaces of one machine, joined by veth pairs
	// to a bridge (--topology netns).
	TopologyNetns = "netns"
)

// Netem implementations (Netem.Impl).
const (
	NetemKernel = "tc-netem"      // the kernel's sch_netem qdisc on both ends of each load link
	NetemTUN    = "tun-userspace" // TUN devices and a user-space forwarder per load link
)

// Topology is where a run's processes ran and how they were joined. Results of different
// topologies are never merged into one verdict: Env.Label includes Topology.Label.
type Topology struct {
	Kind   string     `json:"kind"`   // local, agents or netns
	Engine string     `json:"engine"` // what ran the processes: process, netns, docker-swarm, kubernetes
	Link   string     `json:"link"`   // loopback, veth-bridge, network (what joins load and server)
	Netem  *Netem     `json:"netem,omitempty"`
	Hosts  []TopoHost `json:"hosts"`
}

// Netem is the WAN emulation of every load link (both directions: a delay D adds 2·D to a
// round trip).
type Netem struct {
	Spec     string  `json:"spec"`               // as given, e.g. "delay 20ms 2ms loss 0.1%"
	Impl     string  `json:"impl"`               // tc-netem or tun-userspace
	DelayNs  int64   `json:"delay_ns"`           // per direction
	JitterNs int64   `json:"jitter_ns"`          // per direction, uniform ± around DelayNs
	LossPct  float64 `json:"loss_pct"`           // per direction, percent of packets dropped
	RateBps  int64   `json:"rate_bps,omitempty"` // per direction, bits per second (0: unlimited)
}

// TopoHost is one process of a run's topology: the coordinator, the server agent or a load
// agent.
type TopoHost struct {
	Role     string `json:"role"`            // coordinator, server or load
	Agent    string `json:"agent,omitempty"` // control address HOST:PORT of its agent
	Addr     string `json:"addr,omitempty"`  // data-path address: the server's host, a loader's source
	Hostname string `json:"hostname,omitempty"`
	OS       string `json:"os,omitempty"`
	Kernel   string `json:"kernel,omitempty"`
	CPUs     int    `json:"cpus,omitempty"` // CPUs it may run on
	NetNS    string `json:"netns,omitempty"`
	// ClockOffsetNs is its clock minus the coordinator's, estimated NTP-style from the
	// control round trip with the smallest RTT (ClockRTTNs; the error is at most half of it).
	ClockOffsetNs *int64 `json:"clock_offset_ns,omitempty"`
	ClockRTTNs    *int64 `json:"clock_rtt_ns,omitempty"`
}

// Host roles.
const (
	RoleCoordinator = "coordinator"
	RoleServer      = "server"
	RoleLoad        = "load"
)

// Loaders is the number of load hosts.
func (t *Topology) Loaders() int {
	n := 0
	for _, h := range t.Hosts {
		if h.Role == RoleLoad {
			n++
		}
	}
	return n
}

// Label is the topology in a few words for the machine label: "" for a local run (so local
// runs keep their label), else kind, engine, link, loaders and netem.
func (t *Topology) Label() string {
	if t == nil || t.Kind == TopologyLocal || t.Kind == "" {
		return ""
	}
	parts := []string{t.Kind}
	if t.Engine != "" && t.Engine != t.Kind {
		parts = append(parts, t.Engine)
	}
	if t.Link != "" {
		parts = append(parts, t.Link)
	}
	parts = append(parts, fmt.Sprintf("%d loader(s)", t.Loaders()))
	if t.Netem != nil {
		parts = append(parts, "netem "+t.Netem.Spec+" ("+t.Netem.Impl+")")
	}
	return strings.Join(parts, ", ")
}

// AgentShare is one load agent's part of a repetition run by several (Figures.Agents): what it
// offered and measured, and its own CPU, so a saturated agent is seen (it makes the result
// client-bound).
type AgentShare struct {
	Agent string   `json:"agent"` // control HOST:PORT
	Conns int      `json:"conns"`
	Rate  *float64 `json:"rate,omitempty"` // offered msgs/s (open loop)
	Msgs  uint64   `json:"msgs"`           // completed in the window
	// CPUNsPerMsg is the agent's CPU (user+system, getrusage) over the window per message it
	// completed; CPUUtil that CPU over the window's wall time and its CPUs (1 = all busy).
	CPUNsPerMsg *float64 `json:"cpu_ns_per_msg"`
	CPUUtil     *float64 `json:"cpu_util"`
	CPUs        int      `json:"cpus"`
	// TCPRetransmits are the TCP segments its network namespace sent again during the load
	// (connect to drain; /proc/net/snmp RetransSegs; on a shared host every connection of
	// the host), nil where unknown.
	TCPRetransmits *uint64 `json:"tcp_retransmits,omitempty"`
	// ClockOffsetNs and ClockRTTNs: the estimate its start instant was converted with.
	ClockOffsetNs int64 `json:"clock_offset_ns"`
	ClockRTTNs    int64 `json:"clock_rtt_ns"`
}

// MaxAgentUtil is the highest CPU utilisation of the agents (nil if none is known): the
// client side is as saturated as its busiest agent.
func MaxAgentUtil(shares []AgentShare) *float64 {
	var m *float64
	for _, s := range shares {
		if s.CPUUtil != nil && (m == nil || *s.CPUUtil > *m) {
			m = Val(*s.CPUUtil)
		}
	}
	return m
}

// Describe is the topology for the report's machine table: kind, engine, link, hosts with
// their addresses, netem and the largest clock-offset uncertainty.
func (t *Topology) Describe() string {
	if t == nil {
		return "local (not recorded)"
	}
	parts := []string{t.Kind}
	if t.Engine != "" {
		parts = append(parts, "engine "+t.Engine)
	}
	if t.Link != "" {
		parts = append(parts, "link "+t.Link)
	}
	var hosts []string
	var rtt int64
	for _, h := range t.Hosts {
		if h.Role == RoleCoordinator {
			continue
		}
		s := h.Role + " " + h.Hostname
		if h.Addr != "" {
			s += " " + h.Addr
		}
		if h.CPUs > 0 {
			s += fmt.Sprintf(" %d cpu", h.CPUs)
		}
		hosts = append(hosts, s)
		if h.ClockRTTNs != nil {
			rtt = max(rtt, *h.ClockRTTNs)
		}
	}
	if len(hosts) > 0 {
		parts = append(parts, strings.Join(hosts, ", "))
	}
	if t.Netem != nil {
		parts = append(parts, "netem "+t.Netem.Spec+" each way ("+t.Netem.Impl+")")
	} else if t.Kind != TopologyLocal {
		parts = append(parts, "no netem")
	}
	if rtt > 0 {
		parts = append(parts, fmt.Sprintf("clock offsets within ±%.2f ms", float64(rtt)/2e6))
	}
	return strings.Join(parts, "; ")
}
