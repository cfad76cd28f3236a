// Package iocp is the raw I/O completion port backend (Windows only), modelled on the seed's
// IocpCore / IocpObjectListener / IocpObjectSession.
//
// Model: Config.Loops completion ports, each drained by one goroutine locked to its OS thread
// that dequeues in batches with GetQueuedCompletionStatusEx. A session's socket is associated
// with the port of loop slot%Loops, so every completion and callback of one session runs on
// one thread (OnRecv serialized, OnConnect first, OnDisconnect last). Servers keep several
// AcceptEx calls outstanding; clients bind and ConnectEx. Each session has exactly one
// WSARecv outstanding, straight into its RecvBuffer, and at most one WSASend carrying up to
// MaxGather WSABUFs: everything its SendQueue holds (the gather write). Engine.Post is the
// seed's PushIocpJob: PostQueuedCompletionStatus to loop 0 with a reserved completion key.
// Send called on the session's own loop thread (from a callback, the usual case for a server)
// issues the WSASend at once; from any other goroutine it posts a wake-up packet to the loop,
// so every WSASend of a session, and every completion, stays on one thread.
//
// Memory the kernel writes while an operation is in flight never lives where the GC may move
// or free it: each session slot owns a VirtualAlloc'd slab holding its OVERLAPPEDs, WSABUF
// arrays and RecvBuffer bytes, and the listener's AcceptEx OVERLAPPEDs and address buffers live
// in another slab. Send chunks are Go heap memory owned by models.SendQueue; they are pinned
// with a runtime.Pinner from WSASend until its completion instead of being copied, so the
// copy count per message is the same as every other backend: one app→SendQueue copy in Send,
// one kernel copy out of it, one kernel→RecvBuffer copy in. Completion keys are
// kind | service | generation | slot, never a Go pointer; the OVERLAPPED address tells which
// operation of the slot completed.
//
// Sockets are created with WSA_FLAG_OVERLAPPED and TCP_NODELAY (as Go net does, for parity).
// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS is set on session sockets only when every TCP provider
// is an IFS provider (the check Go's internal/poll makes); an operation that then completes
// inline is queued on the loop's deferred list instead of waiting for a packet, so each
// operation is handled exactly once. The list is run in bounded rounds (only what was queued
// before the round), and while it is non-empty the port is polled with a zero timeout
// between rounds: a flooding peer whose WSARecv completes inline every time gets one receive
// per round, and cannot starve AcceptEx completions, wake-ups, kicks or shutdown of its loop.
//
// Close: a kick cancels the session's I/O with CancelIoEx (after SO_LINGER 0 for abortive
// kicks, as netstd does) and the slot's memory stays in place until every outstanding
// operation has completed: each operation holds a models.SessionCore reference, and the
// session is finalized (OnDisconnect, socket closed, slot back to the pool) when the count
// reaches zero. Sockets are closed and re-created rather than recycled with
// DisconnectEx(TF_REUSE_SOCKET), for two reasons. A socket's completion port and key are fixed
// for its life, while here the key names the session slot that owns the connection and the
// slot picks the loop; recycling would need a socket table between keys and slots. And under
// Wine 8.0 (where this backend's suite runs) reuse silently half-works: DisconnectEx with
// TF_REUSE_SOCKET succeeds, AcceptEx into the socket succeeds and WSARecv on it receives, but
// a WSASend on it never reaches the peer, so no error could tell "works here" from "doesn't".
//
// GetQueuedCompletionStatusEx: https://learn.microsoft.com/en-us/windows/win32/fileio/getqueuedcompletionstatusex-func
// AcceptEx: https://learn.microsoft.com/en-us/windows/win32/api/mswsock/nf-mswsock-acceptex
// ConnectEx: https://learn.microsoft.com/en-us/windows/win32/api/mswsock/nc-mswsock-lpfn_connectex
// SetFileCompletionNotificationModes: https://learn.microsoft.com/en-us/windows/win32/api/winbase/nf-winbase-setfilecompletionnotificationmodes
package iocp
