package harness

import (
	"context"
	"io"
	"net"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/proto"
)

// faultsTestConfig is a short faults load: 20 connections at 2 000 msgs/s, 2 s window.
func faultsTestConfig(addr string) steadyConfig {
	d := 2 * time.Second
	return steadyConfig{Target: addr, Proto: proto.Echo, Conns: 20, Size: 64, Rate: 2000,
		Warmup: 200 * time.Millisecond, Duration: d, Phases: faultsPhases(d), ClientBackend: "netstd",
		IdleTimeout: faultsIdleTimeout(2000, 20)}
}

// TestFaultsKillRestartAndResets runs the faults load against a real `iobench serve` child of
// every backend this platform has: resets mid-frame from extra connections, then SIGKILL and
// restart on the same port. Every connection must come back, nothing may be lost, and what
// was never answered must be exactly the messages counted in flight or sent after the kill.
func TestFaultsKillRestartAndResets(t *testing.T) {
	backends := []string{"netstd"}
	if runtime.GOOS == "linux" {
		backends = append(backends, "epoll", "uring", "gnet", "netpoll")
	}
	for _, b := range backends {
		t.Run("backend="+b, func(t *testing.T) {
			h := &LocalServers{Exe: testExe}
			srv, err := h.Start(context.Background(), ServerSpec{Backend: b, Args: []string{"--proto", "echo"}, Addr: "127.0.0.1:0"})
			if err != nil {
				if strings.Contains(err.Error(), "unsupported") {
					t.Skipf("%s: %v", b, err)
				}
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Stop() })
			cfg := faultsTestConfig(srv.Addr())
			cfg.BeforeTraffic = func() error { return srv.WaitReady(cfg.Conns, 10*time.Second) }
			f, res, err := runFaults(context.Background(), cfg, 4, srv.(crasher))
			if err != nil {
				t.Fatalf("faults: %v", err)
			}
			if f.Back != cfg.Conns || f.RecoveryNs == nil || f.RecoveryNs.First <= 0 || f.RecoveryNs.First > f.RecoveryNs.Last {
				t.Errorf("recovery: back %d of %d, %+v", f.Back, cfg.Conns, f.RecoveryNs)
			}
			if f.Lost != 0 || !res.Verify.OK() {
				t.Errorf("lost %d, verify %+v", f.Lost, res.Verify)
			}
			if owed := res.Verify.Sent - res.Verify.Received; owed != f.InFlight+f.AfterKill {
				t.Errorf("%d never answered, but %d in flight + %d after the kill", owed, f.InFlight, f.AfterKill)
			}
			if f.KillAtNs < int64(cfg.Phases[2]) || f.KillAtNs > int64(cfg.Duration) {
				t.Errorf("kill at %v, want in the last quarter", time.Duration(f.KillAtNs))
			}
			rs := f.Resets
			if rs == nil || rs.Injected == 0 || rs.Before.Samples == 0 || rs.During.Samples == 0 || rs.After.Samples == 0 {
				t.Errorf("resets: %+v", rs)
			}
			if res.Msgs == 0 {
				t.Error("no message in the window")
			}
			t.Logf("%s: %s", b, faultsNote(f))
		})
	}
}

// hostileEcho is an echo server on 127.0.0.1:0 whose first connection misbehaves after
// echoing 10 messages of 64 bytes: "swallow" keeps reading and never answers again, "close"
// reads one more and closes it. The others echo.
func hostileEcho(t testing.TB, mode string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			first := n.Add(1) == 1
			go func() {
				defer c.Close()
				if first {
					if _, err := io.CopyN(c, c, 640); err != nil {
						return
					}
					if mode == "close" { // one more message read, never answered
						io.ReadFull(c, make([]byte, 64))
						return
					}
					io.Copy(io.Discard, c)
					return
				}
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// TestFaultsVerificationFailsOnLoss: a message that is not answered, with no kill to explain
// it, is lost and fails the faults rule, whether its connection stays up or the server closes
// it.
func TestFaultsVerificationFailsOnLoss(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"swallow", `lost on connection \d+ \(session up `}, // the lost messages placed on their session
		{"close", "ended with no kill"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			cfg := faultsTestConfig(hostileEcho(t, tc.mode))
			cfg.Duration, cfg.Phases, cfg.Drain = time.Second, faultsPhases(time.Second), 300*time.Millisecond
			f, res, err := runFaults(context.Background(), cfg, 1, nil)
			if err == nil {
				t.Fatalf("no failure; faults %+v verify %+v", f, res.Verify)
			}
			if !regexp.MustCompile(tc.want).MatchString(err.Error()) {
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if f.Lost == 0 || res.Verify.OK() {
				t.Errorf("lost %d, verify %+v: the unanswered messages must be losses", f.Lost, res.Verify)
			}
			if f.InFlight != 0 || f.AfterKill != 0 {
				t.Errorf("in flight %d, after kill %d without a kill", f.InFlight, f.AfterKill)
			}
		})
	}
}
