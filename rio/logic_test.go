package rio

import (
	"errors"
	"fmt"
	"testing"
	"unsafe"
)

func TestSDKValues(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"RIO_MSG_DONT_NOTIFY", rioMsgDontNotify, 1},
		{"RIO_MSG_DEFER", rioMsgDefer, 2},
		{"RIO_MSG_WAITALL", rioMsgWaitAll, 4},
		{"RIO_MSG_COMMIT_ONLY", rioMsgCommitOnly, 8},
		{"RIO_INVALID_BUFFERID zero-extended", uint64(rioInvalidBufferID), 0x00000000FFFFFFFF},
		{"RIO_CORRUPT_CQ", uint64(rioCorruptCQ), 0xFFFFFFFF},
		{"RIO_MAX_CQ_SIZE", uint64(rioMaxCQSize), 0x8000000},
		{"RIO_IOCP_COMPLETION", uint64(rioIOCPCompletion), 2},
		{"RIO_EVENT_COMPLETION", uint64(rioEventCompletion), 1},
		{"SIO_GET_MULTIPLE_EXTENSION_FUNCTION_POINTER", uint64(sioGetMultipleExtensionFunctionPointer), 0xC8000024},
		{"WSAID_MULTIPLE_RIO.Data1", uint64(wsaidMultipleRIO.Data1), 0x8509e081},
		{"WSAID_MULTIPLE_RIO.Data4[7]", uint64(wsaidMultipleRIO.Data4[7]), 0x3f},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("%s = %#x, want %#x", c.name, c.got, c.want)
			}
		})
	}
}

// TestSDKLayouts checks the structs against the SDK's sizes and offsets for the pointer size
// being built (x64/arm64: 8, x86: 4).
func TestSDKLayouts(t *testing.T) {
	p := unsafe.Sizeof(uintptr(0))
	var nc rioNotificationCompletion
	var ft rioExtensionFunctionTable
	var rb rioBuf
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"sizeof(RIO_BUF)", unsafe.Sizeof(rb), p + 8},
		{"offsetof(RIO_BUF.Offset)", unsafe.Offsetof(rb.Offset), p},
		{"sizeof(RIORESULT)", unsafe.Sizeof(rioResult{}), 24},
		{"sizeof(RIO_NOTIFICATION_COMPLETION)", unsafe.Sizeof(nc), p + 3*p},
		{"offsetof(Iocp.IocpHandle)", unsafe.Offsetof(nc.IocpHandle), p},
		{"offsetof(Iocp.Overlapped)", unsafe.Offsetof(nc.Overlapped), 3 * p},
		{"sizeof(RIO_EXTENSION_FUNCTION_TABLE)", unsafe.Sizeof(ft), p + 13*p},
		{"offsetof(RIOReceive)", unsafe.Offsetof(ft.RIOReceive), p},
		{"offsetof(RIOResizeRequestQueue)", unsafe.Offsetof(ft.RIOResizeRequestQueue), 13 * p},
		{"sizeof(GUID)", unsafe.Sizeof(guid{}), 16},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.got != c.want {
				t.Fatalf("%s = %d, want %d", c.name, c.got, c.want)
			}
		})
	}
}

func TestWSAError(t *testing.T) {
	for _, c := range []struct {
		code uint32
		want string
	}{
		{10045, "WSAEOPNOTSUPP (10045)"},
		{10055, "WSAENOBUFS (10055)"},
		{10059, "WSAETOOMANYREFS (10059)"},
		{12345, "error (12345)"},
	} {
		t.Run(c.want, func(t *testing.T) {
			if got := wsaError(c.code); got != c.want {
				t.Fatalf("wsaError(%d) = %q, want %q", c.code, got, c.want)
			}
		})
	}
}

// heapSegs hands out Go slices as "registered" segments with fake buffer ids.
type heapSegs struct {
	next  uintptr
	live  map[uintptr]int
	fail  error
	badID bool
}

func (h *heapSegs) alloc(size int) ([]byte, uintptr, error) {
	if h.fail != nil {
		return nil, 0, h.fail
	}
	if h.live == nil {
		h.live = map[uintptr]int{}
	}
	h.next++
	if h.badID {
		return make([]byte, size), rioInvalidBufferID, nil
	}
	h.live[h.next] = size
	return make([]byte, size), h.next, nil
}

func (h *heapSegs) free(mem []byte, id uintptr) { delete(h.live, id) }

func TestLayout(t *testing.T) {
	for _, c := range []struct {
		name                           string
		recv, part, parts, seg         int
		wantErr                        error
		wantSlot, wantPerSeg, wantSegB int
	}{
		{name: "default", recv: 64 << 10, part: 16 << 10, parts: 4, seg: 4 << 20,
			wantSlot: 128 << 10, wantPerSeg: 32, wantSegB: 4 << 20},
		{name: "odd sizes align to cache lines", recv: 100, part: 30, parts: 2, seg: 1,
			wantSlot: 192, wantPerSeg: (64 << 10) / 192, wantSegB: 64 << 10},
		{name: "region too small for one session", recv: 64 << 10, part: 16 << 10, parts: 4, seg: 64 << 10,
			wantErr: errRegionTooSmall},
		{name: "zero parts rejected", recv: 64, part: 16, parts: 0, seg: 1 << 20, wantErr: errAny},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, err := newLayout(c.recv, c.part, c.parts, c.seg)
			if c.wantErr != nil {
				if err == nil || (c.wantErr != errAny && !errors.Is(err, c.wantErr)) {
					t.Fatalf("newLayout err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.slotSize != c.wantSlot || l.perSeg != c.wantPerSeg || l.segSize != c.wantSegB {
				t.Fatalf("layout %+v, want slot %d perSeg %d seg %d", l, c.wantSlot, c.wantPerSeg, c.wantSegB)
			}
		})
	}
}

var errAny = errors.New("any error")

func TestRegion(t *testing.T) {
	l, err := newLayout(1000, 500, 2, 64<<10) // slot 2048 (2000 rounded), 32 per segment
	if err != nil {
		t.Fatal(err)
	}
	t.Run("slices are disjoint and offsets match memory", func(t *testing.T) {
		h := &heapSegs{}
		r := newRegion(l, h, 2*l.segSize)
		seen := map[*byte]bool{}
		var got []slice
		for i := 0; i < 2*l.perSeg; i++ {
			s, err := r.get()
			if err != nil {
				t.Fatalf("get %d: %v", i, err)
			}
			if len(s.recv) != 1000 || len(s.send) != 1000 || cap(s.recv) != 1000 {
				t.Fatalf("slice %d: recv %d/%d send %d", i, len(s.recv), cap(s.recv), len(s.send))
			}
			if s.off%slotAlign != 0 {
				t.Fatalf("slice %d offset %d not aligned", i, s.off)
			}
			seg := r.segs[s.seg].mem
			if &seg[s.off] != &s.recv[0] || &seg[int(s.off)+l.recvSize] != &s.send[0] {
				t.Fatalf("slice %d: offset %d does not address its memory", i, s.off)
			}
			if seen[&s.recv[0]] {
				t.Fatalf("slice %d reuses memory", i)
			}
			seen[&s.recv[0]] = true
			got = append(got, s)
		}
		if r.segments() != 2 || len(h.live) != 2 {
			t.Fatalf("segments %d registered %d, want 2", r.segments(), len(h.live))
		}
		// Writing a whole slice must not touch its neighbour.
		for i := range got[0].send {
			got[0].send[i] = 0xAA
		}
		if got[1].recv[0] != 0 {
			t.Fatal("slice 0 overlaps slice 1")
		}
		if _, err := r.get(); !errors.Is(err, errRegionFull) {
			t.Fatalf("get beyond max segments: err = %v, want errRegionFull", err)
		}
		if err := r.close(); err == nil {
			t.Fatal("close with slices out succeeded")
		}
		r.put(got[5])
		s, err := r.get()
		if err != nil || s.off != got[5].off || s.seg != got[5].seg {
			t.Fatalf("returned slice not reused: %+v, %v", s, err)
		}
		r.put(s)
		for i, s := range got {
			if i != 5 {
				r.put(s)
			}
		}
		if err := r.close(); err != nil {
			t.Fatal(err)
		}
		if len(h.live) != 0 {
			t.Fatalf("%d segments still registered after close", len(h.live))
		}
	})
	t.Run("allocator failure is returned", func(t *testing.T) {
		boom := errors.New("RIORegisterBuffer: WSAENOBUFS")
		r := newRegion(l, &heapSegs{fail: boom}, l.segSize)
		if _, err := r.get(); !errors.Is(err, boom) {
			t.Fatalf("err = %v, want %v", err, boom)
		}
	})
	t.Run("invalid buffer id is rejected", func(t *testing.T) {
		r := newRegion(l, &heapSegs{badID: true}, l.segSize)
		if _, err := r.get(); err == nil {
			t.Fatal("RIO_INVALID_BUFFERID accepted")
		}
	})
	t.Run("RIO_BUF descriptors", func(t *testing.T) {
		r := newRegion(l, &heapSegs{}, l.segSize)
		r.get()
		s, _ := r.get() // second slot: offset 1024
		if got := s.recvBuf(s.recv[100:]); got != (rioBuf{BufferID: s.id, Offset: s.off + 100, Length: 900}) {
			t.Fatalf("recvBuf = %+v", got)
		}
		if got := s.sendBuf(&l, 1, 7); got != (rioBuf{BufferID: s.id, Offset: s.off + 1000 + 500, Length: 7}) {
			t.Fatalf("sendBuf = %+v", got)
		}
		if &s.part(&l, 1)[0] != &s.send[500] {
			t.Fatal("part 1 does not start at send[500]")
		}
		mustPanic(t, "foreign receive window", func() { s.recvBuf(make([]byte, 10)) })
		mustPanic(t, "send part too long", func() { s.sendBuf(&l, 0, 501) })
		mustPanic(t, "send part index", func() { s.sendBuf(&l, 2, 1) })
	})
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Fatalf("%s: no panic", what)
		}
	}()
	f()
}

func TestCQBudget(t *testing.T) {
	type step struct {
		op         string // "reserve", "release"
		n          uint32
		wantResize uint32
		wantErr    error
	}
	for _, c := range []struct {
		name    string
		initial uint32
		maxCap  uint32
		steps   []step
		wantCap uint32
		wantChg uint32
	}{
		{name: "fits without resize", initial: 8, maxCap: rioMaxCQSize,
			steps: []step{{"reserve", 3, 0, nil}, {"reserve", 3, 0, nil}}, wantCap: 8, wantChg: 6},
		{name: "exactly full is no resize", initial: 6, maxCap: rioMaxCQSize,
			steps: []step{{"reserve", 3, 0, nil}, {"reserve", 3, 0, nil}}, wantCap: 6, wantChg: 6},
		{name: "one past full doubles", initial: 6, maxCap: rioMaxCQSize,
			steps: []step{{"reserve", 3, 0, nil}, {"reserve", 3, 0, nil}, {"reserve", 3, 12, nil}}, wantCap: 12, wantChg: 9},
		{name: "large request doubles repeatedly", initial: 4, maxCap: rioMaxCQSize,
			steps: []step{{"reserve", 33, 64, nil}}, wantCap: 64, wantChg: 33},
		{name: "growth capped at max", initial: 40, maxCap: 50,
			steps: []step{{"reserve", 45, 50, nil}}, wantCap: 50, wantChg: 45},
		{name: "beyond max fails and charges nothing", initial: 40, maxCap: 50,
			steps: []step{{"reserve", 30, 0, nil}, {"reserve", 30, 0, errCQTooLarge}}, wantCap: 40, wantChg: 30},
		{name: "release makes room", initial: 6, maxCap: rioMaxCQSize,
			steps: []step{{"reserve", 3, 0, nil}, {"reserve", 3, 0, nil}, {"release", 3, 0, nil}, {"reserve", 3, 0, nil}}, wantCap: 6, wantChg: 6},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newCQBudget(c.initial)
			b.maxCap = c.maxCap
			for i, s := range c.steps {
				if s.op == "release" {
					b.release(s.n)
					continue
				}
				resize, err := b.reserve(s.n)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("step %d: err = %v, want %v", i, err, s.wantErr)
					}
					continue
				}
				if err != nil || resize != s.wantResize {
					t.Fatalf("step %d: resize = %d, %v; want %d", i, resize, err, s.wantResize)
				}
				if resize != 0 {
					b.grown(resize, s.n)
				}
			}
			if b.capacity != c.wantCap || b.charged != c.wantChg {
				t.Fatalf("capacity %d charged %d, want %d %d", b.capacity, b.charged, c.wantCap, c.wantChg)
			}
		})
	}
	t.Run("over-release panics", func(t *testing.T) {
		b := newCQBudget(4)
		mustPanic(t, "release", func() { b.release(1) })
	})
}

func TestCheckDequeue(t *testing.T) {
	for _, c := range []struct {
		name    string
		n       uint32
		want    int
		wantErr error
	}{
		{"empty", 0, 0, nil},
		{"some", 5, 5, nil},
		{"full array", 8, 8, nil},
		{"RIO_CORRUPT_CQ is fatal", rioCorruptCQ, 0, errCorruptCQ},
		{"more than the array", 9, 0, errAny},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := checkDequeue(c.n, 8)
			if c.wantErr != nil {
				if err == nil || (c.wantErr != errAny && !errors.Is(err, c.wantErr)) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("checkDequeue = %d, %v; want %d", got, err, c.want)
			}
		})
	}
}

func TestSendRing(t *testing.T) {
	t.Run("bad config", func(t *testing.T) {
		for _, c := range [][2]int{{0, 1}, {2, 0}, {2, 3}} {
			if _, err := newSendRing(c[0], c[1]); err == nil {
				t.Fatalf("newSendRing(%d, %d) accepted", c[0], c[1])
			}
		}
	})
	t.Run("RQ full goes to overflow queue, posted in fill order", func(t *testing.T) {
		r, err := newSendRing(4, 2)
		if err != nil {
			t.Fatal(err)
		}
		var filled []int
		var posts []bool
		for i := range 4 {
			p, ok := r.acquire()
			if !ok {
				t.Fatalf("acquire %d failed", i)
			}
			filled = append(filled, p)
			posts = append(posts, r.ready(p, 10+i))
		}
		if fmt.Sprint(posts) != "[true true false false]" {
			t.Fatalf("posts = %v, want first two posted, two in overflow", posts)
		}
		if r.outstanding() != 2 || r.waiting() != 2 {
			t.Fatalf("outstanding %d waiting %d", r.outstanding(), r.waiting())
		}
		if _, ok := r.acquire(); ok {
			t.Fatal("acquire succeeded with every part in use")
		}
		sent, next, nlen, post := r.complete(filled[0])
		if sent != 10 || !post || next != filled[2] || nlen != 12 {
			t.Fatalf("complete = %d, %d, %d, %v; want 10, part %d (12 bytes), post", sent, next, nlen, post, filled[2])
		}
		// A part filled now must queue behind the overflow, not jump it.
		p, ok := r.acquire()
		if !ok || p != filled[0] {
			t.Fatalf("freed part not reusable: %d %v", p, ok)
		}
		if r.ready(p, 99) {
			t.Fatal("ready posted ahead of the overflow queue")
		}
		_, next, _, post = r.complete(filled[1])
		if !post || next != filled[3] {
			t.Fatalf("second completion posts %d %v, want %d", next, post, filled[3])
		}
		_, next, nlen, post = r.complete(filled[2])
		if !post || next != p || nlen != 99 {
			t.Fatalf("third completion posts %d (%d bytes) %v, want %d (99)", next, nlen, post, p)
		}
		r.complete(filled[3])
		r.complete(p)
		if !r.idle() {
			t.Fatal("ring not idle after every completion")
		}
		mustPanic(t, "complete of a free part", func() { r.complete(p) })
	})
	t.Run("refused post returns to the front", func(t *testing.T) {
		r, _ := newSendRing(3, 1)
		a, _ := r.acquire()
		r.ready(a, 5)
		b, _ := r.acquire()
		r.ready(b, 6)
		r.failed(a)
		if r.outstanding() != 0 || r.waiting() != 2 || r.overflow[0] != a {
			t.Fatalf("after failed: outstanding %d overflow %v", r.outstanding(), r.overflow)
		}
	})
	t.Run("kick drops the overflow queue", func(t *testing.T) {
		r, _ := newSendRing(3, 1)
		for range 3 {
			p, _ := r.acquire()
			r.ready(p, 1)
		}
		if n := r.dropOverflow(); n != 2 {
			t.Fatalf("dropped %d, want 2", n)
		}
		if r.idle() || r.outstanding() != 1 {
			t.Fatal("the posted send must stay outstanding")
		}
		if _, ok := r.acquire(); !ok {
			t.Fatal("dropped parts not freed")
		}
	})
}

func TestBatch(t *testing.T) {
	for _, c := range []struct {
		name        string
		open        bool
		deferred    []int // the RQ's deferred count before each request
		wantFlags   []uint32
		wantPending int
	}{
		{name: "outside a batch requests go at once", open: false,
			deferred: []int{0, 0}, wantFlags: []uint32{0, 0}, wantPending: 0},
		{name: "inside a batch requests are deferred, RQ listed once", open: true,
			deferred: []int{0, 1, 2}, wantFlags: []uint32{rioMsgDefer, rioMsgDefer, rioMsgDefer}, wantPending: 1},
		{name: "deferLimit forces a committing request", open: true,
			deferred: []int{deferLimit - 2, deferLimit - 1}, wantFlags: []uint32{rioMsgDefer, 0}, wantPending: 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := newBatch(deferLimit)
			if c.open {
				b.begin()
			}
			for i, d := range c.deferred {
				if got := b.decide(42, d); got != c.wantFlags[i] {
					t.Fatalf("request %d (deferred %d): flags %#x, want %#x", i, d, got, c.wantFlags[i])
				}
			}
			keys := b.end(nil)
			if len(keys) != c.wantPending {
				t.Fatalf("commits %v, want %d", keys, c.wantPending)
			}
			if b.decide(42, 0) != 0 {
				t.Fatal("request after end was deferred")
			}
			if len(b.end(nil)) != 0 {
				t.Fatal("pending list not cleared by end")
			}
		})
	}
	t.Run("two RQs both committed", func(t *testing.T) {
		b := newBatch(deferLimit)
		b.begin()
		b.decide(1, 0)
		b.decide(2, 0)
		b.decide(1, 1)
		if got := fmt.Sprint(b.end(nil)); got != "[1 2]" {
			t.Fatalf("commits %s, want [1 2]", got)
		}
	})
	if commitFlags != 8 {
		t.Fatalf("commit flags %#x, want RIO_MSG_COMMIT_ONLY alone", commitFlags)
	}
}
