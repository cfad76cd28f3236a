package harness

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/proto"
)

func TestLoadVerifiesReplies(t *testing.T) {
	cases := []struct {
		name string
		app  string
		room int
		cfg  LoadConfig
	}{
		{"echo/depth1", "echo", 0, LoadConfig{Proto: proto.Echo, Conns: 10, Size: 64, Depth: 1}},
		{"echo/short-messages/depth8", "echo", 0, LoadConfig{Proto: proto.Echo, Conns: 4, Size: 5, Depth: 8}},
		{"echo/open-loop", "echo", 0, LoadConfig{Proto: proto.Echo, Conns: 5, Size: 100, Rate: 3000}},
		{"framed/depth4", "framed", 0, LoadConfig{Proto: proto.Framed, Conns: 8, Size: 200, Depth: 4}},
		{"sockperf/depth1", "sockperf", 0, LoadConfig{Proto: proto.Sockperf, Conns: 3, Size: 64, Depth: 1}},
		{"broadcast/room4", "broadcast", 4, LoadConfig{Proto: proto.Framed, Conns: 8, Size: 64, Depth: 1, Broadcast: true, Room: 4}},
		{"idle+active", "framed", 0, LoadConfig{Proto: proto.Framed, Conns: 20, IdleConns: 15, Heartbeat: 20 * time.Millisecond, Size: 64, Depth: 1}},
		{"churn", "echo", 0, LoadConfig{Proto: proto.Echo, Conns: 4, Size: 64, OneShot: true, Churn: true}},
		{"crypto/depth2", "crypto", 0, LoadConfig{Proto: protoCrypto, Conns: 6, Size: 64 + proto.CryptoOverhead, Depth: 2}},
		{"crypto/open-loop", "crypto", 0, LoadConfig{Proto: protoCrypto, Conns: 5, Size: 64 + proto.CryptoOverhead, Rate: 2000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Target = startAppServer(t, tc.app, apps.Options{RoomSize: tc.room})
			c.Warmup, c.Duration = 50*time.Millisecond, 300*time.Millisecond
			c.BeforeTraffic = func() error { time.Sleep(20 * time.Millisecond); return nil }
			res, err := Load(context.Background(), c)
			if err != nil {
				t.Fatal(err)
			}
			v := res.Verify
			if !res.OK() || res.Errors != 0 {
				t.Fatalf("verification failed: %+v errors %d first %q", v, res.Errors, res.FirstError)
			}
			if v.Sent == 0 || res.Msgs == 0 {
				t.Fatalf("nothing measured: %+v msgs %d", v, res.Msgs)
			}
			want := v.Sent
			if c.Broadcast {
				want *= uint64(c.Room)
			}
			if v.Received != want {
				t.Fatalf("received %d, want %d", v.Received, want)
			}
			if res.Hist.TotalCount() == 0 {
				t.Fatal("no latency recorded")
			}
			if c.Broadcast && uint64(res.Hist.TotalCount()) != res.Msgs {
				t.Fatalf("%d latency samples for %d deliveries: every delivery has its latency from the send", res.Hist.TotalCount(), res.Msgs)
			}
			f := res.Figures()
			if f.MsgsPerSec == nil || f.Latency == nil || f.Latency.P50 == nil || *f.Latency.P50 <= 0 {
				t.Fatalf("figures incomplete: %+v", f)
			}
		})
	}
}

// A server that damages or drops replies must fail verification with the right counter.
func TestLoadDetectsBadServers(t *testing.T) {
	cases := []struct {
		name   string
		handle func(net.Conn)
		check  func(t *testing.T, r *LoadResult)
	}{
		{"corrupt", func(c net.Conn) {
			buf := make([]byte, 64)
			for n := 0; ; n++ {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if n == 20 {
					buf[40] ^= 0xff
				}
				c.Write(buf)
			}
		}, func(t *testing.T, r *LoadResult) {
			if r.Verify.Corrupt == 0 {
				t.Fatalf("corrupt reply not detected: %+v", r.Verify)
			}
		}},
		{"lost", func(c net.Conn) {
			buf := make([]byte, 64)
			for n := 0; ; n++ {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				if n != 20 {
					c.Write(buf)
				}
			}
		}, func(t *testing.T, r *LoadResult) {
			// Dropping message 20 on a depth-4 stream: 21 arrives where 20 was expected.
			if r.Verify.Reordered == 0 && r.Verify.Lost == 0 {
				t.Fatalf("dropped reply not detected: %+v", r.Verify)
			}
		}},
		{"duplicated", func(c net.Conn) {
			buf := make([]byte, 64)
			for n := 0; ; n++ {
				if _, err := io.ReadFull(c, buf); err != nil {
					return
				}
				c.Write(buf)
				if n == 20 {
					c.Write(buf)
				}
			}
		}, func(t *testing.T, r *LoadResult) {
			if r.Verify.Duplicated == 0 {
				t.Fatalf("duplicate reply not detected: %+v", r.Verify)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			addr := startRawServer(t, tc.handle)
			res, err := Load(context.Background(), LoadConfig{Target: addr, Proto: proto.Echo, Conns: 2,
				Size: 64, Depth: 4, Warmup: 10 * time.Millisecond, Duration: 200 * time.Millisecond,
				Drain: 300 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK() {
				t.Fatalf("verification passed against a %s server: %+v", tc.name, res.Verify)
			}
			tc.check(t, res)
		})
	}
}

// fractionAtLeast is the share of recorded latencies >= v.
func fractionAtLeast(h *hdrhistogram.Histogram, v int64) float64 {
	var n int64
	for _, b := range h.Distribution() {
		if b.From >= v {
			n += b.Count
		}
	}
	return float64(n) / float64(h.TotalCount())
}

// An open-loop client measures from the intended send time, so a server that stalls 50 ms
// every 200 ms shows a tail near the stall; a closed-loop client sends nothing while it waits,
// so only one message per connection per stall sees it. Wide margins, no timing targets: the
// relations hold by an order of magnitude on a loaded machine.
func TestOpenLoopSeesServerStalls(t *testing.T) {
	if underWine() {
		t.Skip("under Wine a plain round trip takes tens of ms, the order of the stall itself")
	}
	const stall, period = 50 * time.Millisecond, 200 * time.Millisecond
	t0 := time.Now()
	addr := startRawServer(t, func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if ph := time.Since(t0) % period; ph < stall {
				time.Sleep(stall - ph)
			}
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	})
	base := LoadConfig{Target: addr, Proto: proto.Echo, Conns: 10, Size: 64,
		Warmup: 100 * time.Millisecond, Duration: time.Second}
	open, closed := base, base
	open.Rate = 2000
	closed.Depth = 1
	ro, err := Load(context.Background(), open)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Load(context.Background(), closed)
	if err != nil {
		t.Fatal(err)
	}
	if !ro.OK() || !rc.OK() {
		t.Fatalf("verification: open %+v closed %+v", ro.Verify, rc.Verify)
	}
	po, pc := ro.Hist.ValueAtPercentile(99), rc.Hist.ValueAtPercentile(99)
	fo, fc := fractionAtLeast(ro.Hist, int64(10*time.Millisecond)), fractionAtLeast(rc.Hist, int64(10*time.Millisecond))
	t.Logf("open loop: p99 %v, %.1f%% >= 10ms (%d msgs); closed loop: p99 %v, %.1f%% >= 10ms (%d msgs)",
		time.Duration(po), fo*100, ro.Msgs, time.Duration(pc), fc*100, rc.Msgs)
	// About a quarter of the offered messages are due during a stall: at least 10 % wait >= 10 ms.
	if po < int64(stall/2) || fo < 0.10 {
		t.Fatalf("open loop did not see the stalls: p99 %v, %.1f%% >= 10ms", time.Duration(po), fo*100)
	}
	// The open-loop timeline shows the stalls: some 100 ms interval holds a reply >= stall/2.
	if len(ro.Intervals) < 5 {
		t.Fatalf("%d timeline intervals for a 1 s window", len(ro.Intervals))
	}
	var worst int64
	for _, h := range ro.Intervals {
		worst = max(worst, h.Max())
	}
	if worst < int64(stall/2) {
		t.Fatalf("no timeline interval shows the stall: worst max %v", time.Duration(worst))
	}
	// Closed loop: at most conns messages per stall wait; the share is several times smaller.
	if fc*3 > fo {
		t.Fatalf("closed loop share of slow replies %.1f%% not far below open loop's %.1f%%", fc*100, fo*100)
	}
}

func TestLoadCmdExitCodes(t *testing.T) {
	addr := startAppServer(t, "echo", apps.Options{})
	dead := startRawServer(t, func(c net.Conn) {}) // closes at once
	cases := []struct {
		name string
		args []string
		code int
	}{
		{"no-target", []string{"--depth", "1"}, cli.ExitUsage},
		{"bad-proto", []string{"--target", addr, "--proto", "nope", "--depth", "1"}, cli.ExitUsage},
		{"no-depth-no-rate", []string{"--target", addr}, cli.ExitUsage},
		{"depth-and-rate", []string{"--target", addr, "--depth", "1", "--rate", "10"}, cli.ExitUsage},
		{"size-too-small", []string{"--target", addr, "--proto", "framed", "--size", "3", "--depth", "1"}, cli.ExitUsage},
		{"unknown-client-backend", []string{"--target", addr, "--depth", "1", "--client-backend", "nosuch"}, cli.ExitUsage},
		{"unavailable-client-backend", []string{"--target", addr, "--depth", "1", "--client-backend", unavailableBackend}, cli.ExitUsage},
		{"negative-connect-timeout", []string{"--target", addr, "--depth", "1", "--connect-timeout", "-1s"}, cli.ExitUsage},
		{"server-closes", []string{"--target", dead, "--conns", "2", "--depth", "1", "--duration", "200ms", "--warmup", "0s"}, cli.ExitFailure},
		{"ok", []string{"--target", addr, "--conns", "2", "--depth", "1", "--duration", "200ms", "--warmup", "0s"}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			err := LoadCmd(context.Background(), tc.args, &out, &errb)
			if got := cli.Code(err); got != tc.code {
				t.Fatalf("exit %d, want %d (err %v, stderr %s)", got, tc.code, err, errb.String())
			}
		})
	}
}

func TestBottleneckRule(t *testing.T) {
	v := func(x float64) *float64 { return &x }
	cases := []struct {
		name           string
		server, client *float64
		want           string
	}{
		{"server-saturated", v(0.97), v(0.6), "server"},
		{"client-saturated", v(0.5), v(0.95), "client"},
		{"both", v(0.95), v(0.99), "unknown"},
		{"neither", v(0.4), v(0.5), "unknown"},
		{"unmeasured", nil, v(0.99), "unknown"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Bottleneck(tc.server, tc.client); got != tc.want {
				t.Fatalf("Bottleneck = %q, want %q", got, tc.want)
			}
		})
	}
}

// Any RFC 862 echo server is a valid target: a plain io.Copy server, which echoes whatever
// chunks the kernel hands it, passes verification with large pipelined messages.
func TestLoadAgainstPlainEchoServer(t *testing.T) {
	addr := startRawServer(t, func(c net.Conn) { io.Copy(c, c) })
	res, err := Load(context.Background(), LoadConfig{Target: addr, Proto: proto.Echo, Conns: 3, Size: 3000,
		Depth: 8, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond, ClientBackend: "netstd"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.OK() || res.Errors != 0 || res.Msgs == 0 || res.Verify.Received != res.Verify.Sent {
		t.Fatalf("plain echo server: %+v errors %d msgs %d first %q", res.Verify, res.Errors, res.Msgs, res.FirstError)
	}
}
