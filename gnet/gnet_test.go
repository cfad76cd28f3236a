package gnet

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
	"github.com/iobench/iobench/models/modeltest"
)

func TestConformance(t *testing.T) { modeltest.Run(t, Name) }

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

// TestBackpressure: the peer does not read while the server echoes 12 MiB, so the loop's writev
// hits EAGAIN and parks; once the peer reads, the side writer wakes the loop and every byte
// comes back in order, with nothing copied into gnet's outbound buffer (BytesSent counts
// only writev from the SendQueue).
func TestBackpressure(t *testing.T) {
	svc, reasons := openEcho(t, models.Config{SendQueueLimit: streamQueueLimit})
	c := dialStream(t, svc.Addr())
	data := pattern(streamBytes)
	if _, err := c.Write(data); err != nil { // the server keeps reading: this completes
		t.Fatalf("write: %v", err)
	}
	if runtime.GOOS != "windows" { // on Windows gnet's writes block on the loop instead
		modeltest.WaitFor(t, "the writer to block and hand over", func() bool { return svc.sideWriters.Load() == 1 })
	}
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echo after backpressure differs")
	}
	modeltest.RoundTrip(t, c, []byte("after backpressure"))
	// On Windows gnet's writes block on the loop (development mode): no side writer.
	if n, want := svc.sideWriters.Load(), uint64(1); runtime.GOOS != "windows" && n != want {
		t.Errorf("side writers started = %d, want %d (the writer never parked?)", n, want)
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

// TestHalfCloseDrain: the peer writes 12 MiB without reading, then half-closes. gnet closes the
// connection on EOF while most of the echo is still queued; the side writer must write it all
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
	// path is what delivers it. (Not on Windows: there gnet's loop blocks in the write until
	// this peer reads, so it cannot see the EOF first.)
	if runtime.GOOS != "windows" {
		modeltest.WaitFor(t, "the half-close drain to start", func() bool { return svc.drains.Load() == 1 })
	}
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
// default RecvBufferSize, so frames straddle gnet's reads and the adapter moves between delivering from gnet's buffer and from the RecvBuffer;
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

// TestNote: the Windows build must say it is a development mode; elsewhere the note names the
// adapter's extra costs.
func TestNote(t *testing.T) {
	b, err := models.Lookup(Name)
	if err != nil {
		t.Fatal(err)
	}
	want := "partial frame"
	if runtime.GOOS == "windows" {
		want = "development mode"
	}
	if b.Note != platformNote || !strings.Contains(b.Note, want) {
		t.Errorf("Note %q, want %q containing %q", b.Note, platformNote, want)
	}
	if b.Available() != nil {
		t.Errorf("Available = %v", b.Available())
	}
}

// BenchmarkEcho is a 64-byte ping-pong through the gnet server (the client is Go net); its
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
