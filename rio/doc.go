// Package rio is the Windows Registered I/O backend (Windows 8 / Server 2012 and later): data
// moves through RIOReceive/RIOSend on request queues over buffers registered once per loop,
// completions are dequeued in bulk from one completion queue per loop in IOCP notification
// mode, and connections are made with AcceptEx/ConnectEx on the same completion ports.
// Elsewhere, and where Windows lacks RIO (Wine), the backend registers as unavailable with the
// reason. See README.md.
package rio
