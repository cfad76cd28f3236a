package rio

import "sync"

// Commit batching with RIO_MSG_DEFER.
//
// Every RIOSend/RIOReceive without RIO_MSG_DEFER rings the kernel's doorbell for its request
// queue (a system call). Requests flagged RIO_MSG_DEFER are only queued; a later request
// without the flag, or an RIOSend with RIO_MSG_COMMIT_ONLY, submits all of them at once
// (RIOSend docs: https://learn.microsoft.com/windows/win32/api/mswsock/nc-mswsock-lpfn_riosend).
//
// The loop opens a batch around each completion-queue drain. Requests issued while it is open
// (the re-posted receive after OnRecv, the echo's RIOSend from inside OnRecv, sends from other
// goroutines that happen to land meanwhile) are deferred, and the loop commits every request
// queue that holds deferred requests when the drain ends. Outside a batch (a Send from an app
// goroutine on an idle loop) a request is issued immediately: deferring it would leave it
// waiting for a drain that may never come.
//
// Lock order: the caller holds the session's lock (which serializes its RQ) when it calls
// decide and issues the request; end is called without any session lock, and the commits it
// leads to take each session's lock, so a request deferred just before end is issued before
// its commit.

// deferLimit is how many deferred requests one RQ may hold before a request is issued without
// RIO_MSG_DEFER (which commits the earlier ones): it bounds the latency batching can add.
const deferLimit = 16

type batch struct {
	mu      sync.Mutex
	open    bool
	pending []uint64 // keys of RQs holding deferred requests, each listed once per batch
	limit   int
}

func newBatch(limit int) *batch { return &batch{limit: max(1, limit)} }

// begin opens a batch (the loop starts draining its completion queue).
func (b *batch) begin() {
	b.mu.Lock()
	b.open = true
	b.mu.Unlock()
}

// decide returns the flags for one request on the RQ identified by key, which already holds
// deferred requests deferred (the caller's count, kept under the session lock). The caller
// then sets its count to deferred+1 when the flags include rioMsgDefer, and to 0 otherwise
// (a request without the flag commits the RQ's earlier deferred requests).
func (b *batch) decide(key uint64, deferred int) uint32 {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.open || deferred+1 >= b.limit {
		return 0
	}
	if deferred == 0 {
		b.pending = append(b.pending, key)
	}
	return rioMsgDefer
}

// end closes the batch and hands the keys of the RQs to commit to the caller, appended to dst.
func (b *batch) end(dst []uint64) []uint64 {
	b.mu.Lock()
	b.open = false
	dst = append(dst, b.pending...)
	b.pending = b.pending[:0]
	b.mu.Unlock()
	return dst
}

// commitFlags are the flags (and only flags) of the RIOSend that commits deferred requests;
// pData, DataBufferCount and RequestContext must be NULL/0 with them.
const commitFlags = rioMsgCommitOnly
