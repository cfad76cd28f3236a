package models

// RecvBuffer is a session's fixed receive buffer with start/end offsets (the seed's
// mRecvBuf / mRecvBufStart / mRecvBufEnd). The unread bytes are always contiguous, so OnRecv
// sees one window; compaction moves the unread tail to the front only when the free space at
// the end runs short, which keeps copies rare.
//
// The memory may come from the Go heap or from a kernel-registered region (RIO, io_uring
// registered buffers): Init takes any slice. A lazy buffer (InitLazy) holds memory only while
// unread bytes are pending: it takes a buffer from its RecvPool when bytes must be kept and
// gives it back as soon as the window is empty again, so an idle session holds none (see
// DeliverFrom and the package doc, "Idle sessions hold no buffers").
type RecvBuffer struct {
	buf        []byte
	start, end int
	size       int       // the capacity: len(buf), or the pool's buffer size when lazy
	pool       *RecvPool // non-nil: lazy; buf (held) is taken from pool while bytes are pending
	held       *[]byte   // the pooled buffer buf is, while a lazy buffer holds one
}

// NewRecvBuffer allocates a buffer of size bytes.
func NewRecvBuffer(size int) (*RecvBuffer, error) {
	if size <= 0 {
		return nil, badConfig("RecvBuffer size %d", size)
	}
	rb := &RecvBuffer{}
	rb.Init(make([]byte, size))
	return rb, nil
}

// Init makes rb use mem (its length is the capacity) and empties it.
func (rb *RecvBuffer) Init(mem []byte) {
	rb.Reset()
	rb.buf, rb.size, rb.pool, rb.start, rb.end = mem, len(mem), nil, 0, 0
}

// InitLazy makes rb a lazy buffer of p.Size() bytes, empty and holding no memory: it takes a
// buffer from p only when bytes must be kept (a partial frame, see DeliverFrom; or Free) and
// returns it when the window is empty again (Consume, Reset). A backend that reads into
// memory of its own (a provided buffer, a loop's scratch buffer) and delivers with
// DeliverFrom uses it, so an idle session holds no receive memory.
func (rb *RecvBuffer) InitLazy(p *RecvPool) {
	rb.Reset()
	rb.buf, rb.size, rb.pool, rb.start, rb.end = nil, p.Size(), p, 0, 0
}

// Reset empties the buffer for a reused session (a lazy buffer gives its memory back).
func (rb *RecvBuffer) Reset() {
	rb.start, rb.end = 0, 0
	if rb.held != nil {
		rb.pool.put(rb.held)
		rb.buf, rb.held = nil, nil
	}
}

// Resident reports whether rb holds memory now: always once a plain buffer is initialised,
// and for a lazy one only while unread bytes are pending.
func (rb *RecvBuffer) Resident() bool { return rb.buf != nil }

// Lazy reports whether rb was made lazy by InitLazy.
func (rb *RecvBuffer) Lazy() bool { return rb.pool != nil }

// Cap is the buffer size: the largest frame the app can see whole.
func (rb *RecvBuffer) Cap() int { return rb.size }

// Len is the number of unread bytes.
func (rb *RecvBuffer) Len() int { return rb.end - rb.start }

// Window is the contiguous unread bytes.
func (rb *RecvBuffer) Window() []byte { return rb.buf[rb.start:rb.end] }

// Free returns the writable space after the unread bytes, compacting first when less than
// half of the buffer is free at the end. It is empty only when the buffer is full of unread
// bytes: that is an overflow (see Full).
func (rb *RecvBuffer) Free() []byte {
	if rb.start == rb.end {
		rb.start, rb.end = 0, 0
		if rb.buf == nil && rb.pool != nil {
			rb.held = rb.pool.get()
			rb.buf = *rb.held
		}
	} else if rb.start > 0 && len(rb.buf)-rb.end < len(rb.buf)/2 {
		rb.end = copy(rb.buf, rb.buf[rb.start:rb.end])
		rb.start = 0
	}
	return rb.buf[rb.end:]
}

// Commit records that n bytes were written into the slice returned by Free. Committing
// nothing to an empty lazy buffer gives back the memory Free took.
func (rb *RecvBuffer) Commit(n int) {
	if n < 0 || rb.end+n > len(rb.buf) {
		panic("models.RecvBuffer: commit out of range")
	}
	rb.end += n
	if rb.end == rb.start {
		rb.Reset()
	}
}

// Consume drops n bytes from the front of the window.
func (rb *RecvBuffer) Consume(n int) {
	if n < 0 || n > rb.end-rb.start {
		panic("models.RecvBuffer: consume out of range")
	}
	rb.start += n
	if rb.start == rb.end {
		rb.Reset()
	}
}

// Full reports that the unread bytes fill the whole buffer: the app is waiting for a frame
// larger than the buffer, so the session must be kicked with KickRecvBufferOverFull.
func (rb *RecvBuffer) Full() bool { return rb.end-rb.start == rb.size }

// Deliver hands the window to h.OnRecv and applies its answer. It returns KickNone, or the
// reason the session must be kicked: KickPacketError for an invalid consumed count,
// KickRecvBufferOverFull when the buffer is full and the app consumed nothing. Every backend
// calls it after committing received bytes, so the overflow rule is identical everywhere.
func (rb *RecvBuffer) Deliver(h Handler, s Session) KickReason {
	w := rb.Window()
	if len(w) == 0 {
		return KickNone
	}
	n := h.OnRecv(s, w)
	if k := Consumed(n, len(w), rb.Cap()); k != KickNone {
		return k
	}
	rb.Consume(n)
	return KickNone
}

// Consumed is the rule for OnRecv's answer n on a window of size bytes when the window can
// grow to at most limit bytes (the RecvBuffer's size): a count outside 0..size is a protocol
// error (KickPacketError); nothing consumed from a window that cannot grow is an overflow
// (KickRecvBufferOverFull: the app waits for a frame larger than the buffer). Deliver,
// DeliverFrom and the backends that deliver from a buffer of their library (netpoll's
// LinkBuffer) all apply it.
func Consumed(n, size, limit int) KickReason {
	switch {
	case n < 0 || n > size:
		return KickPacketError
	case n == 0 && size >= limit:
		return KickRecvBufferOverFull
	}
	return KickNone
}

// slowStep bounds DeliverFrom's first copy into the buffer while a partial frame is pending:
// enough to complete a small frame, so the rest of the bytes can again be shown in place.
const slowStep = 512

// DeliverFrom hands bytes that arrived in memory the backend owns (a provided buffer, an
// event loop's read buffer) to h.OnRecv with the same window, consumed-count and overflow
// rules as Deliver, and uses the buffer only while a partial frame is pending:
//
//   - No partial frame pending: the window is data itself, at most Cap() bytes; what the app
//     leaves unconsumed is shown again with what follows, and only a partial frame at the
//     very end of data is copied into the buffer.
//   - A partial frame of P bytes pending: new bytes are appended and the buffer's window is
//     delivered. The first append is at most max(P, 512) bytes; once the app has consumed the
//     pending P bytes the copy is dropped and delivery goes back to data itself, so a frame
//     that straddles two arrivals costs one copy of its head and of at most max(P, 512)
//     bytes of the next arrival.
//
// A lazy buffer (InitLazy) takes its memory from its pool for the copy of a partial frame
// and gives it back when that frame is consumed, so between frames it holds nothing.
//
// It returns KickNone or the reason the session must be kicked. It stops early (returning
// KickNone) once a callback kicked the session (a session built on SessionCore); the bytes
// kept then stay until the backend's Reset at the session's end.
func (rb *RecvBuffer) DeliverFrom(h Handler, s Session, data []byte) KickReason {
	step := true
	for len(data) > 0 {
		if rb.Len() == 0 {
			w := data[:min(len(data), rb.Cap())]
			n := h.OnRecv(s, w)
			if k := Consumed(n, len(w), rb.Cap()); k != KickNone {
				return k
			}
			switch {
			case n == len(w) || len(data) > len(w):
				data = data[n:] // unconsumed bytes are shown again with what follows
				if kicked(s) {
					return KickNone
				}
				continue
			}
			rest := data[n:] // a partial frame at the end of data
			copy(rb.Free(), rest)
			rb.Commit(len(rest))
			return KickNone
		}
		pending := rb.Len()
		free := rb.Free()
		m := min(len(data), len(free))
		if step {
			m = min(m, max(pending, slowStep))
			step = false
		}
		copy(free, data[:m])
		rb.Commit(m)
		w := rb.Window()
		k := h.OnRecv(s, w)
		switch {
		case k < 0 || k > len(w):
			return KickPacketError
		case k >= pending:
			// The pending frame is consumed: drop the copy and go on from data itself.
			rb.Reset()
			data = data[k-pending:]
		default:
			rb.Consume(k)
			data = data[m:]
			if rb.Full() {
				return KickRecvBufferOverFull
			}
		}
		if kicked(s) {
			return KickNone
		}
	}
	return KickNone
}

// kicked reports whether s has a kick recorded, for sessions built on SessionCore.
func kicked(s Session) bool {
	k, ok := s.(interface{ Kicked() bool })
	return ok && k.Kicked()
}
