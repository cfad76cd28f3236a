// Package winsock is the Winsock and Win32 layer the two Windows backends (iocp, rio) share:
// overlapped sockets, the listen socket, the bound socket ConnectEx needs and what a
// completed ConnectEx must do, the AcceptEx slots (OVERLAPPED + address buffer in memory
// outside the Go heap), VirtualAlloc'd memory, the posted-job queue woken by
// PostQueuedCompletionStatus, and the Wine check. The I/O models stay in their packages:
// iocp's WSARecv/WSASend per session, rio's request queues and registered buffers.
//
// On other platforms the package is empty.
package winsock
