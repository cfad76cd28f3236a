package harness

import (
	"bytes"
	"context"
	"io"
	"net"
	"os/exec"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/iobench/iobench/proto"
	"github.com/iobench/iobench/results"
)

// unitSanity bounds how far two clients' figures may differ before the test calls it a
// counting or unit mistake (those are off by 10^3 or more); speed differences below it are
// reported by scripts/crosscheck-sockperf.sh, never asserted in a test.
const unitSanity = 30.0

var (
	sockperfP50  = regexp.MustCompile(`percentile 50\.000 =\s*([0-9.]+)`)
	sockperfRate = regexp.MustCompile(`\[Valid Duration\] RunTime=([0-9.]+) sec; SentMessages=\d+; ReceivedMessages=(\d+)`)
)

// TestCrossCheckSockperf checks iobench's numbers against an independent client: the real
// sockperf ping-pong (one TCP connection, one message in flight, 64 B, full round trip)
// against `iobench serve --proto sockperf`, and iobench load with the same shape against the
// same server. The median round trips must agree within unitSanity: this is not a speed
// assertion (the machine is shared, the test binary may be race-instrumented); it catches unit
// and clock mistakes, which are off by 1000×. The real cross-check with pinned processes and
// repetitions is scripts/crosscheck-sockperf.sh; both numbers are logged.
func TestCrossCheckSockperf(t *testing.T) {
	sp, err := exec.LookPath("sockperf")
	if err != nil {
		if requireTools() {
			t.Fatal("sockperf not installed but CI=true requires it (apt-get install sockperf)")
		}
		t.Skip("sockperf not installed")
	}
	srv, err := startServer(context.Background(), testExe, []string{"--backend", "netstd", "--proto", "sockperf", "--addr", "127.0.0.1:0", "--gomaxprocs", "1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.stop() })
	cpus := allowedCPUs()
	pinned := len(cpus) >= 2
	if pinned {
		if err := pinProcess(srv.pid(), cpus[:1]); err != nil {
			t.Fatal(err)
		}
	}
	_, port, err := net.SplitHostPort(srv.addr)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	cmd := exec.Command(sp, "ping-pong", "-i", "127.0.0.1", "-p", port, "--tcp", "-m", "64", "-t", "1", "--full-rtt")
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if pinned {
		pinProcess(cmd.Process.Pid, cpus[1:2]) // during sockperf's 400 ms warm-up
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("sockperf: %v\n%s", err, buf.Bytes())
	}
	out := buf.Bytes()
	m := sockperfP50.FindSubmatch(out)
	r := sockperfRate.FindSubmatch(out)
	if m == nil || r == nil {
		t.Fatalf("sockperf output not understood:\n%s", out)
	}
	spP50us, _ := strconv.ParseFloat(string(m[1]), 64)
	spSecs, _ := strconv.ParseFloat(string(r[1]), 64)
	spMsgs, _ := strconv.ParseFloat(string(r[2]), 64)
	spRate := spMsgs / spSecs

	if pinned {
		pinProcess(0, cpus[1:])
		prev := runtime.GOMAXPROCS(1)
		defer func() { pinProcess(0, cpus); runtime.GOMAXPROCS(prev) }()
	}
	res, err := Load(context.Background(), LoadConfig{Target: srv.addr, Proto: proto.Sockperf, Conns: 1,
		Size: 64, Depth: 1, Warmup: 300 * time.Millisecond, Duration: time.Second, Loops: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() {
		t.Fatalf("verification: %+v %s", res.Verify, res.FirstError)
	}
	ioP50us := float64(res.Hist.ValueAtPercentile(50)) / 1e3
	t.Logf("sockperf: p50 RTT %.1f µs, %.0f msgs/s; iobench load: p50 RTT %.1f µs, %.0f msgs/s (ratio p50 %.2f, rate %.2f)",
		spP50us, spRate, ioP50us, res.MsgsPerSec(), ioP50us/spP50us, res.MsgsPerSec()/spRate)
	if ratio := ioP50us / spP50us; ratio > unitSanity || ratio < 1/unitSanity {
		t.Fatalf("p50 round trip disagrees: iobench %.1f µs vs sockperf %.1f µs", ioP50us, spP50us)
	}
}

// TestCrossCheckPlainClient compares iobench load's closed-loop throughput and median round
// trip with a plain Go client (a goroutine per connection doing blocking write + read, no
// iobench code) against the same `iobench serve` child, interleaved twice. They must agree
// within unitSanity (it catches counting and clock mistakes, not speed differences).
func TestCrossCheckPlainClient(t *testing.T) {
	srv, err := startServer(context.Background(), testExe, []string{"--backend", "netstd", "--proto", "echo", "--addr", "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.stop() })
	const conns, size, dur = 10, 64, 700 * time.Millisecond
	plain := func() (rate float64, p50 time.Duration) {
		var wg sync.WaitGroup
		var mu sync.Mutex
		var lats []time.Duration
		var n int
		deadline := time.Now().Add(dur)
		for range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := net.Dial("tcp", srv.addr)
				if err != nil {
					t.Error(err)
					return
				}
				defer c.Close()
				msg, got := bytes.Repeat([]byte{7}, size), make([]byte, size)
				var local []time.Duration
				for time.Now().Before(deadline) {
					t0 := time.Now()
					if _, err := c.Write(msg); err != nil {
						t.Error(err)
						return
					}
					if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
						t.Errorf("plain client: %v", err)
						return
					}
					local = append(local, time.Since(t0))
				}
				mu.Lock()
				lats = append(lats, local...)
				n += len(local)
				mu.Unlock()
			}()
		}
		wg.Wait()
		sort.Slice(lats, func(i, j int) bool { return lats[i] < lats[j] })
		if len(lats) == 0 {
			t.Fatal("plain client measured nothing")
		}
		return float64(n) / dur.Seconds(), lats[len(lats)/2]
	}
	load := func() (float64, time.Duration) {
		res, err := Load(context.Background(), LoadConfig{Target: srv.addr, Proto: proto.Echo, Conns: conns,
			Size: size, Depth: 1, Warmup: 100 * time.Millisecond, Duration: dur, ClientBackend: "netstd"})
		if err != nil || !res.OK() {
			t.Fatalf("load: %v %+v", err, res)
		}
		return res.MsgsPerSec(), time.Duration(res.Hist.ValueAtPercentile(50))
	}
	var pr, lr []float64
	var pp, lp []float64
	for range 2 {
		r, p := plain()
		pr, pp = append(pr, r), append(pp, float64(p))
		r, p = load()
		lr, lp = append(lr, r), append(lp, float64(p))
	}
	t.Logf("plain Go client: %.0f msgs/s p50 %v; iobench load: %.0f msgs/s p50 %v (medians of 2)",
		results.Median(pr), time.Duration(results.Median(pp)), results.Median(lr), time.Duration(results.Median(lp)))
	if q := results.Median(lr) / results.Median(pr); q > unitSanity || q < 1/unitSanity {
		t.Fatalf("throughput disagrees: iobench %.0f vs plain %.0f msgs/s", results.Median(lr), results.Median(pr))
	}
	if q := results.Median(lp) / results.Median(pp); q > unitSanity || q < 1/unitSanity {
		t.Fatalf("p50 disagrees: iobench %v vs plain %v", time.Duration(results.Median(lp)), time.Duration(results.Median(pp)))
	}
}
