// Package models is the contract every iobench backend implements, modelled on the RAON
// ServerEngine IOCP design (its IocpCore, ServiceCoordinator, SessionPool, IocpObjectSession,
// SendBuffer/RecvBuffer and IO_SESSION_KICK_REASON; "the seed" in comments).
//
// The server apps in package apps are written once against these interfaces, so two
// backends differ only in the I/O model underneath. To keep that comparison honest the
// package also carries the shared machinery every backend must use for the parts that are
// not the I/O model itself: the SessionPool (fixed capacity, circular acquire/release,
// alive set), the SendQueue (one copy per Send into pooled chunks, gather writes, a bound),
// the RecvBuffer (start/end window, compaction, overflow) and the per-service counters.
//
// # Callback guarantees (every backend)
//
//   - OnConnect happens before any other callback of that session.
//   - OnRecv calls of one session are serialized, and see the contiguous unread window of the
//     session's RecvBuffer; the return value is how many bytes were consumed (0..len(window)).
//     A negative value kicks the session with KickPacketError.
//   - OnSend(s, n) reports n bytes written by one gather write; it may run concurrently with
//     OnRecv of the same session on backends that complete sends on another thread.
//   - OnDisconnect is called exactly once per session, after every other callback of that
//     session has returned, with the first kick reason recorded.
//   - Handlers may call Send and Kick from inside any callback and from any goroutine.
//
// # Close semantics
//
// A peer half-close (read returns EOF) is graceful: the session stops reading, writes out what
// is already queued and then closes with KickRecv0. Every other kick (Kick, errors, queue
// full, overflow, shutdown) closes at once and drops queued data, as a game server does when
// it drops a misbehaving client.
//
// # Lifecycle (written once, here)
//
// A backend is its I/O; the rules around it are these helpers, and every backend calls them
// (none calls OnDisconnect itself):
//
//   - ServiceCore (embedded in every service): InitService (options, the handler behind
//     its guards, ServiceOptions.Guard, and the pool),
//     Type/Stats, BeginClose + KickOpen + Opened (Service.Close kicks once and waits on an
//     event, never by polling), and EndSession, the one end of a session: reason (KickNone
//     becomes KickUnknown), count, OnDisconnect, send queue released, core retired, slot
//     released, redial.
//   - SessionCore.Recv / Received / ReceivedFrom / PeerClosed / RecvFailed: the receive rule
//     (commit, count, deliver, EOF drain, error → KickRecvError), over the RecvBuffer or over
//     memory the backend owns (RecvBuffer.DeliverFrom).
//   - SessionCore.Flush: the synchronous writer's turn (Peek → one gather write → Wrote:
//     count, OnSend, Advance) for backends that write in place; Wrote and WriterDone for
//     proactors that complete a gather write later.
//   - Closer and Inside: Engine.Close's once-only teardown, which returns at once when
//     called from inside the engine (a callback or a Post job; Inside walks the caller's stack
//     for the engine's loop or callback functions) instead of deadlocking.
//
// # Parity rules (every backend; models/modeltest checks each)
//
//   - A nil Handler is refused by Listen and Connect with ErrBadConfig.
//   - TCP_NODELAY is on for accepted and dialled sockets, as Go net sets it.
//   - Every kick but a graceful peer EOF closes abortively (SO_LINGER {1, 0}: the peer sees a
//     reset and queued data is dropped); a recv_0 end after the drain is a FIN.
//   - The counters include a disconnect when its OnDisconnect runs.
//   - Engine.Close from inside a callback or a Post job returns (it starts the close); a
//     Close from outside waits for all of it.
//   - A Post that fails (ErrClosed, or the kernel refusing the wake-up) leaves nothing queued:
//     the job never runs.
//   - An engine opens and closes any number of services over its life (ids are reused).
//
// # Adding a backend
//
// CONTRIBUTING.md at the repository root is the page: what to implement, the one
// conformance call (modeltest.Run), register.go, unsupported_other.go and where the load
// generator's client preference lives. internal/tinybackend is the smallest backend written
// from it.
//
// # Hostile peers
//
// A peer that closes or resets in the middle of a frame ends its session like any other close
// (KickRecv0 or a recv/io error): the partial frame is dropped, the fd and the pool slot come
// back, and nothing spins. A failed accept (EMFILE, ENFILE, ENOBUFS, ...) never stops a
// listener: it backs off, accepts again and counts ServiceStats.AcceptErrors.
//
// The idle timeout (ServiceOptions.IdleTimeout, off when 0) is the same rule on every
// backend because it is one decorator, ServiceOptions.Guard, that ServiceCore.InitService puts
// around the app's Handler (no backend wires it): a session whose OnRecv has consumed nothing since
// OnConnect (a handshake timeout: the silent connection) or since the last OnRecv that
// consumed bytes (a slowloris trickling a frame it never completes, or a peer gone quiet) is
// kicked with KickIdleTimeout. "Progress" is inbound only: a session that only receives
// from the server (and whose peer sends no heartbeat) is idle by this rule. One timer per
// service sweeps every IdleTimeout/4 while the service has sessions, so a kick comes between
// 1x and 1.25x IdleTimeout after the last progress (plus timer latency) and never before;
// no goroutine runs per session, no clock is read per OnRecv, and no goroutine or timer is
// left once the service's sessions are gone.
//
// # Idle sessions hold no buffers
//
// A session's RecvBuffer and SendQueue are per session, but they need not be resident while
// the session is idle (a lobby of mostly idle connections is the case that decides how many
// players a machine holds):
//
//   - The SendQueue holds chunks only while bytes are queued or being written: Advance gives
//     every written chunk back to the shared pool, so an idle queue holds none
//     (SendQueue.Chunks).
//   - A backend that receives into memory of its own (an io_uring provided buffer ring, an
//     event loop's scratch buffer) and delivers with DeliverFrom (SessionCore.ReceivedFrom)
//     may make the RecvBuffer lazy (RecvBuffer.InitLazy over a RecvPool): it takes a buffer
//     only when a partial frame must be kept and gives it back when the frame is consumed
//     or the session ends. The app sees the same windows, consumed-count and overflow rules
//     either way. A backend whose kernel writes into the RecvBuffer (read(2) into it, a
//     single-shot recv, RIO or IOCP registered memory) keeps it resident.
//   - A service may report what it holds (ResidentReporter: open sessions, resident receive
//     buffers, send chunks, whether receive buffers are lazy); models/modeltest's
//     idle_holds_nothing case checks that both drop to zero once every session is idle, and
//     its split_frame case that a frame split over many reads still arrives whole.
//
// # Post ordering
//
// Engine.Post runs jobs one at a time on the engine's job loop in the order Post returned
// (FIFO across all posting goroutines). Jobs may run concurrently with I/O callbacks of other
// loops; a job that needs per-session serialization must arrange it itself.
package models
