package modeltest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// testPost: jobs run one at a time in Post order across posting goroutines; Post after Close
// returns ErrClosed.
func testPost(t *testing.T, backend string) {
	const posters, per = 4, 500
	eng := Open(t, backend, models.Config{})
	var (
		orderMu sync.Mutex // makes "the order Post returned" observable
		next    int
		ranMu   sync.Mutex
		ran     []int
		running atomic.Int32
		overlap atomic.Int32
		postErr atomic.Pointer[error]
		wg      sync.WaitGroup
	)
	for range posters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				orderMu.Lock()
				seq := next
				next++
				err := eng.Post(func() {
					if running.Add(1) != 1 {
						overlap.Add(1)
					}
					ranMu.Lock()
					ran = append(ran, seq)
					ranMu.Unlock()
					running.Add(-1)
				})
				orderMu.Unlock()
				if err != nil {
					postErr.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := loadErr(&postErr); err != nil {
		t.Fatalf("Post: %v", err)
	}
	ranLen := func() int { ranMu.Lock(); defer ranMu.Unlock(); return len(ran) }
	WaitFor(t, "every posted job to run", func() bool { return ranLen() >= posters*per })
	ranMu.Lock()
	for i, seq := range ran {
		if seq != i {
			t.Errorf("job %d ran in position %d: Post is not FIFO", seq, i)
			break
		}
	}
	if len(ran) != posters*per {
		t.Errorf("%d jobs ran, %d posted", len(ran), posters*per)
	}
	ranMu.Unlock()
	if n := overlap.Load(); n > 0 {
		t.Errorf("%d jobs ran concurrently with another job: Post must run jobs one at a time", n)
	}
	CloseEngine(t, eng)
	var late atomic.Bool
	if err := eng.Post(func() { late.Store(true) }); !errors.Is(err, models.ErrClosed) {
		t.Errorf("Post after Close = %v, want ErrClosed", err)
	}
	if late.Load() {
		t.Error("a job posted after Close ran")
	}
}

// testCloseInFlight: Engine.Close with server and client sessions busy returns, has called
// every OnDisconnect (KickShutdown), and leaves no goroutine or file descriptor behind.
func testCloseInFlight(t *testing.T, backend string) {
	checkLeaks := leakBaseline(t, backend)

	eng := Open(t, backend, models.Config{})
	// The server replies a little to every window, so writes are in flight both ways.
	k := Track(t, models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
		s.Send(w[:min(len(w), 64)])
		return len(w)
	}})
	svc := Listen(t, eng, k, models.ServiceOptions{})
	ps := newPlainServer(t, nil)
	kc := Track(t, models.HandlerFuncs{
		Connect: func(s models.Session) { s.Send(pattern(64 << 10)) },
		Recv: func(s models.Session, w []byte) int { // ping-pong the same 64 KiB forever
			s.Send(w)
			return len(w)
		},
	})
	csvc, err := eng.Connect(ps.addr().String(), kc, models.ServiceOptions{Conns: 4})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	// An auto-reconnect service whose server is gone: Close must stop its redial loop.
	dead, releaseDead := deadAddr(t)
	kr := Track(t, nil)
	rsvc, err := eng.Connect(dead, kr, models.ServiceOptions{Type: models.ServiceClientAutoReconnect, Conns: 2, ReconnectDelay: 5 * time.Millisecond})
	if err != nil {
		t.Logf("auto-reconnect Connect to a dead port: %v", err)
	}
	clients := dialMany(t, svc.Addr(), 16)
	// Every session first, so this case is about Close, not about accepting under load.
	WaitFor(t, fmt.Sprintf("16 server sessions (have %d) and 4 client sessions (have %d)", k.Connects(), kc.Connects()),
		func() bool { return k.Connects() == len(clients) && kc.Connects() == 4 })
	var cwg sync.WaitGroup
	for _, c := range clients {
		cwg.Add(2)
		go func() { // flood until the server closes
			defer cwg.Done()
			chunk := pattern(16 << 10)
			for {
				c.SetWriteDeadline(time.Now().Add(ioTimeout))
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() {
			defer cwg.Done()
			readUntilClosed(c)
		}()
	}
	WaitFor(t, "I/O in flight (BytesRecv > 1 MiB on the server and the client service)", func() bool {
		return svc.Stats().BytesRecv > 1<<20 && csvc.Stats().BytesRecv > 1<<20
	})
	// A new player while everyone floods: the server must still accept and serve.
	late, err := net.DialTimeout("tcp", svc.Addr().String(), ioTimeout)
	if err != nil {
		t.Fatalf("dial while busy: %v", err)
	}
	t.Cleanup(func() { late.Close() })
	late.SetDeadline(time.Now().Add(ioTimeout))
	if _, err := late.Write([]byte("late player")); err != nil {
		t.Fatalf("late client write: %v", err)
	}
	if _, err := io.ReadFull(late, make([]byte, len("late player"))); err != nil {
		t.Errorf("a connection made while 16 sessions flood was not served within %v: %v (server OnConnect %d of %d: accept starved by I/O?)",
			ioTimeout, err, k.Connects(), len(clients)+1)
	}

	CloseEngine(t, eng)
	// Close waits for every OnDisconnect: no polling here.
	for _, x := range []struct {
		name string
		k    *Tracker
		svc  models.Service
		n    int
	}{{"server", k, svc, k.Connects()}, {"client", kc, csvc, 4}} {
		if c, d := x.k.Connects(), x.k.Disconnects(); c != x.n || d != c {
			t.Errorf("%s: %d OnConnect, %d OnDisconnect when Engine.Close returned, want %d each", x.name, c, d, x.n)
		}
		if r := x.k.Reasons(); r[models.KickShutdown] != x.n {
			t.Errorf("%s: disconnect reasons %s, want shutdown:%d", x.name, joinReasons(r), x.n)
		}
		if st := x.svc.Stats(); st.Live != 0 {
			t.Errorf("%s: Stats().Live = %d after Close", x.name, st.Live)
		}
		x.k.Verify(t)
	}
	if rsvc != nil {
		if st := rsvc.Stats(); st.ConnectFailed == 0 || st.Live != 0 {
			t.Errorf("auto-reconnect to a dead port: Stats ConnectFailed=%d Live=%d, want > 0 and 0", st.ConnectFailed, st.Live)
		}
	}
	if n := kr.Connects(); n != 0 {
		var addrs []string
		for _, s := range kr.Sessions() {
			addrs = append(addrs, fmt.Sprintf("%v->%v", s.LocalAddr(), s.RemoteAddr()))
		}
		t.Errorf("%d sessions connected to a dead port %s (%v; local == remote is a TCP self-connect, which a dialer must treat as refused; disconnect reasons %s)",
			n, dead, addrs, joinReasons(kr.Reasons()))
	}
	releaseDead()       // before the fd count
	CloseEngine(t, eng) // again: must return
	if _, err := eng.Listen("127.0.0.1:0", EchoHandler(), models.ServiceOptions{}); !errors.Is(err, models.ErrClosed) {
		t.Errorf("Listen after Close = %v, want ErrClosed", err)
	}

	// Our own side: the clients see the close; then drop everything of the test's.
	waitGroupWithin(t, &cwg, "clients to see the close")
	for _, c := range clients {
		c.Close()
	}
	late.Close()
	ps.down()
	checkLeaks()
}

// leakBaseline warms the backend up (so what the runtime and libraries start once per
// process, like the netpoller's epoll fd or a library's global pollers, is not counted),
// records the goroutines and (Linux) open fds, and returns the check to run once everything
// the test started is closed: it waits for the counts to settle back and fails with a dump.
func leakBaseline(t *testing.T, backend string) func() {
	t.Helper()
	func() {
		eng, err := models.Open(backend, models.Config{Loops: loops})
		if err != nil {
			t.Fatalf("open %s: %v", backend, err)
		}
		defer eng.Close()
		svc, err := eng.Listen("127.0.0.1:0", EchoHandler(), models.ServiceOptions{})
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		c, err := net.DialTimeout("tcp", svc.Addr().String(), ioTimeout)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		defer c.Close()
		RoundTrip(t, c, []byte("warm-up"))
	}()
	gBase := settledGoroutines()
	fdBase, haveFDs := openFDs()
	return func() { checkLeaks(t, gBase, fdBase, haveFDs) }
}

func checkLeaks(t *testing.T, gBase, fdBase int, haveFDs bool) {
	t.Helper()
	deadline := time.Now().Add(closeTimeout)
	for {
		g := runtime.NumGoroutine()
		fds, _ := openFDs()
		if g <= gBase && (!haveFDs || fds <= fdBase) {
			break
		}
		if time.Now().After(deadline) {
			if g > gBase {
				t.Errorf("%d goroutines after Close, %d before the engine: leaked goroutines:\n%s", g, gBase, stacks())
			}
			if haveFDs && fds > fdBase {
				t.Errorf("%d open fds after Close, %d before the engine: leaked fds: %s", fds, fdBase, listFDs())
			}
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testCloseRacingSetup: Engine.Close while other goroutines keep calling Listen and Connect
// returns, leaves every session disconnected, and leaks no listener, goroutine or fd (a
// service built while the engine closes must be closed by one or refused by the other).
func testCloseRacingSetup(t *testing.T, backend string) {
	checkLeaks := leakBaseline(t, backend)
	ps := newPlainServer(t, nil)
	for round := range 4 {
		eng := Open(t, backend, models.Config{})
		k := Track(t, EchoHandler())
		var built atomic.Int32
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 40; i++ {
					var err error
					if (g+i+round)%2 == 0 {
						_, err = eng.Listen("127.0.0.1:0", k, models.ServiceOptions{PoolSize: 4})
					} else {
						_, err = eng.Connect(ps.addr().String(), k, models.ServiceOptions{Conns: 2})
					}
					if err == nil {
						built.Add(1)
					} else if errors.Is(err, models.ErrClosed) {
						return
					}
				}
			}()
		}
		WaitFor(t, "some services built", func() bool { return built.Load() >= 6 })
		CloseEngine(t, eng)
		waitGroupWithin(t, &wg, "Listen/Connect callers to return")
		if c, d := k.Connects(), k.Disconnects(); c != d {
			t.Errorf("round %d: %d OnConnect, %d OnDisconnect after Close", round, c, d)
		}
		k.Verify(t)
	}
	ps.down()
	checkLeaks()
}

func waitGroupWithin(tb testing.TB, wg *sync.WaitGroup, what string) {
	tb.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(waitTimeout):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// settledGoroutines waits briefly for goroutines of earlier cases to finish exiting and
// returns the count.
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	for range 50 {
		time.Sleep(10 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return m
		}
		n = m
	}
	return n
}
