// Package epoll is the raw epoll reactor backend (Linux only): what a game server gets from
// its own event loops written directly on epoll(7), golang.org/x/sys/unix and no cgo.
//
// # Model
//
// Config.Loops loops, each a goroutine that owns one epoll instance (epoll_create1), one
// eventfd and every session it opened. All I/O and every callback of a session run on its
// loop, so a session needs no lock of its own; the shared machinery (SendQueue, RecvBuffer,
// SessionPool, Counters) is the models one.
//
// The loop goroutines are not locked to their OS threads (runtime.LockOSThread): a busy loop
// polls epoll_wait with timeout 0, yields once (runtime.Gosched) when a poll comes back empty
// and only then blocks (see loop.run). Locking was the first design and stays selectable
// (LockEnv) because it measured dearer; the README records the measurement.
//
//   - Accept: a SERVER service opens one listening socket per loop, all bound to the same
//     address with SO_REUSEPORT (socket(7)); the kernel hashes each connection to one of them,
//     so a loop accepts only on its own socket: no thundering herd and no hand-off to another
//     thread. (EPOLLEXCLUSIVE on one shared socket was the alternative; it still wakes more
//     than one loop under load and makes the accepting loop an accident of timing.) The
//     price: connections still queued on a listener when the service closes are reset.
//   - Connect: a CLIENT session is a non-blocking connect(2) registered for EPOLLOUT; it
//     completes when the socket is writable and SO_ERROR is 0. CLIENT_AUTO_RECONNECT redials
//     a session that ended (or failed) after ReconnectDelay.
//   - Read: one read(2) per readiness event into the loop's scratch buffer (RecvBufferSize
//     bytes, one per loop), then OnRecv in place through SessionCore.ReceivedFrom
//     (RecvBuffer.DeliverFrom): the session's RecvBuffer is lazy (models.RecvBuffer.InitLazy)
//     and takes memory from the service's RecvPool only for a partial frame left at the end
//     of a read, giving it back once the frame is consumed, so an idle session holds no
//     receive buffer (models doc, "Idle sessions hold no buffers"; the README has the RSS per
//     idle connection). A read shorter than the scratch buffer means the socket is drained,
//     so there is no extra read just to collect EAGAIN; a full one is followed by up to three
//     more. RecvEnv=resident reads into each session's own RecvBuffer instead (the first
//     design, kept measurable).
//   - Write: Send copies into the SendQueue (models.SendQueue.Push). The writer's turn goes to
//     the loop, which writes everything queued with one writev(2) of up to Config.MaxGather
//     iovecs from a loop-owned array (no allocation per write). When the Send happens inside a
//     callback of the same session (the echo case) the loop writes right after the callback
//     returns: no task, no wakeup. EPOLLOUT is registered only when a write would block and
//     removed once the queue is written.
//   - Wakeups: Send, Kick and Post from elsewhere queue a task on the loop; the poster writes
//     the loop's eventfd (eventfd(2)) only if the loop sleeps in epoll_wait and nobody has
//     woken it yet. A loop that is awake, e.g. the poster's own loop inside a callback,
//     drains its queue before it waits again, so same-loop posts cost no syscall.
//   - Post: jobs are tasks of loop 0, run one at a time in FIFO order between its I/O batches
//     (the PostQueuedCompletionStatus job queue of the seed). A long job delays loop 0's I/O.
//
// # Level-triggered, and why
//
// Every registration is level-triggered. With edge triggering a loop must read until EAGAIN
// (or keep its own ready list) or it loses the event; level triggering lets a loop read once
// per event, bound its work per session (fairness across sessions) and leave the rest to the
// next epoll_wait without bookkeeping. The cost of level triggering is that interest must be
// changed with epoll_ctl(2) when it changes: EPOLLOUT only while a write is blocked (rare with
// small messages), and EPOLLIN removed after a peer EOF while queued data drains. On the
// request/response hot path both cost nothing: the syscalls per message are epoll_wait
// (amortised over the batch of up to 128 events), read and writev.
//
// # Safety
//
// epoll_event.data never holds a pointer: it carries kind, service index, slot index and a
// 24-bit generation of the slot (see tag). The generation is odd while the slot's connection is
// open and is bumped on every open and close, so an event or task for a connection that closed
// earlier in the same batch (whose fd number may already belong to a new connection) is
// dropped. Only the owning loop closes a socket: a Kick from another goroutine is marshalled to
// the loop. read, writev and the eventfd write use RawSyscall (they never block on a
// non-blocking fd); epoll_wait uses the blocking Syscall path.
//
// The lifecycle is the models one: the receive rule (SessionCore.Received, PeerClosed), the
// writer's turn (SessionCore.Flush over writev), the end of a session
// (ServiceCore.EndSession). Peer EOF drains queued sends then closes with KickRecv0; every
// other kick closes at once with SO_LINGER {1, 0} (RST, queued data dropped).
//
// Files: engine_linux.go (Engine, Listen, Connect, Close), service_linux.go, session_linux.go
// (a session's read, write and close), loop_linux.go (the loop, its task queue, accept and
// connect), tag.go (epoll_data layout), sys_linux.go (the hot-path system calls).
//
// Listen, Connect, Service.Close and Engine.Close wait for the loops (Connect returns after the
// OnConnect of every session whose first attempt connected); called from a loop goroutine (a
// callback or a Post job) they start their work and return without waiting, since a loop
// cannot wait for itself.
//
// On other platforms the backend registers and reports models.Unsupported("epoll", "Linux
// only").
package epoll
