package rio

import (
	"errors"
	"fmt"
	"math"
	"sync"
)

// The registered region of one loop.
//
// RIO's point is that buffer memory is registered (locked and mapped by the kernel) once, up
// front, instead of being probed and locked on every WSASend/WSARecv. Each loop owns one
// region; a pooled session gets a fixed slice of it the first time its slot is used and keeps
// it for the life of the service, so the steady state registers nothing:
//
//	segment (one VirtualAlloc + one RIORegisterBuffer, never re-registered)
//	├── slot 0: recv [RecvBufferSize] | send part 0 | send part 1 | ... | send part P-1
//	├── slot 1: ...
//
// The region grows by whole segments (each registered once) rather than committing and locking
// PoolSize × slot bytes at engine start: 4096 pooled sessions × 128 KiB would lock 512 MiB
// that a small test never touches. The receive slice backs the session's models.RecvBuffer;
// the send parts receive the SendQueue copies that RIOSend transmits (see sendRing).

// allocGranularity is the VirtualAlloc allocation granularity on every Windows release
// (dwAllocationGranularity, 64 KiB); segments are multiples of it.
const allocGranularity = 64 << 10

// slotAlign keeps every slot, and so every RIO_BUF offset, on a cache line.
const slotAlign = 64

// maxRegisterBytes bounds one segment: RIORegisterBuffer takes a DWORD length and RIO_BUF a
// ULONG offset.
const maxRegisterBytes = min(1<<32-allocGranularity, math.MaxInt)

var (
	errRegionTooSmall = errors.New("region segment too small for one session slice")
	errRegionFull     = errors.New("registered region exhausted")
)

// layout is the slicing of a region into session slots.
type layout struct {
	recvSize int // bytes of receive buffer per session
	partSize int // bytes of one send part (one RIOSend)
	parts    int // send parts per session
	slotSize int // recvSize + parts*partSize, rounded up to slotAlign
	perSeg   int // slots per segment
	segSize  int // bytes per segment (multiple of allocGranularity)
}

// newLayout slices segments of segBytes (rounded up to the allocation granularity) into
// session slots. It fails when a segment cannot hold one slot.
func newLayout(recvSize, partSize, parts, segBytes int) (layout, error) {
	if recvSize <= 0 || partSize <= 0 || parts <= 0 || segBytes <= 0 {
		return layout{}, fmt.Errorf("rio: bad region layout recv=%d part=%d parts=%d segment=%d",
			recvSize, partSize, parts, segBytes)
	}
	l := layout{recvSize: recvSize, partSize: partSize, parts: parts}
	l.slotSize = roundUp(recvSize+parts*partSize, slotAlign)
	l.segSize = roundUp(segBytes, allocGranularity)
	if l.segSize > maxRegisterBytes {
		return layout{}, fmt.Errorf("rio: segment of %d bytes exceeds the %d bytes one RIORegisterBuffer can take",
			l.segSize, maxRegisterBytes)
	}
	l.perSeg = l.segSize / l.slotSize
	if l.perSeg == 0 {
		return layout{}, fmt.Errorf("rio: %w: %d bytes < session slice of %d bytes (recv %d + %d×%d send)",
			errRegionTooSmall, l.segSize, l.slotSize, recvSize, parts, partSize)
	}
	return l, nil
}

func roundUp(n, to int) int { return (n + to - 1) / to * to }

// segAllocator provides registered memory: on Windows VirtualAlloc + RIORegisterBuffer (and
// VirtualFree + RIODeregisterBuffer to release), in tests plain slices.
type segAllocator interface {
	alloc(size int) (mem []byte, bufferID uintptr, err error)
	free(mem []byte, bufferID uintptr)
}

type segment struct {
	mem []byte
	id  uintptr // RIO_BUFFERID of the whole segment
}

// slice is one session's part of the region.
type slice struct {
	id      uintptr // RIO_BUFFERID of the segment holding it
	off     uint32  // offset of the slot within the segment
	recv    []byte  // len recvSize
	send    []byte  // len parts*partSize
	seg     int
	slotIdx int
}

// recvBuf describes free (a suffix of s.recv, as models.RecvBuffer.Free returns) as a RIO_BUF.
func (s *slice) recvBuf(free []byte) rioBuf {
	start := len(s.recv) - len(free)
	if len(free) == 0 || start < 0 || &free[0] != &s.recv[start] {
		panic("rio: receive window is not a suffix of the session's registered slice")
	}
	return rioBuf{BufferID: s.id, Offset: s.off + uint32(start), Length: uint32(len(free))}
}

// part is the memory of send part i.
func (s *slice) part(l *layout, i int) []byte {
	return s.send[i*l.partSize : (i+1)*l.partSize]
}

// sendBuf describes the first n bytes of send part i as a RIO_BUF.
func (s *slice) sendBuf(l *layout, i, n int) rioBuf {
	if i < 0 || i >= l.parts || n <= 0 || n > l.partSize {
		panic("rio: send part out of range")
	}
	return rioBuf{BufferID: s.id, Offset: s.off + uint32(l.recvSize+i*l.partSize), Length: uint32(n)}
}

// region is one loop's registered memory. It is safe for concurrent use.
type region struct {
	lay     layout
	a       segAllocator
	maxSegs int

	mu   sync.Mutex
	segs []segment
	next int     // slots handed out of the last segment
	free []slice // slices returned by retired sessions, reused first
	out  int     // slices handed out and not returned
}

// newRegion builds an empty region of at most maxBytes (rounded down to whole segments, at
// least one).
func newRegion(l layout, a segAllocator, maxBytes int) *region {
	return &region{lay: l, a: a, maxSegs: max(1, maxBytes/l.segSize)}
}

// get hands out a session slice, registering a new segment when the current ones are used up.
func (r *region) get() (slice, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.free); n > 0 {
		s := r.free[n-1]
		r.free = r.free[:n-1]
		r.out++
		return s, nil
	}
	if len(r.segs) == 0 || r.next == r.lay.perSeg {
		if len(r.segs) == r.maxSegs {
			return slice{}, fmt.Errorf("rio: %w: %d segments of %d bytes (%d sessions) in use",
				errRegionFull, len(r.segs), r.lay.segSize, r.out)
		}
		mem, id, err := r.a.alloc(r.lay.segSize)
		if err != nil {
			return slice{}, err
		}
		if len(mem) != r.lay.segSize || id == rioInvalidBufferID {
			r.a.free(mem, id)
			return slice{}, fmt.Errorf("rio: segment allocator returned %d bytes, buffer id %#x", len(mem), id)
		}
		r.segs = append(r.segs, segment{mem: mem, id: id})
		r.next = 0
	}
	seg := len(r.segs) - 1
	i := r.next
	r.next++
	off := i * r.lay.slotSize
	mem := r.segs[seg].mem[off : off+r.lay.slotSize : off+r.lay.slotSize]
	r.out++
	return slice{
		id:      r.segs[seg].id,
		off:     uint32(off),
		recv:    mem[:r.lay.recvSize:r.lay.recvSize],
		send:    mem[r.lay.recvSize : r.lay.recvSize+r.lay.parts*r.lay.partSize],
		seg:     seg,
		slotIdx: i,
	}, nil
}

// put returns a slice for reuse.
func (r *region) put(s slice) {
	r.mu.Lock()
	r.free = append(r.free, s)
	r.out--
	r.mu.Unlock()
}

// outstanding is the number of slices handed out and not returned.
func (r *region) outstanding() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.out
}

// segments is the number of registered segments.
func (r *region) segments() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.segs)
}

// close deregisters and frees every segment. Every slice must have been returned: freeing
// memory the kernel may still write into would corrupt whatever reuses it.
func (r *region) close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out != 0 {
		return fmt.Errorf("rio: closing a region with %d session slices still in use", r.out)
	}
	for _, s := range r.segs {
		r.a.free(s.mem, s.id)
	}
	r.segs, r.free, r.next = nil, nil, 0
	return nil
}
