// Package uring is the raw io_uring proactor backend (Linux 6.0+): the Linux counterpart of
// the IOCP backend, with provided-buffer rings as the counterpart of RIO's registered buffers.
// It is written directly on the system calls (io_uring_setup(2), io_uring_enter(2),
// io_uring_register(2)) through golang.org/x/sys/unix: no cgo, no liburing.
//
// # Model
//
// Config.Loops event loops; each is a goroutine locked to its OS thread that owns one ring
// (IORING_SETUP_SINGLE_ISSUER|DEFER_TASKRUN where the kernel has them, so completions run only
// inside the loop's own io_uring_enter). Every loop iteration makes exactly one io_uring_enter
// that both submits everything queued since the last one and waits for at least one
// completion (IORING_ENTER_GETEVENTS, min_complete 1); it does not wait when work is already
// queued. A SERVER service opens one SO_REUSEPORT listener per loop, each with a multishot
// accept (IORING_ACCEPT_MULTISHOT) on its own ring, so the kernel spreads connections across
// loops and no session is ever handed between threads. CLIENT services connect with
// IORING_OP_CONNECT, sessions assigned to loops round-robin.
//
// Receive has two modes, chosen per engine by the environment variable IOBENCH_URING_RECV
// (read by New):
//
//   - "multishot" (the default): one multishot recv per session (IORING_RECV_MULTISHOT with
//     IOSQE_BUFFER_SELECT) drawing from the loop's provided-buffer ring
//     (IORING_REGISTER_PBUF_RING). A completion's bytes are delivered in place, with
//     models.RecvBuffer.DeliverFrom: OnRecv sees the provided buffer itself, and only a
//     partial frame left at its end is copied into the session's RecvBuffer; the buffer then
//     goes straight back to the ring. The RecvBuffer is lazy (models.RecvBuffer.InitLazy):
//     it takes memory from the service's RecvPool only while such a partial frame is pending,
//     so an idle session holds no receive buffer at all (models doc, "Idle sessions hold no
//     buffers"). -ENOBUFS or any other end of the multishot (no IORING_CQE_F_MORE, e.g.
//     after a CQ overflow) re-arms it. ENOBUFS cannot spin: every buffer goes back to the
//     ring as soon as its completion is handled, so the ring is empty only while more
//     completions than buffers wait in one reap, and those are all reaped and published
//     before the loop's next io_uring_enter submits the re-armed recv (an SQ ring that fills
//     mid-reap submits it sooner: it may fail once more, never lose bytes, which stay in the
//     socket).
//   - "direct": a single-shot IORING_OP_RECV straight into the RecvBuffer's free space (the
//     buffer is pinned with runtime.Pinner for the session's life), re-submitted after each
//     completion, with IORING_RECVSEND_POLL_FIRST when the last one drained the socket. No
//     buffer ring; every slot keeps its RecvBuffer (Resident reports it as not lazy).
//
// Copies per message: the multishot mode copies kernel→provided buffer once and a straddling
// frame's head once more (as gnet does from its loop buffer); the direct mode copies
// kernel→RecvBuffer, as netstd and epoll do. Multishot is the default because it is what the
// io_uring networking guidance recommends: one armed request per connection for its whole
// life, and receive memory shared by all the loop's connections instead of one pinned buffer
// per connection in flight. The README records how the two modes measured.
//
// Send: models.SendQueue; the loop takes Peek views into the session's iovec array (mmapped
// memory, stable until the CQE), pins the chunks with runtime.Pinner, submits one
// IORING_OP_SENDMSG, and on its CQE applies models Wrote (count, OnSend, Advance) and
// resubmits if more is queued. A Send made on the loop thread (from OnRecv, the echo case)
// costs no wake-up: the loop is not waiting then, so the write is simply queued into the next
// enter. A Send, Kick or Post from another goroutine wakes the loop through an eventfd read
// kept armed on the ring, written only when the loop is actually blocked in io_uring_enter.
//
// Memory the kernel reads or writes (rings, SQEs, provided buffers, msghdr/iovec arrays,
// the eventfd counter) is mmapped outside the Go heap; send chunks (Go heap, from the shared
// SendQueue) are pinned while a SENDMSG references them. user_data never holds a pointer:
// it is op kind | generation | index into the loop's op table.
//
// Close cancels every in-flight request (IORING_OP_ASYNC_CANCEL by fd, or every request of the
// ring when a loop stops) and waits for their completions before closing descriptors and
// unmapping memory; the session's end is models.ServiceCore.EndSession. Post runs jobs on
// loop 0, FIFO; a job blocks loop 0's I/O while it runs, as a PostQueuedCompletionStatus job
// blocks an IOCP thread. Engine.Close, Service.Close and Connect called from a loop (a
// callback or a Post job) start their work and return without waiting, since a loop cannot
// wait for itself.
//
// Files: engine_linux.go (Engine, Listen, Connect, Close), service_linux.go (services,
// listeners, connect attempts), session_linux.go (a session's receive, send and end),
// loop_linux.go (the ring's loop, its inbox and completion dispatch), ring_linux.go and
// sys_linux.go (the ring and the system calls), probe_linux.go (feature checks).
//
// On other systems, and on kernels without the features above, the backend registers anyway
// and Available/New return models.Unsupported with the missing feature.
package uring
