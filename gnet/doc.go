// Package gnet is the gnet backend: an adapter over github.com/panjf2000/gnet/v2 (imported as
// gnetv2), a multi-reactor event-loop library. On Linux and the BSDs/macOS gnet runs its own
// epoll/kqueue loops, one goroutine each; on Windows gnet is a development mode built on Go
// net (a reader goroutine per connection feeding a channel per loop), and Backend.Note says so.
//
// # Model
//
// Every service has its own gnet.Client with Config.Loops event loops (WithNumEventLoop,
// WithMulticore when Loops > 1, level-triggered, no ticker); gnet's defaults are kept where
// the contract says nothing (loops are not locked to OS threads; the raw epoll backend locks
// its own). A CLIENT service dials each connection with Go net (net.Dialer, so Service.Close
// can cancel it); a SERVER service accepts with a Go net listener on one goroutine. Both hand
// the connection to the client with EnrollContext, which dups the fd into the next loop
// (round-robin) and closes the Go net conn: dup+close+epoll_ctl per connection, on the
// connect/accept path only.
//
// Why not gnet's own server (gnet.Run, a main reactor accepting for the loops): in gnet
// v2.9.7 any accept error other than EAGAIN, EINTR, ECONNRESET and ECONNABORTED ends the
// main reactor's poll loop (acceptor_unix.go accept0 returns errors.ErrAcceptSocket, which
// Poller.Polling returns), and that shuts the whole engine down: every session dropped, the
// listener closed, nothing reported but a log line. So one connection storm that runs the
// process out of file descriptors (EMFILE) made the gnet server deaf for good, and no option
// or hook of gnet's changes that. The adapter's accept loop instead counts the error
// (ServiceStats.AcceptErrors), backs off (5 ms doubling to 1 s, as net/http does) and
// accepts again. The cost against gnet.Run is on the accept path only: the accept runs on
// the Go runtime poller (accept4 plus its epoll_ctl) and waits for the loop to register the
// connection, and EnrollContext adds a dup and a close; the message path is gnet's, as
// before. Results of connection-churn scenarios include that accept path.
// gnet's logger is replaced by a discarding one so nothing is written on the hot path.
//
// # Bridges (where gnet's model differs from the contract)
//
//   - Receive buffer ownership. gnet reads (read(2), one per readable event) into one buffer
//     per loop and calls OnTraffic; bytes left unread are copied by gnet into a per-connection
//     ring. The adapter never leaves bytes to gnet (it takes them all with Next(-1), which is
//     zero-copy while gnet's ring is empty, i.e. always) and delivers them with
//     models.RecvBuffer.DeliverFrom: the app's window is gnet's loop buffer itself (truncated
//     to Config.RecvBufferSize), and only a partial frame left at the end of a read is copied
//     into the session's RecvBuffer. The window, the consumed-count rule and the overflow
//     rule are the same as on every backend.
//   - Send path and who flushes. Send copies into the session's models.SendQueue (the one
//     copy every backend makes). The writer is the session's gnet loop: a Send from inside a
//     callback of that session is flushed when the callback returns (so all replies to one
//     read leave in one writev); a Send from elsewhere wakes the loop with Conn.Wake. The loop
//     writes the queue's chunks with one writev(2) per turn straight from the SendQueue on
//     the connection's fd; gnet's own outbound buffer is never used (it would copy).
//   - Backpressure. gnet has no "writable" callback for a connection whose writes the user
//     does itself, so when the loop's writev would block (EAGAIN or a short write) the adapter
//     hands the writer role to a side writer: a dup of the fd registered with the Go runtime
//     poller (created the first time the session is backpressured and kept until it ends: one
//     extra fd and dup+fcntl+epoll_ctl once per such session), whose goroutine writes the
//     rest of the queue with writev, waiting for writability in the runtime poller, until the
//     queue is empty; the next Send gives the role back to the loop. The unsent bytes stay in
//     the SendQueue, so its bound (KickSendQueueFull) is exact and no byte is copied twice.
//     (gnet's own answer, its outbound buffer, would copy the unsent tail and hide it from
//     the bound.) OnSend then runs on the side goroutine, which the contract allows.
//   - Graceful half-close. gnet closes a connection as soon as read returns EOF. If sends are
//     still queued then, the adapter keeps a dup of the fd (taken in OnClose, before gnet
//     closes its own) and the side goroutine writes the queue out from the SendQueue before
//     closing with KickRecv0, as the contract says. Every other kick sets SO_LINGER 0 and
//     closes at once, dropping queued data.
//   - Connection-count limit. gnet has none; the adapter takes a slot from the service's
//     models.SessionPool in OnOpen and refuses (closes, counted as KickPoolExhausted) when it
//     is empty.
//   - Auto-reconnect. gnet has none; an ended CLIENT_AUTO_RECONNECT session redials after
//     ReconnectDelay from a goroutine of the adapter (internal/adapter).
//   - The lifecycle is the models one: the receive rule (SessionCore.ReceivedFrom over gnet's
//     loop buffer), the writer's turn (SessionCore.Flush), the end of a session
//     (ServiceCore.EndSession); the side writer and the engine and service halves are
//     internal/adapter's.
//   - Jobs. Engine.Post uses models.JobLoop (gnet's EventLoop.Execute would run jobs on an I/O
//     loop, unlike the other backends).
//
// # Files
//
// engine.go (Engine, Listen and its accept loop, Connect), service.go (gnet's EventHandler:
// open, traffic, close, dial), session.go (Send, Kick, the writer's turn, the end),
// io_other.go and io_windows.go (where gnet has its own loops, and where it is a development
// mode).
//
// # Copies per message
//
// Receive: kernel→gnet loop buffer (read), and for a frame that straddles two reads, its head
// (loop buffer→RecvBuffer) and up to max(head, 512) bytes of the next read; netstd and the raw
// backends read straight into the RecvBuffer and memmove a partial frame only when
// compaction needs it, so gnet copies a straddling frame once more than they do and other
// bytes the same. Send: app→SendQueue (Push), SendQueue→kernel (writev): the same as every
// backend.
//
// # Allocations
//
// A wake from another goroutine goes through gnet's task queue (Conn.Wake), which allocates a
// closure and a queue node per wake; a Send made inside the session's own callbacks (echo,
// request/response) wakes nothing and allocates nothing.
//
// # Windows
//
// gnet's Windows build is not an I/O model: an accept goroutine and one reader goroutine per
// connection (from gnet's global ants pool) feed each loop's channel, and writes are blocking
// Go net writes made on the loop (Conn.Writev, which concatenates the buffers into a pooled
// buffer first: one extra copy). So there is no backpressure wait (a slow peer stalls its
// loop) and a half-close drain is a blocking write in OnClose. This build is kept out of the
// Wine suite (register.go); the README says what was seen under Wine.
//
// # Close
//
// Service.Close closes the listener (ending the accept loop), kicks every session with
// KickShutdown, waits for every OnDisconnect and for the adapter's goroutines, then stops the
// gnet client (Client.Stop) and waits for its loops to return; the loops' pollers and
// eventfds are closed by gnet. A service is visible to Engine.Close from the start of
// Listen/Connect, holding a setup reference until its gnet client is stored, so an
// Engine.Close racing them waits for that and stops it (see newService). gnet keeps a
// package-level goroutine pool (ants) started at package init; the adapter never submits to
// it on Linux/macOS, so it holds no goroutine of an engine.
package gnet
