package harness

import (
	"bytes"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/internal/netns"
	"github.com/iobench/iobench/results"
)

// Bad topology flags are refused before anything is built, with one clear line.
func TestTopologyFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"netem without netns", []string{"--netem", "delay 5ms"}, "--netem needs --topology netns"},
		{"unknown topology", []string{"--topology", "mesh"}, `unknown --topology "mesh"`},
		{"bad netem", []string{"--topology", "netns", "--netem", "delay 5"}, `duration "5"`},
		{"netem typo", []string{"--topology", "netns", "--netem", "delay 5ms los 1%"}, `unknown "los"`},
		{"netns with agents", []string{"--topology", "netns", "--server-agent", "127.0.0.1:1", "--load-agents", "127.0.0.1:2"}, "starts its own agents"},
		{"no loaders", []string{"--topology", "netns", "--loaders", "0"}, "--loaders 0"},
		{"server agent alone", []string{"--server-agent", "127.0.0.1:1"}, "both --server-agent and --load-agents"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := RunCmd(context.Background(), append(tc.args, "--out", t.TempDir()), &stdout, &stderr)
			if cli.Code(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v (code %d), want usage error with %q", err, cli.Code(err), tc.want)
			}
		})
	}
}

// ownLeftovers are the namespaces and links of this process that still exist.
func ownLeftovers(tb testing.TB) []string {
	tb.Helper()
	all, err := netns.Leftovers()
	if err != nil {
		tb.Fatal(err)
	}
	var own []string
	p := strconv.Itoa(os.Getpid())
	for _, n := range all {
		if strings.HasPrefix(n, "iob-"+p+"-") || strings.HasPrefix(n, "iob"+p) {
			own = append(own, n)
		}
	}
	return own
}

// The "done when": pingpong through the agents of a netns topology with a 5 ms
// netem delay each way has a p50 of at least the added 10 ms round trip, the run records its
// topology, and nothing of it is left afterwards.
func TestNetnsTopologyNetem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("network namespaces: Linux only")
	}
	if err := netns.Check(); err != nil {
		t.Skip(err)
	}
	if testExe == "" || os.Getenv(serveEnv) == "1" {
		t.Skip("cmd/iobench did not build: no agent binary")
	}
	var w Workload
	for _, x := range Suites["quick"] {
		if x.Scenario == results.ScenarioPingPong {
			w = x
		}
	}
	w.Conns = 20
	c := RunConfig{Suite: "quick", Workloads: []Workload{w}, Reps: 1, Ladder: []float64{0.5}, Backends: []string{"netstd"},
		AA: AANone, Out: t.TempDir(), NoReport: true, Exe: testExe, Duration: 300 * time.Millisecond,
		Warmup: 100 * time.Millisecond, speedProbe: func() (float64, float64, error) { return 10e6, 25e3, nil }}
	var stdout bytes.Buffer
	var stderr lockedBuffer // the agents' lines come from other goroutines
	f := remoteFlags{topology: results.TopologyNetns, loaders: 2, netem: "delay 5ms"}
	cleanup, err := f.apply(context.Background(), &c, &stderr)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	defer func() {
		cleanup()
		if left := ownLeftovers(t); len(left) > 0 {
			t.Errorf("left behind: %v", left)
		}
	}()
	if len(ownLeftovers(t)) == 0 {
		t.Fatal("no namespace or link made")
	}
	run, err := Run(context.Background(), c, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	tp := run.Env.Topology
	if tp == nil || tp.Kind != results.TopologyNetns || tp.Netem == nil || tp.Netem.DelayNs != int64(5*time.Millisecond) || tp.Loaders() != 2 {
		t.Fatalf("topology %+v", tp)
	}
	for _, h := range tp.Hosts {
		if h.Role != results.RoleCoordinator && (h.NetNS == "" || h.Addr == "" || h.ClockRTTNs == nil) {
			t.Errorf("host %+v: namespace, address or clock missing", h)
		}
	}
	points := 0
	for _, r := range run.Results {
		for _, rep := range r.Repetitions {
			if rep.Error != "" || rep.Latency == nil || rep.Latency.P50 == nil {
				t.Fatalf("%s: %+v", r.Name(), rep)
			}
			if p50 := time.Duration(*rep.Latency.P50); p50 < 10*time.Millisecond {
				t.Errorf("%s rate %v: p50 %v under the 10 ms the netem delay adds to a round trip", r.Name(), r.Rate, p50)
			}
			if len(rep.Agents) != 2 || rep.Agents[0].TCPRetransmits == nil {
				t.Errorf("%s: agent shares %+v (want 2, with their retransmits)", r.Name(), rep.Agents)
			}
			if rep.ServerTCPRetransmits == nil {
				t.Errorf("%s: no server retransmits from the server agent's namespace", r.Name())
			}
			points++
		}
	}
	if points < 2 {
		t.Fatalf("%d repetitions", points)
	}
}
