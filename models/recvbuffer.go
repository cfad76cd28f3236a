package models

// RecvBuffer is a session's fixed receive buffer with start/end offsets (the seed's
// mRecvBuf / mRecvBufStart / mRecvBufEnd). The unread bytes are always contiguous, so OnRecv
// sees one window; compaction moves the unread tail to the front only when the free space at
// the end runs short, which keeps copies rare.
//
// The memory may come from the Go heap or from a kernel-registered region (RIO, io_uring
// registered buffers): Init takes any slice.
type RecvBuffer struct {
	buf        []byte
	start, end int
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
func (rb *RecvBuffer) Init(mem []byte) { rb.buf, rb.start, rb.end = mem, 0, 0 }

// Reset empties the buffer for a reused session.
func (rb *RecvBuffer) Reset() { rb.start, rb.end = 0, 0 }

// Cap is the buffer size: the largest frame the app can see whole.
func (rb *RecvBuffer) Cap() int { return len(rb.buf) }

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
	} else if rb.start > 0 && len(rb.buf)-rb.end < len(rb.buf)/2 {
		rb.end = copy(rb.buf, rb.buf[rb.start:rb.end])
		rb.start = 0
	}
	return rb.buf[rb.end:]
}

// Commit records that n bytes were written into the slice returned by Free.
func (rb *RecvBuffer) Commit(n int) {
	if n < 0 || rb.end+n > len(rb.buf) {
		panic("models.RecvBuffer: commit out of range")
	}
	rb.end += n
}

// Consume drops n bytes from the front of the window.
func (rb *RecvBuffer) Consume(n int) {
	if n < 0 || n > rb.end-rb.start {
		panic("models.RecvBuffer: consume out of range")
	}
	rb.start += n
	if rb.start == rb.end {
		rb.start, rb.end = 0, 0
	}
}

// Full reports that the unread bytes fill the whole buffer: the app is waiting for a frame
// larger than the buffer, so the session must be kicked with KickRecvBufferOverFull.
func (rb *RecvBuffer) Full() bool { return rb.end-rb.start == len(rb.buf) }

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
	if n < 0 || n > len(w) {
		return KickPacketError
	}
	rb.Consume(n)
	if rb.Full() {
		return KickRecvBufferOverFull
	}
	return KickNone
}
