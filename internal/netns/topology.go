package netns

import (
	"io"

	"github.com/iobench/iobench/internal/netem"
)

// Options are one topology to build.
type Options struct {
	Exe     string // the iobench binary the agents run
	Loaders int    // load agents (namespaces l0..l{N-1})
	Token   string // the agents' token (given through IOBENCH_TOKEN)
	// Netem, when set, emulates every load link in both directions.
	Netem *netem.Spec
	// ServerCPUs and LoadCPUs pin the agents (and what they start) when not empty.
	ServerCPUs, LoadCPUs []int
	Log                  io.Writer // stale removals and the agents' stderr (safe for concurrent use)
}

// Topology is a built topology: the agents' control addresses and what Close removes.
type Topology struct {
	ServerAgent string   // HOST:PORT of the server agent
	LoadAgents  []string // HOST:PORT of each load agent
	ServerHost  string   // the server's data-path address
	LoadHosts   []string // each load's source address toward the server
	// NetemImpl is how Netem was applied: results.NetemKernel or results.NetemTUN ("" without netem).
	NetemImpl  string
	Namespaces []string
	Bridge     string
	// LinkStats, with the user-space emulation, reports each load link's counts
	// (load→server, server→load).
	LinkStats func() [][2]netem.Stats

	closers []func() error
}
