package harness

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

func TestSplitLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		cfg   LoadConfig
		n     int
		conns []int
		idle  []int
	}{
		{"even", LoadConfig{Conns: 10, Rate: 1000}, 2, []int{5, 5}, []int{0, 0}},
		{"remainder first", LoadConfig{Conns: 10, Rate: 1000}, 3, []int{4, 3, 3}, []int{0, 0, 0}},
		{"fewer conns than agents", LoadConfig{Conns: 2, Depth: 1}, 3, []int{1, 1}, []int{0, 0}},
		{"one agent", LoadConfig{Conns: 7, Depth: 1, Loops: 3}, 1, []int{7}, []int{0}},
		{"whole rooms", LoadConfig{Conns: 24, Broadcast: true, Room: 8, Rate: 800}, 2, []int{16, 8}, []int{0, 0}},
		{"idle spread", LoadConfig{Conns: 105, IdleConns: 100, Depth: 1}, 2, []int{53, 52}, []int{50, 50}},
		{"idle remainder last", LoadConfig{Conns: 14, IdleConns: 11, Depth: 1}, 3, []int{4, 5, 5}, []int{3, 4, 4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.SrcBase = 7
			parts := splitLoad(tc.cfg, tc.n)
			if len(parts) != len(tc.conns) {
				t.Fatalf("%d shares, want %d", len(parts), len(tc.conns))
			}
			src, conns, rate := uint32(7), 0, 0.0
			for i, p := range parts {
				if p.Conns != tc.conns[i] || p.IdleConns != tc.idle[i] || p.SrcBase != src || p.Loops != 0 {
					t.Errorf("share %d: conns %d idle %d src %d loops %d, want %d %d %d 0", i, p.Conns, p.IdleConns, p.SrcBase, p.Loops, tc.conns[i], tc.idle[i], src)
				}
				if p.Broadcast && p.Conns%p.Room != 0 {
					t.Errorf("share %d: %d conns is not whole rooms of %d", i, p.Conns, p.Room)
				}
				src += uint32(p.Conns)
				conns += p.Conns
				rate += p.Rate
			}
			if conns != tc.cfg.Conns || rate != tc.cfg.Rate {
				t.Errorf("shares add to %d conns at %v msgs/s, want %d at %v", conns, rate, tc.cfg.Conns, tc.cfg.Rate)
			}
		})
	}
}

// startTestAgent runs `iobench agent` (the built binary) with token and returns its address.
func startTestAgent(tb testing.TB, token string) string {
	tb.Helper()
	if testExe == "" || os.Getenv(serveEnv) == "1" {
		tb.Skip("cmd/iobench did not build: no agent binary")
	}
	cmd := exec.Command(testExe, "agent", "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), TokenEnv+"="+token)
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	tb.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			tb.Errorf("agent did not stop on SIGTERM")
		}
	})
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		tb.Fatalf("agent: no output; stderr %s", stderr.String())
	}
	go io.Copy(io.Discard, out)
	addr, ok := strings.CutPrefix(sc.Text(), "listening on ")
	if !ok {
		tb.Fatalf("agent: first line %q", sc.Text())
	}
	return addr
}

// A load split across two real load agents: each share's counts add up to the merged ones and
// the merged histogram holds every sample.
func TestRemoteLoadsMerge(t *testing.T) {
	addr := startAppServer(t, "framed", apps.Options{})
	var agents []string
	var wg sync.WaitGroup
	var mu sync.Mutex
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := startTestAgent(t, "tok")
			mu.Lock()
			agents = append(agents, a)
			mu.Unlock()
		}()
	}
	wg.Wait()
	_, rl, _, err := ConnectAgents(context.Background(), startTestAgent(t, "tok"), agents, "tok")
	if err != nil {
		t.Fatal(err)
	}
	edges := 0
	cfg := LoadConfig{Target: addr, Proto: proto.Framed, Conns: 5, Size: 64, Rate: 3000, Warmup: 50 * time.Millisecond,
		Duration: 400 * time.Millisecond, ClientBackend: "netstd",
		BeforeWindow: func() { edges++ }, AfterWindow: func() { edges++ }}
	res, err := rl.Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Shares) != 2 || edges != 2 {
		t.Fatalf("%d shares, %d window edges", len(res.Shares), edges)
	}
	var sum uint64
	for _, s := range res.Shares {
		sum += s.Msgs
		if s.Msgs == 0 || s.CPUNsPerMsg == nil || s.CPUUtil == nil || s.CPUs == 0 || s.ClockRTTNs <= 0 || (runtime.GOOS == "linux" && s.TCPRetransmits == nil) {
			t.Errorf("share %+v", s)
		}
	}
	if res.Shares[0].Conns != 3 || res.Shares[1].Conns != 2 || *res.Shares[0].Rate != 1800 || *res.Shares[1].Rate != 1200 {
		t.Errorf("split: %+v %+v", res.Shares[0], res.Shares[1])
	}
	if !res.OK() || res.Msgs != sum || uint64(res.Hist.TotalCount()) != sum || res.Connected != 5 {
		t.Fatalf("merged msgs %d samples %d, shares sum %d; connected %d verify %+v", res.Msgs, res.Hist.TotalCount(), sum, res.Connected, res.Verify)
	}
	// 3000 msgs/s over 0.4 s: both shares paced one schedule.
	if res.Msgs < 900 || res.Msgs > 1500 {
		t.Fatalf("merged %d msgs in %v at 3000 msgs/s", res.Msgs, res.Window)
	}
}

// The coordinator with one server agent and two load agents (real child processes on
// 127.0.0.1) runs a short pingpong suite: every repetition's merged counts are the sum of its
// agents' shares, and the run records its topology.
func TestRunOverAgents(t *testing.T) {
	server := startTestAgent(t, "tok")
	loads := []string{startTestAgent(t, "tok"), startTestAgent(t, "tok")}
	rs, rl, topo, err := ConnectAgents(context.Background(), server, loads, "tok")
	if err != nil {
		t.Fatal(err)
	}
	topo.Kind, topo.Engine, topo.Link = results.TopologyAgents, "process", linkOf(server, loads)
	var w Workload
	for _, x := range Suites["quick"] {
		if x.Scenario == results.ScenarioPingPong {
			w = x
		}
	}
	var stdout, stderr bytes.Buffer
	run, err := Run(context.Background(), RunConfig{Suite: "quick", Workloads: []Workload{w}, Reps: 1, Ladder: []float64{0.5},
		Backends: []string{"netstd"}, AA: AANone, Out: t.TempDir(), NoReport: true, Exe: testExe,
		Duration: 300 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Servers: rs, Loads: rl, Topology: topo, speedProbe: func() (float64, float64, error) { return 10e6, 25e3, nil }}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		t.Fatal(err)
	}
	tp := run.Env.Topology
	if tp == nil || tp.Kind != results.TopologyAgents || tp.Loaders() != 2 || tp.Link != "loopback" || len(tp.Hosts) != 4 {
		t.Fatalf("topology %+v", tp)
	}
	if !strings.Contains(run.Env.Label(), "agents") {
		t.Fatalf("label %q does not name the topology", run.Env.Label())
	}
	reps := 0
	for _, r := range run.Results {
		for _, rep := range r.Repetitions {
			if rep.Error != "" {
				t.Fatalf("%s: %s", r.Name(), rep.Error)
			}
			reps++
			var sum uint64
			for _, s := range rep.Agents {
				sum += s.Msgs
			}
			if len(rep.Agents) != 2 || sum == 0 || sum != rep.LatencySamples || rep.Verify.Received != rep.Verify.Sent {
				t.Fatalf("%s: shares %+v sum %d, merged samples %d, verify %+v", r.Name(), rep.Agents, sum, rep.LatencySamples, rep.Verify)
			}
			if rep.Server == nil || rep.Server.CPUNsPerMsg == nil {
				t.Fatalf("%s: no server CPU from the server agent: %+v", r.Name(), rep.Server)
			}
		}
	}
	if reps < 2 { // the capacity probe and the ladder point at least
		t.Fatalf("%d repetitions", reps)
	}
}

func TestParseRetransSegs(t *testing.T) {
	snmp := "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors\nTcp: 1 200 120000 -1 10 5 0 0 2 1000 990 17 0 3 0\nUdp: InDatagrams\nUdp: 4\n"
	if n, err := parseRetransSegs(snmp); err != nil || n != 17 {
		t.Fatalf("RetransSegs %d, %v; want 17", n, err)
	}
	if _, err := parseRetransSegs("Ip: a\nIp: 1\n"); err == nil {
		t.Fatal("no Tcp lines: no error")
	}
}

// Every field of LoadConfig that is not a callback crosses the wire: a field added to
// LoadConfig and forgotten in WireLoad fails here.
func TestWireLoadCoversLoadConfig(t *testing.T) {
	var c LoadConfig
	v := reflect.ValueOf(&c).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Kind() {
		case reflect.Bool:
			f.SetBool(true)
		case reflect.Int, reflect.Int64:
			f.SetInt(int64(i + 3))
		case reflect.Uint32:
			f.SetUint(uint64(i + 3))
		case reflect.Float64:
			f.SetFloat(float64(i) + 0.5)
		case reflect.String:
			f.SetString(fmt.Sprint("s", i))
		case reflect.Func:
		case reflect.Struct: // StartAt: set by the coordinator at go time, not sent
		default:
			t.Fatalf("LoadConfig.%s: kind %v not covered by this test", v.Type().Field(i).Name, f.Kind())
		}
	}
	c.DuringWindow = func(func()) {}
	got := WireLoadOf(c).config()
	gv := reflect.ValueOf(got)
	for i := range v.NumField() {
		name := v.Type().Field(i).Name
		switch v.Field(i).Kind() {
		case reflect.Func:
			if name == "DuringWindow" && gv.Field(i).IsNil() {
				t.Errorf("DuringWindow lost (MarkAtWindow)")
			}
			continue
		case reflect.Struct:
			continue
		}
		if !reflect.DeepEqual(v.Field(i).Interface(), gv.Field(i).Interface()) {
			t.Errorf("LoadConfig.%s = %v does not cross the wire (got %v)", name, v.Field(i).Interface(), gv.Field(i).Interface())
		}
	}
}
