package harness

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/proto"
)

func TestScaleCeiling(t *testing.T) {
	cases := []struct {
		name      string
		l         fdLimits
		want      int
		wantLimit string
	}{
		{"hard limit", fdLimits{Soft: 20000, Hard: 20000, Open: 10}, 20000 - scaleFDMargin - 10, "RLIMIT_NOFILE hard 20000"},
		{"soft below hard", fdLimits{Soft: 1024, Hard: 4096}, 1024 - scaleFDMargin, "RLIMIT_NOFILE soft 1024, hard 4096"},
		{"system file table", fdLimits{Soft: 1 << 20, Hard: 1 << 20, FileFree: 50000, FileFreeOK: true}, 25000 - scaleFDMargin, "fs.file-max: 50000 files free for the server and the load together"},
		{"tiny limit", fdLimits{Soft: 64, Hard: 64}, 0, "RLIMIT_NOFILE hard 64"},
		{"unknown", fdLimits{Err: errNA}, 0, "RLIMIT_NOFILE unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, limit := scaleCeiling(tc.l)
			if got != tc.want || limit != tc.wantLimit {
				t.Fatalf("ceiling %d (%s), want %d (%s)", got, limit, tc.want, tc.wantLimit)
			}
		})
	}
	line := aboveCeiling(scaleWorkload(100000), 19862, "RLIMIT_NOFILE hard 20000")
	if want := "idle conns=100000: above this machine's limit of 19 862 connections per process (RLIMIT_NOFILE hard 20000)"; line != want {
		t.Fatalf("line %q, want %q", line, want)
	}
}

func TestParseConns(t *testing.T) {
	if n, err := parseConns("1000, 4_000,16000"); err != nil || len(n) != 3 || n[1] != 4000 {
		t.Fatalf("parseConns = %v, %v", n, err)
	}
	for _, bad := range []string{"", "0", "-5", "ten", "1000,x"} {
		if _, err := parseConns(bad); err == nil {
			t.Fatalf("parseConns(%q) accepted", bad)
		}
	}
}

// Asked for explicitly, a count above this machine's ceiling refuses the run with one line
// naming the limit, before anything runs; --conns outside the scale suite is refused too.
func TestRunScaleRefusesAboveCeiling(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"above the ceiling", []string{"--suite", "scale", "--conns", "1000,1000000000"}, "idle conns=1000000000: above this machine's limit of "},
		{"not the scale suite", []string{"--suite", "quick", "--conns", "1000"}, "--conns sets the scale suite's connection counts"},
		{"bad count", []string{"--suite", "scale", "--conns", "1000,lots"}, `"lots" is not a positive connection count`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			var stdout, stderr bytes.Buffer
			start := time.Now()
			err := RunCmd(context.Background(), append(tc.args, "--backends", "netstd", "--aa", "none", "--out", out), &stdout, &stderr)
			if err == nil || cli.Code(err) != 2 || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (code %d), want a usage error containing %q; stderr:\n%s", err, cli.Code(err), tc.want, stderr.String())
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("not one line: %q", err)
			}
			if tc.name == "above the ceiling" && (!strings.Contains(err.Error(), "RLIMIT_NOFILE") || strings.Contains(stderr.String(), "rep 1/1")) {
				t.Fatalf("the line must name the limit and nothing may run: %q; stderr:\n%s", err, stderr.String())
			}
			if time.Since(start) > 5*time.Second {
				t.Fatalf("refusing took %v: something ran", time.Since(start))
			}
		})
	}
}

// The scale suite's short form, as CI runs it: 1 000 and 4 000 idle connections on two
// backends, short windows, real `iobench serve` children. Every heartbeat due in the window
// is sent, answered and verified; every scale figure is measured; a count of the suite's own
// list above the ceiling is recorded as skipped with the line naming the limit.
func TestRunScaleSuiteShort(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real servers with 4 000 connections")
	}
	wls := scaleWorkloads([]int{1000, 4000, 1 << 30})
	for i := range wls {
		wls[i].Warmup, wls[i].Duration = 300*time.Millisecond, time.Second
	}
	out := t.TempDir()
	var stdout, stderr bytes.Buffer
	run, err := Run(context.Background(), RunConfig{Suite: "scale", Workloads: wls, Reps: 1,
		Backends: []string{"netstd", "epoll"}, AA: AANone, Out: out, Exe: testExe, NoReport: true}, &stdout, &stderr)
	t.Logf("stderr:\n%s", stderr.String())
	if err != nil {
		var ce *cli.Error
		if errors.As(err, &ce) && cli.Code(err) == 2 {
			t.Fatalf("refused: %v", err)
		}
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(stderr.String(), "ceiling ") {
		t.Fatalf("the ceiling was not stated")
	}
	measured := 0
	for _, r := range run.Results {
		name := r.Name() + "/" + itoa(r.Conns)
		if r.Conns == 1<<30 {
			if !strings.Contains(r.Skipped, "above this machine's limit of") {
				t.Fatalf("%s: skipped %q, want the ceiling line", name, r.Skipped)
			}
			continue
		}
		if r.Skipped != "" {
			if r.Backend == "epoll" && strings.Contains(r.Skipped, "unsupported") {
				continue // a kernel without epoll's requirements
			}
			t.Fatalf("%s skipped: %s", name, r.Skipped)
		}
		measured++
		hb, sc := r.Heartbeats, r.Scale
		if r.Error != "" || hb == nil || sc == nil {
			t.Fatalf("%s: error %q heartbeats %+v scale %+v", name, r.Error, hb, sc)
		}
		if hb.Due == 0 || hb.Sent != hb.Due || hb.Answered != hb.Due || hb.Late > hb.Answered {
			t.Fatalf("%s: heartbeats %+v: every one due must be sent and answered", name, *hb)
		}
		// About conns heartbeats per second of window.
		if w := float64(r.DurationNs) / 1e9 * float64(r.Conns); float64(hb.Due) < w-float64(r.Conns) || float64(hb.Due) > w+float64(r.Conns) {
			t.Fatalf("%s: %d due in %v, want about %.0f", name, hb.Due, time.Duration(r.DurationNs), w)
		}
		if sc.ConnectNs <= 0 || sc.AcceptPerSec == nil || sc.RSSEmptyBytes == nil || sc.RSSAboveEmptyPerConn == nil ||
			sc.RSSBytesPerConn == nil || sc.SockMemBytes == nil || sc.SourceAddrs < 1 || sc.Ceiling <= 0 || sc.NofileHard == 0 {
			t.Fatalf("%s: scale figures incomplete: %+v", name, *sc)
		}
		if r.ClientBackend != idleDriverName || r.Latency == nil || r.Latency.P99 == nil || r.Verify == nil || !r.Verify.OK() {
			t.Fatalf("%s: client %q latency %+v verify %+v", name, r.ClientBackend, r.Latency, r.Verify)
		}
	}
	if measured < 2 {
		t.Fatalf("%d results measured, want both counts at least on netstd", measured)
	}
	if err := run.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestSplitIdle(t *testing.T) {
	parts := splitIdle(LoadConfig{Conns: 10, IdleConns: 10, IdleDriver: true, SrcBase: 5, Loops: 3}, 3)
	want := []struct {
		conns int
		src   uint32
	}{{4, 5}, {3, 9}, {3, 12}}
	if len(parts) != len(want) {
		t.Fatalf("%d shares, want %d", len(parts), len(want))
	}
	for i, p := range parts {
		if p.Conns != want[i].conns || p.IdleConns != p.Conns || p.SrcBase != want[i].src || p.ScheduleConns != 10 || p.Loops != 0 {
			t.Fatalf("share %d: %+v", i, p)
		}
	}
	if n := len(splitIdle(LoadConfig{Conns: 2, IdleConns: 2, IdleDriver: true}, 5)); n != 2 {
		t.Fatalf("%d shares of 2 connections", n)
	}
}

// An idle load spread over two real load agents (`iobench agent` children): the shares'
// heartbeat accounts add up exactly, every heartbeat due is answered, and the merged
// histogram holds every answered heartbeat.
func TestIdleDriverOverAgents(t *testing.T) {
	addr := startAppServer(t, "framed", apps.Options{})
	loads := []string{startTestAgent(t, "tok"), startTestAgent(t, "tok")}
	_, rl, _, err := ConnectAgents(context.Background(), startTestAgent(t, "tok"), loads, "tok")
	if err != nil {
		t.Fatal(err)
	}
	cfg := LoadConfig{Target: addr, Proto: proto.Framed, Conns: 200, IdleConns: 200, Size: 64, IdleDriver: true,
		SrcPerAddr: 50, Heartbeat: 100 * time.Millisecond, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond}
	res, err := rl.Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hb := res.HB
	if len(res.Shares) != 2 || hb == nil || res.Connected != 200 || res.ConnectTime <= 0 {
		t.Fatalf("%d shares, heartbeats %+v, connected %d, connect time %v", len(res.Shares), hb, res.Connected, res.ConnectTime)
	}
	if hb.Due == 0 || hb.Sent != hb.Due || hb.Answered != hb.Due || !res.OK() || res.Errors != 0 {
		t.Fatalf("heartbeats %+v verify %+v (%s)", *hb, res.Verify, res.FirstError)
	}
	if uint64(res.Hist.TotalCount()) != hb.Answered || res.Msgs != hb.Answered || res.SourceAddrs != 2 {
		t.Fatalf("%d samples, %d msgs for %d answered; %d source addresses", res.Hist.TotalCount(), res.Msgs, hb.Answered, res.SourceAddrs)
	}
}
