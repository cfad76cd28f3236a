package harness

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strings"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/results"
)

// TokenEnv is the environment variable with the agents' token when --token is not given.
const TokenEnv = "IOBENCH_TOKEN"

// remoteFlags are run's flags for runs over agents.
type remoteFlags struct {
	serverAgent, loadAgents, token string
	topology, netem                string
	loaders                        int
}

// EngineEnv names the engine a run over agents records in its topology (swarm, k8s; default
// "process": agents started by hand or by --topology netns). `iobench deploy coordinate
// --engine` sets it inside the stack or Job it runs in.
const EngineEnv = "IOBENCH_ENGINE"

func (f *remoteFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.serverAgent, "server-agent", "", "HOST:PORT of the `iobench agent` that runs the servers under test (with --load-agents)")
	fs.StringVar(&f.loadAgents, "load-agents", "", "comma-separated HOST:PORT of the `iobench agent`s that share every load (with --server-agent)")
	fs.StringVar(&f.token, "token", "", "the agents' shared token (default $"+TokenEnv+")")
	f.registerTopology(fs)
}

// apply connects the run to its agents (or builds its topology) and sets c.Servers, c.Loads
// and c.Topology; cleanup undoes what apply set up.
func (f *remoteFlags) apply(ctx context.Context, c *RunConfig, stderr io.Writer) (cleanup func(), err error) {
	if f.token == "" {
		f.token = os.Getenv(TokenEnv)
	}
	if f.topology != "" && f.topology != results.TopologyLocal {
		return f.applyTopology(ctx, c, stderr)
	}
	if f.netem != "" {
		return nil, cli.Usagef("--netem needs --topology netns")
	}
	switch {
	case f.serverAgent == "" && f.loadAgents == "":
		return func() {}, nil
	case f.serverAgent == "" || f.loadAgents == "":
		return nil, cli.Usagef("give both --server-agent and --load-agents")
	}
	s, l, t, err := ConnectAgents(ctx, f.serverAgent, splitList(f.loadAgents), f.token)
	if err != nil {
		return nil, err
	}
	t.Kind, t.Engine, t.Link = results.TopologyAgents, "process", linkOf(f.serverAgent, splitList(f.loadAgents))
	if e := os.Getenv(EngineEnv); e != "" {
		t.Engine = e // set by `iobench deploy coordinate --engine` (swarm, k8s)
	}
	c.Servers, c.Loads, c.Topology = s, l, t
	return func() {}, nil
}

// linkOf is "loopback" when every agent is on a loopback address, else "network".
func linkOf(server string, loads []string) string {
	for _, a := range append([]string{server}, loads...) {
		host, _, _ := net.SplitHostPort(a)
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "network"
		}
	}
	return "loopback"
}

// ConnectAgents asks the server agent and the load agents about their hosts and clocks and
// returns the ServerHost and LoadHost over them and the topology (its Kind, Engine and Link
// for the caller to set). An agent that does not answer, refuses the token or is given twice
// is an error.
func ConnectAgents(ctx context.Context, server string, loads []string, token string) (*RemoteServers, *RemoteLoads, *results.Topology, error) {
	if len(loads) == 0 {
		return nil, nil, nil, cli.Usagef("no load agents")
	}
	seen := map[string]bool{}
	for _, a := range append([]string{server}, loads...) {
		if seen[a] {
			return nil, nil, nil, cli.Usagef("agent %s given twice: every agent has one role", a)
		}
		seen[a] = true
	}
	env := environment()
	t := &results.Topology{Hosts: []results.TopoHost{{Role: results.RoleCoordinator, Hostname: env.Hostname,
		OS: env.OS, Kernel: env.Kernel, CPUs: len(allowedCPUs())}}}
	host := func(role, addr string) (*AgentClient, WireInfo, error) {
		c, err := NewAgentClient(addr, token)
		if err != nil {
			return nil, WireInfo{}, cli.Usage(err)
		}
		info, err := c.Info(ctx)
		if err != nil {
			return nil, info, cli.Failure(fmt.Errorf("%s agent: %w", role, err))
		}
		off, rtt, err := c.ClockOffset(ctx, 8)
		if err != nil {
			return nil, info, cli.Failure(fmt.Errorf("%s agent: %w", role, err))
		}
		h := results.TopoHost{Role: role, Agent: addr, Hostname: info.Hostname, OS: info.OS, CPUs: info.CPUs,
			NetNS: info.NetNS, ClockOffsetNs: ptr(int64(off)), ClockRTTNs: ptr(int64(rtt))}
		if info.Env != nil {
			h.Kernel = info.Env.Kernel
		}
		if role == results.RoleServer {
			h.Addr = info.ServeHost
		}
		t.Hosts = append(t.Hosts, h)
		return c, info, nil
	}
	sc, sinfo, err := host(results.RoleServer, server)
	if err != nil {
		return nil, nil, nil, err
	}
	rs := &RemoteServers{Agent: sc, CPUs: sinfo.CPUs, Env: sinfo.Env}
	rl := &RemoteLoads{}
	for _, a := range loads {
		lc, info, err := host(results.RoleLoad, a)
		if err != nil {
			return nil, nil, nil, err
		}
		rl.Agents = append(rl.Agents, lc)
		rl.CPUs = append(rl.CPUs, info.CPUs)
		if info.Env != nil {
			rl.Pinned = append(rl.Pinned, info.Env.Pinning.ServerCPUs)
		}
	}
	return rs, rl, t, nil
}

// remote reports whether the run's servers are on an agent.
func (c *RunConfig) remote() bool {
	_, ok := c.Servers.(*RemoteServers)
	return ok
}

// remoteEnv makes env the server agent's host (the machine the figures are of) with the
// run's topology; a local run gets the local topology.
func (r *runner) remoteEnv(env *results.Env) {
	rs, ok := r.servers.(*RemoteServers)
	if !ok {
		if env.Topology = r.cfg.Topology; env.Topology == nil {
			env.Topology = &results.Topology{Kind: results.TopologyLocal, Engine: "process", Link: "loopback",
				Hosts: []results.TopoHost{{Role: results.RoleCoordinator, Hostname: env.Hostname, OS: env.OS,
					Kernel: env.Kernel, CPUs: len(allowedCPUs())}}}
		}
		return
	}
	notes := env.Notes
	if rs.Env != nil {
		*env = *rs.Env
	}
	env.Notes = strings.TrimSpace(notes + " servers on agent " + rs.Agent.Addr + "; machine speed probes on the coordinator")
	env.GOMAXPROCS = r.cfg.GOMAXPROCS
	if env.GOMAXPROCS == 0 {
		env.GOMAXPROCS = rs.CPUs
	}
	env.Loops = r.cfg.Loops
	env.Topology = r.cfg.Topology
	env.Pinning.ClientCPUs = nil // the load agents' (on their hosts: the union, as a hint)
	if rl, ok := r.loads.(*RemoteLoads); ok {
		seen := map[int]bool{}
		for _, p := range rl.Pinned {
			for _, c := range p {
				if !seen[c] {
					seen[c] = true
					env.Pinning.ClientCPUs = append(env.Pinning.ClientCPUs, c)
				}
			}
		}
		sort.Ints(env.Pinning.ClientCPUs)
	}
}

// remoteCores are the server's and the load's core shares of a run over agents.
func (r *runner) remoteCores() (server, client float64, ok bool) {
	rs, ok1 := r.servers.(*RemoteServers)
	rl, ok2 := r.loads.(*RemoteLoads)
	if !ok1 || !ok2 || rs.CPUs == 0 {
		return 0, 0, false
	}
	n := 0
	for _, c := range rl.CPUs {
		n += c
	}
	return float64(rs.CPUs), float64(max(n, 1)), true
}

func ptr[T any](v T) *T { return &v }
