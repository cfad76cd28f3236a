package modeltest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// The parity rules of the models package doc ("Parity rules"): what every backend does the
// same way, so a comparison never measures a difference of policy.

// testNilHandler: Listen and Connect refuse a nil Handler with ErrBadConfig, before they
// start anything.
func testNilHandler(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{})
	if svc, err := eng.Listen("127.0.0.1:0", nil, models.ServiceOptions{}); !errors.Is(err, models.ErrBadConfig) {
		if svc != nil {
			svc.Close()
		}
		t.Errorf("Listen with a nil Handler = %v, want ErrBadConfig", err)
	}
	ps := newPlainServer(t, plainEcho)
	if svc, err := eng.Connect(ps.addr().String(), nil, models.ServiceOptions{}); !errors.Is(err, models.ErrBadConfig) {
		if svc != nil {
			svc.Close()
		}
		t.Errorf("Connect with a nil Handler = %v, want ErrBadConfig", err)
	}
	// The engine still works.
	c := Dial(t, StartEcho(t, eng).Addr())
	RoundTrip(t, c, []byte("after nil handlers"))
}

// testNoDelay: accepted and dialled sessions have TCP_NODELAY on, as Go net sets it: without
// it, fan-out Sends meet Nagle's algorithm and delayed ACKs (40 ms stalls). The socket is
// found by its addresses among the process's descriptors (socketNoDelay), so no backend
// exposes its fds for this.
func testNoDelay(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{})
	type ends struct{ local, remote net.Addr }
	opened := make(chan ends, 8)
	hold := make(chan struct{})
	h := models.HandlerFuncs{
		Connect: func(s models.Session) { opened <- ends{s.LocalAddr(), s.RemoteAddr()} },
		Recv:    func(s models.Session, w []byte) int { s.Send(w); return len(w) },
	}
	svc := Listen(t, eng, h, models.ServiceOptions{})
	c := Dial(t, svc.Addr())
	RoundTrip(t, c, []byte("x"))
	ps := newPlainServer(t, func(c net.Conn) { <-hold; c.Close() })
	t.Cleanup(func() { close(hold) })
	cli, err := eng.Connect(ps.addr().String(), h, models.ServiceOptions{})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cli.Close()
	for _, what := range []string{"accepted", "dialled"} {
		var e ends
		select {
		case e = <-opened:
		case <-time.After(waitTimeout):
			t.Fatalf("no OnConnect for the %s session", what)
		}
		on, err := socketNoDelay(e.local, e.remote)
		if errors.Is(err, errNoInspect) {
			t.Skipf("%v", err)
		}
		if err != nil {
			t.Errorf("%s session %v→%v: %v", what, e.local, e.remote, err)
		} else if !on {
			t.Errorf("%s session %v→%v: TCP_NODELAY off, want on", what, e.local, e.remote)
		}
	}
}

// testLinger: an abortive kick closes with SO_LINGER 0, so the peer sees a reset (RST), not
// a FIN, although the server has read everything (a plain close would send FIN then); a
// graceful end (recv_0 after the drain) is a FIN, which half_close checks with ReadAll.
func testLinger(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{})
	k := Track(t, models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
		s.Kick(models.KickDisconnect)
		return len(w)
	}})
	svc := Listen(t, eng, k, models.ServiceOptions{})
	c := Dial(t, svc.Addr())
	if _, err := c.Write([]byte("kick me")); err != nil {
		t.Fatal(err)
	}
	k.WaitDisconnects(t, 1)
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	_, err := c.Read(make([]byte, 16))
	switch {
	case errors.Is(err, syscall.ECONNRESET):
	case errors.Is(err, io.EOF) && underWine():
		t.Log("under Wine a reset reads as EOF: the RST cannot be told from a FIN here")
	default:
		t.Errorf("peer read after an abortive kick = %v, want a reset (SO_LINGER 0)", err)
	}
	CloseEngine(t, eng)
	k.Verify(t)
}

// testCountersInDisconnect: when OnDisconnect runs, the service's counters already include
// that disconnect (Disconnects and Kicks[reason]), on server and client services alike.
func testCountersInDisconnect(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{})
	var bad atomic.Pointer[string]
	check := func(svc *atomic.Pointer[models.Service], seen *atomic.Uint64) func(models.Session, models.KickReason) {
		return func(_ models.Session, r models.KickReason) {
			n := seen.Add(1)
			p := svc.Load()
			if p == nil {
				return // the Connect has not returned yet: nothing to compare with
			}
			st := (*p).Stats()
			if st.Disconnects < n || st.Kicks[r] == 0 {
				msg := fmt.Sprintf("in OnDisconnect #%d (%v): Stats Disconnects=%d Kicks[%v]=%d", n, r, st.Disconnects, r, st.Kicks[r])
				bad.CompareAndSwap(nil, &msg)
			}
		}
	}
	var srv, cli atomic.Pointer[models.Service]
	var srvSeen, cliSeen atomic.Uint64
	s := Listen(t, eng, models.HandlerFuncs{Disconnect: check(&srv, &srvSeen)}, models.ServiceOptions{})
	srv.Store(&s)
	for range 4 {
		c := Dial(t, s.Addr())
		c.Write([]byte("x"))
		c.Close()
	}
	WaitFor(t, "4 server disconnects", func() bool { return srvSeen.Load() == 4 })
	c, err := eng.Connect(s.Addr().String(), models.HandlerFuncs{Disconnect: check(&cli, &cliSeen)}, models.ServiceOptions{Conns: 3})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	cli.Store(&c)
	closeWithin(t, "Service.Close", c.Close)
	if n := cliSeen.Load(); n != 3 {
		t.Errorf("client OnDisconnect calls = %d, want 3", n)
	}
	if p := bad.Load(); p != nil {
		t.Error(*p)
	}
}

// testCloseInside: Engine.Close called from inside a callback and from a Post job returns
// (it starts the close; the engine cannot wait for the caller), and a Close from outside
// afterwards waits for the whole close: every session ended with KickShutdown, Listen
// refused.
func testCloseInside(t *testing.T, backend string) {
	for _, where := range []string{"callback", "post"} {
		t.Run(where, func(t *testing.T) {
			eng := Open(t, backend, models.Config{})
			returned := make(chan struct{})
			var once sync.Once
			closeInside := func() {
				once.Do(func() {
					eng.Close()
					close(returned)
				})
			}
			h := Track(t, models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
				if where == "callback" && string(w) == "close" {
					closeInside()
					s.Send([]byte("after close")) // nil or ErrClosed, never a hang
					return len(w)
				}
				s.Send(w)
				return len(w)
			}})
			svc := Listen(t, eng, h, models.ServiceOptions{})
			idle := Dial(t, svc.Addr())
			RoundTrip(t, idle, []byte("idle"))
			if where == "callback" {
				c := Dial(t, svc.Addr())
				if _, err := c.Write([]byte("close")); err != nil {
					t.Fatal(err)
				}
			} else if err := eng.Post(closeInside); err != nil {
				t.Fatalf("Post: %v", err)
			}
			select {
			case <-returned:
			case <-time.After(closeTimeout):
				t.Fatalf("Engine.Close from inside a %s did not return (deadlock); goroutines:\n%s", where, stacks())
			}
			CloseEngine(t, eng)
			if n := h.Connects(); h.Disconnects() != n {
				t.Errorf("after Close: %d OnConnect, %d OnDisconnect", n, h.Disconnects())
			}
			if r := h.Reasons(); r[models.KickShutdown] != h.Connects() {
				t.Errorf("disconnect reasons %s, want shutdown for all %d", joinReasons(r), h.Connects())
			}
			if svc, err := eng.Listen("127.0.0.1:0", EchoHandler(), models.ServiceOptions{}); err == nil {
				svc.Close()
				t.Error("Listen after Close succeeded")
			}
			h.Verify(t)
		})
	}
}

// manyServices is more than one engine may have open at once on the backends with a bounded
// service table (4096), so a backend that never reuses service ids fails.
const manyServices = 4200

// testManyServices: thousands of services opened and closed one after another over one
// engine's life; the engine keeps serving (service ids are reused).
func testManyServices(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{Loops: 1})
	target := StartEcho(t, eng)
	h := models.HandlerFuncs{}
	for i := range manyServices {
		var svc models.Service
		var err error
		if i%200 == 0 {
			svc, err = eng.Connect(target.Addr().String(), h, models.ServiceOptions{})
		} else {
			svc, err = eng.Listen("127.0.0.1:0", h, models.ServiceOptions{PoolSize: 1})
		}
		if err != nil {
			t.Fatalf("service %d: %v", i, err)
		}
		if err := svc.Close(); err != nil {
			t.Fatalf("service %d Close: %v", i, err)
		}
	}
	c := Dial(t, StartEcho(t, eng).Addr())
	RoundTrip(t, c, []byte("after many services"))
}
