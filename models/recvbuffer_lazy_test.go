package models_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/iobench/iobench/models"
)

func newRecvPool(tb testing.TB, size int) *models.RecvPool {
	tb.Helper()
	p, err := models.NewRecvPool(size)
	if err != nil {
		tb.Fatalf("NewRecvPool(%d): %v", size, err)
	}
	return p
}

// frames is a stream of length-prefixed frames (2-byte big-endian payload length).
func frames(n, maxPayload int, r *rand.Rand) []byte {
	var out []byte
	for i := range n {
		size := r.IntN(maxPayload + 1)
		out = binary.BigEndian.AppendUint16(out, uint16(size))
		for j := range size {
			out = append(out, byte(i+j))
		}
	}
	return out
}

// frameSink consumes whole frames from each window and keeps their bytes.
type frameSink struct {
	got     []byte
	windows int
	maxWin  int
}

func (f *frameSink) OnRecv(_ models.Session, w []byte) int {
	f.windows++
	f.maxWin = max(f.maxWin, len(w))
	n := 0
	for len(w)-n >= 2 {
		size := int(binary.BigEndian.Uint16(w[n:]))
		if len(w)-n-2 < size {
			break
		}
		n += 2 + size
	}
	f.got = append(f.got, w[:n]...)
	return n
}

func (f *frameSink) OnConnect(models.Session)                       {}
func (f *frameSink) OnSend(models.Session, int)                     {}
func (f *frameSink) OnDisconnect(models.Session, models.KickReason) {}

// TestRecvBufferLazy: a lazy RecvBuffer delivering a frame stream cut into arbitrary reads
// holds pool memory exactly while a partial frame is pending, and the stream arrives whole.
func TestRecvBufferLazy(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	stream := frames(400, 300, r)
	for _, tc := range []struct {
		name string
		cut  func(i int) int // length of read i
	}{
		{"byte_by_byte", func(int) int { return 1 }},
		{"random_cuts", func(int) int { return 1 + r.IntN(700) }},
		{"whole_frames_and_more", func(int) int { return 4096 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pool := newRecvPool(t, 1024)
			var rb models.RecvBuffer
			rb.InitLazy(pool)
			if rb.Resident() || rb.Cap() != 1024 || !rb.Lazy() || rb.Full() {
				t.Fatalf("fresh lazy buffer: Resident=%v Cap=%d Lazy=%v Full=%v, want false 1024 true false", rb.Resident(), rb.Cap(), rb.Lazy(), rb.Full())
			}
			sink := &frameSink{}
			for i, rest := 0, stream; len(rest) > 0; i++ {
				n := min(len(rest), tc.cut(i))
				if k := rb.DeliverFrom(sink, nil, rest[:n]); k != models.KickNone {
					t.Fatalf("DeliverFrom: %v", k)
				}
				rest = rest[n:]
				if rb.Resident() != (rb.Len() > 0) {
					t.Fatalf("after read %d: Resident=%v with %d bytes pending", i, rb.Resident(), rb.Len())
				}
				if pool.InUse() != rb.Len()/max(rb.Len(), 1) {
					t.Fatalf("after read %d: pool InUse=%d with %d bytes pending", i, pool.InUse(), rb.Len())
				}
			}
			if !bytes.Equal(sink.got, stream) {
				t.Fatalf("delivered %d bytes, want %d (equal prefix %d)", len(sink.got), len(stream), commonLen(sink.got, stream))
			}
			if sink.maxWin > rb.Cap() {
				t.Errorf("largest window %d > Cap %d", sink.maxWin, rb.Cap())
			}
			if rb.Resident() || pool.InUse() != 0 {
				t.Errorf("after the stream: Resident=%v InUse=%d, want false 0", rb.Resident(), pool.InUse())
			}
		})
	}
}

// TestRecvBufferLazyReset: a session that ends mid-frame (Reset) gives the memory back, and
// the overflow rule is the plain buffer's.
func TestRecvBufferLazyReset(t *testing.T) {
	pool := newRecvPool(t, 64)
	var rb models.RecvBuffer
	rb.InitLazy(pool)
	sink := &frameSink{}
	rb.DeliverFrom(sink, nil, []byte{0, 10, 1, 2}) // half a frame
	if !rb.Resident() || pool.InUse() != 1 || rb.Len() != 4 {
		t.Fatalf("partial frame: Resident=%v InUse=%d Len=%d, want true 1 4", rb.Resident(), pool.InUse(), rb.Len())
	}
	rb.Reset()
	if rb.Resident() || pool.InUse() != 0 {
		t.Fatalf("after Reset: Resident=%v InUse=%d, want false 0", rb.Resident(), pool.InUse())
	}
	rb.Reset() // twice is harmless
	if pool.InUse() != 0 {
		t.Fatalf("second Reset: InUse=%d", pool.InUse())
	}
	// A frame larger than the buffer: over full, as with a plain buffer.
	big := append([]byte{0, 200}, make([]byte, 100)...)
	if k := rb.DeliverFrom(sink, nil, big); k != models.KickRecvBufferOverFull {
		t.Errorf("oversize frame: %v, want %v", k, models.KickRecvBufferOverFull)
	}
	rb.Reset()
	// Free then an empty Commit (a read that found nothing) holds nothing.
	rb.Free()
	rb.Commit(0)
	if rb.Resident() || pool.InUse() != 0 {
		t.Errorf("Free + Commit(0): Resident=%v InUse=%d", rb.Resident(), pool.InUse())
	}
	// Init over a lazy buffer holding memory returns it.
	rb.DeliverFrom(sink, nil, []byte{0, 10, 1})
	rb.Init(make([]byte, 16))
	if pool.InUse() != 0 || rb.Lazy() || rb.Cap() != 16 || !rb.Resident() {
		t.Errorf("Init over lazy: InUse=%d Lazy=%v Cap=%d Resident=%v", pool.InUse(), rb.Lazy(), rb.Cap(), rb.Resident())
	}
	if _, err := models.NewRecvPool(0); !errors.Is(err, models.ErrBadConfig) {
		t.Errorf("NewRecvPool(0) = %v, want ErrBadConfig", err)
	}
}

func commonLen(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// BenchmarkReceive compares the receive paths over one stream of 64 B frames cut into reads
// of a given size, each read standing for the kernel's copy: into the RecvBuffer then Deliver
// (mode=resident, what epoll did), into a scratch buffer then DeliverFrom over a plain buffer
// (mode=in_place, the io_uring provided-buffer path before lazy buffers) or over a lazy one
// (mode=lazy, epoll and uring now). Cuts that are not a multiple of the frame leave a
// partial frame at the end of most reads: the lazy path's worst case (a pool Get and Put
// per read).
func BenchmarkReceive(b *testing.B) {
	const frameSize = 64
	var stream []byte
	for i := range 1024 {
		stream = binary.BigEndian.AppendUint16(stream, frameSize-2)
		stream = append(stream, bytes.Repeat([]byte{byte(i)}, frameSize-2)...)
	}
	consume := recvFunc(func(_ models.Session, w []byte) int { return len(w) / frameSize * frameSize })
	for _, read := range []int{64, 1000, 16 << 10} {
		for _, mode := range []string{"resident", "in_place", "lazy"} {
			b.Run(fmt.Sprintf("mode=%s/read=%d", mode, read), func(b *testing.B) {
				var rb models.RecvBuffer
				if mode == "lazy" {
					rb.InitLazy(newRecvPool(b, 64<<10))
				} else {
					rb.Init(make([]byte, 64<<10))
				}
				scratch := make([]byte, read)
				b.SetBytes(int64(len(stream)))
				for b.Loop() {
					for rest := stream; len(rest) > 0; {
						n := min(read, len(rest))
						if mode == "resident" {
							copy(rb.Free(), rest[:n]) // the kernel's copy of read(2)
							rb.Commit(n)
							rb.Deliver(consume, nil)
						} else {
							copy(scratch, rest[:n]) // the kernel's copy into a loop or provided buffer
							rb.DeliverFrom(consume, nil, scratch[:n])
						}
						rest = rest[n:]
					}
				}
			})
		}
	}
}
