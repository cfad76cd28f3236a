//go:build linux || darwin

package netpoll

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"

	cnetpoll "github.com/cloudwego/netpoll"
	"golang.org/x/sys/unix"

	"github.com/iobench/iobench/internal/sock"
	"github.com/iobench/iobench/models"
)

// listener is the netpoll.Listener the adapter serves: a Go TCP listener's dup, each fd
// closed exactly once. polled is closed the first time netpoll asks for the fd, which
// EventLoop.Serve does only after it stored its server, holding the EventLoop's lock
// (netpoll v0.7.2: eventLoop.Serve -> server.Run); Listen waits for it (see there).
type listener struct {
	ln       *net.TCPListener
	file     *os.File
	fd       int
	addr     net.Addr
	polled   chan struct{}
	pollOnce sync.Once
	counters *models.Counters // the service's: failed accepts are counted there
	// mu keeps Accept off fd once Close has closed it (netpoll's EMFILE retry goroutine may
	// still call Accept then, and the fd number may belong to another socket by then).
	mu     sync.RWMutex
	closed bool
}

var _ cnetpoll.Listener = (*listener)(nil)

func newListener(addr string) (*listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	tl := l.(*net.TCPListener)
	f, err := tl.File() // a dup; File leaves the listener's own fd non-blocking
	if err != nil {
		tl.Close()
		return nil, err
	}
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		tl.Close()
		return nil, err
	}
	fd := -1
	rc.Control(func(u uintptr) { fd = int(u) }) // not f.Fd(): that would make it blocking
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		tl.Close()
		return nil, err
	}
	return &listener{ln: tl, file: f, fd: fd, addr: tl.Addr(), polled: make(chan struct{})}, nil
}

// Accept implements net.Listener the way netpoll's server expects: (nil, nil) when no
// connection is pending.
//
// A failed accept is counted in the service's AcceptErrors. On EMFILE and ENFILE netpoll's
// server detaches the listener and retries from a goroutine with a back-off (10 ms .. 1 s)
// until accepts succeed again; any other error it ignores and, the listener being
// level-triggered, would be called again at once: so ENOBUFS and ENOMEM (also "the process
// is out of a resource") are reported as EMFILE to get the same back-off.
func (l *listener) Accept() (net.Conn, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.closed {
		return nil, net.ErrClosed
	}
	fd, sa, err := accept(l.fd)
	if err != nil {
		if err == unix.EAGAIN || err == unix.EINTR {
			return nil, nil
		}
		if l.counters != nil {
			l.counters.AcceptError()
		}
		switch err {
		case unix.ECONNABORTED:
			return nil, nil // lost before it was accepted: take the next one
		case unix.ENOBUFS, unix.ENOMEM:
			return nil, unix.EMFILE
		}
		return nil, err
	}
	// netpoll sets TCP_NODELAY only on connections of its own listener (it keys on the
	// network name of its netFD); Go net and gnet set it on every TCP connection.
	if err := sock.SetNoDelay(fd); err != nil {
		unix.Close(fd) // reset before we got to it: take the next one
		if l.counters != nil {
			l.counters.AcceptError()
		}
		return nil, nil
	}
	return &acceptedConn{fd: fd, local: l.addr, remote: sock.TCPAddr(sa)}, nil
}

func (l *listener) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	err := l.file.Close()
	if e := l.ln.Close(); err == nil {
		err = e
	}
	return err
}

func (l *listener) Addr() net.Addr { return l.addr }

// Fd implements netpoll.Listener; the first call tells Listen that Serve has registered.
func (l *listener) Fd() int {
	l.pollOnce.Do(func() { close(l.polled) })
	return l.fd
}

// acceptedConn hands an accepted fd to netpoll's server, which copies Fd and the addresses
// into its own connection and never uses this value for I/O.
type acceptedConn struct {
	fd            int
	local, remote net.Addr
}

var _ cnetpoll.Conn = (*acceptedConn)(nil)

func (c *acceptedConn) Fd() int                          { return c.fd }
func (c *acceptedConn) Read(p []byte) (int, error)       { return unix.Read(c.fd, p) }
func (c *acceptedConn) Write(p []byte) (int, error)      { return unix.Write(c.fd, p) }
func (c *acceptedConn) Close() error                     { return unix.Close(c.fd) }
func (c *acceptedConn) LocalAddr() net.Addr              { return c.local }
func (c *acceptedConn) RemoteAddr() net.Addr             { return c.remote }
func (c *acceptedConn) SetDeadline(time.Time) error      { return errors.ErrUnsupported }
func (c *acceptedConn) SetReadDeadline(time.Time) error  { return errors.ErrUnsupported }
func (c *acceptedConn) SetWriteDeadline(time.Time) error { return errors.ErrUnsupported }
