package models

// Resident is what a service's sessions hold in per-session buffers at one moment: the
// figures behind the contract's "idle sessions hold no buffers" (package doc). A backend
// reports it through ResidentReporter; models/modeltest checks that it drops to zero once
// every session is idle.
type Resident struct {
	// Sessions is the number of open sessions.
	Sessions int
	// RecvBuffers is the number of sessions' RecvBuffers holding memory now.
	RecvBuffers int
	// SendChunks is the number of SendQueue chunks (SendChunkSize each) held by the
	// sessions' queues now: bytes queued or being written.
	SendChunks int
	// LazyRecv says the RecvBuffers are lazy (RecvBuffer.InitLazy): held only while a
	// partial frame is pending, so RecvBuffers is 0 when every session is idle. A backend
	// whose kernel writes into the RecvBuffer (a read(2) into it, a single-shot recv, a
	// registered region) keeps one per session and says false.
	LazyRecv bool
}

// ResidentReporter is the optional introspection a Service implements to report its
// per-session buffer memory. It may be called from any goroutine; the figures are a snapshot
// (they may be stale by the time they are read) and exact once the sessions are idle.
type ResidentReporter interface {
	Resident() Resident
}

// Chunks is the number of pooled chunks the queue holds: 0 once everything queued is
// written (Advance gives each written chunk back), so an idle session's queue holds no send
// memory. Safe from any goroutine.
func (q *SendQueue) Chunks() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.chunks) - q.head
}

// ResidentOf is the Resident of a service with live open sessions whose RecvBuffers are lazy
// over pool, or, with a nil pool, resident in slotBufs slots; queues yields every session's
// SendQueue.
func ResidentOf(live int, pool *RecvPool, slotBufs int, queues func(yield func(*SendQueue) bool)) Resident {
	r := Resident{Sessions: live, LazyRecv: pool != nil, RecvBuffers: slotBufs}
	if r.LazyRecv {
		r.RecvBuffers = pool.InUse()
	}
	for q := range queues {
		r.SendChunks += q.Chunks()
	}
	return r
}
