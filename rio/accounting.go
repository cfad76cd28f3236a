package rio

import (
	"errors"
	"fmt"
)

// Request accounting: what RIO leaves to the application.
//
// A request queue (RQ) is created with fixed maxima of outstanding receives and sends, and
// those maxima are charged against the capacity of its completion queue (CQ) at
// RIOCreateRequestQueue time: "If the queues do not have sufficient capacity, the
// RIOCreateRequestQueue call fails with WSAENOBUFS" (RIO_CQ remarks,
// https://learn.microsoft.com/windows/win32/winsock/riocqueue). A request beyond the RQ's
// maxima fails too. So the engine keeps its own books: cqBudget for the CQ, sendRing for
// each session's sends.

var (
	errCQTooLarge = errors.New("completion queue would exceed RIO_MAX_CQ_SIZE")
	// errCorruptCQ is what RIODequeueCompletion's RIO_CORRUPT_CQ means: the kernel found the
	// CQ's state inconsistent. Nothing dequeued from it can be trusted any more.
	errCorruptCQ = errors.New("RIODequeueCompletion returned RIO_CORRUPT_CQ: the completion queue is corrupted")
)

// cqBudget tracks one CQ's capacity against the entries charged by its request queues.
// It is not safe for concurrent use: the loop serializes it with the CQ itself.
type cqBudget struct {
	capacity uint32 // entries the CQ was created or resized with
	charged  uint32 // sum of (MaxOutstandingReceive + MaxOutstandingSend) of live RQs
	maxCap   uint32 // rioMaxCQSize, lower in tests
}

func newCQBudget(initial uint32) cqBudget {
	return cqBudget{capacity: max(initial, 1), maxCap: rioMaxCQSize}
}

// reserve charges n entries for a new RQ. It returns the size the CQ must be resized to first
// (RIOResizeCompletionQueue) or 0 when the current capacity suffices. Growth doubles, so a
// service ramping up to N sessions resizes O(log N) times, and is capped at RIO_MAX_CQ_SIZE.
// Nothing is charged when it fails; call grown after a successful resize, then charge.
func (b *cqBudget) reserve(n uint32) (resizeTo uint32, err error) {
	need := uint64(b.charged) + uint64(n)
	if need <= uint64(b.capacity) {
		b.charged += n
		return 0, nil
	}
	if need > uint64(b.maxCap) {
		return 0, fmt.Errorf("rio: %w: %d entries charged + %d > %d", errCQTooLarge, b.charged, n, b.maxCap)
	}
	c := uint64(b.capacity)
	for c < need {
		c *= 2
	}
	return uint32(min(c, uint64(b.maxCap))), nil
}

// grown records a successful RIOResizeCompletionQueue to size and charges n.
func (b *cqBudget) grown(size, n uint32) {
	b.capacity = size
	b.charged += n
}

// release uncharges n entries when an RQ is gone (its socket closed and every request on it
// completed). The CQ is not shrunk: resizing smaller can fail with WSAETOOMANYREFS and a
// server that had N sessions will likely have them again.
func (b *cqBudget) release(n uint32) {
	if n > b.charged {
		panic("rio: completion queue budget released more than charged")
	}
	b.charged -= n
}

// checkDequeue interprets RIODequeueCompletion's return value.
func checkDequeue(n uint32, arraySize int) (int, error) {
	if n == rioCorruptCQ {
		return 0, errCorruptCQ
	}
	if int64(n) > int64(arraySize) {
		return 0, fmt.Errorf("rio: RIODequeueCompletion returned %d results for an array of %d", n, arraySize)
	}
	return int(n), nil
}

// sendRing is one session's send side: its registered send slice split into parts, each
// the buffer of one RIOSend, and the RQ's limit on outstanding sends.
//
// The writer copies queued bytes (SendQueue views) into a free part, then offers it with
// ready. While fewer than maxPosted sends are outstanding it is posted at once; otherwise it
// waits in the overflow queue (filled, not posted) and complete hands it out, in order, when
// an outstanding send finishes. TCP byte order is preserved because parts are posted in the
// order they were filled: ready never posts ahead of the overflow queue.
//
// Not safe for concurrent use: the session's lock serializes it with the RQ.
type sendRing struct {
	parts     int
	maxPosted int
	freeParts []int // parts available to fill (LIFO, hot in cache)
	fill      []int // bytes in each filled part
	overflow  []int // filled parts waiting for an RQ send slot, FIFO
	posted    int   // sends outstanding on the RQ
}

func newSendRing(parts, maxPosted int) (*sendRing, error) {
	if parts <= 0 || maxPosted <= 0 || maxPosted > parts {
		return nil, fmt.Errorf("rio: bad send ring: %d parts, %d outstanding sends", parts, maxPosted)
	}
	r := &sendRing{parts: parts, maxPosted: maxPosted, fill: make([]int, parts)}
	r.reset()
	return r, nil
}

// reset frees every part (a new connection on the pooled session).
func (r *sendRing) reset() {
	r.freeParts = r.freeParts[:0]
	for i := r.parts - 1; i >= 0; i-- {
		r.freeParts = append(r.freeParts, i)
	}
	clear(r.fill)
	r.overflow = r.overflow[:0]
	r.posted = 0
}

// acquire takes a free part to fill.
func (r *sendRing) acquire() (part int, ok bool) {
	n := len(r.freeParts)
	if n == 0 {
		return -1, false
	}
	part = r.freeParts[n-1]
	r.freeParts = r.freeParts[:n-1]
	return part, true
}

// unacquire gives back a part that was acquired and not filled.
func (r *sendRing) unacquire(part int) { r.freeParts = append(r.freeParts, part) }

// ready offers part, filled with n bytes. post is true when the caller must RIOSend it now
// (it is counted as outstanding); false when the RQ's send slots are full and the part was
// queued in the overflow queue.
func (r *sendRing) ready(part, n int) (post bool) {
	if n <= 0 || part < 0 || part >= r.parts {
		panic("rio: sendRing.ready out of range")
	}
	r.fill[part] = n
	if r.posted < r.maxPosted && len(r.overflow) == 0 {
		r.posted++
		return true
	}
	r.overflow = append(r.overflow, part)
	return false
}

// complete records that the send of part finished and frees it. It returns the bytes that
// part carried and, when the overflow queue is not empty, the next part to post (counted as
// outstanding) with its length.
func (r *sendRing) complete(part int) (sent int, next, nextLen int, post bool) {
	if r.posted == 0 || r.fill[part] == 0 {
		panic("rio: sendRing.complete of a part that is not outstanding")
	}
	sent = r.fill[part]
	r.fill[part] = 0
	r.posted--
	r.freeParts = append(r.freeParts, part)
	if len(r.overflow) > 0 {
		next = r.overflow[0]
		r.overflow = r.overflow[1:]
		r.posted++
		return sent, next, r.fill[next], true
	}
	return sent, -1, 0, false
}

// failed undoes a post that RIOSend refused: the part stays filled at the front of the
// overflow queue.
func (r *sendRing) failed(part int) {
	r.posted--
	r.overflow = append([]int{part}, r.overflow...)
}

// dropOverflow frees every part waiting in the overflow queue (the session was kicked: queued
// data is dropped) and returns how many there were.
func (r *sendRing) dropOverflow() int {
	n := len(r.overflow)
	for _, p := range r.overflow {
		r.fill[p] = 0
		r.freeParts = append(r.freeParts, p)
	}
	r.overflow = r.overflow[:0]
	return n
}

// idle reports that nothing is outstanding or waiting.
func (r *sendRing) idle() bool { return r.posted == 0 && len(r.overflow) == 0 }

// outstanding is the number of sends posted and not completed.
func (r *sendRing) outstanding() int { return r.posted }

// waiting is the number of filled parts in the overflow queue.
func (r *sendRing) waiting() int { return len(r.overflow) }
