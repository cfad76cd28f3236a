//go:build linux || darwin

package netpoll

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

// streamBytes is well above what loopback socket buffers absorb for a peer that does not
// read (the sender's buffer autotunes up to tcp_wmem's 4 MiB, the receiver's stays near
// tcp_rmem's default while the app does not read), and below streamQueueLimit.
const (
	streamBytes      = 12 << 20
	streamQueueLimit = 32 << 20
)

func pattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>9)
	}
	return p
}

// openEcho starts an engine with cfg and an echo server whose disconnect reasons go to the
// returned channel.
func openEcho(tb testing.TB, cfg models.Config) (*service, chan models.KickReason) {
	tb.Helper()
	eng := modeltest.Open(tb, Name, cfg)
	reasons := make(chan models.KickReason, 16)
	svc := modeltest.Listen(tb, eng, models.HandlerFuncs{
		Recv:       func(s models.Session, w []byte) int { s.Send(w); return len(w) },
		Disconnect: func(_ models.Session, r models.KickReason) { reasons <- r },
	}, models.ServiceOptions{})
	return svc.(*service), reasons
}

// dialStream dials addr for a test that streams streamBytes.
func dialStream(tb testing.TB, addr net.Addr) *net.TCPConn {
	tb.Helper()
	c, err := net.Dial("tcp", addr.String())
	if err != nil {
		tb.Fatal(err)
	}
	tc := c.(*net.TCPConn)
	tc.SetDeadline(time.Now().Add(60 * time.Second))
	tb.Cleanup(func() { tc.Close() })
	return tc
}

func waitReason(tb testing.TB, reasons chan models.KickReason) models.KickReason {
	tb.Helper()
	select {
	case r := <-reasons:
		return r
	case <-time.After(30 * time.Second):
		tb.Fatal("no OnDisconnect")
		return 0
	}
}

// TestBackpressure: the peer does not read while the server echoes 12 MiB, so the writer's writev
// hits EAGAIN and hands over to the side writer; once the peer reads, it writes and every byte
// comes back in order (BytesSent counts only writev from the SendQueue).
func TestBackpressure(t *testing.T) {
	svc, reasons := openEcho(t, models.Config{SendQueueLimit: streamQueueLimit})
	c := dialStream(t, svc.Addr())
	data := pattern(streamBytes)
	if _, err := c.Write(data); err != nil { // the server keeps reading: this completes
		t.Fatalf("write: %v", err)
	}
	// netpoll reads ahead into its LinkBuffer, so the echo may lag the client's writes: read
	// only once the writer has blocked.
	modeltest.WaitFor(t, "the writer to block and hand over", func() bool { return svc.sideWriters.Load() == 1 })
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo after backpressure differs")
	}
	modeltest.RoundTrip(t, c, []byte("after backpressure"))
	if n := svc.sideWriters.Load(); n != 1 {
		t.Errorf("side writers started = %d, want 1 (the writer never parked?)", n)
	}
	// The counter is bumped after writev returns, possibly after the peer read the bytes.
	want := uint64(len(data)) + 18
	modeltest.WaitFor(t, "BytesSent to count every echoed byte", func() bool { return svc.Stats().BytesSent >= want })
	if st := svc.Stats(); st.BytesSent != want {
		t.Errorf("BytesSent = %d, want %d", st.BytesSent, want)
	}
	c.Close()
	if r := waitReason(t, reasons); r != models.KickRecv0 && r != models.KickRecvError {
		t.Errorf("reason %v after the peer closed, want recv_0 or recv_error", r)
	}
}

// TestHalfCloseDrain: the peer writes 12 MiB without reading, then half-closes. netpoll closes
// the connection on the hang-up while most of the echo is still queued; the side writer must write it all
// out before the session ends with KickRecv0.
func TestHalfCloseDrain(t *testing.T) {
	svc, reasons := openEcho(t, models.Config{SendQueueLimit: streamQueueLimit})
	c := dialStream(t, svc.Addr())
	data := pattern(streamBytes)
	if _, err := c.Write(data); err != nil {
		t.Fatalf("write: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	// Read only once the server has seen the EOF with the echo still queued, so the drain
	// path is what delivers it.
	modeltest.WaitFor(t, "the half-close drain to start", func() bool { return svc.drains.Load() == 1 })
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read until EOF: %v (got %d bytes)", err, len(got))
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("echo of a half-closed stream: got %d bytes, want %d", len(got), len(data))
	}
	if r := waitReason(t, reasons); r != models.KickRecv0 {
		t.Errorf("reason %v, want recv_0", r)
	}
}

// TestFramedWindows: length-prefixed frames up to the window size, with the smallest and the
// default RecvBufferSize, so frames straddle netpoll's reads and the adapter waits for the rest of a partial frame in netpoll's buffer;
// no window may exceed RecvBufferSize and the echoed stream must equal the input.
func TestFramedWindows(t *testing.T) {
	for _, tc := range []struct {
		name     string
		recvBuf  int
		maxFrame int // payload bytes; header 4
	}{
		{"tiny_frames", 64, 3},
		{"mixed_frames", 64, 40},
		{"full_window_frames", 64, 60},
		{"10KiB_frames_64KiB_window", 64 << 10, 10 << 10},
		{"full_64KiB_window_frames", 64 << 10, 64<<10 - 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recvBuf := tc.recvBuf
			eng := modeltest.Open(t, Name, models.Config{RecvBufferSize: recvBuf})
			var bigWindow atomic.Int64
			svc := modeltest.Listen(t, eng, models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
				if len(w) > recvBuf {
					bigWindow.Store(int64(len(w)))
				}
				off := 0
				for len(w)-off >= 4 {
					n := 4 + int(binary.BigEndian.Uint32(w[off:]))
					if len(w)-off < n {
						break
					}
					s.Send(w[off : off+n])
					off += n
				}
				return off
			}}, models.ServiceOptions{})
			var in bytes.Buffer
			for i := 0; in.Len() < max(256<<10, 40*tc.maxFrame); i++ {
				n := (i*13 + 1) % (tc.maxFrame + 1)
				var h [4]byte
				binary.BigEndian.PutUint32(h[:], uint32(n))
				in.Write(h[:])
				for j := range n {
					in.WriteByte(byte(i + j))
				}
			}
			c := modeltest.Dial(t, svc.Addr())
			var wg sync.WaitGroup
			wg.Add(1)
			var werr error
			go func() {
				defer wg.Done()
				_, werr = c.Write(in.Bytes())
			}()
			got := make([]byte, in.Len())
			_, err := io.ReadFull(c, got)
			wg.Wait()
			if err != nil || werr != nil {
				t.Fatalf("read %v, write %v", err, werr)
			}
			if !bytes.Equal(got, in.Bytes()) {
				t.Fatal("framed echo differs from the input")
			}
			if n := bigWindow.Load(); n != 0 {
				t.Errorf("OnRecv saw a %d-byte window, RecvBufferSize %d", n, recvBuf)
			}
		})
	}
}

// TestGlobalLoops: netpoll's pollers are process-global, so an engine asking for another
// poller count while one is open is refused; once it closes, the count can change.
func TestGlobalLoops(t *testing.T) {
	first, err := models.Open(Name, models.Config{Loops: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := models.Open(Name, models.Config{Loops: 3}); !errors.Is(err, models.ErrBadConfig) {
		t.Errorf("Open with Loops 3 while Loops 2 is open = %v, want ErrBadConfig", err)
	}
	same, err := models.Open(Name, models.Config{Loops: 2})
	if err != nil {
		t.Fatalf("Open with the same Loops: %v", err)
	}
	same.Close()
	first.Close()
	other, err := models.Open(Name, models.Config{Loops: 3})
	if err != nil {
		t.Fatalf("Open with Loops 3 after the others closed: %v", err)
	}
	svc := modeltest.StartEcho(t, other)
	c := modeltest.Dial(t, svc.Addr())
	modeltest.RoundTrip(t, c, []byte("three pollers"))
	svc.Close()
	other.Close()
	back, err := models.Open(Name, models.Config{Loops: 2}) // the count the suite uses
	if err != nil {
		t.Fatal(err)
	}
	back.Close()
}

// BenchmarkEcho is a 64-byte ping-pong through the netpoll server (the client is Go net); its
// allocs/op is what one echoed message costs the process (server and client).
func BenchmarkEcho(b *testing.B) {
	for _, size := range []int{64, 4 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			eng := modeltest.Open(b, Name, models.Config{})
			svc := modeltest.StartEcho(b, eng)
			c := modeltest.Dial(b, svc.Addr())
			c.SetDeadline(time.Time{})
			msg, got := pattern(size), make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestNoDelay: accepted and dialled sessions have TCP_NODELAY set, as Go net and gnet set it
// (netpoll sets it only on connections of its own listener, and the adapter serves its own).
// Without it, fan-out Sends meet Nagle's algorithm and delayed ACKs (40 ms stalls).
func TestNoDelay(t *testing.T) {
	eng := modeltest.Open(t, Name, models.Config{})
	fds := make(chan int, 4)
	h := models.HandlerFuncs{
		Connect: func(s models.Session) { fds <- s.(*session).fd },
		Recv:    func(s models.Session, w []byte) int { s.Send(w); return len(w) },
	}
	svc := modeltest.Listen(t, eng, h, models.ServiceOptions{})
	c := modeltest.Dial(t, svc.Addr())
	modeltest.RoundTrip(t, c, []byte("x"))
	if _, err := eng.Connect(svc.Addr().String(), h, models.ServiceOptions{}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // the test's peer, the dialled session and its accepted end
		fd := <-fds
		v, err := unix.GetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY)
		if err != nil || v == 0 {
			t.Errorf("session %d: TCP_NODELAY = %d, %v; want set", i, v, err)
		}
	}
}
