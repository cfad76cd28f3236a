// Package sock is the socket plumbing the raw backends share: TCP address ↔ sockaddr
// conversion (one for unix, one for Windows), the Unix SO_REUSEPORT listen socket with the one
// backlog, and the two socket options every backend sets (TCP_NODELAY; SO_LINGER {1, 0} before
// an abortive close). It holds no I/O model: each backend keeps its own loops.
package sock

// Backlog is the listen(2) backlog of every raw backend's listening socket. The kernel caps
// it at net.core.somaxconn (4096 by default since Linux 5.4); Windows at SOMAXCONN's provider
// limit.
const Backlog = 4096
