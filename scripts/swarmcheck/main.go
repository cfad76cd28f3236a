// Command swarmcheck checks the run.json a distributed run wrote (scripts/swarm-test.sh): the
// run went through the agents it was given, every measured result of the backend is verified
// (messages received, none lost, corrupt, reordered or duplicated), and every result carries
// each load agent's share with its CPU per message (what tells a client-bound result apart).
//
// Usage: go run ./scripts/swarmcheck -loaders N -backend B RUN.json   (exit 0 ok, 1 not)
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/iobench/iobench/results"
)

func main() {
	loaders := flag.Int("loaders", 2, "load agents the run must have used")
	backend := flag.String("backend", "epoll", "backend whose results must be measured")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: swarmcheck -loaders N -backend B RUN.json")
		os.Exit(2)
	}
	run, err := results.ReadRunFile(flag.Arg(0))
	if err == nil {
		var summary string
		summary, err = check(run, *backend, *loaders)
		fmt.Print(summary)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "swarmcheck: %s: %v\n", flag.Arg(0), err)
		os.Exit(1)
	}
}

// check returns one line per checked result, or the first reason the run does not pass.
func check(run *results.Run, backend string, loaders int) (string, error) {
	t := run.Env.Topology
	if t == nil || t.Kind != results.TopologyAgents {
		return "", fmt.Errorf("the run did not go through agents (topology %+v)", t)
	}
	if n := t.Loaders(); n != loaders {
		return "", fmt.Errorf("topology has %d load agents, want %d", n, loaders)
	}
	var b strings.Builder
	measured := 0
	for _, r := range run.Results {
		if r.Backend != backend || r.Skipped != "" {
			continue
		}
		name := r.Name()
		if r.Error != "" {
			return "", fmt.Errorf("%s failed: %s", name, r.Error)
		}
		if r.Verify == nil || r.Verify.Received == 0 {
			return "", fmt.Errorf("%s: no verified message (verify %+v)", name, r.Verify)
		}
		if !r.Verify.OK() {
			return "", fmt.Errorf("%s: verification failed: %+v", name, *r.Verify)
		}
		if r.MsgsPerSec == nil || *r.MsgsPerSec <= 0 {
			return "", fmt.Errorf("%s: no throughput", name)
		}
		// The load agents' shares are per repetition (a median of shares means nothing).
		var cpus []string
		reps := 0
		for _, rep := range r.Repetitions {
			if rep.Error != "" || rep.Interrupted {
				continue
			}
			reps++
			if len(rep.Agents) != loaders {
				return "", fmt.Errorf("%s rep %d: %d agent shares, want %d", name, rep.Index+1, len(rep.Agents), loaders)
			}
			for _, a := range rep.Agents {
				if a.Msgs == 0 || a.Conns == 0 {
					return "", fmt.Errorf("%s rep %d: agent %s carried no load (%d conns, %d msgs)", name, rep.Index+1, a.Agent, a.Conns, a.Msgs)
				}
				if a.CPUNsPerMsg == nil || *a.CPUNsPerMsg <= 0 {
					return "", fmt.Errorf("%s rep %d: agent %s has no CPU per message", name, rep.Index+1, a.Agent)
				}
				cpus = append(cpus, fmt.Sprintf("%s %.0f ns/msg", a.Agent, *a.CPUNsPerMsg))
			}
		}
		if reps == 0 {
			return "", fmt.Errorf("%s: no complete repetition", name)
		}
		measured++
		fmt.Fprintf(&b, "%s: %.0f msgs/s, %d verified, agents: %s\n", name, *r.MsgsPerSec, r.Verify.Received, strings.Join(cpus, ", "))
	}
	if measured == 0 {
		return "", errors.New("no measured result of backend " + backend)
	}
	return b.String(), nil
}
