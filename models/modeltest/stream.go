package modeltest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/iobench/iobench/models"
)

// Streams larger than loopback socket buffers absorb for a peer that does not read (the
// sender's buffer autotunes up to tcp_wmem's 4 MiB, the receiver's stays near tcp_rmem's
// default while the app does not read), and below streamQueueLimit: the writer must block
// and resume (backpressure), and a half-close must find sends still queued (drain).
const (
	streamBytes = 12 << 20
	// StreamQueueLimit is the SendQueueLimit of the engines the stream cases run on.
	StreamQueueLimit = 32 << 20
)

// streamPattern is n bytes that differ at every offset that matters (no 64 KiB period).
func streamPattern(n int) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*7 + i>>9)
	}
	return p
}

// dialStream dials addr for a test that streams streamBytes (a longer deadline than Dial).
func dialStream(tb testing.TB, addr net.Addr) *net.TCPConn {
	tb.Helper()
	c := Dial(tb, addr)
	c.SetDeadline(time.Now().Add(3 * ioTimeout))
	return c
}

// testBackpressure: the peer does not read while the server echoes 12 MiB, so the server's
// writes block; once the peer reads, every byte comes back in order, and BytesSent counts
// exactly the echoed bytes (nothing is written twice or from a second buffer).
func testBackpressure(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{SendQueueLimit: StreamQueueLimit})
	k := Track(t, EchoHandler())
	svc := Listen(t, eng, k, models.ServiceOptions{})
	Backpressure(t, svc)
	k.WaitDisconnects(t, 1)
	if r := k.Reasons(); r[models.KickRecv0]+r[models.KickRecvError] != 1 {
		t.Errorf("disconnect reasons %s after the peer closed, want recv_0 or recv_error", joinReasons(r))
	}
	CloseEngine(t, eng)
	k.Verify(t)
}

// testHalfCloseDrain: the peer writes 12 MiB without reading, then half-closes. The server
// sees the EOF with most of the echo still queued; it must write it all out, then close
// gracefully (FIN: the peer reads EOF, not a reset) with KickRecv0.
func testHalfCloseDrain(t *testing.T, backend string) {
	eng := Open(t, backend, models.Config{SendQueueLimit: StreamQueueLimit})
	k := Track(t, EchoHandler())
	svc := Listen(t, eng, k, models.ServiceOptions{})
	HalfCloseDrain(t, svc)
	k.WaitDisconnects(t, 1)
	if r := k.Reasons(); r[models.KickRecv0] != 1 {
		t.Errorf("disconnect reasons %s, want recv_0:1", joinReasons(r))
	}
	CloseEngine(t, eng)
	k.Verify(t)
}

// Backpressure is the client side of the backpressure case against svc, an echo service of
// an engine with SendQueueLimit StreamQueueLimit: 12 MiB written without reading (the
// server's writes block), then read back and checked, BytesSent checked, and the connection
// closed. A backend's own test can run it and then look at its internals (a side writer ran).
func Backpressure(tb testing.TB, svc models.Service) {
	tb.Helper()
	base := svc.Stats()
	c := dialStream(tb, svc.Addr())
	data := streamPattern(streamBytes)
	if _, err := c.Write(data); err != nil { // the server keeps reading: this completes
		tb.Fatalf("write: %v", err)
	}
	WaitFor(tb, "the server to read the whole stream", func() bool { return svc.Stats().BytesRecv-base.BytesRecv == uint64(len(data)) })
	got := make([]byte, len(data))
	if _, err := io.ReadFull(c, got); err != nil {
		tb.Fatalf("read back: %v", err)
	}
	if !bytes.Equal(got, data) {
		tb.Fatalf("echo after backpressure differs (equal prefix %d of %d)", commonPrefix(got, data), len(data))
	}
	RoundTrip(tb, c, []byte("after backpressure"))
	want := uint64(len(data)) + 18
	// The counter is bumped after the write returns, possibly after the peer read the bytes.
	WaitFor(tb, "BytesSent to count every echoed byte", func() bool { return svc.Stats().BytesSent-base.BytesSent >= want })
	if n := svc.Stats().BytesSent - base.BytesSent; n != want {
		tb.Errorf("BytesSent grew by %d, want %d", n, want)
	}
	c.Close()
}

// HalfCloseDrain is the client side of the half-close drain case against svc (as for
// Backpressure): 12 MiB written without reading, CloseWrite, then the whole echo and EOF.
func HalfCloseDrain(tb testing.TB, svc models.Service) {
	tb.Helper()
	base := svc.Stats()
	c := dialStream(tb, svc.Addr())
	data := streamPattern(streamBytes)
	if _, err := c.Write(data); err != nil {
		tb.Fatalf("write: %v", err)
	}
	if err := c.CloseWrite(); err != nil {
		tb.Fatal(err)
	}
	// Read only once the server has read the stream (its EOF comes right behind), so the
	// drain is what delivers most of the echo.
	WaitFor(tb, "the server to read the whole stream", func() bool { return svc.Stats().BytesRecv-base.BytesRecv == uint64(len(data)) })
	got, err := io.ReadAll(c)
	if err != nil {
		tb.Fatalf("read until EOF: %v (got %d of %d bytes)", err, len(got), len(data))
	}
	if !bytes.Equal(got, data) {
		tb.Fatalf("echo of a half-closed stream: got %d bytes, want %d, equal prefix %d", len(got), len(data), commonPrefix(got, data))
	}
}

// BenchEcho is a ping-pong of size-byte messages through an echo server of backend (the
// client is Go net); its allocs/op is what one echoed message costs the process.
func BenchEcho(b *testing.B, backend string) {
	for _, size := range []int{64, 4 << 10} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			eng := Open(b, backend, models.Config{})
			c := Dial(b, StartEcho(b, eng).Addr())
			c.SetDeadline(time.Time{})
			msg, got := streamPattern(size), make([]byte, size)
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

// testFramedWindows: length-prefixed frames up to the window size, with the smallest and the
// default RecvBufferSize, so frames straddle reads and a backend that delivers from its own
// buffers moves between them and the RecvBuffer; no window may exceed RecvBufferSize and the
// echoed stream must equal the input.
func testFramedWindows(t *testing.T, backend string) {
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
			eng := Open(t, backend, models.Config{RecvBufferSize: recvBuf})
			var bigWindow atomic.Int64
			svc := Listen(t, eng, models.HandlerFuncs{Recv: func(s models.Session, w []byte) int {
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
			c := Dial(t, svc.Addr())
			var wg sync.WaitGroup
			wg.Add(1)
			var werr error
			go func() {
				defer wg.Done()
				werr = writeProgress(c, in.Bytes())
			}()
			got := make([]byte, in.Len())
			err := readProgress(c, got)
			wg.Wait()
			if err != nil || werr != nil {
				t.Fatalf("read %v, write %v", err, werr)
			}
			if !bytes.Equal(got, in.Bytes()) {
				t.Fatalf("framed echo differs from the input (equal prefix %d of %d)", commonPrefix(got, in.Bytes()), in.Len())
			}
			if n := bigWindow.Load(); n != 0 {
				t.Errorf("OnRecv saw a %d-byte window, RecvBufferSize %d", n, recvBuf)
			}
		})
	}
}

// writeProgress writes p in 16 KiB pieces, each with a fresh deadline: a slow backend (tiny
// frames under Wine take many seconds) fails only if it stops making progress.
func writeProgress(c net.Conn, p []byte) error {
	for len(p) > 0 {
		n := min(len(p), 16<<10)
		c.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := c.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// readProgress fills p, refreshing the deadline after every read that made progress.
func readProgress(c net.Conn, p []byte) error {
	for len(p) > 0 {
		c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := c.Read(p)
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}
