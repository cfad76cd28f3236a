package iocp

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

func openEngine(tb testing.TB, cfg models.Config) models.Engine {
	tb.Helper()
	eng, err := newEngine(cfg)
	if err != nil {
		tb.Fatalf("newEngine: %v", err)
	}
	tb.Cleanup(func() { eng.Close() })
	return eng
}

func echo() models.Handler {
	return models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
		if err := s.Send(w); err != nil {
			return -1
		}
		return len(w)
	}}
}

func TestKeyRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name      string
		kind, svc int
		gen       uint32
		slot      int
	}{
		{"zero", kindSock, 0, 0, 0},
		{"max", kindShutdown, maxServices - 1, genMask, maxSlots - 1},
		{"gen_wraps", kindOpen, 7, genMask + 5, 1234},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kind, svc, gen, slot := splitKey(makeKey(tc.kind, tc.svc, tc.gen, tc.slot))
			if kind != tc.kind || svc != tc.svc || gen != tc.gen&genMask || slot != tc.slot {
				t.Fatalf("split(make(%d,%d,%d,%d)) = %d,%d,%d,%d", tc.kind, tc.svc, tc.gen, tc.slot, kind, svc, gen, slot)
			}
		})
	}
}

// TestEcho echoes over real sockets: a net.Conn peer against the iocp server, and an iocp
// client against the same server.
func TestEcho(t *testing.T) {
	t.Logf("FILE_SKIP_COMPLETION_PORT_ON_SUCCESS usable: %v", skipOnSuccess())
	for _, tc := range []struct {
		name  string
		size  int
		conns int
	}{
		{"small", 64, 4},
		{"large", 300 << 10, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := openEngine(t, models.Config{Loops: 2, PoolSize: 16})
			svc, err := eng.Listen("127.0.0.1:0", echo(), models.ServiceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			errs := make(chan error, tc.conns)
			for i := range tc.conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial("tcp", svc.Addr().String())
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(30 * time.Second))
					msg := bytes.Repeat([]byte{byte(i + 1)}, tc.size)
					go c.Write(msg)
					got := make([]byte, len(msg))
					if _, err := io.ReadFull(c, got); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got, msg) {
						errs <- io.ErrUnexpectedEOF
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if st := svc.Stats(); st.Accepted != uint64(tc.conns) || st.BytesRecv != uint64(tc.conns*tc.size) {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

// TestAcceptBacklog dials more connections at once than there are AcceptEx calls outstanding:
// re-posting must drain the backlog, and every connection must echo.
func TestAcceptBacklog(t *testing.T) {
	const n = 4 * numAccepts
	eng := openEngine(t, models.Config{Loops: 2, PoolSize: n})
	svc, err := eng.Listen("127.0.0.1:0", echo(), models.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", svc.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	t0 := time.Now()
	for svc.Stats().Accepted < n {
		if time.Since(t0) > 20*time.Second {
			t.Fatalf("accepted %d of %d after 20s", svc.Stats().Accepted, n)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("all %d accepted %v after the last dial returned", n, time.Since(t0))
	for i, c := range conns {
		c.SetDeadline(time.Now().Add(20 * time.Second))
		msg := []byte{byte(i), 1, 2, 3}
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("conn %d: %q, %v", i, got, err)
		}
	}
}

// busyLifecycle runs one engine with a server and a client service moving data, then closes
// it with the I/O in flight.
func busyLifecycle(tb testing.TB) {
	tb.Helper()
	eng, err := newEngine(models.Config{Loops: 2, PoolSize: 8})
	if err != nil {
		tb.Fatal(err)
	}
	var recv atomic.Int64
	svc, err := eng.Listen("127.0.0.1:0", models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
		recv.Add(int64(len(w)))
		s.Send(w)
		return len(w)
	}}, models.ServiceOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	msg := bytes.Repeat([]byte("ping"), 1024)
	if _, err := eng.Connect(svc.Addr().String(), models.HandlerFuncs{
		Connect: func(s models.Session) { s.Send(msg) },
		Recv: func(s models.Session, w []byte) int {
			s.Send(w)
			return len(w)
		},
	}, models.ServiceOptions{Conns: 3}); err != nil {
		tb.Fatal(err)
	}
	t0 := time.Now()
	for recv.Load() < 1<<20 {
		if time.Since(t0) > 20*time.Second {
			tb.Fatalf("only %d bytes echoed in 20s", recv.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if err := eng.Close(); err != nil {
		tb.Fatal(err)
	}
}

// TestCloseReleasesHandles: after Close with I/O in flight, the process holds no more handles
// than before the engine (sockets, completion ports), and the loop goroutines are gone.
func TestCloseReleasesHandles(t *testing.T) {
	busyLifecycle(t) // warm-up: runtime threads, Winsock, DLLs load once per process
	h0, err := processHandleCount()
	if err != nil {
		t.Fatalf("GetProcessHandleCount: %v", err)
	}
	if h0 == 0 {
		// Wine 8.0's GetProcessHandleCount is a stub that reports 0: only the goroutine check
		// means something there.
		t.Log("GetProcessHandleCount reports 0 handles (Wine stub): handle leaks not checked here")
	}
	g0 := runtime.NumGoroutine()
	busyLifecycle(t)
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, _ := processHandleCount()
		g := runtime.NumGoroutine()
		if h <= h0 && g <= g0 {
			t.Logf("handles %d → %d, goroutines %d → %d", h0, h, g0, g)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Close: %d handles (before: %d), %d goroutines (before: %d)", h, h0, g, g0)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestCloseBusySessions: 16 peers flood the server; once all 16 are accepted and data flows,
// Engine.Close returns with exactly one OnDisconnect(KickShutdown) per OnConnect.
func TestCloseBusySessions(t *testing.T) {
	const n = 16
	eng, err := newEngine(models.Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	connects, reasons := 0, map[models.KickReason]int{}
	svc, err := eng.Listen("127.0.0.1:0", models.HandlerFuncs{
		Connect: func(models.Session) { mu.Lock(); connects++; mu.Unlock() },
		Recv: func(s models.Session, w []byte) int {
			s.Send(w[:min(len(w), 64)])
			return len(w)
		},
		Disconnect: func(_ models.Session, r models.KickReason) { mu.Lock(); reasons[r]++; mu.Unlock() },
	}, models.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range n {
		c, err := net.Dial("tcp", svc.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		wg.Add(2)
		go func() {
			defer wg.Done()
			chunk := bytes.Repeat([]byte{7}, 16<<10)
			for {
				c.SetWriteDeadline(time.Now().Add(20 * time.Second))
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			io.Copy(io.Discard, c)
		}()
	}
	waitFor(t, "1 MiB received", func() bool { return svc.Stats().BytesRecv > 1<<20 })
	t.Logf("accepted %d of %d when 1 MiB had arrived", svc.Stats().Accepted, n)
	waitFor(t, "every peer accepted", func() bool { return svc.Stats().Accepted == n })
	if err := eng.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if connects != n || reasons[models.KickShutdown] != n || len(reasons) != 1 {
		t.Errorf("after Close: %d OnConnect, OnDisconnect reasons %v; want %d connects, all shutdown", connects, reasons, n)
	}
	if st := svc.Stats(); st.Live != 0 || st.Disconnects != n {
		t.Errorf("stats after Close: %+v", st)
	}
	wg.Wait()
}

func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
