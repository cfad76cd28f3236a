package epoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// openEngine builds an epoll engine closed at cleanup.
func openEngine(tb testing.TB, cfg models.Config) *Engine {
	tb.Helper()
	eng, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() { modeltest.CloseEngine(tb, eng) })
	return eng.(*Engine)
}

// TestStaleEventDropped replays, on the loop, an epoll event whose tag names a connection
// that has closed and whose slot (and possibly fd number) now belongs to a new connection:
// the event must reach nobody, while the new connection's own tag still resolves.
func TestStaleEventDropped(t *testing.T) {
	e := openEngine(t, models.Config{Loops: 1})
	var recvs, disconnects atomic.Int32
	sessions := make(chan models.Session, 2)
	h := models.HandlerFuncs{
		Connect:    func(s models.Session) { sessions <- s },
		Recv:       func(s models.Session, w []byte) int { recvs.Add(1); return len(w) },
		Disconnect: func(models.Session, models.KickReason) { disconnects.Add(1) },
	}
	svc := modeltest.Listen(t, e, h, models.ServiceOptions{PoolSize: 1})

	modeltest.Dial(t, svc.Addr())
	first := (<-sessions).(*session)
	staleTag := first.tag()
	first.Kick(models.KickDisconnect)
	modeltest.WaitFor(t, "first session's OnDisconnect", func() bool { return disconnects.Load() == 1 })

	modeltest.Dial(t, svc.Addr())
	second := (<-sessions).(*session)
	if second != first {
		t.Fatalf("PoolSize 1 reused a different session object")
	}
	liveTag := second.tag()
	if staleTag.slot() != liveTag.slot() || staleTag.gen() == liveTag.gen() {
		t.Fatalf("tags: stale slot %d gen %d, live slot %d gen %d: want same slot, new generation",
			staleTag.slot(), staleTag.gen(), liveTag.slot(), liveTag.gen())
	}

	cases := []struct {
		name   string
		t      tag
		events uint32
		want   *session
	}{
		{"stale tag, hangup", staleTag, unix.EPOLLIN | unix.EPOLLERR | unix.EPOLLHUP, nil},
		{"stale generation only", makeTag(kindSession, liveTag.svc(), liveTag.slot(), liveTag.gen()+2), unix.EPOLLIN | unix.EPOLLHUP, nil},
		{"unknown service", makeTag(kindSession, 99, 0, liveTag.gen()), unix.EPOLLIN | unix.EPOLLHUP, nil},
		{"slot out of range", makeTag(kindSession, liveTag.svc(), 5, liveTag.gen()), unix.EPOLLIN | unix.EPOLLHUP, nil},
		{"live tag, spurious readiness", liveTag, unix.EPOLLIN, second}, // read gets EAGAIN
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got *session
			modeltest.OnLoop(t, e, func() {
				l := e.loops[0]
				got = l.lookup(c.t)
				ev := unix.EpollEvent{Events: c.events}
				ev.Fd, ev.Pad = c.t.split()
				l.dispatch(&ev)
			})
			if got != c.want {
				t.Fatalf("lookup = %p, want %p", got, c.want)
			}
			if n := disconnects.Load(); n != 1 {
				t.Fatalf("%d OnDisconnect calls after the replayed event, want 1 (the live session was hit)", n)
			}
			if n := recvs.Load(); n != 0 {
				t.Fatalf("%d OnRecv calls after the replayed event, want 0", n)
			}
		})
	}
}

// TestListenPortShared: SO_REUSEPORT must not let a second engine join a port that is already
// served (it would silently take half of its connections).
func TestListenPortShared(t *testing.T) {
	a := openEngine(t, models.Config{Loops: 2})
	b := openEngine(t, models.Config{Loops: 2})
	svc := modeltest.StartEcho(t, a)
	svc2, err := b.Listen(svc.Addr().String(), modeltest.EchoHandler(), models.ServiceOptions{})
	if err == nil {
		svc2.Close()
		t.Fatalf("second engine listened on %v, already served by the first", svc.Addr())
	}
	var op *models.OpError
	if !errors.As(err, &op) || !errors.Is(err, unix.EADDRINUSE) {
		t.Fatalf("error %v: want an *models.OpError wrapping EADDRINUSE", err)
	}
}

// TestListenersPerLoop: each loop accepts on its own SO_REUSEPORT socket, so with enough
// connections every loop gets sessions.
func TestListenersPerLoop(t *testing.T) {
	e := openEngine(t, models.Config{Loops: 2})
	var mu sync.Mutex
	perLoop := map[*loop]int{}
	h := models.HandlerFuncs{Connect: func(s models.Session) {
		mu.Lock()
		perLoop[s.(*session).owner.Load()]++
		mu.Unlock()
	}}
	svc := modeltest.Listen(t, e, h, models.ServiceOptions{})
	const conns = 64
	for range conns {
		modeltest.Dial(t, svc.Addr())
	}
	modeltest.WaitFor(t, "every connection accepted", func() bool { return svc.Stats().Accepted == conns })
	mu.Lock()
	defer mu.Unlock()
	for i, l := range e.loops {
		if perLoop[l] == 0 {
			t.Errorf("loop %d accepted none of %d connections (per loop: %v)", i, conns, perLoop)
		}
	}
}

// TestCloseFromCallback: Service.Close and Engine.Close called on a loop thread must not
// deadlock (the loop cannot wait for itself); the sessions still get OnDisconnect.
func TestCloseFromCallback(t *testing.T) {
	cases := []struct {
		name  string
		close func(e *Engine, svc models.Service)
	}{
		{"service", func(e *Engine, svc models.Service) { svc.Close() }},
		{"engine", func(e *Engine, svc models.Service) { e.Close() }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := openEngine(t, models.Config{Loops: 2})
			var svc models.Service
			ready := make(chan struct{})
			reasons := make(chan models.KickReason, 1)
			h := models.HandlerFuncs{
				Recv: func(s models.Session, w []byte) int {
					<-ready
					c.close(e, svc)
					return len(w)
				},
				Disconnect: func(s models.Session, r models.KickReason) { reasons <- r },
			}
			var err error
			svc, err = e.Listen("127.0.0.1:0", h, models.ServiceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			close(ready)
			conn := modeltest.Dial(t, svc.Addr())
			conn.Write([]byte("x"))
			select {
			case r := <-reasons:
				if r != models.KickShutdown {
					t.Fatalf("OnDisconnect reason %v, want shutdown", r)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("no OnDisconnect after Close from a callback")
			}
			modeltest.ExpectClosed(t, conn)
			modeltest.CloseEngine(t, e)
		})
	}
}

// TestClientEchoOverEpoll runs the epoll client against the epoll server with pipelined
// messages from both a callback (same loop, no wakeup) and a foreign goroutine (eventfd).
func TestClientEchoOverEpoll(t *testing.T) {
	const conns, msgs, size = 8, 200, 64
	e := openEngine(t, models.Config{Loops: 2})
	srv := modeltest.StartEcho(t, e)
	var got atomic.Int64
	done := make(chan struct{})
	var once sync.Once
	var mu sync.Mutex
	var clients []models.Session
	h := models.HandlerFuncs{
		Connect: func(s models.Session) {
			mu.Lock()
			clients = append(clients, s)
			mu.Unlock()
		},
		Recv: func(s models.Session, w []byte) int {
			n := len(w) / size * size
			if got.Add(int64(n)) == conns*msgs*size {
				once.Do(func() { close(done) })
			}
			return n
		},
	}
	cli, err := e.Connect(srv.Addr().String(), h, models.ServiceOptions{Conns: conns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	msg := make([]byte, size)
	mu.Lock()
	ss := append([]models.Session(nil), clients...)
	mu.Unlock()
	if len(ss) != conns {
		t.Fatalf("Connect returned with %d sessions connected, want %d", len(ss), conns)
	}
	for range msgs {
		for _, s := range ss {
			if err := s.Send(msg); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("echoed %d of %d bytes", got.Load(), conns*msgs*size)
	}
	if st := cli.Stats(); st.Connected != conns || st.Sends != conns*msgs || st.BytesRecv != conns*msgs*size {
		t.Fatalf("client stats %+v", st)
	}
}

// TestHalfCloseDrainsLargeQueue: after a peer EOF the queued replies (more than a socket
// buffer, so EPOLLOUT must be armed while EPOLLIN is off) are all written before KickRecv0.
func TestHalfCloseDrainsLargeQueue(t *testing.T) {
	const total = 24 << 20 // well past the socket buffers (tcp_wmem + tcp_rmem) on loopback
	e := openEngine(t, models.Config{Loops: 1, SendQueueLimit: 32 << 20})
	reasons := make(chan models.KickReason, 1)
	blob := make([]byte, 64<<10)
	for i := range blob {
		blob[i] = byte(i * 7)
	}
	h := models.HandlerFuncs{
		Connect: func(s models.Session) {
			for range total / len(blob) {
				if err := s.Send(blob); err != nil {
					panic(err)
				}
			}
		},
		Disconnect: func(s models.Session, r models.KickReason) { reasons <- r },
	}
	svc := modeltest.Listen(t, e, h, models.ServiceOptions{})
	conn := modeltest.Dial(t, svc.Addr())
	conn.CloseWrite()
	time.Sleep(50 * time.Millisecond) // let the EOF arrive while the queue is still full
	n, err := io.Copy(io.Discard, conn)
	if err != nil || n != total {
		t.Fatalf("read %d bytes (err %v) after half-close, want %d then EOF", n, err, total)
	}
	if r := <-reasons; r != models.KickRecv0 {
		t.Fatalf("reason %v, want recv_0", r)
	}
}

// TestNoFDLeak: an engine with live sessions closes every fd it opened (epoll, eventfds,
// listeners, sessions).
func TestNoFDLeak(t *testing.T) {
	before := countFDs(t)
	e, err := New(models.Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := e.Listen("127.0.0.1:0", modeltest.EchoHandler(), models.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Connect(svc.Addr().String(), models.HandlerFuncs{}, models.ServiceOptions{Conns: 4, Type: models.ServiceClientAutoReconnect}); err != nil {
		t.Fatal(err)
	}
	modeltest.WaitFor(t, "4 accepted", func() bool { return svc.Stats().Accepted >= 4 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if after := countFDs(t); after != before {
		t.Fatalf("%d fds open after Close, %d before New", after, before)
	}
}

func countFDs(tb testing.TB) int {
	tb.Helper()
	d, err := openDir("/proc/self/fd")
	if err != nil {
		tb.Skipf("no /proc/self/fd: %v", err)
	}
	return d
}

func openDir(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 64<<10)
	n := 0
	for {
		k, err := unix.ReadDirent(fd, buf)
		if err != nil {
			return 0, err
		}
		if k == 0 {
			break
		}
		_, c, _ := unix.ParseDirent(buf[:k], -1, nil)
		n += c
	}
	return n - 1, nil // minus the directory fd itself
}

// TestWakeups checks the wake-up rules: a Send inside the session's own callback is written
// by the loop right after the callback (no task, no eventfd write); a Send from another
// goroutine to an idle loop wakes it through the eventfd.
func TestWakeups(t *testing.T) {
	const rounds = 50
	msg := []byte("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	cases := []struct {
		name      string
		foreign   bool // Send from the test goroutine instead of from OnRecv
		wantWakes func(n uint64) bool
		want      string
	}{
		{"send in OnRecv", false, func(n uint64) bool { return n == 0 }, "no eventfd write"},
		{"send from another goroutine", true, func(n uint64) bool { return n > 0 }, "eventfd writes"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := openEngine(t, models.Config{Loops: 1})
			sessions := make(chan models.Session, 1)
			h := models.HandlerFuncs{
				Connect: func(s models.Session) { sessions <- s },
				Recv: func(s models.Session, w []byte) int {
					if !c.foreign {
						s.Send(w)
					}
					return len(w)
				},
			}
			svc := modeltest.Listen(t, e, h, models.ServiceOptions{})
			conn := modeltest.Dial(t, svc.Addr())
			s := <-sessions
			base := e.loops[0].wakes.Load() // Listen's registration task may have woken it
			got := make([]byte, len(msg))
			for range rounds {
				if c.foreign {
					// Send to a loop blocked in epoll_wait: an awake loop (say, yielding
					// after its last poll) picks the task up without a wake-up.
					modeltest.WaitFor(t, "the loop to block", e.loops[0].sleeping.Load)
					if err := s.Send(msg); err != nil {
						t.Fatal(err)
					}
				} else if _, err := conn.Write(msg); err != nil {
					t.Fatal(err)
				}
				if _, err := io.ReadFull(conn, got); err != nil || string(got) != string(msg) {
					t.Fatalf("read %q, %v; want %q", got, err, msg)
				}
			}
			if n := e.loops[0].wakes.Load() - base; !c.wantWakes(n) {
				t.Fatalf("%d eventfd writes for %d rounds, want %s", n, rounds, c.want)
			}
		})
	}
}

// TestEchoAllocs: the echo path allocates nothing per message once warm (reused iovecs,
// pooled send chunks, a per-slot RecvBuffer).
func TestEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes sync.Pool drop Puts: allocation counts are meaningless")
	}
	const warm, rounds = 200, 2000
	e := openEngine(t, models.Config{Loops: 1})
	svc := modeltest.StartEcho(t, e)
	conn := modeltest.Dial(t, svc.Addr())
	msg := make([]byte, 64)
	got := make([]byte, 64)
	roundTrip := func() {
		if _, err := conn.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatal(err)
		}
	}
	for range warm {
		roundTrip()
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range rounds {
		roundTrip()
	}
	runtime.ReadMemStats(&after)
	// The whole process is counted (client included); a GC emptying the chunk pool costs a
	// few chunk allocations, hence a bound rather than zero.
	per := float64(after.Mallocs-before.Mallocs) / rounds
	t.Logf("%.4f allocations per echoed message (process-wide)", per)
	if per > 0.05 {
		t.Fatalf("%.3f allocations per echoed message, want none", per)
	}
}

// BenchmarkEcho is a closed-loop echo inside one process: the epoll client (conns sessions,
// depth 1) against the epoll server, both on one engine. One op is one echoed message. It is
// a quick regression check; server CPU per message is measured by iobench run, which puts
// the server in its own process.
func BenchmarkEcho(b *testing.B) {
	for _, conns := range []int{1, 100} {
		for _, size := range []int{64} {
			b.Run(fmt.Sprintf("backend=%s/conns=%d/size=%d", Name, conns, size), func(b *testing.B) {
				benchEcho(b, conns, size)
			})
		}
	}
}

func benchEcho(b *testing.B, conns, size int) {
	e := openEngine(b, models.Config{Loops: 2})
	srv := modeltest.StartEcho(b, e)
	var left atomic.Int64
	left.Store(int64(b.N))
	done := make(chan struct{})
	var once sync.Once
	msg := make([]byte, size)
	next := func(s models.Session) {
		if left.Add(-1) >= 0 {
			s.Send(msg)
		} else {
			once.Do(func() { close(done) })
		}
	}
	start := make(chan struct{})
	h := models.HandlerFuncs{
		Connect: func(s models.Session) {
			go func() { <-start; next(s) }()
		},
		Recv: func(s models.Session, w []byte) int {
			n := len(w) / size * size
			for range n / size {
				next(s)
			}
			return n
		},
	}
	cli, err := e.Connect(srv.Addr().String(), h, models.ServiceOptions{Conns: conns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cli.Close() })
	b.ReportAllocs()
	b.ResetTimer()
	close(start)
	<-done
	b.StopTimer()
}

// TestListenAddresses: IPv4, IPv6 and wildcard listeners echo, and sessions report real local
// and remote addresses.
func TestListenAddresses(t *testing.T) {
	cases := []struct {
		name, listen, dialHost string
	}{
		{"ipv4 loopback", "127.0.0.1:0", "127.0.0.1"},
		{"ipv6 loopback", "[::1]:0", "::1"},
		{"wildcard", ":0", "127.0.0.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.dialHost == "::1" {
				if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
					t.Skipf("no IPv6 loopback: %v", err)
				} else {
					ln.Close()
				}
			}
			e := openEngine(t, models.Config{Loops: 2})
			sessions := make(chan models.Session, 1)
			h := models.HandlerFuncs{
				Connect: func(s models.Session) { sessions <- s },
				Recv:    func(s models.Session, w []byte) int { s.Send(w); return len(w) },
			}
			svc, err := e.Listen(c.listen, h, models.ServiceOptions{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close() })
			port := svc.Addr().(*net.TCPAddr).Port
			conn := modeltest.Dial(t, &net.TCPAddr{IP: net.ParseIP(c.dialHost), Port: port})
			modeltest.RoundTrip(t, conn, []byte("hello over "+c.name))
			s := <-sessions
			if got, want := s.RemoteAddr().String(), conn.LocalAddr().String(); got != want {
				t.Errorf("session RemoteAddr %s, want the client's %s", got, want)
			}
			if got, want := s.LocalAddr().String(), conn.RemoteAddr().String(); got != want {
				t.Errorf("session LocalAddr %s, want %s", got, want)
			}
		})
	}
}

// TestConformanceLockedThreads runs the suite with every loop locked to its OS thread
// (LockEnv), the first layout, so the switch stays correct as well as measurable.
func TestConformanceLockedThreads(t *testing.T) {
	t.Setenv(LockEnv, "1")
	modeltest.Run(t, Name)
}

// TestResidentRecv runs the lazy-buffer cases with RecvEnv=resident (every session reads
// into its own RecvBuffer, the first design): frames split over reads arrive whole, the
// service reports its per-slot buffers as not lazy, and its send chunks still drop to zero.
func TestResidentRecv(t *testing.T) {
	t.Setenv(RecvEnv, "resident")
	modeltest.RunLazy(t, Name)
}

// TestRecvEnvRefused: an unknown receive mode is one clear configuration error.
func TestRecvEnvRefused(t *testing.T) {
	t.Setenv(RecvEnv, "sometimes")
	if _, err := New(models.Config{}); !errors.Is(err, models.ErrBadConfig) || !strings.Contains(err.Error(), RecvEnv) {
		t.Fatalf("New with %s=sometimes: %v, want ErrBadConfig naming %s", RecvEnv, err, RecvEnv)
	}
}
