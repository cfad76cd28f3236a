package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/internal/netem"
	"github.com/iobench/iobench/internal/netns"
	"github.com/iobench/iobench/results"
)

func (f *remoteFlags) registerTopology(fs *flag.FlagSet) {
	fs.StringVar(&f.topology, "topology", results.TopologyLocal, "local (processes of this machine over loopback), or netns: the server agent and --loaders load agents each in its own network namespace, veth pairs to a bridge (root, iproute2)")
	fs.IntVar(&f.loaders, "loaders", 2, "--topology netns: load agents")
	fs.StringVar(&f.netem, "netem", "", `--topology netns: WAN emulation of every load link, both directions (delay 20ms adds 40 ms to a round trip), e.g. "delay 20ms 2ms loss 0.1%"; kernel tc netem where available, else a user-space TUN link`)
}

// applyTopology builds a --topology netns run: namespaces, links, netem and agents
// (internal/netns), then connects to its agents as --server-agent/--load-agents would.
func (f *remoteFlags) applyTopology(ctx context.Context, c *RunConfig, stderr io.Writer) (func(), error) {
	if f.topology != results.TopologyNetns {
		return nil, cli.Usagef("unknown --topology %q (want local or netns)", f.topology)
	}
	if f.serverAgent != "" || f.loadAgents != "" {
		return nil, cli.Usagef("--topology netns starts its own agents: no --server-agent/--load-agents")
	}
	if f.loaders < 1 || f.loaders > 64 {
		return nil, cli.Usagef("--loaders %d: want 1..64", f.loaders)
	}
	var spec *netem.Spec
	if f.netem != "" {
		s, err := netem.Parse(f.netem)
		if err != nil {
			return nil, cli.Usage(err)
		}
		spec = &s
	}
	if err := netns.Check(); err != nil {
		return nil, cli.Usage(err)
	}
	exe, err := serverExe(c.Exe)
	if err != nil {
		return nil, cli.Failure(err)
	}
	if f.token == "" { // the agents are ours: a fresh token for this run
		b := make([]byte, 16)
		rand.Read(b)
		f.token = hex.EncodeToString(b)
	}
	o := netns.Options{Exe: exe, Loaders: f.loaders, Token: f.token, Netem: spec, Log: stderr}
	if cpus := allowedCPUs(); len(cpus) >= 2 && !c.NoPin {
		o.ServerCPUs, o.LoadCPUs = cpus[:len(cpus)/2], cpus[len(cpus)/2:]
	}
	topo, err := netns.Setup(ctx, o)
	if err != nil {
		return nil, cli.Failure(fmt.Errorf("--topology netns: %w", err))
	}
	cleanup := func() {
		if err := topo.Close(); err != nil {
			fmt.Fprintf(stderr, "netns tear-down: %v\n", err)
		}
	}
	rs, rl, t, err := ConnectAgents(ctx, topo.ServerAgent, topo.LoadAgents, f.token)
	if err != nil {
		cleanup()
		return nil, err
	}
	t.Kind, t.Engine, t.Link = results.TopologyNetns, "netns", "veth-bridge"
	for i := range t.Hosts {
		h := &t.Hosts[i]
		switch h.Role {
		case results.RoleServer:
			h.Addr = topo.ServerHost
		case results.RoleLoad:
			for j, a := range topo.LoadAgents {
				if a == h.Agent {
					h.Addr = topo.LoadHosts[j]
				}
			}
		}
	}
	if spec != nil {
		t.Netem = &results.Netem{Spec: spec.Text, Impl: topo.NetemImpl, DelayNs: int64(spec.Delay),
			JitterNs: int64(spec.Jitter), LossPct: spec.LossPct, RateBps: spec.RateBps}
		if topo.NetemImpl == results.NetemTUN {
			t.Link = "veth-bridge control, TUN data path"
		}
	}
	c.Servers, c.Loads, c.Topology = rs, rl, t
	return cleanup, nil
}
