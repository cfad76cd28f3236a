// Package models is the contract every iobench backend implements, modelled on the
// RAON ServerEngine IOCP design analysed in shared/seed (IocpCore, ServiceCoordinator,
// SessionPool, IocpObjectSession, SendBuffer/RecvBuffer, IO_SESSION_KICK_REASON).
//
// The server apps in package harness are written once against these interfaces, so two
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
// # Hostile peers
//
// A peer that closes or resets in the middle of a frame ends its session like any other close
// (KickRecv0 or a recv/io error): the partial frame is dropped, the fd and the pool slot come
// back, and nothing spins. A failed accept (EMFILE, ENFILE, ENOBUFS, ...) never stops a
// listener: it backs off, accepts again and counts ServiceStats.AcceptErrors.
//
// The idle timeout (ServiceOptions.IdleTimeout, off when 0) is the same rule on every
// backend because it is one decorator, ServiceOptions.Guard, that every backend's Listen and
// Connect put around the app's Handler: a session whose OnRecv has consumed nothing since
// OnConnect (a handshake timeout: the silent connection) or since the last OnRecv that
// consumed bytes (a slowloris trickling a frame it never completes, or a peer gone quiet) is
// kicked with KickIdleTimeout. "Progress" is inbound only: a session that only receives
// from the server (and whose peer sends no heartbeat) is idle by this rule. One timer per
// service sweeps every IdleTimeout/4 while the service has sessions, so a kick comes between
// 1x and 1.25x IdleTimeout after the last progress (plus timer latency) and never before;
// no goroutine runs per session, no clock is read per OnRecv, and no goroutine or timer is
// left once the service's sessions are gone.
//
// # Post ordering
//
// Engine.Post runs jobs one at a time on the engine's job loop in the order Post returned
// (FIFO across all posting goroutines). Jobs may run concurrently with I/O callbacks of other
// loops; a job that needs per-session serialization must arrange it itself.
package models
