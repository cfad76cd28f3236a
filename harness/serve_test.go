package harness

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/internal/cli"
	"github.com/iobench/iobench/models"
	_ "github.com/iobench/iobench/netstd"
	"github.com/iobench/iobench/proto"
)

// startServe runs Serve in-process on 127.0.0.1:0 and returns its address and control input.
func startServe(tb testing.TB, backend, app string) (addr string, control io.Writer, stdout *syncBuffer) {
	return startServeConfig(tb, ServeConfig{Backend: backend, App: app, AppOptions: apps.Options{RoomSize: 3}})
}

// startServeConfig is startServe with the whole config (Addr and Control are set here).
func startServeConfig(tb testing.TB, cfg ServeConfig) (addr string, control io.Writer, stdout *syncBuffer) {
	tb.Helper()
	cfg.Addr, cfg.Control = "127.0.0.1:0", true
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	out := &syncBuffer{lines: make(chan string, 64)}
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, cfg, pr, out, io.Discard)
	}()
	tb.Cleanup(func() {
		cancel()
		pw.Close()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	select {
	case line := <-out.lines:
		a, ok := strings.CutPrefix(line, "listening on ")
		if !ok {
			tb.Fatalf("first line %q, want listening on HOST:PORT", line)
		}
		return a, pw, out
	case err := <-done:
		tb.Fatalf("Serve ended before listening: %v", err)
	case <-time.After(20 * time.Second):
		tb.Fatal("Serve did not print its address")
	}
	return "", nil, nil
}

type syncBuffer struct {
	partial bytes.Buffer
	lines   chan string
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.partial.Write(p)
	for {
		line, err := b.partial.ReadString('\n')
		if err != nil {
			b.partial.WriteString(line)
			return len(p), nil
		}
		b.lines <- strings.TrimSuffix(line, "\n")
	}
}

func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	tb.Cleanup(func() { c.Close() })
	return c
}

func TestServeApps(t *testing.T) {
	for _, tc := range []struct {
		app   string
		proto proto.Name
		size  int
	}{
		{"echo", proto.Echo, 1}, {"echo", proto.Echo, 300},
		{"framed", proto.Framed, 24}, {"framed", proto.Framed, 1000},
		{"sockperf", proto.Sockperf, 14}, {"sockperf", proto.Sockperf, 64},
	} {
		t.Run("app="+tc.app+"/size="+strconv.Itoa(tc.size), func(t *testing.T) {
			addr, _, _ := startServe(t, "netstd", tc.app)
			c := dial(t, addr)
			cl, err := proto.NewClient(tc.proto, tc.size, 1)
			if err != nil {
				t.Fatal(err)
			}
			const n = 200
			var out []byte
			for seq := uint64(0); seq < n; seq++ {
				out = cl.Append(out, seq)
			}
			go c.Write(out)
			buf := make([]byte, 0, len(out))
			tmp := make([]byte, 4096)
			for seq := uint64(0); seq < n; {
				r, err := cl.Next(buf, seq)
				if err != nil {
					t.Fatalf("reply %d: %v", seq, err)
				}
				if r.N == 0 {
					k, err := c.Read(tmp)
					if err != nil {
						t.Fatalf("after %d replies: %v", seq, err)
					}
					buf = append(buf, tmp[:k]...)
					continue
				}
				if r.Seq != seq {
					t.Fatalf("reply seq %d, want %d", r.Seq, seq)
				}
				buf = buf[r.N:]
				seq++
			}
		})
	}
}

func TestServeSockperfNoPongRequest(t *testing.T) {
	addr, _, _ := startServe(t, "netstd", "sockperf")
	c := dial(t, addr)
	// Two messages without the pong-request flag, then one with it: only the third comes back.
	var m []byte
	m = proto.AppendSockperf(m, 1, proto.SockperfClient, 20)
	m = proto.AppendSockperf(m, 2, proto.SockperfClient|proto.SockperfWarmup, 20)
	m = proto.AppendSockperf(m, 3, proto.SockperfClient|proto.SockperfPongRequest, 20)
	c.Write(m)
	got := make([]byte, 20)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	seq, flags, n, err := proto.ParseSockperf(got, 64)
	if err != nil || seq != 3 || n != 20 || flags != proto.SockperfPongRequest {
		t.Fatalf("reply seq %d flags %#x n %d err %v; want seq 3, flags 0x2", seq, flags, n, err)
	}
}

func TestServeKicksGarbage(t *testing.T) {
	for _, tc := range []struct {
		app, garbage string
		reason       models.KickReason
	}{
		{"framed", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", models.KickRecvBufferOverFull},
		{"framed", "\x00\x00\x00\x05xxxxxxxxxxxxxxxxxxxx", models.KickPacketError},
		{"broadcast", "\x00\x00\x00\x20\x00\x09\x00\x00xxxxxxxxxxxxxxxxxxxxxxxx", models.KickPacketError},
		{"sockperf", "\x00\x00\x00\x00\x00\x00\x00\x01\x00\x03\x00\x00\x00\x02", models.KickPacketError},
	} {
		t.Run(tc.app+"/"+tc.reason.String(), func(t *testing.T) {
			addr, control, out := startServe(t, "netstd", tc.app)
			c := dial(t, addr)
			c.Write([]byte(tc.garbage))
			if _, err := c.Read(make([]byte, 64)); err == nil {
				t.Fatal("server answered garbage instead of closing")
			}
			st := waitStats(t, control, out, func(s ServerStats) bool { return s.Service.Disconnects == 1 })
			if st.Service.Kicks[tc.reason] != 1 {
				t.Fatalf("kicks %v, want one %v", st.Service.Kicks, tc.reason)
			}
			// The server still serves others.
			c2 := dial(t, addr)
			cl, _ := proto.NewClient(proto.Framed, 64, 0)
			if tc.app == "sockperf" {
				cl, _ = proto.NewClient(proto.Sockperf, 64, 0)
			}
			c2.Write(cl.Append(nil, 0))
			if _, err := io.ReadFull(c2, make([]byte, 64)); err != nil && tc.app != "broadcast" {
				t.Fatalf("second connection: %v", err)
			}
		})
	}
}

// waitStats polls the control channel until ok holds.
func waitStats(tb testing.TB, control io.Writer, out *syncBuffer, ok func(ServerStats) bool) ServerStats {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		io.WriteString(control, "stats\n")
		var st ServerStats
		select {
		case line := <-out.lines:
			if err := json.Unmarshal([]byte(line), &st); err != nil {
				tb.Fatalf("stats line %q: %v", line, err)
			}
		case <-time.After(20 * time.Second):
			tb.Fatal("no stats line")
		}
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			tb.Fatalf("condition never held; last stats %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestServeBroadcastRoom(t *testing.T) {
	addr, _, _ := startServe(t, "netstd", "broadcast") // room size 3
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		conns = append(conns, dial(t, addr))
	}
	time.Sleep(100 * time.Millisecond) // let OnConnect place all three in the room
	cl, _ := proto.NewBroadcastClient(40, 7)
	conns[0].Write(cl.Append(nil, 1))
	for i, c := range conns {
		b := make([]byte, 40)
		if _, err := io.ReadFull(c, b); err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
		h, n, err := proto.ParseFramed(b, 64)
		if err != nil || n != 40 || h.Src != 7 || h.Seq != 1 || h.Type != proto.TypeBroadcast {
			t.Fatalf("member %d got %+v %v", i, h, err)
		}
	}
}

func TestServeUsageErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, tc := range []struct {
		name string
		cfg  ServeConfig
		want string
	}{
		{"unknown backend", ServeConfig{Backend: "nope", App: "echo", Addr: "127.0.0.1:0"}, "unknown backend"},
		{"bad address", ServeConfig{Backend: "netstd", App: "echo", Addr: "127.0.0.1"}, "bad --addr"},
		{"port in use", ServeConfig{Backend: "netstd", App: "echo", Addr: busy.Addr().String()}, "address already in use"},
		{"unknown app", ServeConfig{Backend: "netstd", App: "http", Addr: "127.0.0.1:0"}, "unknown app"},
		{"bad config", ServeConfig{Backend: "netstd", App: "echo", Addr: "127.0.0.1:0", Engine: models.Config{PoolSize: -1}}, "bad config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Serve(context.Background(), tc.cfg, strings.NewReader(""), io.Discard, io.Discard)
			if cli.Code(err) != cli.ExitUsage || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v (exit %d), want exit 2 containing %q", err, cli.Code(err), tc.want)
			}
		})
	}
}

// TestServeAnswersSockperf drives `serve --proto sockperf` with the real sockperf tool
// (Debian package sockperf) and requires that it saw no dropped, duplicated or out-of-order
// messages.
func TestServeAnswersSockperf(t *testing.T) {
	bin, err := exec.LookPath("sockperf")
	if err != nil {
		if requireTools() {
			t.Fatal("sockperf not installed but CI=true requires it (apt-get install sockperf)")
		}
		t.Skip("sockperf not installed")
	}
	addr, _, _ := startServe(t, "netstd", "sockperf")
	host, port, _ := net.SplitHostPort(addr)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "ping-pong", "--tcp", "-i", host, "-p", port, "-t", "2", "-m", "64").CombinedOutput()
	if err != nil {
		t.Fatalf("sockperf: %v\n%s", err, out)
	}
	checkSockperfOutput(t, string(out))
}

var sockperfSummary = regexp.MustCompile(`SentMessages=(\d+); ReceivedMessages=(\d+)`)
var sockperfDropped = regexp.MustCompile(`# dropped messages = (\d+); # duplicated messages = (\d+); # out-of-order messages = (\d+)`)

// checkSockperfOutput fails unless sockperf reported replies and zero drops/dups/reorders.
func checkSockperfOutput(tb testing.TB, out string) {
	tb.Helper()
	sc := bufio.NewScanner(strings.NewReader(out))
	var sent, recv int
	drops := []int{-1}
	for sc.Scan() {
		if m := sockperfSummary.FindStringSubmatch(sc.Text()); m != nil {
			sent, _ = strconv.Atoi(m[1])
			recv, _ = strconv.Atoi(m[2])
		}
		if m := sockperfDropped.FindStringSubmatch(sc.Text()); m != nil {
			drops = drops[:0]
			for _, s := range m[1:] {
				v, _ := strconv.Atoi(s)
				drops = append(drops, v)
			}
		}
	}
	if recv == 0 || drops[0] != 0 || drops[1] != 0 || drops[2] != 0 {
		tb.Fatalf("sockperf sent %d received %d dropped/dup/ooo %v\n%s", sent, recv, drops, out)
	}
	tb.Logf("sockperf: sent %d, received %d, no drops", sent, recv)
}

// requireTools is true in CI, where .ci/run installed every tool the tests use.
func requireTools() bool { return strings.EqualFold(os.Getenv("CI"), "true") }
