package modeltest

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/iobench/iobench/apps"
	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/proto"
)

// lazyCases are the cases of the contract's "idle sessions hold no buffers" (models package
// doc): idle_holds_nothing, for backends whose services report their buffers
// (models.ResidentReporter), and split_frame, on every backend.
func lazyCases() []testCase {
	return []testCase{
		{"idle_holds_nothing", testIdleHoldsNothing},
		{"split_frame", testSplitFrame},
	}
}

// idleSessions is the number of sessions of idle_holds_nothing.
const idleSessions = 64

// bigFrame is a framed request larger than models.SendChunkSize, so its echo takes several
// send chunks and its receive straddles reads (and io_uring provided buffers).
const bigFrame = 40 << 10

// testIdleHoldsNothing: idleSessions framed sessions connect and exchange a small and a
// large frame; half of them then leave a partial frame pending, which must show as resident
// receive buffers (exactly one each) on a backend with lazy RecvBuffers; they complete it,
// and once every session is idle the service's resident receive buffers (lazy backends) and
// send chunks (every reporting backend) drop to zero within a bounded wait, with every
// session still open. Then a quarter leave a partial frame again and close, another quarter
// reset mid-frame: every pooled buffer comes back (no leak), the process stays idle (no
// spin), and the rest are still served.
func testIdleHoldsNothing(t *testing.T, backend string) {
	app := framedApps[0]
	eng, k, svc := framedService(t, backend, models.ServiceOptions{PoolSize: idleSessions + 8})
	rr, ok := svc.(models.ResidentReporter)
	if !ok {
		t.Skipf("%s services do not report resident buffers (models.ResidentReporter): it claims no lazy buffers", backend)
	}
	conns := make([]*net.TCPConn, idleSessions)
	for i := range conns {
		conns[i] = Dial(t, svc.Addr())
	}
	big := proto.AppendFramed(nil, proto.TypeEcho, 9, 1, bigFrame)
	for i, c := range conns {
		app.exchange(t, c, uint64(i))
		roundTripFrame(t, c, big)
	}
	WaitFor(t, fmt.Sprintf("%d sessions", idleSessions), func() bool { return rr.Resident().Sessions == idleSessions })
	lazy := rr.Resident().LazyRecv
	if !lazy {
		t.Logf("%s keeps a RecvBuffer per session (Resident.LazyRecv false): only the send chunks are checked", backend)
	}
	waitIdle := func(when string, sessions int) {
		t.Helper()
		var r models.Resident
		deadline := time.Now().Add(waitTimeout)
		for {
			r = rr.Resident()
			if r.SendChunks == 0 && (!lazy || r.RecvBuffers == 0) && r.Sessions == sessions {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: resident %+v after %v, want no send chunks, no receive buffers (lazy: %v) and %d sessions", when, r, waitTimeout, lazy, sessions)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	waitIdle("every session idle after its exchanges", idleSessions)

	// Half leave a partial frame pending: one resident receive buffer each.
	req, _ := app.request(100)
	cut := app.header + 10
	pending := conns[:idleSessions/2]
	want := svc.Stats().BytesRecv
	for _, c := range pending {
		if _, err := c.Write(req[:cut]); err != nil {
			t.Fatalf("write a partial frame: %v", err)
		}
		want += uint64(cut)
	}
	WaitFor(t, "the server to read the partial frames", func() bool { return svc.Stats().BytesRecv >= want })
	if r := rr.Resident(); lazy && r.RecvBuffers != len(pending) {
		t.Errorf("%d sessions with a partial frame pending: resident %+v, want RecvBuffers %d", len(pending), r, len(pending))
	}
	for _, c := range pending {
		if _, err := c.Write(req[cut:]); err != nil {
			t.Fatalf("write the rest of the frame: %v", err)
		}
		got := make([]byte, len(req))
		if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, req) {
			t.Fatalf("echo of a frame completed later: %v (equal %v)", err, bytes.Equal(got, req))
		}
	}
	waitIdle("the pending frames completed", idleSessions)

	// Hostile: a quarter close and a quarter reset with a partial frame pending.
	hostile := conns[:idleSessions/2]
	want = svc.Stats().BytesRecv + uint64(len(hostile)*cut)
	for _, c := range hostile {
		if _, err := c.Write(req[:cut]); err != nil {
			t.Fatalf("write a partial frame: %v", err)
		}
	}
	WaitFor(t, "the server to read the partial frames", func() bool { return svc.Stats().BytesRecv >= want })
	for i, c := range hostile {
		if i%2 == 1 {
			c.SetLinger(0)
		}
		c.Close()
	}
	k.WaitDisconnects(t, len(hostile))
	waitIdle("peers closed or reset mid-frame", idleSessions-len(hostile))
	checkIdleCPU(t, fmt.Sprintf("after %d peers closed or reset mid-frame", len(hostile)))
	for i, c := range conns[len(hostile):] {
		app.exchange(t, c, uint64(1000+i))
	}
	waitIdle("the remaining sessions idle again", idleSessions-len(hostile))
	CloseEngine(t, eng)
	k.Verify(t)
}

// framedService opens an engine of backend and a tracked framed app service on it.
func framedService(t *testing.T, backend string, opt models.ServiceOptions) (models.Engine, *Tracker, models.Service) {
	t.Helper()
	eng := Open(t, backend, models.Config{})
	h, err := apps.New(framedApps[0].name, apps.Options{})
	if err != nil {
		t.Fatal(err)
	}
	k := Track(t, h)
	return eng, k, Listen(t, eng, k, opt)
}

// roundTripFrame writes one frame and reads its echo.
func roundTripFrame(tb testing.TB, c net.Conn, frame []byte) {
	tb.Helper()
	c.SetDeadline(time.Now().Add(ioTimeout))
	werr := make(chan error, 1)
	go func() { _, err := c.Write(frame); werr <- err }()
	got := make([]byte, len(frame))
	if _, err := io.ReadFull(c, got); err != nil {
		tb.Fatalf("read the echo of a %d-byte frame: %v", len(frame), err)
	}
	if err := <-werr; err != nil {
		tb.Fatalf("write a %d-byte frame: %v", len(frame), err)
	}
	if !bytes.Equal(got, frame) {
		tb.Fatalf("echo of a %d-byte frame differs (equal prefix %d)", len(frame), commonPrefix(got, frame))
	}
}

// testSplitFrame: framed frames (each checked by the app's CRC, so a frame that does not
// arrive whole kicks the session) are written split over many writes, byte by byte and in
// random cuts with short pauses so the server sees many reads, while other sessions keep
// exchanging frames; every echo equals its input and no session is kicked. Frame sizes go
// from the header alone to 60 KiB (near the 64 KiB RecvBuffer), across io_uring's provided
// buffer size and the SendQueue's chunk size.
func testSplitFrame(t *testing.T, backend string) {
	app := framedApps[0]
	eng, k, svc := framedService(t, backend, models.ServiceOptions{})

	// Background: 4 sessions exchanging frames until the split writes are done.
	stop := make(chan struct{})
	var bg sync.WaitGroup
	bgErr := make(chan error, 4)
	for i := range 4 {
		c := Dial(t, svc.Addr())
		bg.Add(1)
		go func() {
			defer bg.Done()
			for seq := uint64(0); ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				req, _ := app.request(seq)
				c.SetDeadline(time.Now().Add(ioTimeout))
				got := make([]byte, len(req))
				if _, err := c.Write(req); err != nil {
					bgErr <- fmt.Errorf("background session %d: write: %w", i, err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, req) {
					bgErr <- fmt.Errorf("background session %d: echo %d: %v (equal %v)", i, seq, err, bytes.Equal(got, req))
					return
				}
			}
		}()
	}

	r := rand.New(rand.NewPCG(13, 13))
	stream := func(sizes ...int) []byte {
		var out []byte
		for i, n := range sizes {
			out = proto.AppendFramed(out, proto.TypeEcho, 5, uint64(i), n)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		data  []byte
		cut   func() int
		pause func(i int) bool // pause after write i
	}{
		{"byte_by_byte", stream(proto.FramedHeaderSize, 64, 300), func() int { return 1 }, func(int) bool { return true }},
		{"byte_by_byte_large", stream(2048), func() int { return 1 }, func(i int) bool { return i%64 == 0 }},
		{"random_cuts", stream(64, 8191, 8193, 20000, 100, bigFrame, 24, 60<<10, 64),
			func() int { return 1 + r.IntN(3000) }, func(int) bool { return r.IntN(4) == 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Dial(t, svc.Addr())
			werr := make(chan error, 1)
			go func() {
				for i, rest := 0, tc.data; len(rest) > 0; i++ {
					n := min(len(rest), tc.cut())
					c.SetWriteDeadline(time.Now().Add(ioTimeout))
					if _, err := c.Write(rest[:n]); err != nil {
						werr <- err
						return
					}
					rest = rest[n:]
					if tc.pause(i) {
						time.Sleep(200 * time.Microsecond)
					}
				}
				werr <- nil
			}()
			c.SetReadDeadline(time.Now().Add(ioTimeout))
			got := make([]byte, len(tc.data))
			if _, err := io.ReadFull(c, got); err != nil {
				t.Fatalf("read the echo: %v (kicks so far: %s)", err, joinReasons(k.Reasons()))
			}
			if err := <-werr; err != nil {
				t.Fatalf("write: %v", err)
			}
			if !bytes.Equal(got, tc.data) {
				t.Fatalf("echo of %d bytes of split frames differs (equal prefix %d)", len(tc.data), commonPrefix(got, tc.data))
			}
		})
	}
	close(stop)
	bg.Wait()
	select {
	case err := <-bgErr:
		t.Fatal(err)
	default:
	}
	for r, n := range k.Reasons() {
		if r != models.KickRecv0 { // recv_0: a subtest's client closed at its cleanup
			t.Errorf("sessions kicked while frames were split: %v x%d (all: %s), want none", r, n, joinReasons(k.Reasons()))
		}
	}
	if rr, ok := svc.(models.ResidentReporter); ok {
		WaitFor(t, "no resident receive buffers or send chunks once every frame is echoed", func() bool {
			r := rr.Resident()
			return r.SendChunks == 0 && (!r.LazyRecv || r.RecvBuffers == 0)
		})
	}
	CloseEngine(t, eng)
	k.Verify(t)
}

// RunLazy runs only the lazy-buffer cases (idle_holds_nothing, split_frame) against backend:
// for a backend's second receive mode, which the full Run already covers otherwise.
func RunLazy(t *testing.T, backend string) {
	for _, c := range lazyCases() {
		t.Run(c.name, func(t *testing.T) { c.fn(t, backend) })
	}
}
