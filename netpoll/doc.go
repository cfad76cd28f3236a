// Package netpoll is the netpoll backend: an adapter over github.com/cloudwego/netpoll
// (imported as cnetpoll), ByteDance's reactor library for Linux and macOS. Elsewhere it
// registers anyway and Available/New return models.Unsupported.
//
// # Model
//
// netpoll runs a process-global set of pollers (epoll/kqueue loops, one goroutine each). A
// poller reads a readable connection into that connection's LinkBuffer (readv(2) straight
// from the poller goroutine) and starts the connection's handler on a goroutine from gopool
// (github.com/bytedance/gopkg), which runs while unread data remains and may block reading.
// A SERVER service is one netpoll EventLoop serving the adapter's own listener (accepting on
// a poller); a CLIENT service dials with netpoll.DialConnection.
//
// Tuning parity: netpoll's poller count is process-global and defaults to GOMAXPROCS/20+1;
// New sets it to Config.Loops with netpoll.SetNumLoops. Because it is global, New refuses an
// engine whose Loops differs from that of a netpoll engine that is still open (iobench runs
// one server engine per process).
//
// # Bridges (where netpoll's model differs from the contract)
//
//   - Receive buffer ownership. The app's OnRecv sees a window straight into netpoll's
//     LinkBuffer (Reader().Peek(min(unread, RecvBufferSize))) and what it consumes is
//     skipped; no models.RecvBuffer is used, because netpoll already owns a per-connection
//     buffer that keeps unconsumed bytes. The window, the consumed-count rule and the
//     overflow rule (a full window of RecvBufferSize with nothing consumed kicks with
//     KickRecvBufferOverFull) are the same as on every backend. netpoll's handler loop calls
//     the handler again at once while unread bytes remain, so after a partial frame the
//     adapter blocks in Reader().Peek(unread+1) until more bytes arrive (netpoll's own
//     idiom). netpoll keeps reading while OnRecv runs, so more than RecvBufferSize bytes may
//     sit in its LinkBuffer between deliveries (netpoll's read-ahead).
//   - Send path and who flushes. Send copies into the session's models.SendQueue. The writer
//     is the handler goroutine when the Send came from inside a callback of that session
//     (flushed when the callback returns, so replies to one read leave in one writev), else a
//     gopool task. It writes the queue's chunks with writev(2) on the connection's fd — the
//     syscall netpoll's own Flush makes — without staging them in netpoll's output LinkBuffer
//     (WriteBinary copies anything up to 4 KiB).
//   - Backpressure. netpoll's only way to wait for writability is Flush on its own output
//     buffer, whose progress is lost when the connection closes. So when writev would block
//     the adapter hands the writer role to a side writer: a dup of the fd registered with the
//     Go runtime poller (created the first time a session is backpressured: one extra fd and
//     dup+fcntl+epoll_ctl, once), which waits and writes until the queue is empty. Unsent
//     bytes stay in the SendQueue, so the KickSendQueueFull bound is exact.
//   - Graceful half-close and errors. netpoll treats any hang-up as a close and does not say
//     why. In its close callback (which runs before netpoll closes the fd) the adapter reads
//     the TCP state: CLOSE_WAIT means the peer half-closed (KickRecv0), anything else a reset
//     or error (KickRecvError). After a half-close with sends still queued, the side writer
//     (a dup taken there) writes the queue out before closing with KickRecv0. Every other
//     kick sets SO_LINGER 0 and closes at once.
//   - A peer gone mid-frame. netpoll's handler loop calls OnRequest again for as long as
//     unread bytes remain and runs the close callback only once none do, so after a close or
//     reset the adapter drops the partial frame it was waiting on (it can never complete);
//     left unread, it made the handler goroutine spin and kept the fd and the pool slot.
//   - Accept errors and logging. The adapter's listener counts a failed accept
//     (ServiceStats.AcceptErrors) and reports ENOBUFS/ENOMEM as EMFILE, for which netpoll
//     detaches the listener and retries with a back-off (it would otherwise be called again
//     at once). netpoll's global logger goes to a filter that counts, instead of printing,
//     its line per reset connection and per failed accept (the events are counted where they
//     belong: Kicks[recv_error], AcceptErrors); its other lines still reach stderr.
//   - Connection-count limit: a slot from the service's models.SessionPool per connection;
//     an empty pool refuses (close, counted as KickPoolExhausted). Auto-reconnect: an ended
//     CLIENT_AUTO_RECONNECT session redials after ReconnectDelay from an adapter goroutine.
//     Jobs: models.JobLoop.
//   - Listener. netpoll's ConvertListener closes its fd twice (syscall.Close, then the
//     os.File's Close), which can close an unrelated fd that reused the number; the adapter
//     gives netpoll its own listener, which closes each fd once and sets TCP_NODELAY on the
//     connections it accepts (netpoll sets it only on its own netFDs; Go net and gnet set it
//     on every TCP connection, and without it fan-out Sends stall 40 ms on delayed ACKs).
//
// # Copies per message
//
// Receive: kernel→LinkBuffer (readv on the poller), then the app reads the window in place;
// Peek copies only when the window spans two LinkBuffer nodes (netpoll's buffer grows in
// nodes), where the raw backends would instead memmove a partial frame on compaction.
// Send: app→SendQueue (Push), SendQueue→kernel (writev): the same as every backend.
//
// # Counters
//
// ServiceStats.Reads counts the batches of new bytes the handler finds in the LinkBuffer,
// not read syscalls: netpoll's poller does the readv(2)s and does not report them (one
// readiness event may be one or several reads). Writes counts writev(2) calls as everywhere.
//
// # Allocations
//
// The adapter allocates nothing per message. netpoll does, per handler run: the task closure
// of connection.onProcess and, when no gopool worker is idle, a worker goroutine (gopool
// workers exit as soon as their queue is empty). A Send from outside the session's callbacks
// schedules one gopool task (pooled task struct, no closure: the flush function is bound once
// per pooled session).
//
// # Close and leaks
//
// Service.Close kicks every session with KickShutdown, waits for every OnDisconnect and the
// adapter's goroutines, then shuts the EventLoop down (its listener is closed). A service is
// visible to Engine.Close from the start of Listen/Connect, holding a setup reference until
// it can be closed: for a SERVER, until EventLoop.Serve has stored its server (an earlier
// Shutdown finds nothing to stop and Serve would never return; see Listen). netpoll's
// pollers are process-global and persistent by design: the first netpoll engine starts
// Config.Loops poller goroutines, each with an epoll/kqueue fd and an eventfd, and they stay
// for the life of the process (netpoll has no API to stop them). The suite's leak check
// (modeltest close_in_flight) warms a backend up before taking its goroutine and fd
// baseline, so it holds netpoll to "no goroutine or fd beyond the global pollers": every
// connection fd, listener fd, side-writer dup and adapter goroutine must be gone, but a leak
// inside the pollers themselves would not show. gopool's workers exit when idle.
package netpoll

import "github.com/iobench/iobench/models"

// Name is the backend name.
const Name = "netpoll"

func init() {
	models.Register(models.Backend{
		Name:      Name,
		Summary:   "cloudwego/netpoll: global epoll/kqueue pollers read into LinkBuffers, handlers on gopool goroutines",
		Available: available,
		New:       New,
		Note:      "pollers are process-global, set to Config.Loops; reads ahead without bound; Stats.Reads counts handler batches, not read syscalls",
	})
}
