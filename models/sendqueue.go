package models

import "sync"

// SendChunkSize is the size of the pooled chunks the SendQueue copies into (the seed's
// SendBufferChunkPool). Small sends are packed into the tail chunk, so a burst of small
// messages becomes few, full iovecs/WSABUFs.
const SendChunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, SendChunkSize); return &b }}

type chunk struct {
	buf  *[]byte
	r, w int // read (sent) and write offsets
}

// SendQueue is a session's bounded send path (the seed's SendBuffer → pending queue →
// reserve/concat → one WSASend with many WSABUFs). It is safe for concurrent use.
//
// Copy parity: Push makes exactly one copy, from the caller's slice into pooled chunks; every
// backend uses it, so none gets a cheaper or dearer send path.
//
// Protocol for a backend:
//
//	start, err := q.Push(p)         // any goroutine; start==true: no write in flight, begin one
//	bufs := q.Peek(iov[:0], max)     // the writer: views of queued bytes, front first
//	n := writev(bufs)                // one gather write
//	more := q.Advance(n)             // drop n written bytes; more==false: queue empty, writer done
//
// Exactly one writer owns the queue between a Push that returned start==true and the
// Advance that returned false. Views from Peek are valid until the next Advance.
type SendQueue struct {
	mu       sync.Mutex
	chunks   []chunk
	head     int // first live chunk in chunks
	queued   int // bytes queued, not yet written
	limit    int
	inflight bool
	closed   bool
}

// NewSendQueue builds a queue bounded to limit bytes.
func NewSendQueue(limit int) (*SendQueue, error) {
	q := &SendQueue{}
	if err := q.Reset(limit); err != nil {
		return nil, err
	}
	return q, nil
}

// Reset empties the queue (returning its chunks to the pool) and reopens it with limit; a
// backend calls it when a pooled session is reused.
func (q *SendQueue) Reset(limit int) error {
	if limit <= 0 {
		return badConfig("SendQueue limit %d", limit)
	}
	q.mu.Lock()
	q.releaseLocked()
	q.limit = limit
	q.inflight = false
	q.closed = false
	q.mu.Unlock()
	return nil
}

func (q *SendQueue) releaseLocked() {
	for i := q.head; i < len(q.chunks); i++ {
		chunkPool.Put(q.chunks[i].buf)
		q.chunks[i] = chunk{}
	}
	q.chunks = q.chunks[:0]
	q.head = 0
	q.queued = 0
}

// Push copies p into the queue. start is true when no write is in flight and the caller must
// start one (it becomes the writer). It returns ErrSendQueueFull when p would take the queue
// past its bound (nothing is queued then) and ErrClosed after Close.
func (q *SendQueue) Push(p []byte) (start bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false, ErrClosed
	}
	if q.queued+len(p) > q.limit {
		return false, ErrSendQueueFull
	}
	if len(p) == 0 {
		return false, nil
	}
	q.queued += len(p)
	for len(p) > 0 {
		if len(q.chunks) == q.head || q.chunks[len(q.chunks)-1].w == SendChunkSize {
			if q.head > 0 && q.head == len(q.chunks) {
				q.chunks = q.chunks[:0]
				q.head = 0
			}
			q.chunks = append(q.chunks, chunk{buf: chunkPool.Get().(*[]byte)})
		}
		c := &q.chunks[len(q.chunks)-1]
		n := copy((*c.buf)[c.w:], p)
		c.w += n
		p = p[n:]
	}
	if q.inflight {
		return false, nil
	}
	q.inflight = true
	return true, nil
}

// Peek appends to dst views of at most max queued buffers, front first, and returns it.
func (q *SendQueue) Peek(dst [][]byte, max int) [][]byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := q.head; i < len(q.chunks) && len(dst) < max; i++ {
		c := q.chunks[i]
		dst = append(dst, (*c.buf)[c.r:c.w])
	}
	return dst
}

// Advance drops n written bytes. It returns false, and clears the in-flight mark, when the
// queue is empty: the writer's turn ends. It returns true when more is queued.
func (q *SendQueue) Advance(n int) (more bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.queued -= n
	for n > 0 && q.head < len(q.chunks) {
		c := &q.chunks[q.head]
		k := min(n, c.w-c.r)
		c.r += k
		n -= k
		if c.r == c.w { // fully written: the tail chunk too (a later Push starts a fresh one)
			chunkPool.Put(c.buf)
			*c = chunk{}
			q.head++
		}
	}
	if q.head == len(q.chunks) {
		q.chunks = q.chunks[:0]
		q.head = 0
	}
	if q.queued > 0 && !q.closed {
		return true
	}
	q.inflight = false
	return false
}

// Len is the number of bytes queued and not yet written.
func (q *SendQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued
}

// Idle reports whether the queue is empty with no write in flight.
func (q *SendQueue) Idle() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.queued == 0 && !q.inflight
}

// Close refuses further Pushes and drops what is queued. A writer in flight still calls
// Advance, which then returns false.
func (q *SendQueue) Close() {
	q.mu.Lock()
	q.closed = true
	if !q.inflight {
		q.releaseLocked()
	}
	q.mu.Unlock()
}

// Release drops what is queued and returns the chunks to the pool; call it once no writer can
// touch the queue any more (the session is being returned to the pool).
func (q *SendQueue) Release() {
	q.mu.Lock()
	q.releaseLocked()
	q.inflight = false
	q.closed = true
	q.mu.Unlock()
}
