package harness

import (
	"context"
	"io"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/proto"
)

// The heartbeat driver against the real framed app: every heartbeat due in the window is sent
// and answered, verified, and the connections come from several source addresses.
func TestIdleDriverHeartbeats(t *testing.T) {
	target := startAppServer(t, "framed", apps.Options{})
	cfg := LoadConfig{Target: target, Proto: proto.Framed, Conns: 300, IdleConns: 300, Size: 64,
		Heartbeat: 100 * time.Millisecond, Warmup: 100 * time.Millisecond, Duration: 500 * time.Millisecond,
		IdleDriver: true, SrcPerAddr: 100}
	res, err := Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	hb := res.HB
	if hb == nil {
		t.Fatal("no heartbeat account")
	}
	// 300 connections × the periods in the window (the schedule spreads them evenly).
	want := 300 * float64(res.Window) / float64(cfg.Heartbeat)
	if float64(hb.Due) < want-300 || float64(hb.Due) > want+300 || res.Window < cfg.Duration {
		t.Fatalf("due %d in a %v window, want about %.0f", hb.Due, res.Window, want)
	}
	// Every heartbeat sent and answered (late is timing: this machine may be loaded, so it is
	// only checked to be part of the answered ones).
	if hb.Sent != hb.Due || hb.Answered != hb.Due || hb.Late > hb.Answered || !res.OK() || res.Errors != 0 {
		t.Fatalf("heartbeats %+v verify %+v errors %d (%s)", *hb, res.Verify, res.Errors, res.FirstError)
	}
	if res.SourceAddrs != 3 || res.Connected != 300 {
		t.Fatalf("%d source addresses, %d connected; want 3, 300", res.SourceAddrs, res.Connected)
	}
	if uint64(res.Hist.TotalCount()) != hb.Answered {
		t.Fatalf("%d latency samples for %d answered heartbeats", res.Hist.TotalCount(), hb.Answered)
	}
}

// Connections are bound to their source address before they connect: a listener on
// 127.0.0.1 sees the peers come from 127.0.0.1, .2 and .3, perAddr from each.
func TestIdleDriverSourceAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	from := map[netip.Addr]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			ap := c.RemoteAddr().(*net.TCPAddr).AddrPort()
			mu.Lock()
			from[ap.Addr().Unmap()]++
			mu.Unlock()
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	cfg := LoadConfig{Target: ln.Addr().String(), Proto: proto.Framed, Conns: 25, IdleConns: 25, Size: 64,
		Heartbeat: 50 * time.Millisecond, Duration: 100 * time.Millisecond, IdleDriver: true, SrcPerAddr: 10}
	res, err := Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hb := res.HB; hb.Due == 0 || hb.Answered != hb.Due {
		t.Fatalf("heartbeats %+v (%s)", *res.HB, res.FirstError)
	}
	mu.Lock()
	defer mu.Unlock()
	want := map[string]int{"127.0.0.1": 10, "127.0.0.2": 10, "127.0.0.3": 5}
	if len(from) != len(want) {
		t.Fatalf("peers came from %v, want %v", from, want)
	}
	for a, n := range want {
		if from[netip.MustParseAddr(a)] != n {
			t.Fatalf("peers came from %v, want %v", from, want)
		}
	}
}

// A server that closes connections mid-run is an error naming the connection, with the
// heartbeats it owed short: never a hang and never a silent shortfall.
func TestIdleDriverServerCloses(t *testing.T) {
	var n sync.Mutex
	count := 0
	target := startRawServer(t, func(c net.Conn) {
		n.Lock()
		count++
		k := count
		n.Unlock()
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			if k == 3 {
				return // closes after its first heartbeat, unanswered
			}
			c.Write(buf)
		}
	})
	cfg := LoadConfig{Target: target, Proto: proto.Framed, Conns: 10, IdleConns: 10, Size: 64,
		Heartbeat: 50 * time.Millisecond, Duration: 200 * time.Millisecond, Drain: 300 * time.Millisecond, IdleDriver: true}
	start := time.Now()
	res, err := Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
	if res.Errors == 0 || res.FirstError == "" || res.OK() {
		t.Fatalf("no error: errors %d first %q verify %+v", res.Errors, res.FirstError, res.Verify)
	}
	if res.HB.OnTime() || res.HB.Answered >= res.HB.Due {
		t.Fatalf("heartbeats %+v: a dead connection's heartbeats must show as unanswered", *res.HB)
	}
}

// A server trickling every reply a byte at a time: replies split over many reads still
// arrive whole and verified.
func TestIdleDriverTrickledReplies(t *testing.T) {
	target := startRawServer(t, func(c net.Conn) {
		buf := make([]byte, 64)
		for {
			if _, err := io.ReadFull(c, buf); err != nil {
				return
			}
			for i := range buf {
				if _, err := c.Write(buf[i : i+1]); err != nil {
					return
				}
				if i%16 == 0 {
					time.Sleep(100 * time.Microsecond)
				}
			}
		}
	})
	cfg := LoadConfig{Target: target, Proto: proto.Framed, Conns: 20, IdleConns: 20, Size: 64,
		Heartbeat: 50 * time.Millisecond, Duration: 300 * time.Millisecond, IdleDriver: true}
	res, err := Load(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if hb := res.HB; hb.Due == 0 || hb.Answered != hb.Due || !res.OK() || res.Errors != 0 {
		t.Fatalf("heartbeats %+v verify %+v (%s)", *res.HB, res.Verify, res.FirstError)
	}
}
