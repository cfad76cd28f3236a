package modeltest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// expectRefused writes to c and expects the server's close (EOF or reset) with no data back.
func expectRefused(tb testing.TB, c net.Conn) {
	tb.Helper()
	c.Write([]byte("refused?")) // may fail already: the server may have reset it
	c.SetReadDeadline(time.Now().Add(ioTimeout))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if n > 0 {
		tb.Fatalf("refused connection got %q back: the server served it", buf[:n])
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("refused connection still open after %v: want EOF or reset", ioTimeout)
	}
}

// testPoolExhaustion: the N+1th connection of a PoolSize N service is refused and counted;
// after a session leaves, a new connection is served.
func testPoolExhaustion(t *testing.T, backend string) {
	const poolSize = 2
	eng := Open(t, backend, models.Config{})
	k := Track(t, EchoHandler())
	svc := Listen(t, eng, k, models.ServiceOptions{PoolSize: poolSize})
	var clients []*net.TCPConn
	for i := range poolSize {
		c := Dial(t, svc.Addr())
		RoundTrip(t, c, []byte(fmt.Sprintf("client %d", i)))
		clients = append(clients, c)
	}
	extra := Dial(t, svc.Addr())
	expectRefused(t, extra)
	WaitFor(t, "Stats().Refused == 1", func() bool { return svc.Stats().Refused >= 1 })
	st := svc.Stats()
	if st.Refused != 1 || st.Kicks[models.KickPoolExhausted] != 1 {
		t.Errorf("Stats Refused=%d Kicks[pool_exhausted]=%d, want 1 and 1", st.Refused, st.Kicks[models.KickPoolExhausted])
	}
	if st.Accepted != poolSize || st.Live != poolSize {
		t.Errorf("Stats Accepted=%d Live=%d, want %d and %d", st.Accepted, st.Live, poolSize, poolSize)
	}
	if n := k.Connects(); n != poolSize {
		t.Errorf("%d OnConnect calls, want %d (a refused connection gets no session)", n, poolSize)
	}
	// The served clients still work.
	RoundTrip(t, clients[1], []byte("still served"))

	// A session leaves; its slot serves the next connection.
	clients[0].Close()
	k.WaitDisconnects(t, 1)
	WaitFor(t, "Stats().Live == 1", func() bool { return svc.Stats().Live == poolSize-1 })
	again := Dial(t, svc.Addr())
	RoundTrip(t, again, []byte("slot reused"))
	if n := k.Connects(); n != poolSize+1 {
		t.Errorf("%d OnConnect calls, want %d", n, poolSize+1)
	}
	// And the pool is exhausted again.
	extra2 := Dial(t, svc.Addr())
	expectRefused(t, extra2)
	WaitFor(t, "Stats().Refused == 2", func() bool { return svc.Stats().Refused >= 2 })
	CloseEngine(t, eng)
	k.Verify(t)
	if st := svc.Stats(); st.Live != 0 {
		t.Errorf("after Close Stats().Live = %d, want 0", st.Live)
	}
}

// testKick: Kick from OnRecv and from other goroutines ends the session once with the given
// reason; Send after Kick returns ErrClosed; the service keeps serving.
func testKick(t *testing.T, backend string) {
	custom := models.NumKickReasons + 7 // an app-defined reason outside the enum
	for _, tc := range []struct {
		name   string
		reason models.KickReason
	}{
		{"in_OnRecv/disconnect", models.KickDisconnect},
		{"in_OnRecv/custom_reason", custom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := Open(t, backend, models.Config{})
			afterKick := make(chan error, 1)
			k := Track(t, models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
				if i := bytes.IndexByte(w, 'K'); i >= 0 {
					if i > 0 {
						s.Send(w[:i])
					}
					s.Kick(tc.reason)
					s.Kick(models.KickPacketError) // a second kick must not change the reason
					select {
					case afterKick <- s.Send([]byte("late")):
					default:
					}
					return len(w)
				}
				s.Send(w)
				return len(w)
			}})
			svc := Listen(t, eng, k, models.ServiceOptions{})
			c := Dial(t, svc.Addr())
			RoundTrip(t, c, []byte("hello"))
			if _, err := c.Write([]byte("K")); err != nil {
				t.Fatalf("write: %v", err)
			}
			ExpectClosed(t, c)
			select {
			case err := <-afterKick:
				if !errors.Is(err, models.ErrClosed) {
					t.Errorf("Send after Kick = %v, want ErrClosed", err)
				}
			case <-time.After(waitTimeout):
				t.Fatal("OnRecv never saw the kick byte")
			}
			k.WaitDisconnects(t, 1)
			if got := k.Reasons(); got[tc.reason] != 1 || len(got) != 1 {
				t.Errorf("disconnect reasons %s, want %v:1", joinReasons(got), tc.reason)
			}
			c2 := Dial(t, svc.Addr())
			RoundTrip(t, c2, []byte("still serving"))
			if tc.reason < models.NumKickReasons {
				if n := svc.Stats().Kicks[tc.reason]; n != 1 {
					t.Errorf("Stats().Kicks[%v] = %d, want 1", tc.reason, n)
				}
			}
			CloseEngine(t, eng)
			k.Verify(t)
		})
	}

	for _, tc := range []struct {
		name    string
		kickers int
	}{
		{"other_goroutine", 1},
		{"concurrent", 8},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eng := Open(t, backend, models.Config{})
			sessions := make(chan models.Session, 1)
			k := Track(t, models.HandlerFuncs{
				Connect: func(s models.Session) { sessions <- s },
				Recv: func(s models.Session, w []byte) int {
					s.Send(w)
					return len(w)
				},
			})
			svc := Listen(t, eng, k, models.ServiceOptions{})
			c := Dial(t, svc.Addr())
			var s models.Session
			select {
			case s = <-sessions:
			case <-time.After(waitTimeout):
				t.Fatal("no OnConnect")
			}
			RoundTrip(t, c, []byte("ping"))
			reasons := []models.KickReason{models.KickDisconnect, models.KickPacketError, custom, models.KickUnknown}
			var start, done sync.WaitGroup
			start.Add(1)
			for i := range tc.kickers {
				done.Add(1)
				go func() {
					defer done.Done()
					start.Wait()
					s.Kick(reasons[i%len(reasons)])
				}()
			}
			start.Done()
			done.Wait()
			ExpectClosed(t, c)
			k.WaitDisconnects(t, 1)
			got := k.Reasons()
			if len(got) != 1 {
				t.Fatalf("disconnect reasons %s, want exactly one session, once", joinReasons(got))
			}
			for r := range got {
				ok := false
				for _, want := range reasons[:min(tc.kickers, len(reasons))] {
					ok = ok || r == want
				}
				if !ok {
					t.Errorf("disconnect reason %v, want one of the reasons passed to Kick %v", r, reasons[:min(tc.kickers, len(reasons))])
				}
			}
			if err := s.Send([]byte("late")); !errors.Is(err, models.ErrClosed) {
				t.Errorf("Send after the session ended = %v, want ErrClosed", err)
			}
			c2 := Dial(t, svc.Addr())
			RoundTrip(t, c2, []byte("still serving"))
			CloseEngine(t, eng)
			if n := k.Disconnects(); n != 2 {
				t.Errorf("%d OnDisconnect calls after Close, want 2", n)
			}
			k.Verify(t)
		})
	}

	t.Run("racing_peer_close", func(t *testing.T) { testKickRacingPeerClose(t, backend) })
	t.Run("send_during_kick", func(t *testing.T) { testSendDuringKick(t, backend) })
}

// testKickRacingPeerClose: a Kick from another goroutine races the peer's close (graceful or
// reset) and the app's own kick in OnRecv; every session still ends exactly once.
func testKickRacingPeerClose(t *testing.T, backend string) {
	const rounds = 30
	eng := Open(t, backend, models.Config{})
	sessions := make(chan models.Session, rounds)
	k := Track(t, models.HandlerFuncs{
		Connect: func(s models.Session) { sessions <- s },
		Recv: func(s models.Session, w []byte) int {
			if bytes.IndexByte(w, 'K') >= 0 {
				s.Kick(models.KickPacketError)
			}
			s.Send(w)
			return len(w)
		},
	})
	svc := Listen(t, eng, k, models.ServiceOptions{})
	for i := range rounds {
		c := Dial(t, svc.Addr())
		var s models.Session
		select {
		case s = <-sessions:
		case <-time.After(waitTimeout):
			t.Fatal("no OnConnect")
		}
		RoundTrip(t, c, []byte("x"))
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); s.Kick(models.KickDisconnect) }()
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				c.Close()
			case 1:
				c.SetLinger(0)
				c.Close()
			case 2:
				c.Write([]byte("K"))
				c.Close()
			}
		}()
		wg.Wait()
		k.WaitDisconnects(t, i+1)
	}
	CloseEngine(t, eng)
	if n := k.Disconnects(); n != rounds {
		t.Errorf("%d OnDisconnect calls for %d sessions", n, rounds)
	}
	k.Verify(t)
}

// testSendDuringKick: goroutines keep calling Send while the session is kicked; Send only
// ever returns nil, ErrClosed or ErrSendQueueFull, and the session ends once with the kick's
// reason.
func testSendDuringKick(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{})
	sessions := make(chan models.Session, 1)
	k := Track(t, models.HandlerFuncs{Connect: func(s models.Session) { sessions <- s }})
	svc := Listen(t, eng, k, models.ServiceOptions{})
	c := Dial(t, svc.Addr())
	go readUntilClosed(c) // a reading peer: the queue drains
	var s models.Session
	select {
	case s = <-sessions:
	case <-time.After(waitTimeout):
		t.Fatal("no OnConnect")
	}
	var wg sync.WaitGroup
	var bad atomic.Pointer[error]
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := pattern(512)
			for {
				err := s.Send(msg)
				if err != nil && !errors.Is(err, models.ErrClosed) && !errors.Is(err, models.ErrSendQueueFull) {
					bad.CompareAndSwap(nil, &err)
				}
				if errors.Is(err, models.ErrClosed) {
					return
				}
				select {
				case <-stop:
					return
				default:
				}
				runtime.Gosched() // let the writer run: this case is about racing Kick, not filling the queue
			}
		}()
	}
	WaitFor(t, "some bytes written", func() bool { return svc.Stats().BytesSent > 64<<10 || k.Disconnects() > 0 })
	s.Kick(models.KickDisconnect)
	k.WaitDisconnects(t, 1)
	close(stop)
	waitGroupWithin(t, &wg, "senders to stop")
	if err := loadErr(&bad); err != nil {
		t.Errorf("Send during Kick returned %v, want nil, ErrClosed or ErrSendQueueFull", err)
	}
	if r := k.Reasons(); r[models.KickDisconnect] != 1 && r[models.KickSendQueueFull] != 1 {
		t.Errorf("disconnect reasons %s, want disconnect:1 (or send_queue_full:1 if the queue filled first)", joinReasons(r))
	}
	CloseEngine(t, eng)
	k.Verify(t)
}
