package main

import (
	"strings"
	"testing"

	"github.com/iobench/iobench/results"
)

func goodRun() *results.Run {
	cpu := 5000.0
	rate := 1e4
	share := func(a string) results.AgentShare {
		return results.AgentShare{Agent: a, Conns: 50, Msgs: 5000, CPUNsPerMsg: &cpu}
	}
	return &results.Run{
		Env: results.Env{Topology: &results.Topology{Kind: results.TopologyAgents, Hosts: []results.TopoHost{
			{Role: results.RoleCoordinator}, {Role: results.RoleServer}, {Role: results.RoleLoad}, {Role: results.RoleLoad}}}},
		Results: []results.Result{
			{Backend: "epoll", Scenario: results.ScenarioPingPong, Figures: results.Figures{MsgsPerSec: &rate,
				Verify: &results.Verify{Sent: 10000, Received: 10000}},
				Repetitions: []results.Rep{
					{Index: 0, Figures: results.Figures{Agents: []results.AgentShare{share("a:1"), share("b:1")}}},
					{Index: 1, Interrupted: true}, // excluded, as from medians
				}},
			{Backend: "rio", Scenario: results.ScenarioPingPong, Skipped: "rio: unsupported"},
		},
	}
}

func TestCheck(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(*results.Run)
		want  string
	}{
		{"good", func(*results.Run) {}, ""},
		{"local run", func(r *results.Run) { r.Env.Topology.Kind = results.TopologyLocal }, "did not go through agents"},
		{"one loader", func(r *results.Run) { r.Env.Topology.Hosts = r.Env.Topology.Hosts[:3] }, "1 load agents, want 2"},
		{"failed", func(r *results.Run) { r.Results[0].Error = "lost 3" }, "failed: lost 3"},
		{"lost", func(r *results.Run) { r.Results[0].Verify.Lost = 1 }, "verification failed"},
		{"nothing received", func(r *results.Run) { r.Results[0].Verify.Received = 0 }, "no verified message"},
		{"agent without CPU", func(r *results.Run) { r.Results[0].Repetitions[0].Agents[1].CPUNsPerMsg = nil }, "agent b:1 has no CPU"},
		{"idle agent", func(r *results.Run) { r.Results[0].Repetitions[0].Agents[0].Msgs = 0 }, "carried no load"},
		{"share missing", func(r *results.Run) { r.Results[0].Repetitions[0].Agents = r.Results[0].Repetitions[0].Agents[:1] }, "1 agent shares"},
		{"no complete repetition", func(r *results.Run) { r.Results[0].Repetitions[0].Error = "x" }, "no complete repetition"},
		{"backend not measured", func(r *results.Run) { r.Results[0].Backend = "netstd" }, "no measured result"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := goodRun()
			c.spoil(r)
			out, err := check(r, "epoll", 2)
			if c.want == "" {
				if err != nil || !strings.Contains(out, "a:1 5000 ns/msg") {
					t.Fatalf("good run: %q, %v", out, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}
